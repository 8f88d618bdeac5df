// What the CLI says when the daemon is there but out of reach: a user not allowed on
// its socket (exit 125, issue 13), and a daemon that dies while a call is in progress
// (exit 1). One line naming the daemon's address; never "is tdockd running?" when it
// is (or was). A member of group tdock may use the socket (0660 root:tdock).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
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

describe('who may use the daemon socket', () => {
  const d = new TestDaemon();
  // unique, so a leftover from a crashed run never collides; removed in after()
  const outsider = `tdktest${process.pid}`;
  const member = `tdktestg${process.pid}`;
  const made: string[] = [];
  before(async () => {
    for (const [user, groups] of [[outsider, []], [member, ['--groups', 'tdock']]] as const) {
      const r = spawnSync('useradd', ['--no-create-home', '--no-user-group', '--gid', 'nogroup', ...groups, '--shell', '/usr/sbin/nologin', user], { encoding: 'utf8' });
      assert.equal(r.status, 0, `useradd: ${r.stderr}`);
      made.push(user);
    }
    await d.start();
  });
  after(async () => {
    for (const user of made) spawnSync('userdel', [user]);
    await d.cleanup();
  });

  test('the socket is 0660 root:tdock', () => {
    const st = statSync(d.socket);
    assert.equal(st.mode & 0o777, 0o660);
    assert.equal(st.uid, 0);
    assert.equal(st.gid, Number(spawnSync('getent', ['group', 'tdock'], { encoding: 'utf8' }).stdout.split(':')[2]));
  });

  test('a user outside group tdock is told permission denied and how to fix it, exit 125 (every command)', async () => {
    // the CLI itself must be reachable for the user (node_modules, dist)
    assert.equal(spawnSync('runuser', ['-u', outsider, '--', 'test', '-r', `${REPO}/dist/tdock.js`]).status, 0, 'repository readable by other users');
    const line = `permission denied while connecting to the tdock daemon at ${d.host}: add the user to group tdock\n`;
    for (const args of [['ps'], ['info'], ['run', '--rm', 'busybox', 'true'], ['create', 'busybox'], ['rm', 'x', 'y'], ['system', 'df']]) {
      const r = await cliAs(outsider, d.host, args);
      assert.deepEqual({ code: r.code, stderr: r.stderr }, { code: 125, stderr: line }, args.join(' '));
    }
    // a socket below a directory the user cannot enter: the same
    const hidden = 'unix:///root/tdock-never-there.sock';
    const r = await cliAs(outsider, hidden, ['ps']);
    assert.deepEqual({ code: r.code, stderr: r.stderr }, {
      code: 125, stderr: `permission denied while connecting to the tdock daemon at ${hidden}: add the user to group tdock\n`,
    });
  });

  test('a member of group tdock uses the daemon', async () => {
    const ps = await cliAs(member, d.host, ['ps', '-aq']);
    assert.deepEqual(ps, { code: 0, stdout: '', stderr: '' });
    const v = await cliAs(member, d.host, ['info', '--format', '{{.ServerVersion}}']);
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /^\d+\.\d+\.\d+\n$/);
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
