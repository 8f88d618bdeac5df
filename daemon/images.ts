// The daemon's view of images: the store plus the pull policy.
//
// `pull(ref)`: the embedded busybox and the catalog of rootfs tarballs first (short
// names only, see images/catalog.ts), else the registry the reference names (Docker's
// defaults: `alpine` = docker.io/library/alpine:latest). Concurrent pulls of the same
// reference share one download. `ensure(ref)` (run/create) pulls a missing image.
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { ImageStore } from '../images/store.ts';
import { applyChanges } from '../images/changes.ts';
import type { ImageRecord } from '../images/store.ts';
import { ensureBusybox } from '../images/busybox.ts';
import { parseRef } from '../images/reference.ts';
import { Puller } from '../images/pull.ts';
import type { Progress } from '../images/pull.ts';
import { CredentialStore } from '../images/registry/auth.ts';
import { RegistryClient } from '../images/registry/client.ts';
import { shimWhiteoutApplier } from '../images/whiteouts.ts';
import { EngineError, notFound } from './errors.ts';
import type { ImageSource } from './containers/types.ts';
import type { ImageConfigLike } from './containers/spec.ts';
import type { ImageSummary, PullProgress } from '../proto/api.ts';

export interface ImageServiceOptions {
  /** catalog of rootfs tarballs: a path or URL (daemon flag --catalog); default images/catalog.json */
  catalog?: string;
  /** the tdock-shim binary: applies whiteouts of pulled layers */
  shim?: string;
  /** registry credentials (tdock login); default <root>/auth.json, mode 0600 */
  credentialsFile?: string;
  /** registries spoken to over plain http besides loopback ones */
  insecureRegistries?: string[];
  /** for tests */
  dispatcher?: Dispatcher;
  /** refuses to make something new on a nearly full disk (daemon/store/space.ts) */
  checkRoom?: (what: string) => void;
  retryDelay?: number;
}

export interface PullCallOptions {
  platform?: string;
  signal?: AbortSignal;
}

function invalidRef(e: unknown): EngineError {
  return e instanceof EngineError ? e : new EngineError('INVALID_ARGUMENT', (e as Error).message);
}

/** "https://index.docker.io/v1/" / "registry-1.docker.io" -> "docker.io"; strips scheme and path. */
export function normalizeServer(server: string): string {
  let s = server.trim().replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '').toLowerCase();
  if (s === '' || s === 'index.docker.io' || s === 'registry-1.docker.io' || s === 'registry.hub.docker.com') s = 'docker.io';
  return s;
}

export class ImageService implements ImageSource {
  readonly store: ImageStore;
  readonly puller: Puller;
  readonly credentials: CredentialStore;
  private readonly inUse: (imageId: string) => boolean;
  private readonly opts: ImageServiceOptions;
  private busybox?: Promise<{ id: string }>;
  private readonly pulling = new Map<string, Promise<{ id: string }>>();

  constructor(store: ImageStore, inUse: (imageId: string) => boolean, opts: ImageServiceOptions = {}) {
    this.store = store;
    this.inUse = inUse;
    this.opts = opts;
    this.credentials = new CredentialStore(opts.credentialsFile ?? join(store.root, 'auth.json'));
    // The shim is built with the daemon, so it has the whiteouts verb: no probe for it.
    if (opts.shim && !store.whiteoutApplier) store.whiteoutApplier = shimWhiteoutApplier(opts.shim, store.shift);
    this.puller = new Puller(store, {
      credentials: this.credentials,
      ...(opts.catalog ? { catalog: opts.catalog } : {}),
      ...(opts.insecureRegistries ? { insecureRegistries: opts.insecureRegistries } : {}),
      ...(opts.dispatcher ? { dispatcher: opts.dispatcher } : {}),
      ...(opts.retryDelay !== undefined ? { retryDelay: opts.retryDelay } : {}),
    });
  }

  /**
   * Pulls `ref`: embedded busybox, catalog tarball, or registry image. Resolves with the
   * image id; progress events have the API's PullProgress shape.
   */
  async pull(ref: string, progress: (p: PullProgress) => void = () => {}, opts: PullCallOptions = {}): Promise<{ id: string }> {
    try {
      parseRef(ref);
    } catch (e) {
      throw invalidRef(e);
    }
    const key = `${ref}\0${opts.platform ?? ''}`;
    const running = this.pulling.get(key);
    if (running) {
      progress({ id: '', status: `Waiting for another pull of ${ref}`, current: 0, total: 0, imageId: '' });
      return running;
    }
    const p = this.doPull(ref, progress, opts).finally(() => this.pulling.delete(key));
    // a cancelled caller must not cancel the others that wait for the same pull: only share
    // pulls that nobody can cancel
    if (!opts.signal) this.pulling.set(key, p);
    return p;
  }

