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
import { formatRef, parseRef } from '../images/reference.ts';
import { Puller } from '../images/pull.ts';
import type { Progress } from '../images/pull.ts';
import { CredentialStore } from '../images/registry/auth.ts';
import { RegistryClient } from '../images/registry/client.ts';
import { shimWhiteoutApplier } from '../images/whiteouts.ts';
import { nameOnly, resolveForSave, saveArchive } from '../images/save.ts';
import { loadArchive } from '../images/load.ts';
import { ImagePusher } from '../images/push.ts';
import type { PushedTag } from '../images/push.ts';
import { splitRepository } from '../images/reference.ts';
import type { LoadedImage } from '../images/load.ts';
import { EngineError, notFound } from './errors.ts';
import type { ImageSource } from './containers/types.ts';
import { NO_EVENTS, type EventSink } from './events/types.ts';
import type { ImageConfigLike } from './containers/spec.ts';
import type { ImageSummary, PullProgress } from '../proto/api.ts';

export interface ImageServiceOptions {
  /** catalog of rootfs tarballs: a path or URL (daemon flag --catalog); default images/catalog.json */
  catalog?: string;
  /** the tdock-shim binary: applies whiteouts of pulled layers */
  shim?: string;
  /** rootless: overlays are mounted with userxattr, so opaque dirs get user.overlay.opaque */
  userxattr?: boolean;
  /** registry credentials (tdock login); default <root>/auth.json, mode 0600 */
  credentialsFile?: string;
  /** registries spoken to over plain http besides loopback ones */
  insecureRegistries?: string[];
  /** for tests */
  dispatcher?: Dispatcher;
  /** refuses to make something new on a nearly full disk (daemon/store/space.ts) */
  checkRoom?: (what: string) => void;
  retryDelay?: number;
  /** push: blobs up to this size in one PUT, larger ones in PATCH chunks of it (for tests) */
  pushChunkSize?: number;
  /** Where image events go (pull, import, tag, untag, delete); default: nowhere. */
  events?: EventSink;
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

/** "docker.io/library/busybox" -> "busybox:latest"; what cannot be parsed stays as given. */
export function familiarRef(ref: string): string {
  try {
    const r = parseRef(ref);
    return formatRef(r.digest !== undefined ? r : { ...r, tag: r.tag ?? 'latest' });
  } catch {
    return ref;
  }
}

export class ImageService implements ImageSource {
  readonly store: ImageStore;
  readonly puller: Puller;
  readonly pusher: ImagePusher;
  readonly credentials: CredentialStore;
  private readonly inUse: (imageId: string) => boolean;
  private readonly opts: ImageServiceOptions;
  private busybox?: Promise<{ id: string }>;
  private readonly pulling = new Map<string, Promise<{ id: string }>>();
  private readonly events: EventSink;

  constructor(store: ImageStore, inUse: (imageId: string) => boolean, opts: ImageServiceOptions = {}) {
    this.store = store;
    this.inUse = inUse;
    this.opts = opts;
    this.events = opts.events ?? NO_EVENTS;
    this.credentials = new CredentialStore(opts.credentialsFile ?? join(store.root, 'auth.json'));
    // The shim is built with the daemon, so it has the whiteouts verb: no probe for it.
    if (opts.shim && !store.whiteoutApplier) store.whiteoutApplier = shimWhiteoutApplier(opts.shim, store.shift, opts.userxattr);
    this.puller = new Puller(store, {
      credentials: this.credentials,
      ...(opts.catalog ? { catalog: opts.catalog } : {}),
      ...(opts.insecureRegistries ? { insecureRegistries: opts.insecureRegistries } : {}),
      ...(opts.dispatcher ? { dispatcher: opts.dispatcher } : {}),
      ...(opts.retryDelay !== undefined ? { retryDelay: opts.retryDelay } : {}),
    });
    this.pusher = new ImagePusher(store, {
      credentials: this.credentials,
      ...(opts.insecureRegistries ? { insecureRegistries: opts.insecureRegistries } : {}),
      ...(opts.dispatcher ? { dispatcher: opts.dispatcher } : {}),
      ...(opts.pushChunkSize !== undefined ? { chunkSize: opts.pushChunkSize } : {}),
    });
  }

  /** `tdock push NAME[:TAG]` (every tag with allTags). */
  async push(ref: string, progress: (p: PullProgress) => void = () => {}, opts: { allTags?: boolean; signal?: AbortSignal } = {}): Promise<PushedTag[]> {
    try {
      parseRef(ref);
    } catch (e) {
      throw invalidRef(e);
    }
    return this.pusher.push(ref, { onProgress: progress, ...(opts.allTags ? { allTags: true } : {}), ...(opts.signal ? { signal: opts.signal } : {}) });
  }

