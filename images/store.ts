// The image store: unpacked, id-shifted layers under <root>/layers/<diff_id hex>, and the
// catalog (tables layers, images, image_layers, tags; see daemon/store/db.ts).
//
// Layers are unpacked once and shared by every image that has them. An import extracts
// into <root>/layers/tmp-<random>, then, in one synchronous step (no await, so no other
// import or removal of this process interleaves), renames the tree into place or drops
// it when the layer exists, and records layer, image and tag in one transaction. A failed
// import leaves no tmp dir and no row. Removal renames layer dirs to tmp-del-<random>
// before deleting them, so a crash never leaves a half-deleted layer under a real name;
// `cleanup()` (call it once at daemon start, before serving) removes such leftovers.
//
// OCI whiteouts found in a layer are turned into overlayfs whiteouts (char device 0:0,
// trusted.overlay.opaque) by `whiteoutApplier` (the shim's `whiteouts` verb, see
// images/whiteouts.ts) in the tmp dir, before the layer is renamed into place. Without an
// applier (unit tests) they are kept in <root>/layers/<hex>.whiteouts.json instead.
//
// Images of several layers (registry pulls) are committed with `commitImage`: the caller
// extracts every missing layer into a tmp dir from `stagingDir()`, then one synchronous
// step moves them in and records layers, image, tag and repo digest in one transaction.
// The image id of a pulled image is the sha256 of its config bytes as the registry sent
// them (kept verbatim in images.config).
//
// Layer blobs (for save and push): every layer keeps the exact bytes it arrived as (the
// registry's gzip/zstd blob, or the plain tar of an import/load) in <root>/layers/<hex>.blob,
// described by <hex>.blob.json ({digest, size, compression, sources}). The unpacked tree
// cannot give those bytes back: a tar rebuilt from it would have another diff_id, hence
// another image id, and a pushed layer another digest than the one the registry already
// has. unpackLayer tees the input to <staging dir>.blob while extracting (no second
// read); commitImage moves it in with the layer. `sources` lists the registry
// repositories ("host/path") known to hold the blob, for cross-repository mounts on push.
// Layers unpacked by an older tdock have no blob: save and push name them and refuse.
// A plain tar (import, load, commit) is gzipped once when it is first pushed (Docker
// pushes gzip: registries and older clients expect it, and it halves the upload) and the
// gzip then replaces it as the kept blob (gzipKeptBlob), so every later push sends the
// same bytes, hence the same digests and manifest.
//
// Decisions (Docker's behaviour where it has one):
// - Re-tagging moves the tag; the previous image stays, dangling (<none>:<none>) if it
//   has no tag left, until removed by id or pruned.
// - remove(NAME[:TAG]) only untags while the image has other tags; removing the last
//   tag deletes the image unless a container uses it (refused; with force: untagged,
//   the image stays, because a live overlay still has its layers as lowerdirs).
//   remove(ID) of an image with several tags needs force.
// - Image ids resolve by full id, "sha256:"-prefixed or bare hex, or any unique prefix;
//   a name that is also a tag wins over an id prefix, as in Docker.
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createReadStream } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type Database from 'better-sqlite3';
import { EngineError, isNoSpace } from '../lib/errors.ts';
import { formatRef, parseRef } from './reference.ts';
import { extractLayer } from './tar-extract.ts';
import type { ExtractResult, IdShift, Whiteout } from './tar-extract.ts';

/** The daemon's database: daemon/store/db.ts migrates the images, layers and tags tables used here. */
type Db = Database.Database;

/** The runtime part of an OCI image config (the "config" object). */
export interface ImageConfig {
  User?: string;
  ExposedPorts?: Record<string, Record<string, never>>;
  Env?: string[];
  Entrypoint?: string[];
  Cmd?: string[];
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
  /** ONBUILD triggers (commit/import -c), kept for a build elsewhere */
  OnBuild?: string[];
}

/** The OCI image configuration document; its sha256 is the image id. */
export interface OciImageConfig {
  created: string;
  architecture: string;
  os: string;
  config: ImageConfig;
  rootfs: { type: 'layers'; diff_ids: string[] };
}

export interface ImageRecord {
  /** "sha256:<hex>" of the config JSON */
  id: string;
  /** "name:tag", sorted */
  repoTags: string[];
  /** unix ms (the config's created time) */
  created: number;
  /** bytes of file data in all layers */
  size: number;
  /** diff_ids, bottom layer first */
  layers: string[];
  config: OciImageConfig;
}

export interface ImageSummary {
  repository: string;
  tag: string;
  id: string;
  /** unix ms */
  created: number;
  size: number;
}

export interface ImportOptions {
  /** expected sha256 of the input bytes as given (compressed or not): "sha256:<hex>" or "<hex>" */
  sha256?: string;
  config?: Partial<ImageConfig>;
  /** the image's creation time (default: now); fixed values make the image id reproducible */
  created?: Date | string | number;
  architecture?: string;
  os?: string;
  /** cumulative input bytes read */
  onProgress?: (bytes: number) => void;
  /** recorded as the image's one history entry (import -m); without it the config has no history, as before */
  history?: { created_by?: string; comment?: string };
}

