// Images made and moved, through the real CLI and daemons: `save` read by skopeo and
// loaded into a second daemon (same image id, runs), `load` of an OCI layout tar made by
// skopeo, a corrupted or truncated archive refused with nothing left, `push` to a real
// docker-registry then `pull` in a second daemon (same id), a second push ("Layer already
// exists"), a cross-repository mount, `pull -a`, and push with token auth after `login`.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import { openDb } from '../../daemon/store/db.ts';
import { ImageService } from '../../daemon/images.ts';
import { ImageStore } from '../../images/store.ts';
import { buildBusyboxTar } from '../../images/busybox.ts';
import { tarArchive } from '../../images/tar-writer.ts';
import { TestDaemon } from '../helpers/daemon.ts';
import { haveRegistry, Pusher, pushImage, startRegistry, startTokenService } from './registry-harness.ts';
import type { RegistryProcess, TokenService } from './registry-harness.ts';

const isRoot = process.getuid?.() === 0;
const have = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const haveSkopeo = have('skopeo');
const haveOpenssl = have('openssl');

/** Layer dirs, blobs and staging dirs of a daemon's store. */
function storeEntries(d: TestDaemon): string[] {
  const dir = join(d.root, 'layers');
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}

function skopeo(args: string[]): string {
  return execFileSync('skopeo', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

describe('save and load', { skip: !isRoot ? 'needs root' : !haveSkopeo ? 'skopeo is not installed' : false }, () => {
  const d1 = new TestDaemon();
  const d2 = new TestDaemon();
  let scratch = '';
  let bbId = '';
  let appId = '';

  before(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'tdk-imgmove-'));
    await d1.start();
    await d2.start();
    await d1.ok(['pull', 'busybox']);
    bbId = (await d1.inspect('busybox')).Id;
    writeFileSync(join(scratch, 'app.tar'), tarArchive([{ path: 'hello.txt', data: 'from the app image\n' }]));
    await d1.ok(['import', join(scratch, 'app.tar'), 'mine/app:v1']);
    appId = (await d1.inspect('mine/app:v1')).Id;
  });
  after(async () => {
    await d1.cleanup();
    await d2.cleanup();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  test('save writes a docker-archive and an OCI layout skopeo reads (config digest = image id, layers = diff_ids)', async () => {
    const file = join(scratch, 'bb.tar');
    assert.equal(await d1.ok(['save', '-o', file, 'busybox']), '');
    const info = JSON.parse(skopeo(['inspect', `docker-archive:${file}`]));
    assert.deepEqual(info.Layers, (await d1.inspect('busybox')).RootFS.Layers);
    // the OCI layout in the same tar is read too (by the tag's ref.name)
    assert.deepEqual(JSON.parse(skopeo(['inspect', `oci-archive:${file}:latest`])).Layers, info.Layers);
    const config = execFileSync('skopeo', ['inspect', '--raw', '--config', `docker-archive:${file}`]);
    assert.equal('sha256:' + createHash('sha256').update(config).digest('hex'), bbId);
    // the same images give the same archive
    const again = join(scratch, 'bb2.tar');
    await d1.ok(['save', '-o', again, 'busybox:latest']);
    assert.ok(readFileSync(file).equals(readFileSync(again)));
  });

  test('save of several images -> load into a second daemon: same ids, tags, and it runs', async () => {
    const file = join(scratch, 'two.tar');
    // a bare name saves every tag of the repository (Docker's rule)
    await d1.ok(['save', '-o', file, 'busybox', 'mine/app']);
    // skopeo picks either image of a multi-image archive by name
    assert.equal(JSON.parse(skopeo(['inspect', `docker-archive:${file}:mine/app:v1`])).Layers.length, 1);
    const out = await d2.ok(['load', '-i', file]);
    assert.deepEqual(out.trim().split('\n').sort(), ['Loaded image: busybox:latest', 'Loaded image: mine/app:v1']);
    assert.equal((await d2.inspect('busybox')).Id, bbId);
    assert.equal((await d2.inspect('mine/app:v1')).Id, appId);
    assert.equal(await d2.ok(['run', '--rm', 'busybox', 'echo', 'loaded']), 'loaded\n');
    // loading again is harmless (layers already there) and says the same
    const q = await d2.ok(['load', '-q', '-i', file]);
    assert.match(q, /Loaded image: busybox:latest/);
    assert.ok(!storeEntries(d2).some((e) => e.startsWith('tmp-')));
  });

  test('load reads stdin; an untagged image is "Loaded image ID"', async () => {
    const file = join(scratch, 'byid.tar');
    await d1.ok(['save', '-o', file, appId]);
    await d2.ok(['rmi', 'mine/app:v1']);
    const out = await d2.ok(['load'], { input: readFileSync(file) });
    assert.equal(out, `Loaded image ID: ${appId}\n`);
  });

  test('load of an OCI layout tar made by skopeo', async () => {
    const file = join(scratch, 'bb.tar');
    const oci = join(scratch, 'bb-oci.tar');
    skopeo(['copy', `docker-archive:${file}`, `oci-archive:${oci}:oci/busybox:v1`]);
    const out = await d2.ok(['load', '-i', oci]);
    assert.equal(out, 'Loaded image: oci/busybox:v1\n');
    assert.deepEqual((await d2.inspect('oci/busybox:v1')).RootFS.Layers, (await d1.inspect('busybox')).RootFS.Layers);
    assert.equal(await d2.ok(['run', '--rm', 'oci/busybox:v1', 'echo', 'oci']), 'oci\n');
  });

  test('a corrupted or truncated archive is refused in one line with nothing left', async () => {
    const d3 = new TestDaemon();
    await d3.start();
    try {
      const good = readFileSync(join(scratch, 'bb.tar'));
      // flip bytes inside the busybox binary of the layer: the layer no longer unpacks to its diff_id
      const bad = Buffer.from(good);
      const at = good.indexOf(Buffer.from('\x7fELF')) + 4096;
      assert.ok(at > 4096);
      for (let i = 0; i < 16; i++) bad[at + i] = bad[at + i]! ^ 0xff;
      const before = storeEntries(d3);
      for (const input of [bad, good.subarray(0, Math.floor(good.length / 2)), Buffer.from('not a tar at all, just text\n'.repeat(100))]) {
        const r = await d3.cli(['load'], { input });
        assert.equal(r.code, 1, r.stderr);
        assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
        assert.match(r.stderr, /invalid image archive|layer rejected/);
        assert.deepEqual(storeEntries(d3), before);
        assert.equal((await d3.ok(['images', '-q'])).trim(), '');
      }
      const r = await d3.cli(['load', '-i', join(scratch, 'nope.tar')]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /no such file/);
    } finally {
      await d3.cleanup();
    }
  });

  test('save of an unknown image fails before writing anything', async () => {
    const file = join(scratch, 'none.tar');
    const r = await d1.cli(['save', '-o', file, 'busybox', 'no/such:image']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /No such image: no\/such:image/);
    assert.equal(existsSync(file), false);
    assert.deepEqual(readdirSync(scratch).filter((f) => f.includes('tdock-tmp')), []);
  });

  test('save -o into a directory that does not exist: Docker\'s one-line error, nothing written', async () => {
    const dir = join(scratch, 'no-such-dir');
    const r = await d1.cli(['save', '-o', join(dir, 'x.tar'), 'busybox']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim(), `Error: failed to save image: invalid output path: directory "${dir}" does not exist`);
    assert.equal(existsSync(dir), false);
  });

  test('save of two images sharing a layer stores it once; skopeo copies each to an OCI dir', async () => {
    await d1.ok(['run', '--name', 'qa-derive', 'busybox', 'sh', '-c', 'echo derived > /derived.txt']);
    await d1.ok(['commit', 'qa-derive', 'mine/derived:v1']);
    await d1.ok(['rm', 'qa-derive']);
    const file = join(scratch, 'shared.tar');
    await d1.ok(['save', '-o', file, 'busybox', 'mine/derived:v1']);
    const members = execFileSync('tar', ['-tf', file], { encoding: 'utf8' }).trim().split('\n');
    const manifest = JSON.parse(execFileSync('tar', ['-xOf', file, 'manifest.json'], { encoding: 'utf8' })) as { RepoTags: string[]; Layers: string[] }[];
    const derived = manifest.find((m) => m.RepoTags.includes('mine/derived:v1'))!;
    const base = manifest.find((m) => m.RepoTags.includes('busybox:latest'))!;
    assert.equal(derived.Layers.length, 2);
    assert.equal(derived.Layers[0], base.Layers[0]);
    assert.equal(members.filter((m) => m === base.Layers[0]).length, 1, members.join('\n'));
    for (const ref of ['busybox:latest', 'mine/derived:v1']) {
      const dest = join(scratch, `oci-${ref.replace(/[/:]/g, '-')}`);
      skopeo(['copy', '-q', `docker-archive:${file}:${ref}`, `oci:${dest}`]);
      const idx = JSON.parse(readFileSync(join(dest, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
      const m = JSON.parse(readFileSync(join(dest, 'blobs/sha256', idx.manifests[0]!.digest.slice(7)), 'utf8')) as { config: { digest: string }; layers: unknown[] };
      // skopeo re-encodes the config when it turns Docker's manifest into an OCI one (Go's
      // JSON, its struct's fields only), so the copy's config digest may differ; the layers may not
      const inspect = await d1.inspect(ref);
      const cfg = JSON.parse(readFileSync(join(dest, 'blobs/sha256', m.config.digest.slice(7)), 'utf8')) as { rootfs: { diff_ids: string[] } };
      assert.deepEqual(cfg.rootfs.diff_ids, inspect.RootFS.Layers);
      assert.equal(m.layers.length, ref === 'busybox:latest' ? 1 : 2);
      const raw = skopeo(['inspect', '--raw', '--config', `docker-archive:${file}:${ref}`]);
      assert.equal('sha256:' + createHash('sha256').update(raw).digest('hex'), inspect.Id, raw);
    }
  });

  test(have('dockerd') ? 'docker load accepts tdock save' : 'docker load accepts tdock save (skipped: dockerd is not installed)', { skip: !have('dockerd') }, async () => {
    // a private dockerd on its own sockets and dirs, without iptables or a bridge
    const base = mkdtempSync(join(tmpdir(), 'tdk-dockerd-'));
    const sock = join(base, 'docker.sock');
    const { spawn } = await import('node:child_process');
    const p = spawn('dockerd', ['--host', `unix://${sock}`, '--data-root', join(base, 'data'), '--exec-root', join(base, 'exec'),
      '--pidfile', join(base, 'pid'), '--iptables=false', '--ip6tables=false', '--bridge=none'], { stdio: 'ignore' });
    try {
      let ready = false;
      for (let i = 0; i < 300 && !ready; i++) {
        ready = spawnSync('docker', ['-H', `unix://${sock}`, 'version'], { stdio: 'ignore' }).status === 0;
        if (!ready) await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(ready, 'dockerd started');
      const out = execFileSync('docker', ['-H', `unix://${sock}`, 'load', '-i', join(scratch, 'two.tar')], { encoding: 'utf8' });
      assert.match(out, /Loaded image: busybox:latest/);
      const id = execFileSync('docker', ['-H', `unix://${sock}`, 'image', 'inspect', '-f', '{{.Id}}', 'busybox:latest'], { encoding: 'utf8' }).trim();
      assert.equal(id, bbId);
    } finally {
      p.kill('SIGTERM');
      await new Promise((r) => p.once('exit', r));
      rmSync(base, { recursive: true, force: true });
    }
  });
});

describe('push and pull through a real registry', { skip: !isRoot ? 'needs root' : !haveRegistry ? 'docker-registry is not installed' : false }, () => {
  const d1 = new TestDaemon();
  const d2 = new TestDaemon();
  let scratch = '';
  let reg: RegistryProcess;
  let bbTar = '';

  before(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'tdk-push-'));
    reg = await startRegistry(join(scratch, 'registry'));
    bbTar = join(scratch, 'bb.tar');
    writeFileSync(bbTar, await buildBusyboxTar());
    await d1.start();
    await d2.start();
  });
  after(async () => {
    await d1.cleanup();
    await d2.cleanup();
    await reg?.stop();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  test('push, then pull in a second daemon gives the same image id and it runs', async () => {
    const ref = `${reg.host}/team/bb:v1`;
    await d1.ok(['import', bbTar, ref]);
    const id = (await d1.inspect(ref)).Id;
    const out = await d1.ok(['push', ref]);
    assert.match(out, new RegExp(`The push refers to repository \\[${reg.host.replace(/\./g, '\\.')}/team/bb\\]`));
    assert.match(out, /: Pushed\n/);
    const m = /^v1: digest: (sha256:[a-f0-9]{64}) size: (\d+)$/m.exec(out);
    assert.ok(m, out);
    // the registry has that manifest under the tag
    const r = await fetch(`${reg.base}/v2/team/bb/manifests/v1`, { method: 'HEAD', headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(r.headers.get('docker-content-digest'), m[1]);
    assert.ok((await d1.inspect(ref)).RepoDigests.includes(`${reg.host}/team/bb@${m[1]}`));
    if (haveSkopeo) {
      // another client reads what was pushed: the manifest by tag, the config as the image id
      const info = JSON.parse(skopeo(['inspect', '--tls-verify=false', `docker://${ref}`]));
      assert.equal(info.Digest, m[1]);
      assert.deepEqual(info.Layers.length, 1);
      const config = execFileSync('skopeo', ['inspect', '--tls-verify=false', '--raw', '--config', `docker://${ref}`]);
      assert.equal('sha256:' + createHash('sha256').update(config).digest('hex'), id);
    }
    await d2.ok(['pull', ref]);
    assert.equal((await d2.inspect(ref)).Id, id);
    assert.equal(await d2.ok(['run', '--rm', ref, '/bin/busybox', 'echo', 'pushed']), 'pushed\n');
  });

  test('a committed image and one loaded from an oci-archive with gzip layers push; skopeo copies them back (digests verified)', { skip: !haveSkopeo ? 'skopeo is not installed' : false }, async () => {
    await d1.ok(['import', bbTar, 'qa/base:v1']);
    await d1.ok(['run', '--name', 'qa-commit', 'qa/base:v1', 'sh', '-c', 'echo committed > /c.txt']);
    const committed = `${reg.host}/qa/committed:v1`;
    await d1.ok(['commit', 'qa-commit', committed]);
    await d1.ok(['rm', 'qa-commit']);
    await d1.ok(['push', committed]);
    // an oci-archive with gzip layers (skopeo keeps the registry's blobs), loaded into d2
    const archive = join(scratch, 'gz.oci.tar');
    skopeo(['copy', '-q', '--src-tls-verify=false', `docker://${committed}`, `oci-archive:${archive}:${reg.host}/qa/loaded:v1`]);
    await d2.ok(['load', '-i', archive]);
    const loaded = `${reg.host}/qa/loaded:v1`;
    assert.equal((await d2.inspect(loaded)).Id, (await d1.inspect(committed)).Id);
    await d2.ok(['push', loaded]);
    for (const ref of [committed, loaded]) {
      const dest = join(scratch, `back-${ref.split('/').pop()!.replace(':', '-')}`);
      skopeo(['copy', '-q', '--src-tls-verify=false', `docker://${ref}`, `oci:${dest}`]);
      const raw = JSON.parse(skopeo(['inspect', '--tls-verify=false', '--raw', `docker://${ref}`])) as { config: { digest: string }; layers: { mediaType: string; digest: string }[] };
      assert.equal(raw.config.digest, (await d1.inspect(committed)).Id);
      assert.deepEqual(raw.layers.map((l) => l.mediaType), ['application/vnd.oci.image.layer.v1.tar+gzip', 'application/vnd.oci.image.layer.v1.tar+gzip']);
    }
    // the same layers, byte for byte, from both daemons
    const a = JSON.parse(skopeo(['inspect', '--tls-verify=false', '--raw', `docker://${committed}`])) as { layers: { digest: string }[] };
    const b = JSON.parse(skopeo(['inspect', '--tls-verify=false', '--raw', `docker://${loaded}`])) as { layers: { digest: string }[] };
    assert.deepEqual(b.layers, a.layers);
  });

  test('a second push says "Layer already exists"', async () => {
    const out = await d1.ok(['push', `${reg.host}/team/bb:v1`]);
    assert.match(out, /: Layer already exists\n/);
    assert.doesNotMatch(out, /: Pushed\n/);
    assert.match(out, /^v1: digest: sha256:/m);
  });

  test('a layer the registry has in another repository is mounted, not uploaded', async () => {
    const ref = `${reg.host}/other/app:v1`;
    await d1.ok(['import', bbTar, ref]);
    const out = await d1.ok(['push', ref]);
    // from whichever repository pushed the busybox layer last (team/bb, or qa/committed above)
    assert.match(out, /: Mounted from (team\/bb|qa\/committed)\n/);
    await d2.ok(['pull', ref]);
    assert.equal((await d2.inspect(ref)).Id, (await d1.inspect(ref)).Id);
  });

  test('push -a and pull -a move every tag', async () => {
    await d1.ok(['import', join(scratch, 'bb.tar'), `${reg.host}/team/bb:v2`]);
    writeFileSync(join(scratch, 'small.tar'), tarArchive([{ path: 'v3', data: 'three\n' }]));
    await d1.ok(['import', join(scratch, 'small.tar'), `${reg.host}/team/bb:v3`]);
    const out = await d1.ok(['push', '-a', `${reg.host}/team/bb`]);
    assert.match(out, /^v1: digest/m);
    assert.match(out, /^v2: digest/m);
    assert.match(out, /^v3: digest/m);
    await d2.ok(['pull', '-a', `${reg.host}/team/bb`]);
    for (const t of ['v1', 'v2', 'v3']) assert.equal((await d2.inspect(`${reg.host}/team/bb:${t}`)).Id, (await d1.inspect(`${reg.host}/team/bb:${t}`)).Id);
  });

  test('push of a missing tag or a digest is refused in one line', async () => {
    const r = await d1.cli(['push', `${reg.host}/team/bb:nope`]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim(), `Error: An image does not exist locally with the tag: ${reg.host}/team/bb:nope`);
  });
});

describe('push with token auth', { skip: !isRoot ? 'needs root' : !haveRegistry ? 'docker-registry is not installed' : !haveOpenssl ? 'openssl is not installed' : false }, () => {
  const d = new TestDaemon();
  let scratch = '';
  let reg: RegistryProcess;
  let tokens: TokenService;

  before(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'tdk-pushauth-'));
    tokens = await startTokenService(scratch, { alice: 's3cret' });
    reg = await startRegistry(join(scratch, 'registry'), tokens.auth);
    await d.start();
  });
  after(async () => {
    await d.cleanup();
    await reg?.stop();
    await tokens?.stop();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  test('anonymous push is unauthorized; after login it works and pulls back', async () => {
    const ref = `${reg.host}/private/app:v1`;
    writeFileSync(join(scratch, 'app.tar'), tarArchive([{ path: 'secret', data: 'private\n' }]));
    await d.ok(['import', join(scratch, 'app.tar'), ref]);
    const id = (await d.inspect(ref)).Id;
    const anon = await d.cli(['push', ref]);
    assert.equal(anon.code, 1);
    assert.match(anon.stderr, /unauthorized/);
    assert.equal(anon.stderr.trim().split('\n').length, 1);
    await d.ok(['login', '-u', 'alice', '--password-stdin', reg.host], { input: 's3cret\n' });
    const out = await d.ok(['push', ref]);
    assert.match(out, /^v1: digest: sha256:/m);
    assert.ok(tokens.log.some((l) => l.basic && decodeURIComponent(l.url).includes('repository:private/app:pull,push')), 'asked for a push token with the credentials');
    await d.ok(['rmi', ref]);
    await d.ok(['pull', ref]);
    assert.equal((await d.inspect(ref)).Id, id);
  });
});

describe('push: chunked uploads and pulled (gzip) blobs', { skip: !isRoot ? 'needs root' : !haveRegistry ? 'docker-registry is not installed' : false }, () => {
  const SHIFT = { uid: 100000, gid: 100000, size: 65536 };
  let scratch = '';
  let regA: RegistryProcess;
  let regB: RegistryProcess;
  let proxy: ReturnType<typeof createServer>;
  let proxyHost = '';
  const log: string[] = [];
  let cutPatch = 0;
  let holdPatch = 0;
  const held: import('node:http').ServerResponse[] = [];
  let onHeld: (() => void) | undefined;

  const service = (name: string, chunk?: number) => {
    const root = join(scratch, name);
    mkdirSync(root);
    const db = openDb(join(root, 'tdock.db'));
    return new ImageService(new ImageStore(db, root, SHIFT), () => false, {
      catalog: join(scratch, 'none.json'), retryDelay: 10, ...(chunk !== undefined ? { pushChunkSize: chunk } : {}),
    });
  };

  before(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'tdk-pushchunk-'));
    regA = await startRegistry(join(scratch, 'regA'));
    regB = await startRegistry(join(scratch, 'regB'));
    // a recording proxy in front of registry B: which requests did the push send?
    const target = new URL(regB.base);
    proxy = createServer((req, res) => {
      log.push(`${req.method} ${(req.url ?? '').split('?')[0]} ${req.headers['content-range'] ?? ''}`.trim());
      // the registry "goes down" in the middle of an upload: this PATCH's connection is cut
      if (req.method === 'PATCH' && cutPatch > 0 && --cutPatch === 0) {
        req.socket.destroy();
        return;
      }
      // this PATCH gets no answer until the test lets it go (a push cancelled while it waits)
      if (req.method === 'PATCH' && holdPatch > 0 && --holdPatch === 0) {
        held.push(res);
        onHeld?.();
        return;
      }
      // a registry that pages its tag lists (as Docker Hub does; this docker-registry ignores
      // ?n=): 25 tags a page after ?last=, a Link header to the next page
      const u = new URL(req.url ?? '/', 'http://x');
      if (u.pathname.endsWith('/tags/list')) {
        void fetch(`${regB.base}${u.pathname}`).then(async (r) => {
          const doc = await r.json() as { name: string; tags: string[] };
          const last = u.searchParams.get('last');
          const rest = doc.tags.sort().filter((t) => last === null || t > last);
          const page = rest.slice(0, 25);
          const headers: Record<string, string> = { 'content-type': 'application/json' };
          if (rest.length > 25) headers.link = `<${u.pathname}?last=${page.at(-1)}&n=25>; rel="next"`;
          res.writeHead(200, headers);
          res.end(JSON.stringify({ name: doc.name, tags: page }));
        }, () => res.destroy());
        return;
      }
      const up = httpRequest({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
      });
      up.on('error', () => res.destroy());
      req.pipe(up);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    proxyHost = `127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  });
  after(async () => {
    proxy?.closeAllConnections();
    await new Promise((r) => proxy?.close(r));
    await regA?.stop();
    await regB?.stop();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  test('a blob over the chunk size goes up in PATCH chunks and comes back with the same id', async () => {
    const a = service('chunk-a', 64 * 1024);
    const ref = `${proxyHost}/chunk/bb:v1`;
    const rec = await a.store.importTar(Readable.from([await buildBusyboxTar()]), ref, { created: 0 });
    log.length = 0;
    const lines: string[] = [];
    const pushed = await a.push(ref, (p) => lines.push(`${p.id ? p.id + ': ' : ''}${p.status}`));
    assert.equal(pushed.length, 1);
    assert.ok(log.includes('PATCH /v2/chunk/bb/blobs/uploads/' + log.find((l) => l.startsWith('PATCH'))!.split('/uploads/')[1]), 'PATCH requests');
    const ranges = log.filter((l) => l.startsWith('PATCH')).map((l) => l.split(' ')[2]);
    assert.ok(ranges.length > 2, log.join('\n'));
    assert.equal(ranges[0], `0-${64 * 1024 - 1}`);
    assert.ok(lines.includes(`${rec.layers[0]!.slice(7, 19)}: Pushed`), lines.join('\n'));
    const b = service('chunk-b');
    assert.equal((await b.pull(ref)).id, rec.id);
  });

  test('registry down mid-upload: one-line error, the upload session is cancelled (DELETE), nothing recorded', async () => {
    const a = service('cut-a', 64 * 1024);
    const ref = `${proxyHost}/cut/bb:v1`;
    const rec = await a.store.importTar(Readable.from([await buildBusyboxTar()]), ref, { created: 0 });
    log.length = 0;
    cutPatch = 2;
    const err = await a.push(ref).then(() => undefined, (e: Error) => e);
    cutPatch = 0;
    assert.ok(err, 'the push failed');
    assert.equal(err.message.split('\n').length, 1, err.message);
    assert.match(err.message, /unreachable|socket|closed|reset/i, err.message);
    const patches = log.filter((l) => l.startsWith('PATCH'));
    assert.equal(patches.length, 2, log.join('\n'));
    const upload = patches[1]!.split(' ')[1]!;
    assert.ok(log.includes(`DELETE ${upload}`), `the upload session ${upload} is cancelled:\n${log.join('\n')}`);
    // the registry no longer knows the session
    assert.equal((await fetch(`${regB.base}${upload}`)).status, 404);
    assert.deepEqual(a.store.repoDigests(rec.id), []);
    assert.equal((await fetch(`${regB.base}/v2/cut/bb/manifests/v1`)).status, 404);
  });

  test('push to a registry that is down: one line naming the registry and the cause once', async () => {
    const a = service('down-a');
    const dead = createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const port = (dead.address() as AddressInfo).port;
    await new Promise((r) => dead.close(r));
    const ref = `127.0.0.1:${port}/down/app:v1`;
    await a.store.importTar(Readable.from([tarArchive([{ path: 'down', data: 'down\n' }])]), ref, { created: 0 });
    const err = await a.push(ref).then(() => undefined, (e: Error) => e);
    assert.ok(err);
    assert.match(err.message, new RegExp(`^registry 127\\.0\\.0\\.1:${port} unreachable: .*ECONNREFUSED`));
    assert.doesNotMatch(err.message, /unreachable.*unreachable/);
    assert.equal(err.message.split('\n').length, 1);
  });

  test('push cancelled mid-upload (the client went away): the upload session is still cancelled with DELETE', async () => {
    const a = service('cancel-a', 64 * 1024);
    const ref = `${proxyHost}/cancel/bb:v1`;
    await a.store.importTar(Readable.from([await buildBusyboxTar()]), ref, { created: 0 });
    log.length = 0;
    holdPatch = 2;
    const ac = new AbortController();
    const isHeld = new Promise<void>((r) => {
      onHeld = r;
    });
    const pushing = a.push(ref, () => {}, { signal: ac.signal }).then(() => undefined, (e: Error) => e);
    await isHeld;
    ac.abort();
    const err = await pushing;
    for (const r of held.splice(0)) r.destroy();
    onHeld = undefined;
    assert.ok(err);
    assert.match(err.message, /cancelled/);
    const upload = log.filter((l) => l.startsWith('PATCH'))[1]!.split(' ')[1]!;
    assert.ok(log.includes(`DELETE ${upload}`), log.join('\n'));
    assert.equal((await fetch(`${regB.base}${upload}`)).status, 404);
  });

  test('pull -a of a repository with 60 tags over paged tag lists gets every tag', async () => {
    const p = new Pusher(regB.base);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await pushImage(p, 'many/tags', 't00', [{ tar: tarArchive([{ path: `f${i}`, data: `${i}\n` }]) }], { config: { Cmd: ['sh'] } })).configDigest);
    const m = await (await fetch(`${regB.base}/v2/many/tags/manifests/t00`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' } }));
    const body = Buffer.from(await m.arrayBuffer());
    const tags = Array.from({ length: 60 }, (_, i) => `t${String(i).padStart(2, '0')}`);
    for (const t of tags) {
      const r = await fetch(`${regB.base}/v2/many/tags/manifests/${t}`, { method: 'PUT', body, headers: { 'content-type': m.headers.get('content-type')! } });
      assert.equal(r.status, 201);
    }
    log.length = 0;
    const a = service('many-a');
    await a.pullAllTags(`${proxyHost}/many/tags`);
    assert.ok(log.filter((l) => l.startsWith("GET /v2/many/tags/tags/list")).length >= 3, log.slice(0, 12).join("\n"));
    for (const t of tags) assert.equal(a.store.resolve(`${proxyHost}/many/tags:${t}`)?.id, ids[2], t);
  });

  test('a small blob goes up in one PUT', async () => {
    const a = service('mono-a');
    const ref = `${proxyHost}/mono/app:v1`;
    await a.store.importTar(Readable.from([tarArchive([{ path: 'small', data: 'small\n' }])]), ref, { created: 0 });
    log.length = 0;
    await a.push(ref);
    assert.equal(log.filter((l) => l.startsWith('PATCH')).length, 0, log.join('\n'));
    assert.ok(log.filter((l) => l.startsWith('PUT /v2/mono/app/blobs/uploads/')).length >= 2, log.join('\n'));
  });

  test('a plain-tar layer (an import) goes up gzipped, deterministically, and stays kept as that gzip', async () => {
    const a = service('plain-a');
    const ref = `${regB.host}/plain/app:v1`;
    const rec = await a.store.importTar(Readable.from([tarArchive([{ path: 'hello.txt', data: 'plain layer\n'.repeat(1000) }])]), ref, { created: 0 });
    const diffId = rec.layers[0]!;
    assert.equal(a.store.layerBlob(diffId)?.info.compression, 'none');
    const [first] = await a.push(ref);
    type M = { layers: { digest: string; mediaType: string; size: number }[]; config: { digest: string } };
    const m = await (await fetch(`${regB.base}/v2/plain/app/manifests/v1`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } })).json() as M;
    assert.equal(m.layers[0]!.mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip');
    assert.notEqual(m.layers[0]!.digest, diffId);
    const blob = Buffer.from(await (await fetch(`${regB.base}/v2/plain/app/blobs/${m.layers[0]!.digest}`)).arrayBuffer());
    assert.equal(blob.length, m.layers[0]!.size);
    assert.equal('sha256:' + createHash('sha256').update(gunzipSync(blob)).digest('hex'), diffId);
    assert.equal(m.config.digest, rec.id);
    // the kept blob is now that gzip: the next push (anywhere) sends the same bytes
    const kept = a.store.layerBlob(diffId)!;
    assert.equal(kept.info.compression, 'gzip');
    assert.equal(kept.info.digest, m.layers[0]!.digest);
    assert.equal(kept.info.tarSize, gunzipSync(blob).length);
    a.store.tag(rec.id, `${regB.host}/plain/again:v1`);
    const [second] = await a.push(`${regB.host}/plain/again:v1`);
    assert.equal(second!.digest, first!.digest);
    // two pushes of a new plain layer at once compress it once and agree
    const rec4 = await a.store.importTar(Readable.from([tarArchive([{ path: 'x.txt', data: 'concurrent\n'.repeat(5000) }])]), `${regB.host}/plain/c1:v1`, { created: 0 });
    a.store.tag(rec4.id, `${regB.host}/plain/c2:v1`);
    const [p1, p2] = await Promise.all([a.push(`${regB.host}/plain/c1:v1`), a.push(`${regB.host}/plain/c2:v1`)]);
    assert.equal(p1![0]!.digest, p2![0]!.digest);
    assert.equal(a.store.layerBlob(rec4.layers[0]!)?.info.compression, 'gzip');
    // a push cancelled while it compresses leaves the plain blob as it was and no staging file
    const rec5 = await a.store.importTar(Readable.from([tarArchive([{ path: 'y.txt', data: 'cancelled\n'.repeat(5000) }])]), `${regB.host}/plain/cancel:v1`, { created: 0 });
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(a.push(`${regB.host}/plain/cancel:v1`, () => {}, { signal: ac.signal }), /push cancelled/);
    assert.equal(a.store.layerBlob(rec5.layers[0]!)?.info.compression, 'none');
    assert.deepEqual(readdirSync(join(a.store.root, 'layers')).filter((f) => f.startsWith('tmp-')), []);
    // another store compressing the same tar makes the same blob (deterministic gzip)
    const c = service('plain-c');
    const rec2 = await c.store.importTar(Readable.from([tarArchive([{ path: 'hello.txt', data: 'plain layer\n'.repeat(1000) }])]), `${regB.host}/plain/third:v1`, { created: 0 });
    assert.equal(rec2.id, rec.id);
    const [third] = await c.push(`${regB.host}/plain/third:v1`);
    assert.equal(third!.digest, first!.digest);
    // save still writes the layer as its plain tar (decompressed from the kept gzip), even
    // when it read the description of the blob from before the push (a save and a push at once)
    const saved = async () => {
      const chunks: Buffer[] = [];
      for await (const ch of a.save([ref])) chunks.push(ch);
      return Buffer.concat(chunks);
    };
    const archive = await saved();
    assert.ok(archive.includes(Buffer.from(`blobs/sha256/${diffId.slice(7)}`)));
    assert.ok(archive.includes(Buffer.from('plain layer\n'.repeat(100))));
    writeFileSync(kept.path + '.json', JSON.stringify({ ...kept.info, digest: diffId, size: kept.info.tarSize, compression: 'none' }));
    assert.deepEqual(await saved(), archive);
    // and a pull in a fresh store gives the same image id
    const b = service('plain-b');
    assert.equal((await b.pull(ref)).id, rec.id);
  });

  test('a pulled gzip layer is pushed as the same blob to another registry', async () => {
    const p = new Pusher(regA.base);
    const src = await pushImage(p, 'src/gz', 'v1', [{ tar: await buildBusyboxTar() }], { config: { Cmd: ['sh'] } });
    const a = service('gz-a');
    const img = await a.pull(`${regA.host}/src/gz:v1`);
    assert.equal(a.store.layerBlob(a.store.record(img.id)!.layers[0]!)?.info.compression, 'gzip');
    a.store.tag(img.id, `${regB.host}/copy/gz:v1`);
    await a.push(`${regB.host}/copy/gz:v1`);
    const m = await (await fetch(`${regB.base}/v2/copy/gz/manifests/v1`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } })).json() as { layers: { digest: string; mediaType: string }[]; config: { digest: string } };
    assert.deepEqual(m.layers.map((l) => l.digest), src.layerDigests);
    assert.equal(m.layers[0]!.mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip');
    assert.equal(m.config.digest, src.configDigest);
    // and within registry A, to another repository: mounted
    a.store.tag(img.id, `${regA.host}/dst/gz:v1`);
    const lines: string[] = [];
    await a.push(`${regA.host}/dst/gz:v1`, (x) => lines.push(x.status));
    assert.ok(lines.includes('Mounted from src/gz'), lines.join('\n'));
  });
});

describe('load: hostile and unusual Docker archives', { skip: !isRoot ? 'needs root' : false }, () => {
  const SHIFT = { uid: 100000, gid: 100000, size: 65536 };
  let scratch = '';
  before(() => {
    scratch = mkdtempSync(join(tmpdir(), 'tdk-loadhostile-'));
  });
  after(() => {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });
  let n = 0;
  const service = () => {
    const root = join(scratch, `s${n++}`);
    mkdirSync(root);
    return new ImageService(new ImageStore(openDb(join(root, 'tdock.db')), root, SHIFT), () => false, { catalog: join(scratch, 'none.json') });
  };
  const sha = (b: Buffer | string) => 'sha256:' + createHash('sha256').update(b).digest('hex');
  const layer = (text: string) => tarArchive([{ path: 'f.txt', data: text }]);
  const config = (layers: Buffer[], cmd = 'sh') => JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: [cmd] }, rootfs: { type: 'layers', diff_ids: layers.map((l) => sha(l)) } });
  /** load into a fresh store: the images, or the error; and what the store's layers dir holds after */
  const load = async (archive: Buffer) => {
    const s = service();
    const res = await s.load(Readable.from([archive])).then((r) => ({ ok: r }), (e: Error) => ({ err: e }));
    const dir = join(s.store.root, 'layers');
    return { ...res, s, left: existsSync(dir) ? readdirSync(dir) : [] };
  };

  test('several images and tags in one manifest.json (legacy layout, dedup symlink inside) all load', async () => {
    const l1 = layer('one\n');
    const l2 = layer('two\n');
    const c1 = config([l1]);
    const c2 = config([l1, l2], 'true');
    const archive = tarArchive([
      { path: 'manifest.json', data: JSON.stringify([
        { Config: `${sha(c1).slice(7)}.json`, RepoTags: ['qa/one:a', 'qa/one:b'], Layers: ['aaa/layer.tar'] },
        { Config: `${sha(c2).slice(7)}.json`, RepoTags: ['qa/two:latest'], Layers: ['bbb/layer.tar', 'ccc/layer.tar'] },
      ]) },
      { path: `${sha(c1).slice(7)}.json`, data: c1 },
      { path: `${sha(c2).slice(7)}.json`, data: c2 },
      { path: 'aaa/layer.tar', data: l1 },
      // old docker save: a layer shared by two images is a symlink to the first copy
      { path: 'bbb/layer.tar', type: 'symlink', linkpath: '../aaa/layer.tar' },
      { path: 'ccc/layer.tar', data: l2 },
    ]);
    const r = await load(archive);
    assert.ok('ok' in r, String((r as { err?: Error }).err));
    assert.deepEqual(r.ok.map((i) => i.tags).sort(), [['qa/one:a', 'qa/one:b'], ['qa/two:latest']]);
    assert.equal(r.s.store.resolve('qa/two:latest')!.id, sha(c2));
  });

  test('a docker-archive with gzip layers (docker save with the containerd store) loads and keeps the gzip blob', async () => {
    const l1 = layer('gzipped\n'.repeat(100));
    const gz = gzipSync(l1);
    const c1 = config([l1]);
    const archive = tarArchive([
      { path: 'manifest.json', data: JSON.stringify([{ Config: `blobs/sha256/${sha(c1).slice(7)}`, RepoTags: ['qa/gz:1'], Layers: [`blobs/sha256/${sha(gz).slice(7)}`] }]) },
      { path: `blobs/sha256/${sha(c1).slice(7)}`, data: c1 },
      { path: `blobs/sha256/${sha(gz).slice(7)}`, data: gz },
    ]);
    const r = await load(archive);
    assert.ok('ok' in r, String((r as { err?: Error }).err));
    const kept = r.s.store.layerBlob(sha(l1))!;
    assert.equal(kept.info.compression, 'gzip');
    assert.equal(kept.info.digest, sha(gz));
    // a gzip layer whose bytes do not match its blobs/sha256 name is refused
    const bad = tarArchive([
      { path: 'manifest.json', data: JSON.stringify([{ Config: `blobs/sha256/${sha(c1).slice(7)}`, RepoTags: ['qa/gz:1'], Layers: [`blobs/sha256/${'0'.repeat(64)}`] }]) },
      { path: `blobs/sha256/${sha(c1).slice(7)}`, data: c1 },
      { path: `blobs/sha256/${'0'.repeat(64)}`, data: gz },
    ]);
    const r2 = await load(bad);
    assert.ok('err' in r2);
    assert.match(r2.err.message, /digest mismatch/);
    assert.deepEqual(r2.left, []);
  });

  test('a layer symlink pointing outside the archive, a missing layer, a huge manifest.json and a tar bomb are refused with nothing left', async () => {
    const l1 = layer('one\n');
    const c1 = config([l1]);
    const withLayer = (entry: Parameters<typeof tarArchive>[0][number]) => tarArchive([
      { path: 'manifest.json', data: JSON.stringify([{ Config: `${sha(c1).slice(7)}.json`, RepoTags: ['qa/x:1'], Layers: ['aaa/layer.tar'] }]) },
      { path: `${sha(c1).slice(7)}.json`, data: c1 },
      entry,
    ]);
    const cases: [string, Buffer, RegExp][] = [
      ['relative symlink out', withLayer({ path: 'aaa/layer.tar', type: 'symlink', linkpath: '../../../../etc/passwd' }), /points outside the archive/],
      ['absolute symlink', withLayer({ path: 'aaa/layer.tar', type: 'symlink', linkpath: '/etc/passwd' }), /points outside the archive/],
      ['hard link out', withLayer({ path: 'aaa/layer.tar', type: 'link', linkpath: '../etc/passwd' }), /points outside the archive/],
      ['symlink loop', withLayer({ path: 'aaa/layer.tar', type: 'symlink', linkpath: 'layer.tar' }), /layer aaa\/layer.tar is missing/],
      ['missing layer', withLayer({ path: 'zzz/other.tar', data: l1 }), /layer aaa\/layer.tar is missing/],
      ['huge manifest.json', tarArchive([{ path: 'manifest.json', data: Buffer.alloc((8 << 20) + 1, 0x20) }]), /manifest.json is larger than/],
      ['tar bomb', tarArchive(Array.from({ length: 10_001 }, (_, i) => ({ path: `m/${i}`, data: '' }))), /more than 10000 members/],
    ];
    for (const [what, archive, want] of cases) {
      const r = await load(archive);
      assert.ok('err' in r, `${what}: loaded`);
      assert.match(r.err.message, want, what);
      assert.equal(r.err.message.split('\n').length, 1, what);
      assert.deepEqual(r.left, [], `${what}: left ${r.left.join(', ')}`);
      assert.deepEqual(r.s.store.db.prepare('SELECT id FROM images').all(), [], what);
    }
  });
});
