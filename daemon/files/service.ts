// The file verbs of the engine: cp (stat, out, in), diff, export. The daemon resolves
// every container path itself, inside the container's root (lib/files/inroot.ts), on
// the merged view (rootview.ts); the CLI applies Docker's naming rules (cli/cp-plan.ts).
import * as fs from 'node:fs';
import { basename, posix } from 'node:path';
import type { Engine } from '../containers/engine.ts';
import type { IdShift } from '../../images/tar-extract.ts';
import { EngineError } from '../errors.ts';
import { openRoot, resolveInRoot } from '../../lib/files/inroot.ts';
import { tarOf } from '../../lib/files/tar-out.ts';
import { extractInto, type ExtractIntoResult } from '../../lib/files/tar-in.ts';
import { opaqueDirs, upperChanges, type Change } from './changes.ts';
import { withMergedRoot, type RootViewEnv } from './rootview.ts';
import { mountOf, type MountRoute } from './mount-route.ts';

export interface PathInfo {
  exists: boolean;
  name: string;
  isDir: boolean;
  size: number;
  mode: number;
  linkTarget: string;
  path: string;
}

/** A tar stream produced while the container's root is held; ends (and lets go) when consumed or returned. */
export type TarStream = AsyncGenerator<Buffer, void, undefined>;

export class FileService {
  private readonly engine: Engine;
  private readonly env: RootViewEnv;
  private readonly shift: IdShift;

  private readonly checkRoom: (what: string) => void;

  constructor(engine: Engine, env: RootViewEnv, shift: IdShift, checkRoom: (what: string) => void = () => {}) {
    this.checkRoom = checkRoom;
    this.engine = engine;
    this.env = env;
    this.shift = shift;
  }

  private target(ref: string) {
    const t = this.engine.fileTarget(ref);
    if (t.c.state === 'dead') throw new EngineError('FAILED_PRECONDITION', `container ${t.c.name} is being removed`);
    return t;
  }

  /** `docker container stat`-like: what `path` is inside the container (NOT_FOUND when missing, as Docker's cp). */
  async statPath(ref: string, path: string, followLink: boolean): Promise<PathInfo> {
    checkPath(path);
    return this.withPathRoot(ref, path, followLink, async (root, inner, _shift, route) => {
      const r = resolveInRoot(root, inner, { followLast: followLink });
      try {
        // inside a mount: the path as the container names it
        const full = route ? posix.join(route.mount.destination, r.path) : r.path;
        if (!r.st) return { exists: false, name: basename(full), isDir: false, size: 0, mode: 0, linkTarget: '', path: full };
        const link = r.st.isSymbolicLink() ? fs.readlinkSync(r.at) : '';
        return { exists: true, name: full === '/' ? '/' : basename(full), isDir: r.st.isDirectory(), size: r.st.size, mode: r.st.mode, linkTarget: link, path: full };
      } finally {
        r.close();
      }
    });
  }

  /**
   * Runs fn on the root the path lies in: the host source of the container's volume or
   * bind that holds it (mount-route.ts; ids there are the container's own when it is
   * mounted idmapped), else the container's merged root.
   */
  private async withPathRoot<T>(ref: string, path: string, followLast: boolean, fn: (root: number, inner: string, shift: IdShift, route?: MountRoute) => Promise<T>): Promise<T> {
    const route = await this.routeFor(ref, path, followLast);
    if (!route) return withMergedRoot(() => this.target(ref), this.env, (root) => fn(root, path, this.shift));
    const fd = openMountSource(route);
    try {
      return await fn(fd, route.rest, this.mountShift(route), route);
    } finally {
      fs.closeSync(fd);
    }
  }

  /**
   * The mount holding `path` as the container sees it: in a running container symlinks
   * are resolved in its root first (a link into a volume leads there, one in a volume
   * out of it leaves it, as in Docker); a stopped one has nothing mounted, so by name.
   */
  private async routeFor(ref: string, path: string, followLast: boolean): Promise<MountRoute | undefined> {
    const t = this.target(ref);
    if ((t.c.spec.mounts ?? []).length === 0) return undefined;
    if (!t.live) return this.routeOf(ref, path);
    let real: string | undefined;
    try {
      real = await withMergedRoot(() => this.target(ref), this.env, async (root) => {
        const r = resolveInRoot(root, path, { followLast });
        r.close();
        return r.path;
      });
    } catch {
      real = undefined; // a missing directory on the way: the call itself reports it
    }
    return this.routeOf(ref, real ?? path);
  }

  /** The bind or volume holding `path` (tmpfs mounts are reached through the running container). */
  private routeOf(ref: string, path: string): MountRoute | undefined {
    const route = mountOf(this.target(ref).c.spec.mounts ?? [], path);
    if (!route || route.mount.type === 'tmpfs') return undefined;
    // a bind of a single file: seen through the container's root (running), as its mount point (stopped)
    try {
      if (!fs.statSync(route.mount.source).isDirectory()) return undefined;
    } catch {
      /* missing: openMountSource says so */
    }
    return route;
  }

  private mountShift(route: MountRoute): IdShift {
    return this.engine.mountIdmapped(route.mount) ? { uid: 0, gid: 0, size: this.shift.size } : this.shift;
  }

