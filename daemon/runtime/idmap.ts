// The subordinate id range that container root is mapped onto (/etc/subuid, /etc/subgid).
import { readFileSync, chownSync, chmodSync } from 'node:fs';

export interface IdRange { start: number; size: number }
export interface IdMaps { uid: IdRange; gid: IdRange }

/** Parses /etc/subuid-style text and returns the first range of `user` (name or numeric id). */
export function findRange(text: string, user: string, uid?: number): IdRange | undefined {
  for (const line of text.split('\n')) {
    const [name, start, size] = line.trim().split(':');
    if (!name || start === undefined || size === undefined) continue;
    if (name === user || (uid !== undefined && name === String(uid))) {
      const r = { start: Number(start), size: Number(size) };
      if (Number.isInteger(r.start) && Number.isInteger(r.size) && r.size > 0) return r;
    }
  }
  return undefined;
}

export function loadIdMaps(user: string, uid?: number, files = { uid: '/etc/subuid', gid: '/etc/subgid' }): IdMaps {
  const read = (f: string) => {
    try {
      return readFileSync(f, 'utf8');
    } catch {
      return '';
    }
  };
  const u = findRange(read(files.uid), user, uid);
  const g = findRange(read(files.gid), user, uid);
  if (!u || !g) {
    throw new Error(`no subordinate id range for user "${user}" in ${!u ? files.uid : files.gid}; run "npm run setup" (it adds ${user}:100000:65536)`);
  }
  // One mapping for every container (like Docker's userns-remap), so image layers are
  // shifted once and shared. 65536 ids cover every uid an image normally uses.
  const size = Math.min(u.size, g.size, 65536);
  return { uid: { start: u.start, size }, gid: { start: g.start, size } };
}

/**
 * Directories on the way to a container's root: 0710 root:<the containers' root gid>,
 * so container root (group search) can walk to its rootfs for pivot_root while other
 * host users cannot enter at all (Docker's userns-remap layout). Rootless: 0700.
 */
export function lockDown(dir: string, containerRootGid: number | undefined): void {
  if (containerRootGid === undefined) {
    chmodSync(dir, 0o700);
    return;
  }
  chownSync(dir, 0, containerRootGid);
  chmodSync(dir, 0o710);
}
