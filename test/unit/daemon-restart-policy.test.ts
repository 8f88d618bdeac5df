// Restart policies in the engine (issue 13) against the fake monitor and a fake clock:
// the back-off before a restart, and what stop, rm -f, wait, restart and a daemon
// restart do to a pending restart. No root needed.
import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Db } from '../../daemon/store/db.ts';
import { Engine } from '../../daemon/containers/engine.ts';
import type { EngineOptions } from '../../daemon/containers/types.ts';
import { FakeHost } from './fake-monitor.ts';
import { EngineWorld, type FakeCgroups } from './fake-engine.ts';
import { FakeClock } from './fake-clock.ts';

let dir = '';
let db: Db;
let host: FakeHost;
let clock: FakeClock;
let cgroups: FakeCgroups;
let world: EngineWorld;


function engine(extra: Partial<EngineOptions> = {}): Engine {
  return world.engine({ restartTimer: clock, ...extra });
}

async function create(e: Engine, restart: string, max = 0): Promise<string> {
  const { id } = await e.create({
    image: 'img', name: '', cmd: [], entrypoint: [], entrypointSet: false, env: [], workdir: '', user: '', hostname: '',
    tty: false, openStdin: false, autoRemove: false, network: '', ports: [], dns: [], resources: {}, securityOpt: [],
    restartPolicy: { name: restart, maximumRetryCount: max },
  });
  return id;
}

const tick = () => new Promise((r) => setTimeout(r, 5));

async function until(what: string, fn: () => boolean): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (fn()) return;
    await tick();
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** The container's current monitor (the latest one spawned for it). */
function monitorOf(id: string) {
  return host.monitors.filter((m) => m.config.socket.includes(id.slice(0, 12))).at(-1)!;
}

beforeEach(() => {
  world = new EngineWorld('restart');
  ({ dir, db, host, cgroups } = world);
  clock = new FakeClock();
});

afterEach(() => world.close());

test('an exit under always: restarting, torn down, started again exactly when the back-off ends', async () => {
  const e = engine();
  const id = await create(e, 'always');
  await e.start(id);
  monitorOf(id).exit(0);
  await until('restarting', () => e.repo.get(id)!.state === 'restarting' && cgroups.made.size === 0);
  assert.equal(e.repo.get(id)!.restartCount, 1);
  assert.deepEqual(clock.delays, [100]);
  const monitors = host.monitors.length;
  clock.advance(99);
  await tick();
  assert.equal(host.monitors.length, monitors, 'not before the back-off ends');
  clock.advance(1);
  await until('running again', () => e.repo.get(id)!.state === 'running');
  assert.equal(host.monitors.length, monitors + 1);
  // The second exit waits twice as long.
  monitorOf(id).exit(1);
  await until('restarting', () => e.repo.get(id)!.state === 'restarting');
  assert.deepEqual(clock.delays, [200]);
  assert.equal(e.repo.get(id)!.restartCount, 2);
  await e.remove(id, true);
});

test('stop during the back-off: exited with its last exit, waiters told, no restart ever', async () => {
  const e = engine();
  const id = await create(e, 'always');
  await e.start(id);
  monitorOf(id).exit(3);
  await until('restarting', () => e.repo.get(id)!.state === 'restarting');
  const waited = e.wait(id);
  await e.stop(id, 10);
  const row = e.repo.get(id)!;
  assert.equal(row.state, 'exited');
  assert.equal(row.exitCode, 3);
  assert.equal(row.manuallyStopped, true);
  assert.equal((await waited).exitCode, 3);
  assert.equal(clock.pending, 0);
  clock.advance(120_000);
  await tick();
  assert.equal(host.alive().length, 0);
  await e.remove(id, false);
});

test('stop during the back-off: Docker\'s "stop" event (no kill: there is no process), as for a running one', async () => {
  const actions: string[] = [];
  const e = engine({ events: { emit: (_t, action) => { actions.push(action); } } });
  const id = await create(e, 'always');
  await e.start(id);
  monitorOf(id).exit(3);
  await until('restarting', () => e.repo.get(id)!.state === 'restarting');
  actions.length = 0;
  await e.stop(id, 10);
  assert.deepEqual(actions, ['stop']);
  // Stopping it again (exited now) is no stop at all: no event.
  await e.stop(id, 10);
  assert.deepEqual(actions, ['stop']);
  await e.remove(id, false);
});