  /** cp out: a tar of `path` whose top entry is named rootName ("" = a directory's contents only). */
  async *copyFrom(ref: string, path: string, followLink: boolean, rootName: string): TarStream {
    checkPath(path);
    if (rootName.includes('/') || rootName === '..') throw new EngineError('INVALID_ARGUMENT', `invalid archive name "${rootName}"`);
    const t = () => this.target(ref);
    // The generator holds the root open while the client reads: pump it through a queue.
    const route = await this.routeFor(ref, path, followLink);
    const make = (root: number, inner: string, shift: IdShift) => {
      const r = resolveInRoot(root, inner, { followLast: followLink });
      if (!r.st) {
        r.close();
        throw new EngineError('NOT_FOUND', `Could not find the file ${path} in container ${ref}`);
      }
      const gen = tarOf(r.dir, r.name, rootName, { shift });
      return { gen, done: () => r.close() };
    };
    if (route) {
      const fd = openMountSource(route);
      try {
        const { gen, done } = make(fd, route.rest, this.mountShift(route));
        try {
          yield* gen;
        } finally {
          done();
        }
      } finally {
        fs.closeSync(fd);
      }
      return;
    }
    // The generator holds the root open while the client reads: pump it through a queue.
    yield* heldStream(t, this.env, (root) => make(root, path, this.shift));
  }

  /** cp in: extracts a tar into the existing directory `dir` of the container. */
  async copyTo(ref: string, dir: string, archive: boolean, src: AsyncIterable<Buffer>): Promise<ExtractIntoResult> {
    checkPath(dir);
    this.checkRoom('copy files into a container');
    const route = await this.routeFor(ref, dir, true);
    const t = this.target(ref);
    const mounts = t.c.spec.mounts ?? [];
    if (route) {
      if (!route.mount.rw) throw new EngineError('FAILED_PRECONDITION', `mounted volume is marked read-only: ${route.mount.destination} in container ${t.c.name}`);
      const fd = openMountSource(route);
      try {
        return await extractInto(fd, route.rest, src, { shift: this.mountShift(route), archive });
      } finally {
        fs.closeSync(fd);
      }
    }
    // Docker's rule: a --read-only container's root takes no files, running or not (a tmpfs in it does).
    const tmpfs = mountOf(mounts, dir)?.mount.type === 'tmpfs' && t.live;
    if (t.c.spec.readonlyRootfs && !tmpfs) throw new EngineError('FAILED_PRECONDITION', `container rootfs is marked read-only: cannot copy into ${dir} of ${t.c.name}`);
    return withMergedRoot(() => this.target(ref), this.env, (root) => extractInto(root, dir, src, { shift: this.shift, archive }));
  }

  /** `tdock diff`. */
  async diff(ref: string): Promise<Change[]> {
    const t = this.target(ref);
    const opaque = await opaqueDirs(this.env.shim, t.upper, this.env.rootless);
    return upperChanges(t.upper, t.lower, opaque);
  }

  /** `tdock export`: the merged root filesystem as a tar. */
  async *export(ref: string): TarStream {
    const t = () => this.target(ref);
    yield* heldStream(t, this.env, (root) => ({ gen: tarOf(root, '.', '', { shift: this.shift, oneFs: true }), done: () => {} }));
  }
}

/** The host directory of a bind or volume (a bind's source is the path the user gave, as in Docker). */
function openMountSource(route: MountRoute): number {
  try {
    return openRoot(route.mount.source);
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code ?? String(e);
    throw new EngineError('FAILED_PRECONDITION', `the source of the mount at ${route.mount.destination} (${route.mount.source}) cannot be opened: ${why}`);
  }
}

/** Container paths are absolute (Docker resolves relative ones from / too); NUL is never valid. */
function checkPath(p: string): void {
  if (p === '') throw new EngineError('INVALID_ARGUMENT', 'empty path in the container');
  if (p.includes('\0')) throw new EngineError('INVALID_ARGUMENT', 'path in the container contains a NUL byte');
}

/**
 * Runs a tar generator inside withMergedRoot and hands its chunks out one at a time:
 * the root stays held until the consumer has read everything or gave up.
 */
async function* heldStream(
  t: () => ReturnType<Engine['fileTarget']>, env: RootViewEnv,
  make: (root: number) => { gen: AsyncGenerator<Buffer>; done: () => void },
): TarStream {
  let wake: (() => void) | undefined;
  let want: (() => void) | undefined;
  const queue: Buffer[] = [];
  let finished = false;
  let failure: unknown;
  let stopped = false;
  const signal = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const producer = withMergedRoot(t, env, async (root) => {
    const { gen, done } = make(root);
    try {
      for await (const chunk of gen) {
        if (stopped) break;
        queue.push(chunk);
        signal();
        if (queue.length >= 16) await new Promise<void>((r) => (want = r));
      }
    } finally {
      done();
    }
  }).then(
    () => {
      finished = true;
      signal();
    },
    (e) => {
      failure = e;
      finished = true;
      signal();
    },
  );
  try {
    for (;;) {
      const chunk = queue.shift();
      if (chunk) {
        if (queue.length < 4) {
          const w = want;
          want = undefined;
          w?.();
        }
        yield chunk;
        continue;
      }
      if (finished) break;
      await new Promise<void>((r) => (wake = r));
    }
    if (failure) throw failure;
  } finally {
    stopped = true;
    const w = want;
    want = undefined;
    w?.();
    await producer;
  }
}

