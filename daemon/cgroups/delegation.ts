// A rootless daemon applies limits only where the user was given a cgroup subtree (v2
// with systemd Delegate=yes, or a v1 subtree chowned to the user); elsewhere containers
// run without limits (NoCgroups), which the daemon says at start and `run -m` warns of.
import { accessSync, constants, existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseMountinfo, systemdServiceCgroup } from './index.ts';
import type { CgroupDriver, CgroupUsage } from './types.ts';

/**
 * The first cgroup directory on the way to `parent` that this process may not create
 * groups in (the nearest existing one, in each hierarchy), or undefined when every
 * hierarchy is delegated.
 */
export function undelegatedDir(parent: string, mountinfo: string): string | undefined {
  const m = parseMountinfo(mountinfo);
  const mounts = m.v1.some((h) => h.controllers.includes('memory')) ? [...m.v1.map((h) => h.mountpoint), ...(m.v2 ? [m.v2] : [])] : m.v2 ? [m.v2] : [];
  if (!mounts.length) return '/sys/fs/cgroup';
  for (const mount of mounts) {
    let dir = join(mount, parent);
    while (!existsSync(dir) && dir !== mount) dir = dirname(dir);
    try {
      accessSync(dir, constants.W_OK | constants.X_OK);
    } catch {
      return dir;
    }
  }
  return undefined;
}

/** No cgroups of our own: no limits, no usage numbers. */
export class NoCgroups implements CgroupDriver {
  readonly version: 1 | 2;
  constructor(version: 1 | 2) {
    this.version = version;
  }
  create(): string[] {
    return [];
  }
  async remove(): Promise<void> {}
  exists(): boolean {
    return false;
  }
  usage(): CgroupUsage {
    return { memoryUsage: 0, memoryLimit: 0, pids: 0, cpuUsageNs: 0, oomKills: 0 };
  }
  removeParent(): void {}
  /** Every pid: the engine keeps those in the container's pid namespace (top). */
  procs(): number[] {
    return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number);
  }
  paths(): string[] {
    return [];
  }
  async freeze(): Promise<void> {
    throw new Error('cannot pause the container: this daemon has no cgroups of its own; commit with --pause=false');
  }
}

/**
 * The cgroup of the user service this process is the main process of, when a user's
 * systemd (`systemctl --user`) started it: with Delegate=yes that subtree is the user's.
 * undefined otherwise.
 */
export function userServiceCgroup(procSelfCgroup: string, env: NodeJS.ProcessEnv, ppid = process.ppid, uid = process.getuid?.() ?? 0): string | undefined {
  try {
    const comm = readFileSync(`/proc/${ppid}/comm`, 'utf8').trim();
    const owner = Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${ppid}/status`, 'utf8'))?.[1]);
    if (comm !== 'systemd' || owner !== uid) return undefined;
  } catch {
    return undefined;
  }
  // the parent is the user's manager: its service, as for PID 1's
  return systemdServiceCgroup(procSelfCgroup, env, 1);
}
