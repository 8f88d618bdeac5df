// The default seccomp profile (shim/seccomp.c), tried by a probe (fixtures/seccomp-probe.c,
// compiled at test time) that makes each call the profile blocks, and some it must
// not: in the shim's containers directly (the command confined, init not, "unconfined"
// installs nothing, calls through another ABI, i386 or x32, kill), and through the real
// CLI and daemon (`run` and `exec` confined, `--security-opt seccomp=unconfined` not,
// bad values one-line usage errors that create nothing). Root only.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { suiteDaemon } from '../../helpers/daemon.ts';
import { buildProbe, assertConfined, assertUnconfined, parseProbe } from '../../helpers/seccomp-probe.ts';
import { destroy, sh, shimHarness, startMonitor, writeConfig } from '../../helpers/shim-harness.ts';
import { requireRoot } from '../../helpers/breakout.ts';
import { tarArchive } from '../../../images/tar-writer.ts';
import { findBusybox } from '../../../images/busybox.ts';

requireRoot();

describe('seccomp in the shim\'s containers', () => {
  const { makeBundle, run } = shimHarness();

  test('the default profile blocks what it lists, in the command but not in init', async () => {
    const r = await run({ args: ['seccomp-probe'] });
    assert.equal(r.exit.exitCode, 0, r.stderr);
    assertConfined(r.stdout);
    const st = await run(sh('grep -E "^Seccomp(_filters)?:" /proc/1/status /proc/self/status'));
    assert.equal(st.stdout, '/proc/1/status:Seccomp:\t0\n/proc/1/status:Seccomp_filters:\t0\n' +
      '/proc/self/status:Seccomp:\t2\n/proc/self/status:Seccomp_filters:\t1\n');
    // "default" said explicitly is the same; so is a non-root user, and a command without no_new_privs.
    assertConfined((await run({ args: ['seccomp-probe'], seccomp: 'default', user: { uid: 1000, gid: 1000, additionalGids: [] } })).stdout);
    const nnp = await run({ args: ['seccomp-probe'], noNewPrivileges: false });
    assert.equal(nnp.exit.exitCode, 0, nnp.stderr);
    assertConfined(nnp.stdout);
  });

  test('a call through another ABI kills the process: i386 (int 0x80) and x32 (bit 30)', { skip: process.arch !== 'x64' && 'x86_64 only: the other ABIs are x86\'s' }, async () => {
    const r = parseProbe((await run({ args: ['seccomp-probe'] })).stdout);
    assert.equal(r.int80, 'signal 31', 'int 0x80 getpid');
    assert.equal(r.x32, 'signal 31', 'x32 getpid (0x40000027)');
  });

  test('"unconfined" installs no filter; a bad value is a config error', async () => {
    const r = await run({ args: ['seccomp-probe'], seccomp: 'unconfined' });
    assertUnconfined(r.stdout);
    const st = await run({ ...sh('grep "^Seccomp:" /proc/self/status'), seccomp: 'unconfined' });
    assert.equal(st.stdout, 'Seccomp:\t0\n');
    const b = makeBundle({ seccomp: 'strict' });
    try {
      writeConfig(b);
      const s = await startMonitor(b);
      assert.equal(s.line, 'error: config: seccomp: expected "default" or "unconfined"');
      assert.equal(await s.exited, 1);
    } finally {
      destroy(b, []);
    }
  });
});

const IMAGE = 'seccomp-probe:1';
const PROBE = '/bin/seccomp-probe';

describe('seccomp through tdock run and exec, --security-opt', () => {
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
    // info renders it as docker info does ("seccomp" then "Profile: default"); the document keeps Docker's string
    assert.ok(JSON.parse(await d.ok(['info', '--format', '{{json .SecurityOptions}}'])).includes('name=seccomp,profile=default'));
    assert.match(await d.ok(['info']), /\n {2}seccomp\n {3}Profile: default\n/);
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
