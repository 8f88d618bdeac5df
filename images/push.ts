// `tdock push`: an image of the store to an OCI/Docker registry (distribution spec).
//
// For each layer, bottom first, the blob the layer kept when it came in (images/store.ts)
// is what goes up, byte for byte: a pulled layer keeps the registry's digest (so pushing
// it back finds it there), and the config goes up exactly as stored, so its digest, the
// image id, is the same wherever the image is pulled again. Per blob:
//   1. HEAD /v2/<repo>/blobs/<digest>: present -> "Layer already exists";
//   2. else, when the blob is known to be in another repository of the same registry
//      (the layer's `sources`: where it was pulled from or pushed to), a cross-repository
//      mount, POST .../blobs/uploads/?mount=<digest>&from=<other> -> 201 "Mounted from
//      <other>" (a 202 answer is an ordinary upload session: the registry declined);
//   3. else an upload: POST .../blobs/uploads/ for a session, then the bytes either in
//      one PUT ?digest= (blobs up to `chunkSize`: monolithic) or in PATCH requests of
//      `chunkSize` bytes with Content-Range, closed by an empty PUT ?digest= (chunked).
//      The registry checks the digest; its Docker-Content-Digest must agree.
// A layer kept as a plain tar (import, load, commit) is gzipped first, once, as Docker
// pushes gzip (images/store.ts gzipKeptBlob).
// Then the manifest (OCI image manifest; layer media types from each blob's compression)
// is PUT by tag; its digest is recorded as a RepoDigest of the image, as Docker does.
// Tokens are asked for `repository:<repo>:pull,push` (plus `repository:<other>:pull` for
// a mount) with the credentials of `tdock login`.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Transform } from 'node:stream';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { EngineError } from '../lib/errors.ts';
import { NETWORK_FAILURE } from './download.ts';
import { credentialHost } from './pull.ts';
import type { Progress } from './pull.ts';
import { formatRef, parseRef, splitRepository } from './reference.ts';
import type { CredentialStore } from './registry/auth.ts';
import { RegistryClient } from './registry/client.ts';
import { MT } from './registry/manifest.ts';
import type { ImageStore, LayerBlob } from './store.ts';
import { nameOnly } from './save.ts';

/** Blobs up to this size go in one PUT; larger ones in PATCH chunks of this size. */
export const DEFAULT_CHUNK_SIZE = 64 << 20;

export interface PusherOptions {
  credentials?: CredentialStore;
  insecureRegistries?: string[];
  dispatcher?: Dispatcher;
  chunkSize?: number;
}

export interface PushOptions {
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
  /** push every tag of the repository (`push -a`) */
  allTags?: boolean;
}

export interface PushedTag {
  tag: string;
  digest: string;
  size: number;
}

const LAYER_MT: Record<LayerBlob['compression'], string> = {
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  none: 'application/vnd.oci.image.layer.v1.tar',
};

const short = (d: string) => d.replace(/^sha256:/, '').slice(0, 12);
const sha = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');

