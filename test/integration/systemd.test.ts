// tdockd under systemd (issue 13), with systemd's own tools (no systemd as PID 1 here):
// socket activation through systemd-socket-activate, and sd_notify to a datagram
// listener standing in for the manager.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TDOCKD, TestDaemon, until } from '../helpers/daemon.ts';

/**
 * A daemon started with NOTIFY_SOCKET on a listener of the test's own (systemd's side
 * of sd_notify), once it said READY=1; `out` is the file the listener writes what it got to.
 */
async function withNotify(fn: (d: TestDaemon, out: string) => Promise<void>): Promise<void> {
  const d = new TestDaemon();
  mkdirSync(d.base, { recursive: true });
  const sock = join(d.base, 'notify.sock');
  const out = join(d.base, 'notify.log');
  const listener = spawn('python3', [join(import.meta.dirname, 'fixtures', 'notify-listener.py'), sock, out], { stdio: 'ignore' });
  try {
    await until('the listener', () => existsSync(out) && readFileSync(out, 'utf8').includes('listening'));
    await d.start({ NOTIFY_SOCKET: sock });
    await until('READY=1', () => readFileSync(out, 'utf8').includes('READY=1'), 10_000);
    await fn(d, out);
  } finally {
    listener.kill('SIGKILL');
    await d.cleanup();
  }
}

describe('tdockd under systemd', () => {
  test('socket activation: the daemon serves on the socket systemd passes, and leaves it at stop', async () => {
    const d = new TestDaemon();
    try {
      mkdirSync(d.execRoot, { recursive: true });
      // systemd-socket-activate listens, and on the first connection execs the daemon
      // with LISTEN_FDS=1 / LISTEN_PID (its own pid, which the daemon then has).
      const proc = spawn('systemd-socket-activate', ['-l', d.socket, TDOCKD, ...d.args()], { stdio: ['ignore', 'ignore', 'pipe'] });
      d.proc = proc;
      proc.stderr!.setEncoding('utf8').on('data', (s: string) => (d.log += s));
      await until('systemd-socket-activate to listen', () => existsSync(d.socket));
      const r = await d.cli(['run', '--rm', 'busybox', 'echo', 'activated']);
      assert.equal(r.code, 0, `${r.stderr}\n${d.log}`);
      assert.equal(r.stdout, 'activated\n');
      assert.match(d.log, /ready on unix:\/\/\S+ \(socket activation\)/);
      await d.stop('SIGTERM');
      assert.ok(existsSync(d.socket), "the socket is systemd's: it stays for the next activation");
    } finally {
      await d.cleanup();
    }
  });

  test('sd_notify: READY=1 with a STATUS once calls are accepted, STOPPING=1 at SIGTERM', async () => {
    await withNotify(async (d, out) => {
      const text = readFileSync(out, 'utf8');
      assert.match(text, /^READY=1\nSTATUS=serving on unix:\/\/\S+; 0 container\(s\) running$/m);
      // ready means ready: a call works at once
      assert.equal((await d.cli(['ps', '-q'])).code, 0);
      await d.stop('SIGTERM');
      await until('STOPPING=1', () => readFileSync(out, 'utf8').includes('STOPPING=1'), 10_000);
    });
  });

  test('SIGHUP (systemctl reload): the daemon stays up and says RELOADING=1 then READY=1', async () => {
    await withNotify(async (d, out) => {
      const before = readFileSync(out, 'utf8').length;
      d.proc!.kill('SIGHUP');
      await until('RELOADING=1 then READY=1', () => /RELOADING=1[\s\S]*READY=1/.test(readFileSync(out, 'utf8').slice(before)), 10_000);
      assert.match(readFileSync(out, 'utf8').slice(before), /^RELOADING=1\nMONOTONIC_USEC=\d+$/m);
      assert.equal(d.proc!.exitCode, null, `the daemon is still running\n${d.log}`);
      assert.equal((await d.cli(['ps', '-q'])).code, 0);
      await d.stop('SIGTERM');
    });
  });

  test('SIGTERM: containers keep running by default; --shutdown-stop-containers stops them with their timeout', async () => {
    for (const stopThem of [false, true]) {
      const d = new TestDaemon(stopThem ? { args: ['--shutdown-stop-containers'] } : {});
      try {
        await d.start();
        const id = (await d.ok(['run', '-d', 'busybox', 'sleep', '1000'])).trim();
        await d.stop('SIGTERM');
        assert.equal(d.monitorPids().length, stopThem ? 0 : 1, stopThem ? 'the container was stopped' : 'the container runs on');
        await d.start();
        const info = await d.inspect(id);
        assert.equal(info.State.Status, stopThem ? 'exited' : 'running');
        if (stopThem) assert.equal(info.State.ExitCode, 143, 'stopped with SIGTERM, not killed');
        await d.ok(['rm', '-f', id]);
      } finally {
        await d.cleanup();
      }
    }
  });

  test('--shutdown-stop-containers stops as the daemon, not as the user: unless-stopped comes back at the next start', async () => {
    const d = new TestDaemon({ args: ['--shutdown-stop-containers'] });
    try {
      await d.start();
      const id = (await d.ok(['run', '-d', '--restart', 'unless-stopped', 'busybox', 'sleep', '1000'])).trim();
      await d.stop('SIGTERM');
      assert.equal(d.monitorPids().length, 0, 'the container was stopped');
      await d.start();
      await until('unless-stopped to be started by the daemon', async () => (await d.inspect(id)).State.Status === 'running', 20_000);
      await d.ok(['rm', '-f', id]);
    } finally {
      await d.cleanup();
    }
  });
});
