// What a rootless daemon needs from the host, checked before anything is made. Each
// failure is one line naming what is missing and the command that fixes it.
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { findRange, type IdRange } from '../runtime/idmap.ts';

/** Ids a rootless daemon maps for its containers: every id an image normally uses (0-65535). */
export const ROOTLESS_IDS = 65536;

export interface HostRanges { uid: IdRange; gid: IdRange }

function read(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** The user's subordinate ranges, or a one-line error naming the usermod command that adds them. */
export function subordinateRanges(user: string, uid: number, files = { uid: '/etc/subuid', gid: '/etc/subgid' }): HostRanges {
  const fix = `as root: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${user} (any free range of ${ROOTLESS_IDS} ids)`;
  const out: Partial<HostRanges> = {};
  for (const kind of ['uid', 'gid'] as const) {
    const file = files[kind];
    const r = findRange(read(file), user, uid);
    if (!r) throw new Error(`rootless: no entry for user ${user} in ${file}; ${fix}`);
    if (r.size < ROOTLESS_IDS) {
      throw new Error(`rootless: user ${user} has ${r.size} subordinate ${kind}s in ${file} (${r.start}-${r.start + r.size - 1}), tdock needs ${ROOTLESS_IDS}; ${fix}`);
    }
    out[kind] = r;
  }
  return out as HostRanges;
}

/** The setuid helpers that write a user namespace's maps from /etc/subuid and /etc/subgid. */
export function checkIdHelpers(path = process.env.PATH ?? '/usr/bin:/bin'): void {
  for (const name of ['newuidmap', 'newgidmap']) {
    const found = path.split(':').filter(Boolean).map((d) => `${d}/${name}`).find((p) => {
      try {
        accessSync(p, constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
    if (!found) throw new Error(`rootless: ${name} not found in PATH; install it: apt-get install uidmap (as root)`);
    const st = statSync(found);
    const setuidRoot = st.uid === 0 && (st.mode & 0o4000) !== 0;
    if (!setuidRoot && !hasFileCaps(found)) {
      throw new Error(`rootless: ${found} is not setuid root (mode ${(st.mode & 0o7777).toString(8)}); as root: chmod u+s ${found} (or reinstall uidmap)`);
    }
  }
}

/** Some distributions give newuidmap file capabilities instead of the setuid bit. */
function hasFileCaps(path: string): boolean {
  const r = spawnSync('getcap', [path], { encoding: 'utf8' });
  return r.status === 0 && /cap_setuid/i.test(r.stdout);
}

/** slirp4netns and pasta open /dev/net/tun inside the daemon's namespace as the user. */
export function checkTun(user: string, dev = '/dev/net/tun'): void {
  try {
    accessSync(dev, constants.R_OK | constants.W_OK);
  } catch {
    let mode = '';
    try {
      mode = ` (mode ${(statSync(dev).mode & 0o777).toString(8).padStart(4, '0')})`;
    } catch {
      throw new Error(`rootless: ${dev} does not exist; as root: modprobe tun`);
    }
    throw new Error(`rootless: ${dev} is not accessible to ${user}${mode}; as root: chmod 0666 ${dev} (most distributions ship it 0666)`);
  }
}

/** The first of `names` found in PATH, else a one-line error naming the packages. */
export function findProgram(name: string, pkg: string, path = process.env.PATH ?? '/usr/bin:/bin'): string {
  for (const d of path.split(':').filter(Boolean)) {
    try {
      accessSync(`${d}/${name}`, constants.X_OK);
      return `${d}/${name}`;
    } catch {
      /* next */
    }
  }
  throw new Error(`rootless: ${name} not found in PATH (the rootless network needs it); install it: apt-get install ${pkg} (as root), or start tdockd with --rootless-net ${name === 'pasta' ? 'slirp4netns' : 'pasta'}`);
}
