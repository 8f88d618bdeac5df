// `tdock save`: images as one tar in the layout `docker save` writes since Docker 25,
// which both readers of image archives understand:
//   - Docker's own format: manifest.json ([{Config, RepoTags, Layers}]) and repositories,
//     read by `docker load` (every version) and `skopeo ... docker-archive:`;
//   - an OCI image layout in the same tar: oci-layout, index.json (one manifest per tag,
//     named by the annotations containerd and the OCI spec use) and blobs/sha256/.
// The paths of manifest.json point into blobs/sha256, so each file is stored once.
// Layers are written uncompressed (their digest is the diff_id), as Docker does; they
// come from the blob each layer kept (images/store.ts), decompressed on the fly, and are
// checked against the diff_id while they stream (a mismatch fails the save).
//
// Everything is resolved before the first byte goes out, so a bad name fails the save
// with nothing written. Entries have mtime 0 and a fixed order: the same images give
// the same archive.
import { createHash } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import * as zlib from 'node:zlib';
import type { Transform } from 'node:stream';
import { EngineError } from '../lib/errors.ts';
import { parseRef } from './reference.ts';
import { MT } from './registry/manifest.ts';
import type { ImageStore, LayerBlob } from './store.ts';
import { tarEnd, tarEntry } from './tar-writer.ts';

interface SavedImage {
  id: string;
  config: string;
  tags: string[];
  layers: string[];
}

/** True when `raw` names a repository only (no ":TAG", no "@DIGEST"; parseRef adds "latest"). */
export function nameOnly(raw: string): boolean {
  const s = raw.trim();
  return !s.includes('@') && !(s.lastIndexOf(':') > s.lastIndexOf('/'));
}

/** "busybox:latest" -> the full name containerd records ("docker.io/library/busybox:latest"). */
export function fullName(repoTag: string): string {
  const i = repoTag.lastIndexOf(':');
  const repo = repoTag.slice(0, i);
  const first = repo.split('/')[0]!;
  const hasDomain = repo.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  if (hasDomain) return repoTag;
  return `docker.io/${repo.includes('/') ? repo : `library/${repo}`}${repoTag.slice(i)}`;
}

/**
 * The images `refs` name, with the tags to record: NAME:TAG that tag; a bare NAME every
 * tag of that repository (Docker's rule); an id or NAME@DIGEST the image without a tag.
 */
export function resolveForSave(store: ImageStore, refs: string[]): SavedImage[] {
  if (refs.length === 0) throw new EngineError('INVALID_ARGUMENT', 'save needs at least one image');
  const byId = new Map<string, SavedImage>();
  const add = (id: string, tag?: string) => {
    let img = byId.get(id);
    if (!img) {
      const rec = store.record(id);
      const row = store.db.prepare('SELECT config FROM images WHERE id = ?').get(id) as { config: string } | undefined;
      if (!rec || !row) throw new EngineError('NOT_FOUND', `No such image: ${id}`);
      img = { id, config: row.config, tags: [], layers: rec.layers };
      byId.set(id, img);
    }
    if (tag && !img.tags.includes(tag)) img.tags.push(tag);
  };
  for (const ref of refs) {
    let bare = false;
    let repository = '';
    try {
      const p = parseRef(ref);
      bare = nameOnly(ref) && !/^(sha256:)?[a-f0-9]+$/.test(ref.trim());
      repository = p.repository;
    } catch {
      // not a name: maybe an id (resolve decides)
    }
    if (bare) {
      const rows = store.db.prepare('SELECT tag, image_id FROM tags WHERE repository = ? ORDER BY tag').all(repository) as { tag: string; image_id: string }[];
      if (rows.length > 0) {
        for (const r of rows) add(r.image_id, `${repository}:${r.tag}`);
        continue;
      }
    }
    const rec = store.resolve(ref);
    if (!rec) throw new EngineError('NOT_FOUND', `No such image: ${ref}`);
    let tag: string | undefined;
    try {
      const p = parseRef(ref);
      if (p.digest === undefined && rec.repoTags.includes(`${p.repository}:${p.tag ?? 'latest'}`)) tag = `${p.repository}:${p.tag ?? 'latest'}`;
    } catch {
      // an id: no tag
    }
    add(rec.id, tag);
  }
  return [...byId.values()];
}

