// cgroup v1: one hierarchy per controller. The container gets its own group in EVERY
// hierarchy (named ones too): a task left in a hierarchy's root could reach that
// hierarchy's release_agent from a nested user namespace.
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import type { CgroupDriver, CgroupUsage, Limits } from './types.ts';
import { mkdirp, readNumber, readTrim, removeOwnParent, rmdirPatiently, tryRmdir, waitFor, write } from './fsutil.ts';

export interface V1Hierarchy {
  mountpoint: string;          // /sys/fs/cgroup/memory
  controllers: string[];       // ["memory"] or ["cpu","cpuacct"] or ["name=systemd"]
}

const CPU_PERIOD_US = 100_000;

export class CgroupV1 implements CgroupDriver {
  readonly version = 1 as const;
  private readonly hierarchies: V1Hierarchy[];
  private readonly parent: string;
  /** Ancestors of the parent group that this process created (and so may remove). */
  private readonly made = new Set<string>();

  constructor(hierarchies: V1Hierarchy[], parent: string) {
    this.hierarchies = hierarchies;
    this.parent = parent;
  }

  private dir(h: V1Hierarchy, id: string): string {
    return join(h.mountpoint, this.parent, id);
  }

  private find(ctrl: string): V1Hierarchy | undefined {
    return this.hierarchies.find((h) => h.controllers.includes(ctrl));
  }

  private ensureParent(h: V1Hierarchy): void {
    const parts = this.parent.split('/');
    let cur = h.mountpoint;
    for (const p of parts) {
      const next = join(cur, p);
      if (!existsSync(next)) {
        mkdirp(next);
        this.made.add(next);
        // cpuset groups start with no cpus/mems; a task cannot join until they are set.
        if (h.controllers.includes('cpuset')) {
          write(join(next, 'cpuset.cpus'), readTrim(join(cur, 'cpuset.cpus')));
          write(join(next, 'cpuset.mems'), readTrim(join(cur, 'cpuset.mems')));
        }
      }
      cur = next;
    }
  }

  create(id: string, limits: Limits): string[] {
    const procs: string[] = [];
    const made: string[] = [];
    try {
      for (const h of this.hierarchies) {
        this.ensureParent(h);
        const dir = this.dir(h, id);
        mkdirp(dir);
        made.push(dir);
        if (h.controllers.includes('cpuset')) {
          const parentDir = join(h.mountpoint, this.parent);
          write(join(dir, 'cpuset.cpus'), readTrim(join(parentDir, 'cpuset.cpus')));
          write(join(dir, 'cpuset.mems'), readTrim(join(parentDir, 'cpuset.mems')));
        }
        procs.push(join(dir, 'cgroup.procs'));
      }
      this.applyLimits(id, limits);
    } catch (e) {
      for (const d of made.reverse()) tryRmdir(d);
      throw e;
    }
    return procs;
  }

  private applyLimits(id: string, l: Limits): void {
    const mem = this.find('memory');
    if (mem && l.memory) {
      const dir = this.dir(mem, id);
      write(join(dir, 'memory.limit_in_bytes'), String(l.memory));
      const memsw = join(dir, 'memory.memsw.limit_in_bytes');
      if (existsSync(memsw)) {
        // Docker's --memory-swap is the total; unset means twice the memory.
        const total = l.memorySwap === -1 ? -1 : l.memorySwap && l.memorySwap > 0 ? l.memorySwap : l.memory * 2;
        write(memsw, String(total));
      }
    }
    const pids = this.find('pids');
    if (pids && l.pidsLimit && l.pidsLimit > 0) write(join(this.dir(pids, id), 'pids.max'), String(l.pidsLimit));
    const cpu = this.find('cpu');
    if (cpu && l.cpus && l.cpus > 0) {
      const dir = this.dir(cpu, id);
      write(join(dir, 'cpu.cfs_period_us'), String(CPU_PERIOD_US));
      write(join(dir, 'cpu.cfs_quota_us'), String(Math.max(1000, Math.round(l.cpus * CPU_PERIOD_US))));
    }
  }

  async remove(id: string): Promise<void> {
    await Promise.all(this.hierarchies.map((h) => rmdirPatiently(this.dir(h, id))));
  }

  exists(id: string): boolean {
    return this.hierarchies.some((h) => existsSync(this.dir(h, id)));
  }

  usage(id: string): CgroupUsage {
    const mem = this.find('memory');
    const pids = this.find('pids');
    const acct = this.find('cpuacct');
    const memDir = mem ? this.dir(mem, id) : '';
    const limit = memDir ? readNumber(join(memDir, 'memory.limit_in_bytes')) : 0;
    const oomLine = memDir ? readTrim(join(memDir, 'memory.oom_control')).split('\n').find((l) => l.startsWith('oom_kill ')) : undefined;
    return {
      memoryUsage: memDir ? readNumber(join(memDir, 'memory.usage_in_bytes')) : 0,
      // v1 reports "unlimited" as a huge page-aligned number.
      memoryLimit: limit >= 2 ** 62 ? 0 : limit,
      pids: pids ? readNumber(join(this.dir(pids, id), 'pids.current')) : 0,
      cpuUsageNs: acct ? readNumber(join(this.dir(acct, id), 'cpuacct.usage')) : 0,
      oomKills: oomLine ? Number(oomLine.split(' ')[1]) || 0 : 0,
    };
  }

  procs(id: string): number[] {
    const h = this.find('pids') ?? this.find('memory') ?? this.hierarchies[0];
    if (!h) return [];
    return readTrim(join(this.dir(h, id), 'cgroup.procs')).split('\n').filter(Boolean).map(Number);
  }

  async freeze(id: string, frozen: boolean): Promise<void> {
    const h = this.find('freezer');
    if (!h) throw new Error('cannot pause the container: no freezer cgroup on this host; commit with --pause=false');
    const state = join(this.dir(h, id), 'freezer.state');
    write(state, frozen ? 'FROZEN' : 'THAWED');
    const want = frozen ? 'FROZEN' : 'THAWED';
    if (await waitFor(() => readTrim(state) === want)) return;
    if (frozen) write(state, 'THAWED');
    throw new Error(`cannot ${frozen ? 'pause' : 'unpause'} the container: its freezer stays ${readTrim(state) || 'unreadable'} (a process stuck in the kernel?)`);
  }

  removeParent(): void {
    for (const h of this.hierarchies) removeOwnParent(h.mountpoint, this.parent, this.made);
  }

  paths(id: string): string[] {
    return this.hierarchies.map((h) => this.dir(h, id));
  }
}
