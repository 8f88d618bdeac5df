// `tdock load`: images from a tar made by `docker save` (manifest.json; any version,
// including the OCI layout Docker 25+ adds), by `tdock save`, or an OCI image layout in a
// tar (index.json + blobs/sha256, e.g. `skopeo copy ... oci-archive:`), plain or gzip.
//
// In order:
//   1. the archive is spooled into a staging dir of the store (its members can come in
//      any order: manifest.json is often last). Members are stored under numbered names,
//      never under the names the archive gives, so no member path can point anywhere;
//      symlinks and hard links between members (old `docker save` dedupes layers so) are
//      resolved by name inside the archive. Bounded: a member at most --max-layer-size
//      bytes, JSON documents at most 8 MiB, at most MAX_MEMBERS members;
//   2. every image is read and verified before anything is recorded: the config's sha256
//      is the image id (and must match a blobs/sha256/<hex> name); each layer is unpacked
//      (images/store.ts unpackLayer, the same extractor and limits as pull) into its own
//      staging dir and must unpack to the config's diff_id, and a layer named by digest
//      (blobs/sha256/<hex>, an OCI descriptor) must have that digest;
//   3. one synchronous commit per image records layers, image and tags.
// Any failure deletes the spool and every staging dir: no layer, row or tag is left.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { Parser } from 'tar';
import type { ReadEntry } from 'tar';
import { EngineError } from '../lib/errors.ts';
import { formatRef, parseRef } from './reference.ts';
import { layerCompression, MT, normalize, selectPlatform } from './registry/manifest.ts';
import type { Descriptor } from './registry/manifest.ts';
import { blobOf, MAX_LAYERS, ociArchitecture, tooManyLayers } from './store.ts';
import type { ImageStore, StagedLayer } from './store.ts';

/** Members an archive may have (a 127-layer image has a few hundred). */
export const MAX_MEMBERS = 10_000;
const MAX_JSON = 8 << 20;

export interface LoadProgress {
  id: string;
  status: string;
  current: number;
  total: number;
  imageId: string;
}

export interface LoadedImage {
  id: string;
  tags: string[];
}

function bad(why: string): EngineError {
  return new EngineError('INVALID_ARGUMENT', `invalid image archive: ${why}`);
}

/** "./a//b/" -> "a/b"; undefined for names that leave the archive ("..", absolute). */
function memberName(name: string): string | undefined {
  const parts: string[] = [];
  for (const p of name.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') return undefined;
    parts.push(p);
  }
  return parts.join('/');
}

interface Spool {
  dir: string;
  /** member name -> spooled file */
  files: Map<string, { path: string; size: number }>;
  /** member name -> the member name it links to */
  links: Map<string, string>;
}

