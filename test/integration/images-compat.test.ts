// Real images behave as under Docker: layers carrying /dev nodes (debootstrap trees,
// umoci/buildah/`docker import` images) unpack with the nodes skipped; a missing
// working directory is created (owned by the container's user, resolved inside the
// rootfs); HOME comes from the image's /etc/passwd.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { TestDaemon } from '../helpers/daemon.ts';
import { tarArchive } from '../../images/tar-writer.ts';
import type { TarEntrySpec } from '../../images/tar-writer.ts';
import { findBusybox } from '../../images/busybox.ts';

/** A minimal busybox rootfs plus `extra` entries. */
function rootfsTar(extra: TarEntrySpec[]): Buffer {
  return tarArchive([
    { path: 'bin/', type: 'dir', mode: 0o755 },
    { path: 'bin/busybox', data: readFileSync(findBusybox()), mode: 0o755 },
    { path: 'bin/sh', type: 'symlink', linkpath: '/bin/busybox' },
    { path: 'bin/pwd', type: 'symlink', linkpath: 'busybox' },
    { path: 'bin/ls', type: 'symlink', linkpath: 'busybox' },
    { path: 'etc/', type: 'dir', mode: 0o755 },
    { path: 'etc/marker', data: 'devs\n' },
    ...extra,
  ]);
}

/** What debootstrap leaves in a Debian tree's /dev. */
export const DEV_ENTRIES: TarEntrySpec[] = [
  { path: 'dev/', type: 'dir', mode: 0o755 },
  { path: 'dev/null', type: 'char', mode: 0o666, devmajor: 1, devminor: 3 },
  { path: 'dev/zero', type: 'char', mode: 0o666, devmajor: 1, devminor: 5 },
  { path: 'dev/console', type: 'char', mode: 0o600, devmajor: 5, devminor: 1 },
  { path: 'dev/sda', type: 'block', mode: 0o660, gid: 6, devmajor: 8, devminor: 0 },
  { path: 'dev/loop0', type: 'block', mode: 0o660, gid: 6, devmajor: 7, devminor: 0 },
  { path: 'dev/fd', type: 'symlink', linkpath: '/proc/self/fd' },
  { path: 'dev/pts/', type: 'dir', mode: 0o755 },
];

describe('real images as under Docker', () => {
  const d = new TestDaemon();
  let dir = '';
  before(async () => {
    await d.start();
    dir = mkdtempSync(join(tmpdir(), 'tdk-compat-'));
  });
  after(async () => {
    rmSync(dir, { recursive: true, force: true });
    await d.cleanup();
  });

  test('import of a layer with device nodes skips them and keeps everything else', async () => {
    const r = await d.cli(['import', '-', 'devs:1'], { input: rootfsTar(DEV_ENTRIES) });
    assert.equal(r.code, 0, r.stderr);
    const layer = (await d.inspect('devs:1')).GraphDriver?.Data?.LowerDir ?? '';
    const layerDir = String(layer).split(':')[0]!;
    assert.ok(layerDir && existsSync(layerDir), `layer dir from inspect: ${layer}`);
    assert.deepEqual(readdirSync(join(layerDir, 'dev')).sort(), ['fd', 'pts']);
    assert.ok(lstatSync(join(layerDir, 'dev/fd')).isSymbolicLink());
    assert.equal(readFileSync(join(layerDir, 'etc/marker'), 'utf8'), 'devs\n');
    // the container's /dev is its own
    assert.equal(await d.ok(['run', '--rm', 'devs:1', '/bin/sh', '-c', 'cat /etc/marker; echo x > /dev/null && echo ok']), 'devs\nok\n');
  });

  test('-w creates a missing working directory, owned by the container user', async () => {
    assert.equal(await d.ok(['run', '--rm', '-w', '/newdir', 'busybox', 'pwd']), '/newdir\n');
    assert.equal(await d.ok(['run', '--rm', '-w', '/a/b/c', 'busybox', 'pwd']), '/a/b/c\n');
    // as chdir resolves it: /x must exist for /x/../y
    assert.equal(await d.ok(['run', '--rm', '-w', '/x/../y', 'busybox', 'sh', '-c', 'pwd; ls -d /x']), '/y\n/x\n');
    assert.equal(await d.ok(['run', '--rm', '--user', '1000', '-w', '/newdir', 'busybox', 'sh', '-c', 'stat -c %u /newdir; touch f && echo writable']), '1000\nwritable\n');
    // an existing directory keeps its owner
    assert.equal(await d.ok(['run', '--rm', '--user', '1000', '-w', '/etc', 'busybox', 'stat', '-c', '%u', '/etc']), '0\n');
    // a file in the way is an error, as in Docker
    const r = await d.cli(['run', '--rm', '-w', '/etc/passwd', 'busybox', 'pwd']);
    assert.notEqual(r.code, 0);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  });

  test('-w through a symlink out of the rootfs creates nothing outside', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'tdk-compat-outside-'));
    try {
      const tar = rootfsTar([
        { path: 'abs', type: 'symlink', linkpath: outside },
        { path: 'rel', type: 'symlink', linkpath: `../../../../../../../..${outside}` },
      ]);
      assert.equal((await d.cli(['import', '-', 'links:1'], { input: tar })).code, 0);
      for (const w of ['/abs/made', '/rel/made', '/abs']) {
        const r = await d.cli(['run', '--rm', '-w', w, 'links:1', '/bin/sh', '-c', 'pwd -P']);
        assert.equal(r.code, 0, `${w}: ${r.stderr}`);
        // resolved inside the container: the same path, below its own root
        assert.equal(r.stdout, `${outside}${w === '/abs' ? '' : '/made'}\n`, w);
      }
      assert.deepEqual(readdirSync(outside), [], 'nothing created on the host');
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  test('HOME comes from the image\'s /etc/passwd; / without an entry; -e HOME wins', async () => {
    const passwd = await d.ok(['run', '--rm', 'busybox', 'cat', '/etc/passwd']);
    const nobodyHome = passwd.split('\n').find((l) => l.startsWith('nobody:'))!.split(':')[5];
    assert.equal(await d.ok(['run', '--rm', '-u', 'nobody', 'busybox', 'sh', '-c', 'echo $HOME']), `${nobodyHome}\n`);
    assert.equal(await d.ok(['run', '--rm', '-u', '12345', 'busybox', 'sh', '-c', 'echo $HOME']), '/\n');
    assert.equal(await d.ok(['run', '--rm', 'busybox', 'sh', '-c', 'echo $HOME']), '/root\n');
    assert.equal(await d.ok(['run', '--rm', '-u', 'nobody', '-e', 'HOME=/x', 'busybox', 'sh', '-c', 'echo $HOME']), '/x\n');
    // exec: the exec's user, unless the container's env has HOME
    const id = (await d.ok(['run', '-d', 'busybox', 'sleep', '1000'])).trim();
    try {
      assert.equal(await d.ok(['exec', '-u', 'nobody', id, 'sh', '-c', 'echo $HOME']), `${nobodyHome}\n`);
      assert.equal(await d.ok(['exec', id, 'sh', '-c', 'echo $HOME']), '/root\n');
      assert.equal(await d.ok(['exec', '-e', 'HOME=/y', id, 'sh', '-c', 'echo $HOME']), '/y\n');
    } finally {
      await d.ok(['rm', '-f', id]);
    }
  });
});
