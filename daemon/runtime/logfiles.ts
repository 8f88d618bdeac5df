// A container's log is several files: PATH (written now) and the rotated PATH.1 (newest)
// ... PATH.N (oldest), renamed up by the monitor (shim/logwriter.c). Readers open them
// and keep them open: a file rotated away or removed while open is still read whole.
import { open, readdir, stat, type FileHandle } from 'node:fs/promises';
import { constants } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export interface FileId { dev: number; ino: number }

export interface LogFile extends FileId {
  fh: FileHandle;
  /** Its name when it was opened. */
  name: string;
  /** Its size when it was opened. */
  size: number;
}

export const sameFile = (a: FileId, b: FileId): boolean => a.dev === b.dev && a.ino === b.ino;

const isMissing = (e: unknown) => (e as NodeJS.ErrnoException).code === 'ENOENT';

/** The names of the log's files, oldest first (PATH.N ... PATH.1, PATH). */
async function names(path: string): Promise<string[]> {
  const base = basename(path);
  let entries: string[];
  try {
    entries = await readdir(dirname(path));
  } catch (e) {
    if (isMissing(e)) return [];
    throw e;
  }
  const found: { name: string; index: number }[] = [];
  for (const e of entries) {
    if (e === base) found.push({ name: e, index: 0 });
    else if (e.startsWith(`${base}.`) && /^[1-9]\d{0,5}$/.test(e.slice(base.length + 1))) found.push({ name: e, index: Number(e.slice(base.length + 1)) });
  }
  return found.sort((a, b) => b.index - a.index).map((f) => join(dirname(path), f.name));
}

/** dev:ino of each name now, '' for one that is gone. */
async function identities(list: string[]): Promise<string[]> {
  return Promise.all(list.map((n) => stat(n).then((s) => `${s.dev}:${s.ino}`, (e) => {
    if (isMissing(e)) return '';
    throw e;
  })));
}

/** How many times the set is taken again while the monitor keeps rotating under us. */
const ATTEMPTS = 10;

/**
 * Opens every file of the log, oldest first. A rotation meanwhile moves every file
 * up one name, so the set is looked at again after opening: only when both looks
 * agree is no file missed or taken twice. (After ATTEMPTS rotations in a row, the
 * last set is used, without duplicates.)
 */
export async function openLogFiles(path: string): Promise<LogFile[]> {
  for (let attempt = 1; ; attempt++) {
    const list = await names(path);
    const files: LogFile[] = [];
    try {
      for (const name of list) {
        let fh: FileHandle;
        try {
          fh = await open(name, constants.O_RDONLY | constants.O_NOFOLLOW);
        } catch (e) {
          if (isMissing(e)) continue;
          throw e;
        }
        const st = await fh.stat().catch(async (e: unknown) => {
          await fh.close();
          throw e;
        });
        files.push({ fh, name, dev: st.dev, ino: st.ino, size: st.size });
      }
      const again = await names(path);
      const ids = await identities(again);
      const stable = again.length === files.length && again.every((n, i) => n === files[i]!.name && ids[i] === `${files[i]!.dev}:${files[i]!.ino}`);
      if (stable) return files;
      if (attempt >= ATTEMPTS) {
        const unique = files.filter((f, i) => files.findIndex((g) => sameFile(f, g)) === i);
        await Promise.all(files.filter((f) => !unique.includes(f)).map((f) => f.fh.close()));
        return unique;
      }
    } catch (e) {
      await closeAll(files);
      throw e;
    }
    await closeAll(files);
  }
}

export async function closeAll(files: { fh: FileHandle }[]): Promise<void> {
  await Promise.all(files.map((f) => f.fh.close().catch(() => {})));
}

/** The file at path is still `f` (the monitor has not rotated it away). */
export async function isCurrent(path: string, f: FileId): Promise<boolean> {
  try {
    return sameFile(await stat(path), f);
  } catch (e) {
    if (isMissing(e)) return false;
    throw e;
  }
}

/** Reads into fresh buffers of at most one chunk (or one record larger than it), and counts. */
export class Reads {
  readonly chunk: number;
  /** Bytes read so far. */
  bytes = 0;
  /** The largest buffer read into: what one reader holds at once. */
  maxBuffer = 0;

  constructor(chunk: number) {
    this.chunk = chunk;
  }

  async read(fh: FileHandle, position: number, length: number): Promise<Buffer> {
    const buf = Buffer.allocUnsafe(length);
    let got = 0;
    while (got < length) {
      const { bytesRead } = await fh.read(buf, got, length - got, position + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    this.bytes += got;
    this.maxBuffer = Math.max(this.maxBuffer, length);
    return buf.subarray(0, got);
  }
}
