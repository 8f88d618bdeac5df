// Whether a host path's file system takes idmapped mounts (mount_setattr with
// MOUNT_ATTR_IDMAP): the kernel allows them only on file systems that opted in
// (FS_ALLOW_IDMAP). The daemon asks before it starts a container, so a bind on
// another file system is made plain and the user is told so once, at create; the
// shim falls back to a plain bind too if the kernel refuses all the same.
import { readFileSync, statfsSync } from 'node:fs';

/** statfs f_type of the file systems with FS_ALLOW_IDMAP on the kernels tdock supports. */
const IDMAPPABLE = new Map<number, string>([
  [0xef53, 'ext4'],
  [0x58465342, 'xfs'],
  [0x9123683e, 'btrfs'],
  [0x01021994, 'tmpfs'],
  [0xf2f52010, 'f2fs'],
  [0x4d44, 'vfat'],
  [0xe0f5e1e2, 'erofs'],
  [0x794c7630, 'overlay'],
]);

/** undefined: idmappable; otherwise the file system's type (hex) for the warning. */
export function notIdmappable(path: string): string | undefined {
  let type: number;
  try {
    type = statfsSync(path).type;
  } catch {
    return undefined; // a missing source is reported by the mount itself
  }
  return IDMAPPABLE.has(type) ? undefined : `0x${type.toString(16)}`;
}

/** mountinfo's names of the same file systems. */
const IDMAPPABLE_NAMES = new Set(IDMAPPABLE.values());

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
function unescape(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/**
 * The mounts below `path` (a recursive bind takes them along) whose file system cannot
 * be idmapped, as [mount point, type]: the shim idmaps the bind above them only.
 * `mountinfo`: /proc/self/mountinfo's text (the daemon's and the monitor's namespace).
 */
export function notIdmappableBelow(path: string, mountinfo = readMountinfo()): [string, string][] {
  const prefix = path.endsWith('/') ? path : `${path}/`;
  const out: [string, string][] = [];
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const point = unescape(line.slice(0, sep).split(' ')[4] ?? '');
    const type = line.slice(sep + 3).split(' ')[0] ?? '';
    if (point.startsWith(prefix) && !IDMAPPABLE_NAMES.has(type)) out.push([point, type]);
  }
  return out;
}

function readMountinfo(): string {
  try {
    return readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return '';
  }
}