/** The compression of a blob from its first bytes (a tar starts with a file name). */
function sniff(magic: Buffer): LayerBlob['compression'] {
  if (magic[0] === 0x1f && magic[1] === 0x8b) return 'gzip';
  if (magic.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  return 'none';
}

function decompressor(c: LayerBlob['compression']): Transform | undefined {
  if (c === 'gzip') return zlib.createGunzip({ chunkSize: 256 * 1024 });
  if (c === 'zstd') {
    const z = zlib as unknown as { createZstdDecompress?: () => Transform };
    if (!z.createZstdDecompress) throw new EngineError('FAILED_PRECONDITION', 'this layer is zstd-compressed and this Node.js has no zstd support (>= 22.15)');
    return z.createZstdDecompress();
  }
  return undefined;
}

const PAD = Buffer.alloc(512);

/** The uncompressed tar of a layer from its kept blob, checked against diff_id and size. */
async function* layerTar(path: string, info: LayerBlob, diffId: string): AsyncGenerator<Buffer> {
  // The compression is read from the opened file, not from info: a push may gzip a plain
  // blob and replace it (images/store.ts gzipKeptBlob) between reading info and opening
  // the file; the open file stays one version whatever is renamed over it.
  const fh = await fsp.open(path, 'r');
  let file;
  const magic = Buffer.alloc(4);
  try {
    await fh.read(magic, 0, 4, 0);
    file = fh.createReadStream({ start: 0, highWaterMark: 1 << 20 });
  } catch (e) {
    await fh.close();
    throw e;
  }
  const d = decompressor(sniff(magic));
  const src = d ? file.pipe(d) : file;
  file.on('error', (e) => d?.destroy(e));
  const h = createHash('sha256');
  let n = 0;
  try {
    for await (const c of src) {
      const b = c as Buffer;
      n += b.length;
      if (n > info.tarSize) break;
      h.update(b);
      yield b;
    }
  } finally {
    file.destroy();
    d?.destroy();
  }
  const got = 'sha256:' + h.digest('hex');
  if (n !== info.tarSize || got !== diffId) {
    throw new EngineError('INTERNAL', `layer ${diffId} is damaged in the store (its blob gives ${got}, ${n} bytes); remove the image and pull it again`);
  }
  if (n % 512 !== 0) yield PAD.subarray(0, 512 - (n % 512));
}

function file(path: string, data: Buffer | string): Buffer {
  return tarEntry({ path, data, mode: 0o644, mtime: 0 });
}

/**
 * The archive of `images` as a stream of chunks. Checks first that every layer has its
 * blob, so a refusal comes before any byte.
 */
export function saveArchive(store: ImageStore, images: SavedImage[]): AsyncGenerator<Buffer> {
  const layers = new Map<string, { path: string; info: LayerBlob }>();
  for (const img of images) {
    for (const diffId of img.layers) {
      if (layers.has(diffId)) continue;
      const b = store.layerBlob(diffId);
      if (!b) {
        const name = img.tags[0] ?? img.id;
        throw new EngineError('FAILED_PRECONDITION', `cannot save ${name}: layer ${diffId} was unpacked by an older tdock that did not keep its archive; remove the image and pull (or import) it again`);
      }
      layers.set(diffId, b);
    }
  }
  return (async function* gen(): AsyncGenerator<Buffer> {
    yield tarEntry({ path: 'blobs/', type: 'dir', mode: 0o755, mtime: 0 });
    yield tarEntry({ path: 'blobs/sha256/', type: 'dir', mode: 0o755, mtime: 0 });
    for (const [diffId, b] of layers) {
      yield tarEntry({ path: `blobs/sha256/${diffId.slice(7)}`, mode: 0o644, mtime: 0, size: b.info.tarSize });
      yield* layerTar(b.path, b.info, diffId);
    }
    const index: object[] = [];
    const manifestJson: object[] = [];
    const repositories: Record<string, Record<string, string>> = {};
    for (const img of images) {
      const cfgDigest = img.id;
      yield file(`blobs/sha256/${cfgDigest.slice(7)}`, img.config);
      const manifest = Buffer.from(JSON.stringify({
        schemaVersion: 2,
        mediaType: MT.ociManifest,
        config: { mediaType: MT.ociConfig, digest: cfgDigest, size: Buffer.byteLength(img.config) },
        layers: img.layers.map((d) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: d, size: layers.get(d)!.info.tarSize })),
      }));
      const mDigest = 'sha256:' + createHash('sha256').update(manifest).digest('hex');
      yield file(`blobs/sha256/${mDigest.slice(7)}`, manifest);
      const desc = { mediaType: MT.ociManifest, digest: mDigest, size: manifest.length };
      if (img.tags.length === 0) index.push(desc);
      for (const t of img.tags) {
        index.push({ ...desc, annotations: { 'io.containerd.image.name': fullName(t), 'org.opencontainers.image.ref.name': t.slice(t.lastIndexOf(':') + 1) } });
        const repo = t.slice(0, t.lastIndexOf(':'));
        (repositories[repo] ??= {})[t.slice(t.lastIndexOf(':') + 1)] = img.layers.at(-1)?.slice(7) ?? '';
      }
      manifestJson.push({ Config: `blobs/sha256/${cfgDigest.slice(7)}`, RepoTags: img.tags.length ? img.tags : null, Layers: img.layers.map((d) => `blobs/sha256/${d.slice(7)}`) });
    }
    yield file('index.json', JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: index }) + '\n');
    yield file('manifest.json', JSON.stringify(manifestJson) + '\n');
    yield file('oci-layout', JSON.stringify({ imageLayoutVersion: '1.0.0' }) + '\n');
    if (Object.keys(repositories).length > 0) yield file('repositories', JSON.stringify(repositories) + '\n');
    yield tarEnd();
  })();
}