function header(h: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

/** A blob to push: a kept layer file, or bytes in memory (the config). */
type Source = { path: string; size: number } | { data: Buffer };

export class ImagePusher {
  readonly store: ImageStore;
  readonly opts: PusherOptions;

  constructor(store: ImageStore, opts: PusherOptions = {}) {
    this.store = store;
    this.opts = opts;
  }

  /** Pushes NAME[:TAG] (or every tag of NAME with allTags). */
  async push(raw: string, opts: PushOptions = {}): Promise<PushedTag[]> {
    const ref = parseRef(raw);
    if (ref.digest !== undefined) throw new EngineError('INVALID_ARGUMENT', `cannot push a digest reference "${raw}"; push a tag`);
    let tags: string[];
    if (opts.allTags) {
      if (!nameOnly(raw)) throw new EngineError('INVALID_ARGUMENT', `tag can't be used with --all-tags/-a`);
      tags = (this.store.db.prepare('SELECT tag FROM tags WHERE repository = ? ORDER BY tag').all(ref.repository) as { tag: string }[]).map((r) => r.tag);
      if (tags.length === 0) throw new EngineError('NOT_FOUND', `An image does not exist locally with the tag: ${ref.repository}`);
    } else {
      tags = [ref.tag ?? 'latest'];
    }
    const images = tags.map((tag) => {
      const name = formatRef({ repository: ref.repository, tag });
      const rec = this.store.resolve(name);
      if (!rec || !rec.repoTags.includes(name)) throw new EngineError('NOT_FOUND', `An image does not exist locally with the tag: ${name}`);
      return { tag, rec };
    });
    const { domain, path } = splitRepository(ref.repository);
    const emit = opts.onProgress ?? (() => {});
    const credential = this.opts.credentials?.get(credentialHost(domain));
    const client = new RegistryClient(domain, {
      insecure: this.opts.insecureRegistries?.includes(domain) ?? false,
      ...(credential ? { credential } : {}),
      ...(this.opts.dispatcher ? { dispatcher: this.opts.dispatcher } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    emit({ id: '', status: `The push refers to repository [${domain}/${path}]`, current: 0, total: 0, imageId: '' });
    const out: PushedTag[] = [];
    const done = new Set<string>();
    for (const { tag, rec } of images) {
      // every layer needs its blob: refuse before anything is sent (or compressed)
      for (const diffId of rec.layers) {
        if (!this.store.layerBlob(diffId)) throw new EngineError('FAILED_PRECONDITION', `cannot push ${ref.repository}:${tag}: layer ${diffId} was unpacked by an older tdock that did not keep its archive; remove the image and pull (or import) it again`);
      }
      for (const diffId of new Set(rec.layers)) {
        if (!done.has(diffId)) emit({ id: short(diffId), status: 'Preparing', current: 0, total: 0, imageId: '' });
      }
      // (a plain-tar blob is gzipped here, once, while its line says Preparing: see images/store.ts gzipKeptBlob)
      const blobs = [];
      for (const diffId of rec.layers) {
        const b = await this.store.gzipKeptBlob(diffId, opts.signal).catch((e: unknown) => {
          if (opts.signal?.aborted) throw new EngineError(NETWORK_FAILURE, 'push cancelled');
          throw e;
        });
        if (!b) throw new EngineError('FAILED_PRECONDITION', `cannot push ${ref.repository}:${tag}: layer ${diffId} was unpacked by an older tdock that did not keep its archive; remove the image and pull (or import) it again`);
        blobs.push({ diffId, ...b });
      }
      for (const b of blobs) {
        if (done.has(b.diffId)) continue;
        done.add(b.diffId);
        await this.pushBlob(client, domain, path, b.info.digest, { path: b.path, size: b.info.size }, short(b.diffId), emit, b.info.sources);
        this.store.addBlobSource(b.diffId, `${domain}/${path}`, [b.info.digest]);
      }
      const config = Buffer.from((this.store.db.prepare('SELECT config FROM images WHERE id = ?').get(rec.id) as { config: string }).config);
      if (sha(config) !== rec.id) throw new EngineError('INTERNAL', `image ${rec.id}: its stored config does not hash to its id`);
      await this.pushBlob(client, domain, path, rec.id, { data: config }, '', emit, []);
      const manifest = Buffer.from(JSON.stringify({
        schemaVersion: 2,
        mediaType: MT.ociManifest,
        config: { mediaType: MT.ociConfig, digest: rec.id, size: config.length },
        layers: blobs.map((b) => ({ mediaType: LAYER_MT[b.info.compression], digest: b.info.digest, size: b.info.size })),
      }));
      const digest = sha(manifest);
      const scope = `repository:${path}:pull,push`;
      const r = await client.send('PUT', `/v2/${path}/manifests/${tag}`, scope, { body: () => manifest, headers: { 'content-type': MT.ociManifest } });
      if (r.status !== 201 && r.status !== 200) throw client.pushError(r.status, r.text, path, `manifest ${tag}`);
      const claimed = header(r.headers, 'docker-content-digest');
      if (claimed && claimed !== digest) throw new EngineError(NETWORK_FAILURE, `registry ${domain} recorded manifest ${tag} of ${path} as ${claimed}, but tdock sent ${digest}`);
      this.store.db.prepare(
        'INSERT INTO repo_digests (repository, digest, image_id) VALUES (?, ?, ?) ON CONFLICT (repository, digest) DO UPDATE SET image_id = excluded.image_id',
      ).run(ref.repository, digest, rec.id);
      emit({ id: '', status: `${tag}: digest: ${digest} size: ${manifest.length}`, current: 0, total: 0, imageId: rec.id });
      out.push({ tag, digest, size: manifest.length });
    }
    return out;
  }

  /** One blob: exists? mount? else upload (see the module comment). `id` "" = no progress lines (the config). */
  private async pushBlob(
    client: RegistryClient, domain: string, repo: string, digest: string, src: Source, id: string,
    emit: (p: Progress) => void, sources: string[],
  ): Promise<void> {
    const scope = `repository:${repo}:pull,push`;
    const size = 'data' in src ? src.data.length : src.size;
    const say = (status: string, current = 0, total = 0) => {
      if (id) emit({ id, status, current, total, imageId: '' });
    };
    const head = await client.send('HEAD', `/v2/${repo}/blobs/${digest}`, scope);
    if (head.status === 200) {
      say('Layer already exists');
      return;
    }
    if (head.status !== 404) throw client.pushError(head.status, head.text, repo, `blob ${digest}`);

    let location: string | undefined;
    for (const s of sources) {
      if (!s.startsWith(`${domain}/`)) continue;
      const from = s.slice(domain.length + 1);
      if (from === repo) continue;
      const r = await client.send('POST', `/v2/${repo}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`, `${scope} repository:${from}:pull`);
      if (r.status === 201) {
        say(`Mounted from ${from}`);
        return;
      }
      if (r.status === 202) {
        // the registry declined the mount and opened an upload session instead
        location = header(r.headers, 'location');
        break;
      }
      // a refused mount (no access to `from`, say) is not fatal: upload instead
    }
    if (location === undefined) {
      const r = await client.send('POST', `/v2/${repo}/blobs/uploads/`, scope);
      if (r.status !== 202) throw client.pushError(r.status, r.text, repo, `upload of blob ${digest}`);
      location = header(r.headers, 'location');
    }
    if (!location) throw new EngineError(NETWORK_FAILURE, `registry ${domain} opened an upload of ${digest} without a Location`);

    const chunk = this.opts.chunkSize ?? DEFAULT_CHUNK_SIZE;
    // progress as the bytes leave (at most every 100 ms), counted on the way into the request
    let lastReport = 0;
    const counted = (start: number, end: number): Readable => {
      let sent = start;
      const t = new Transform({
        transform(c: Buffer, _enc, cb) {
          sent += c.length;
          const now = Date.now();
          if (now - lastReport >= 100) {
            lastReport = now;
            say('Pushing', sent, size);
          }
          cb(null, c);
        },
      });
      const f = createReadStream((src as { path: string }).path, { start, end: end - 1, highWaterMark: 1 << 20 });
      f.on('error', (e) => t.destroy(e));
      return f.pipe(t);
    };
    const body = (start: number, end: number) => () => ('data' in src ? src.data.subarray(start, end) : end <= start ? Buffer.alloc(0) : counted(start, end));
    const withDigest = (loc: string) => {
      const u = new URL(loc, client.base);
      u.searchParams.set('digest', digest);
      return u.toString();
    };
    say('Pushing', 0, size);
    const session = { location };
    try {
      await this.upload(client, repo, digest, session, size, chunk, body, withDigest, scope, say);
    } catch (e) {
      // Docker cancels a failed upload: the registry drops the session and its partial
      // data now instead of keeping it until its own purge. Best effort: a registry that
      // is down cannot be told.
      await client.send('DELETE', session.location, scope, { detached: true }).catch(() => undefined);
      throw e;
    }
    say('Pushed', size, size);
  }

  private async upload(
    client: RegistryClient, repo: string, digest: string, session: { location: string }, size: number, chunk: number,
    body: (start: number, end: number) => () => Buffer | Readable, withDigest: (loc: string) => string, scope: string,
    say: (status: string, current?: number, total?: number) => void,
  ): Promise<void> {
    const domain = client.domain;
    let location = session.location;
    let put;
    if (size <= chunk) {
      put = await client.send('PUT', withDigest(location), scope, {
        body: body(0, size),
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
      });
    } else {
      for (let off = 0; off < size; off += chunk) {
        const end = Math.min(size, off + chunk);
        const r = await client.send('PATCH', location, scope, {
          body: body(off, end),
          headers: { 'content-type': 'application/octet-stream', 'content-length': String(end - off), 'content-range': `${off}-${end - 1}` },
        });
        if (r.status !== 202) throw client.pushError(r.status, r.text, repo, `chunk ${off}-${end - 1} of blob ${digest}`);
        location = header(r.headers, 'location') ?? location;
        session.location = location;
        say('Pushing', end, size);
      }
      put = await client.send('PUT', withDigest(location), scope, { headers: { 'content-length': '0' } });
    }
    if (put.status !== 201) throw client.pushError(put.status, put.text, repo, `blob ${digest}`);
    const claimed = header(put.headers, 'docker-content-digest');
    if (claimed && claimed !== digest) throw new EngineError(NETWORK_FAILURE, `registry ${domain} stored blob ${digest} as ${claimed}`);
  }
}
