// Pure parts of pulling: WWW-Authenticate parsing, manifests and platform selection,
// the catalog and checksum files, the credentials file, whiteout records for the shim,
// downloads (retries, resume, redirects without Authorization) against a local server,
// and extraction options used by pulls (zstd).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import * as zlib from 'node:zlib';
import { lookup, parseChecksumFile } from '../../images/catalog.ts';
import type { Catalog } from '../../images/catalog.ts';
import { openDownload, fetchBytes } from '../../images/download.ts';
import { CredentialStore, parseChallenges } from '../../images/registry/auth.ts';
import { isLoopback, registryBase } from '../../images/registry/client.ts';
import { MT, parseManifest, parsePlatform, selectPlatform } from '../../images/registry/manifest.ts';
import type { ImageIndex } from '../../images/registry/manifest.ts';
import { extractLayer } from '../../images/tar-extract.ts';
import { tarArchive } from '../../images/tar-writer.ts';
import { whiteoutRecords } from '../../images/whiteouts.ts';
import { normalizeServer } from '../../daemon/images.ts';
import { Agent } from 'undici';
import { credentialHost, Puller } from '../../images/pull.ts';
import type { ImageStore } from '../../images/store.ts';

const D = (c: string) => 'sha256:' + c.repeat(64);

describe('registry auth and manifests', () => {
  it('parses WWW-Authenticate challenges', () => {
    assert.deepEqual(parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"'), [
      { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/alpine:pull' } },
    ]);
    assert.deepEqual(parseChallenges('Basic realm="reg \\"x\\""'), [{ scheme: 'basic', params: { realm: 'reg "x"' } }]);
    assert.deepEqual(parseChallenges(undefined), []);
  });

  it('parses manifests and indexes, refuses schema 1 and bad digests', () => {
    const m = parseManifest(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.dockerManifest, config: { mediaType: MT.dockerConfig, digest: D('a'), size: 2 }, layers: [] })), undefined, 'x');
    assert.equal(m.kind, 'manifest');
    const i = parseManifest(Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [] })), MT.ociIndex, 'x');
    assert.equal(i.kind, 'index');
    assert.throws(() => parseManifest(Buffer.from('{"schemaVersion":1}'), undefined, 'x'), /schema 1/);
    assert.throws(() => parseManifest(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.ociManifest, config: { mediaType: 'c', digest: 'md5:x', size: 1 }, layers: [] })), undefined, 'x'), /only sha256/);
    assert.throws(() => parseManifest(Buffer.from('nope'), undefined, 'x'), /not JSON/);
  });

  it('selects platforms like containerd', () => {
    const idx: ImageIndex = {
      kind: 'index', mediaType: MT.ociIndex, manifests: [
        { mediaType: MT.ociManifest, digest: D('1'), size: 1, platform: { os: 'linux', architecture: 'arm', variant: 'v6' } },
        { mediaType: MT.ociManifest, digest: D('2'), size: 1, platform: { os: 'linux', architecture: 'arm', variant: 'v7' } },
        { mediaType: MT.ociManifest, digest: D('3'), size: 1, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
        { mediaType: MT.ociManifest, digest: D('4'), size: 1, platform: { os: 'unknown', architecture: 'unknown' } },
        { mediaType: MT.ociManifest, digest: D('5'), size: 1, platform: { os: 'linux', architecture: 'amd64' } },
      ],
    };
    assert.equal(selectPlatform(idx, parsePlatform('linux/amd64'))?.digest, D('5'));
    assert.equal(selectPlatform(idx, parsePlatform('linux/arm64'))?.digest, D('3'));
    assert.equal(selectPlatform(idx, parsePlatform('linux/aarch64'))?.digest, D('3'));
    assert.equal(selectPlatform(idx, parsePlatform('linux/arm'))?.digest, D('2'));
    assert.equal(selectPlatform(idx, parsePlatform('linux/arm/v6'))?.digest, D('1'));
    assert.equal(selectPlatform(idx, parsePlatform('linux/s390x')), undefined);
    assert.throws(() => parsePlatform('linux//'), /invalid platform/);
  });

  it('speaks http to loopback registries only, maps docker.io', () => {
    assert.equal(registryBase('docker.io'), 'https://registry-1.docker.io');
    assert.equal(registryBase('127.0.0.1:5000'), 'http://127.0.0.1:5000');
    assert.equal(registryBase('localhost:5000'), 'http://localhost:5000');
    assert.equal(registryBase('reg.example:5000'), 'https://reg.example:5000');
    assert.equal(registryBase('reg.example:5000', true), 'http://reg.example:5000');
    assert.equal(isLoopback('[::1]:5000'), true);
    assert.equal(normalizeServer('https://index.docker.io/v1/'), 'docker.io');
    assert.equal(normalizeServer('http://127.0.0.1:5000/'), '127.0.0.1:5000');
  });
});

