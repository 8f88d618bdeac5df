// A full disk under --root. The database, the logs and the layers share it, and a
// chatty container can fill it; then the daemon must still record exits and carry
// out removals (the ways to free space), and say what is wrong in one line.
//
// The daemon keeps a small reserve file under --root. A database write that fails
// for lack of space (SQLite's "database or disk is full", ENOSPC) gives the reserve
// back to the filesystem and is tried once more; the reserve is made again once
// there is room. Refusals name the cause: "no space left on ROOT: ...".
import { closeSync, openSync, rmSync, statSync, statfsSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Db } from './db.ts';
import { EngineError, isNoSpace, messageOf } from '../errors.ts';

export const RESERVE_BYTES = 4 << 20;
/** Below this much free space nothing new is made (containers, images): the reserve is for records and removals. */
export const MIN_FREE_BYTES = 16 << 20;

const mib = (n: number) => `${(n / (1 << 20)).toFixed(1)} MiB`;

export { isNoSpace };

export class DiskReserve {
  readonly root: string;
  readonly path: string;
  private readonly bytes: number;
  private readonly log: (msg: string) => void;
  private retry?: NodeJS.Timeout;

  constructor(root: string, log: (msg: string) => void, bytes = RESERVE_BYTES) {
    this.root = root;
    this.path = join(root, 'reserve');
    this.bytes = bytes;
    this.log = log;
  }

  /** The error for a failure that lack of space caused; any other error as it is. */
  explain(e: unknown): unknown {
    if (e instanceof EngineError && e.code === 'RESOURCE_EXHAUSTED') return e;
    return this.causedByLackOfSpace(e) ? this.noSpace(e) : e;
  }

  private noSpace(e: unknown): EngineError {
    if (e instanceof EngineError && e.code === 'RESOURCE_EXHAUSTED') return e;
    return new EngineError('RESOURCE_EXHAUSTED', `no space left on ${this.root}: ${messageOf(e)}; free space (tdock rm, rmi, image prune) or add some`);
  }

  /**
   * Refuses to make something new (`what`: "create a container") when the
   * filesystem is nearly full, before anything is made.
   */
  checkRoom(what: string): void {
    const free = this.free();
    if (free < MIN_FREE_BYTES) {
      throw new EngineError('RESOURCE_EXHAUSTED',
        `no space left on ${this.root}: ${mib(free)} free, ${mib(MIN_FREE_BYTES)} needed to ${what}; free space (tdock rm, rmi, image prune) or add some`);
    }
  }

  /** Makes the reserve if it is missing; true when it is there. Tries again later when there is no room. */
  ensure(): boolean {
    try {
      if (statSync(this.path).size >= this.bytes) return true;
    } catch {
      /* missing */
    }
    // Only out of real room: taken back at once, the space just given up would be gone again.
    if (this.free() < MIN_FREE_BYTES + this.bytes) {
      this.retry ??= setInterval(() => this.ensure(), 10_000).unref();
      return false;
    }
    let fd: number | undefined;
    try {
      fd = openSync(this.path, 'w', 0o600);
      const zeros = Buffer.alloc(1 << 16);
      for (let n = 0; n < this.bytes; n += zeros.length) writeSync(fd, zeros);
      closeSync(fd);
      if (this.retry) {
        clearInterval(this.retry);
        this.retry = undefined;
        this.log(`there is room again under ${this.root}: the space reserve is back`);
      }
      return true;
    } catch (e) {
      if (fd !== undefined) closeSync(fd);
      rmSync(this.path, { force: true });
      if (!isNoSpace(e)) throw e;
      this.retry ??= setInterval(() => this.ensure(), 10_000).unref();
      return false;
    }
  }

  /** Gives the reserve back to the filesystem; false when there was none. */
  release(): boolean {
    try {
      rmSync(this.path);
    } catch {
      return false;
    }
    this.log(`no space left on ${this.root}: released the space reserve for the daemon's own records`);
    this.retry ??= setInterval(() => this.ensure(), 10_000).unref();
    return true;
  }

  /** Free bytes on the filesystem of --root (Infinity when it cannot be told). */
  private free(): number {
    try {
      const st = statfsSync(this.root);
      return st.bavail * st.bsize;
    } catch {
      return Infinity;
    }
  }

  /**
   * Lack of space, also where SQLite calls it something else: creating its shared
   * memory file (-shm) on a full filesystem fails as "disk I/O error".
   */
  private causedByLackOfSpace(e: unknown): boolean {
    if (isNoSpace(e)) return true;
    const code = String((e as { code?: unknown })?.code ?? '');
    return (code.startsWith('SQLITE_IOERR') || /disk I\/O error/i.test(messageOf(e))) && this.free() < MIN_FREE_BYTES;
  }

  /** Runs a write; when it fails for lack of space, releases the reserve and runs it once more. */
  write<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      if (!this.causedByLackOfSpace(e)) throw e;
      if (!this.release()) throw this.noSpace(e);
      try {
        return fn();
      } catch (again) {
        throw this.causedByLackOfSpace(again) ? this.noSpace(again) : again;
      }
    }
  }

  /**
   * Makes every write of `db` go through write(): prepared statements' run() and
   * transactions (retried whole; a statement inside one is not retried alone).
   */
  guard(db: Db): void {
    const prepare = db.prepare.bind(db);
    (db as { prepare: Db['prepare'] }).prepare = ((sql: string) => {
      const st = prepare(sql);
      const run = st.run.bind(st);
      st.run = ((...args: unknown[]) => (db.inTransaction ? run(...(args as [])) : this.write(() => run(...(args as []))))) as typeof st.run;
      return st;
    }) as Db['prepare'];
    const transaction = db.transaction.bind(db);
    (db as { transaction: Db['transaction'] }).transaction = ((fn: (...a: unknown[]) => unknown) => {
      const t = transaction(fn);
      const wrapped = (...args: unknown[]) => (db.inTransaction ? t(...args) : this.write(() => t(...args)));
      return Object.assign(wrapped, { deferred: t.deferred, immediate: t.immediate, exclusive: t.exclusive, default: t.default });
    }) as Db['transaction'];
  }
}