/** Step 1: the archive's regular files into `dir`, numbered. */
async function spool(source: Readable, dir: string, maxMember: number): Promise<Spool> {
  const s: Spool = { dir, files: new Map(), links: new Map() };
  let members = 0;
  let failed: Error | undefined;
  let chain: Promise<void> = Promise.resolve();
  let sawEntry = false;
  const parser = new Parser({ strict: true, brotli: false, zstd: false });
  const fail = (e: Error) => {
    failed ??= e;
  };
  parser.on('warn', (_code: string, message: unknown) => fail(bad(`bad tar: ${String((message as Error)?.message ?? message)}`)));
  parser.on('error', (e: Error) => fail(bad(`bad tar: ${e.message}`)));
  parser.on('entry', (e: ReadEntry) => {
    sawEntry = true;
    chain = chain.then(async () => {
      if (failed) {
        e.resume();
        return;
      }
      try {
        if (++members > MAX_MEMBERS) throw bad(`more than ${MAX_MEMBERS} members`);
        const name = memberName(e.path);
        if (name === undefined) throw bad(`member "${e.path}" points outside the archive`);
        if (e.type === 'SymbolicLink' || e.type === 'Link') {
          const target = e.type === 'Link' ? memberName(e.linkpath ?? '') : memberName(join(name, '..', e.linkpath ?? ''));
          if (target === undefined || (e.linkpath ?? '').startsWith('/')) throw bad(`link "${e.path}" points outside the archive`);
          s.links.set(name, target);
          e.resume();
          return;
        }
        if (e.type !== 'File' && e.type !== 'OldFile' && e.type !== 'ContiguousFile') {
          e.resume();
          return;
        }
        if ((e.size ?? 0) > maxMember) {
          throw new EngineError('RESOURCE_EXHAUSTED', `invalid image archive: member "${name}" is larger than the daemon's limit per layer (tdockd --max-layer-size)`);
        }
        const path = join(dir, `m${members}`);
        const fh = await fsp.open(path, 'wx', 0o600);
        let size = 0;
        try {
          for await (const c of e) {
            size += (c as Buffer).length;
            await fh.write(c as Buffer);
          }
        } finally {
          await fh.close();
        }
        s.files.set(name, { path, size });
      } catch (err) {
        e.resume();
        const code = (err as NodeJS.ErrnoException).code;
        fail(code === 'ENOSPC' || code === 'EDQUOT'
          ? new EngineError('RESOURCE_EXHAUSTED', 'disk full: no space left on device while reading the image archive')
          : err instanceof EngineError ? err : new EngineError('INTERNAL', `reading the image archive: ${(err as Error).message}`));
      }
    });
  });
  let bytes = 0;
  try {
    for await (const c of source) {
      bytes += (c as Buffer).length;
      if (failed) break;
      if (!parser.write(c as Buffer)) await new Promise((r) => parser.once('drain', r));
    }
    await new Promise<void>((resolve) => {
      parser.once('end', () => resolve());
      parser.end();
    });
  } catch (e) {
    fail(e instanceof EngineError ? e : bad(`reading the archive: ${(e as Error).message}`));
  } finally {
    source.destroy();
  }
  await chain;
  if (bytes === 0) throw bad('empty input (no tar members)');
  if (failed) throw failed;
  if (!sawEntry) throw bad('empty input (no tar members)');
  return s;
}

function lookup(s: Spool, name: string): { path: string; size: number } | undefined {
  let n: string | undefined = memberName(name);
  for (let hops = 0; n !== undefined && hops < 16; hops++) {
    const f = s.files.get(n);
    if (f) return f;
    n = s.links.get(n);
  }
  return undefined;
}

async function readSmall(s: Spool, name: string, max = MAX_JSON): Promise<Buffer> {
  const f = lookup(s, name);
  if (!f) throw bad(`${name} is missing`);
  if (f.size > max) throw bad(`${name} is larger than ${max} bytes`);
  return fsp.readFile(f.path);
}

function parseJson<T>(data: Buffer, what: string): T {
  try {
    return JSON.parse(data.toString('utf8')) as T;
  } catch {
    throw bad(`${what} is not JSON`);
  }
}

const sha = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');

/** One image to load: its config, its layer members, its tags. */
interface Plan {
  config: Buffer;
  diffIds: string[];
  /** member name and, when the archive names it by digest, that digest */
  layers: { member: string; digest?: string }[];
  tags: { repository: string; tag: string }[];
}

function configDiffIds(config: Buffer, layers: number, where: string): string[] {
  const c = parseJson<{ rootfs?: { diff_ids?: unknown } }>(config, `the config of ${where}`);
  const ids = c.rootfs?.diff_ids;
  if (!Array.isArray(ids) || ids.some((d) => typeof d !== 'string' || !/^sha256:[a-f0-9]{64}$/.test(d))) {
    throw bad(`the config of ${where} does not list sha256 diff_ids`);
  }
  if (ids.length !== layers) throw bad(`${where} has ${layers} layers but its config lists ${ids.length} diff_ids`);
  if (layers > MAX_LAYERS) throw tooManyLayers(where, layers);
  return ids as string[];
}

function digestOfName(name: string): string | undefined {
  const m = /^blobs\/sha256\/([a-f0-9]{64})$/.exec(memberName(name) ?? '');
  return m ? `sha256:${m[1]}` : undefined;
}

function tagOf(name: string, where: string): { repository: string; tag: string } {
  try {
    const p = parseRef(name);
    if (p.digest !== undefined) throw new Error('a digest');
    return { repository: p.repository, tag: p.tag ?? 'latest' };
  } catch (e) {
    throw bad(`${where} names an invalid tag "${name}": ${(e as Error).message}`);
  }
}

