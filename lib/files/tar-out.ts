// Tar streams of files inside a root held open by fd (cp out, export, commit): every
// directory is entered with O_DIRECTORY|O_NOFOLLOW below the one we hold, every file is
// opened O_NOFOLLOW and checked to be the regular file we listed, so nothing outside the
// root is ever read, whatever a running container does meanwhile (inroot.ts).
// Owners are written as the container sees them (host id minus the range start; ids
// outside the range as 65534, the overflow id, as the kernel shows them inside).
import * as fs from 'node:fs';
import { tarEntry, tarEnd, type TarEntrySpec } from '../../images/tar-writer.ts';
import type { IdShift } from '../../images/tar-extract.ts';
import { at, isKernelFs, openDirAt } from './inroot.ts';

const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK } = fs.constants;
const CHUNK = 1 << 20;
const OVERFLOW_ID = 65534;

export interface WalkOptions {
  shift: IdShift;
  /**
   * Commit: an entry of the upper dir may stand for a deletion. Returns the OCI form
   * ('whiteout': `.wh.NAME` instead of the entry) or undefined to keep it as is.
   */
  whiteout?: (st: fs.Stats) => boolean;
  /** Commit: directories (paths as emitted, without trailing "/") that are opaque: followed by DIR/.wh..wh..opq */
  opaque?: ReadonlySet<string>;
  /** Commit: entries (by archive name) left out of the archive */
  skip?: (entryName: string, st: fs.Stats) => boolean;
  /** never descend into another file system (export: the root file system only) */
  oneFs?: boolean;
  /** set to the number of bytes of file data written */
  stats?: { files: number; bytes: number };
}

export function major(rdev: number): number {
  return Number((BigInt(rdev) >> 8n) & 0xfffn) | Number((BigInt(rdev) >> 32n) & ~0xfffn);
}
export function minor(rdev: number): number {
  return Number(BigInt(rdev) & 0xffn) | Number((BigInt(rdev) >> 12n) & ~0xffn);
}

function toContainer(id: number, start: number, size: number): number {
  return id >= start && id < start + size ? id - start : OVERFLOW_ID;
}

/**
 * Yields the entries for `name` in the directory dirFd (and, for a directory, all below
 * it), named `entryName` in the archive ('' = the root: its entries have no prefix).
 */
export async function* walkTar(dirFd: number, name: string, entryName: string, o: WalkOptions): AsyncGenerator<Buffer> {
  const links = new Map<string, string>();
  yield* walk(dirFd, name, entryName, o, links, fs.fstatSync(dirFd).dev);
}

/** walkTar plus the end-of-archive marker. */
export async function* tarOf(dirFd: number, name: string, entryName: string, o: WalkOptions): AsyncGenerator<Buffer> {
  yield* walkTar(dirFd, name, entryName, o);
  yield tarEnd();
}

async function* walk(dirFd: number, name: string, entryName: string, o: WalkOptions, links: Map<string, string>, parentDev: number): AsyncGenerator<Buffer> {
  const st = fs.lstatSync(at(dirFd, name));
  const base: TarEntrySpec = {
    path: entryName,
    mode: st.mode & 0o7777,
    uid: toContainer(st.uid, o.shift.uid, o.shift.size),
    gid: toContainer(st.gid, o.shift.gid, o.shift.size),
    mtime: Math.floor(st.mtimeMs / 1000),
  };
  if (o.skip?.(entryName, st)) return;
  if (o.whiteout?.(st)) {
    const slash = entryName.lastIndexOf('/');
    yield tarEntry({ ...base, path: entryName.slice(0, slash + 1) + '.wh.' + entryName.slice(slash + 1), type: 'file', size: 0, mode: 0o644 });
    return;
  }
  if (st.isDirectory()) {
    let fd: number;
    try {
      fd = openDirAt(dirFd, name);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return; // removed meanwhile
      throw e;
    }
    try {
      if (entryName !== '') yield tarEntry({ ...base, path: entryName + '/', type: 'dir' });
      // a mount point: procfs, sysfs & co. are the host kernel's, never archived
      if (st.dev !== parentDev && (o.oneFs || isKernelFs(fd))) return;
      if (o.opaque?.has(entryName)) yield tarEntry({ path: (entryName ? entryName + '/' : '') + '.wh..wh..opq', type: 'file', mode: 0o644, mtime: base.mtime ?? 0 });
      const names = fs.readdirSync(at(fd)).sort();
      for (const n of names) yield* walk(fd, n, entryName === '' ? n : `${entryName}/${n}`, o, links, st.dev);
    } finally {
      fs.closeSync(fd);
    }
    return;
  }
  if (st.isSymbolicLink()) {
    yield tarEntry({ ...base, type: 'symlink', linkpath: fs.readlinkSync(at(dirFd, name)) });
    return;
  }
  if (st.isCharacterDevice() || st.isBlockDevice()) {
    yield tarEntry({ ...base, type: st.isCharacterDevice() ? 'char' : 'block', devmajor: major(st.rdev), devminor: minor(st.rdev) });
    return;
  }
  if (st.isFIFO()) {
    yield tarEntry({ ...base, type: 'fifo' });
    return;
  }
  if (!st.isFile()) return; // sockets: not archived, as in Docker
  if (st.nlink > 1) {
    const key = `${st.dev}:${st.ino}`;
    const first = links.get(key);
    if (first !== undefined) {
      yield tarEntry({ ...base, type: 'link', linkpath: first });
      return;
    }
    links.set(key, entryName);
  }
  let fd: number;
  try {
    fd = fs.openSync(at(dirFd, name), O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  try {
    const now = fs.fstatSync(fd);
    if (!now.isFile() || now.ino !== st.ino) return; // swapped meanwhile: skip it
    const size = st.size;
    yield tarEntry({ ...base, type: 'file', size });
    let left = size;
    const buf = Buffer.allocUnsafe(Math.min(CHUNK, Math.max(size, 1)));
    let pos = 0;
    while (left > 0) {
      const n = fs.readSync(fd, buf, 0, Math.min(buf.length, left), pos);
      if (n === 0) break; // shrunk meanwhile: zero-fill below
      pos += n;
      left -= n;
      yield Buffer.from(buf.subarray(0, n));
    }
    if (left > 0) yield Buffer.alloc(left);
    const rem = size % 512;
    if (rem) yield Buffer.alloc(512 - rem);
    if (o.stats) {
      o.stats.files++;
      o.stats.bytes += size;
    }
  } finally {
    fs.closeSync(fd);
  }
}
