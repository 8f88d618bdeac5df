// Extracts a tar stream a client sent into a directory inside a container's root (cp in),
// with every lookup confined to the root (inroot.ts): entries never leave the
// destination ("../" entries are refused), existing symlinks in the container are
// followed only within the root, files are created O_CREAT|O_EXCL|O_NOFOLLOW after
// whatever was there is unlinked, and metadata is set through fds or with the l*
// calls, so nothing is ever written outside the root even while the container runs.
//
// Owners (Docker's rules for a user-namespaced container): every entry belongs to the
// container's root, unless `archive` (cp -a), then to the tar's uid/gid inside the
// container's range (ids beyond it are refused). Device nodes and FIFOs are skipped
// (the daemon cannot make them usable inside a user namespace); the count is returned.
import * as fs from 'node:fs';
import type { IdShift } from '../../images/tar-extract.ts';
import { EngineError } from '../errors.ts';
import { at, isKernelFs, lstatAt, openDirAt, resolveInRoot } from './inroot.ts';
import { readTar } from './tar-read.ts';

const { O_CREAT, O_EXCL, O_WRONLY, O_NOFOLLOW } = fs.constants;
const MAX_OPEN_DIRS = 256;

export interface ExtractIntoOptions {
  shift: IdShift;
  /** false: leave owners to the extracting process (cp out to the host, like Docker's NoLchown) */
  chown?: boolean;
  /** cp -a: keep the archive's uid/gid (mapped into the container's range) */
  archive: boolean;
}

export interface ExtractIntoResult {
  entries: number;
  skipped: number;
  /** the first few skipped entries (paths below the destination), for the user's warning */
  skippedNames: string[];
}

const SKIPPED_NAMES = 3;

function refused(msg: string): EngineError {
  return new EngineError('INVALID_ARGUMENT', msg);
}

/** An entry path as components below the destination; "../" that climbs out of it refuses the archive. */
export function cleanPath(name: string, what = 'entry'): string[] {
  const out: string[] = [];
  for (const c of name.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (out.length === 0) throw refused(`archive ${what} "${name}" escapes the destination`);
      out.pop();
      continue;
    }
    if (c.includes('\0')) throw refused(`archive ${what} "${name}" contains a NUL byte`);
    out.push(c);
  }
  return out;
}

// Runs of zeros are left as holes: tar carries a sparse file (a VM image, a database)
// in full, and writing its zeros took as long as and as much disk as real data.
const HOLE = 4096;
const ZEROS = Buffer.alloc(HOLE);

function isZero(b: Buffer, from: number, to: number): boolean {
  return b.compare(ZEROS, 0, to - from, from, to) === 0;
}

/** Writes chunk at file offset pos of a new (empty) file, skipping its all-zero blocks. */
function writeSparse(fd: number, chunk: Buffer, pos: number): void {
  let i = 0;
  while (i < chunk.length) {
    let j = i;
    while (j < chunk.length && isZero(chunk, j, Math.min(j + HOLE, chunk.length))) j = Math.min(j + HOLE, chunk.length);
    i = j;
    while (j < chunk.length && !isZero(chunk, j, Math.min(j + HOLE, chunk.length))) j = Math.min(j + HOLE, chunk.length);
    for (let off = i; off < j;) off += fs.writeSync(fd, chunk, off, j - off, pos + off);
    i = j;
  }
}

