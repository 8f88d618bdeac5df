// Mount targets resolved through symlinks of the image: a bind, a tmpfs or a volume
// whose container path goes through a symlink pointing out of the rootfs (absolute,
// relative with "..", or at a host path) lands inside the container's root, never on
// the host: no directory or file made on the host, nothing mounted there, and a
// volume's copy-up reads the image's directory, not the host's. Each case fails if
// the shim followed the link as the host sees it (open_in_root: RESOLVE_IN_ROOT).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suiteDaemon } from '../../helpers/daemon.ts';
import { requireRoot } from '../../helpers/breakout.ts';
import { tarArchive } from '../../../images/tar-writer.ts';
import { findBusybox } from '../../../images/busybox.ts';

requireRoot();

describe('breakout: mount targets through symlinks stay in the rootfs', () => {
  const d = suiteDaemon();
  let src = '';
  let hostProbe = '';
  const evil = `tdock-evil-${process.pid}`;
  before(async () => {
    src = join(d.base, 'src');
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, 'marker'), 'from the bind\n');
    writeFileSync(join(d.base, 'srcfile'), 'file bind\n');
    hostProbe = join(d.base, 'host-probe');
    mkdirSync(hostProbe);
    const tar = tarArchive([
      { path: 'bin/', type: 'dir', mode: 0o755 },
      { path: 'bin/busybox', data: readFileSync(findBusybox()), mode: 0o755 },
      { path: 'bin/sh', type: 'symlink', linkpath: 'busybox' },
      { path: 'etc/', type: 'dir', mode: 0o755 },
      { path: 'etc/image-only', data: 'image\n' },
      { path: 'mnt/', type: 'dir', mode: 0o755 },
      { path: 'mnt/abs', type: 'symlink', linkpath: '/etc' },
      { path: 'mnt/rel', type: 'symlink', linkpath: '../../../../../../../../../../etc' },
      { path: 'mnt/probe', type: 'symlink', linkpath: hostProbe },
      { path: 'mnt/file', type: 'symlink', linkpath: `/etc/${evil}-file` },
      { path: 'mnt/kernel', type: 'symlink', linkpath: '/proc/sys/kernel' },
      { path: 'mnt/core', type: 'symlink', linkpath: '../proc/sys/kernel/core_pattern' },
      { path: 'mnt/meminfo', type: 'symlink', linkpath: '/proc/meminfo' },
    ]);
    await d.ok(['import', '-', 'links:1'], { input: tar });
  });
  after(() => {
    for (const p of [`/etc/${evil}`, `/etc/${evil}-rel`, `/etc/${evil}-file`, `/etc/${evil}-tmpfs`]) rmSync(p, { recursive: true, force: true });
  });

  const hostUntouched = () => {
    for (const p of [`/etc/${evil}`, `/etc/${evil}-rel`, `/etc/${evil}-file`, `/etc/${evil}-tmpfs`]) {
      assert.equal(existsSync(p), false, `${p} was made on the host`);
    }
    assert.deepEqual(readdirSync(hostProbe), [], 'the host directory a link points at got something');
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8');
    assert.doesNotMatch(mounts, new RegExp(`${evil}| ${hostProbe} `), 'a mount reached the host');
  };

  test('a bind through an absolute, a relative and a host-path symlink lands in the container', async () => {
    const out = await d.ok(['run', '--rm',
      '-v', `${src}:/mnt/abs/${evil}`,
      '-v', `${src}:/mnt/rel/${evil}-rel`,
      '-v', `${src}:/mnt/probe`,
      '-v', `${join(d.base, 'srcfile')}:/mnt/file`,
      'links:1', 'sh', '-c',
      `cat /etc/${evil}/marker /etc/${evil}-rel/marker ${hostProbe}/marker /etc/${evil}-file; cat /etc/image-only`]);
    assert.equal(out, 'from the bind\nfrom the bind\nfrom the bind\nfile bind\nimage\n');
    hostUntouched();
  });

  test('a mount whose target a symlink of the image puts inside /proc is refused (runc\'s rule), with nothing left', async () => {
    const cases: [string[], string][] = [
      [['--tmpfs', '/mnt/kernel'], '/mnt/kernel'],
      [['-v', `${src}:/mnt/kernel/x`], '/mnt/kernel/x'],
      [['-v', `${join(d.base, 'srcfile')}:/mnt/core`], '/mnt/core'],
      [['-v', 'procvol:/mnt/kernel'], '/mnt/kernel'],
      // a file over /proc/meminfo is allowed only when asked as /proc/meminfo, not through a link
      [['-v', `${join(d.base, 'srcfile')}:/mnt/meminfo`], '/mnt/meminfo'],
    ];
    for (const [flags, dest] of cases) {
      const r = await d.cli(['run', '--rm', ...flags, 'links:1', 'sh', '-c', 'true']);
      assert.equal(r.code, 125, `${flags.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`"${dest}" cannot be mounted because it is inside /proc`), flags.join(' '));
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.equal((await d.ok(['ps', '-aq'])).trim(), '');
      await d.cli(['volume', 'rm', 'procvol']);
      assert.deepEqual(d.leftovers(), []);
    }
    hostUntouched();
  });

  test('a tmpfs through a symlink lands in the container', async () => {
    assert.equal(await d.ok(['run', '--rm', '--tmpfs', `/mnt/abs/${evil}-tmpfs`, 'links:1', 'sh', '-c',
      `grep -c " /etc/${evil}-tmpfs tmpfs" /proc/mounts`]), '1\n');
    hostUntouched();
  });

  test('a volume through a symlink copies up the image\'s directory, never the host\'s', async () => {
    assert.equal(await d.ok(['run', '--rm', '-v', 'through:/mnt/abs', 'links:1', 'sh', '-c', 'cat /etc/image-only']), 'image\n');
    const data = join(d.root, 'volumes/through/_data');
    assert.ok(existsSync(join(data, 'image-only')), 'the image\'s /etc was copied');
    // (hostname, hosts and resolv.conf are the container's own files, bound before user mounts)
    for (const hostOnly of ['shadow', 'os-release', 'fstab', 'machine-id']) {
      if (existsSync(`/etc/${hostOnly}`)) assert.equal(existsSync(join(data, hostOnly)), false, `host /etc/${hostOnly} was copied`);
    }
    await d.ok(['volume', 'rm', 'through']);
    hostUntouched();
  });
});