test('die event: execDuration is the whole seconds it ran, truncated as Docker\'s int(Seconds())', async () => {
  const dies: Record<string, string>[] = [];
  const e = engine({ events: { emit: (_t, action, _id, attrs) => { if (action === 'die') dies.push(attrs ?? {}); } } });
  const id = await create(e, 'no');
  await e.start(id);
  // It ran 1.9 s: Docker says 1, not 2.
  db.prepare('UPDATE containers SET started = ? WHERE id = ?').run(Date.now() - 1900, id);
  monitorOf(id).exit(0);
  await until('exited', () => e.repo.get(id)!.state === 'exited' && dies.length === 1);
  assert.equal(dies[0]!.execDuration, '1');
  await e.remove(id, false);
});

test('stop while the restart is starting: the start finishes, then the stop ends it, for good', async () => {
  const e = engine();
  const id = await create(e, 'always');
  await e.start(id);
  monitorOf(id).exit(1);
  await until('restarting', () => e.repo.get(id)!.state === 'restarting');
  let release!: () => void;
  host.beforeOk = () => new Promise<void>((r) => (release = r));
  clock.advance(100);
  await until('the restart to spawn its monitor', () => release !== undefined);
  const stopped = e.stop(id, 10);
  await tick();
  host.beforeOk = undefined;
  release();
  await stopped;
  assert.equal(e.repo.get(id)!.state, 'exited');
  assert.equal(clock.pending, 0, 'the stop\'s exit schedules nothing');
  assert.equal(host.alive().length, 0);
  await e.remove(id, false);
});

test('daemon shutdown: quiesce() cancels the back-offs and waits for a restart already starting (the network goes after)', async () => {
  const e = engine();
  const starting = await create(e, 'always');
  await e.start(starting);
  monitorOf(starting).exit(1);
  await until('restarting', () => e.repo.get(starting)!.state === 'restarting');
  // Its back-off ends and its start hangs in the monitor's spawn.
  let release!: () => void;
  host.beforeOk = () => new Promise<void>((r) => (release = r));
  clock.advance(100);
  await until('the restart to spawn its monitor', () => release !== undefined);
  host.beforeOk = undefined;
  // Another one is in its back-off.
  const waiting = await create(e, 'always');
  await e.start(waiting);
  monitorOf(waiting).exit(1);
  await until('restarting', () => e.repo.get(waiting)!.state === 'restarting');
  assert.equal(clock.pending, 1);
  let settled = false;
  const q = e.quiesce().then(() => (settled = true));
  await tick();
  assert.equal(settled, false, 'the start in flight is waited for');
  release();
  await q;
  assert.equal(e.repo.get(starting)!.state, 'running', 'the start finished before the daemon went on');
  assert.equal(e.repo.get(waiting)!.state, 'restarting', 'a pending back-off is left to the next daemon start');
  assert.equal(clock.pending, 0, 'no back-off timer left');
  await e.remove(starting, true);
  await e.remove(waiting, true);
});

test('rm of a restarting container is refused; rm -f during the back-off leaves nothing and starts nothing', async () => {
  const e = engine();
  const id = await create(e, 'on-failure');
  await e.start(id);
  monitorOf(id).exit(2);
  await until('restarting', () => e.repo.get(id)!.state === 'restarting');
  await assert.rejects(e.remove(id, false), /you cannot remove a restarting container/);
  await assert.rejects(e.kill(id, 'KILL'), /is not running/);
  const monitors = host.monitors.length;
  await e.remove(id, true);
  clock.advance(120_000);
  await tick();
  assert.equal(e.repo.get(id), undefined);
  assert.equal(host.monitors.length, monitors, 'no start after rm -f');
  assert.equal(existsSync(join(dir, 'root', 'containers', id)), false);
  assert.equal(cgroups.made.size, 0);
});

