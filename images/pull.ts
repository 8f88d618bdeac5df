// Pulling images: from an OCI/Docker registry (multi-layer, verified), from a URL
// (`tdock import URL`), and from the catalog of rootfs tarballs.
//
// Registry pull, in order:
//   1. the manifest by tag or digest (an index: the manifest for the wanted platform);
//   2. the config blob (verified by digest and size): its rootfs.diff_ids name the layers;
//   3. every layer the store lacks (by diff_id) is streamed from the registry straight
//      into the extractor, into its own tmp dir inside the store (up to 3 at a time):
//      no copy on disk, none in memory. The compressed bytes are hashed on the way in and
//      must match the layer's digest and size; the uncompressed tar must match the
//      config's diff_id. Whiteouts are turned into overlayfs ones (store.applyWhiteouts).
//      Layers are independent directories (overlay lowerdirs), so their order only
//      matters in the image's layer list, never while unpacking;
//   4. one synchronous commit records layers, image, tag and repo digest.
// Any failure (including cancellation through the AbortSignal) stops the other layers,
// deletes every tmp dir of this pull and records nothing: unverified data is never used.
// A dropped connection is resumed with a Range request (images/download.ts).
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { EngineError } from '../lib/errors.ts';
import { expectedSha256, lookup, loadCatalog } from './catalog.ts';
import type { CatalogHit } from './catalog.ts';
import { DownloadError, NETWORK_FAILURE, openDownload } from './download.ts';
import { formatRef, parseRef, splitRepository } from './reference.ts';
import type { ImageRef } from './reference.ts';
import { CredentialStore } from './registry/auth.ts';
import { RegistryClient } from './registry/client.ts';
import { formatPlatform, layerCompression, normalize, offered, parsePlatform, selectPlatform } from './registry/manifest.ts';
import type { Descriptor, ImageManifest, Platform } from './registry/manifest.ts';
import { blobOf, MAX_LAYERS, ociArchitecture, tooManyLayers } from './store.ts';
import type { ImageConfig, ImageRecord, ImageStore, StagedLayer } from './store.ts';

/** Same shape as the API's PullProgress. */
export interface Progress {
  /** layer (short digest) or step; "" for the image */
  id: string;
  status: string;
  current: number;
  total: number;
  imageId: string;
}

export interface PullerOptions {
  credentials?: CredentialStore;
  /** registries spoken to over plain http (loopback ones always are) */
  insecureRegistries?: string[];
  /** catalog location (path or URL); default: images/catalog.json */
  catalog?: string;
  dispatcher?: Dispatcher;
  retries?: number;
  retryDelay?: number;
  headersTimeout?: number;
  bodyTimeout?: number;
  /** layers downloaded at once (default 3) */
  concurrency?: number;
}

export interface PullOptions {
  /** "linux/amd64" (default: linux/<host architecture>) */
  platform?: string;
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
}

export interface PullResult {
  id: string;
  /** "registry" | "catalog" | "embedded" */
  source: string;
  /** the manifest (or index) digest for registry pulls */
  digest?: string;
  /** the name:tag recorded */
  ref: string;
}

export interface ImportUrlOptions {
  sha256?: string;
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
  config?: Partial<ImageConfig>;
  created?: Date | string | number;
  /** import -m (ImportOptions.history) */
  history?: { created_by?: string; comment?: string };
}

const PROGRESS_INTERVAL_MS = 100;

function short(digest: string): string {
  return digest.replace(/^sha256:/, '').slice(0, 12);
}

/** A progress callback that reports at most every 100 ms per id (and always the final value). */
function throttled(emit: (p: Progress) => void, id: string, status: string, total: number): (bytes: number, final?: boolean) => void {
  let last = 0;
  return (bytes, final = false) => {
    const now = Date.now();
    if (!final && now - last < PROGRESS_INTERVAL_MS) return;
    last = now;
    emit({ id, status, current: bytes, total, imageId: '' });
  };
}

