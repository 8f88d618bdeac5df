// The containers' root (a subordinate uid, no capability over host files) walks the
// path down to its bundle under --root when it bind-mounts its rootfs: every
// directory above --root must let it search. --root itself is made 0710 to the
// containers' group (lockDown); directories above it are the admin's, so a blocking
// one is reported at start-up (Docker refuses its userns-remap graph root the same
// way) instead of "bind .../rootfs: Permission denied" at the first `run`.
import { existsSync, realpathSync, statSync, type Stats } from 'node:fs';
import { dirname, resolve } from 'node:path';

export interface Blocking { dir: string; mode: number; uid: number; gid: number }

/**
 * Whether `uid`/`gid` may search a directory, by its mode bits as the kernel picks
 * them (owner, else group, else other). ACL entries naming the id are not read: a
 * directory opened to it only by an ACL is reported too (rare; chmod is the fix).
 */
export function canSearch(st: Pick<Stats, 'mode' | 'uid' | 'gid'>, uid: number, gid: number): boolean {
  if (st.uid === uid) return (st.mode & 0o100) !== 0;
  if (st.gid === gid) return (st.mode & 0o010) !== 0;
  return (st.mode & 0o001) !== 0;
}

/** The first existing directory above `root` (symlinks resolved) that `uid`/`gid` cannot search, if any. */
export function blockingDir(root: string, uid: number, gid: number): Blocking | undefined {
  const wanted = resolve(root);
  let existing = wanted;
  while (!existsSync(existing)) existing = dirname(existing);
  const dirs: string[] = [];
  for (let d = realpathSync(existing); ; d = dirname(d)) {
    dirs.unshift(d);
    if (d === '/') break;
  }
  // --root itself is made searchable for the containers by lockDown
  if (existing === wanted) dirs.pop();
  for (const dir of dirs) {
    const st = statSync(dir);
    if (!canSearch(st, uid, gid)) return { dir, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
  }
  return undefined;
}

/**
 * Throws a one-line error naming the directory and the fix when the containers could
 * not reach `root`. `hostUid`: how an id reads on the host (rootless: the daemon's
 * namespace has the user as 0 and the range from 1; the user knows the host's numbers).
 */
export function checkRootReachable(root: string, uid: number, gid: number, hostUid: (id: number) => number = (id) => id): void {
  const b = blockingDir(root, uid, gid);
  if (!b) return;
  throw new Error(
    `--root ${root}: the containers' root (uid ${hostUid(uid)}) cannot traverse ${b.dir} (mode ${b.mode.toString(8).padStart(4, '0')}, owner ${hostUid(b.uid)}): ` +
      `run "chmod o+x ${b.dir}" or choose another --root`,
  );
}
