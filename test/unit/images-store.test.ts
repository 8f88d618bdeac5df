// ImageStore: import (dedupe, digest check, atomicity), resolve, list, remove, inspect.
// Needs root (layers are chowned into the subordinate range); skipped otherwise.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, beforeEach, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { openDb } from '../../daemon/store/db.ts';
import type { Db } from '../../daemon/store/db.ts';
import { ImageStore } from '../../images/store.ts';
import { tarArchive } from '../../images/tar-writer.ts';

const isRoot = process.getuid?.() === 0;
// Without root the one shift chown allows, onto ourselves (the layers here are all
// owned by 0, so a range of 1 id holds them).
const SHIFT = isRoot ? { uid: 100000, gid: 100000, size: 65536 } : { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, size: 1 };
const CREATED = '2024-01-02T03:04:05Z';

let scratch = '';
let n = 0;
let root = '';
let db: Db;
let store: ImageStore;

before(() => {
  scratch = mkdtempSync(join(tmpdir(), 'tdock-images-store-'));
});
after(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});
beforeEach(() => {
  db?.close();
  root = join(scratch, `root-${n++}`);
  mkdirSync(root);
  db = openDb(join(root, 'tdock.db'));
  store = new ImageStore(db, root, SHIFT);
});

const layerTar = (tag: string) => tarArchive([
  { path: 'bin/', type: 'dir' },
  { path: 'bin/hello', data: `hello ${tag}\n`, mode: 0o755 },
  { path: 'etc/.wh.gone', data: '' },
]);

const src = (b: Buffer) => Readable.from([b]);

function counts(): Record<string, number> {
  const c: Record<string, number> = {};
  for (const t of ['layers', 'images', 'image_layers', 'tags']) {
    c[t] = (db.prepare(`SELECT count(*) AS n FROM ${t}`).get() as { n: number }).n;
  }
  return c;
}

const layerEntries = () => readdirSync(join(root, 'layers')).sort();