test('restart: the stop inside it restarts nothing and RestartCount begins anew; kill -9 ends the restarts', async () => {
  let restarted = '';
  const e = engine({ events: { emit: (_t, action, x) => { if (action === 'restart') restarted = x; } } });
  const id = await create(e, 'always');
  await e.start(id);
  monitorOf(id).exit(1);
  await until('restarting', () => e.repo.get(id)!.state === 'restarting');
  clock.advance(100);
  await until('running', () => e.repo.get(id)!.state === 'running');
  assert.equal(e.repo.get(id)!.restartCount, 1);
  assert.equal(restarted, '', 'a restart by the policy is no "restart" event');
  await e.restart(id, 10);
  assert.equal(restarted, id, 'the restart event hook');
  const row = e.repo.get(id)!;
  assert.equal(row.state, 'running');
  assert.equal(row.restartCount, 0);
  assert.equal(row.manuallyStopped, false);
  assert.equal(clock.pending, 0);
  await e.kill(id, 'KILL');
  await until('exited', () => e.repo.get(id)!.state === 'exited');
  assert.equal(clock.pending, 0, 'killed by the user: no restart');
  assert.equal(e.repo.get(id)!.manuallyStopped, true);
  await e.remove(id, false);
});

test('restart of a --rm container: the stop inside it removes nothing; it runs again (Docker\'s HasBeenManuallyRestarted)', async () => {
  const actions: string[] = [];
  const e = engine({ events: { emit: (_t, action) => { actions.push(action); } } });
  const { id } = await e.create({
    image: 'img', name: '', cmd: [], entrypoint: [], entrypointSet: false, env: [], workdir: '', user: '', hostname: '',
    tty: false, openStdin: false, autoRemove: true, network: '', ports: [], dns: [], resources: {}, securityOpt: [],
  });
  await e.start(id);
  actions.length = 0;
  await e.restart(id, 10);
  assert.equal(e.repo.get(id)?.state, 'running');
  assert.ok(!actions.includes('destroy'), actions.join(' '));
  assert.equal(actions.at(-1), 'restart');
  // Its next exit is an ordinary one: --rm removes it.
  monitorOf(id).exit(0);
  await until('removed', () => e.repo.get(id) === undefined);
});

test('on-failure:1: one restart, then exited; a start by the user resets the count', async () => {
  const e = engine();
  const id = await create(e, 'on-failure', 1);
  await e.start(id);
  monitorOf(id).exit(5);
  await until('restarting', () => e.repo.get(id)!.state === 'restarting');
  clock.advance(100);
  await until('running', () => e.repo.get(id)!.state === 'running');
  monitorOf(id).exit(5);
  await until('exited', () => e.repo.get(id)!.state === 'exited');
  assert.equal(e.repo.get(id)!.restartCount, 1);
  assert.equal(clock.pending, 0);
  await e.start(id);
  assert.equal(e.repo.get(id)!.restartCount, 0);
  await e.remove(id, true);
});

test('daemon restart: a restarting one is started; unless-stopped stopped by the user is not; always is', async () => {
  const e = engine();
  const waiting = await create(e, 'on-failure');
  const userStopped = await create(e, 'unless-stopped');
  const alwaysStopped = await create(e, 'always');
  const neverStarted = await create(e, 'always');
  for (const id of [waiting, userStopped, alwaysStopped]) await e.start(id);
  monitorOf(waiting).exit(1);
  await until('restarting', () => e.repo.get(waiting)!.state === 'restarting');
  await e.stop(userStopped, 10);
  await e.stop(alwaysStopped, 10);
  e.close();

  const again = engine();
  await again.recover();
  assert.equal(again.repo.get(waiting)!.state, 'running');
  assert.equal(again.repo.get(userStopped)!.state, 'exited');
  assert.equal(again.repo.get(alwaysStopped)!.state, 'running', 'Docker: always comes back with the daemon');
  assert.equal(again.repo.get(neverStarted)!.state, 'created');
  // unless-stopped started by the user again is no longer "stopped by the user".
  await again.start(userStopped);
  assert.equal(again.repo.get(userStopped)!.manuallyStopped, false);
  for (const id of [waiting, userStopped, alwaysStopped, neverStarted]) await again.remove(id, true);
  assert.equal(host.alive().length, 0);
});