describe('catalog', () => {
  const cat: Catalog = {
    version: 1, base: 'http://127.0.0.1:9/catalog/index.json',
    images: {
      alpine: { aliases: { latest: '3.21' }, tags: { '3.21': { platforms: { amd64: { url: 'a.tar.gz', checksumUrl: 'a.tar.gz.sha256' } } } } },
      busybox: { tags: { latest: { embedded: 'busybox' } } },
    },
  };
  it('looks names up, resolves aliases and relative URLs', () => {
    const h = lookup(cat, 'alpine', 'latest', 'amd64')!;
    assert.equal(h.resolvedTag, '3.21');
    assert.equal(h.platform?.url, 'http://127.0.0.1:9/catalog/a.tar.gz');
    assert.equal(h.platform?.checksumUrl, 'http://127.0.0.1:9/catalog/a.tar.gz.sha256');
    assert.equal(lookup(cat, 'busybox', 'latest', 'amd64')?.entry.embedded, 'busybox');
    assert.equal(lookup(cat, 'debian', 'latest', 'amd64'), undefined);
    assert.equal(lookup(cat, 'constructor', 'latest', 'amd64'), undefined);
    assert.throws(() => lookup(cat, 'alpine', '1.0', 'amd64'), /no such tag: alpine:1\.0/);
    assert.throws(() => lookup(cat, 'alpine', '3.21', 'arm64'), /no matching platform/);
  });
  it('reads sha256sum files', () => {
    const h = 'ab'.repeat(32);
    assert.equal(parseChecksumFile(`${h}  alpine.tar.gz\n`, 'alpine.tar.gz'), h);
    assert.equal(parseChecksumFile(`${'cd'.repeat(32)} *other.tar.gz\n${h} *ubuntu.tar.gz\n`, 'ubuntu.tar.gz'), h);
    assert.equal(parseChecksumFile(`${h}\n`, 'x'), h);
    assert.equal(parseChecksumFile(`${h}  a\n${h}  b\n`, 'c'), undefined);
  });
  it('ships a valid catalog with checksums for every download', async () => {
    const doc = JSON.parse(readFileSync(new URL('../../images/catalog.json', import.meta.url), 'utf8')) as Catalog;
    assert.equal(doc.version, 1);
    for (const [name, img] of Object.entries(doc.images)) {
      for (const [tag, t] of Object.entries(img.tags)) {
        if (t.embedded) continue;
        for (const [arch, p] of Object.entries(t.platforms ?? {})) {
          assert.ok(p.url.startsWith('https://'), `${name}:${tag} ${arch}`);
          assert.ok(p.sha256 || p.checksumUrl?.startsWith('https://'), `${name}:${tag} ${arch} has a checksum`);
        }
      }
      for (const to of Object.values(img.aliases ?? {})) assert.ok(to in img.tags, `${name} alias -> ${to}`);
    }
  });
});

describe('credentials and whiteout records', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'tdock-unit-pull-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('stores credentials 0600 in the config.json shape', () => {
    const s = new CredentialStore(join(dir, 'auth.json'));
    s.set('127.0.0.1:5000', { username: 'u', password: 'p:w' });
    assert.equal(statSync(join(dir, 'auth.json')).mode & 0o777, 0o600);
    assert.deepEqual(s.get('127.0.0.1:5000'), { username: 'u', password: 'p:w' });
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'auth.json'), 'utf8')), { auths: { '127.0.0.1:5000': { auth: Buffer.from('u:p:w').toString('base64') } } });
    assert.equal(s.delete('127.0.0.1:5000'), true);
    assert.equal(s.delete('127.0.0.1:5000'), false);
    assert.equal(s.get('127.0.0.1:5000'), undefined);
  });

  it('a pull finds the credentials of a registry typed in another case (login stores it lowercased)', async () => {
    assert.equal(credentialHost('Registry.Example.COM:5000'), 'registry.example.com:5000');
    // A registry wanting Basic auth, reached as "Registry.Example.com:<port>" (every
    // name resolves to this loopback server); it answers the manifest with 404.
    const auths: (string | undefined)[] = [];
    const srv = createServer((req, res) => {
      if (req.url === '/v2/') {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="test"' });
        return void res.end();
      }
      auths.push(req.headers.authorization);
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] }));
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as AddressInfo).port;
    const agent = new Agent({
      connect: { lookup: (_h: string, o: { all?: boolean }, cb: (...a: unknown[]) => void) => (o.all ? cb(null, [{ address: '127.0.0.1', family: 4 }]) : cb(null, '127.0.0.1', 4)) } as object,
    });
    try {
      const creds = new CredentialStore(join(dir, 'case-auth.json'));
      // what `tdock login Registry.Example.com:<port>` stores (normalizeServer lowercases)
      creds.set(normalizeServer(`Registry.Example.com:${port}`), { username: 'alice', password: 's3cret' });
      const puller = new Puller({} as ImageStore, {
        credentials: creds, dispatcher: agent, retries: 0, retryDelay: 1, insecureRegistries: [`Registry.Example.com:${port}`],
      });
      await assert.rejects(puller.pullRegistry(`Registry.Example.com:${port}/team/app:v1`), (e: Error) => {
        assert.doesNotMatch(e.message, /wants credentials/);
        return true;
      });
      assert.deepEqual(auths, ['Basic ' + Buffer.from('alice:s3cret').toString('base64')]);
    } finally {
      await agent.close();
      srv.closeAllConnections();
      await new Promise((r) => srv.close(r));
    }
  });

  it('encodes whiteouts as NUL-terminated records', () => {
    assert.equal(whiteoutRecords([{ path: 'etc/x', kind: 'whiteout' }, { path: 'opt', kind: 'opaque' }, { path: '', kind: 'opaque' }]).toString('latin1'), 'wetc/x\0oopt\0o.\0');
  });
});

