// One engine world per unit test: a temp dir, a database, the fake monitor host and
// in-process cgroups; engine() builds engines on it, close() ends them and removes all.
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDb, type Db } from '../../daemon/store/db.ts';
import { Engine } from '../../daemon/containers/engine.ts';
import type { EngineOptions } from '../../daemon/containers/types.ts';
import type { CgroupDriver } from '../../daemon/cgroups/index.ts';
import { FakeHost } from './fake-monitor.ts';

export class FakeCgroups implements CgroupDriver {
  readonly version = 2 as const;
  readonly made = new Set<string>();
  /** the pids a test puts in a container's cgroups */
  readonly members = new Map<string, number[]>();
  create(id: string): string[] {
    this.made.add(id);
    return [`/fake/${id}/cgroup.procs`];
  }
  async remove(id: string): Promise<void> { this.made.delete(id); }
  exists(id: string): boolean { return this.made.has(id); }
  usage() { return { cpuUsageNs: 0, memoryUsage: 0, memoryLimit: 0, pids: 0, oomKills: 0 }; }
  removeParent(): void {}
  procs(id: string): number[] { return this.members.get(id) ?? []; }
  paths(): string[] { return []; }
  async freeze(): Promise<void> {}
}

export class EngineWorld {
  readonly dir: string;
  readonly db: Db;
  readonly host = new FakeHost();
  readonly cgroups = new FakeCgroups();
  private readonly engines: Engine[] = [];

  constructor(prefix: string) {
    this.dir = mkdtempSync(join(tmpdir(), `tdock-unit-${prefix}-`));
    this.db = openDb(join(this.dir, 'tdock.db'));
  }

  /** An engine on this world's files as the tests' user (rootless: no chown), with one empty layer. */
  engine(extra: Partial<EngineOptions> = {}): Engine {
    const layer = join(this.dir, 'layer');
    mkdirSync(layer, { recursive: true });
    const uid = process.getuid?.() ?? 0;
    const gid = process.getgid?.() ?? 0;
    const e = new Engine(this.db, {
      root: join(this.dir, 'root'), execRoot: join(this.dir, 'run'), shim: '/nonexistent/tdock-shim',
      idMaps: { uid: { start: uid, size: 1 }, gid: { start: gid, size: 1 } }, rootless: true, cgroups: this.cgroups,
      images: { ensure: async () => ({ id: 'img', config: { Cmd: ['sh'] } }), layerDirs: () => [layer] },
      host: this.host,
      ...extra,
    });
    this.engines.push(e);
    return e;
  }

  close(): void {
    for (const e of this.engines.splice(0)) e.close();
    this.db.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