/** Re-raises stream errors of a download as EngineErrors naming the cause. */
function guarded(src: Readable, what: string): Readable {
  async function* gen(): AsyncGenerator<Buffer> {
    try {
      for await (const c of src) yield c as Buffer;
    } catch (e) {
      if (e instanceof EngineError) throw e;
      if (e instanceof DownloadError) {
        if (e.kind === 'aborted') throw new EngineError(NETWORK_FAILURE, 'pull cancelled');
        throw new EngineError(NETWORK_FAILURE, `${what}: ${e.message}`);
      }
      throw new EngineError(NETWORK_FAILURE, `${what}: ${(e as Error).message}`);
    } finally {
      src.destroy();
    }
  }
  return Readable.from(gen(), { objectMode: false, highWaterMark: 1 << 20 });
}

function downloadFailure(e: unknown, url: string): EngineError {
  if (e instanceof EngineError) return e;
  if (e instanceof DownloadError) {
    if (e.kind === 'aborted') return new EngineError(NETWORK_FAILURE, 'download cancelled');
    if (e.kind === 'status') {
      if (e.status === 404 || e.status === 410) return new EngineError('NOT_FOUND', `${url}: not found on the server (${e.status})`);
      if (e.status === 401 || e.status === 403) return new EngineError('FAILED_PRECONDITION', `unauthorized: ${url} answered ${e.status}`);
    }
    return new EngineError(NETWORK_FAILURE, e.message);
  }
  return new EngineError('INTERNAL', `${url}: ${(e as Error).message}`);
}

/**
 * The key of a registry's stored credentials: host names are case-insensitive and
 * `tdock login` stores them lowercased, so "Registry.Example.com:5000" finds
 * "registry.example.com:5000" (the port is kept).
 */
export function credentialHost(domain: string): string {
  return domain.toLowerCase();
}

/** A ref as typed names a registry explicitly (then the catalog is skipped). */
function explicitDomain(raw: string): boolean {
  const first = raw.split('/')[0]!;
  return raw.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
}

export class Puller {
  readonly store: ImageStore;
  readonly opts: PullerOptions;

  constructor(store: ImageStore, opts: PullerOptions = {}) {
    this.store = store;
    this.opts = opts;
  }

  private dlOpts(signal?: AbortSignal) {
    const o = this.opts;
    return {
      ...(o.dispatcher ? { dispatcher: o.dispatcher } : {}),
      ...(signal ? { signal } : {}),
      ...(o.retries !== undefined ? { retries: o.retries } : {}),
      ...(o.retryDelay !== undefined ? { retryDelay: o.retryDelay } : {}),
      ...(o.headersTimeout !== undefined ? { headersTimeout: o.headersTimeout } : {}),
      ...(o.bodyTimeout !== undefined ? { bodyTimeout: o.bodyTimeout } : {}),
    };
  }

  /**
   * The catalog entry for `raw` (as typed), or undefined when the catalog does not know the
   * name (or the ref names a registry or a digest). Throws "no such tag" for a known name.
   */
  async catalogHit(raw: string, platform?: string, signal?: AbortSignal): Promise<CatalogHit | undefined> {
    const ref = parseRef(raw);
    if (ref.digest !== undefined || explicitDomain(raw) || ref.repository.includes('/')) return undefined;
    const cat = await loadCatalog(this.opts.catalog, this.dlOpts(signal));
    const p = platform ? parsePlatform(platform) : { os: 'linux', architecture: ociArchitecture() };
    if (p.os !== 'linux') throw new EngineError('NOT_FOUND', `no matching platform: the catalog has linux images only, not ${formatPlatform(p)}`);
    return lookup(cat, ref.repository, ref.tag ?? 'latest', p.architecture);
  }

