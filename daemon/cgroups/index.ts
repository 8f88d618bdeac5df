// Picks the cgroup driver from what the host mounted: v1 when the memory controller
// lives in a v1 hierarchy (this includes hybrid hosts), v2 on a unified host.
import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CgroupDriver } from './types.ts';
import { CgroupV1, type V1Hierarchy } from './v1.ts';
import { CgroupV2 } from './v2.ts';

export type { CgroupDriver, Limits, CgroupUsage } from './types.ts';

export interface CgroupMounts {
  v1: V1Hierarchy[];
  v2?: string;
}

/** Parses /proc/self/mountinfo for cgroup and cgroup2 mounts. */
export function parseMountinfo(text: string): CgroupMounts {
  const out: CgroupMounts = { v1: [] };
  for (const line of text.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const right = line.slice(sep + 3).split(' ');
    const mountpoint = left[4];
    const fstype = right[0];
    if (!mountpoint) continue;
    if (fstype === 'cgroup2') {
      out.v2 ??= mountpoint;
    } else if (fstype === 'cgroup') {
      const opts = (right[2] ?? '').split(',');
      const controllers = opts.filter((o) => !['rw', 'ro', 'relatime', 'nosuid', 'nodev', 'noexec', 'clone_children', 'noprefix', 'xattr'].includes(o) && !o.startsWith('release_agent='));
      if (controllers.length && !out.v1.some((h) => h.mountpoint === mountpoint)) out.v1.push({ mountpoint, controllers });
    }
  }
  return out;
}

export function detectCgroups(parent: string, mountinfo = readFileSync('/proc/self/mountinfo', 'utf8')): CgroupDriver {
  const m = parseMountinfo(mountinfo);
  if (m.v1.some((h) => h.controllers.includes('memory'))) {
    // Hybrid: the v2 mount (few controllers) still gets a group so the task is
    // never left in a hierarchy root.
    const hs = [...m.v1];
    if (m.v2) hs.push({ mountpoint: m.v2, controllers: ['unified'] });
    return new CgroupV1(hs, parent);
  }
  if (m.v2) return new CgroupV2(m.v2, parent);
  throw new Error('no cgroup filesystem is mounted (looked for cgroup and cgroup2 in /proc/self/mountinfo)');
}

/**
 * Run as a systemd service with Delegate=yes, the daemon owns its service's cgroup:
 * containers go below it (`<service>/containers/<id>`), never outside. Returns the
 * service's cgroup path (no leading slash) from /proc/self/cgroup, or undefined when
 * not started by systemd as a service.
 */
export function systemdServiceCgroup(procSelfCgroup: string, env: NodeJS.ProcessEnv, ppid = process.ppid): string | undefined {
  // INVOCATION_ID is inherited by everything a service starts: only a daemon that
  // systemd (PID 1) started itself owns the service's cgroup.
  if (!env.INVOCATION_ID || ppid !== 1) return undefined;
  const lines = procSelfCgroup.split('\n');
  const named = lines.find((l) => /^\d+:name=systemd:/.test(l))?.split(':').slice(2).join(':');
  const unified = lines.find((l) => l.startsWith('0::'))?.slice(3);
  const path = (named || unified || '').replace(/^\/+|\/+$/g, '');
  return path.endsWith('.service') ? path : undefined;
}

/**
 * cgroup v2 allows no processes in a group whose children use controllers, so on a
 * unified host the daemon (and the monitors it starts) move to `<service>/daemon`
 * before containers get `<service>/containers`.
 */
export function moveSelfToLeaf(v2Mount: string, service: string, pid = process.pid): string {
  const leaf = join(v2Mount, service, 'daemon');
  mkdirSync(leaf, { recursive: true });
  writeFileSync(join(leaf, 'cgroup.procs'), String(pid));
  return leaf;
}

/** The cgroup parent: --cgroup-parent if given, the delegated subtree under systemd, else "tdock". */
export function chooseCgroupParent(
  given: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  procSelfCgroup = readFileSync('/proc/self/cgroup', 'utf8'),
  ppid = process.ppid,
): { parent: string; service?: string } {
  if (given) return { parent: given };
  const service = systemdServiceCgroup(procSelfCgroup, env, ppid);
  return service ? { parent: `${service}/containers`, service } : { parent: 'tdock' };
}
