// Which of a container's volumes, binds and tmpfs mounts a container path lies in.
// Docker's cp reads and writes what is mounted there (it mounts a stopped container's
// volumes for the call). tdock goes to the mount's host source instead of through the
// container's view: a stopped container has no mounts, and through an idmapped mount
// the daemon (host root, not mapped by it) cannot create files (EOVERFLOW).
import { posix } from 'node:path';
import type { MountPoint } from '../containers/mounts.ts';

export interface MountRoute {
  mount: MountPoint;
  /** the rest of the path, below the mount's root ("/" for the mount point itself) */
  rest: string;
}

/** The innermost mount whose destination holds `path` (lexically, after ".." and "." are cleaned). */
export function mountOf(mounts: readonly MountPoint[], path: string): MountRoute | undefined {
  const p = posix.normalize('/' + path);
  let best: MountRoute | undefined;
  for (const m of mounts) {
    const dest = posix.normalize('/' + m.destination).replace(/\/+$/, '') || '/';
    let rest: string | undefined;
    if (p === dest || p === dest + '/') rest = '/';
    else if (dest === '/') rest = p;
    else if (p.startsWith(dest + '/')) rest = p.slice(dest.length);
    if (rest === undefined) continue;
    if (!best || dest.length > posix.normalize('/' + best.mount.destination).length) best = { mount: m, rest };
  }
  return best;
}
