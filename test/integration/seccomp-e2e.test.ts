// The default seccomp profile through the real CLI and daemon: `tdock run` and
// `tdock exec` are confined, `--security-opt seccomp=unconfined` is not, bad values
// are one-line usage errors that create nothing. The probe (fixtures/seccomp-probe.c)
// is compiled at test time and imported as a tiny rootfs next to busybox.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { suiteDaemon } from '../helpers/daemon.ts';
import { buildProbe, assertConfined, assertUnconfined } from '../helpers/seccomp-probe.ts';
import { tarArchive } from '../../images/tar-writer.ts';
import { findBusybox } from '../../images/busybox.ts';

const IMAGE = 'seccomp-probe:1';
const PROBE = '/bin/seccomp-probe';

describe('seccomp: the default profile for run and exec, --security-opt', () => {
  const d = suiteDaemon();
  let dir = '';
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tdk-seccomp-'));
    const tar = tarArchive([
      { path: 'bin/', type: 'dir', mode: 0o755 },
      { path: 'bin/busybox', data: readFileSync(findBusybox()), mode: 0o755 },
      { path: 'bin/sh', type: 'symlink', linkpath: 'busybox' },
      { path: 'bin/sleep', type: 'symlink', linkpath: 'busybox' },
      { path: 'bin/grep', type: 'symlink', linkpath: 'busybox' },
      { path: 'bin/seccomp-probe', data: readFileSync(buildProbe(dir)), mode: 0o755 },
      { path: 'proc/', type: 'dir', mode: 0o755 },
    ]);
    writeFileSync(join(dir, 'rootfs.tar'), tar);
    await d.ok(['import', join(dir, 'rootfs.tar'), IMAGE]);
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('run: confined by default; seccomp=unconfined gets the kernel\'s own answers', async () => {
    assertConfined(await d.ok(['run', '--rm', IMAGE, PROBE]));
    assertUnconfined(await d.ok(['run', '--rm', '--security-opt', 'seccomp=unconfined', IMAGE, PROBE]));
    // no-new-privileges is always on: accepted, and the profile stays.
    assertConfined(await d.ok(['run', '--rm', '--security-opt', 'no-new-privileges', '--security-opt=no-new-privileges=true', IMAGE, PROBE]));
  });

  test('exec gets the container\'s profile; inspect shows SecurityOpt, info the profile', async () => {
    const confined = (await d.ok(['run', '-d', IMAGE, 'sleep', '1000'])).trim();
    const open = (await d.ok(['run', '-d', '--security-opt', 'seccomp=unconfined', IMAGE, 'sleep', '1000'])).trim();
    try {
      assertConfined(await d.ok(['exec', confined, PROBE]));
      assert.equal(await d.ok(['exec', confined, 'grep', '^Seccomp:', '/proc/self/status']), 'Seccomp:\t2\n');
      assertUnconfined(await d.ok(['exec', open, PROBE]));
      const hc = (id: string) => d.ok(['inspect', id]).then((o) => JSON.parse(o)[0].HostConfig.SecurityOpt);
      assert.equal(await hc(confined), null);
      assert.deepEqual(await hc(open), ['seccomp=unconfined']);
    } finally {
      await d.ok(['rm', '-f', confined, open]);
    }
    assert.match(await d.ok(['info']), /^\s*name=seccomp,profile=default$/m);
  });

  test('bad --security-opt values: one line, exit 125, nothing created', async () => {
    const before = await d.ok(['ps', '-aq']);
    for (const args of [
      ['run', '--rm', '--security-opt', 'seccomp=/etc/profile.json', IMAGE, 'true'],
      ['create', '--security-opt', 'apparmor=unconfined', IMAGE, 'true'],
      ['run', '--security-opt', 'no-new-privileges=false', IMAGE, 'true'],
      ['create', '--security-opt', 'seccomp', IMAGE, 'true'],
    ]) {
      const r = await d.cli(args);
      assert.equal(r.code, 125, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, /--security-opt/);
      assert.equal(r.stdout, '');
    }
    assert.equal(await d.ok(['ps', '-aq']), before);
  });
});
