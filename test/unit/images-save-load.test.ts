// save and load at the store level (no daemon, no root): the archive's shape, round trips
// by id, gzip input, Docker's legacy layout with symlinked layers, and refusals (bad
// digests, member names leaving the archive, truncated input) that leave nothing behind.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { Parser } from 'tar';
import type { ReadEntry } from 'tar';
import { openDb } from '../../daemon/store/db.ts';
import { loadArchive } from '../../images/load.ts';
import { nameOnly, resolveForSave, saveArchive } from '../../images/save.ts';
import { ImageStore } from '../../images/store.ts';
import { tarArchive } from '../../images/tar-writer.ts';
import type { TarEntrySpec } from '../../images/tar-writer.ts';

const isRoot = process.getuid?.() === 0;
const SHIFT = isRoot ? { uid: 100000, gid: 100000, size: 65536 } : { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, size: 1 };
const sha = (b: Buffer | string) => 'sha256:' + createHash('sha256').update(b).digest('hex');

let scratch = '';
let n = 0;
function newStore(): ImageStore {
  const root = join(scratch, `root-${n++}`);
  mkdirSync(root);
  return new ImageStore(openDb(join(root, 'tdock.db')), root, SHIFT);
}
const entries = (s: ImageStore) => readdirSync(s.layersDir).sort();

async function collect(gen: AsyncIterable<Buffer>): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of gen) out.push(c);
  return Buffer.concat(out);
}

/** The members of a tar: name -> content. */
async function members(tar: Buffer): Promise<Map<string, Buffer>> {
  const m = new Map<string, Buffer>();
  const p = new Parser();
  p.on('entry', (e: ReadEntry) => {
    const chunks: Buffer[] = [];
    e.on('data', (c: Buffer) => chunks.push(c));
    e.on('end', () => m.set(e.path, Buffer.concat(chunks)));
  });
  await new Promise<void>((resolve) => {
    p.on('end', () => resolve());
    p.end(tar);
  });
  return m;
}

const layer = (name: string) => tarArchive([{ path: 'bin/', type: 'dir' }, { path: `bin/${name}`, data: `${name}\n`, mode: 0o755 }]);

