// Paths inside a container's root, resolved the way openat2(RESOLVE_IN_ROOT) does, from
// Node: every step is a lookup of ONE name in a directory we hold open, reached through
// /proc/self/fd/<dirfd>/<name>. The kernel jumps to exactly the directory the fd holds
// (whatever has been renamed or swapped since) and looks up one name there; the final
// component is never followed (lstat, O_NOFOLLOW, mkdir, symlink, unlink). Symlinks met
// on the way are read and resolved by us against the container's root ("/" and ".." never
// climb above it), so neither a symlink nor a race with a process in a running container
// (CVE-2018-15664: swap a directory for a symlink between check and use) leads a read or
// a write outside the root: a component swapped after our lstat makes the
// O_DIRECTORY|O_NOFOLLOW open fail instead of following it.
import * as fs from 'node:fs';
import { EngineError } from '../errors.ts';

// (libuv opens every fd close-on-exec)
const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW } = fs.constants;
const MAX_SYMLINKS = 40;

/**
 * The path through which the kernel looks up `name` in the directory held by `dirFd`
 * ("." = that directory itself, never the magic link: O_NOFOLLOW would refuse the link).
 * Without a name: the magic link, for calls that follow it (readdir, statfs).
 */
export function at(dirFd: number, name?: string): string {
  return name === undefined ? `/proc/self/fd/${dirFd}` : `/proc/self/fd/${dirFd}/${name}`;
}

/** Opens a directory below dirFd without following a symlink at `name`. */
export function openDirAt(dirFd: number, name: string): number {
  return fs.openSync(at(dirFd, name), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
}

export function lstatAt(dirFd: number, name: string): fs.Stats | undefined {
  try {
    return fs.lstatSync(at(dirFd, name));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** Opens a root directory from a host path that only the daemon controls. */
export function openRoot(path: string): number {
  return fs.openSync(path, O_RDONLY | O_DIRECTORY);
}

export function pathError(code: 'NOT_FOUND' | 'INVALID_ARGUMENT' | 'FAILED_PRECONDITION', msg: string): EngineError {
  return new EngineError(code, msg);
}

/** A path resolved inside the root: the directory holding its last component, and that component. */
export class Resolved {
  /** fds opened on the way (the parent is the last); closed by close() */
  private readonly fds: number[];
  readonly dir: number;
  readonly name: string;
  /** lstat of the final component; undefined when it does not exist */
  readonly st: fs.Stats | undefined;
  /** the path inside the container after resolving symlinks ("/" separated, absolute) */
  readonly path: string;

  constructor(fds: number[], name: string, st: fs.Stats | undefined, path: string) {
    this.fds = fds;
    this.dir = fds.length ? fds[fds.length - 1]! : -1;
    this.name = name;
    this.st = st;
    this.path = path;
  }

  /** The lookup path of the final component (never follows it). */
  get at(): string { return at(this.dir, this.name); }

  close(): void {
    for (const fd of this.fds) fs.closeSync(fd);
    this.fds.length = 0;
  }
}

/**
 * Resolves `path` (absolute or relative to the root: the same) inside the root held by
 * rootFd. Symlinks in intermediate components are followed within the root; the last
 * component is followed only with `followLast` (cp -L). A missing last component is
 * fine (st undefined); a missing or non-directory intermediate one throws ENOENT/ENOTDIR
 * as a one-line EngineError naming the container path.
 */
export function resolveInRoot(rootFd: number, path: string, opts: { followLast?: boolean } = {}): Resolved {
  const stack: { fd: number; name: string }[] = [];
  const top = () => (stack.length ? stack[stack.length - 1]!.fd : rootFd);
  const here = () => '/' + stack.map((s) => s.name).join('/');
  const queue = path.split('/').filter((c) => c !== '' && c !== '.');
  let links = 0;
  const fail = (e: EngineError): never => {
    throw e;
  };
  try {
    for (;;) {
      const c = queue.shift();
      if (c === undefined) {
        // the root itself, or a path that ended in ".."
        const last = stack.pop();
        if (!last) return new Resolved([dupDir(rootFd)], '.', fs.fstatSync(rootFd), '/');
        fs.closeSync(last.fd);
        const parent = top();
        const fds = stack.map((s) => s.fd);
        return new Resolved(fds.length ? fds : [dupDir(rootFd)], last.name, lstatAt(parent, last.name), here() === '/' ? '/' + last.name : here() + '/' + last.name);
      }
      if (c === '..') {
        const s = stack.pop();
        if (s) fs.closeSync(s.fd);
        continue;
      }
      const isLast = queue.length === 0;
      const st = lstatAt(top(), c);
      if (st?.isSymbolicLink() && (!isLast || opts.followLast)) {
        if (++links > MAX_SYMLINKS) fail(pathError('INVALID_ARGUMENT', `${path}: too many levels of symbolic links`));
        const target = fs.readlinkSync(at(top(), c));
        if (target.startsWith('/')) {
          for (const s of stack) fs.closeSync(s.fd);
          stack.length = 0;
        }
        queue.unshift(...target.split('/').filter((x) => x !== '' && x !== '.'));
        continue;
      }
      if (isLast) {
        const fds = stack.map((s) => s.fd);
        const p = (here() === '/' ? '' : here()) + '/' + c;
        return new Resolved(fds.length ? fds : [dupDir(rootFd)], c, st, p);
      }
      if (!st) fail(pathError('NOT_FOUND', `Could not find the file ${path} in container: no such directory ${here() === '/' ? '' : here()}/${c}`));
      if (!st!.isDirectory()) fail(pathError('INVALID_ARGUMENT', `${path}: ${here() === '/' ? '' : here()}/${c} is not a directory`));
      let fd: number;
      try {
        fd = openDirAt(top(), c);
      } catch (e) {
        // swapped for a symlink (ELOOP) or a file (ENOTDIR) since the lstat: retry the name once more
        const code = (e as NodeJS.ErrnoException).code;
        if ((code === 'ELOOP' || code === 'ENOTDIR' || code === 'ENOENT') && ++links <= MAX_SYMLINKS) {
          queue.unshift(c);
          continue;
        }
        throw e;
      }
      stack.push({ fd, name: c });
    }
  } catch (e) {
    for (const s of stack) fs.closeSync(s.fd);
    throw e;
  }
}

/** A second fd on a directory (Resolved closes what it holds; the root fd stays the caller's). */
function dupDir(fd: number): number {
  return fs.openSync(at(fd), O_RDONLY | O_DIRECTORY);
}

/**
 * Kernel file systems a container mounts over its root (procfs, sysfs, cgroupfs, ...):
 * never walked into nor written to by the daemon, which is host root (their files
 * reach the host kernel, not the container's files).
 */
const KERNEL_FS = new Set([0x9fa0, 0x62656572, 0x27e0eb, 0x63677270, 0x1cd1, 0x73636673, 0x64626720, 0x74726163, 0xcafe4a11, 0x42494e4d]);

export function isKernelFs(dirFd: number): boolean {
  return KERNEL_FS.has(fs.statfsSync(at(dirFd)).type);
}
