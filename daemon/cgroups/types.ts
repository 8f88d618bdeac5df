// One interface for both cgroup versions; the engine never sees which one it has.
export interface Limits {
  memory?: number;       // bytes
  memorySwap?: number;   // bytes incl. memory; -1 = unlimited
  pidsLimit?: number;
  cpus?: number;         // e.g. 0.5
}

export interface CgroupUsage {
  memoryUsage: number;
  memoryLimit: number;   // 0 = unlimited
  pids: number;
  cpuUsageNs: number;
  oomKills: number;
}

export interface CgroupDriver {
  readonly version: 1 | 2;
  /** Creates the container's cgroup(s) under the parent and applies limits; returns the cgroup.procs files to join. */
  create(id: string, limits: Limits): string[];
  /** Removes the container's cgroup(s); tolerates "already gone"; retries while the last tasks exit. */
  remove(id: string): Promise<void>;
  exists(id: string): boolean;
  usage(id: string): CgroupUsage;
  /** Removes the (empty) parent groups that this daemon created. */
  removeParent(): void;
  /** Host pids of every process in the container's cgroup. */
  procs(id: string): number[];
  /**
   * Freezes (true) or thaws the container's processes (commit -p), resolving once the
   * kernel reports them frozen; throws when it cannot (the group is thawed again).
   */
  freeze(id: string, frozen: boolean): Promise<void>;
  /** Human-readable paths, for inspect. */
  paths(id: string): string[];
}