/** One layer of an image being committed. */
export interface StagedLayer {
  diffId: string;
  /** the extracted tree (whiteouts applied) to move into place; undefined when the store already has the layer */
  tmp?: string;
  /** bytes of file data */
  size?: number;
  /** whiteouts not applied by a whiteoutApplier (recorded next to the layer) */
  whiteouts?: Whiteout[];
  /** the kept input of the layer (at `${tmp}.blob`, see unpackLayer) */
  blob?: { digest: string; size: number; compression: 'gzip' | 'zstd' | 'none'; tarSize: number };
}

/** The blob description of an unpack result (for StagedLayer.blob). */
export function blobOf(r: ExtractResult): NonNullable<StagedLayer['blob']> {
  return { digest: r.inputDigest, size: r.inputSize, compression: r.compression, tarSize: r.tarSize };
}

/** What <hex>.blob.json says about a layer's kept blob. */
export interface LayerBlob {
  /** "sha256:<hex>" of the blob bytes (the diff_id when not compressed) */
  digest: string;
  size: number;
  compression: 'gzip' | 'zstd' | 'none';
  /** bytes of the uncompressed tar (the diff_id's input): the size of the layer file in a saved archive */
  tarSize: number;
  /** registry repositories ("host/path") known to have this blob */
  sources: string[];
}

/** Turns the OCI whiteouts of an extracted layer into overlayfs ones (in place). */
export type WhiteoutApplier = (dir: string, whiteouts: Whiteout[]) => Promise<void>;

export interface RemoveOptions {
  force?: boolean;
  /** true when a container (in any state) uses the image */
  inUse?: (imageId: string) => boolean;
}

export interface RemoveResult {
  untagged: string[];
  deleted: string[];
}

/** `docker image inspect`-shaped description. */
export interface ImageInspect {
  Id: string;
  RepoTags: string[];
  RepoDigests: string[];
  Parent: string;
  Comment: string;
  Created: string;
  Config: ImageConfig;
  Architecture: string;
  Os: string;
  Size: number;
  GraphDriver: { Name: string; Data: { LowerDir: string } };
  RootFS: { Type: string; Layers: string[] };
  Metadata: { LastTagTime: string };
}

const NOT_IN_USE = () => false;

/**
 * Uncompressed bytes one layer may unpack to (tdockd --max-layer-size): generous, since
 * real images have multi-GB layers, but a bound, since a few MB of gzip can expand to
 * terabytes. Counted on the tar stream, so it also bounds the work done for a layer.
 */
export const DEFAULT_MAX_LAYER_SIZE = 16 * 2 ** 30;
/**
 * Layers per image: Docker's cap (its layer store refuses deeper chains). overlayfs here
 * takes up to 500 lower layers; an image over the cap is refused at pull, before any
 * download, instead of failing at every run.
 */
export const MAX_LAYERS = 127;

/** The one-line refusal of an image with too many layers ("max depth exceeded" is Docker's). */
export function tooManyLayers(what: string, n: number): EngineError {
  return new EngineError('INVALID_ARGUMENT', `max depth exceeded: ${what} has ${n} layers, at most ${MAX_LAYERS} are supported; use an image with fewer layers (squash it)`);
}
const HEX64 = /^[a-f0-9]{64}$/;

