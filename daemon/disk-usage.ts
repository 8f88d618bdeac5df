// `system df` and `container prune`: what the daemon's objects take on disk, in one
// place. Sizes are bytes of file data (as the layer store counts them), each inode
// once, never following a symlink; a directory that vanishes while walked counts 0.
import { lstat, readdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { DiskUsageResponse, DiskUsageVolume, ImageSummary, ContainerSummary } from '../proto/api.ts';
import type { ContainerRow, State } from './containers/repository.ts';
import { messageOf } from './errors.ts';

/**
 * Bytes of the files below `dir` (hard links once). Asynchronous: a container's upper
 * dir may hold a million files, and the daemon's other calls must not wait for the walk.
 */
export async function treeSize(dir: string, seen = new Set<string>()): Promise<number> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  let total = 0;
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      total += await treeSize(p, seen);
      continue;
    }
    if (!e.isFile()) continue;
    try {
      const st = await lstat(p);
      if (st.nlink > 1) {
        const key = `${st.dev}:${st.ino}`;
        if (seen.has(key)) continue;
        seen.add(key);
      }
      total += st.size;
    } catch {
      /* removed meanwhile */
    }
  }
  return total;
}

/** A log file and the rotated ones beside it (container.log, container.log.1, ...). */
async function logSize(log: string): Promise<number> {
  let total = 0;
  let names: string[] = [];
  try {
    names = await readdir(dirname(log));
  } catch {
    return 0;
  }
  for (const n of names) {
    if (n !== basename(log) && !n.startsWith(`${basename(log)}.`)) continue;
    try {
      total += (await lstat(join(dirname(log), n))).size;
    } catch {
      /* rotated away meanwhile */
    }
  }
  return total;
}

export interface DiskUsageSources {
  containers: () => ContainerRow[];
  summary: (c: ContainerRow) => ContainerSummary;
  diskPaths: (id: string) => { upper: string; log: string };
  remove: (id: string) => Promise<void>;
  images: () => ImageSummary[];
  layerUse: () => { imageId: string; diffId: string; size: number }[];
  /** Volumes with the containers that use them (any state, as Docker counts) and their size. */
  volumes?: () => DiskUsageVolume[];
  log?: (msg: string) => void;
}

/** States `container prune` removes (Docker's: not running, paused or restarting). */
const STOPPED: readonly State[] = ['created', 'exited', 'dead'];

export class DiskUsage {
  private readonly s: DiskUsageSources;
  constructor(s: DiskUsageSources) {
    this.s = s;
  }

  async containerSize(id: string): Promise<number> {
    const p = this.s.diskPaths(id);
    return (await treeSize(p.upper)) + (await logSize(p.log));
  }

  async usage(): Promise<DiskUsageResponse> {
    const rows = this.s.containers();
    const usedBy = new Map<string, number>();
    for (const c of rows) usedBy.set(c.imageId, (usedBy.get(c.imageId) ?? 0) + 1);
    const layers = this.s.layerUse();
    const imagesOf = new Map<string, Set<string>>();
    const sizeOf = new Map<string, number>();
    for (const l of layers) {
      sizeOf.set(l.diffId, l.size);
      (imagesOf.get(l.diffId) ?? imagesOf.set(l.diffId, new Set()).get(l.diffId)!).add(l.imageId);
    }
    const shared = (imageId: string) => layers
      .filter((l) => l.imageId === imageId && imagesOf.get(l.diffId)!.size > 1)
      .reduce((sum, l) => sum + l.size, 0);
    let layersSize = 0;
    let reclaimable = 0;
    for (const [diffId, users] of imagesOf) {
      layersSize += sizeOf.get(diffId)!;
      if (![...users].some((i) => usedBy.has(i))) reclaimable += sizeOf.get(diffId)!;
    }
    return {
      images: this.s.images().map((image) => ({ image, sharedSize: shared(image.id), containers: usedBy.get(image.id) ?? 0 })),
      containers: await Promise.all(rows.map(async (c) => ({ container: this.s.summary(c), size: await this.containerSize(c.id) }))),
      volumes: this.s.volumes?.() ?? [],
      layersSize,
      imagesReclaimable: reclaimable,
      buildCacheSize: 0,
    };
  }

  /** Removes the stopped containers; one that started meanwhile (or cannot go) is left and logged. */
  async pruneContainers(): Promise<{ deleted: string[]; reclaimed: number }> {
    const deleted: string[] = [];
    let reclaimed = 0;
    for (const c of this.s.containers().filter((r) => STOPPED.includes(r.state))) {
      const size = await this.containerSize(c.id);
      try {
        await this.s.remove(c.id);
      } catch (e) {
        this.s.log?.(`container prune: ${c.id.slice(0, 12)} left: ${messageOf(e)}`);
        continue;
      }
      deleted.push(c.id);
      reclaimed += size;
    }
    return { deleted, reclaimed };
  }
}
