// What the CLI says when the daemon is there but out of reach: a user not allowed on
// its socket, and a daemon that dies while a call is in progress. One line, exit 1,
// naming the daemon's address; never "is tdockd running?" when it is (or was).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { TestDaemon, TDOCK, REPO, type CliResult } from '../helpers/daemon.ts';

/** Runs bin/tdock as `user` (runuser: no shell, no login) against `host`. */
function cliAs(user: string, host: string, args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    const p = spawn('runuser', ['-u', user, '--', TDOCK, ...args], {
      env: { PATH: process.env.PATH, TDOCK_HOST: host },
      cwd: '/',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d));
    p.stderr.on('data', (d: Buffer) => (stderr += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), 30000);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

describe('a user who may not use the daemon socket', () => {
  const d = new TestDaemon();
  // unique, so a leftover from a crashed run never collides; removed in after()
  const user = `tdktest${process.pid}`;
  let made = false;
  before(async () => {
    const r = spawnSync('useradd', ['--no-create-home', '--no-user-group', '--gid', 'nogroup', '--shell', '/usr/sbin/nologin', user], { encoding: 'utf8' });
    assert.equal(r.status, 0, `useradd: ${r.stderr}`);
    made = true;
    await d.start();
  });
  after(async () => {
    if (made) spawnSync('userdel', [user]);
    await d.cleanup();
  });

  test('is told permission denied and how to fix it, exit 1 (also from run)', async () => {
    // the CLI itself must be reachable for the user (node_modules, dist)
    assert.equal(spawnSync('runuser', ['-u', user, '--', 'test', '-r', `${REPO}/dist/tdock.js`]).status, 0, 'repository readable by other users');
    const line = `permission denied while connecting to the tdock daemon at ${d.host}: add the user to group tdock, or use sudo\n`;
    for (const args of [['ps'], ['run', '--rm', 'busybox', 'true'], ['create', 'busybox'], ['rm', 'x', 'y']]) {
      const r = await cliAs(user, d.host, args);
      assert.deepEqual({ code: r.code, stderr: r.stderr }, { code: 1, stderr: line }, args.join(' '));
    }
    // a socket below a directory the user cannot enter: the same
    const hidden = 'unix:///root/tdock-never-there.sock';
    const r = await cliAs(user, hidden, ['ps']);
    assert.deepEqual({ code: r.code, stderr: r.stderr }, {
      code: 1, stderr: `permission denied while connecting to the tdock daemon at ${hidden}: add the user to group tdock, or use sudo\n`,
    });
  });
});

describe('a daemon that dies during a call', () => {
  test('wait, attach, logs -f and a foreground run say the connection was lost (exit 1)', async () => {
    const d = new TestDaemon();
    try {
      await d.start();
      const id = (await d.ok(['run', '-d', 'busybox', 'sh', '-c', 'while true; do echo tick; sleep 0.2; done'])).trim();
      const calls: [string, Promise<CliResult>][] = [
        ['wait', d.cli(['wait', id])],
        ['attach', d.cli(['attach', '--no-stdin', id])],
        ['logs -f', d.cli(['logs', '-f', id])],
        ['run', d.cli(['run', '--rm', 'busybox', 'sleep', '1000'])],
      ];
      // every call in progress (the run's container up), then SIGKILL
      await sleep(1500);
      await d.stop('SIGKILL');
      const want = new RegExp(`^Error: the connection to the tdock daemon at ${d.host.replace(/[/.]/g, '\\$&')} was lost \\(.*\\)\n$`);
      for (const [what, p] of calls) {
        const r = await p;
        assert.equal(r.code, 1, `${what}: ${r.stderr}`);
        assert.match(r.stderr.replace(/^(tick\n)+/, ''), want, what);
      }
    } finally {
      await d.cleanup();
    }
  });
});