/** Docker's format: manifest.json. */
async function planDocker(s: Spool): Promise<Plan[]> {
  const doc = parseJson<unknown>(await readSmall(s, 'manifest.json'), 'manifest.json');
  if (!Array.isArray(doc)) throw bad('manifest.json is not a list');
  const plans: Plan[] = [];
  for (const [i, raw] of doc.entries()) {
    const e = raw as { Config?: unknown; RepoTags?: unknown; Layers?: unknown };
    const where = `image ${i} of manifest.json`;
    if (typeof e.Config !== 'string' || !Array.isArray(e.Layers) || e.Layers.some((l) => typeof l !== 'string')) {
      throw bad(`${where} has no Config or Layers`);
    }
    const config = await readSmall(s, e.Config);
    const named = digestOfName(e.Config) ?? (/^([a-f0-9]{64})\.json$/.exec(e.Config) ? `sha256:${e.Config.slice(0, 64)}` : undefined);
    if (named && sha(config) !== named) throw bad(`digest mismatch: config ${e.Config} has digest ${sha(config)}`);
    const layers = e.Layers as string[];
    const tags = Array.isArray(e.RepoTags) ? e.RepoTags.filter((t): t is string => typeof t === 'string').map((t) => tagOf(t, where)) : [];
    const d: Plan = { config, diffIds: configDiffIds(config, layers.length, where), layers: [], tags };
    for (const l of layers) {
      const digest = digestOfName(l);
      d.layers.push(digest ? { member: l, digest } : { member: l });
    }
    plans.push(d);
  }
  return plans;
}

async function blob(s: Spool, d: Descriptor, max = MAX_JSON): Promise<Buffer> {
  const data = await readSmall(s, `blobs/sha256/${d.digest.slice(7)}`, max);
  if (sha(data) !== d.digest || data.length !== d.size) throw bad(`digest mismatch: blob ${d.digest} has digest ${sha(data)} (${data.length} bytes)`);
  return data;
}

/** The name an OCI index entry gives its image: containerd's full name, else a ref.name that is a whole reference. */
function ociTag(d: Descriptor): { repository: string; tag: string } | undefined {
  const a = d.annotations ?? {};
  const full = a['io.containerd.image.name'];
  if (full) return tagOf(full, `index entry ${d.digest}`);
  const ref = a['org.opencontainers.image.ref.name'];
  // a bare "latest" names no repository (the OCI spec allows a tag alone): untagged then
  if (ref && /[:/]/.test(ref)) return tagOf(ref, `index entry ${d.digest}`);
  return undefined;
}

/** An OCI image layout: index.json (+ oci-layout). */
async function planOci(s: Spool): Promise<Plan[]> {
  const index = parseJson<{ manifests?: unknown }>(await readSmall(s, 'index.json'), 'index.json');
  if (!Array.isArray(index.manifests)) throw bad('index.json has no manifests');
  const byManifest = new Map<string, Plan>();
  const want = { os: 'linux', architecture: ociArchitecture() };
  const visit = async (d: Descriptor, tag: { repository: string; tag: string } | undefined, depth: number): Promise<void> => {
    if (d.mediaType === MT.ociIndex || d.mediaType === MT.dockerList) {
      if (depth > 2) throw bad('indexes nested too deep');
      const sub = parseJson<{ manifests?: Descriptor[] }>(await blob(s, d), `index ${d.digest}`);
      const pick = selectPlatform({ kind: 'index', mediaType: d.mediaType, manifests: sub.manifests ?? [] }, want);
      if (!pick) throw new EngineError('NOT_FOUND', `no matching platform: index ${d.digest} in the archive has no image for ${normalize(want).os}/${normalize(want).architecture}`);
      await visit(pick, tag, depth + 1);
      return;
    }
    if (d.mediaType !== MT.ociManifest && d.mediaType !== MT.dockerManifest) return; // attestations, signatures
    let plan = byManifest.get(d.digest);
    if (!plan) {
      const m = parseJson<{ config?: Descriptor; layers?: Descriptor[] }>(await blob(s, d), `manifest ${d.digest}`);
      if (!m.config || !Array.isArray(m.layers)) throw bad(`manifest ${d.digest} has no config or layers`);
      const config = await blob(s, m.config);
      const where = `manifest ${d.digest}`;
      const diffIds = configDiffIds(config, m.layers.length, where);
      m.layers.forEach((l, i) => layerCompression(l, `layer ${i} of ${where}`));
      plan = { config, diffIds, layers: m.layers.map((l) => ({ member: `blobs/sha256/${l.digest.slice(7)}`, digest: l.digest })), tags: [] };
      byManifest.set(d.digest, plan);
    }
    if (tag && !plan.tags.some((t) => t.repository === tag.repository && t.tag === tag.tag)) plan.tags.push(tag);
  };
  for (const raw of index.manifests as Descriptor[]) {
    if (!raw || typeof raw.digest !== 'string' || !/^sha256:[a-f0-9]{64}$/.test(raw.digest) || typeof raw.size !== 'number') {
      throw bad('index.json has a descriptor without a sha256 digest and size');
    }
    await visit(raw, ociTag(raw), 0);
  }
  return [...byManifest.values()];
}

