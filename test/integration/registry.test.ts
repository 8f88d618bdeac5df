// Registry pulls against a real CNCF distribution registry (Debian's docker-registry) on
// 127.0.0.1 without auth: multi-layer images with whiteouts and opaque dirs, gzip,
// uncompressed and zstd layers, a multi-platform index, pulls by digest, shared layers,
// the image config in inspect, and hostile or broken images (refused, nothing written
// outside the store, nothing half-registered).
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openDb } from '../../daemon/store/db.ts';
import type { Db } from '../../daemon/store/db.ts';
import { ImageService } from '../../daemon/images.ts';
import { ImageStore } from '../../images/store.ts';
import { tarArchive } from '../../images/tar-writer.ts';
import type { PullProgress } from '../../proto/api.ts';
import { freePort, haveRegistry, Pusher, pushImage, pushIndex, startRegistry } from './registry-harness.ts';
import type { PushedImage, RegistryProcess } from './registry-harness.ts';

const isRoot = process.getuid?.() === 0;
const SHIFT = { uid: 100000, gid: 100000, size: 65536 };
const SHIM = new URL('../../shim/tdock-shim', import.meta.url).pathname;

const skip = !isRoot ? 'needs root (layers are chowned into the subordinate range)' : !haveRegistry ? 'docker-registry is not installed (apt-get install docker-registry)' : false;

