// Restart policies (issue 13): --restart on run/create with Docker's semantics, the
// "restarting" state with its back-off, what stop, kill, rm and restart do to a
// pending restart, and the policies judged again when the daemon starts.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TestDaemon, suiteDaemon, until } from '../helpers/daemon.ts';

/**
 * Waits until the container waits to restart with a back-off of at least 3.2 s (the 6th
 * restart and later), long enough for the few CLI calls a test makes meanwhile.
 */
async function inLongBackoff(d: TestDaemon, id: string): Promise<any> {
  return until('a long back-off', async () => {
    const s = await d.inspect(id);
    return s.State.Status === 'restarting' && s.RestartCount >= 6 ? s : undefined;
  }, 60000);
}

/** The back-off before restart number `n` (Docker's: 100 ms doubling, at most 1 min). */
const backoffMs = (n: number) => Math.min(100 * 2 ** (n - 1), 60_000);

describe('restart policies', () => {
  const d = suiteDaemon();

  test('bad --restart values and --restart with --rm: one line, exit 125, nothing made', async () => {
    for (const [args, msg] of [
      [['--restart', 'sometimes'], /invalid restart policy "sometimes" for --restart/],
      [['--restart', 'always:3'], /maximum retry count can only be used with on-failure/],
      [['--restart', 'on-failure:x'], /maximum retry count must be a number/],
      [['--restart', 'always', '--rm'], /^Error: Conflicting options: --restart and --rm\n$/],
    ] as const) {
      for (const verb of ['run', 'create']) {
        const r = await d.cli([verb, ...args, 'busybox', 'true']);
        assert.equal(r.code, 125, `${verb} ${args.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr, msg);
        assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      }
    }
    assert.equal((await d.ok(['ps', '-aq'])).trim(), '');
  });

  test('on-failure:2 with exit 3: two restarts, then exited with RestartCount 2', async () => {
    const id = (await d.ok(['run', '-d', '--restart', 'on-failure:2', 'busybox', 'sh', '-c', 'echo run; exit 3'])).trim();
    try {
      const s = await until('the retries to be used up', async () => {
        const x = await d.inspect(id);
        return x.State.Status === 'exited' ? x : undefined;
      }, 20000);
      assert.equal(s.RestartCount, 2);
      assert.equal(s.State.ExitCode, 3);
      assert.equal(s.State.Restarting, false);
      assert.deepEqual(s.HostConfig.RestartPolicy, { Name: 'on-failure', MaximumRetryCount: 2 });
      // Three runs, one log.
      assert.equal(await d.ok(['logs', id]), 'run\nrun\nrun\n');
      // A start by the user begins the count anew (Docker's).
      await d.ok(['start', id]);
      await until('the retries to be used up again', async () => (await d.inspect(id)).State.Status === 'exited' && (await d.inspect(id)).RestartCount === 2, 20000);
    } finally {
      await d.cli(['rm', '-f', id]);
    }
  });

  test('a foreground run gets the first exit; the policy goes on in the daemon', async () => {
    const r = await d.cli(['run', '--name', 'fg-restart', '--restart', 'on-failure:1', 'busybox', 'sh', '-c', 'echo once; exit 3']);
    try {
      assert.equal(r.code, 3, r.stderr);
      assert.equal(r.stdout, 'once\n');
      await until('the one retry to be used', async () => {
        const x = await d.inspect('fg-restart');
        return x.State.Status === 'exited' && x.RestartCount === 1;
      }, 20000);
    } finally {
      await d.cli(['rm', '-f', 'fg-restart']);
    }
  });

  test('on-failure does not restart after exit 0; no policy is shown as "no"', async () => {
    const id = (await d.ok(['run', '-d', '--restart', 'on-failure', 'busybox', 'true'])).trim();
    const plain = (await d.ok(['create', 'busybox', 'true'])).trim();
    try {
      assert.equal((await d.ok(['wait', id])).trim(), '0');
      const s = await d.inspect(id);
      assert.equal(s.State.Status, 'exited');
      assert.equal(s.RestartCount, 0);
      assert.deepEqual(s.HostConfig.RestartPolicy, { Name: 'on-failure', MaximumRetryCount: 0 });
      assert.deepEqual((await d.inspect(plain)).HostConfig.RestartPolicy, { Name: 'no', MaximumRetryCount: 0 });
    } finally {
      await d.cli(['rm', '-f', id, plain]);
    }
  });

  test('always restarts after exit 0; ps shows "Restarting (N) X ago"; kill says not running; stop ends the wait', async () => {
    const id = (await d.ok(['run', '-d', '--restart', 'always', 'busybox', 'sh', '-c', 'exit 7'])).trim();
    try {
      await inLongBackoff(d, id);
      const s = await d.inspect(id);
      assert.equal(s.State.Running, true, 'Docker: one waiting to restart counts as running');
      assert.equal(s.State.Restarting, true);
      assert.equal(s.State.ExitCode, 7);
      // Listed without -a too, like Docker's.
      const line = (await d.ok(['ps'])).split('\n').find((l) => l.startsWith(id.slice(0, 12)));
      assert.match(line ?? '', /Restarting \(7\) .* ago/);
      const k = await d.cli(['kill', id]);
      assert.equal(k.code, 1);
      assert.match(k.stderr, /is not running/);
      const x = await d.cli(['exec', id, 'true']);
      assert.notEqual(x.code, 0);
      assert.match(x.stderr, /is restarting, wait until the container is running/);
      const before = (await d.inspect(id)).RestartCount;
      await d.ok(['stop', id]);
      const after = await d.inspect(id);
      assert.equal(after.State.Status, 'exited');
      assert.equal(after.State.ExitCode, 7);
      assert.equal(after.RestartCount, before);
      // Stopped by the user: not restarted when the back-off would have ended.
      await new Promise((r) => setTimeout(r, backoffMs(before) + 500));
      assert.equal((await d.inspect(id)).State.Status, 'exited');
      assert.equal((await d.inspect(id)).RestartCount, before);
    } finally {
      await d.cli(['rm', '-f', id]);
    }
  });

  test('exit 0 with always is restarted; stop of the running container is final', async () => {
    // The first run exits 0; the restarted one (same container, same files) stays up.
    const script = 'if [ -e /ran ]; then exec sleep 1000; fi; touch /ran; exit 0';
    const id = (await d.ok(['run', '-d', '--restart', 'always', 'busybox', 'sh', '-c', script])).trim();
    try {
      const s = await until('it to run again after exit 0', async () => {
        const x = await d.inspect(id);
        return x.State.Status === 'running' && x.RestartCount === 1 ? x : undefined;
      }, 20000);
      assert.equal(s.State.ExitCode, 0);
      await d.ok(['stop', '-t', '1', id]);
      const after = await d.inspect(id);
      assert.equal(after.State.Status, 'exited');
      assert.equal(after.RestartCount, 1);
    } finally {
      await d.cli(['rm', '-f', id]);
    }
  });

  test('rm of a restarting container is refused; rm -f during the back-off leaves nothing', async () => {
    const id = (await d.ok(['run', '-d', '--restart', 'always', '-p', '127.0.0.1::80', 'busybox', 'sh', '-c', 'exit 1'])).trim();
    try {
      await inLongBackoff(d, id);
      const r = await d.cli(['rm', id]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^Error: you cannot remove a restarting container [0-9a-f]{12}: stop it first or use rm -f\n$/);
      await d.ok(['rm', '-f', id]);
      assert.equal((await d.ok(['ps', '-aq'])).trim(), '');
      await until('nothing left', () => [...d.leftovers(), ...d.networkLeftovers()].length === 0).catch(() => {
        assert.deepEqual([...d.leftovers(), ...d.networkLeftovers()], []);
      });
    } finally {
      await d.cli(['rm', '-f', id]);
    }
  });

  test('restart: a running always container gets a new process and RestartCount 0; one in back-off is restarted too', async () => {
    const id = (await d.ok(['run', '-d', '--restart', 'always', 'busybox', 'sh', '-c', 'exit 2'])).trim();
    const long = (await d.ok(['run', '-d', '--restart', 'always', 'busybox', 'sleep', '1000'])).trim();
    try {
      await until('a restart', async () => (await d.inspect(id)).RestartCount >= 2, 20000);
      assert.equal((await d.ok(['restart', '-t', '1', id])).trim(), id);
      assert.ok(['running', 'restarting'].includes((await d.inspect(id)).State.Status));
      const pid = (await d.inspect(long)).State.Pid;
      assert.equal((await d.ok(['restart', '-t', '1', long])).trim(), long);
      const s = await d.inspect(long);
      assert.equal(s.State.Status, 'running');
      assert.notEqual(s.State.Pid, pid);
      assert.equal(s.RestartCount, 0, 'the stop inside restart is not the policy\'s restart');
    } finally {
      await d.cli(['rm', '-f', id, long]);
    }
  });
});

describe('restart policies across a daemon restart', () => {
  test('always comes back even after a stop; unless-stopped only when not stopped by the user; on-failure after a failure', async () => {
    const d = new TestDaemon();
    try {
      await d.start();
      const run = async (...args: string[]) => (await d.ok(['run', '-d', ...args])).trim();
      const alwaysStopped = await run('--restart', 'always', 'busybox', 'sleep', '1000');
      const unlessStopped = await run('--restart', 'unless-stopped', 'busybox', 'sleep', '1000');
      const unlessDied = await run('--restart', 'unless-stopped', 'busybox', 'sleep', '1000');
      const onFailureDied = await run('--restart', 'on-failure:3', 'busybox', 'sleep', '1000');
      const onFailureOk = await run('--restart', 'on-failure', 'busybox', 'true');
      const onFailureStopped = await run('--restart', 'on-failure', 'busybox', 'sleep', '1000');
      const noneDied = await run('busybox', 'sleep', '1000');
      await d.ok(['stop', '-t', '0', alwaysStopped, unlessStopped, onFailureStopped]);
      await d.ok(['wait', onFailureOk]);
      const pids = new Map<string, number>();
      for (const id of [unlessDied, onFailureDied, noneDied]) pids.set(id, (await d.inspect(id)).State.Pid);

      // The daemon goes; containers stay (live restore). Three of them die meanwhile.
      await d.stop();
      for (const pid of pids.values()) process.kill(pid, 'SIGKILL');
      await until('the killed containers to end', () => [...pids.values()].every((pid) => {
        try {
          process.kill(pid, 0);
          return false;
        } catch {
          return true;
        }
      }));
      await d.start();

      const state = async (id: string) => (await d.inspect(id)).State;
      assert.equal((await state(alwaysStopped)).Status, 'running', 'always starts with the daemon');
      assert.equal((await state(unlessStopped)).Status, 'exited', 'unless-stopped stopped by the user stays stopped');
      const ud = await state(unlessDied);
      assert.equal(ud.Status, 'running', 'unless-stopped that died while the daemon was away');
      assert.notEqual(ud.Pid, pids.get(unlessDied));
      assert.equal((await state(onFailureDied)).Status, 'running', 'on-failure that died (137) while the daemon was away');
      assert.equal((await state(onFailureOk)).Status, 'exited', 'on-failure after exit 0');
      assert.equal((await state(onFailureStopped)).Status, 'exited', 'on-failure stopped by the user');
      const nd = await state(noneDied);
      assert.equal(nd.Status, 'exited', 'no policy');
      assert.equal(nd.ExitCode, 137);

      // The one the user stopped is still stopped after yet another daemon restart, and a
      // start by the user clears that.
      await d.ok(['start', unlessStopped]);
      await d.stop();
      await d.start();
      assert.equal((await state(unlessStopped)).Status, 'running');

      await d.ok(['rm', '-f', ...(await d.ok(['ps', '-aq'])).trim().split('\n')]);
      await until('nothing left', () => [...d.leftovers(), ...d.networkLeftovers()].length === 0).catch(() => {
        assert.deepEqual([...d.leftovers(), ...d.networkLeftovers()], []);
      });
    } finally {
      await d.cleanup();
    }
  });

  test('a container waiting to restart when the daemon stops is started by the next one', async () => {
    const d = new TestDaemon();
    try {
      await d.start();
      const id = (await d.ok(['run', '-d', '--restart', 'always', 'busybox', 'sh', '-c', 'exit 4'])).trim();
      await inLongBackoff(d, id);
      await d.stop();
      await d.start();
      // Started at the daemon's start (RestartCount begins anew), then restarting again.
      const s = await until('it to run again', async () => {
        const x = await d.inspect(id);
        return x.RestartCount < 6 ? x : undefined;
      }, 20000);
      assert.ok(['running', 'restarting'].includes(s.State.Status), s.State.Status);
      await d.ok(['rm', '-f', id]);
      await until('nothing left', () => [...d.leftovers(), ...d.networkLeftovers()].length === 0).catch(() => {
        assert.deepEqual([...d.leftovers(), ...d.networkLeftovers()], []);
      });
    } finally {
      await d.cleanup();
    }
  });
});
