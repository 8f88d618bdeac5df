// Registry pulls against a scripted registry (node:http on 127.0.0.1) for what a real
// registry never does on its own: blobs redirected to storage on another origin (our
// Authorization must not follow), connections closed mid-body (resumed with Range),
// a blob whose bytes do not match its digest, and a pull cancelled mid-download.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { openDb } from '../../daemon/store/db.ts';
import type { Db } from '../../daemon/store/db.ts';
import { ImageService } from '../../daemon/images.ts';
import { ImageStore } from '../../images/store.ts';
import { tarArchive } from '../../images/tar-writer.ts';
import { sha256 } from './registry-harness.ts';

const isRoot = process.getuid?.() === 0;
const SHIFT = { uid: 100000, gid: 100000, size: 65536 };

type Mode = 'ok' | 'flaky' | 'mismatch' | 'stall';

async function listen(s: Server): Promise<number> {
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return (s.address() as AddressInfo).port;
}

describe('registry pulls (scripted registry)', { skip: !isRoot && 'needs root' }, () => {
  let scratch = '';
  let n = 0;
  let mode: Mode = 'ok';
  const storageLog: { auth: string | undefined; range: string | undefined }[] = [];
  let registry: Server;
  let storage: Server;
  let host = '';
  // a layer big enough to be cut in the middle (random data does not compress)
  const payload = Buffer.alloc(3 << 20);
  for (let i = 0; i < payload.length; i += 4) payload.writeUInt32LE((Math.imul(i, 2654435761) ^ (i >>> 7)) >>> 0, i);
  const tar = tarArchive([{ path: 'data.bin', data: payload }, { path: 'etc/', type: 'dir' }, { path: 'etc/hostname', data: 'fake\n' }]);
  const blob = gzipSync(tar, { level: 1 });
  const blobDigest = sha256(blob);
  const config = JSON.stringify({ architecture: 'amd64', os: 'linux', created: '2024-01-01T00:00:00Z', config: { Cmd: ['/bin/true'] }, rootfs: { type: 'layers', diff_ids: [sha256(tar)] } });
  const configDigest = sha256(config);
  const manifest = JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
    config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: configDigest, size: Buffer.byteLength(config) },
    layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: blobDigest, size: blob.length }],
  });
  let flakyCuts = 0;
  // x/devs: one layer with what debootstrap leaves in /dev (char and block nodes, a FIFO)
  const devTar = tarArchive([
    { path: 'dev/', type: 'dir', mode: 0o755 },
    { path: 'dev/null', type: 'char', mode: 0o666, devmajor: 1, devminor: 3 },
    { path: 'dev/console', type: 'char', mode: 0o600, devmajor: 5, devminor: 1 },
    { path: 'dev/sda', type: 'block', mode: 0o660, gid: 6, devmajor: 8, devminor: 0 },
    { path: 'dev/initctl', type: 'fifo', mode: 0o600 },
    { path: 'dev/fd', type: 'symlink', linkpath: '/proc/self/fd' },
    { path: 'dev/pts/', type: 'dir', mode: 0o755 },
    { path: 'etc/', type: 'dir' },
    { path: 'etc/hostname', data: 'devs\n' },
  ]);
  const devBlob = gzipSync(devTar);
  const devConfig = JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/bin/true'] }, rootfs: { type: 'layers', diff_ids: [sha256(devTar)] } });
  const devManifest = JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
    config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: sha256(devConfig), size: Buffer.byteLength(devConfig) },
    layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: sha256(devBlob), size: devBlob.length }],
  });

  before(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'tdock-registry-fake-'));
    storage = createServer((req: IncomingMessage, res: ServerResponse) => {
      storageLog.push({ auth: req.headers.authorization, range: req.headers.range });
      // mismatch: the gzip header's mtime differs: still valid gzip of the same tar, other digest
      let body = mode === 'mismatch' ? Buffer.from(blob).fill(0x41, 4, 8) : blob;
      let start = 0;
      const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      if (m && mode !== 'mismatch') {
        start = Number(m[1]);
        res.writeHead(206, { 'content-length': body.length - start, 'content-range': `bytes ${start}-${body.length - 1}/${body.length}`, 'accept-ranges': 'bytes', etag: '"b1"' });
      } else {
        res.writeHead(200, { 'content-length': body.length, 'accept-ranges': 'bytes', etag: '"b1"' });
      }
      body = body.subarray(start);
      if (mode === 'flaky' && flakyCuts < 2) {
        flakyCuts++;
        // half of what is left, then the connection dies
        res.write(body.subarray(0, Math.floor(body.length / 2)), () => setTimeout(() => res.socket?.destroy(), 20));
        return;
      }
      if (mode === 'stall') {
        res.write(body.subarray(0, 256 * 1024)); // then nothing: the client cancels
        return;
      }
      res.end(body);
    });
    const storagePort = await listen(storage);
    registry = createServer((req: IncomingMessage, res: ServerResponse) => {
      const url = req.url ?? '';
      if (url.startsWith('/token')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ access_token: 'tok' }));
        return;
      }
      if (req.headers.authorization !== 'Bearer tok') {
        res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${host}/token",service="fake",scope="repository:x:pull"`, 'content-type': 'application/json' });
        res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
        return;
      }
      if (url === '/v2/') {
        res.end('{}');
      } else if (url === '/v2/x/devs/manifests/latest') {
        res.writeHead(200, { 'content-type': 'application/vnd.docker.distribution.manifest.v2+json', 'docker-content-digest': sha256(devManifest) });
        res.end(devManifest);
      } else if (url === `/v2/x/devs/blobs/${sha256(devConfig)}`) {
        res.end(devConfig);
      } else if (url === `/v2/x/devs/blobs/${sha256(devBlob)}`) {
        res.end(devBlob);
      } else if (url.endsWith('/manifests/latest')) {
        res.writeHead(200, { 'content-type': 'application/vnd.docker.distribution.manifest.v2+json', 'docker-content-digest': sha256(manifest) });
        res.end(manifest);
      } else if (url.endsWith(`/blobs/${configDigest}`)) {
        res.end(config);
      } else if (url.endsWith(`/blobs/${blobDigest}`)) {
        res.writeHead(307, { location: `http://localhost:${storagePort}/signed/${blobDigest}?sig=abc` });
        res.end();
      } else {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] }));
      }
    });
    host = `127.0.0.1:${await listen(registry)}`;
  });
  after(async () => {
    for (const s of [registry, storage]) {
      s?.closeAllConnections();
      await new Promise((r) => s?.close(r));
    }
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  function service(): { svc: ImageService; db: Db; root: string } {
    const root = join(scratch, `root-${n++}`);
    mkdirSync(root);
    const db = openDb(join(root, 'tdock.db'));
    return { svc: new ImageService(new ImageStore(db, root, SHIFT), () => false, { catalog: join(scratch, 'none.json'), retryDelay: 5 }), db, root };
  }
  const images = (db: Db) => (db.prepare('SELECT count(*) AS n FROM images').get() as { n: number }).n;
  const tmpLeft = (root: string) => readdirSync(join(root, 'layers')).filter((x) => x.startsWith('tmp-'));

  it('follows the blob redirect to another origin without our Authorization', async () => {
    mode = 'ok';
    storageLog.length = 0;
    const { svc, db } = service();
    const img = await svc.pull(`${host}/x/app`);
    assert.equal(readFileSync(join(svc.store.layerDirs(img.id)[0]!, 'etc/hostname'), 'utf8'), 'fake\n');
    assert.equal(storageLog.length, 1);
    assert.equal(storageLog[0]!.auth, undefined);
    db.close();
  });

  it('resumes a layer whose connection is closed mid-body (Range)', async () => {
    mode = 'flaky';
    flakyCuts = 0;
    storageLog.length = 0;
    const { svc, db } = service();
    const img = await svc.pull(`${host}/x/app`);
    assert.equal(readFileSync(join(svc.store.layerDirs(img.id)[0]!, 'data.bin')).equals(payload), true);
    assert.equal(storageLog.length, 3);
    assert.equal(storageLog[0]!.range, undefined);
    assert.match(storageLog[1]!.range ?? '', /^bytes=\d+-$/);
    db.close();
  });

  it('skips device nodes in layers, in pull and in import alike (as Docker and Podman do)', async () => {
    mode = 'ok';
    const { svc, db } = service();
    const pulled = await svc.pull(`${host}/x/devs`);
    const imported = await svc.importTar(Readable.from([devTar]), 'devs:imported', {});
    for (const id of [pulled.id, imported.id]) {
      const layer = svc.store.layerDirs(id)[0]!;
      assert.deepEqual(readdirSync(join(layer, 'dev')).sort(), ['fd', 'pts']);
      assert.equal(readlinkSync(join(layer, 'dev/fd')), '/proc/self/fd');
      assert.equal(readFileSync(join(layer, 'etc/hostname'), 'utf8'), 'devs\n');
    }
    // the same tar: one layer, shared
    assert.deepEqual(svc.store.layerDirs(pulled.id), svc.store.layerDirs(imported.id));
    db.close();
  });

  it('refuses a blob whose bytes do not match its digest', async () => {
    mode = 'mismatch';
    const { svc, db, root } = service();
    await assert.rejects(svc.pull(`${host}/x/app`), /digest mismatch: layer sha256:[a-f0-9]+ .* arrived as sha256:/);
    assert.equal(images(db), 0);
    assert.deepEqual(tmpLeft(root), []);
    db.close();
  });

  it('cancels a pull mid-download: nothing recorded, no partial layer left', async () => {
    mode = 'stall';
    const { svc, db, root } = service();
    const ac = new AbortController();
    const p = svc.pull(`${host}/x/app`, (e) => {
      if (e.status === 'Downloading' && e.current > 0) ac.abort();
    }, { signal: ac.signal });
    await assert.rejects(p, /cancelled/);
    assert.equal(images(db), 0);
    assert.deepEqual(tmpLeft(root), []);
    assert.deepEqual(readdirSync(join(root, 'layers')), []);
    db.close();
  });
});