describe('registry pulls (no auth)', { skip }, () => {
  let scratch = '';
  let reg: RegistryProcess;
  let push: Pusher;
  let n = 0;
  let base: PushedImage;
  let app: PushedImage;

  const layer1 = tarArchive([
    { path: 'bin/', type: 'dir' },
    { path: 'bin/sh', data: '#!/bin/true\n', mode: 0o755 },
    { path: 'etc/', type: 'dir' },
    { path: 'etc/passwd', data: 'root:x:0:0:root:/root:/bin/sh\n' },
    { path: 'etc/old.conf', data: 'old\n' },
    { path: 'opt/', type: 'dir' },
    { path: 'opt/a', data: 'a\n' },
    { path: 'opt/b', data: 'b\n' },
  ]);
  const layer2 = tarArchive([
    { path: 'etc/', type: 'dir' },
    { path: 'etc/.wh.old.conf', data: '' },
    { path: 'opt/', type: 'dir' },
    { path: 'opt/.wh..wh..opq', data: '' },
    { path: 'opt/c', data: 'c\n' },
  ]);
  const layer3 = tarArchive([
    { path: 'app/', type: 'dir' },
    { path: 'app/run', data: 'run\n', mode: 0o755, uid: 1000, gid: 1000 },
  ]);
  const CONFIG = {
    User: '1000:1000', Env: ['PATH=/bin', 'APP=1'], Entrypoint: ['/app/run'], Cmd: ['--serve'], WorkingDir: '/app',
    ExposedPorts: { '8080/tcp': {} },
  };

  function service(): { svc: ImageService; db: Db; root: string } {
    const root = join(scratch, `root-${n++}`);
    mkdirSync(root);
    const db = openDb(join(root, 'tdock.db'));
    const store = new ImageStore(db, root, SHIFT);
    const svc = new ImageService(store, () => false, { shim: SHIM, retryDelay: 10, catalog: join(scratch, 'empty-catalog.json') });
    return { svc, db, root };
  }

  async function pull(svc: ImageService, ref: string, platform?: string): Promise<{ id: string; events: PullProgress[] }> {
    const events: PullProgress[] = [];
    const r = await svc.pull(ref, (p) => events.push(p), platform ? { platform } : {});
    return { id: r.id, events };
  }

  function counts(db: Db): Record<string, number> {
    const c: Record<string, number> = {};
    for (const t of ['layers', 'images', 'image_layers', 'tags', 'repo_digests']) {
      c[t] = (db.prepare(`SELECT count(*) AS n FROM ${t}`).get() as { n: number }).n;
    }
    return c;
  }

  const tmpLeft = (root: string) => readdirSync(join(root, 'layers')).filter((x) => x.startsWith('tmp-'));

  before(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'tdock-registry-'));
    await import('node:fs').then((fs) => fs.writeFileSync(join(scratch, 'empty-catalog.json'), '{"version":1,"images":{}}'));
    reg = await startRegistry(join(scratch, 'registry'));
    push = new Pusher(reg.base);
    base = await pushImage(push, 'test/base', 'v1', [{ tar: layer1, compression: 'gzip' }]);
    app = await pushImage(push, 'test/app', 'latest', [
      { tar: layer1, compression: 'gzip' },
      { tar: layer2, compression: 'none' },
      { tar: layer3, compression: 'zstd' },
    ], { config: CONFIG });
  });
  after(async () => {
    await reg?.stop();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('pulls a 3-layer image (gzip, plain, zstd) with its config, whiteouts and opaque dirs', async () => {
    const { svc, db, root } = service();
    const ref = `${reg.host}/test/app`;
    const { id, events } = await pull(svc, ref);
    assert.equal(id, 'sha256:' + (await import('node:crypto')).createHash('sha256').update(app.config).digest('hex'));
    assert.ok(events.some((e) => e.status === 'Pull complete'), 'per-layer completion');
    assert.ok(events.some((e) => e.status === 'Downloading' && e.total > 0), 'byte progress');
    const rec = svc.store.resolve(`${ref}:latest`)!;
    assert.deepEqual(rec.layers, app.diffIds);
    const dirs = svc.store.layerDirs(id).reverse(); // bottom first
    assert.equal(readFileSync(join(dirs[0]!, 'etc/old.conf'), 'utf8'), 'old\n');
    assert.equal(readFileSync(join(dirs[2]!, 'app/run'), 'utf8'), 'run\n');
    assert.equal(statSync(join(dirs[2]!, 'app/run')).uid, SHIFT.uid + 1000);
    const wh = lstatSync(join(dirs[1]!, 'etc/old.conf'));
    assert.ok(wh.isCharacterDevice() && wh.rdev === 0, 'overlay whiteout');
    assert.equal(existsSync(join(dirs[1]!, 'etc/.wh.old.conf')), false);
    assert.deepEqual(readdirSync(join(dirs[1]!, 'opt')).filter((f) => !f.startsWith('.wh')), ['c']);
    const ins = svc.inspect(ref) as { Config: typeof CONFIG; RepoDigests: string[]; RepoTags: string[]; Architecture: string };
    assert.deepEqual(ins.Config, CONFIG);
    assert.deepEqual(ins.RepoTags, [`${ref}:latest`]);
    assert.deepEqual(ins.RepoDigests, [`${ref}@${app.manifestDigest}`]);
    assert.equal(ins.Architecture, 'amd64');
    assert.deepEqual(await svc.ensure(ref).then((e) => e.config), CONFIG);
    assert.deepEqual(counts(db), { layers: 3, images: 1, image_layers: 3, tags: 1, repo_digests: 1 });
    assert.deepEqual(tmpLeft(root), []);

    // a second image with the same base layer shares it; pulling again downloads nothing
    const second = await pull(svc, `${reg.host}/test/base:v1`);
    assert.ok(second.events.some((e) => e.status === 'Already exists'));
    assert.deepEqual(svc.store.layerDirs(second.id), [dirs[0]]);
    const again = await pull(svc, ref);
    assert.equal(again.id, id);
    assert.equal(again.events.filter((e) => e.status === 'Already exists').length, 3);
    assert.equal(counts(db)['layers'], 3);

    // by digest: recorded as a repo digest, resolvable
    const byDigest = await pull(svc, `${reg.host}/test/base@${base.manifestDigest}`);
    assert.equal(byDigest.id, second.id);
    assert.equal(svc.store.resolve(`${reg.host}/test/base@${base.manifestDigest}`)?.id, second.id);

    // rmi refuses while in use, prune keeps tagged images
    const used = new ImageService(svc.store, (i) => i === id, {});
    await assert.rejects(used.remove(ref, false), /in use by a container/);
    assert.deepEqual((await svc.prune()).deleted, []);
    db.close();
  });

  it('turns whiteouts into overlayfs ones with tdock-shim whiteouts', async () => {
    const { svc, db } = service();
    const { id } = await pull(svc, `${reg.host}/test/app`);
    const dir = svc.store.layerDirs(id).reverse()[1]!;
    const wh = lstatSync(join(dir, 'etc/old.conf'));
    assert.ok(wh.isCharacterDevice() && wh.rdev === 0, 'char device 0:0');
    assert.equal(wh.uid, SHIFT.uid);
    const { execFileSync } = await import('node:child_process');
    const opq = execFileSync('python3', ['-c', 'import os,sys; print(os.getxattr(sys.argv[1], "trusted.overlay.opaque").decode())', join(dir, 'opt')], { encoding: 'utf8' }).trim();
    assert.equal(opq, 'y');
    assert.equal(existsSync(dir + '.whiteouts.json'), false);
    db.close();
  });

  it('selects the platform from an index (default and --platform), refuses a missing one', async () => {
    const amd = await pushImage(push, 'test/multi', 'amd64', [{ tar: tarArchive([{ path: 'arch', data: 'amd64' }]) }], { architecture: 'amd64' });
    const arm = await pushImage(push, 'test/multi', 'arm64', [{ tar: tarArchive([{ path: 'arch', data: 'arm64' }]) }], { architecture: 'arm64', variant: 'v8' });
    const idx = await pushIndex(push, 'test/multi', 'latest', [
      { digest: arm.manifestDigest, size: arm.manifestSize, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      { digest: amd.manifestDigest, size: amd.manifestSize, platform: { os: 'linux', architecture: 'amd64' } },
    ]);
    const { svc, db } = service();
    const ref = `${reg.host}/test/multi`;
    const host = process.arch === 'arm64' ? 'arm64' : 'amd64';
    const a = await pull(svc, ref);
    assert.equal(readFileSync(join(svc.store.layerDirs(a.id)[0]!, 'arch'), 'utf8'), host);
    const b = await pull(svc, ref, 'linux/arm64');
    assert.equal(readFileSync(join(svc.store.layerDirs(b.id)[0]!, 'arch'), 'utf8'), 'arm64');
    assert.deepEqual((svc.inspect(ref) as { RepoDigests: string[] }).RepoDigests, [`${ref}@${idx.digest}`]);
    await assert.rejects(pull(svc, ref, 'linux/s390x'), /no matching platform: .* has no image for linux\/s390x \(it has linux\/arm64, linux\/amd64\)/);
    await assert.rejects(pull(svc, `${ref}:amd64`, 'linux/arm64'), /no matching platform/);
    db.close();
  });

  it('names the cause: unknown repository, no such tag, unreachable registry', async () => {
    const { svc, db, root } = service();
    await assert.rejects(pull(svc, `${reg.host}/test/nothere:v1`), (e: Error & { code?: string }) => e.code === 'NOT_FOUND' && /unknown name|no such tag/.test(e.message));
    await assert.rejects(pull(svc, `${reg.host}/test/app:nosuchtag`), (e: Error & { code?: string }) => e.code === 'NOT_FOUND' && /no such tag: test\/app:nosuchtag/.test(e.message));
    const dead = await freePort();
    await assert.rejects(pull(svc, `127.0.0.1:${dead}/x/y`), (e: Error & { code?: string }) => e.code === 'FAILED_PRECONDITION' && /unreachable.*ECONNREFUSED/.test(e.message));
    assert.deepEqual(counts(db), { layers: 0, images: 0, image_layers: 0, tags: 0, repo_digests: 0 });
    assert.deepEqual(tmpLeft(root), []);
    db.close();
  });

  it('refuses hostile and broken images: nothing outside the store, nothing registered', async () => {
    const outside = join(scratch, 'outside');
    mkdirSync(outside, { recursive: true });
    const good = { tar: tarArchive([{ path: 'ok', data: 'fine' }]) };
    const realTar = tarArchive([{ path: 'big', data: Buffer.alloc(200_000, 7) }]);
    const gz = (await import('node:zlib')).gzipSync(realTar);
    const cases: { name: string; layers: { tar: Buffer; compression?: 'gzip' | 'none'; blob?: Buffer }[]; expect: RegExp }[] = [
      { name: 'traversal', layers: [good, { tar: tarArchive([{ path: '../../../../outside/pwned', data: 'x' }]) }], expect: /layer rejected: entry .* escapes the root/ },
      { name: 'abs-symlink', layers: [{ tar: tarArchive([{ path: 'evil', type: 'symlink', linkpath: outside }, { path: 'evil/pwned', data: 'x' }]) }], expect: /goes through the symlink/ },
      { name: 'rel-symlink', layers: [{ tar: tarArchive([{ path: 'evil', type: 'symlink', linkpath: '../../../../outside' }, { path: 'evil/pwned', data: 'x' }]) }], expect: /goes through the symlink/ },
      { name: 'hardlink', layers: [{ tar: tarArchive([{ path: 'h', type: 'link', linkpath: '../../../../outside/target' }]) }], expect: /hardlink .* escapes the root|not extracted/ },
      { name: 'truncated-gzip', layers: [good, { tar: realTar, blob: gz.subarray(0, Math.floor(gz.length / 2)) }], expect: /layer rejected: (truncated|bad) gzip/ },
      { name: 'diffid-mismatch', layers: [{ tar: realTar, blob: (await import('node:zlib')).gzipSync(tarArchive([{ path: 'other', data: 'x' }])) }], expect: /digest mismatch: layer .* unpacks to/ },
    ];
    const { svc, db, root } = service();
    for (const c of cases) {
      await pushImage(push, `hostile/${c.name}`, 'latest', c.layers);
      await assert.rejects(pull(svc, `${reg.host}/hostile/${c.name}`), (e: Error) => {
        assert.match(e.message, c.expect, `${c.name}: ${e.message}`);
        return true;
      });
      assert.deepEqual(readdirSync(outside), [], `${c.name} wrote outside`);
      assert.deepEqual(tmpLeft(root), [], `${c.name} left a tmp dir`);
      assert.equal(counts(db)['images'], 0, `${c.name} registered an image`);
    }
    // a manifest whose layer blob is gone from the registry
    const gone = await pushImage(push, 'hostile/missing', 'latest', [{ tar: tarArchive([{ path: 'x', data: 'missing' }]) }]);
    await push.deleteBlob('hostile/missing', gone.layerDigests[0]!);
    await assert.rejects(pull(svc, `${reg.host}/hostile/missing`), /blob sha256:[a-f0-9]+ of .* is missing on the registry/);
    assert.deepEqual(counts(db), { layers: 0, images: 0, image_layers: 0, tags: 0, repo_digests: 0 });
    assert.deepEqual(tmpLeft(root), []);
    db.close();
  });
});
