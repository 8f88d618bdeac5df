// Container rows in SQLite. The one place that knows the containers table.
import { reclaim, type Db } from '../store/db.ts';
import type { ContainerSpec } from './spec.ts';
import { notFound } from '../errors.ts';

export type State = 'created' | 'running' | 'paused' | 'restarting' | 'exited' | 'dead';

export interface ContainerRow {
  id: string;
  name: string;
  imageId: string;
  imageRef: string;
  spec: ContainerSpec;
  state: State;
  pid: number;
  exitCode: number;
  oomKilled: boolean;
  error: string;
  created: number;
  started: number;
  finished: number;
  /** restarts by the restart policy since the user last started it (Docker's RestartCount) */
  restartCount: number;
  /** stopped or killed by the user since the user last started it */
  manuallyStopped: boolean;
}

interface RawRow {
  id: string; name: string; image_id: string; image_ref: string; spec: string; state: string;
  pid: number; exit_code: number; oom_killed: number; error: string; created: number; started: number; finished: number;
  restart_count: number; manually_stopped: number;
}

const fromRaw = (r: RawRow): ContainerRow => ({
  id: r.id, name: r.name, imageId: r.image_id, imageRef: r.image_ref, spec: JSON.parse(r.spec) as ContainerSpec,
  state: r.state as State, pid: r.pid, exitCode: r.exit_code, oomKilled: r.oom_killed === 1, error: r.error,
  created: r.created, started: r.started, finished: r.finished,
  restartCount: r.restart_count ?? 0, manuallyStopped: r.manually_stopped === 1,
});

export class ContainerRepository {
  private readonly stmts;
  private readonly db: Db;

  constructor(db: Db) {
    this.db = db;
    this.stmts = {
      insert: db.prepare(`INSERT INTO containers (id, name, image_id, image_ref, spec, state, created) VALUES (@id, @name, @imageId, @imageRef, @spec, 'created', @created)`),
      byId: db.prepare('SELECT * FROM containers WHERE id = ?'),
      byName: db.prepare('SELECT * FROM containers WHERE name = ?'),
      byPrefix: db.prepare('SELECT * FROM containers WHERE id >= ? AND id < ? LIMIT 2'),
      all: db.prepare('SELECT * FROM containers ORDER BY created DESC'),
      running: db.prepare(`SELECT * FROM containers WHERE state IN ('running', 'paused', 'restarting')`),
      started: db.prepare(`UPDATE containers SET state = 'running', pid = ?, started = ?, exit_code = 0, oom_killed = 0, error = '', finished = 0 WHERE id = ?`),
      exited: db.prepare(`UPDATE containers SET state = 'exited', pid = 0, exit_code = ?, oom_killed = ?, error = ?, finished = ? WHERE id = ?`),
      restarting: db.prepare(`UPDATE containers SET state = 'restarting', pid = 0, exit_code = ?, oom_killed = ?, error = ?, finished = ?, restart_count = ? WHERE id = ?`),
      restartEnded: db.prepare(`UPDATE containers SET state = 'exited' WHERE id = ? AND state = 'restarting'`),
      userStarted: db.prepare(`UPDATE containers SET restart_count = 0, manually_stopped = 0 WHERE id = ?`),
      manuallyStopped: db.prepare(`UPDATE containers SET manually_stopped = 1 WHERE id = ?`),
      failed: db.prepare(`UPDATE containers SET error = ? WHERE id = ?`),
      dead: db.prepare(`UPDATE containers SET state = 'dead' WHERE id = ?`),
      remove: db.prepare('DELETE FROM containers WHERE id = ?'),
      imageInUse: db.prepare('SELECT 1 FROM containers WHERE image_id = ? LIMIT 1'),
    };
  }

  insert(c: { id: string; name: string; imageId: string; imageRef: string; spec: ContainerSpec; created: number }): void {
    this.stmts.insert.run({ ...c, spec: JSON.stringify(c.spec) });
  }

  get(id: string): ContainerRow | undefined {
    const r = this.stmts.byId.get(id) as RawRow | undefined;
    return r && fromRaw(r);
  }

  nameTaken(name: string): ContainerRow | undefined {
    const r = this.stmts.byName.get(name) as RawRow | undefined;
    return r && fromRaw(r);
  }

  /** Docker's lookup order: full id, exact name, unique id prefix. */
  find(ref: string): ContainerRow {
    const key = ref.replace(/^\//, '');
    const exact = this.get(key) ?? this.nameTaken(key);
    if (exact) return exact;
    if (/^[0-9a-f]{1,63}$/.test(key)) {
      const rows = this.withPrefix(key);
      if (rows.length === 1) return fromRaw(rows[0]!);
      if (rows.length > 1) throw notFound(`multiple containers match the prefix "${key}": give more characters of the id`);
    }
    throw notFound(`No such container: ${ref}`);
  }

  /** At most two rows whose id starts with `prefix` (an index range scan). */
  private withPrefix(prefix: string): RawRow[] {
    const hi = prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
    return this.stmts.byPrefix.all(prefix, hi) as RawRow[];
  }

  /** Whether an id starting with `prefix` exists (names on the host use the first digits: names.ts). */
  shortIdTaken(prefix: string): boolean {
    return this.withPrefix(prefix).length > 0;
  }

  all(): ContainerRow[] {
    return (this.stmts.all.all() as RawRow[]).map(fromRaw);
  }

  live(): ContainerRow[] {
    return (this.stmts.running.all() as RawRow[]).map(fromRaw);
  }

  markStarted(id: string, pid: number, at: number): void {
    this.stmts.started.run(pid, at, id);
  }

  markExited(id: string, exitCode: number, oomKilled: boolean, error: string, at: number): void {
    this.stmts.exited.run(exitCode, oomKilled ? 1 : 0, error, at, id);
  }

  /** Exited, and the restart policy starts it again after the back-off (Docker's "restarting"). */
  markRestarting(id: string, exitCode: number, oomKilled: boolean, error: string, at: number, restartCount: number): void {
    this.stmts.restarting.run(exitCode, oomKilled ? 1 : 0, error, at, restartCount, id);
  }

  /** A pending restart will not happen (stopped by the user, failed, daemon restart): exited, with its last exit. */
  endRestarting(id: string): void {
    this.stmts.restartEnded.run(id);
  }

  /** Started by the user (start, restart, or the daemon at its start): Docker resets both. */
  markUserStarted(id: string): void {
    this.stmts.userStarted.run(id);
  }

  /** Stopped or killed by the user: unless-stopped stays stopped across a daemon restart. */
  markManuallyStopped(id: string): void {
    this.stmts.manuallyStopped.run(id);
  }

  /** Its removal has begun: a restart finishes it. */
  markDead(id: string): void {
    this.stmts.dead.run(id);
  }

  setError(id: string, error: string): void {
    this.stmts.failed.run(error, id);
  }

  remove(id: string): void {
    this.stmts.remove.run(id);
    reclaim(this.db);
  }

  imageInUse(imageId: string): boolean {
    return this.stmts.imageInUse.get(imageId) !== undefined;
  }
}
