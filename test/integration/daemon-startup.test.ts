// tdockd refuses at start-up what would only fail at the first container start: a
// --root below a directory that the containers' root (a subordinate uid) cannot
// traverse. One line naming the directory and the fix, a non-zero exit, nothing made.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestDaemon, TDOCKD } from '../helpers/daemon.ts';

function runDaemon(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(TDOCKD, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.on('data', (d: Buffer) => (stderr += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), 20000);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

function argsWith(d: TestDaemon, root: string): string[] {
  const a = d.args();
  a[a.indexOf('--root') + 1] = root;
  return a;
}

describe('tdockd start-up checks', () => {
  test('--root below a directory the containers cannot traverse: refused at start, nothing made', async () => {
    const d = new TestDaemon();
    const locked = mkdtempSync(join(tmpdir(), 'tdk-locked-')); // 0700, like mktemp -d
    try {
      assert.equal(statSync(locked).mode & 0o777, 0o700);
      const r = await runDaemon(argsWith(d, join(locked, 'root')));
      assert.notEqual(r.code, 0, r.stderr);
      assert.equal(r.stderr, `tdockd: --root ${join(locked, 'root')}: the containers' root (uid 100000) cannot traverse ${locked} (mode 0700, owner 0): run "chmod o+x ${locked}" or choose another --root\n`);
      assert.deepEqual(readdirSync(locked), [], 'nothing under the locked directory');
      assert.equal(existsSync(d.execRoot), false, 'no exec-root');
      assert.notEqual(spawnSync('ip', ['link', 'show', d.bridge], { stdio: 'ignore' }).status, 0, 'no bridge');
      assert.notEqual(spawnSync('nft', ['list', 'table', 'ip', d.bridge], { stdio: 'ignore' }).status, 0, 'no nft table');
      assert.deepEqual(d.cgroupDirs(), [], 'no cgroups');

      // deeper below it, or a directory that exists already: the same
      mkdirSync(join(locked, 'existing'));
      const deep = await runDaemon(argsWith(d, join(locked, 'existing')));
      assert.notEqual(deep.code, 0);
      assert.match(deep.stderr, new RegExp(`cannot traverse ${locked} \\(mode 0700`));
      assert.deepEqual(readdirSync(join(locked, 'existing')), []);

      // fixed as the message says: it starts, and containers run
      chmodSync(locked, 0o701);
      const ok = new TestDaemon();
      Object.defineProperty(ok, 'root', { value: join(locked, 'root') });
      try {
        await ok.start();
        assert.equal(await ok.ok(['run', '--rm', 'busybox', 'echo', 'hi']), 'hi\n');
      } finally {
        await ok.cleanup();
      }
    } finally {
      await d.cleanup();
      rmSync(locked, { recursive: true, force: true });
    }
  });
});
