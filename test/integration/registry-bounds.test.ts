// Pulls are bounded (DESIGN.md "Security model"): an image of more layers than Docker's
// cap (127) is refused before anything is downloaded, and a layer that unpacks to more
// than the daemon's --max-layer-size is stopped when it gets there; neither leaves a
// layer, a tmp dir or a row. A scripted registry on 127.0.0.1 serves the images; the
// daemon's flag is checked end to end through the CLI.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { openDb } from '../../daemon/store/db.ts';
import type { Db } from '../../daemon/store/db.ts';
import { ImageService } from '../../daemon/images.ts';
import { ImageStore } from '../../images/store.ts';
import { tarArchive, tarEntry } from '../../images/tar-writer.ts';
import { TestDaemon } from '../helpers/daemon.ts';
import { sha256 } from './registry-harness.ts';

const SHIFT = { uid: 100000, gid: 100000, size: 65536 };
const LAYER_MT = 'application/vnd.oci.image.layer.v1.tar+gzip';

interface Image { manifest: string; blobs: Map<string, Buffer> }

/** An OCI image whose layers are the given blobs (with their diff_ids), in order. */
function image(layers: { blob: Buffer; diffId: string }[]): Image {
  const config = JSON.stringify({
    architecture: 'amd64', os: 'linux', created: '2024-01-01T00:00:00Z', config: { Cmd: ['/bin/true'] },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
  });
  const blobs = new Map<string, Buffer>([[sha256(config), Buffer.from(config)]]);
  for (const l of layers) blobs.set(sha256(l.blob), l.blob);
  const manifest = JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: Buffer.byteLength(config) },
    layers: layers.map((l) => ({ mediaType: LAYER_MT, digest: sha256(l.blob), size: l.blob.length })),
  });
  return { manifest, blobs };
}

describe('bounded pulls: layer count and unpacked size', () => {
  let scratch = '';
  let n = 0;
  let registry: Server;
  let host = '';
  const blobRequests: string[] = [];
  const images = new Map<string, Image>();

  // A real small layer, repeated: 127 of it is the most an image may have.
  const tar = tarArchive([{ path: 'etc/', type: 'dir' }, { path: 'etc/hostname', data: 'small\n' }]);
  const small = { blob: gzipSync(tar), diffId: sha256(tar) };
  // 5000 layers that do not exist: the pull must stop before asking for any of them.
  const fake = Array.from({ length: 5000 }, (_, i) => ({ blob: Buffer.from(`layer ${i}`), diffId: sha256(`diff ${i}`) }));
  // 256 MiB of zeros in one file from ~260 KiB of gzip (concatenated members).
  const mib = gzipSync(Buffer.alloc(1 << 20), { level: 9 });
  const bomb = { blob: Buffer.concat([gzipSync(tarEntry({ path: 'zeros', size: 256 << 20 })), ...Array.from({ length: 256 }, () => mib)]), diffId: sha256('bomb') };

  before(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'tdock-registry-bounds-'));
    images.set('deep', image(fake));
    images.set('deep127', image(Array.from({ length: 127 }, () => small)));
    images.set('deep128', image(Array.from({ length: 128 }, () => small)));
    images.set('bomb', image([small, bomb]));
    registry = createServer((req: IncomingMessage, res: ServerResponse) => {
      const url = req.url ?? '';
      const m = /^\/v2\/x\/([^/]+)\/(manifests|blobs)\/(.+)$/.exec(url);
      const img = m ? images.get(m[1]!) : undefined;
      if (url === '/v2/') {
        res.end('{}');
      } else if (img && m![2] === 'manifests') {
        res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'docker-content-digest': sha256(img.manifest) });
        res.end(img.manifest);
      } else if (img && img.blobs.has(m![3]!)) {
        blobRequests.push(`${m![1]} ${m![3]}`);
        res.end(img.blobs.get(m![3]!));
      } else {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ errors: [{ code: 'BLOB_UNKNOWN', message: 'unknown' }] }));
      }
    });
    await new Promise<void>((r) => registry.listen(0, '127.0.0.1', r));
    host = `127.0.0.1:${(registry.address() as AddressInfo).port}`;
  });
  after(async () => {
    registry?.closeAllConnections();
    await new Promise((r) => registry?.close(r));
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  function service(maxLayerSize?: number): { svc: ImageService; db: Db; root: string } {
    const root = join(scratch, `root-${n++}`);
    mkdirSync(root);
    const db = openDb(join(root, 'tdock.db'));
    const store = new ImageStore(db, root, SHIFT, maxLayerSize ? { maxLayerSize } : {});
    return { svc: new ImageService(store, () => false, { catalog: join(scratch, 'none.json'), retryDelay: 5 }), db, root };
  }
  const rows = (db: Db) => ['images', 'layers', 'image_layers', 'tags'].map((t) => (db.prepare(`SELECT count(*) AS n FROM ${t}`).get() as { n: number }).n);

  it('refuses an image of 5000 layers before any download, leaving nothing', async () => {
    const { svc, db, root } = service();
    blobRequests.length = 0;
    await assert.rejects(svc.pull(`${host}/x/deep`), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'INVALID_ARGUMENT');
      assert.equal(e.message, `max depth exceeded: ${host}/x/deep:latest has 5000 layers, at most 127 are supported; use an image with fewer layers (squash it)`);
      return true;
    });
    assert.deepEqual(blobRequests, [], 'nothing was downloaded');
    assert.deepEqual(rows(db), [0, 0, 0, 0]);
    assert.deepEqual(readdirSync(join(root, 'layers')), []);
    // One over the cap: refused the same way; at the cap: pulled.
    await assert.rejects(svc.pull(`${host}/x/deep128`), /has 128 layers, at most 127/);
    const img = await svc.pull(`${host}/x/deep127`);
    assert.equal(svc.store.record(img.id)?.layers.length, 127);
    db.close();
  });

  it('stops a layer that unpacks past the limit, leaving no layer, tmp dir or row', async () => {
    const { svc, db, root } = service(16 << 20);
    await assert.rejects(svc.pull(`${host}/x/bomb`), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'RESOURCE_EXHAUSTED');
      assert.equal(e.message, `layer rejected: it unpacks to more than 16 MiB, the daemon's limit per layer (tdockd --max-layer-size) (layer ${sha256(bomb.blob)})`);
      return true;
    });
    assert.deepEqual(rows(db), [0, 0, 0, 0]);
    assert.deepEqual(readdirSync(join(root, 'layers')), []);
    db.close();
  });

  it('tdockd --max-layer-size: the CLI gets the one-line refusal, the daemon keeps nothing', async () => {
    const d = new TestDaemon({ args: ['--max-layer-size', '16m'] });
    try {
      await d.start();
      const r = await d.cli(['pull', `${host}/x/bomb`]);
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stderr, `Error: layer rejected: it unpacks to more than 16 MiB, the daemon's limit per layer (tdockd --max-layer-size) (layer ${sha256(bomb.blob)})\n`);
      const deep = await d.cli(['pull', `${host}/x/deep`]);
      assert.equal(deep.code, 1);
      assert.match(deep.stderr, /^Error: max depth exceeded: .* has 5000 layers, at most 127 are supported/);
      assert.equal((await d.ok(['images', '-q'])).trim(), '');
      assert.deepEqual(readdirSync(join(d.root, 'layers')), []);
    } finally {
      await d.cleanup();
    }
  });
});
