// The container lifecycle against a fake monitor (test/unit/fake-monitor.ts): the
// races between start, exit and rm, exit delivery to attached clients, signals that
// must not queue behind stdin, and recovery after a daemon restart. No root needed:
// files go to a temp dir, the monitor and cgroups are in-process fakes.
import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Engine } from '../../daemon/containers/engine.ts';
import type { EngineOptions, ExitInfo, NetworkHooks } from '../../daemon/containers/types.ts';
import { FakeHost } from './fake-monitor.ts';
import { EngineWorld, type FakeCgroups } from './fake-engine.ts';

let dir = '';
let host: FakeHost;
let cgroups: FakeCgroups;
let world: EngineWorld;


function engine(extra: Partial<EngineOptions> = {}): Engine {
  return world.engine(extra);
}

async function create(e: Engine, opts: { autoRemove?: boolean; openStdin?: boolean } = {}): Promise<string> {
  const { id } = await e.create({
    image: 'img', name: '', cmd: [], entrypoint: [], entrypointSet: false, env: [], workdir: '', user: '', hostname: '',
    tty: false, openStdin: opts.openStdin ?? false, autoRemove: opts.autoRemove ?? false, network: '', ports: [], dns: [],
    resources: {}, securityOpt: [],
  });
  return id;
}

function deferred() {
  let release!: () => void;
  const promise = new Promise<void>((r) => {
    release = r;
  });
  return { promise, release };
}