export function ociArchitecture(arch: string = process.arch): string {
  const map: Record<string, string> = { x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', loong64: 'loong64' };
  return map[arch] ?? arch;
}

/** Builds the config document with a fixed key order, so equal inputs give equal ids. */
export function buildConfig(c: Partial<ImageConfig>, diffIds: string[], created: string, architecture: string, os: string): OciImageConfig {
  const config: ImageConfig = {};
  if (c.User !== undefined) config.User = c.User;
  if (c.ExposedPorts !== undefined) {
    config.ExposedPorts = Object.fromEntries(Object.keys(c.ExposedPorts).sort().map((k) => [k, {}]));
  }
  if (c.Env !== undefined) config.Env = [...c.Env];
  if (c.Entrypoint !== undefined) config.Entrypoint = [...c.Entrypoint];
  if (c.Cmd !== undefined) config.Cmd = [...c.Cmd];
  if (c.WorkingDir !== undefined) config.WorkingDir = c.WorkingDir;
  if (c.Labels !== undefined) config.Labels = Object.fromEntries(Object.keys(c.Labels).sort().map((k) => [k, c.Labels![k]!]));
  if (c.StopSignal !== undefined) config.StopSignal = c.StopSignal;
  return { created, architecture, os, config, rootfs: { type: 'layers', diff_ids: [...diffIds] } };
}

function normalizeDigest(s: string): string {
  const d = s.trim().toLowerCase();
  const hex = d.startsWith('sha256:') ? d.slice(7) : d;
  if (!HEX64.test(hex)) throw new EngineError('INVALID_ARGUMENT', `invalid sha256 "${s}": expected 64 hex digits`);
  return 'sha256:' + hex;
}

function notFound(ref: string): EngineError {
  return new EngineError('NOT_FOUND', `No such image: ${ref}`);
}

interface Resolved {
  id: string;
  /** set when the ref named a tag */
  tag?: { repository: string; tag: string };
}

export class ImageStore {
  readonly db: Db;
  readonly root: string;
  readonly layersDir: string;
  readonly shift: IdShift;
  /** set by the daemon (the shim's whiteouts verb); without it whiteouts are only recorded */
  whiteoutApplier: WhiteoutApplier | undefined;
  /** uncompressed bytes a layer may unpack to (DEFAULT_MAX_LAYER_SIZE) */
  readonly maxLayerSize: number;

  constructor(db: Db, root: string, shift: IdShift, opts: { whiteoutApplier?: WhiteoutApplier; maxLayerSize?: number } = {}) {
    this.db = db;
    this.root = root;
    this.layersDir = join(root, 'layers');
    this.shift = shift;
    this.whiteoutApplier = opts.whiteoutApplier;
    this.maxLayerSize = opts.maxLayerSize ?? DEFAULT_MAX_LAYER_SIZE;
    // Only root needs the layers (the overlay is mounted as root): keep host users out.
    mkdirSync(this.layersDir, { recursive: true, mode: 0o700 });
    chmodSync(this.layersDir, 0o700);
  }

  /** A new empty directory inside the store for extracting one layer (a tmp- name: removed by cleanup()). */
  async stagingDir(): Promise<string> {
    const tmp = join(this.layersDir, `tmp-${randomBytes(8).toString('hex')}`);
    await fsp.mkdir(tmp, { mode: 0o755 });
    return tmp;
  }

  /** True when the layer with this diff_id is unpacked in the store. */
  hasLayer(diffId: string): boolean {
    const row = this.db.prepare('SELECT dir FROM layers WHERE diff_id = ?').get(diffId) as { dir: string } | undefined;
    return row !== undefined && existsSync(row.dir);
  }

  /**
   * Applies the whiteouts of a freshly extracted layer with the whiteoutApplier; returns
   * those left to record (all of them when there is no applier).
   */
  async applyWhiteouts(dir: string, whiteouts: Whiteout[]): Promise<Whiteout[]> {
    if (whiteouts.length === 0) return [];
    if (!this.whiteoutApplier) return whiteouts;
    await this.whiteoutApplier(dir, whiteouts);
    return [];
  }

  /**
   * Records an image of several layers in one synchronous step (see the module comment).
   * `configJson` is the config exactly as received: its sha256 is the image id. Layers
   * with a tmp dir are moved into place unless the store got them meanwhile (then their
   * tmp stays for the caller to delete). Returns the image id.
   */
  commitImage(
    layers: StagedLayer[], configJson: string,
    opts: { tag?: { repository: string; tag: string }; repoDigest?: { repository: string; digest: string }; blobSource?: { repository: string; digests: string[] } } = {},
  ): string {
    let config: OciImageConfig;
    try {
      config = JSON.parse(configJson) as OciImageConfig;
    } catch {
      throw new EngineError('INVALID_ARGUMENT', 'image config is not JSON');
    }
    const diffIds = config.rootfs?.diff_ids ?? [];
    if (layers.length > MAX_LAYERS) throw tooManyLayers('the image', layers.length);
    if (diffIds.length !== layers.length || diffIds.some((d, i) => d !== layers[i]!.diffId)) {
      throw new EngineError('INVALID_ARGUMENT', 'image config rootfs.diff_ids do not match the layers');
    }
    const moved: { tmp: string; dir: string }[] = [];
    const blobsMoved: { tmp: string; dir: string }[] = [];
    const sizes = new Map<string, { dir: string; size: number }>();
    // a layer's blob comes along with it, or joins a layer that has none yet
    // (the .json is written last, atomically: a layer has a blob once its .json exists)
    const keepBlob = (l: StagedLayer, dir: string) => {
      if (!l.tmp || !l.blob || existsSync(dir + '.blob.json') || !existsSync(l.tmp + '.blob')) return;
      renameSync(l.tmp + '.blob', dir + '.blob');
      blobsMoved.push({ tmp: l.tmp + '.blob', dir: dir + '.blob' });
      const info: LayerBlob = { ...l.blob, sources: [] };
      writeFileSync(l.tmp + '.blob.json', JSON.stringify(info) + '\n');
      renameSync(l.tmp + '.blob.json', dir + '.blob.json');
    };
    try {
      for (const l of layers) {
        if (sizes.has(l.diffId)) continue;
        const row = this.db.prepare('SELECT dir, size FROM layers WHERE diff_id = ?').get(l.diffId) as { dir: string; size: number } | undefined;
        if (row && existsSync(row.dir)) {
          sizes.set(l.diffId, row);
          keepBlob(l, row.dir);
          continue;
        }
        if (l.tmp === undefined) throw new EngineError('INTERNAL', `layer ${l.diffId} was removed from the store during the pull; pull again`);
        const dir = join(this.layersDir, l.diffId.slice('sha256:'.length));
        if (existsSync(dir)) this.discard(dir).catch(() => {});
        if (l.whiteouts && l.whiteouts.length > 0) writeFileSync(dir + '.whiteouts.json', JSON.stringify(l.whiteouts) + '\n');
        rmSync(dir + '.blob', { force: true });
        rmSync(dir + '.blob.json', { force: true });
        renameSync(l.tmp, dir);
        moved.push({ tmp: l.tmp, dir });
        keepBlob(l, dir);
        sizes.set(l.diffId, { dir, size: l.size ?? 0 });
      }
      const id = 'sha256:' + createHash('sha256').update(configJson).digest('hex');
      const created = Date.parse(config.created ?? '');
      this.db.transaction(() => {
        const upsert = this.db.prepare(
          'INSERT INTO layers (diff_id, dir, size, created) VALUES (?, ?, ?, ?) ON CONFLICT (diff_id) DO UPDATE SET dir = excluded.dir',
        );
        for (const [diffId, l] of sizes) upsert.run(diffId, l.dir, l.size, Date.now());
        const total = diffIds.reduce((sum, d) => sum + sizes.get(d)!.size, 0);
        const ins = this.db.prepare('INSERT OR IGNORE INTO images (id, config, size, created) VALUES (?, ?, ?, ?)')
          .run(id, configJson, total, Number.isNaN(created) ? Date.now() : created);
        if (ins.changes > 0) {
          const il = this.db.prepare('INSERT INTO image_layers (image_id, idx, diff_id) VALUES (?, ?, ?)');
          diffIds.forEach((d, i) => il.run(id, i, d));
        }
        if (opts.tag) {
          this.db.prepare(
            'INSERT INTO tags (repository, tag, image_id) VALUES (?, ?, ?) ON CONFLICT (repository, tag) DO UPDATE SET image_id = excluded.image_id',
          ).run(opts.tag.repository, opts.tag.tag, id);
        }
        if (opts.repoDigest) {
          this.db.prepare(
            'INSERT INTO repo_digests (repository, digest, image_id) VALUES (?, ?, ?) ON CONFLICT (repository, digest) DO UPDATE SET image_id = excluded.image_id',
          ).run(opts.repoDigest.repository, opts.repoDigest.digest, id);
        }
      })();
      if (opts.blobSource) for (const diffId of sizes.keys()) this.addBlobSource(diffId, opts.blobSource.repository, opts.blobSource.digests);
      return id;
    } catch (e) {
      for (const b of blobsMoved.reverse()) {
        renameSync(b.dir, b.tmp);
        rmSync(b.dir + '.json', { force: true });
      }
      for (const m of moved.reverse()) {
        renameSync(m.dir, m.tmp); // the caller removes tmp
        rmSync(m.dir + '.whiteouts.json', { force: true });
      }
      throw e;
    }
  }

  /** The kept blob of a layer (path and description), or undefined (unpacked by an older tdock). */
  layerBlob(diffId: string): { path: string; info: LayerBlob } | undefined {
    const row = this.db.prepare('SELECT dir FROM layers WHERE diff_id = ?').get(diffId) as { dir: string } | undefined;
    if (!row || !existsSync(row.dir + '.blob')) return undefined;
    try {
      const info = JSON.parse(readFileSync(row.dir + '.blob.json', 'utf8')) as LayerBlob;
      if (typeof info.digest !== 'string' || typeof info.size !== 'number' || typeof info.tarSize !== 'number') return undefined;
      return { path: row.dir + '.blob', info: { ...info, sources: Array.isArray(info.sources) ? info.sources : [] } };
    } catch {
      return undefined;
    }
  }

  /**
   * The kept blob of a layer as gzip: a plain-tar blob is compressed (deterministic: no
   * name, mtime 0, fixed level) into a staging file, checked to be the diff_id's tar, and
   * replaces the plain one (blob, then its description). Already compressed blobs as they are.
   */
  async gzipKeptBlob(diffId: string, signal?: AbortSignal): Promise<{ path: string; info: LayerBlob } | undefined> {
    // one compression per layer at a time: a second push of the same layer waits for the
    // first one's gzip instead of reading the plain blob while it is being replaced (and
    // compresses itself if that one failed or was cancelled)
    const running = this.gzipping.get(diffId);
    if (running) return running.then(() => this.layerBlob(diffId), () => this.gzipKeptBlob(diffId, signal));
    const p = this.gzipOnce(diffId, signal);
    this.gzipping.set(diffId, p);
    try {
      return await p;
    } finally {
      this.gzipping.delete(diffId);
    }
  }

  private readonly gzipping = new Map<string, Promise<unknown>>();

  private async gzipOnce(diffId: string, signal?: AbortSignal): Promise<{ path: string; info: LayerBlob } | undefined> {
    const b = this.layerBlob(diffId);
    if (!b || b.info.compression !== 'none') return b;
    const tmp = join(this.layersDir, `tmp-${randomBytes(8).toString('hex')}.gz`);
    try {
      const tarHash = createHash('sha256');
      const gzHash = createHash('sha256');
      let tarSize = 0;
      let size = 0;
      const fh = await fsp.open(tmp, 'wx', 0o600);
      try {
        await pipeline(
          createReadStream(b.path, { highWaterMark: 1 << 20 }),
          async function* (src: AsyncIterable<Buffer>) {
            for await (const c of src) {
              tarHash.update(c);
              tarSize += c.length;
              yield c;
            }
          },
          createGzip({ level: 6 }),
          async (src: AsyncIterable<Buffer>) => {
            for await (const c of src) {
              gzHash.update(c);
              size += c.length;
              await fh.write(c);
            }
          },
          ...(signal ? [{ signal }] : []),
        );
        await fh.sync();
      } finally {
        await fh.close();
      }
      if ('sha256:' + tarHash.digest('hex') !== diffId) throw new EngineError('INTERNAL', `layer ${diffId}: its kept archive does not match its diff_id; remove the image and import it again`);
      const info: LayerBlob = { digest: 'sha256:' + gzHash.digest('hex'), size, compression: 'gzip', tarSize, sources: [] };
      renameSync(tmp, b.path);
      const jtmp = `${b.path}.json.tmp-${randomBytes(4).toString('hex')}`;
      writeFileSync(jtmp, JSON.stringify(info) + '\n');
      renameSync(jtmp, b.path + '.json');
      return { path: b.path, info };
    } catch (e) {
      rmSync(tmp, { force: true });
      if (isNoSpace(e)) throw new EngineError('RESOURCE_EXHAUSTED', `disk full: no space left on device while compressing layer ${diffId} for the push`);
      throw e;
    }
  }

  /**
   * Remembers that registry repository `source` ("host/path") has the blob of this layer,
   * when the kept blob is one of `digests` (the same diff_id may be compressed otherwise there).
   */
  addBlobSource(diffId: string, source: string, digests: string[]): void {
    const b = this.layerBlob(diffId);
    if (!b || !digests.includes(b.info.digest) || b.info.sources.includes(source)) return;
    // the newest first; a bounded list (Docker keeps a few per digest as well)
    const info: LayerBlob = { ...b.info, sources: [source, ...b.info.sources].slice(0, 16) };
    const tmp = `${b.path}.json.tmp-${randomBytes(4).toString('hex')}`;
    writeFileSync(tmp, JSON.stringify(info) + '\n');
    renameSync(tmp, b.path + '.json');
  }

  /** Deletes a staging dir and its kept blob (whatever is left of them after a commit). */
  async dropStaging(tmp: string): Promise<void> {
    await fsp.rm(tmp, { recursive: true, force: true });
    await fsp.rm(tmp + '.blob', { force: true });
  }

  /** `RepoDigests` of an image: "repository@sha256:...". */
  repoDigests(imageId: string): string[] {
    return (this.db.prepare('SELECT repository, digest FROM repo_digests WHERE image_id = ? ORDER BY repository, digest').all(imageId) as { repository: string; digest: string }[])
      .map((r) => `${r.repository}@${r.digest}`);
  }

  /** Removes leftovers of interrupted imports/removals. Call once at start, before any import. */
  async cleanup(): Promise<string[]> {
    const removed: string[] = [];
    // A removal on a full disk deletes layers before rows (deleteFreeingFirst): a
    // crash in between leaves images whose layers are gone; they go too.
    for (const { diff_id: diffId, dir } of this.db.prepare('SELECT diff_id, dir FROM layers').all() as { diff_id: string; dir: string }[]) {
      if (existsSync(dir)) continue;
      const users = this.db.prepare('SELECT DISTINCT image_id FROM image_layers WHERE diff_id = ?').all(diffId) as { image_id: string }[];
      this.db.transaction(() => {
        for (const u of users) this.deleteImageRows(u.image_id);
        this.db.prepare('DELETE FROM layers WHERE diff_id = ?').run(diffId);
      })();
      removed.push(dir);
    }
    const known = new Set((this.db.prepare('SELECT dir FROM layers').all() as { dir: string }[]).map((r) => r.dir));
    for (const name of readdirSync(this.layersDir)) {
      const p = join(this.layersDir, name);
      const orphanLayer = HEX64.test(name) && !known.has(p);
      const orphanWhiteouts = name.endsWith('.whiteouts.json') && !known.has(p.slice(0, -'.whiteouts.json'.length));
      const blobOwner = /^([a-f0-9]{64})\.blob(\.json)?$/.exec(name);
      const orphanBlob = blobOwner !== null && !known.has(join(this.layersDir, blobOwner[1]!));
      if (name.startsWith('tmp-') || orphanLayer || orphanWhiteouts || orphanBlob) {
        await fsp.rm(p, { recursive: true, force: true });
        removed.push(p);
      }
    }
    return removed;
  }

  /**
   * Unpacks one layer tar into a staging dir, shifted into the store's id range. The one
   * way in for every layer (pull, import): what a layer may carry is decided here once.
   */
  async unpackLayer(source: Readable, dir: string, onProgress?: (bytes: number) => void): Promise<ExtractResult> {
    // The input as given is kept at `${dir}.blob` (see the module comment): written as it
    // streams through, so a layer is read once.
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(dir + '.blob', 'w', 0o600);
    } catch (e) {
      source.destroy();
      throw new EngineError(isNoSpace(e) ? 'RESOURCE_EXHAUSTED' : 'INTERNAL', `keeping the layer blob: ${(e as Error).message}`);
    }
    const file = fh;
    async function* tee(): AsyncGenerator<Buffer> {
      try {
        for await (const c of source) {
          const b: Buffer = Buffer.isBuffer(c) ? c : Buffer.from(c as Uint8Array);
          await file.write(b);
          yield b;
        }
      } finally {
        source.destroy();
      }
    }
    const tapped = Readable.from(tee(), { objectMode: false, highWaterMark: 1 << 20 });
    try {
      return await extractLayer(tapped, dir, { shift: this.shift, maxSize: this.maxLayerSize, ...(onProgress ? { onProgress } : {}) });
    } catch (e) {
      if (isNoSpace(e)) throw new EngineError('RESOURCE_EXHAUSTED', 'disk full: no space left on device while keeping the layer blob');
      throw e;
    } finally {
      await file.close().catch(() => {});
    }
  }

  /** Imports one layer tar (plain or gzip) as image `ref` (NAME[:TAG]; "" = untagged). */
  async importTar(source: Readable, ref: string, opts: ImportOptions = {}): Promise<ImageRecord> {
    let parsed;
    try {
      parsed = ref === '' ? undefined : parseRef(ref);
    } catch (e) {
      source.destroy();
      throw e;
    }
    if (parsed?.digest !== undefined) {
      source.destroy();
      throw new EngineError('INVALID_ARGUMENT', `cannot tag an import with a digest reference "${ref}"`);
    }
    let expected: string | undefined;
    try {
      expected = opts.sha256 !== undefined && opts.sha256 !== '' ? normalizeDigest(opts.sha256) : undefined;
    } catch (e) {
      source.destroy();
      throw e;
    }
    const created = opts.created === undefined ? new Date() : new Date(opts.created);
    if (Number.isNaN(created.getTime())) {
      source.destroy();
      throw new EngineError('INVALID_ARGUMENT', `invalid creation time "${String(opts.created)}"`);
    }

    const tmp = await this.stagingDir();
    try {
      const res = await this.unpackLayer(source, tmp, opts.onProgress);
      if (expected !== undefined && res.inputDigest !== expected) {
        throw new EngineError('INVALID_ARGUMENT', `import rejected: sha256 mismatch: expected ${expected}, got ${res.inputDigest}`);
      }
      const createdText = created.toISOString().replace(/\.000Z$/, 'Z');
      const config = buildConfig(opts.config ?? {}, [res.diffId], createdText, opts.architecture ?? ociArchitecture(), opts.os ?? 'linux');
      const doc = opts.history ? { ...config, history: [{ created: createdText, ...opts.history }] } : config;
      const left = this.hasLayer(res.diffId) ? [] : await this.applyWhiteouts(tmp, res.whiteouts);
      const tag = parsed ? { repository: parsed.repository, tag: parsed.tag ?? 'latest' } : undefined;
      const id = this.commitImage([{ diffId: res.diffId, tmp, size: res.size, whiteouts: left, blob: blobOf(res) }], JSON.stringify(doc), tag ? { tag } : {});
      const rec = this.record(id);
      if (!rec) throw new EngineError('INTERNAL', `image ${id} vanished right after import`);
      return rec;
    } finally {
      // present unless it was renamed into place
      await this.dropStaging(tmp);
    }
  }

  /** Renames a directory out of the way (atomically) and deletes it in the background of the caller. */
  private async discard(dir: string): Promise<void> {
    const gone = join(this.layersDir, `tmp-del-${randomBytes(8).toString('hex')}`);
    renameSync(dir, gone);
    rmSync(dir + '.whiteouts.json', { force: true });
    rmSync(dir + '.blob', { force: true });
    rmSync(dir + '.blob.json', { force: true });
    await fsp.rm(gone, { recursive: true, force: true });
  }

  private resolveId(ref: string): Resolved | undefined {
    const s = ref.trim();
    const idPrefix = (hex: string): Resolved | undefined => {
      const rows = this.db.prepare("SELECT id FROM images WHERE id LIKE 'sha256:' || ? || '%' LIMIT 2").all(hex) as { id: string }[];
      if (rows.length > 1) throw new EngineError('INVALID_ARGUMENT', `image id prefix "${ref}" is ambiguous; give more digits`);
      return rows[0] ? { id: rows[0].id } : undefined;
    };
    const m = /^sha256:([a-f0-9]{1,64})$/.exec(s);
    if (m) return idPrefix(m[1]!);
    if (HEX64.test(s)) return idPrefix(s);
    const p = parseRef(s);
    if (p.digest !== undefined) {
      // NAME@DIGEST: the manifest digest it was pulled by, else an image id
      const rd = this.db.prepare('SELECT image_id FROM repo_digests WHERE repository = ? AND digest = ?').get(p.repository, p.digest) as { image_id: string } | undefined;
      if (rd) return { id: rd.image_id };
      const r = this.db.prepare('SELECT id FROM images WHERE id = ?').get(p.digest) as { id: string } | undefined;
      return r ? { id: r.id } : undefined;
    }
    const tag = p.tag ?? 'latest';
    const r = this.db.prepare('SELECT image_id FROM tags WHERE repository = ? AND tag = ?').get(p.repository, tag) as { image_id: string } | undefined;
    if (r) return { id: r.image_id, tag: { repository: p.repository, tag } };
    if (/^[a-f0-9]+$/.test(s)) return idPrefix(s);
    return undefined;
  }

  /** The image that `ref` names (NAME[:TAG], NAME@DIGEST, full or prefix id), or undefined. */
  resolve(ref: string): ImageRecord | undefined {
    const r = this.resolveId(ref);
    return r ? this.record(r.id) : undefined;
  }

  /** The image with this exact id, or undefined. */
  record(id: string): ImageRecord | undefined {
    const row = this.db.prepare('SELECT id, config, size, created FROM images WHERE id = ?').get(id) as
      | { id: string; config: string; size: number; created: number }
      | undefined;
    if (!row) return undefined;
    const tags = this.db.prepare('SELECT repository, tag FROM tags WHERE image_id = ? ORDER BY repository, tag').all(id) as { repository: string; tag: string }[];
    const layers = (this.db.prepare('SELECT diff_id FROM image_layers WHERE image_id = ? ORDER BY idx').all(id) as { diff_id: string }[]).map((r) => r.diff_id);
    return {
      id: row.id,
      repoTags: tags.map((t) => `${t.repository}:${t.tag}`),
      created: row.created,
      size: row.size,
      layers,
      config: JSON.parse(row.config) as OciImageConfig,
    };
  }

  /** One row per tag, newest image first; untagged images as <none>:<none>. */
  list(): ImageSummary[] {
    // an untagged image pulled by digest shows its repository with tag <none>, as in Docker
    const rows = this.db.prepare(
      `SELECT i.id, i.created, i.size,
              COALESCE(t.repository, (SELECT MIN(d.repository) FROM repo_digests d WHERE d.image_id = i.id)) AS repository, t.tag
       FROM images i LEFT JOIN tags t ON t.image_id = i.id
       ORDER BY i.created DESC, i.id, t.repository, t.tag`,
    ).all() as { id: string; created: number; size: number; repository: string | null; tag: string | null }[];
    return rows.map((r) => ({ repository: r.repository ?? '<none>', tag: r.tag ?? '<none>', id: r.id, created: r.created, size: r.size }));
  }

  /** Every image's layers with their sizes (system df: what is shared, what is unique). */
  layerUse(): { imageId: string; diffId: string; size: number }[] {
    return this.db.prepare(
      'SELECT il.image_id AS imageId, il.diff_id AS diffId, l.size FROM image_layers il JOIN layers l ON l.diff_id = il.diff_id',
    ).all() as { imageId: string; diffId: string; size: number }[];
  }

  /** The unpacked layer directories, top-most first (overlay lowerdir order). */
  layerDirs(imageId: string): string[] {
    return (this.db.prepare(
      'SELECT l.dir FROM image_layers il JOIN layers l ON l.diff_id = il.diff_id WHERE il.image_id = ? ORDER BY il.idx DESC',
    ).all(imageId) as { dir: string }[]).map((r) => r.dir);
  }

  /** The OCI config document of an image, or undefined. */
  config(imageId: string): OciImageConfig | undefined {
    const row = this.db.prepare('SELECT config FROM images WHERE id = ?').get(imageId) as { config: string } | undefined;
    return row ? (JSON.parse(row.config) as OciImageConfig) : undefined;
  }

  /** `docker image inspect` for `ref`; NOT_FOUND when unknown. */
  inspect(ref: string): ImageInspect {
    const rec = this.resolve(ref);
    if (!rec) throw notFound(ref);
    return {
      Id: rec.id,
      RepoTags: rec.repoTags,
      RepoDigests: this.repoDigests(rec.id),
      Parent: '',
      Comment: '',
      Created: rec.config.created ?? '',
      Config: rec.config.config ?? {},
      Architecture: rec.config.architecture,
      Os: rec.config.os,
      Size: rec.size,
      GraphDriver: { Name: 'overlay', Data: { LowerDir: this.layerDirs(rec.id).join(':') } },
      RootFS: { Type: 'layers', Layers: rec.layers },
      Metadata: { LastTagTime: '0001-01-01T00:00:00Z' },
    };
  }

  /** Adds tag `ref` (NAME[:TAG]) to an existing image (moves it if it names another image). */
  tag(source: string, ref: string): void {
    const r = this.resolveId(source);
    if (!r) throw notFound(source);
    const p = parseRef(ref);
    if (p.digest !== undefined) throw new EngineError('INVALID_ARGUMENT', `cannot tag with a digest reference "${ref}"`);
    this.db.prepare(
      'INSERT INTO tags (repository, tag, image_id) VALUES (?, ?, ?) ON CONFLICT (repository, tag) DO UPDATE SET image_id = excluded.image_id',
    ).run(p.repository, p.tag ?? 'latest', r.id);
  }

  /** `docker rmi`: untags, and deletes the image (and its unshared layers) once no tag is left. */
  async remove(ref: string, opts: RemoveOptions = {}): Promise<RemoveResult> {
    const r = this.resolveId(ref);
    if (!r) throw notFound(ref);
    const force = opts.force ?? false;
    const inUse = (opts.inUse ?? NOT_IN_USE)(r.id);
    const tags = this.db.prepare('SELECT repository, tag FROM tags WHERE image_id = ? ORDER BY repository, tag').all(r.id) as { repository: string; tag: string }[];
    const untagged: string[] = [];
    const dirs: string[] = [];
    let deleted = false;
    if (r.tag && tags.length > 1) {
      this.db.prepare('DELETE FROM tags WHERE repository = ? AND tag = ?').run(r.tag.repository, r.tag.tag);
      return { untagged: [formatRef(r.tag)], deleted: [] };
    }
    if (!r.tag && tags.length > 1 && !force) {
      throw new EngineError('FAILED_PRECONDITION', `unable to delete ${r.id.slice(7, 19)} (must be forced): image is referenced in multiple repositories`);
    }
    if (inUse && !force) {
      throw new EngineError('FAILED_PRECONDITION', 'image is in use by a container; stop and remove it or use -f');
    }
    await this.deleteFreeingFirst(() => {
      // (run again after a failed try: start from nothing)
      untagged.length = 0;
      dirs.length = 0;
      for (const t of tags) {
        this.db.prepare('DELETE FROM tags WHERE repository = ? AND tag = ?').run(t.repository, t.tag);
        untagged.push(`${t.repository}:${t.tag}`);
      }
      if (inUse) return; // forced while a container uses it: keep the image (dangling)
      dirs.push(...this.deleteImageRows(r.id).map((l) => l.dir));
      deleted = true;
    }, inUse ? [] : [r.id]);
    await Promise.all(dirs.map((d) => this.discard(d)));
    return { untagged, deleted: deleted ? [r.id] : [] };
  }

  /** Deletes dangling images that no container uses; with `all`, every image no container uses. */
  async prune(opts: { inUse?: (imageId: string) => boolean; all?: boolean } = {}): Promise<{ deleted: string[]; reclaimed: number; untagged: Map<string, string[]> }> {
    const inUse = opts.inUse ?? NOT_IN_USE;
    const dangling = this.db.prepare(opts.all
      ? 'SELECT id FROM images ORDER BY created'
      : 'SELECT id FROM images WHERE id NOT IN (SELECT image_id FROM tags) AND id NOT IN (SELECT image_id FROM repo_digests) ORDER BY created',
    ).all() as { id: string }[];
    const deleted: string[] = [];
    const layers: { dir: string; size: number }[] = [];
    const doomed = dangling.map((d) => d.id).filter((id) => !inUse(id));
    // prune -a: the references each image loses, as Docker lists them before "deleted:"
    const untagged = new Map<string, string[]>();
    for (const id of doomed) {
      const tags = this.db.prepare('SELECT repository, tag FROM tags WHERE image_id = ? ORDER BY repository, tag').all(id) as { repository: string; tag: string }[];
      const refs = [...tags.map((t) => `${t.repository}:${t.tag}`), ...this.repoDigests(id)];
      if (refs.length) untagged.set(id, refs);
    }
    let freedFirst = 0;
    await this.deleteFreeingFirst(() => {
      layers.length = 0;
      deleted.length = 0;
      for (const id of doomed) {
        layers.push(...this.deleteImageRows(id));
        deleted.push(id);
      }
    }, doomed, (bytes) => (freedFirst = bytes));
    await Promise.all(layers.map((l) => this.discard(l.dir)));
    if (freedFirst) return { deleted, reclaimed: freedFirst, untagged };
    return { deleted, reclaimed: layers.reduce((sum, l) => sum + l.size, 0), untagged };
  }

  /**
   * Runs `tx` (row deletions) in a transaction. On a full disk even a deletion
   * needs room in the journal: then the layers of `images` that no other image
   * uses are deleted first, freeing their space, and the rows after (delete before
   * you write). A crash in between leaves rows without layers, which cleanup()
   * removes at the next start.
   */
  private async deleteFreeingFirst(tx: () => void, images: string[], freed: (bytes: number) => void = () => {}): Promise<void> {
    try {
      this.db.transaction(tx)();
      return;
    } catch (e) {
      if (!isNoSpace(e)) throw e;
    }
    const doomed = new Set(images);
    const layers = (this.db.prepare('SELECT l.diff_id, l.dir, l.size FROM layers l').all() as { diff_id: string; dir: string; size: number }[])
      .filter((l) => {
        const users = (this.db.prepare('SELECT DISTINCT image_id FROM image_layers WHERE diff_id = ?').all(l.diff_id) as { image_id: string }[]);
        return users.length > 0 && users.every((u) => doomed.has(u.image_id));
      });
    for (const l of layers) {
      await fsp.rm(l.dir, { recursive: true, force: true });
      await fsp.rm(l.dir + '.blob', { force: true });
    }
    freed(layers.reduce((sum, l) => sum + l.size, 0));
    this.db.transaction(tx)();
  }

  /** Deletes an image's rows and its layers' rows no other image uses; returns those layers. Call inside a transaction. */
  private deleteImageRows(id: string): { dir: string; size: number }[] {
    const layers = this.db.prepare('SELECT DISTINCT diff_id FROM image_layers WHERE image_id = ?').all(id) as { diff_id: string }[];
    this.db.prepare('DELETE FROM tags WHERE image_id = ?').run(id);
    this.db.prepare('DELETE FROM repo_digests WHERE image_id = ?').run(id);
    this.db.prepare('DELETE FROM image_layers WHERE image_id = ?').run(id);
    this.db.prepare('DELETE FROM images WHERE id = ?').run(id);
    const out: { dir: string; size: number }[] = [];
    for (const { diff_id } of layers) {
      const used = this.db.prepare('SELECT 1 FROM image_layers WHERE diff_id = ? LIMIT 1').get(diff_id);
      if (used) continue;
      const row = this.db.prepare('SELECT dir, size FROM layers WHERE diff_id = ?').get(diff_id) as { dir: string; size: number } | undefined;
      this.db.prepare('DELETE FROM layers WHERE diff_id = ?').run(diff_id);
      if (row && existsSync(row.dir)) out.push(row);
    }
    return out;
  }
}

