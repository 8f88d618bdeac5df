// Where a container's files live, and making and removing them: the bundle under
// --root (upper, work, rootfs, config.json, logs) and the run dir under --exec-root
// (the monitor's socket and exit file).
import { mkdirSync, rmSync, readFileSync, statSync, chownSync, chmodSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { lockDown, type IdMaps } from '../runtime/idmap.ts';
import type { ExitFile } from '../runtime/monitor.ts';
import { crashPoint } from '../crash.ts';

/**
 * rm -rf that also wins against a monitor unlinking its own files at the same
 * moment (a vanished entry can make one rmSync pass stop early, leaving the dir).
 */
export function removeTree(dir: string): void {
  for (let i = 0; ; i++) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch (e) {
      if (i >= 5) throw e;
    }
    if (!existsSync(dir) || i >= 5) return;
  }
}

export class BundleLayout {
  private readonly root: string;
  private readonly execRoot: string;
  private readonly idMaps: IdMaps;
  private readonly rootless: boolean;

  constructor(root: string, execRoot: string, idMaps: IdMaps, rootless: boolean) {
    this.root = root;
    this.execRoot = execRoot;
    this.idMaps = idMaps;
    this.rootless = rootless;
  }

  /** 0710 root:<container root gid> down to each rootfs (see lockDown). */
  private get rootGid(): number | undefined { return this.rootless ? undefined : this.idMaps.gid.start; }

  get containersDir(): string { return join(this.root, 'containers'); }
  get runDirs(): string { return join(this.execRoot, 'c'); }
  bundleDir(id: string): string { return join(this.containersDir, id); }
  /** Short: a unix socket path must fit in 108 bytes. */
  runDir(id: string): string { return join(this.runDirs, id.slice(0, 12)); }
  logPath(id: string): string { return join(this.bundleDir(id), 'container.log'); }
  socketPath(id: string): string { return join(this.runDir(id), 'm.sock'); }
  exitPath(id: string): string { return join(this.runDir(id), 'exit.json'); }
  /** The monitor's bind of the container's netns (bridge network): how the daemon reaches it. */
  netnsPath(id: string): string { return join(this.runDir(id), 'netns'); }

  /**
   * Container root must walk to its root directory for pivot_root; other host users
   * must not get in at all.
   */
  init(): void {
    mkdirSync(this.containersDir, { recursive: true, mode: 0o710 });
    lockDown(this.containersDir, this.rootGid);
    mkdirSync(this.runDirs, { recursive: true, mode: 0o700 });
  }

  /** The bundle of a new container; `lower[0]` is the image's top layer. */
  make(id: string, lower: readonly string[]): void {
    const dir = this.bundleDir(id);
    mkdirSync(dir, { mode: 0o710 });
    crashPoint('create.dir');
    lockDown(dir, this.rootGid);
    for (const d of ['upper', 'work', 'rootfs']) mkdirSync(join(dir, d));
    // The merged root takes the upper dir's owner and mode: make them the image's.
    const top = lower[0] ? statSync(lower[0]) : undefined;
    chownSync(join(dir, 'upper'), top?.uid ?? this.idMaps.uid.start, top?.gid ?? this.idMaps.gid.start);
    chmodSync(join(dir, 'upper'), top ? top.mode & 0o7777 : 0o755);
  }

  /** A fresh run dir: nothing of an earlier run (socket, exit file) may be taken for this one. */
  freshRunDir(id: string): string {
    const runDir = this.runDir(id);
    removeTree(runDir);
    mkdirSync(runDir, { recursive: true, mode: 0o700 });
    return runDir;
  }

  /** The monitor's record of the container's end: the ground truth. */
  readExitFile(id: string): ExitFile | undefined {
    try {
      return JSON.parse(readFileSync(this.exitPath(id), 'utf8')) as ExitFile;
    } catch {
      return undefined;
    }
  }
}
