// A full disk (issue 9): refusals say so in one line, exits and removals still
// complete, space can be freed through tdock, nothing hangs, and the daemon starts
// on a full disk and works again once there is room.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { TestDaemon, until } from '../helpers/daemon.ts';

/** Fills the filesystem of `dir` to the last byte. */
function fill(dir: string): void {
  const fd = openSync(join(dir, 'fill'), 'a');
  const chunk = Buffer.alloc(1 << 16);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
  }
  // then the last few bytes
  try {
    for (;;) writeSync(fd, chunk, 0, 512);
  } catch {
    /* full */
  } finally {
    closeSync(fd);
  }
}

describe('a full disk under --root', () => {
  const d = new TestDaemon();
  before(async () => {
    mkdirSync(d.root, { recursive: true });
    const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=40m,mode=0711', 'tdock-test-full', d.root], { encoding: 'utf8' });
    assert.equal(m.status, 0, `mount a tmpfs for the root: ${m.stderr}`);
    await d.start();
  });
  after(async () => {
    process.stderr.write(d.log);
    await d.cleanup();
  });

  test('refused with the cause, exits and removals complete, space is freed, the daemon restarts', async () => {
    const a = (await d.ok(['run', '-d', 'busybox', 'sleep', '1000'])).trim();
    const b = (await d.ok(['run', '-d', 'busybox', 'sleep', '1000'])).trim();
    const c = (await d.ok(['run', '-d', 'busybox', 'sleep', '1000'])).trim();
    fill(d.root);

    const refused = await d.cli(['run', '--rm', 'busybox', 'true'], { timeout: 20_000 });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, new RegExp(`no space left on ${d.root}`));
    assert.equal(refused.stderr.trim().split('\n').length, 1, refused.stderr);

    // An exit while the disk is full is recorded; wait returns it.
    const waited = d.cli(['wait', b], { timeout: 20_000 });
    await d.ok(['kill', '-s', 'TERM', b], { timeout: 20_000 });
    const w = await waited;
    assert.equal(w.code, 0, w.stderr);
    assert.equal(w.stdout.trim(), '143');
    assert.equal((await d.inspect(b)).State.Status, 'exited');

    // stop and rm -f complete.
    assert.equal((await d.cli(['stop', '-t', '1', a], { timeout: 20_000 })).code, 0);
    assert.equal((await d.inspect(a)).State.Status, 'exited');
    const rm = await d.cli(['rm', '-f', a, b, c], { timeout: 20_000 });
    assert.equal(rm.code, 0, rm.stderr);
    assert.equal((await d.ok(['ps', '-aq'])).trim(), '');

    // The daemon starts on a full disk.
    fill(d.root);
    await d.stop();
    await d.start();

    // rmi frees space on a full disk.
    const rmi = await d.cli(['rmi', 'busybox'], { timeout: 20_000 });
    assert.equal(rmi.code, 0, rmi.stderr);

    // Room again: everything works.
    rmSync(join(d.root, 'fill'));
    await until('a run to work again', async () => (await d.cli(['run', '--rm', 'busybox', 'echo', 'ok'])).stdout === 'ok\n', 15000);
  });
});
