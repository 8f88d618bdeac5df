// The file verbs of the engine: cp (stat, out, in), diff, export. The daemon resolves
// every container path itself, inside the container's root (lib/files/inroot.ts), on
// the merged view (rootview.ts); the CLI applies Docker's naming rules (cli/cp-plan.ts).
import * as fs from 'node:fs';
import { basename } from 'node:path';
import type { Engine } from '../containers/engine.ts';
import type { IdShift } from '../../images/tar-extract.ts';
import { EngineError } from '../errors.ts';
import { resolveInRoot } from '../../lib/files/inroot.ts';
import { tarOf } from '../../lib/files/tar-out.ts';
import { extractInto, type ExtractIntoResult } from '../../lib/files/tar-in.ts';
import { opaqueDirs, upperChanges, type Change } from './changes.ts';
import { withMergedRoot, type RootViewEnv } from './rootview.ts';

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
    return withMergedRoot(() => this.target(ref), this.env, async (root) => {
      const r = resolveInRoot(root, path, { followLast: followLink });
      try {
        if (!r.st) return { exists: false, name: basename(r.path), isDir: false, size: 0, mode: 0, linkTarget: '', path: r.path };
        const link = r.st.isSymbolicLink() ? fs.readlinkSync(r.at) : '';
        return { exists: true, name: r.path === '/' ? '/' : basename(r.path), isDir: r.st.isDirectory(), size: r.st.size, mode: r.st.mode, linkTarget: link, path: r.path };
      } finally {
        r.close();
      }
    });
  }

  /** cp out: a tar of `path` whose top entry is named rootName ("" = a directory's contents only). */
  async *copyFrom(ref: string, path: string, followLink: boolean, rootName: string): TarStream {
    checkPath(path);
    if (rootName.includes('/') || rootName === '..') throw new EngineError('INVALID_ARGUMENT', `invalid archive name "${rootName}"`);
    const t = () => this.target(ref);
    // The generator holds the root open while the client reads: pump it through a queue.
    yield* heldStream(t, this.env, (root) => {
      const r = resolveInRoot(root, path, { followLast: followLink });
      if (!r.st) {
        r.close();
        throw new EngineError('NOT_FOUND', `Could not find the file ${path} in container ${ref}`);
      }
      const gen = tarOf(r.dir, r.name, rootName, { shift: this.shift });
      return { gen, done: () => r.close() };
    });
  }

  /** cp in: extracts a tar into the existing directory `dir` of the container. */
  async copyTo(ref: string, dir: string, archive: boolean, src: AsyncIterable<Buffer>): Promise<ExtractIntoResult> {
    checkPath(dir);
    this.checkRoom('copy files into a container');
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

