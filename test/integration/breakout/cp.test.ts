// Escapes tried through `tdock cp` (CVE-2018-15664, CVE-2019-14271 and their kind): a
// container that points its paths at host files with symlinks, absolute and relative,
// running and stopped, and a container racing to swap a directory for a symlink while
// files are copied. The daemon is host root: every one of these would read or write the
// host's files if a container path were resolved with the host's root. Root only.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
import { suiteDaemon } from '../../helpers/daemon.ts';
import { requireRoot } from '../../helpers/breakout.ts';

requireRoot();

describe('breakout: tdock cp', () => {
  const d = suiteDaemon();
  let dir = '';
  let c = '';
  const marker = `/tmp/tdk-cp-breakout-${randomBytes(6).toString('hex')}`;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tdk-cpb-'));
    // The container's own /etc/shadow, and links that name host paths.
    c = (await d.ok(['run', '-d', 'busybox', 'sh', '-c',
      'echo container-shadow > /etc/shadow; ln -s /etc/shadow /evil; ln -s ../../../../../../../etc/shadow /evil-rel; ' +
      'ln -s / /escape; mkdir /tmp/mk; ln -s /tmp /tmplink; touch /ready; sleep 1000'])).trim();
    for (let i = 0; i < 200 && (await d.cli(['exec', c, 'test', '-e', '/ready'])).code !== 0; i++) await new Promise((r) => setTimeout(r, 50));
  });
  after(async () => {
    await d.cli(['rm', '-f', c]);
    rmSync(dir, { recursive: true, force: true });
    rmSync(marker, { recursive: true, force: true });
  });

  test('cp -L out of a symlink to /etc/shadow copies the container\'s file, never the host\'s', async () => {
    const host = readFileSync('/etc/shadow', 'utf8');
    for (const link of ['/evil', '/evil-rel']) {
      const out = join(dir, `shadow${link.replace('/', '-')}`);
      await d.ok(['cp', '-L', `${c}:${link}`, out]);
      const got = readFileSync(out, 'utf8');
      assert.equal(got, 'container-shadow\n', link);
      assert.notEqual(got, host);
    }
    // through a symlinked directory too
    await d.ok(['cp', `${c}:/escape/etc/shadow`, join(dir, 'via-dir')]);
    assert.equal(readFileSync(join(dir, 'via-dir'), 'utf8'), 'container-shadow\n');
  });

  test('cp into a symlinked directory pointing at / lands inside the container\'s root', async () => {
    writeFileSync(join(dir, 'payload'), 'payload');
    await d.ok(['cp', join(dir, 'payload'), `${c}:/escape${marker}`]);
    assert.ok(!existsSync(marker), `the host got ${marker}`);
    assert.equal((await d.ok(['exec', c, 'cat', marker])).trim(), 'payload');
    await d.ok(['cp', join(dir, 'payload'), `${c}:/tmplink/`]);
    assert.equal((await d.ok(['exec', c, 'cat', '/tmp/payload'])).trim(), 'payload');
  });

  test('a stopped container\'s links are resolved inside its root too', async () => {
    const s = (await d.ok(['create', 'busybox', 'true'])).trim();
    try {
      // a link made in the container's upper dir by a previous run
      await d.ok(['start', '-a', s]);
      writeFileSync(join(dir, 'tar-link'), '');
      const { tarArchive } = await import('../../../images/tar-writer.ts');
      await d.ok(['cp', '-', `${s}:/`], { input: tarArchive([{ path: 'up', type: 'symlink', linkpath: '/' }, { path: 'shadowlink', type: 'symlink', linkpath: '/etc/shadow' }]) });
      await d.ok(['cp', join(dir, 'payload'), `${s}:/up${marker}`]);
      assert.ok(!existsSync(marker), `the host got ${marker}`);
      const r = await d.cli(['cp', '-L', `${s}:/shadowlink`, join(dir, 'stopped-shadow')]);
      // busybox has no /etc/shadow: the link dangles inside the container
      assert.notEqual(r.code, 0);
      assert.ok(!existsSync(join(dir, 'stopped-shadow')) || readFileSync(join(dir, 'stopped-shadow'), 'utf8') !== readFileSync('/etc/shadow', 'utf8'));
    } finally {
      await d.cli(['rm', '-f', s]);
    }
  });

  test('a tar whose entries climb out with ../ or go through a link it made is refused or stays inside', async () => {
    const { tarArchive } = await import('../../../images/tar-writer.ts');
    let r = await d.cli(['cp', '-', `${c}:/tmp/mk`], { input: tarArchive([{ path: '../../../..' + marker, data: 'x' }]) });
    assert.notEqual(r.code, 0);
    assert.ok(!existsSync(marker));
    r = await d.cli(['cp', '-', `${c}:/tmp/mk`], { input: tarArchive([{ path: 'l', type: 'symlink', linkpath: '/' }, { path: 'l' + marker, data: 'through-link' }]) });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!existsSync(marker), 'written on the host through a symlink of the archive');
    assert.equal((await d.ok(['exec', c, 'cat', marker])).trim(), 'through-link');
  });

  test('nothing is written into the container\'s /proc or /sys (the host kernel\'s files), not even through a link', async () => {
    writeFileSync(join(dir, 'core'), '|/tmp/evil');
    const before = readFileSync('/proc/sys/kernel/core_pattern', 'utf8');
    await d.ok(['exec', c, 'ln', '-s', '/proc/sys/kernel', '/kern']);
    for (const dest of ['/proc/sys/kernel/core_pattern', '/kern/core_pattern', '/sys/kernel/']) {
      const r = await d.cli(['cp', join(dir, 'core'), `${c}:${dest}`]);
      assert.notEqual(r.code, 0, dest);
      assert.match(r.stderr, /kernel file system|not a directory|Read-only|read-only/i, dest);
    }
    assert.equal(readFileSync('/proc/sys/kernel/core_pattern', 'utf8'), before);
    // and an archive of / leaves them out
    const out = await d.cli(['cp', `${c}:/proc`, join(dir, 'procdir')]);
    assert.equal(out.code, 0, out.stderr);
    assert.ok(!existsSync(join(dir, 'procdir', 'self')), 'procfs contents were archived');
  });

  test('a container swapping a directory for a symlink to / while files are copied in never gets them onto the host', async () => {
    // The race of CVE-2018-15664: the container flips /race between a real directory and a
    // link to / as fast as it can while cp writes into /race/<marker dir>.
    await d.ok(['exec', '-d', c, 'sh', '-c', `mkdir -p /race-real${marker}; while true; do ln -sfn / /race-tmp && mv -T /race-tmp /race; rm -f /race; ln -s /race-real /race2 2>/dev/null; mv -T /race2 /race 2>/dev/null; done`]);
    writeFileSync(join(dir, 'racer'), 'race');
    for (let i = 0; i < 30; i++) await d.cli(['cp', join(dir, 'racer'), `${c}:/race${marker}/racer`]);
    assert.ok(!existsSync(join(marker, 'racer')), 'the race put a file on the host');
    assert.ok(!existsSync(marker), 'the race made a host directory');
  });
});