describe('downloads', () => {
  let base = '';
  let other = '';
  const seen: { url: string; auth?: string; range?: string }[] = [];
  const body = Buffer.alloc(500_000, 'z');
  let cuts = 0;
  let fails = 0;
  const servers: import('node:http').Server[] = [];
  before(async () => {
    const handler = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
      seen.push({ url: req.url ?? '', ...(req.headers.authorization ? { auth: req.headers.authorization } : {}), ...(req.headers.range ? { range: req.headers.range } : {}) });
      if (req.url === '/redirect') {
        res.writeHead(302, { location: `${other}/target` });
        return void res.end();
      }
      if (req.url === '/same-origin') {
        res.writeHead(301, { location: '/target' });
        return void res.end();
      }
      if (req.url === '/target') return void res.end('ok');
      if (req.url === '/503') {
        if (fails++ < 2) {
          res.writeHead(503);
          return void res.end();
        }
        return void res.end('recovered');
      }
      if (req.url === '/cut') {
        const m = /bytes=(\d+)-/.exec(req.headers.range ?? '');
        const start = m ? Number(m[1]) : 0;
        if (m) res.writeHead(206, { 'content-length': body.length - start, 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` });
        else res.writeHead(200, { 'content-length': body.length });
        if (cuts++ < 3) {
          res.write(body.subarray(start, start + 100_000), () => setTimeout(() => res.socket?.destroy(), 5));
          return;
        }
        return void res.end(body.subarray(start));
      }
      res.writeHead(404);
      res.end();
    };
    for (let i = 0; i < 2; i++) {
      const s = createServer(handler);
      await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
      servers.push(s);
    }
    base = `http://127.0.0.1:${(servers[0]!.address() as AddressInfo).port}`;
    other = `http://localhost:${(servers[1]!.address() as AddressInfo).port}`;
  });
  after(async () => {
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
  });

  it('drops Authorization on a redirect to another origin, keeps it on the same one', async () => {
    seen.length = 0;
    assert.equal((await fetchBytes(`${base}/redirect`, { maxBytes: 10, headers: { authorization: 'Bearer t' } })).data.toString(), 'ok');
    assert.deepEqual(seen, [{ url: '/redirect', auth: 'Bearer t' }, { url: '/target' }]);
    seen.length = 0;
    await fetchBytes(`${base}/same-origin`, { maxBytes: 10, headers: { authorization: 'Bearer t' } });
    assert.deepEqual(seen, [{ url: '/same-origin', auth: 'Bearer t' }, { url: '/target', auth: 'Bearer t' }]);
  });

  it('retries 503 and resumes a body cut three times', async () => {
    assert.equal((await fetchBytes(`${base}/503`, { maxBytes: 100, retryDelay: 1 })).data.toString(), 'recovered');
    seen.length = 0;
    const d = await openDownload(`${base}/cut`, { retryDelay: 1 });
    const chunks: Buffer[] = [];
    for await (const c of d.stream) chunks.push(c as Buffer);
    assert.equal(Buffer.concat(chunks).equals(body), true);
    assert.deepEqual(seen.map((s) => s.range), [undefined, 'bytes=100000-', 'bytes=200000-', 'bytes=300000-']);
  });

  it('gives up with a clear error after the retries, without crashing', async () => {
    cuts = 0;
    const d = await openDownload(`${base}/cut`, { retryDelay: 1, retries: 1 });
    await assert.rejects((async () => {
      for await (const _ of d.stream) { /* drain */ }
    })(), /transfer failed after 200000 of 500000 bytes/);
    await assert.rejects(openDownload(`${base}/missing`), /server answered 404/);
  });
});

describe('extraction for pulls', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'tdock-unit-pull-x-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  const shift = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, size: 1 << 20 };

  it('unpacks zstd layers', async () => {
    const tar = tarArchive([{ path: 'z', data: 'zstd!' }]);
    const z = (zlib as unknown as { zstdCompressSync: (b: Buffer) => Buffer }).zstdCompressSync(tar);
    const t = mkdtempSync(join(dir, 'z-'));
    const r = await extractLayer(Readable.from([z]), t, { shift: { ...shift, size: 1 << 20 } });
    assert.equal(r.compression, 'zstd');
    assert.equal(readFileSync(join(t, 'z'), 'utf8'), 'zstd!');
  });
});
