// SIGTERM to the daemon (issue 13): it stops accepting, lets calls in progress that end
// on their own finish (a stop -t N), ends those that last as long as a container (logs -f)
// with a message saying why, and leaves the containers running (live restore); also on
// a socket passed by systemd. (--shutdown-stop-containers: systemd.test.ts.)
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync, mkdirSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { TDOCK, TDOCKD, TestDaemon, until } from '../helpers/daemon.ts';

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

/** The daemon as systemd's socket activation starts it: on the socket it is passed (LISTEN_FDS). */
async function startActivated(d: TestDaemon): Promise<void> {
  mkdirSync(d.execRoot, { recursive: true });
  const proc = spawn('systemd-socket-activate', ['-l', d.socket, TDOCKD, ...d.args()], { stdio: ['ignore', 'ignore', 'pipe'] });
  d.proc = proc;
  d.log = '';
  proc.stderr!.setEncoding('utf8').on('data', (t: string) => (d.log += t));
  await until('systemd-socket-activate to listen', () => existsSync(d.socket));
}

for (const activated of [false, true]) {
describe(`daemon shutdown on SIGTERM${activated ? ' (socket activation)' : ''}`, () => {
  const d = new TestDaemon();
  after(async () => {
    await d.cli(['rm', '-f', 'stubborn', 'keeper']).catch(() => undefined);
    await d.cleanup();
  });

  test('a stop -t 7 in progress (longer than the 5 s of grpc-js injector drain) completes (exit 0), a logs -f is told why it ended, containers keep running across the restart', async () => {
    if (activated) await startActivated(d);
    else await d.start();
    const stubborn = (await d.ok(['run', '-d', '--name', 'stubborn', 'busybox', ...STUBBORN])).trim();
    const keeper = (await d.ok(['run', '-d', '--name', 'keeper', 'busybox', 'sh', '-c', 'echo kept; exec sleep 1000'])).trim();
    const log = join(d.root, 'containers', stubborn, 'container.log');
    await waitForText(log, 'up', 'container start');

    // An open-ended call, known to be in progress once it has printed the container's line.
    const follow = spawn(TDOCK, ['logs', '-f', 'keeper'], { env: { ...process.env, TDOCK_HOST: d.host }, stdio: ['ignore', 'pipe', 'pipe'] });
    let followOut = '';
    let followErr = '';
    follow.stdout.setEncoding('utf8').on('data', (t: string) => (followOut += t));
    follow.stderr.setEncoding('utf8').on('data', (t: string) => (followErr += t));
    const followed = new Promise<number | null>((resolve) => follow.on('close', resolve));
    await until('logs -f to print', () => followOut === 'kept\n');
    const stop = d.cli(['stop', '-t', '7', 'stubborn']);
    // The container got its SIGTERM: the stop call is in progress, waiting out its 7 s.
    await waitForText(log, 'got-term', 'stop sent SIGTERM');
    const stopped = d.stop('SIGTERM');

    const s = await stop;
    await stopped;
    assert.deepEqual(s, { code: 0, stdout: 'stubborn\n', stderr: '' }, d.log);
    assert.equal(await followed, 1);
    assert.equal(followErr, 'Error: tdockd is shutting down: the call was ended (containers keep running)\n');
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
}

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