describe('ImageStore', () => {
  it('imports a tar: layer dir, rows, OCI config, image id = sha256(config)', async () => {
    const tar = layerTar('a');
    const seen: number[] = [];
    const rec = await store.importTar(src(tar), 'app:1.0', {
      config: { Cmd: ['sh'], Env: ['PATH=/bin'], WorkingDir: '/w', User: '1:2', ExposedPorts: { '80/tcp': {} }, Entrypoint: ['/e'] },
      created: CREATED,
      onProgress: (b) => seen.push(b),
    });
    const diffId = 'sha256:' + createHash('sha256').update(tar).digest('hex');
    assert.deepEqual(rec.layers, [diffId]);
    assert.deepEqual(rec.repoTags, ['app:1.0']);
    assert.equal(rec.created, Date.parse(CREATED));
    assert.equal(rec.size, 'hello a\n'.length);
    assert.equal(seen.at(-1), tar.length);
    const json = (db.prepare('SELECT config FROM images WHERE id = ?').get(rec.id) as { config: string }).config;
    assert.equal(rec.id, 'sha256:' + createHash('sha256').update(json).digest('hex'));
    assert.deepEqual(JSON.parse(json), {
      created: CREATED,
      architecture: rec.config.architecture,
      os: 'linux',
      config: { User: '1:2', ExposedPorts: { '80/tcp': {} }, Env: ['PATH=/bin'], Entrypoint: ['/e'], Cmd: ['sh'], WorkingDir: '/w' },
      rootfs: { type: 'layers', diff_ids: [diffId] },
    });
    const dir = join(root, 'layers', diffId.slice(7));
    assert.deepEqual(store.layerDirs(rec.id), [dir]);
    assert.equal(readFileSync(join(dir, 'bin/hello'), 'utf8'), 'hello a\n');
    assert.equal(statSync(join(dir, 'bin/hello')).uid, SHIFT.uid);
    assert.deepEqual(JSON.parse(readFileSync(dir + '.whiteouts.json', 'utf8')), [{ path: 'etc/gone', kind: 'whiteout' }]);
    const hex = diffId.slice(7);
    assert.deepEqual(layerEntries(), [hex, hex + '.blob', hex + '.blob.json', hex + '.whiteouts.json']);
    // the layer keeps the bytes it arrived as (for save and push)
    assert.equal(createHash('sha256').update(readFileSync(dir + '.blob')).digest('hex'), hex);
    assert.deepEqual(store.layerBlob(diffId)?.info, { digest: diffId, size: readFileSync(dir + '.blob').length, compression: 'none', tarSize: readFileSync(dir + '.blob').length, sources: [] });
    assert.deepEqual(counts(), { layers: 1, images: 1, image_layers: 1, tags: 1 });
    assert.deepEqual(store.config(rec.id), rec.config);
  });

  it('unpacks identical layers once and shares them; the same tar + config gives the same id', async () => {
    const tar = layerTar('shared');
    const a = await store.importTar(src(tar), 'a', { config: { Cmd: ['a'] }, created: CREATED });
    const b = await store.importTar(src(gzipSync(tar)), 'b', { config: { Cmd: ['b'] }, created: CREATED });
    const a2 = await store.importTar(src(tar), 'a2', { config: { Cmd: ['a'] }, created: CREATED });
    assert.notEqual(a.id, b.id);
    assert.equal(a2.id, a.id);
    assert.deepEqual(a.layers, b.layers);
    assert.deepEqual(store.layerDirs(a.id), store.layerDirs(b.id));
    assert.equal(layerEntries().filter((e) => !e.endsWith('.json') && !e.endsWith('.blob')).length, 1);
    assert.deepEqual(counts(), { layers: 1, images: 2, image_layers: 2, tags: 3 });
    assert.deepEqual(store.resolve('a2')!.repoTags, ['a:latest', 'a2:latest']);

    // removing one image keeps the shared layer; removing the last one deletes it
    assert.deepEqual(await store.remove('b'), { untagged: ['b:latest'], deleted: [b.id] });
    assert.equal(existsSync(store.layerDirs(a.id)[0]!), true);
    await store.remove(a.id, { force: true });
    assert.deepEqual(counts(), { layers: 0, images: 0, image_layers: 0, tags: 0 });
    assert.deepEqual(layerEntries(), []);
  });

  it('concurrent imports of the same layer share one directory', async () => {
    const tar = layerTar('conc');
    const recs = await Promise.all([0, 1, 2, 3].map((i) => store.importTar(src(i % 2 ? gzipSync(tar) : tar), `c:${i}`, { config: { Cmd: [String(i)] } })));
    assert.equal(new Set(recs.map((r) => r.id)).size, 4);
    assert.equal(new Set(recs.map((r) => store.layerDirs(r.id)[0])).size, 1);
    assert.deepEqual(counts(), { layers: 1, images: 4, image_layers: 4, tags: 4 });
    assert.equal(layerEntries().filter((e) => e.startsWith('tmp-')).length, 0);
  });

  it('verifies the sha256 of the input as given (compressed or not)', async () => {
    const tar = layerTar('d');
    const gz = gzipSync(tar);
    const hex = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    await store.importTar(src(gz), 'ok:gz', { sha256: 'sha256:' + hex(gz) });
    await store.importTar(src(tar), 'ok:plain', { sha256: hex(tar).toUpperCase() });
    const wrong = 'sha256:' + '0'.repeat(64);
    await assert.rejects(store.importTar(src(gz), 'bad', { sha256: wrong }), (e: Error & { code?: string }) => {
      assert.equal(e.message, `import rejected: sha256 mismatch: expected ${wrong}, got sha256:${hex(gz)}`);
      assert.equal(e.code, 'INVALID_ARGUMENT');
      return true;
    });
    await assert.rejects(store.importTar(src(gz), 'bad', { sha256: 'abc' }), /invalid sha256 "abc"/);
    assert.equal(store.resolve('bad'), undefined);
    assert.equal(layerEntries().filter((e) => e.startsWith('tmp-')).length, 0);
    assert.deepEqual(counts(), { layers: 1, images: 2, image_layers: 2, tags: 2 });
  });

  it('a failed import leaves no rows and no tmp dirs', async () => {
    const hostile = tarArchive([{ path: 'ok', data: 'x' }, { path: '../../escape', data: 'x' }]);
    await assert.rejects(store.importTar(src(hostile), 'evil'), /layer rejected: entry "..\/..\/escape" escapes the root/);
    const gz = gzipSync(layerTar('t'));
    await assert.rejects(store.importTar(src(gz.subarray(0, gz.length - 8)), 'trunc'), /layer rejected: bad gzip data/);
    await assert.rejects(store.importTar(src(layerTar('x')), 'Upper:case'), /repository name must be lowercase/);
    await assert.rejects(store.importTar(src(layerTar('x')), 'x@sha256:' + 'a'.repeat(64)), /cannot tag an import with a digest/);
    assert.deepEqual(counts(), { layers: 0, images: 0, image_layers: 0, tags: 0 });
    assert.deepEqual(layerEntries(), []);
    assert.equal(existsSync(join(scratch, 'escape')), false);
  });

  it('a layer over maxLayerSize is refused with no row, no tmp dir and no layer dir', async () => {
    const small = new ImageStore(db, root, SHIFT, { maxLayerSize: 1 << 20 });
    const bomb = gzipSync(tarArchive([{ path: 'zeros', data: Buffer.alloc(16 << 20) }]), { level: 9 });
    assert.ok(bomb.length < 64 << 10);
    await assert.rejects(small.importTar(src(bomb), 'bomb'), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'RESOURCE_EXHAUSTED');
      assert.match(e.message, /^layer rejected: it unpacks to more than 1 MiB, the daemon's limit per layer \(tdockd --max-layer-size\)$/);
      return true;
    });
    assert.deepEqual(counts(), { layers: 0, images: 0, image_layers: 0, tags: 0 });
    assert.deepEqual(layerEntries(), []);
    assert.equal(store.maxLayerSize, 16 * 2 ** 30, 'the default');
  });

  it('commitImage refuses more than 127 layers (Docker\'s cap)', () => {
    const layers = Array.from({ length: 128 }, () => ({ diffId: 'sha256:' + 'a'.repeat(64) }));
    const config = JSON.stringify({ rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) } });
    assert.throws(() => store.commitImage(layers, config), /^Error: max depth exceeded: the image has 128 layers, at most 127 are supported/);
    assert.deepEqual(counts(), { layers: 0, images: 0, image_layers: 0, tags: 0 });
  });

  it('resolves by name, name:tag, full id, bare hex, unique prefix and name@id', async () => {
    const a = await store.importTar(src(layerTar('r')), 'registry.local:5000/ns/app:v1', { created: CREATED });
    const b = await store.importTar(src(layerTar('s')), 'docker.io/library/busybox', { created: CREATED });
    const hex = a.id.slice(7);
    assert.equal(store.resolve('registry.local:5000/ns/app:v1')!.id, a.id);
    assert.equal(store.resolve('busybox')!.id, b.id);
    assert.equal(store.resolve('busybox:latest')!.id, b.id);
    assert.equal(store.resolve('docker.io/library/busybox:latest')!.id, b.id);
    assert.equal(store.resolve(a.id)!.id, a.id);
    assert.equal(store.resolve(hex)!.id, a.id);
    // the shortest prefix that tells a and b apart
    let k = 1;
    while (hex.slice(0, k) === b.id.slice(7, 7 + k)) k++;
    assert.equal(store.resolve(hex.slice(0, k))!.id, a.id);
    assert.equal(store.resolve('sha256:' + hex.slice(0, 12))!.id, a.id);
    assert.equal(store.resolve(`registry.local:5000/ns/app@${a.id}`)!.id, a.id);
    assert.equal(store.resolve('registry.local:5000/ns/app:v2'), undefined);
    assert.equal(store.resolve('nothere'), undefined);
    assert.equal(store.resolve('sha256:' + 'f'.repeat(64)), undefined);
    assert.throws(() => store.resolve('BAD'), /invalid reference format "BAD": repository name must be lowercase/);
  });

  it('refuses an ambiguous id prefix', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 17; i++) ids.push((await store.importTar(src(layerTar('amb')), `amb:${i}`, { config: { Cmd: [String(i)] } })).id);
    const firsts = ids.map((id) => id[7]!);
    const dup = firsts.find((c, i) => firsts.indexOf(c) !== i)!;
    assert.throws(() => store.resolve('sha256:' + dup), (e: Error & { code?: string }) => e.code === 'INVALID_ARGUMENT' && /ambiguous/.test(e.message));
  });

  it('lists one row per tag, newest first, dangling images as <none>', async () => {
    const old = await store.importTar(src(layerTar('old')), 'web:1', { created: '2020-01-01T00:00:00Z' });
    store.tag('web:1', 'web:stable');
    const neu = await store.importTar(src(layerTar('new')), 'web:1', { created: '2021-01-01T00:00:00Z' });
    await store.importTar(src(layerTar('x')), 'web:stable', { created: '2022-01-01T00:00:00Z' });
    // web:1 and web:stable moved away from `old`: it stays, dangling
    const rows = store.list();
    assert.deepEqual(rows.map((r) => [r.repository, r.tag, r.id === old.id ? 'old' : r.id === neu.id ? 'new' : 'x']), [
      ['web', 'stable', 'x'],
      ['web', '1', 'new'],
      ['<none>', '<none>', 'old'],
    ]);
    assert.equal(rows[2]!.created, Date.parse('2020-01-01T00:00:00Z'));
    assert.equal(rows[2]!.size, 'hello old\n'.length);
    // prune deletes the dangling image and its layer
    const layer = store.layerDirs(old.id)[0]!;
    const p = await store.prune({ inUse: () => false });
    assert.deepEqual(p, { deleted: [old.id], reclaimed: 'hello old\n'.length, untagged: new Map() });
    assert.equal(existsSync(layer), false);
    assert.equal(store.list().length, 2);
  });

  it('removes: untag only while other tags remain, refuses in-use images, NOT_FOUND for unknown', async () => {
    const img = await store.importTar(src(layerTar('rm')), 'rm:1', { created: CREATED });
    store.tag('rm:1', 'rm:2');
    assert.deepEqual(await store.remove('rm:2', { inUse: () => true }), { untagged: ['rm:2'], deleted: [] });

    await assert.rejects(store.remove('rm:1', { inUse: (id) => id === img.id }), (e: Error & { code?: string }) => {
      assert.equal(e.message, 'image is in use by a container; stop and remove it or use -f');
      assert.equal(e.code, 'FAILED_PRECONDITION');
      return true;
    });
    assert.equal(store.resolve('rm:1')!.id, img.id);

    // forced while in use: untagged, the image (and its layer) stays for the container
    assert.deepEqual(await store.remove('rm:1', { force: true, inUse: () => true }), { untagged: ['rm:1'], deleted: [] });
    assert.equal(store.resolve(img.id)!.repoTags.length, 0);
    assert.equal(existsSync(store.layerDirs(img.id)[0]!), true);

    // by id, not in use: deleted with its layer
    const dir = store.layerDirs(img.id)[0]!;
    assert.deepEqual(await store.remove(img.id.slice(7, 19)), { untagged: [], deleted: [img.id] });
    assert.equal(existsSync(dir), false);
    assert.equal(existsSync(dir + '.whiteouts.json'), false);
    assert.deepEqual(counts(), { layers: 0, images: 0, image_layers: 0, tags: 0 });

    await assert.rejects(store.remove('nothere:1'), (e: Error & { code?: string }) => e.code === 'NOT_FOUND' && e.message === 'No such image: nothere:1');
  });

  it('needs force to remove by id an image with several tags', async () => {
    const img = await store.importTar(src(layerTar('multi')), 'm:1', { created: CREATED });
    store.tag('m:1', 'other/m:2');
    await assert.rejects(store.remove(img.id), (e: Error & { code?: string }) => e.code === 'FAILED_PRECONDITION' && /referenced in multiple repositories/.test(e.message));
    assert.deepEqual(await store.remove(img.id, { force: true }), { untagged: ['m:1', 'other/m:2'], deleted: [img.id] });
  });

  it('inspect returns a Docker-shaped object', async () => {
    const img = await store.importTar(src(layerTar('i')), 'insp', { config: { Cmd: ['sh'] }, created: CREATED });
    const i = store.inspect('insp');
    assert.equal(i.Id, img.id);
    assert.deepEqual(i.RepoTags, ['insp:latest']);
    assert.equal(i.Created, CREATED);
    assert.equal(i.Os, 'linux');
    assert.deepEqual(i.Config, { Cmd: ['sh'] });
    assert.deepEqual(i.RootFS, { Type: 'layers', Layers: img.layers });
    assert.equal(i.Size, img.size);
    assert.throws(() => store.inspect('nope'), (e: Error & { code?: string }) => e.code === 'NOT_FOUND');
  });

  it('layerDirs lists the top-most layer first', async () => {
    const a = await store.importTar(src(layerTar('bottom')), 'l1', { created: CREATED });
    const b = await store.importTar(src(layerTar('top')), 'l2', { created: CREATED });
    // a two-layer image, recorded by hand (multi-layer import comes with pull)
    db.prepare("INSERT INTO images (id, config, size, created) VALUES ('sha256:two', '{}', 0, 0)").run();
    db.prepare("INSERT INTO image_layers (image_id, idx, diff_id) VALUES ('sha256:two', 0, ?), ('sha256:two', 1, ?)").run(a.layers[0], b.layers[0]);
    assert.deepEqual(store.layerDirs('sha256:two'), [store.layerDirs(b.id)[0], store.layerDirs(a.id)[0]]);
  });

  it('cleanup removes leftovers of interrupted imports and removals', async () => {
    const img = await store.importTar(src(layerTar('keep')), 'keep', { created: CREATED });
    mkdirSync(join(root, 'layers', 'tmp-deadbeef', 'x'), { recursive: true });
    mkdirSync(join(root, 'layers', 'tmp-del-cafe'));
    mkdirSync(join(root, 'layers', 'a'.repeat(64)));
    writeFileSync(join(root, 'layers', 'b'.repeat(64) + '.blob'), 'orphan');
    writeFileSync(join(root, 'layers', 'b'.repeat(64) + '.blob.json'), '{}');
    const removed = await store.cleanup();
    assert.equal(removed.length, 5);
    const hex = img.layers[0]!.slice(7);
    assert.deepEqual(layerEntries().filter((e) => !e.endsWith('.whiteouts.json')), [hex, hex + '.blob', hex + '.blob.json']);
  });

  it('replaces an orphaned layer dir (no row) instead of trusting it', async () => {
    const tar = layerTar('orphan');
    const hex = createHash('sha256').update(tar).digest('hex');
    mkdirSync(join(root, 'layers', hex)); // e.g. left by a crash: empty
    const img = await store.importTar(src(tar), 'orph', { created: CREATED });
    assert.equal(readFileSync(join(store.layerDirs(img.id)[0]!, 'bin/hello'), 'utf8'), 'hello orphan\n');
  });
});
