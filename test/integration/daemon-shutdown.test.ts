// SIGTERM to the daemon (issue 13): it stops accepting, lets calls in progress that end
// on their own finish (a stop -t N), ends those that last as long as a container (wait)
// with a message saying why, and leaves the containers running (live restore) unless
// started with --shutdown-stop-containers.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { TestDaemon } from '../helpers/daemon.ts';

/** Until `file` holds `text` (the container's own log, written by the daemon's monitor). */
async function waitForText(file: string, text: string, what: string): Promise<void> {
  for (let i = 0; i < 3000; i++) {
    if (existsSync(file) && readFileSync(file, 'utf8').includes(text)) return;
    await sleep(10);
  }
  assert.fail(`${what}: "${text}" never appeared in ${file}`);
}

// sh ignores nothing by default: it prints on SIGTERM and goes on, so a stop -t N
// takes its N seconds and ends with SIGKILL.
const STUBBORN = ['sh', '-c', 'trap "echo got-term" TERM; echo up; while true; do sleep 0.1; done'];

describe('daemon shutdown on SIGTERM', () => {
  const d = new TestDaemon();
  after(async () => {
    await d.cli(['rm', '-f', 'stubborn', 'keeper']).catch(() => undefined);
    await d.cleanup();
  });

  test('a stop -t 5 in progress completes (exit 0), a wait is told why it ended, containers keep running across the restart', async () => {
    await d.start();
    const stubborn = (await d.ok(['run', '-d', '--name', 'stubborn', 'busybox', ...STUBBORN])).trim();
    const keeper = (await d.ok(['run', '-d', '--name', 'keeper', 'busybox', 'sleep', '1000'])).trim();
    const log = join(d.root, 'containers', stubborn, 'container.log');
    await waitForText(log, 'up', 'container start');

    const waiting = d.cli(['wait', 'keeper']);
    const stop = d.cli(['stop', '-t', '5', 'stubborn']);
    // The container got its SIGTERM: the stop call is in progress, waiting out its 5 s.
    await waitForText(log, 'got-term', 'stop sent SIGTERM');
    const stopped = d.stop('SIGTERM');

    const s = await stop;
    assert.deepEqual(s, { code: 0, stdout: 'stubborn\n', stderr: '' });
    const w = await waiting;
    assert.equal(w.code, 1);
    assert.match(w.stderr, /^Error: tdockd is shutting down: the call was ended \(containers keep running\)\n$/);
    await stopped;
    // The shutdown did wait for the stop: it was in progress when SIGTERM came.
    assert.match(d.log, /waiting up to \d+ s for 1 call\(s\) in progress: Stop/);
    assert.doesNotMatch(d.log, /ended \d+ call\(s\) still in progress/);

    await d.start();
    const keeperState = await d.inspect(keeper);
    assert.equal(keeperState.State.Status, 'running', 'live restore: running containers outlive the daemon');
    const stubbornState = await d.inspect(stubborn);
    assert.equal(stubbornState.State.Status, 'exited');
    assert.equal(stubbornState.State.ExitCode, 137);
  });
});

describe('daemon shutdown with --shutdown-stop-containers', () => {
  const d = new TestDaemon({ args: ['--shutdown-stop-containers'] });
  after(async () => {
    await d.cli(['rm', '-f', 'one']).catch(() => undefined);
    await d.cleanup();
  });

  test('running containers are stopped (SIGTERM first) and stay stopped after the restart', async () => {
    await d.start();
    const id = (await d.ok(['run', '-d', '--name', 'one', 'busybox', 'sh', '-c', 'trap "exit 7" TERM; echo up; while true; do sleep 0.1; done'])).trim();
    await waitForText(join(d.root, 'containers', id, 'container.log'), 'up', 'container start');
    await d.stop('SIGTERM');
    assert.match(d.log, /stopping the running containers/);
    assert.deepEqual(d.monitorPids(), []);
    await d.start();
    const st = await d.inspect('one');
    assert.equal(st.State.Status, 'exited');
    assert.equal(st.State.ExitCode, 7, 'the container had its SIGTERM, not a SIGKILL');
  });
});

describe('daemon shutdown: a call longer than --shutdown-timeout', () => {
  const d = new TestDaemon({ args: ['--shutdown-timeout', '1'] });
  after(async () => {
    await d.cli(['rm', '-f', 'slow']).catch(() => undefined);
    await d.cleanup();
  });

  test('is ended with a message saying so (exit 1), never a hang; the container is left as it was', async () => {
    await d.start();
    const id = (await d.ok(['run', '-d', '--name', 'slow', 'busybox', ...STUBBORN])).trim();
    const log = join(d.root, 'containers', id, 'container.log');
    await waitForText(log, 'up', 'container start');
    const stop = d.cli(['stop', '-t', '60', 'slow']);
    await waitForText(log, 'got-term', 'stop sent SIGTERM');
    await d.stop('SIGTERM');
    const r = await stop;
    assert.deepEqual(r, {
      code: 1, stdout: '',
      stderr: 'Error: tdockd is shutting down: the call did not finish in 1 s and was ended; its outcome is unknown, check with tdock ps or inspect\n',
    });
    assert.match(d.log, /ended 1 call\(s\) still in progress: Stop/);
    await d.start();
    assert.equal((await d.inspect(id)).State.Status, 'running', 'the SIGKILL of the stop never came');
  });
});
