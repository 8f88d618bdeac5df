// Importing rootfs tarballs through the real CLI: images, run, rmi, a hostile tarball,
// and the daemon socket's permissions.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { TestDaemon } from '../helpers/daemon.ts';
import { tarArchive } from '../../images/tar-writer.ts';
import { findBusybox } from '../../images/busybox.ts';
import { readFileSync } from 'node:fs';

describe('tdock import, images, rmi', () => {
  const d = new TestDaemon();
  let dir = '';
  before(async () => {
    await d.start();
    dir = mkdtempSync(join(tmpdir(), 'tdk-imgcli-'));
  });
  after(async () => {
    rmSync(dir, { recursive: true, force: true });
    await d.cleanup();
  });

  test('the daemon socket is 0660 and owned by the tdock group', () => {
    const st = statSync(d.socket);
    assert.equal(st.mode & 0o777, 0o660);
    const gid = Number(readFileSync('/etc/group', 'utf8').split('\n').find((l) => l.startsWith('tdock:'))!.split(':')[2]);
    assert.equal(st.gid, gid);
  });

  test('host users cannot enter the state directories; container root can still reach its rootfs', async () => {
    const gid = 100000;
    for (const dir of [d.root, join(d.root, 'containers')]) {
      const st = statSync(dir);
      assert.equal(st.mode & 0o777, 0o710, dir);
      assert.equal(st.uid, 0);
      assert.equal(st.gid, gid);
    }
    assert.equal(statSync(join(d.root, 'layers')).mode & 0o777, 0o700);
    const id = (await d.ok(['run', '-d', 'busybox', 'sleep', '1000'])).trim();
    try {
      assert.equal(statSync(join(d.root, 'containers', id)).mode & 0o777, 0o710);
      const r = spawnSync('runuser', ['-u', 'nobody', '--', 'ls', join(d.root, 'containers', id, 'upper')], { encoding: 'utf8' });
      assert.notEqual(r.status, 0, 'nobody cannot list a container\'s upper dir');
    } finally {
      await d.ok(['rm', '-f', id]);
    }
  });

  test('import a .tar.gz rootfs, list it, run it, refuse rmi while in use, then remove it', async () => {
    const bb = readFileSync(findBusybox());
    const tar = tarArchive([
      { path: 'bin/', type: 'dir', mode: 0o755 },
      { path: 'bin/busybox', data: bb, mode: 0o755 },
      { path: 'bin/sh', type: 'symlink', linkpath: '/bin/busybox' },
      { path: 'bin/cat', type: 'symlink', linkpath: 'busybox' },
      { path: 'etc/', type: 'dir', mode: 0o755 },
      { path: 'etc/motd', data: 'imported rootfs\n', mode: 0o644 },
      { path: 'etc/secret', data: 'x\n', mode: 0o600, uid: 1000, gid: 1000 },
    ]);
    const file = join(dir, 'rootfs.tar.gz');
    writeFileSync(file, gzipSync(tar));
    const out = await d.ok(['import', file, 'mini:1.0']);
    assert.match(out, /sha256:[0-9a-f]{64}/);
    assert.match(await d.ok(['images']), /^mini\s+1\.0\s+[0-9a-f]{12}\s+/m);
    assert.equal(await d.ok(['run', '--rm', 'mini:1.0', '/bin/cat', '/etc/motd']), 'imported rootfs\n');
    // The layer's files are owned by the shifted ids on the host.
    const info = JSON.parse(await d.ok(['image', 'inspect', 'mini:1.0']))[0];
    assert.deepEqual(info.RepoTags, ['mini:1.0']);
    const layers = readdirSync(join(d.root, 'layers')).filter((n) => /^[0-9a-f]{64}$/.test(n));
    const secret = layers.map((l) => join(d.root, 'layers', l, 'etc', 'secret')).find((p) => existsSync(p))!;
    assert.equal(statSync(secret).uid, 100000 + 1000);

    const id = (await d.ok(['run', '-d', 'mini:1.0', '/bin/sh', '-c', 'read x'])).trim();
    const busy = await d.cli(['rmi', 'mini:1.0']);
    assert.notEqual(busy.code, 0);
    assert.match(busy.stderr, /in use/);
    await d.ok(['rm', '-f', id]);
    await d.ok(['rmi', 'mini:1.0']);
    assert.doesNotMatch(await d.ok(['images']), /mini/);
  });

  test('import from stdin (-)', async () => {
    const tar = tarArchive([{ path: 'hello.txt', data: 'hi\n', mode: 0o644 }]);
    const out = await d.cli(['import', '-', 'fromstdin'], { input: tar });
    assert.equal(out.code, 0, out.stderr);
    assert.match(await d.ok(['images']), /^fromstdin\s+latest/m);
    await d.ok(['rmi', 'fromstdin']);
  });

  test('a hostile tarball is refused with a clear one-line error and nothing is written outside', async () => {
    const marker = join(dir, 'escaped');
    for (const entries of [
      [{ path: '../../../../../../..' + marker, data: 'pwned' }],
      [{ path: 'evil', type: 'symlink', linkpath: dir }, { path: 'evil/escaped', data: 'pwned' }],
      [{ path: 'hard', type: 'link', linkpath: '/etc/passwd' }],
    ]) {
      const file = join(dir, 'evil.tar');
      writeFileSync(file, tarArchive(entries));
      const r = await d.cli(['import', file, 'evil']);
      assert.notEqual(r.code, 0);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, /rejected|escapes|outside/i);
      assert.ok(!existsSync(marker), 'nothing written outside the layer');
    }
    assert.doesNotMatch(await d.ok(['images']), /evil/);
    assert.deepEqual(readdirSync(join(d.root, 'layers')).filter((n) => n.startsWith('tmp-')), []);
  });

  test('unknown image and bad references get one-line errors', async () => {
    for (const args of [['run', '--rm', 'nope:1', 'true'], ['rmi', 'nope'], ['image', 'inspect', 'nope'], ['run', '--rm', 'UPPER', 'true']]) {
      const r = await d.cli(args);
      assert.notEqual(r.code, 0, args.join(' '));
      assert.equal(r.stderr.trim().split('\n').length, 1, `${args.join(' ')}: ${r.stderr}`);
    }
  });
});

