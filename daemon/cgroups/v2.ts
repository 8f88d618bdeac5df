// cgroup v2: one unified tree. Controllers must be enabled in every ancestor's
// cgroup.subtree_control before a child group gets their files.
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import type { CgroupDriver, CgroupUsage, Limits } from './types.ts';
import { mkdirp, readNumber, readTrim, removeOwnParent, rmdirPatiently, tryRmdir, waitFor, write } from './fsutil.ts';

const CPU_PERIOD_US = 100_000;
const WANTED = ['cpu', 'memory', 'pids'];

export class CgroupV2 implements CgroupDriver {
  readonly version = 2 as const;
  readonly mountpoint: string;
  private readonly parent: string;
  /** Ancestors of the parent group that this process created (and so may remove). */
  private readonly made = new Set<string>();

  constructor(mountpoint: string, parent: string) {
    this.mountpoint = mountpoint;
    this.parent = parent;
  }

  private dir(id: string): string {
    return join(this.mountpoint, this.parent, id);
  }

  private enableControllers(): void {
    let cur = this.mountpoint;
    const available = readTrim(join(cur, 'cgroup.controllers')).split(/\s+/);
    const enable = WANTED.filter((c) => available.includes(c));
    for (const p of ['', ...this.parent.split('/')]) {
      if (p) {
        cur = join(cur, p);
        if (!existsSync(cur)) {
          mkdirp(cur);
          this.made.add(cur);
        }
      }
      const active = readTrim(join(cur, 'cgroup.subtree_control')).split(/\s+/);
      const missing = enable.filter((c) => !active.includes(c));
      if (missing.length) write(join(cur, 'cgroup.subtree_control'), missing.map((c) => `+${c}`).join(' '));
    }
  }

  create(id: string, limits: Limits): string[] {
    this.enableControllers();
    const dir = this.dir(id);
    mkdirp(dir);
    try {
      if (limits.memory) {
        write(join(dir, 'memory.max'), String(limits.memory));
        if (existsSync(join(dir, 'memory.swap.max'))) {
          // Docker's --memory-swap is memory + swap; v2 limits the swap alone.
          const swap = limits.memorySwap === -1 ? 'max' : limits.memorySwap && limits.memorySwap > 0 ? String(Math.max(0, limits.memorySwap - limits.memory)) : String(limits.memory);
          write(join(dir, 'memory.swap.max'), swap);
        }
      }
      if (limits.pidsLimit && limits.pidsLimit > 0) write(join(dir, 'pids.max'), String(limits.pidsLimit));
      if (limits.cpus && limits.cpus > 0) {
        write(join(dir, 'cpu.max'), `${Math.max(1000, Math.round(limits.cpus * CPU_PERIOD_US))} ${CPU_PERIOD_US}`);
      }
    } catch (e) {
      tryRmdir(dir);
      throw e;
    }
    return [join(dir, 'cgroup.procs')];
  }

  async remove(id: string): Promise<void> {
    await rmdirPatiently(this.dir(id));
  }

  exists(id: string): boolean {
    return existsSync(this.dir(id));
  }

  usage(id: string): CgroupUsage {
    const dir = this.dir(id);
    const max = readTrim(join(dir, 'memory.max'));
    const events = readTrim(join(dir, 'memory.events')).split('\n').find((l) => l.startsWith('oom_kill '));
    const cpuLine = readTrim(join(dir, 'cpu.stat')).split('\n').find((l) => l.startsWith('usage_usec '));
    return {
      memoryUsage: readNumber(join(dir, 'memory.current')),
      memoryLimit: max === 'max' || max === '' ? 0 : Number(max),
      pids: readNumber(join(dir, 'pids.current')),
      cpuUsageNs: cpuLine ? Number(cpuLine.split(' ')[1]) * 1000 : 0,
      oomKills: events ? Number(events.split(' ')[1]) || 0 : 0,
    };
  }

  procs(id: string): number[] {
    return readTrim(join(this.dir(id), 'cgroup.procs')).split('\n').filter(Boolean).map(Number);
  }

  async freeze(id: string, frozen: boolean): Promise<void> {
    const dir = this.dir(id);
    write(join(dir, 'cgroup.freeze'), frozen ? '1' : '0');
    const isFrozen = () => /^frozen 1$/m.test(readTrim(join(dir, 'cgroup.events')));
    if (await waitFor(() => isFrozen() === frozen)) return;
    if (frozen) write(join(dir, 'cgroup.freeze'), '0');
    throw new Error(`cannot ${frozen ? 'pause' : 'unpause'} the container: cgroup.freeze did not take effect`);
  }

  removeParent(): void {
    removeOwnParent(this.mountpoint, this.parent, this.made);
  }

  paths(id: string): string[] {
    return [this.dir(id)];
  }
}