  /** Pulls a catalog tarball (not embedded ones: the caller builds those). */
  async pullCatalog(hit: CatalogHit, opts: PullOptions = {}): Promise<PullResult> {
    const p = hit.platform;
    if (!p) throw new EngineError('INTERNAL', `catalog entry ${hit.name}:${hit.resolvedTag} has nothing to download`);
    const emit = opts.onProgress ?? (() => {});
    emit({ id: '', status: `Pulling ${hit.name}:${hit.resolvedTag} from ${p.url}`, current: 0, total: 0, imageId: '' });
    const sha = await expectedSha256(p, this.dlOpts(opts.signal));
    const ref = `${hit.name}:${hit.resolvedTag}`;
    const label = 'org.tdock.catalog.sha256';
    const have = this.store.resolve(ref);
    if (have && have.config.config?.Labels?.[label] === sha) {
      emit({ id: '', status: `Image is up to date for ${ref}`, current: 0, total: 0, imageId: have.id });
      if (hit.tag !== hit.resolvedTag) this.store.tag(have.id, `${hit.name}:${hit.tag}`);
      return { id: have.id, source: 'catalog', ref: `${hit.name}:${hit.tag}` };
    }
    const config: Partial<ImageConfig> = { ...hit.entry.config, Labels: { ...hit.entry.config?.Labels, [label]: sha } };
    const rec = await this.importUrl(p.url, ref, {
      sha256: sha,
      config,
      ...(hit.entry.created ? { created: hit.entry.created } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
      onProgress: emit,
    });
    if (hit.tag !== hit.resolvedTag) this.store.tag(rec.id, `${hit.name}:${hit.tag}`);
    return { id: rec.id, source: 'catalog', ref: `${hit.name}:${hit.tag}` };
  }

  /** `tdock import URL NAME[:TAG]`: streams the download into the unpacker; verifies sha256 when given. */
  async importUrl(url: string, ref: string, opts: ImportUrlOptions = {}): Promise<ImageRecord> {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new EngineError('INVALID_ARGUMENT', `invalid URL "${url}"`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new EngineError('INVALID_ARGUMENT', `unsupported URL scheme ${parsed.protocol} (http and https only)`);
    if (ref !== '') parseRef(ref); // a bad name fails before any download ("" = untagged)
    const emit = opts.onProgress ?? (() => {});
    const id = parsed.pathname.split('/').pop() || parsed.host;
    let d;
    try {
      d = await openDownload(url, this.dlOpts(opts.signal));
    } catch (e) {
      throw downloadFailure(e, url);
    }
    const report = throttled(emit, id, 'Downloading', d.size ?? 0);
    let last = 0;
    // a Last-Modified time makes the image id reproducible for the same file
    const lm = Date.parse(String(d.headers['last-modified'] ?? ''));
    const created = opts.created ?? (Number.isNaN(lm) ? undefined : lm);
    const rec = await this.store.importTar(guarded(d.stream, url), ref, {
      ...(opts.sha256 ? { sha256: opts.sha256 } : {}),
      ...(opts.config ? { config: opts.config } : {}),
      ...(created !== undefined ? { created } : {}),
      ...(opts.history ? { history: opts.history } : {}),
      onProgress: (n) => {
        last = n;
        report(n);
      },
    }).catch((e: unknown) => {
      if (e instanceof EngineError && /sha256 mismatch/.test(e.message)) {
        throw new EngineError('INVALID_ARGUMENT', `digest mismatch: ${url}: ${e.message.replace(/^import rejected: sha256 mismatch: /, '')}`);
      }
      throw e;
    });
    report(last, true);
    emit({ id, status: 'Pull complete', current: last, total: d.size ?? last, imageId: '' });
    return rec;
  }

  /** Pulls `raw` (a registry reference) into the store. */
  async pullRegistry(raw: string, opts: PullOptions = {}): Promise<PullResult> {
    const ref: ImageRef = parseRef(raw);
    const { domain, path } = splitRepository(ref.repository);
    const emit = opts.onProgress ?? (() => {});
    const explicit = opts.platform !== undefined && opts.platform !== '';
    const want: Platform = explicit ? parsePlatform(opts.platform!) : { os: 'linux', architecture: ociArchitecture() };
    const credential = this.opts.credentials?.get(credentialHost(domain));
    const client = new RegistryClient(domain, {
      ...this.dlOpts(opts.signal),
      insecure: this.opts.insecureRegistries?.includes(domain) ?? false,
      ...(credential ? { credential } : {}),
    });
    const reference = ref.digest ?? ref.tag ?? 'latest';
    emit({ id: '', status: `${ref.digest ? ref.digest : reference}: Pulling from ${domain}/${path}`, current: 0, total: 0, imageId: '' });
    const top = await client.manifest(path, reference);
    let manifest: ImageManifest;
    if (top.doc.kind === 'index') {
      const d = selectPlatform(top.doc, want);
      if (!d) {
        const have = offered(top.doc);
        throw new EngineError('NOT_FOUND', `no matching platform: ${formatRef(ref)} has no image for ${formatPlatform(normalize(want))} (it has ${have.join(', ') || 'none'}); choose one with --platform`);
      }
      const m = await client.manifest(path, d.digest);
      if (m.doc.kind !== 'manifest') throw new EngineError('INVALID_ARGUMENT', `index ${top.digest} of ${ref.repository} points to another index; nested indexes are not supported`);
      manifest = m.doc;
    } else {
      manifest = top.doc;
    }
    // Before anything is downloaded: such an image could never run.
    if (manifest.layers.length > MAX_LAYERS) throw tooManyLayers(formatRef(ref), manifest.layers.length);
    for (const [i, l] of manifest.layers.entries()) layerCompression(l, `layer ${i} of ${ref.repository}`);

    const configData = await client.blobBytes(path, manifest.config);
    const configJson = configData.toString('utf8');
    let config: { architecture?: string; os?: string; variant?: string; rootfs?: { type?: string; diff_ids?: unknown } };
    try {
      config = JSON.parse(configJson) as typeof config;
    } catch {
      throw new EngineError('INVALID_ARGUMENT', `image config ${manifest.config.digest} of ${ref.repository} is not JSON`);
    }
    const diffIds = config.rootfs?.diff_ids;
    if (!Array.isArray(diffIds) || diffIds.length !== manifest.layers.length || diffIds.some((d) => typeof d !== 'string' || !/^sha256:[a-f0-9]{64}$/.test(d))) {
      throw new EngineError('INVALID_ARGUMENT', `image config of ${ref.repository} does not list one sha256 diff_id per layer (${manifest.layers.length} layers)`);
    }
    if (explicit && top.doc.kind === 'manifest' && config.architecture && config.os) {
      const got = normalize({ os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) });
      const w = normalize(want);
      if (got.os !== w.os || got.architecture !== w.architecture) {
        throw new EngineError('NOT_FOUND', `no matching platform: ${formatRef(ref)} is ${formatPlatform(got)}, not ${formatPlatform(w)}`);
      }
    }

    // 3. layers (the abort controller stops the others when one fails)
    const ac = new AbortController();
    const onAbort = () => ac.abort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const layerClient = new RegistryClient(domain, {
      ...this.dlOpts(ac.signal),
      insecure: this.opts.insecureRegistries?.includes(domain) ?? false,
      ...(credential ? { credential } : {}),
    });
    const staged: StagedLayer[] = manifest.layers.map((_, i) => ({ diffId: diffIds[i] as string }));
    const tmps: string[] = [];
    let firstError: unknown;
    try {
      const todo: number[] = [];
      const seen = new Set<string>();
      for (const [i, l] of manifest.layers.entries()) {
        const diffId = diffIds[i] as string;
        if (this.store.hasLayer(diffId)) {
          emit({ id: short(l.digest), status: 'Already exists', current: 0, total: 0, imageId: '' });
        } else if (!seen.has(diffId)) {
          seen.add(diffId);
          todo.push(i);
          emit({ id: short(l.digest), status: 'Pulling fs layer', current: 0, total: l.size, imageId: '' });
        }
      }
      let next = 0;
      const worker = async () => {
        while (next < todo.length && !ac.signal.aborted) {
          const i = todo[next++]!;
          const l = manifest.layers[i]!;
          const tmp = await this.store.stagingDir();
          tmps.push(tmp);
          try {
            const r = await this.fetchLayer(layerClient, path, l, diffIds[i] as string, tmp, emit);
            staged[i] = { diffId: diffIds[i] as string, tmp, size: r.size, whiteouts: r.whiteouts, blob: r.blob };
          } catch (e) {
            firstError ??= e;
            ac.abort();
            throw e;
          }
        }
      };
      const n = Math.max(1, Math.min(this.opts.concurrency ?? 3, todo.length));
      await Promise.allSettled(Array.from({ length: n }, worker));
      if (firstError !== undefined) throw firstError;
      if (opts.signal?.aborted) throw new EngineError(NETWORK_FAILURE, 'pull cancelled');
      // duplicated diff_ids in one image share the staged dir
      for (const [i, s] of staged.entries()) {
        if (s.tmp === undefined) {
          const j = staged.findIndex((o) => o.diffId === s.diffId && o.tmp !== undefined);
          if (j >= 0 && j !== i) staged[i] = { diffId: s.diffId };
        }
      }
      const tag = ref.digest === undefined ? { repository: ref.repository, tag: ref.tag ?? 'latest' } : undefined;
      const id = this.store.commitImage(staged, configJson, {
        ...(tag ? { tag } : {}),
        repoDigest: { repository: ref.repository, digest: top.digest },
        blobSource: { repository: `${domain}/${path}`, digests: manifest.layers.map((l) => l.digest) },
      });
      emit({ id: '', status: `Digest: ${top.digest}`, current: 0, total: 0, imageId: '' });
      emit({ id: '', status: `Status: Downloaded ${formatRef(ref)}`, current: 0, total: 0, imageId: id });
      return { id, source: 'registry', digest: top.digest, ref: formatRef(ref) };
    } catch (e) {
      if (opts.signal?.aborted && !(e instanceof EngineError && e.code !== NETWORK_FAILURE)) throw new EngineError(NETWORK_FAILURE, 'pull cancelled');
      throw e;
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
      // present unless moved into place by the commit
      await Promise.all(tmps.map((t) => this.store.dropStaging(t)));
    }
  }

  /** Streams one layer blob into `tmp` and verifies digest, size and diff_id. */
  private async fetchLayer(
    client: RegistryClient, path: string, l: Descriptor, diffId: string, tmp: string, emit: (p: Progress) => void,
  ): Promise<{ size: number; whiteouts: import('./tar-extract.ts').Whiteout[]; blob: NonNullable<StagedLayer['blob']> }> {
    const id = short(l.digest);
    const { stream } = await client.blob(path, l);
    const report = throttled(emit, id, 'Downloading', l.size);
    const res = await this.store.unpackLayer(guarded(stream, `layer ${l.digest}`), tmp, (n) => report(n)).catch((e: unknown) => {
      if (e instanceof EngineError && e.message.startsWith('layer rejected')) {
        throw new EngineError(e.code, `${e.message} (layer ${l.digest})`);
      }
      throw e;
    });
    report(res.inputSize, true);
    if (res.inputDigest !== l.digest || res.inputSize !== l.size) {
      throw new EngineError('INVALID_ARGUMENT', `digest mismatch: layer ${l.digest} (${l.size} bytes) arrived as ${res.inputDigest} (${res.inputSize} bytes); nothing was recorded`);
    }
    if (res.diffId !== diffId) {
      throw new EngineError('INVALID_ARGUMENT', `digest mismatch: layer ${l.digest} unpacks to ${res.diffId}, but the image config says ${diffId}`);
    }
    emit({ id, status: 'Verifying Checksum', current: l.size, total: l.size, imageId: '' });
    const left = await this.store.applyWhiteouts(tmp, res.whiteouts);
    emit({ id, status: 'Pull complete', current: l.size, total: l.size, imageId: '' });
    return { size: res.size, whiteouts: left, blob: blobOf(res) };
  }
}