/** Rejects when `p` takes longer than `ms`: a hang is a failure, not a stuck test run. */
function within<T>(p: Promise<T>, ms = 3000, what = 'the operation'): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} hung`)), ms);
    }),
  ]);
}

const tick = () => new Promise((r) => setTimeout(r, 5));

/** The daemon went away: its connections are closed (as the monitor sees it). */
async function gone(e: Engine): Promise<void> {
  e.close();
  while (host.monitors.some((m) => m.links.some((l) => !l.closed))) await tick();
}

beforeEach(() => {
  world = new EngineWorld('life');
  ({ dir, host, cgroups } = world);
});

afterEach(() => world.close());

test('rm -f while start is in progress: it waits for the start, then nothing is left and nothing hangs', async () => {
  const e = engine();
  const id = await create(e);
  const hold = deferred();
  host.beforeOk = () => hold.promise;
  const started = e.start(id);
  await tick(); // the monitor is spawned and waits for "ok"
  assert.equal(host.monitors.length, 1);
  const removed = e.remove(id, true);
  await tick();
  hold.release();
  await within(Promise.allSettled([started, removed]), 3000, 'start and rm -f');
  await within(removed, 100, 'rm -f');
  assert.equal(e.repo.get(id), undefined, 'the row is gone');
  assert.equal(host.alive().length, 0, 'no monitor is left running');
  assert.equal(existsSync(join(dir, 'root', 'containers', id)), false, 'the bundle is gone');
  assert.equal(existsSync(join(dir, 'run', 'c', id.slice(0, 12))), false, 'the run dir is gone');
  assert.equal(cgroups.made.size, 0, 'the cgroups are gone');
  await assert.rejects(e.start(id), /No such container/);
});

test('an exit during the start (before START) leaves the container exited, torn down, and waitable', async () => {
  const wiring = deferred();
  const network: NetworkHooks = {
    prepare: async () => [],
    attach: () => wiring.promise,
    detach: async () => {},
    ports: () => [],
    inspect: () => ({}),
  };
  const e = engine({ network });
  const id = await create(e);
  const started = e.start(id);
  await tick(); // held in network.attach: the monitor is up, START not sent
  const m = host.monitors[0]!;
  assert.equal(m.frames('START').length, 0);
  m.exit(137); // init killed before it ever ran the command
  await tick();
  wiring.release();
  await within(started.catch(() => {}), 3000, 'start');
  const row = e.repo.get(id)!;
  assert.equal(row.state, 'exited', 'the row does not claim a running container whose init is gone');
  assert.equal(row.exitCode, 137);
  assert.equal(m.frames('START').length, 0, 'no START to a monitor that is gone');
  assert.deepEqual(await within(e.wait(id), 1000, 'wait'), { exitCode: 137, oomKilled: false, error: row.error });
  assert.equal(cgroups.made.size, 0, 'torn down');
  await within(e.remove(id, true), 1000, 'rm -f');
  assert.equal(e.repo.get(id), undefined);
});

test('a client attached when the container exits gets all of its output first, then the exit', async () => {
  const e = engine();
  const id = await create(e);
  const got: string[] = [];
  const exited = new Promise<ExitInfo>((resolve) => {
    e.attach(id, {
      output: (_s, data) => {
        got.push(`out:${data.toString()}`);
      },
      exit: (info) => {
        got.push(`exit:${info.exitCode}`);
        resolve(info);
      },
    });
  });
  await e.start(id);
  const m = host.monitors[0]!;
  assert.deepEqual(m.frames('START').map((f) => f.link), [0], 'START on the quiet control connection');
  m.output(1, 'hello');
  // The quiet connection reports the exit before the output connection is through.
  m.exit(3, 'last words');
  const info = await within(exited, 3000, 'the exit for the attached client');
  assert.equal(info.exitCode, 3);
  assert.deepEqual(got, ['out:hello', 'out:last words', 'exit:3']);
  assert.equal(e.repo.get(id)!.state, 'exited');
});

test('kill and stop go on the quiet control connection: never behind stdin the container does not read', async () => {
  const e = engine();
  const id = await create(e, { openStdin: true });
  const session = e.attach(id, { output: () => {}, exit: () => {} });
  await e.start(id);
  const m = host.monitors[0]!;
  m.takesStdin = false;
  m.diesOnSignal = false;
  // The output connection jams on the first chunk; the rest waits behind it.
  session.stdin(Buffer.from('a'.repeat(1000)));
  session.stdin(Buffer.from('b'.repeat(1000)));
  await e.kill(id, 'SIGUSR1');
  const usr1 = m.frames('SIGNAL');
  assert.equal(usr1.length, 1, 'kill reached the monitor although stdin is stuck');
  assert.equal(usr1[0]!.data, '10');
  assert.ok(m.links[usr1[0]!.link]!.isQuiet, 'on the quiet connection');
  m.diesOnSignal = true;
  await within(e.stop(id, 5), 1000, 'stop');
  assert.equal(m.frames('SIGNAL')[1]!.data, '15', 'stop sent SIGTERM');
  assert.ok(m.links[m.frames('SIGNAL')[1]!.link]!.isQuiet);
  assert.equal(e.repo.get(id)!.state, 'exited');
  assert.equal(e.repo.get(id)!.exitCode, 143);
});

test('recovery: a container recorded running whose monitor is gone gets the exit its monitor recorded', async () => {
  const first = engine();
  const id = await create(first);
  await first.start(id);
  assert.equal(first.repo.get(id)!.state, 'running');
  await within(gone(first), 1000, 'closing'); // the daemon goes away; the container does not
  host.monitors[0]!.die(42); // …then ends while nobody listens: only the exit file knows
  const second = engine();
  await within(second.recover(), 3000, 'recover');
  const row = second.repo.get(id)!;
  assert.equal(row.state, 'exited');
  assert.equal(row.exitCode, 42, 'the exit file is applied');
  assert.equal(row.error, '');
  assert.equal(cgroups.made.size, 0, 'torn down');
  assert.equal(existsSync(join(dir, 'run', 'c', id.slice(0, 12))), false, 'the run dir is gone');
  assert.deepEqual(await within(second.wait(id), 1000, 'wait'), { exitCode: 42, oomKilled: false, error: '' });
});

test('recovery: a --rm container that is not running is removed; a running one is reconnected', async () => {
  const first = engine();
  const never = await create(first, { autoRemove: true });
  const kept = await create(first, { autoRemove: true });
  await first.start(kept);
  await within(gone(first), 1000, 'closing');
  const second = engine();
  await within(second.recover(), 3000, 'recover');
  assert.equal(second.repo.get(never), undefined, 'the --rm container that never ran is removed');
  assert.equal(existsSync(join(dir, 'root', 'containers', never)), false, 'with its bundle');
  assert.equal(second.repo.get(kept)?.state, 'running', 'the running one stays');
  const m = host.monitors[0]!;
  assert.equal(m.links.filter((l) => !l.closed && l.isQuiet).length, 1, 'reconnected on a quiet connection');
  m.exit(0);
  await within(second.wait(kept), 3000, 'wait');
  await tick();
  assert.equal(second.repo.get(kept), undefined, 'its exit removes it (--rm)');
});

const execReq = { cmd: ['cat'], env: [], user: '', workdir: '', tty: false, openStdin: true };

function execSink() {
  const got: string[] = [];
  let done!: (info: ExitInfo) => void;
  const exited = new Promise<ExitInfo>((r) => {
    done = r;
  });
  return { got, exited, sink: { output: (_s: 1 | 2, d: Buffer) => void got.push(d.toString()), exit: (i: ExitInfo) => done(i) } };
}

test("exec: the container's monitor forks it for init's process; its signal is never behind its stdin", async () => {
  const e = engine();
  const id = await create(e);
  await e.start(id);
  const container = host.monitors[0]!;
  const { exited, sink } = execSink();
  const session = await e.exec(id, execReq, sink);
  assert.equal(container.frames('EXEC').length, 1, 'asked the container monitor (no exec spawned by the daemon)');
  assert.equal(host.spawnedExecs.length, 0);
  const ex = host.monitors[1]!;
  assert.equal(ex.verb, 'exec');
  assert.deepEqual([('initPid' in ex.config) && ex.config.initPid, ('initStartTime' in ex.config) && ex.config.initStartTime],
    [container.pid, 4242], 'the exec names init by pid and start time');
  ex.takesStdin = false;
  session.stdin(Buffer.from('x'.repeat(1000)));
  session.stdin(Buffer.from('y'.repeat(1000)));
  session.signal(15);
  const info = await within(exited, 1000, 'the exec after SIGTERM');
  assert.equal(info.exitCode, 143);
  const sig = ex.frames('SIGNAL')[0]!;
  assert.ok(ex.links[sig.link]!.isQuiet, 'on a quiet connection of its own');
});

test('exec: a fork refused for the pids limit falls back to tdock-shim exec; another refusal is the error', async () => {
  const e = engine();
  const id = await create(e);
  await e.start(id);
  const container = host.monitors[0]!;
  container.execRefusal = 'fork: Resource temporarily unavailable';
  const first = execSink();
  await e.exec(id, execReq, first.sink);
  assert.equal(host.spawnedExecs.length, 1, 'the daemon ran the exec-monitor itself');
  host.spawnedExecs[0]!.exit(0);
  assert.equal((await within(first.exited, 1000, 'exec')).exitCode, 0);
  container.execRefusal = 'chdir: No such file or directory';
  await assert.rejects(e.exec(id, execReq, execSink().sink), /cannot exec in container .*: chdir: No such file or directory/);
  assert.equal(host.spawnedExecs.length, 1, 'no fallback for a real refusal');
});

test('exec: an exec-monitor that vanishes gives its client exit 255 and says why', async () => {
  const e = engine();
  const id = await create(e);
  await e.start(id);
  const { exited, sink } = execSink();
  await e.exec(id, execReq, sink);
  host.monitors[1]!.vanish();
  assert.deepEqual(await within(exited, 1000, 'the exec exit'),
    { exitCode: 255, oomKilled: false, error: 'the exec monitor died without recording an exit status' });
});

// ---- pids: a pid alone never names the container's init ---------------------

test('start: the network is wired through the netns the monitor binds in the run dir, never through a pid', async () => {
  const wired: string[] = [];
  const network: NetworkHooks = {
    prepare: async () => [],
    attach: async (_c, netns) => void wired.push(netns),
    detach: async () => {},
    ports: () => [],
    inspect: () => ({}),
  };
  const e = engine({ network });
  const id = await create(e);
  await e.start(id);
  const m = host.monitors[0]!;
  const bind = join(dir, 'run', 'c', id.slice(0, 12), 'netns');
  assert.equal((m.config as { netnsPath?: string }).netnsPath, bind, 'config.json asks the monitor for the bind');
  assert.deepEqual(wired, [bind], 'attach gets the bind, not init\'s pid');
  assert.equal(e.repo.get(id)!.initStartTime, FakeHost.START, 'the start time from the monitor is stored with the pid');
  m.exit(0);
  await within(e.wait(id), 1000, 'wait');
  assert.ok(host.netnsReleased.includes(bind), 'the teardown removes a bind the monitor left');
});

test('a failed start kills init only while its pid still names it (start time from the monitor)', async () => {
  for (const reused of [false, true]) {
    const e = engine();
    const id = await create(e);
    const connect = host.connect.bind(host);
    host.connect = async () => {
      host.connect = connect;
      throw new Error('connect ECONNREFUSED');
    };
    host.beforeOk = async (m) => {
      // init died and its pid went to another process before the daemon gave up
      if (reused) host.reused.set(m.pid, '999999');
    };
    await assert.rejects(e.start(id), /ECONNREFUSED/);
    host.beforeOk = undefined;
    const k = host.killed.at(-1)!;
    const m = host.monitors.at(-1)!;
    assert.equal(k.pid, m.pid);
    assert.equal(k.startTime, FakeHost.START, 'named by the start time the monitor reported');
    assert.equal(k.hit, !reused, reused ? 'the process that reused the pid is left alone' : 'init is killed');
    if (reused) m.vanish(); // (the real monitor ends when its killed init does)
    assert.equal(e.repo.get(id)!.state, 'created');
    assert.equal(cgroups.made.size, 0, 'torn down');
  }
});

test('recovery: a pid now held by another process is never adopted as the container\'s init', async () => {
  const first = engine();
  const id = await create(first, { openStdin: true });
  await first.start(id);
  const pid = first.repo.get(id)!.pid;
  await within(gone(first), 1000, 'closing');
  host.reused.set(pid, '31337'); // the recorded pid names another process now
  const second = engine();
  await within(second.recover(), 3000, 'recover');
  assert.equal(second.repo.get(id)!.state, 'running', 'the monitor, still there, decides the exit');
  await assert.rejects(second.exec(id, execReq, execSink().sink), /is not running/, 'no exec joins the other process');
  assert.throws(() => second.processes(id), /is not running/, 'top does not list it');
  assert.deepEqual(second.inspectView(id).namespaces, {}, 'inspect shows none of its namespaces');
  assert.equal(host.monitors.length, 1, 'no exec-monitor was started');
  host.monitors[0]!.exit(0);
  await within(second.wait(id), 3000, 'wait');
});

test('top: the processes in the container\'s cgroups and its pid namespace only; none once init\'s pid names another process', async () => {
  const e = engine();
  const id = await create(e);
  await e.start(id);
  const init = host.monitors.at(-1)!.pid;
  const ns = host.pidNamespace(init)!;
  host.procs.set(5001, { pid: 5001, nsPid: 7, ppid: init, uid: 100000, state: 'R', cpuTicks: 3, cmd: 'sleep 9', ns });
  // an exec-monitor shares the cgroups, not the pid namespace: not the container's
  host.procs.set(5002, { pid: 5002, nsPid: 5002, ppid: 1, uid: 0, state: 'S', cpuTicks: 0, cmd: 'tdock-shim exec', ns: 'pid:[host]' });
  cgroups.members.set(id, [init, 5001, 5002]);
  assert.deepEqual(e.processes(id).rows.map((p) => p.cmd), ['init', 'sleep 9']);
  const view = e.inspectView(id);
  assert.equal(view.namespaces.net?.Path, `/proc/${init}/ns/net`, 'inspect reads init\'s namespaces through the host');
  host.reused.set(init, '999'); // init died and its pid went to another process
  assert.throws(() => e.processes(id), /is not running/);
  assert.deepEqual(e.inspectView(id).namespaces, {}, 'no namespaces of a stranger');
  host.reused.delete(init);
});

test('stop without -t (a user\'s, or a shutdown\'s) uses --stop-signal and --stop-timeout', async () => {
  const e = engine();
  const { id } = await e.create({
    image: 'img', name: '', cmd: [], entrypoint: [], entrypointSet: false, env: [], workdir: '', user: '', hostname: '',
    tty: false, openStdin: false, autoRemove: false, network: '', ports: [], dns: [], resources: {}, securityOpt: [],
    stopSignal: 'SIGUSR1', stopTimeout: 0,
  });
  await e.start(id);
  const m = host.monitors[0]!;
  // The fake ignores SIGUSR1: only the kill after the 0 s stop timeout ends it (the default would wait 10 s).
  await within(e.stop(id, -1, 'daemon'), 2000, 'stop');
  assert.deepEqual(m.frames('SIGNAL').map((f) => f.data), ['10', '9']);
  assert.equal(e.repo.get(id)!.exitCode, 137);
});