/** Loads the archive read from `source`; see the module comment. */
export async function loadArchive(store: ImageStore, source: Readable, emit: (p: LoadProgress) => void = () => {}): Promise<LoadedImage[]> {
  const spoolDir = await store.stagingDir();
  const tmps: string[] = [];
  try {
    const s = await spool(source, spoolDir, store.maxLayerSize);
    let plans: Plan[];
    if (lookup(s, 'manifest.json')) plans = await planDocker(s);
    else if (lookup(s, 'index.json')) plans = await planOci(s);
    else throw bad('no manifest.json or index.json (not made by docker save, tdock save or as an OCI layout)');
    if (plans.length === 0) throw bad('it holds no image');

    // 2. unpack and verify every layer the store lacks (once per diff_id)
    const staged = new Map<string, StagedLayer>();
    for (const p of plans) {
      for (const [i, l] of p.layers.entries()) {
        const diffId = p.diffIds[i]!;
        if (staged.has(diffId)) continue;
        if (store.hasLayer(diffId) && store.layerBlob(diffId)) {
          staged.set(diffId, { diffId });
          continue;
        }
        const f = lookup(s, l.member);
        if (!f) throw bad(`layer ${l.member} is missing`);
        const id = diffId.slice(7, 19);
        const tmp = await store.stagingDir();
        tmps.push(tmp);
        let last = 0;
        const res = await store.unpackLayer(createReadStream(f.path, { highWaterMark: 1 << 20 }), tmp, (n) => {
          if (n - last >= 8 << 20) {
            last = n;
            emit({ id, status: 'Loading layer', current: n, total: f.size, imageId: '' });
          }
        });
        if (l.digest && res.inputDigest !== l.digest) throw bad(`digest mismatch: layer ${l.member} has digest ${res.inputDigest}`);
        if (res.diffId !== diffId) throw bad(`digest mismatch: layer ${l.member} unpacks to ${res.diffId}, but the image config says ${diffId}`);
        const left = await store.applyWhiteouts(tmp, res.whiteouts);
        staged.set(diffId, { diffId, tmp, size: res.size, whiteouts: left, blob: blobOf(res) });
        emit({ id, status: 'Loading layer', current: f.size, total: f.size, imageId: '' });
      }
    }

    // 3. record (synchronous per image)
    const loaded: LoadedImage[] = [];
    for (const p of plans) {
      const layers = p.diffIds.map((d) => staged.get(d)!);
      const newId = sha(p.config);
      for (const t of p.tags) {
        const old = store.resolve(formatRef(t));
        if (old && old.id !== newId && old.repoTags.includes(formatRef(t))) {
          emit({ id: '', status: `The image ${formatRef(t)} already exists, renaming the old one with ID ${old.id} to empty string`, current: 0, total: 0, imageId: '' });
        }
      }
      const [first, ...rest] = p.tags;
      const id = store.commitImage(layers, p.config.toString('utf8'), first ? { tag: first } : {});
      for (const t of rest) store.tag(id, formatRef(t));
      const tags = p.tags.map((t) => formatRef(t));
      loaded.push({ id, tags });
      if (tags.length === 0) emit({ id: '', status: `Loaded image ID: ${id}`, current: 0, total: 0, imageId: id });
      for (const t of tags) emit({ id: '', status: `Loaded image: ${t}`, current: 0, total: 0, imageId: id });
    }
    return loaded;
  } finally {
    await Promise.all(tmps.map((t) => store.dropStaging(t)));
    await store.dropStaging(spoolDir);
  }
}

