// Catalog pulls and `import URL` against a local HTTP server: the catalog served over
// http (as `--catalog` would point at it), checksum files beside the tarballs, servers
// that close connections mid-body (with and without Range support), 404s, and a server
// that is not there. The daemon never crashes: each failure is a clear rejected promise.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
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
import { ImageStore, ociArchitecture } from '../../images/store.ts';
import { tarArchive } from '../../images/tar-writer.ts';
import type { PullProgress } from '../../proto/api.ts';
import { freePort } from './registry-harness.ts';

const isRoot = process.getuid?.() === 0;
const SHIFT = { uid: 100000, gid: 100000, size: 65536 };

describe('catalog pulls and import from URLs', { skip: !isRoot && 'needs root' }, () => {
  let scratch = '';
  let server: Server;
  let base = '';
  let n = 0;
  const hits = new Map<string, number>();
  const noise = Buffer.alloc(1 << 20);
  for (let i = 0; i < noise.length; i += 4) noise.writeUInt32LE((Math.imul(i, 2246822519) ^ (i >>> 5)) >>> 0, i);
  const tgz = gzipSync(tarArchive([
    { path: 'bin/', type: 'dir' },
    { path: 'bin/sh', data: '#!/bin/true\n', mode: 0o755 },
    { path: 'etc/', type: 'dir' },
    { path: 'etc/alpine-release', data: '3.21.3\n' },
    { path: 'lib/', type: 'dir' },
    { path: 'lib/blob', data: noise },
  ]));
  const hex = createHash('sha256').update(tgz).digest('hex');
  const arch = ociArchitecture();
  const catalog = {
    version: 1,
    images: {
      alpine: {
        aliases: { latest: '3.21' },
        tags: {
          '3.21': {
            platforms: { [arch]: { url: 'files/alpine-minirootfs.tar.gz', checksumUrl: 'files/alpine-minirootfs.tar.gz.sha256' } },
            config: { Env: ['PATH=/bin'], Cmd: ['/bin/sh'] },
            created: '2025-02-14T00:00:00Z',
          },
        },
      },
      badsum: { tags: { latest: { platforms: { [arch]: { url: 'files/alpine-minirootfs.tar.gz', sha256: '0'.repeat(64) } } } } },
      nosum: { tags: { latest: { platforms: { [arch]: { url: 'files/alpine-minirootfs.tar.gz', checksumUrl: 'files/missing.sha256' } } } } },
      otherarch: { tags: { latest: { platforms: { s390x: { url: 'x.tar.gz', sha256: '1'.repeat(64) } } } } },
    },
  };

  function send(req: IncomingMessage, res: ServerResponse, body: Buffer, opts: { ranges: boolean; cut: boolean }): void {
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    let start = 0;
    if (m && opts.ranges) {
      start = Number(m[1]);
      res.writeHead(206, { 'content-length': body.length - start, 'content-range': `bytes ${start}-${body.length - 1}/${body.length}`, 'accept-ranges': 'bytes', 'last-modified': 'Fri, 14 Feb 2025 00:00:00 GMT' });
    } else {
      res.writeHead(200, { 'content-length': body.length, ...(opts.ranges ? { 'accept-ranges': 'bytes' } : {}), 'last-modified': 'Fri, 14 Feb 2025 00:00:00 GMT' });
    }
    const rest = body.subarray(start);
    if (opts.cut) {
      res.write(rest.subarray(0, Math.min(rest.length - 1, 300_000)), () => setTimeout(() => res.socket?.destroy(), 10));
      return;
    }
    res.end(rest);
  }

  before(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'tdock-images-pull-'));
    server = createServer((req, res) => {
      const path = (req.url ?? '').split('?')[0]!;
      const count = (hits.get(path) ?? 0) + 1;
      hits.set(path, count);
      if (path === '/catalog.json') return void res.end(JSON.stringify(catalog));
      if (path === '/files/alpine-minirootfs.tar.gz.sha256') return void res.end(`${hex}  alpine-minirootfs.tar.gz\n`);
      if (path === '/files/alpine-minirootfs.tar.gz') return send(req, res, tgz, { ranges: true, cut: false });
      if (path === '/flaky/rootfs.tar.gz') return send(req, res, tgz, { ranges: true, cut: count <= 2 });
      if (path === '/norange/rootfs.tar.gz') return send(req, res, tgz, { ranges: false, cut: count <= 1 });
      if (path === '/broken/rootfs.tar.gz') return send(req, res, tgz, { ranges: true, cut: true });
      res.writeHead(404);
      res.end('not found');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  function service(): { svc: ImageService; db: Db; root: string } {
    const root = join(scratch, `root-${n++}`);
    mkdirSync(root);
    const db = openDb(join(root, 'tdock.db'));
    return { svc: new ImageService(new ImageStore(db, root, SHIFT), () => false, { catalog: `${base}/catalog.json`, retryDelay: 5 }), db, root };
  }
  const count = (db: Db) => (db.prepare('SELECT count(*) AS n FROM images').get() as { n: number }).n;
  const tmpLeft = (root: string) => readdirSync(join(root, 'layers')).filter((x) => x.startsWith('tmp-'));

  it('pulls a catalog name, verified against the .sha256 beside it; a second pull is up to date', async () => {
    const { svc, db } = service();
    const events: PullProgress[] = [];
    const img = await svc.pull('alpine', (p) => events.push(p));
    assert.equal(readFileSync(join(svc.store.layerDirs(img.id)[0]!, 'etc/alpine-release'), 'utf8'), '3.21.3\n');
    assert.deepEqual(svc.store.resolve('alpine:latest')?.repoTags, ['alpine:3.21', 'alpine:latest']);
    assert.deepEqual((await svc.ensure('alpine:3.21')).config.Cmd, ['/bin/sh']);
    assert.ok(events.some((e) => e.status === 'Pull complete' && e.total === tgz.length));
    const again: PullProgress[] = [];
    assert.equal((await svc.pull('alpine:3.21', (p) => again.push(p))).id, img.id);
    assert.ok(again.some((e) => /up to date/.test(e.status)));
    db.close();
  });

  it('refuses a checksum mismatch, a missing checksum, an unknown tag and a missing platform', async () => {
    const { svc, db, root } = service();
    await assert.rejects(svc.pull('badsum'), /digest mismatch: .*alpine-minirootfs\.tar\.gz: expected sha256:0{64}, got sha256:/);
    await assert.rejects(svc.pull('nosum'), /checksum file .*missing\.sha256 not found/);
    await assert.rejects(svc.pull('alpine:9.9'), (e: Error & { code?: string }) => e.code === 'NOT_FOUND' && /no such tag: alpine:9\.9 is not in the image catalog \(known tags: 3\.21, latest\)/.test(e.message));
    await assert.rejects(svc.pull('otherarch'), /no matching platform: the catalog has otherarch:latest for linux\/s390x/);
    assert.equal(count(db), 0);
    assert.deepEqual(tmpLeft(root), []);
    db.close();
  });

  it('imports from a URL: sha256 checked, resumes a cut connection with or without Range', async () => {
    const { svc, db } = service();
    const a = await svc.importUrl(`${base}/files/alpine-minirootfs.tar.gz`, 'mine:1', { sha256: hex });
    assert.deepEqual(a.repoTags, ['mine:1']);
    await assert.rejects(svc.importUrl(`${base}/files/alpine-minirootfs.tar.gz`, 'mine:2', { sha256: 'f'.repeat(64) }), /digest mismatch/);
    hits.clear();
    const b = await svc.importUrl(`${base}/flaky/rootfs.tar.gz`, 'mine:flaky', { sha256: hex });
    assert.equal(hits.get('/flaky/rootfs.tar.gz'), 3);
    assert.equal(readFileSync(join(svc.store.layerDirs(b.id)[0]!, 'lib/blob')).equals(noise), true);
    const c = await svc.importUrl(`${base}/norange/rootfs.tar.gz`, 'mine:norange', { sha256: hex });
    assert.equal(hits.get('/norange/rootfs.tar.gz'), 2);
    assert.deepEqual(svc.store.layerDirs(c.id), svc.store.layerDirs(b.id));
    // import -c/-m of a URL: the change in the config, the message (else the URL) in the history
    const m = await svc.importUrl(`${base}/files/alpine-minirootfs.tar.gz`, 'mine:msg', { sha256: hex, changes: ['CMD ["sh"]'], message: 'from url' });
    const doc = m.config as typeof m.config & { history?: { comment?: string }[] };
    assert.deepEqual(doc.config.Cmd, ['sh']);
    assert.equal(doc.history?.[0]?.comment, 'from url');
    db.close();
  });

  it('fails cleanly: a server that always cuts, a 404, a server that is not there', async () => {
    const { svc, db, root } = service();
    await assert.rejects(svc.importUrl(`${base}/broken/rootfs.tar.gz`, 'x:1'), (e: Error & { code?: string }) => e.code === 'FAILED_PRECONDITION' && /transfer failed after \d+ of \d+ bytes/.test(e.message));
    await assert.rejects(svc.importUrl(`${base}/nothing.tar.gz`, 'x:2'), (e: Error & { code?: string }) => e.code === 'NOT_FOUND' && /not found on the server \(404\)/.test(e.message));
    const dead = await freePort();
    await assert.rejects(svc.importUrl(`http://127.0.0.1:${dead}/r.tar.gz`, 'x:3'), (e: Error & { code?: string }) => e.code === 'FAILED_PRECONDITION' && /server unreachable: 127\.0\.0\.1:\d+: .*ECONNREFUSED/.test(e.message));
    await assert.rejects(svc.importUrl('ftp://example.org/x.tar', 'x:4'), /unsupported URL scheme ftp:/);
    assert.equal(count(db), 0);
    assert.deepEqual(tmpLeft(root), []);
    db.close();
  });
});