  private async doPull(ref: string, progress: (p: PullProgress) => void, opts: PullCallOptions): Promise<{ id: string }> {
    this.opts.checkRoom?.('pull an image');
    const emit = (p: Progress) => progress(p);
    const hit = await this.puller.catalogHit(ref, opts.platform, opts.signal);
    if (hit?.entry.embedded === 'busybox') {
      progress({ id: 'busybox', status: 'Building from the host\'s static busybox', current: 0, total: 0, imageId: '' });
      // Concurrent runs of a missing busybox build it once.
      const pending = (this.busybox ??= ensureBusybox(this.store).finally(() => {
        this.busybox = undefined;
      }));
      const img = await pending;
      if (hit.tag !== 'latest') this.store.tag(img.id, `busybox:${hit.tag}`);
      return { id: img.id };
    }
    if (hit?.entry.embedded) throw new EngineError('INTERNAL', `catalog entry ${hit.name}: unknown embedded image "${hit.entry.embedded}"`);
    const sig = opts.signal ? { signal: opts.signal } : {};
    if (hit) return { id: (await this.puller.pullCatalog(hit, { ...sig, onProgress: emit })).id };
    const r = await this.puller.pullRegistry(ref, { ...sig, onProgress: emit, ...(opts.platform ? { platform: opts.platform } : {}) });
    return { id: r.id };
  }

  async ensure(ref: string): Promise<{ id: string; config: ImageConfigLike }> {
    let img = this.resolve(ref);
    if (!img) {
      await this.pull(ref);
      img = this.resolve(ref);
      if (!img) throw notFound(`No such image: ${ref}`);
    }
    return { id: img.id, config: this.store.config(img.id)?.config ?? {} };
  }

  private resolve(ref: string): ImageRecord | undefined {
    try {
      return this.store.resolve(ref);
    } catch (e) {
      throw invalidRef(e);
    }
  }

  layerDirs(imageId: string): string[] {
    return this.store.layerDirs(imageId);
  }

  /** `tdock import [-c CHANGE] [-m MSG] FILE|- [NAME[:TAG]]`: the history says where it came from, as Docker's. */
  async importTar(body: Readable, name: string, opts: { sha256?: string | undefined; changes?: string[]; message?: string }) {
    let config;
    try {
      this.opts.checkRoom?.('import an image');
      config = opts.changes?.length ? applyChanges({}, opts.changes) : undefined;
    } catch (e) {
      body.destroy();
      throw e;
    }
    return this.store.importTar(body, name, {
      ...(opts.sha256 ? { sha256: opts.sha256 } : {}),
      ...(config ? { config } : {}),
      history: { created_by: '', comment: opts.message || 'Imported from -' },
    });
  }

  /** `tdock import URL NAME[:TAG]`: downloads (resuming where it can) straight into the unpacker. */
  async importUrl(url: string, name: string, opts: { sha256?: string | undefined; signal?: AbortSignal; changes?: string[]; message?: string } = {}, progress: (p: PullProgress) => void = () => {}) {
    this.opts.checkRoom?.('import an image');
    const config = opts.changes?.length ? applyChanges({}, opts.changes) : undefined;
    return this.puller.importUrl(url, name, {
      ...(config ? { config } : {}),
      history: { created_by: '', comment: opts.message || `Imported from ${url}` },
      ...(opts.sha256 ? { sha256: opts.sha256 } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
      onProgress: progress,
    });
  }

  list(): ImageSummary[] {
    return this.store.list().map((i) => ({ id: i.id, repository: i.repository, tag: i.tag, created: Math.floor(i.created / 1000), size: i.size }));
  }

  inspect(ref: string): unknown {
    const r = this.store.inspect(ref);
    if (!r) throw notFound(`No such image: ${ref}`);
    return r;
  }

  remove(ref: string, force: boolean) {
    return this.store.remove(ref, { force, inUse: this.inUse });
  }

  /** `tdock image prune`: dangling images no container uses. */
  prune() {
    return this.store.prune({ inUse: this.inUse });
  }

  /** `tdock login`: checks the credentials against the registry, then stores them (0600). */
  async login(server: string, username: string, password: string): Promise<{ server: string; status: string }> {
    const host = normalizeServer(server);
    if (username === '' || password === '') throw new EngineError('INVALID_ARGUMENT', 'login needs a username and a password');
    const client = new RegistryClient(host, {
      credential: { username, password },
      insecure: this.opts.insecureRegistries?.includes(host) ?? false,
      ...(this.opts.dispatcher ? { dispatcher: this.opts.dispatcher } : {}),
      ...(this.opts.retryDelay !== undefined ? { retryDelay: this.opts.retryDelay } : {}),
    });
    await client.login();
    this.credentials.set(host, { username, password });
    return { server: host, status: 'Login Succeeded' };
  }

  /** `tdock logout`: forgets the stored credentials of a registry. */
  logout(server: string): { server: string; status: string } {
    const host = normalizeServer(server);
    const had = this.credentials.delete(host);
    return { server: host, status: had ? `Removing login credentials for ${host}` : `Not logged in to ${host}` };
  }
}