  /**
   * `tdock pull -a NAME`: every tag the registry lists for the repository, one after the
   * other (as Docker does). Resolves with the id of the last one.
   */
  async pullAllTags(ref: string, progress: (p: PullProgress) => void = () => {}, opts: PullCallOptions = {}): Promise<{ id: string }> {
    let p;
    try {
      p = parseRef(ref);
    } catch (e) {
      throw invalidRef(e);
    }
    if (!nameOnly(ref)) throw new EngineError('INVALID_ARGUMENT', 'tag can\'t be used with --all-tags/-a');
    const { domain, path } = splitRepository(p.repository);
    const credential = this.credentials.get(domain.toLowerCase());
    const client = new RegistryClient(domain, {
      insecure: this.opts.insecureRegistries?.includes(domain) ?? false,
      ...(credential ? { credential } : {}),
      ...(this.opts.dispatcher ? { dispatcher: this.opts.dispatcher } : {}),
      ...(this.opts.retryDelay !== undefined ? { retryDelay: this.opts.retryDelay } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    const tags = (await client.tags(path)).sort();
    if (tags.length === 0) throw new EngineError('NOT_FOUND', `no tags found in ${domain}/${path}`);
    let last = { id: '' };
    for (const t of tags) last = await this.pull(`${p.repository}:${t}`, progress, opts);
    return last;
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
    const p = this.doPull(ref, progress, opts)
      .then((img) => {
        // Docker's: the reference as pulled, in its familiar form ("busybox:latest").
        const name = familiarRef(ref);
        this.events.emit('image', 'pull', name, { name });
        return img;
      })
      .finally(() => this.pulling.delete(key));
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
    const img = await this.store.importTar(body, name, {
      ...(opts.sha256 ? { sha256: opts.sha256 } : {}),
      ...(config ? { config } : {}),
      history: { created_by: '', comment: opts.message || 'Imported from -' },
    });
    this.imported(img.id, name);
    return img;
  }

  /** Docker's events of an import: import (the id), then tag (the name given). */
  private imported(id: string, name: string): void {
    this.events.emit('image', 'import', id, { name: id });
    if (name) this.events.emit('image', 'tag', id, { name: familiarRef(name) });
  }

  /** `tdock tag`: adds a tag (its `tag` event names the new reference). */
  tag(source: string, ref: string): void {
    const id = this.resolve(source)?.id;
    if (!id) throw notFound(`No such image: ${source}`);
    this.store.tag(id, ref);
    this.events.emit('image', 'tag', id, { name: familiarRef(ref) });
  }

  /** `tdock import URL NAME[:TAG]`: downloads (resuming where it can) straight into the unpacker. */
  async importUrl(url: string, name: string, opts: { sha256?: string | undefined; signal?: AbortSignal; changes?: string[]; message?: string } = {}, progress: (p: PullProgress) => void = () => {}) {
    this.opts.checkRoom?.('import an image');
    const config = opts.changes?.length ? applyChanges({}, opts.changes) : undefined;
    const img = await this.puller.importUrl(url, name, {
      ...(config ? { config } : {}),
      history: { created_by: '', comment: opts.message || `Imported from ${url}` },
      ...(opts.sha256 ? { sha256: opts.sha256 } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
      onProgress: progress,
    });
    this.imported(img.id, name);
    return img;
  }

  /**
   * `tdock save`: the archive as chunks. Names are resolved and every layer's blob found
   * before this returns, so a refusal comes before any byte.
   */
  save(refs: string[]): AsyncGenerator<Buffer> {
    return saveArchive(this.store, resolveForSave(this.store, refs));
  }

  /** `tdock load`: a docker-archive or OCI layout tar; nothing is recorded unless all of it verifies. */
  async load(body: Readable, progress: (p: PullProgress) => void = () => {}): Promise<LoadedImage[]> {
    this.opts.checkRoom?.('load an image');
    return loadArchive(this.store, body, progress);
  }

  list(): ImageSummary[] {
    const labels = new Map<string, string[]>();
    const labelsOf = (id: string) => {
      let l = labels.get(id);
      if (!l) {
        const m = this.store.config(id)?.config?.Labels ?? {};
        labels.set(id, (l = Object.keys(m).sort().map((k) => `${k}=${m[k]}`)));
      }
      return l;
    };
    return this.store.list().map((i) => ({
      id: i.id, repository: i.repository, tag: i.tag, created: Math.floor(i.created / 1000), size: i.size,
      // Docker's DIGEST column: this repository's digest of the image
      digest: this.store.repoDigests(i.id).find((d) => d.startsWith(`${i.repository}@`))?.slice(i.repository.length + 1) ?? '',
      labels: labelsOf(i.id),
    }));
  }

  inspect(ref: string): unknown {
    const r = this.store.inspect(ref);
    if (!r) throw notFound(`No such image: ${ref}`);
    return r;
  }

  async remove(ref: string, force: boolean) {
    const id = this.resolve(ref)?.id;
    const r = await this.store.remove(ref, { force, inUse: this.inUse });
    // Docker's: untag and delete name the image by its id.
    if (id) for (const _ of r.untagged) this.events.emit('image', 'untag', id, { name: id });
    for (const d of r.deleted) this.events.emit('image', 'delete', d, { name: d });
    return r;
  }

  /** `tdock image prune`: dangling images no container uses (`-a`: all images no container uses). */
  async prune(all = false) {
    const r = await this.store.prune({ inUse: this.inUse, all });
    // Docker's order per image: untag (one per reference, named by the id as rmi's), then delete.
    for (const d of r.deleted) {
      for (const _ of r.untagged.get(d) ?? []) this.events.emit('image', 'untag', d, { name: d });
      this.events.emit('image', 'delete', d, { name: d });
    }
    return r;
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