describe('save and load (store level)', () => {
  let src: ImageStore;
  let a = '';
  let b = '';
  before(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'tdock-save-load-'));
    src = newStore();
    a = (await src.importTar(Readable.from([layer('a')]), 'one/a:v1', { created: 0, config: { Cmd: ['/bin/a'] } })).id;
    // a gzip input: its kept blob is gzip, save writes the plain tar
    b = (await src.importTar(Readable.from([gzipSync(layer('b'))]), 'two/b:v1', { created: 0 })).id;
    src.tag(b, 'two/b:v2');
  });
  after(() => {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('names: a bare name means every tag, NAME:TAG one, an id no tag', () => {
    assert.equal(nameOnly('two/b'), true);
    assert.equal(nameOnly('host:5000/two/b'), true);
    assert.equal(nameOnly('two/b:v1'), false);
    assert.deepEqual(resolveForSave(src, ['two/b']).map((i) => i.tags), [['two/b:v1', 'two/b:v2']]);
    assert.deepEqual(resolveForSave(src, ['two/b:v2']).map((i) => i.tags), [['two/b:v2']]);
    assert.deepEqual(resolveForSave(src, [a]).map((i) => i.tags), [[]]);
    assert.throws(() => resolveForSave(src, ['no/such']), /No such image: no\/such/);
  });

  it('writes manifest.json, repositories and an OCI layout; layers are the diff_id tars', async () => {
    const tar = await collect(saveArchive(src, resolveForSave(src, ['one/a:v1', 'two/b'])));
    const m = await members(tar);
    const manifest = JSON.parse(m.get('manifest.json')!.toString()) as { Config: string; RepoTags: string[]; Layers: string[] }[];
    assert.deepEqual(manifest.map((x) => x.RepoTags), [['one/a:v1'], ['two/b:v1', 'two/b:v2']]);
    for (const x of manifest) {
      assert.equal(sha(m.get(x.Config)!), `sha256:${x.Config.split('/').pop()}`);
      for (const l of x.Layers) assert.equal(sha(m.get(l)!), `sha256:${l.split('/').pop()}`);
    }
    assert.equal(sha(m.get(manifest[1]!.Layers[0]!)!), sha(layer('b')), 'the gzip layer is saved uncompressed');
    const index = JSON.parse(m.get('index.json')!.toString()) as { manifests: { digest: string; annotations: Record<string, string> }[] };
    assert.deepEqual(index.manifests.map((d) => d.annotations['io.containerd.image.name']), ['docker.io/one/a:v1', 'docker.io/two/b:v1', 'docker.io/two/b:v2']);
    for (const d of index.manifests) assert.equal(sha(m.get(`blobs/sha256/${d.digest.slice(7)}`)!), d.digest);
    assert.deepEqual(JSON.parse(m.get('oci-layout')!.toString()), { imageLayoutVersion: '1.0.0' });
    assert.ok(JSON.parse(m.get('repositories')!.toString())['two/b']['v2']);
  });

  it('round trip: same ids and tags; plain or gzip archive; "Loaded image" lines', async () => {
    const tar = await collect(saveArchive(src, resolveForSave(src, ['one/a:v1', 'two/b'])));
    for (const input of [tar, gzipSync(tar)]) {
      const dst = newStore();
      const lines: string[] = [];
      const loaded = await loadArchive(dst, Readable.from([input]), (p) => lines.push(p.status));
      assert.deepEqual(loaded.map((l) => l.id), [a, b]);
      assert.deepEqual(lines.filter((l) => l.startsWith('Loaded')), ['Loaded image: one/a:v1', 'Loaded image: two/b:v1', 'Loaded image: two/b:v2']);
      assert.deepEqual(dst.resolve('two/b:v2')?.id, b);
      // the loaded layers keep their blobs: they can be saved and pushed again
      assert.ok(dst.layerBlob(dst.record(b)!.layers[0]!));
      assert.ok(!entries(dst).some((e) => e.startsWith('tmp-')));
    }
  });

  it("Docker's legacy layout: <id>/layer.tar, a layer symlinked to another image's", async () => {
    const cfgA = src.db.prepare('SELECT config FROM images WHERE id = ?').get(a) as { config: string };
    const ent: TarEntrySpec[] = [
      { path: 'l1/', type: 'dir' },
      { path: 'l1/layer.tar', data: layer('a') },
      { path: 'l2/', type: 'dir' },
      { path: 'l2/layer.tar', type: 'symlink', linkpath: '../l1/layer.tar' },
      { path: `${a.slice(7)}.json`, data: cfgA.config },
      { path: 'manifest.json', data: JSON.stringify([{ Config: `${a.slice(7)}.json`, RepoTags: ['legacy/a:1'], Layers: ['l2/layer.tar'] }]) },
    ];
    const dst = newStore();
    // the tag names another image here: it moves, and the load says so as Docker does
    const other = await dst.importTar(Readable.from([layer('other')]), 'legacy/a:1', { created: 0 });
    const lines: string[] = [];
    const loaded = await loadArchive(dst, Readable.from([tarArchive(ent)]), (p) => lines.push(p.status));
    assert.deepEqual(loaded, [{ id: a, tags: ['legacy/a:1'] }]);
    assert.deepEqual(lines.filter((l) => l !== 'Loading layer'), [`The image legacy/a:1 already exists, renaming the old one with ID ${other.id} to empty string`, 'Loaded image: legacy/a:1']);
  });

  it('refuses bad archives and leaves nothing', async () => {
    const good = await collect(saveArchive(src, resolveForSave(src, ['one/a:v1'])));
    const m = await members(good);
    const manifest = JSON.parse(m.get('manifest.json')!.toString()) as { Config: string; Layers: string[] }[];
    const cfg = m.get(manifest[0]!.Config)!;
    const cases: [string, Buffer, RegExp][] = [
      ['truncated', good.subarray(0, 1024 + 512), /invalid image archive|missing/],
      ['not a tar', Buffer.from('hello\n'.repeat(200)), /invalid image archive/],
      ['empty', Buffer.alloc(0), /invalid image archive: empty input/],
      ['no manifest', tarArchive([{ path: 'x', data: 'y' }]), /no manifest\.json or index\.json/],
      ['member outside', tarArchive([{ path: '../../etc/evil', data: 'x' }]), /points outside the archive/],
      ['config digest', tarArchive([
        { path: `blobs/sha256/${'0'.repeat(64)}`, data: cfg },
        { path: 'manifest.json', data: JSON.stringify([{ Config: `blobs/sha256/${'0'.repeat(64)}`, Layers: manifest[0]!.Layers }]) },
        { path: manifest[0]!.Layers[0]!, data: m.get(manifest[0]!.Layers[0]!)! },
      ]), /digest mismatch: config/],
      ['layer content', tarArchive([
        { path: manifest[0]!.Config, data: cfg },
        { path: 'manifest.json', data: JSON.stringify([{ Config: manifest[0]!.Config, Layers: ['other.tar'] }]) },
        { path: 'other.tar', data: layer('evil') },
      ]), /digest mismatch: layer other\.tar unpacks to/],
    ];
    for (const [what, input, re] of cases) {
      const dst = newStore();
      const before = entries(dst);
      await assert.rejects(loadArchive(dst, Readable.from(input.length ? [input] : [])), (e: Error & { code?: string }) => {
        assert.match(e.message, re, what);
        assert.equal(e.message.split('\n').length, 1);
        return true;
      }, what);
      assert.deepEqual(entries(dst), before, what);
      assert.deepEqual(dst.list(), [], what);
    }
  });
});

describe('layers without a kept blob (unpacked by an older tdock)', () => {
  it('save and push refuse them by name before sending anything; a load gives the blob back', async () => {
    scratch = mkdtempSync(join(tmpdir(), 'tdock-save-load-'));
    const s = newStore();
    const img = await s.importTar(Readable.from([layer('old')]), 'old/img:v1', { created: 0 });
    const tar = await collect(saveArchive(s, resolveForSave(s, ['old/img:v1'])));
    const dir = s.layerDirs(img.id)[0]!;
    rmSync(dir + '.blob');
    rmSync(dir + '.blob.json');
    assert.throws(() => saveArchive(s, resolveForSave(s, ['old/img:v1'])), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'FAILED_PRECONDITION');
      assert.match(e.message, new RegExp(`cannot save old/img:v1: layer ${img.layers[0]} was unpacked by an older tdock`));
      return true;
    });
    const { ImagePusher } = await import('../../images/push.ts');
    const lines: string[] = [];
    await assert.rejects(new ImagePusher(s).push('127.0.0.1:9/old/img:v1', { onProgress: (p) => lines.push(p.status) }), /No such image|does not exist locally/);
    s.tag(img.id, '127.0.0.1:9/old/img:v1');
    await assert.rejects(new ImagePusher(s).push('127.0.0.1:9/old/img:v1', { onProgress: (p) => lines.push(p.status) }), /cannot push 127\.0\.0\.1:9\/old\/img:v1: layer .* older tdock/);
    // loading the image again brings the blob back to the existing layer
    await loadArchive(s, Readable.from([tar]));
    assert.ok(s.layerBlob(img.layers[0]!));
    assert.ok(!entries(s).some((e) => e.startsWith('tmp-')));
    rmSync(scratch, { recursive: true, force: true });
  });
});