export async function extractInto(rootFd: number, destPath: string, src: AsyncIterable<Buffer | string> | Iterable<Buffer | string>, o: ExtractIntoOptions): Promise<ExtractIntoResult> {
  const dest = resolveInRoot(rootFd, destPath, { followLast: true });
  let destFd: number;
  try {
    if (!dest.st) throw new EngineError('NOT_FOUND', `Could not find the file ${destPath} in container`);
    if (!dest.st.isDirectory()) throw refused(`extraction point is not a directory: ${destPath}`);
    destFd = openDirAt(dest.dir, dest.name);
    if (isKernelFs(destFd)) {
      fs.closeSync(destFd);
      throw refused(`cannot copy into ${destPath}: it is a kernel file system (/proc, /sys)`);
    }
  } finally {
    dest.close();
  }
  const base = dest.path === '/' ? '' : dest.path;
  const dirs = new Map<string, number>();
  const dirMeta: { rel: string; mode: number; ids: { uid: number; gid: number } | undefined; mtime: number }[] = [];
  const chown = o.chown ?? true;
  const owner = (uid: number, gid: number, what: string) => {
    if (!chown) return undefined;
    if (!o.archive) return { uid: o.shift.uid, gid: o.shift.gid };
    if (uid < 0 || gid < 0 || uid >= o.shift.size || gid >= o.shift.size) {
      throw refused(`cp -a: ${what} is owned by ${uid}:${gid}, outside the container's id range (0-${o.shift.size - 1})`);
    }
    return { uid: o.shift.uid + uid, gid: o.shift.gid + gid };
  };
  const rootOwner = { uid: o.shift.uid, gid: o.shift.gid };

  /** An fd on directory `rel` (relative to the destination), made when missing. */
  const ensureDir = (rel: string): number => {
    if (rel === '') return destFd;
    const cached = dirs.get(rel);
    if (cached !== undefined) return cached;
    const slash = rel.lastIndexOf('/');
    const parent = ensureDir(slash < 0 ? '' : rel.slice(0, slash));
    const name = rel.slice(slash + 1);
    const st = lstatAt(parent, name);
    let fd: number;
    if (!st) {
      fs.mkdirSync(at(parent, name), 0o755);
      if (chown) fs.lchownSync(at(parent, name), rootOwner.uid, rootOwner.gid);
      fd = openDirAt(parent, name);
    } else if (st.isSymbolicLink()) {
      // an existing symlink in the container: followed, but only inside its root
      const r = resolveInRoot(rootFd, `${base}/${rel}`, { followLast: true });
      try {
        if (!r.st?.isDirectory()) throw refused(`cannot copy into ${base}/${rel}: not a directory`);
        fd = openDirAt(r.dir, r.name);
      } finally {
        r.close();
      }
    } else if (st.isDirectory()) {
      fd = openDirAt(parent, name);
    } else {
      throw refused(`cannot overwrite non-directory "${base}/${rel}" with directory`);
    }
    if (isKernelFs(fd)) {
      fs.closeSync(fd);
      throw refused(`cannot copy into ${base}/${rel}: it is a kernel file system (/proc, /sys)`);
    }
    dirs.set(rel, fd);
    return fd;
  };
  const removeExisting = (parent: number, name: string, rel: string) => {
    const st = lstatAt(parent, name);
    if (!st) return;
    if (st.isDirectory()) throw refused(`cannot overwrite directory "${base}/${rel}" with non-directory`);
    fs.unlinkSync(at(parent, name));
  };

  // Only between entries: an fd handed out within one entry stays open until it is done.
  const trimDirs = () => {
    if (dirs.size < MAX_OPEN_DIRS) return;
    for (const d of dirs.values()) fs.closeSync(d);
    dirs.clear();
  };
  let entries = 0;
  let skipped = 0;
  const skippedNames: string[] = [];
  try {
    for await (const e of readTar(src)) {
      trimDirs();
      const h = e.header;
      const parts = cleanPath(h.path);
      entries++;
      if (parts.length === 0) {
        await e.skip(); // the destination itself: keep its owner and mode
        continue;
      }
      const rel = parts.join('/');
      const parentRel = parts.slice(0, -1).join('/');
      const name = parts[parts.length - 1]!;
      const ids = owner(h.uid, h.gid, h.path);
      const mtime = h.mtime;
      switch (h.type) {
        case '5': {
          ensureDir(rel);
          dirMeta.push({ rel, mode: h.mode, ids, mtime });
          await e.skip();
          break;
        }
        case '0': {
          const parent = ensureDir(parentRel);
          removeExisting(parent, name, rel);
          const fd = fs.openSync(at(parent, name), O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW, 0o600);
          try {
            let pos = 0;
            for await (const chunk of e.body()) {
              writeSparse(fd, chunk, pos);
              pos += chunk.length;
            }
            fs.ftruncateSync(fd, pos); // the size, when it ends in a hole
            if (ids) fs.fchownSync(fd, ids.uid, ids.gid);
            fs.fchmodSync(fd, h.mode);
            fs.futimesSync(fd, mtime, mtime);
          } finally {
            fs.closeSync(fd);
          }
          break;
        }
        case '2': {
          const parent = ensureDir(parentRel);
          removeExisting(parent, name, rel);
          fs.symlinkSync(h.linkpath, at(parent, name));
          if (ids) fs.lchownSync(at(parent, name), ids.uid, ids.gid);
          fs.lutimesSync(at(parent, name), mtime, mtime);
          await e.skip();
          break;
        }
        case '1': {
          const target = cleanPath(h.linkpath, 'hard link target');
          if (target.length === 0) throw refused(`hard link ${h.path}: bad target ${h.linkpath}`);
          const tParent = ensureDir(target.slice(0, -1).join('/'));
          const tName = target[target.length - 1]!;
          const tst = lstatAt(tParent, tName);
          if (!tst || tst.isDirectory()) throw refused(`hard link ${h.path}: target ${h.linkpath} is not a file in the archive`);
          const parent = ensureDir(parentRel);
          removeExisting(parent, name, rel);
          fs.linkSync(at(tParent, tName), at(parent, name));
          await e.skip();
          break;
        }
        default:
          if (skipped++ < SKIPPED_NAMES) skippedNames.push(rel);
          await e.skip();
      }
    }
    // directories last, deepest first: their contents are in, so read-only modes work
    for (const d of dirMeta.reverse()) {
      trimDirs();
      const fd = ensureDir(d.rel);
      if (d.ids) fs.fchownSync(fd, d.ids.uid, d.ids.gid);
      fs.fchmodSync(fd, d.mode);
      fs.futimesSync(fd, d.mtime, d.mtime);
    }
  } finally {
    for (const d of dirs.values()) fs.closeSync(d);
    fs.closeSync(destFd);
  }
  return { entries, skipped, skippedNames };
}
