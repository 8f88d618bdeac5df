// Integration tests of `tdock-shim exec` (a process in a running container) and
// `tdock-shim whiteouts` (OCI whiteouts in overlayfs form); shim/PROTOCOL.md.
// Needs root, overlayfs and user namespaces. Containers are started with the
// `monitor` verb; everything is cleaned up in finally/after (kill by pid, rm -rf,
// rmdir of the cgroups made here).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { assertConfined, assertUnconfined } from '../helpers/seccomp-probe.ts';
import { parseRecords } from '../../daemon/runtime/logfile.ts';
import { FrameDecoder, encodeFrame } from '../../daemon/runtime/frames.ts';
import { F, shimSession } from '../helpers/shim-session.ts';
import { CAP_NUM, DEFAULT_CAPS, HOST_ID, OK_LINE, SHIM, shimHarness, startShim as runShim, type Started } from '../helpers/shim-harness.ts';

const ENV = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/root'];
// Docker's default set, with the bit of each (CapEff in /proc/PID/status).
const CAP_HEX = DEFAULT_CAPS.reduce((m, c) => m | (1n << BigInt(CAP_NUM[c]!)), 0n).toString(16).padStart(16, '0');
const NAMESPACES = ['user', 'mnt', 'pid', 'uts', 'ipc', 'net', 'cgroup'];

// The same bundles as test/integration/shim.test.ts (test/helpers/shim-harness.ts), with
// a file only this image has: an exec that sees it has the container's root, not the host's.
const h = shimHarness((lower) => fs.writeFileSync(path.join(lower, 'tdock-image-marker'), 'in the image\n'));

// Every process and directory made here, so that after() can undo what a failed test left.
const spawned: ChildProcess[] = [];
const tempDirs: string[] = [];
const cgroupDirs: string[] = [];
let shared: Container;

function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'tdock-shimtest-'));
  fs.chmodSync(d, 0o711); // the container's root (host uid 100000) walks down to its rootfs
  tempDirs.push(d);
  return d;
}

after(async () => {
  if (shared && shared.monitor.exitCode === null) await stopContainer(shared).catch(() => { /* killed below */ });
  for (const p of spawned) if (p.pid && p.exitCode === null && p.signalCode === null) {
    try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ }
  }
  for (const d of tempDirs) fs.rmSync(d, { recursive: true, force: true });
  for (const d of cgroupDirs) {
    try { fs.rmdirSync(d); } catch { /* already removed */ }
  }
});

// ---------------------------------------------------------------- frames

interface Frame { type: number; payload: Buffer }

interface Session {
  frames: Frame[];
  stdout: string;
  stderr: string;
  errors: string[];
  exit: { exitCode: number; signal: number; finishedAt: number; error?: string };
}

interface Talk {
  stdin?: string;
  closeStdin?: boolean;
  during?: (send: (type: number, payload?: string) => void) => void;
  timeoutMs?: number;
}

// Connects, sends START (and whatever opts says) and collects frames until EXIT.
const attach = (sock: string, opts: Talk = {}): Promise<Session> => shimSession(sock, opts);

// The harness's startShim, with the process kept for after().
async function startShim(verb: string, arg: string, wrap: string[] = []): Promise<Started & { proc: ChildProcess }> {
  const s = await runShim(verb, arg, wrap);
  spawned.push(s.monitor);
  return { ...s, proc: s.monitor };
}

// ---------------------------------------------------------------- containers

interface Container {
  dir: string;
  initPid: number;          // host pid of the container's PID 1
  startTime: number;        // field 22 of its /proc/PID/stat
  monitor: ChildProcess;
  monitorExited: Promise<number | null>;
  config: Record<string, unknown>;
  session: Promise<Session>; // the container's own client, open until it exits
}

function startTimeOf(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
}

// A container's monitor that said `ok`, with nobody connected yet (no START: init waits before its mounts).
async function startBare(over: Record<string, unknown> = {}, wrap: string[] = []): Promise<{ dir: string; config: Record<string, unknown>; initPid: number; monitor: ChildProcess; exited: Promise<number | null> }> {
  const { b, s } = await h.startBare({
    hostname: 'exectest', args: ['sleep', '1000'], maskedPaths: ['/proc/kcore', '/proc/keys'], readonlyPaths: ['/proc/sys'], ...over,
  }, wrap);
  spawned.push(s.monitor);
  assert.equal(s.startTime, startTimeOf(s.pid), 'ok names init by pid and start time');
  return { dir: b.dir, config: b.config, initPid: s.pid, monitor: s.monitor, exited: s.exited };
}

// A running container whose command sleeps until it is stopped.
async function startContainer(over: Record<string, unknown> = {}, wrap: string[] = []): Promise<Container> {
  const { dir, config, initPid, monitor, exited } = await startBare(over, wrap);
  const s = { pid: initPid, proc: monitor, exited };
  const session = attach(config.socket as string, { timeoutMs: 600000 });
  session.catch(() => { /* the container may be killed without its EXIT being read */ });
  // The container is set up once its command runs: PID 2 exists.
  const deadline = Date.now() + 5000;
  while (!fs.readFileSync(`/proc/${s.pid}/task/${s.pid}/children`, 'utf8').trim()) {
    assert.ok(Date.now() < deadline, 'the container command did not start');
    await sleep(5);
  }
  return { dir, initPid: s.pid, startTime: startTimeOf(s.pid), monitor: s.proc, monitorExited: s.exited, config, session };
}

// Kills the container's PID 1 through its monitor and waits for both to end.
async function stopContainer(c: Container): Promise<Session> {
  await new Promise<void>((resolve, reject) => {
    const k = connect(c.config.socket as string, () => k.end(encodeFrame(F.SIGNAL, '9'), () => resolve()));
    k.on('error', reject);
  });
  const s = await c.session;
  assert.equal(await c.monitorExited, 0);
  return s;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// ---------------------------------------------------------------- exec

let execCount = 0;

function execConfig(c: Container, over: Record<string, unknown>): Record<string, unknown> {
  const id = `exec-${++execCount}`;
  return {
    initPid: c.initPid, initStartTime: c.startTime, args: ['true'], env: ENV, cwd: '/',
    user: { uid: 0, gid: 0, additionalGids: [] }, tty: false, openStdin: false,
    capabilities: c.config.capabilities, noNewPrivileges: true, cgroupProcs: c.config.cgroupProcs,
    socket: path.join(c.dir, `${id}.sock`), exitPath: path.join(c.dir, `${id}.exit.json`), ...over,
  };
}

interface ExecResult extends Session { pid: number; ms: number; config: Record<string, unknown> }

async function exec(c: Container, over: Record<string, unknown>, opts: Talk & { beforeStart?: (pid: number) => void; wrap?: string[] } = {}): Promise<ExecResult> {
  const config = execConfig(c, over);
  const file = path.join(c.dir, `exec-${execCount}.json`);
  fs.writeFileSync(file, JSON.stringify(config));
  const t0 = process.hrtime.bigint();
  const s = await startShim('exec', file, opts.wrap);
  assert.match(s.line, OK_LINE, `exec said: ${s.line}`);
  opts.beforeStart?.(s.pid);
  const r = await attach(config.socket as string, opts);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  assert.equal(await s.exited, 0, 'exec-monitor exit code');
  assert.ok(!fs.existsSync(config.socket as string), 'socket removed');
  return { ...r, pid: s.pid, ms, config };
}

async function execFails(c: Container, over: Record<string, unknown>): Promise<string> {
  const config = execConfig(c, over);
  const file = path.join(c.dir, `exec-${execCount}.json`);
  fs.writeFileSync(file, JSON.stringify(config));
  const s = await startShim('exec', file);
  assert.equal(await s.exited, 1);
  assert.ok(!fs.existsSync(config.socket as string), 'no socket left');
  return s.line;
}

const sh = (script: string) => ({ args: ['sh', '-c', script] });

function nsOf(pid: number): string[] {
  return NAMESPACES.map((k) => fs.readlinkSync(`/proc/${pid}/ns/${k}`));
}

// Processes (host pids) whose pid namespace is the container's.
function containerProcs(c: Container): { pid: number; state: string }[] {
  const ns = fs.readlinkSync(`/proc/${c.initPid}/ns/pid`);
  const out: { pid: number; state: string }[] = [];
  for (const p of fs.readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      if (fs.readlinkSync(`/proc/${p}/ns/pid`) !== ns) continue;
      const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      out.push({ pid: Number(p), state: stat[stat.lastIndexOf(')') + 2]});
    } catch { /* exited meanwhile */ }
  }
  return out;
}

before(async () => {
  shared = await startContainer();
});


test('exec: exit codes 0 and 3, 127 for a missing command, 128+N when killed', async () => {
  assert.equal((await exec(shared, { args: ['true'] })).exit.exitCode, 0);
  assert.equal((await exec(shared, sh('exit 3'))).exit.exitCode, 3);
  const missing = await exec(shared, { args: ['no-such-command'] });
  assert.equal(missing.exit.exitCode, 127);
  assert.equal(missing.errors.length, 1);
  assert.match(missing.errors[0], /no-such-command.*not found/);
  assert.equal(missing.exit.error, missing.errors[0]);
  const killed = await exec(shared, sh('kill -9 $$'));
  assert.equal(killed.exit.exitCode, 137);
  assert.equal(killed.exit.signal, 9);
});

test('exec: PID frame first; stdout and stderr apart; exit file and log', async () => {
  const logPath = path.join(shared.dir, 'exec-log.log');
  const r = await exec(shared, { ...sh('echo out; echo err >&2; echo out2'), logPath });
  assert.equal(r.frames[0].type, F.PID);
  assert.equal(Number(r.frames[0].payload.toString()), r.pid);
  assert.equal(r.stdout, 'out\nout2\n');
  assert.equal(r.stderr, 'err\n');
  assert.deepEqual(JSON.parse(fs.readFileSync(r.config.exitPath as string, 'utf8')), r.exit);
  const log = fs.readFileSync(logPath);
  const streams: Record<number, string> = { 1: '', 2: '' };
  const { records, consumed } = parseRecords(log);
  assert.equal(consumed, log.length);
  for (const rec of records) streams[rec.stream] += rec.data.toString();
  assert.deepEqual(streams, { 1: 'out\nout2\n', 2: 'err\n' });
  // Without logPath there is no log file at all.
  const quiet = await exec(shared, sh('echo hi'));
  assert.equal(quiet.stdout, 'hi\n');
  assert.deepEqual(fs.readdirSync(shared.dir).filter((f) => f.endsWith('.log')).sort(), ['container.log', 'exec-log.log']);
});

test('exec: stdin through frames, CLOSE_STDIN gives EOF; without openStdin it is /dev/null', async () => {
  const r = await exec(shared, { args: ['cat'], openStdin: true }, { stdin: 'hello\nworld\n', closeStdin: true });
  assert.equal(r.stdout, 'hello\nworld\n');
  assert.equal(r.exit.exitCode, 0);
  const n = await exec(shared, { args: ['cat'] });
  assert.equal(n.stdout, '');
});

test('exec: tty in the container (/dev/pts/N), RESIZE reaches stty, input through the pty', async () => {
  // The command waits for a line sent after the RESIZE (frames are handled in order):
  // a RESIZE racing `stty size` on a 0x0 pty made busybox fail with a stale errno
  // ("stty: standard input: No child processes", left by the shell reaping `tty`).
  const r = await exec(shared, { ...sh('read x; tty; stty size'), tty: true, openStdin: true }, {
    during: (send) => {
      send(F.RESIZE, '40 100');
      send(F.STDIN, 'go\r');
    },
  });
  assert.match(r.stdout.replace(/\r/g, ''), /^go\n\/dev\/pts\/\d+\n40 100\n$/);
  const i = await exec(shared, { ...sh('read x; echo "got $x"'), tty: true, openStdin: true }, { stdin: 'abc\r' });
  assert.match(i.stdout.replace(/\r/g, ''), /got abc\n/);
});

test('exec: a tty has the config\'s size before the command runs (no RESIZE needed: exec -it stty size)', async () => {
  const r = await exec(shared, { ...sh('stty size'), tty: true, ttyRows: 30, ttyCols: 100 });
  assert.equal(r.stdout.replace(/\r/g, ''), '30 100\n');
});

test('exec: the same namespaces as the container init, a pid inside it, same hostname', async () => {
  const r = await exec(shared, sh(`${NAMESPACES.map((k) => `readlink /proc/self/ns/${k}`).join('; ')}; echo $$; hostname; cat /proc/1/cmdline`));
  const lines = r.stdout.split('\n');
  assert.deepEqual(lines.slice(0, NAMESPACES.length), nsOf(shared.initPid));
  const inner = Number(lines[NAMESPACES.length]);
  assert.ok(inner > 2 && inner !== r.pid, `pid inside the container: ${inner}`);
  assert.equal(lines[NAMESPACES.length + 1], 'exectest');
  assert.match(lines[NAMESPACES.length + 2], /^tdock-shim\0init/);
});

test('exec: capability set and NoNewPrivs as in the container; -u 1000 has none', async () => {
  const r = await exec(shared, sh('grep -E "^(Cap|NoNewPrivs)" /proc/self/status'));
  const st = Object.fromEntries(r.stdout.trim().split('\n').map((l) => l.split(/:\s+/)));
  assert.deepEqual(st, { CapInh: '0000000000000000', CapPrm: CAP_HEX, CapEff: CAP_HEX, CapBnd: CAP_HEX, CapAmb: '0000000000000000', NoNewPrivs: '1' });
  const u = await exec(shared, { ...sh('id -u; id -g; id -G; grep CapEff /proc/self/status'), user: { uid: 1000, gid: 1000, additionalGids: [10] } });
  assert.match(u.stdout, /^1000\n1000\n1000 10\nCapEff:\s+0000000000000000\n$/);
});

test('exec: the default seccomp profile, or none with "unconfined", whatever the container has', async () => {
  const r = await exec(shared, { args: ['seccomp-probe'] });
  assert.equal(r.exit.exitCode, 0, r.stderr);
  assertConfined(r.stdout);
  assert.equal((await exec(shared, sh('grep "^Seccomp:" /proc/self/status'))).stdout, 'Seccomp:\t2\n');
  assertUnconfined((await exec(shared, { args: ['seccomp-probe'], seccomp: 'unconfined' })).stdout);
  // The filter belongs to each process, not to the container: an unconfined container's exec gets its own.
  const c = await startContainer({ seccomp: 'unconfined' });
  try {
    assertConfined((await exec(c, { args: ['seccomp-probe'], seccomp: 'default' })).stdout);
  } finally {
    await stopContainer(c);
  }
  assert.match(await execFails(shared, { seccomp: 'none' }), /^error: config: seccomp: expected "default" or "unconfined"$/);
});

test('exec: before START the child is the container root, but out of its processes\' reach', async () => {
  const config = execConfig(shared, { args: ['true'], user: { uid: 1000, gid: 1000 } });
  const file = path.join(shared.dir, 'exec-pending.json');
  fs.writeFileSync(file, JSON.stringify(config));
  const s = await startShim('exec', file);
  assert.match(s.line, OK_LINE);
  try {
    const status = fs.readFileSync(`/proc/${s.pid}/status`, 'utf8');
    assert.match(status, new RegExp(`^Uid:\\s+${HOST_ID}\\s`, 'm'), 'uid 0 of the container');
    assert.equal(fs.readFileSync(`/proc/${s.pid}/cmdline`, 'utf8').replace(/\0+$/, ''), 'tdock-shim\0exec', 'no host path in its cmdline');
    // Another exec, as the container's root, sees it but can read neither its fds nor its exe.
    const inner = /^NSpid:\s+\d+\s+(\d+)$/m.exec(status)![1];
    const probe = await exec(shared, sh(`test -d /proc/${inner} && echo seen; ls /proc/${inner}/fd || echo no-fds; readlink /proc/${inner}/exe || echo no-exe`));
    assert.equal(probe.stdout, 'seen\nno-fds\nno-exe\n');
    assert.match(probe.stderr, /Permission denied/);
  } finally {
    const r = await attach(config.socket as string);
    assert.equal(r.exit.exitCode, 0);
    assert.equal(await s.exited, 0);
  }
});

test('exec: an exec-monitor nobody STARTs kills its process (no client in startTimeoutMs, or one that hung up first)', async () => {
  // The daemon's connection failed after EXEC_OK: nobody ever connects.
  const config = execConfig(shared, { args: ['sleep', '1000'], startTimeoutMs: 300 });
  const file = path.join(shared.dir, 'exec-unclaimed.json');
  fs.writeFileSync(file, JSON.stringify(config));
  const s = await startShim('exec', file);
  assert.match(s.line, OK_LINE);
  assert.equal(await s.exited, 0, 'the exec-monitor ends by itself');
  assert.ok(!fs.existsSync(`/proc/${s.pid}`), 'its process is gone');
  const exit = JSON.parse(fs.readFileSync(config.exitPath as string, 'utf8'));
  assert.equal(exit.exitCode, 137);
  assert.equal(exit.error, 'exec: no client started it within 300 ms');
  assert.ok(!fs.existsSync(config.socket as string), 'socket removed');

  // A client came and went without START (the default timeout is 30 s: the hang-up is what ends it).
  const gone = execConfig(shared, { args: ['sleep', '1000'] });
  const goneFile = path.join(shared.dir, 'exec-abandoned.json');
  fs.writeFileSync(goneFile, JSON.stringify(gone));
  const g = await startShim('exec', goneFile);
  assert.match(g.line, OK_LINE);
  await new Promise<void>((resolve, reject) => {
    const k = connect(gone.socket as string, () => k.end(() => resolve()));
    k.on('error', reject);
  });
  assert.equal(await g.exited, 0);
  assert.ok(!fs.existsSync(`/proc/${g.pid}`));
  assert.equal(JSON.parse(fs.readFileSync(gone.exitPath as string, 'utf8')).error, 'exec: the client went away before starting it');
});

test('exec: a setup failure is the error line, and nothing is left behind', async () => {
  const before = containerProcs(shared).length;
  const line = await execFails(shared, { cgroupProcs: ['/nonexistent/cgroup.procs'], logPath: path.join(shared.dir, 'failed.log') });
  assert.equal(line, 'error: open /nonexistent/cgroup.procs: No such file or directory');
  assert.ok(!fs.existsSync(path.join(shared.dir, 'failed.log')), 'log file removed');
  assert.equal(containerProcs(shared).length, before);
});

test('exec: cwd honoured; a missing cwd is 126 with an error', async () => {
  assert.equal((await exec(shared, { ...sh('pwd'), cwd: '/tmp' })).stdout, '/tmp\n');
  const bad = await exec(shared, { args: ['true'], cwd: '/nonexistent' });
  assert.equal(bad.exit.exitCode, 126);
  assert.match(bad.exit.error ?? '', /chdir \/nonexistent/);
});

test('exec: no descriptor beyond stdio reaches the process', async () => {
  const r = await exec(shared, sh('ls -l /proc/self/fd'));
  const fds = [...r.stdout.matchAll(/ (\d+) -> (.*)$/gm)].map((m) => [Number(m[1]), m[2]] as const);
  for (const [fd, target] of fds) if (fd > 2) {
    assert.equal(fd, 3, `leaked fd ${fd} -> ${target}`);
    assert.match(target, /^\/proc\/\d+\/fd$/);
  }
});

test('exec: SIGNAL frame reaches the process', async () => {
  const r = await exec(shared, { args: ['sleep', '1000'] }, { during: (send) => setTimeout(() => send(F.SIGNAL, '15'), 50) });
  assert.equal(r.exit.exitCode, 143);
});

test('exec: no zombie and no exec-monitor left after many execs', async () => {
  const pids: number[] = [];
  for (let i = 0; i < 30; i++) {
    // Every other one leaves an orphan behind: the container's init must reap it.
    const r = await exec(shared, i % 2 ? sh('sleep 0.1 & echo $!') : { args: ['true'] });
    assert.equal(r.exit.exitCode, 0);
    pids.push(r.pid);
  }
  await sleep(300);
  const procs = containerProcs(shared);
  assert.deepEqual(procs.filter((p) => p.state === 'Z'), [], 'zombies in the container');
  assert.deepEqual(procs.map((p) => p.pid).sort(), [shared.initPid, Number(fs.readFileSync(`/proc/${shared.initPid}/task/${shared.initPid}/children`, 'utf8').trim())].sort(), 'only init and its command are left');
  for (const p of pids) assert.ok(!fs.existsSync(`/proc/${p}`), `exec'd process ${p} left`);
  for (const p of spawned.filter((x) => x.spawnargs[1] === 'exec')) assert.ok(p.exitCode !== null, `exec-monitor ${p.pid} still running`);
});

test('exec: lands in the container cgroups (before the cgroup namespace: it sees /)', async (t) => {
  if (!fs.existsSync('/sys/fs/cgroup/pids')) return t.skip('no v1 pids hierarchy');
  const cg = `/sys/fs/cgroup/pids/tdock-shimtest-${process.pid}-${Date.now()}`;
  fs.mkdirSync(cg);
  cgroupDirs.push(cg);
  const procsFile = path.join(cg, 'cgroup.procs');
  const c = await startContainer({ cgroupProcs: [procsFile] });
  try {
    let inCgroup = '';
    const r = await exec(c, { ...sh('grep pids /proc/self/cgroup; sleep 0.1') }, {
      beforeStart: () => (inCgroup = fs.readFileSync(procsFile, 'utf8')),
    });
    assert.match(r.stdout, /:pids:\/$/m);
    assert.ok(inCgroup.split('\n').includes(String(r.pid)), `exec pid ${r.pid} in ${inCgroup}`);
    assert.equal(r.exit.exitCode, 0);
  } finally {
    await stopContainer(c);
  }
});

test('exec: when the container init dies, the exec ends at once (137) and so do both monitors', async () => {
  const c = await startContainer();
  const config = execConfig(c, { args: ['sleep', '1000'] });
  const file = path.join(c.dir, 'exec-long.json');
  fs.writeFileSync(file, JSON.stringify(config));
  const s = await startShim('exec', file);
  assert.match(s.line, OK_LINE);
  const session = attach(config.socket as string);
  await sleep(50);
  const t0 = Date.now();
  const own = await stopContainer(c);
  const r = await session;
  assert.equal(own.exit.signal, 9);
  assert.equal(r.exit.exitCode, 137);
  assert.equal(await s.exited, 0);
  assert.ok(Date.now() - t0 < 1000, `took ${Date.now() - t0} ms`);
  assert.ok(!fs.existsSync(`/proc/${s.pid}`));
});

test('exec: a killed exec-monitor takes its process along, whatever the user', async () => {
  for (const user of [{ uid: 0, gid: 0 }, { uid: 1000, gid: 1000 }]) {
    const config = execConfig(shared, { args: ['sleep', '1000'], user });
    const file = path.join(shared.dir, `exec-orphan-${user.uid}.json`);
    fs.writeFileSync(file, JSON.stringify(config));
    const s = await startShim('exec', file);
    assert.match(s.line, OK_LINE);
    const session = attach(config.socket as string);
    session.catch(() => { /* no EXIT: its monitor is killed */ });
    // Wait until the command runs (its exe is sleep, i.e. busybox), then kill the monitor.
    const deadline = Date.now() + 5000;
    while (!fs.readFileSync(`/proc/${s.pid}/cmdline`, 'utf8').startsWith('sleep')) {
      assert.ok(Date.now() < deadline, 'the command did not start');
      await sleep(2);
    }
    process.kill(s.proc.pid!, 'SIGKILL');
    await s.exited;
    const gone = Date.now() + 15_000;
    while (fs.existsSync(`/proc/${s.pid}`)) {
      assert.ok(Date.now() < gone, `uid ${user.uid}: the exec'd process outlived its monitor`);
      await sleep(5);
    }
    fs.rmSync(config.socket as string, { force: true });
  }
});

test('exec into a dead container, or a reused pid: `container init is gone`', async () => {
  const c = await startContainer();
  assert.equal(await execFails(c, { initStartTime: c.startTime + 1 }), 'error: container init is gone');
  await stopContainer(c);
  assert.equal(await execFails(c, {}), 'error: container init is gone');
  // A live process that is not the container's init (our own pid) with a made-up start time.
  assert.equal(await execFails(c, { initPid: process.pid, initStartTime: 1 }), 'error: container init is gone');
});

test('exec: a container on the host network', async () => {
  const c = await startContainer({ network: { mode: 'host' } });
  try {
    const r = await exec(c, sh('readlink /proc/self/ns/net'));
    assert.equal(r.stdout.trim(), fs.readlinkSync('/proc/self/ns/net'));
  } finally {
    await stopContainer(c);
  }
});

test('exec: bad config is one error line', async () => {
  const file = path.join(shared.dir, 'bad-exec.json');
  for (const [config, want] of [
    [{ args: ['true'], socket: '/x.sock', exitPath: '/x' }, /^error: config: initPid: missing$/],
    [{ initPid: 1, args: ['true'], socket: '/x.sock', exitPath: '/x' }, /^error: config: initStartTime: missing$/],
    [{ initPid: 1, initStartTime: 5, args: [], socket: '/x.sock', exitPath: '/x' }, /^error: config: args: needs a command$/],
    [{ initPid: -1, initStartTime: 5, args: ['true'], socket: '/x.sock', exitPath: '/x' }, /^error: config: initPid: expected a non-negative integer$/],
  ] as const) {
    fs.writeFileSync(file, JSON.stringify(config));
    const s = await startShim('exec', file);
    assert.match(s.line, want);
    assert.equal(await s.exited, 1);
  }
});

// ---------------------------------------------------------------- EXEC frame (the container's monitor forks the exec-monitor)

const FX = { EXEC: 15, EXEC_OK: 16, EXEC_ERROR: 17, FEATURES: 18 } as const;

interface Answer { type: number; detail: string }

// Sends one EXEC per path at once on one connection; resolves when each is answered (by path).
function askMonitor(c: Container, paths: string[]): Promise<{ frames: Frame[]; answers: Map<string, Answer> }> {
  return new Promise((resolve, reject) => {
    const k = connect(c.config.socket as string);
    const decoder = new FrameDecoder();
    const frames: Frame[] = [];
    const answers = new Map<string, Answer>();
    const timer = setTimeout(() => {
      k.destroy();
      reject(new Error(`no answer in time; frames ${JSON.stringify(frames.map((f) => [f.type, f.payload.toString()]))}`));
    }, 10000);
    k.on('connect', () => k.write(Buffer.concat(paths.map((p) => encodeFrame(FX.EXEC, p)))));
    k.on('error', (e) => { clearTimeout(timer); reject(e); });
    k.on('data', (chunk: Buffer) => {
      for (const f of decoder.push(chunk)) {
        frames.push(f);
        if (f.type !== FX.EXEC_OK && f.type !== FX.EXEC_ERROR) continue;
        const nul = f.payload.indexOf(0);
        assert.ok(nul >= 0, 'path NUL detail');
        answers.set(f.payload.subarray(0, nul).toString(), { type: f.type, detail: f.payload.subarray(nul + 1).toString() });
        if (answers.size < paths.length) continue;
        clearTimeout(timer);
        k.destroy();
        resolve({ frames, answers });
      }
    });
  });
}

function statusOf(pid: number): string {
  return fs.readFileSync(`/proc/${pid}/status`, 'utf8');
}

async function eventually(what: () => string | undefined): Promise<void> {
  const deadline = Date.now() + 15_000; // a bound for a loaded CI machine, not a speed target
  for (let why = what(); why !== undefined; why = what()) {
    assert.ok(Date.now() < deadline, why);
    await sleep(5);
  }
}

async function gone(pid: number, what: string): Promise<void> {
  const state = () => {
    try {
      return /^State:.*$/m.exec(statusOf(pid))?.[0];
    } catch {
      return undefined;
    }
  };
  await eventually(() => {
    const st = state();
    return st === undefined ? undefined : `${what} ${pid} still there: ${st}`;
  });
}

// The container's monitor has no child but init (exec-monitors are reaped), and the container only init and its command.
async function onlyInitLeft(c: Container): Promise<void> {
  const pid = c.monitor.pid!;
  await eventually(() => {
    const kids = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    return kids === String(c.initPid) ? undefined : `children of the monitor: ${kids}`;
  });
  await eventually(() => {
    const procs = containerProcs(c);
    return procs.length === 2 && !procs.some((p) => p.state === 'Z') ? undefined : `in the container: ${JSON.stringify(procs)}`;
  });
}

interface MonitorExec extends Session { execMonitor: number; config: Record<string, unknown>; file: string }

async function execViaMonitor(c: Container, over: Record<string, unknown>, opts: Talk & { beforeStart?: (execMonitor: number) => void } = {}): Promise<MonitorExec> {
  const config = execConfig(c, over);
  const file = path.join(c.dir, `exec-${execCount}.json`);
  fs.writeFileSync(file, JSON.stringify(config));
  const a = (await askMonitor(c, [file])).answers.get(file)!;
  assert.equal(a.type, FX.EXEC_OK, `EXEC said: ${a.detail}`);
  const execMonitor = Number(a.detail);
  opts.beforeStart?.(execMonitor);
  const r = await attach(config.socket as string, opts);
  return { ...r, execMonitor, config, file };
}

test('EXEC frame: FEATURES says exec; EXEC_OK names the exec-monitor, the monitor\'s child, which then serves like `tdock-shim exec`', async () => {
  const own = fs.readFileSync('/proc/self/oom_score_adj', 'utf8').trim();
  let status = '';
  let cmdline = '';
  const r = await execViaMonitor(shared, sh('echo out; echo err >&2; cat /proc/self/oom_score_adj; exit 3'), {
    beforeStart: (pid) => {
      status = statusOf(pid);
      cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    },
  });
  assert.equal(Number(/^PPid:\s+(\d+)$/m.exec(status)![1]), shared.monitor.pid, 'a child of the container\'s monitor');
  assert.equal(cmdline.replace(/\0+$/, ''), `tdock-shim\0exec\0${r.file}`);
  assert.equal(r.frames[0].type, F.PID);
  assert.equal(r.stdout, `out\n${own}\n`, 'the exec\'d command has the score init has, not the monitor\'s -1000');
  assert.equal(r.stderr, 'err\n');
  assert.equal(r.exit.exitCode, 3);
  assert.deepEqual(JSON.parse(fs.readFileSync(r.config.exitPath as string, 'utf8')), r.exit);
  await gone(r.execMonitor, 'exec-monitor (reaped by the monitor)');
  assert.ok(!fs.existsSync(r.config.socket as string), 'socket removed');
  // Every client is told what the monitor understands, right after the PID frame.
  const { frames } = await askMonitor(shared, ['relative.json']);
  assert.deepEqual(frames.slice(0, 2).map((f) => [f.type, f.payload.toString()]), [[F.PID, String(shared.initPid)], [FX.FEATURES, 'exec quiet']]);
  // A tty exec the same way.
  const t = await execViaMonitor(shared, { ...sh('tty'), tty: true });
  assert.match(t.stdout, /^\/dev\/pts\/\d+/);
});

test('EXEC frame: failures are EXEC_ERROR `step: reason`; overlapping requests are told apart by path', async () => {
  const good = path.join(shared.dir, 'exec-overlap-good.json');
  const goodConfig = execConfig(shared, sh('echo fine'));
  fs.writeFileSync(good, JSON.stringify(goodConfig));
  const bad = path.join(shared.dir, 'exec-overlap-bad.json');
  fs.writeFileSync(bad, JSON.stringify({ ...execConfig(shared, {}), args: [] }));
  const stale = path.join(shared.dir, 'exec-overlap-stale.json');
  const staleConfig = execConfig(shared, { initStartTime: shared.startTime + 1 });
  fs.writeFileSync(stale, JSON.stringify(staleConfig));
  const missing = path.join(shared.dir, 'no-such-exec.json');
  const { answers } = await askMonitor(shared, [bad, good, missing, 'relative.json', stale]);
  assert.deepEqual(Object.fromEntries([...answers].filter(([p]) => p !== good)), {
    [bad]: { type: FX.EXEC_ERROR, detail: 'config: args: needs a command' },
    [missing]: { type: FX.EXEC_ERROR, detail: `config: open ${missing}: No such file or directory` },
    'relative.json': { type: FX.EXEC_ERROR, detail: 'exec: the config path must be absolute' },
    [stale]: { type: FX.EXEC_ERROR, detail: 'container init is gone' },
  });
  assert.equal(answers.get(good)!.type, FX.EXEC_OK);
  assert.ok(!fs.existsSync(staleConfig.socket as string), 'a failed exec-monitor leaves no socket');
  const r = await attach(goodConfig.socket as string);
  assert.equal(r.stdout, 'fine\n');
  await onlyInitLeft(shared);
});

test('EXEC frame: an exec-monitor whose client went away before the answer is killed, not left waiting', async () => {
  const config = execConfig(shared, { args: ['true'] });
  const file = path.join(shared.dir, 'exec-abandoned.json');
  fs.writeFileSync(file, JSON.stringify(config));
  await new Promise<void>((resolve, reject) => {
    const k = connect(shared.config.socket as string, () => k.end(encodeFrame(FX.EXEC, file), () => resolve()));
    k.on('error', reject);
  });
  await onlyInitLeft(shared);
  fs.rmSync(config.socket as string, { force: true });
});

test('EXEC frame: no zombie exec-monitor and nothing left in the container after 30 execs', async () => {
  const monitors: number[] = [];
  for (let i = 0; i < 30; i++) {
    const r = await execViaMonitor(shared, i % 2 ? sh('sleep 0.1 & echo $!') : { args: ['true'] });
    assert.equal(r.exit.exitCode, 0);
    monitors.push(r.execMonitor);
  }
  for (const p of monitors) await gone(p, 'exec-monitor');
  await onlyInitLeft(shared);
});

test('EXEC frame: the monitor sits in the container\'s cgroups at oom_score_adj -1000; execs are born there', async (t) => {
  if (!fs.existsSync('/sys/fs/cgroup/pids')) return t.skip('no v1 pids hierarchy');
  const cg = `/sys/fs/cgroup/pids/tdock-shimtest-${process.pid}-${Date.now()}`;
  fs.mkdirSync(cg);
  cgroupDirs.push(cg);
  const procsFile = path.join(cg, 'cgroup.procs');
  const own = fs.readFileSync('/proc/self/oom_score_adj', 'utf8').trim();
  const c = await startContainer({ cgroupProcs: [procsFile] });
  try {
    const members = () => fs.readFileSync(procsFile, 'utf8').split('\n').filter(Boolean).map(Number);
    assert.ok(members().includes(c.monitor.pid!), `monitor ${c.monitor.pid} in ${members()}`);
    assert.ok(members().includes(c.initPid), 'init too');
    // Going below the inherited score takes CAP_SYS_RESOURCE; without it the monitor keeps its score.
    const capSysResource = (BigInt(`0x${/^CapEff:\s+(\w+)$/m.exec(statusOf(process.pid))![1]}`) >> 24n) & 1n;
    if (capSysResource) {
      assert.equal(fs.readFileSync(`/proc/${c.monitor.pid}/oom_score_adj`, 'utf8').trim(), '-1000');
    } else {
      t.diagnostic('no CAP_SYS_RESOURCE here: the monitor cannot go below its inherited oom_score_adj');
      assert.equal(fs.readFileSync(`/proc/${c.monitor.pid}/oom_score_adj`, 'utf8').trim(), own);
    }
    assert.equal(fs.readFileSync(`/proc/${c.initPid}/oom_score_adj`, 'utf8').trim(), own, 'init keeps the inherited score');
    let inCgroup: number[] = [];
    // cgroupProcs of an EXEC is ignored: nothing is written, the exec-monitor is already a member.
    const r = await execViaMonitor(c, { ...sh('grep pids /proc/self/cgroup; cat /proc/self/oom_score_adj'), cgroupProcs: ['/nonexistent/cgroup.procs'] }, {
      beforeStart: () => (inCgroup = members()),
    });
    assert.equal(r.exit.exitCode, 0, r.exit.error);
    assert.match(r.stdout, /:pids:\/\n/);
    assert.ok(r.stdout.endsWith(`\n${own}\n`), r.stdout);
    assert.ok(inCgroup.includes(r.execMonitor), 'the exec-monitor is in the container\'s cgroup');
    assert.ok(inCgroup.includes(Number(r.frames[0].payload.toString())), 'so is the exec\'d process');
  } finally {
    await stopContainer(c);
  }
});

// ---------------------------------------------------------------- ordering, flow control, log

// One connection to a monitor: send frames, wait for the first frame of a type.
function client(sock: string): Promise<{ write: (b: Buffer) => void; waitFor: (type: number, ms?: number) => Promise<Frame>; close: () => void }> {
  return new Promise((resolve, reject) => {
    const k = connect(sock);
    const decoder = new FrameDecoder();
    const frames: Frame[] = [];
    const waiters: (() => void)[] = [];
    k.on('data', (chunk: Buffer) => {
      frames.push(...decoder.push(chunk));
      for (const w of waiters.splice(0)) w();
    });
    k.on('close', () => { for (const w of waiters.splice(0)) w(); });
    k.on('error', reject);
    const waitFor = (type: number, ms = 10000) => new Promise<Frame>((res, rej) => {
      const t0 = Date.now();
      const check = () => {
        const f = frames.find((x) => x.type === type);
        if (f) return res(f);
        if (k.destroyed || Date.now() - t0 > ms) {
          return rej(new Error(`no frame ${type}; got ${JSON.stringify(frames.map((x) => [x.type, x.payload.toString().slice(0, 80)]))}`));
        }
        waiters.push(check);
        setTimeout(check, ms - (Date.now() - t0) + 1).unref();
      };
      check();
    });
    k.on('connect', () => resolve({ write: (b) => k.write(b), waitFor, close: () => k.destroy() }));
  });
}

test('EXEC frame right behind START (same write) waits for the container\'s root filesystem, 50 times', async () => {
  let passed = 0;
  const once = async (i: number) => {
    const b = await startBare();
    const k = await client(b.config.socket as string);
    try {
      const c = { dir: b.dir, initPid: b.initPid, startTime: startTimeOf(b.initPid), config: b.config } as Container;
      const config = execConfig(c, { ...sh('cat /tdock-image-marker; ls /'), tty: i % 2 === 1 });
      const file = path.join(b.dir, `exec-${execCount}.json`);
      fs.writeFileSync(file, JSON.stringify(config));
      k.write(Buffer.concat([encodeFrame(F.START), encodeFrame(FX.EXEC, file)]));
      const answer = await Promise.race([k.waitFor(FX.EXEC_OK), k.waitFor(FX.EXEC_ERROR)]);
      assert.equal(answer.type, FX.EXEC_OK, `iteration ${i}: ${answer.payload.toString()}`);
      const r = await attach(config.socket as string);
      const out = r.stdout.replace(/\r/g, '');
      assert.ok(out.startsWith('in the image\n'), `iteration ${i}: the exec saw another root: ${JSON.stringify(out)} ${r.exit.error ?? ''}`);
      assert.match(out, /\btdock-image-marker\b/);
      assert.equal(r.exit.exitCode, 0);
      passed++;
    } finally {
      k.write(encodeFrame(F.SIGNAL, '9'));
      await k.waitFor(F.EXIT).catch(() => { /* checked below */ });
      k.close();
      assert.equal(await b.exited, 0);
    }
  };
  for (let i = 0; i < 50; i += 5) await Promise.all([0, 1, 2, 3, 4].map((j) => once(i + j)));
  assert.equal(passed, 50);
});

test('EXEC frames queued before START: EXEC_ERROR `container is not running` when init dies first', async () => {
  const b = await startBare();
  const k = await client(b.config.socket as string);
  const c = { dir: b.dir, initPid: b.initPid, startTime: startTimeOf(b.initPid), config: b.config } as Container;
  const config = execConfig(c, { args: ['true'] });
  const file = path.join(b.dir, 'exec-never.json');
  fs.writeFileSync(file, JSON.stringify(config));
  k.write(encodeFrame(FX.EXEC, file));
  await sleep(100); // queued: no answer before the container's root filesystem exists
  k.write(encodeFrame(F.SIGNAL, '9'));
  const answer = await k.waitFor(FX.EXEC_ERROR);
  assert.equal(answer.payload.toString(), `${file}\0container is not running`);
  await k.waitFor(F.EXIT);
  k.close();
  assert.equal(await b.exited, 0);
  assert.ok(!fs.existsSync(config.socket as string), 'no exec-monitor was started');
});

test('`tdock-shim exec` into a container whose init has not set up its root (no START yet) is refused', async () => {
  const b = await startBare();
  const k = await client(b.config.socket as string);
  try {
    const c = { dir: b.dir, initPid: b.initPid, startTime: startTimeOf(b.initPid), config: b.config } as Container;
    assert.equal(await execFails(c, { args: ['true'] }), 'error: exec: the container\'s root filesystem is not set up yet');
  } finally {
    k.write(encodeFrame(F.SIGNAL, '9'));
    await k.waitFor(F.EXIT).catch(() => { /* checked below */ });
    k.close();
    assert.equal(await b.exited, 0);
  }
});

test('SIGNAL behind 1 MiB of STDIN the container never reads is delivered at once', async () => {
  const c = await startContainer({ openStdin: true });
  const k = await client(c.config.socket as string);
  const chunk = Buffer.alloc(65536, 'x').toString();
  const t0 = Date.now();
  k.write(Buffer.concat([...Array.from({ length: 15 }, () => encodeFrame(F.STDIN, chunk)), encodeFrame(F.STDIN, 'y'.repeat(65536)), encodeFrame(F.SIGNAL, '15')]));
  const s = await Promise.race([c.session, sleep(3000).then(() => undefined)]);
  k.close();
  if (!s) {
    process.kill(c.initPid, 'SIGKILL');
    await c.session.catch(() => undefined);
    assert.fail('SIGNAL 15 not delivered within 3 s');
  }
  assert.equal(s.exit.exitCode, 143);
  assert.ok(Date.now() - t0 < 3000);
  assert.equal(await c.monitorExited, 0);
});

test('an unknown frame with a large payload is skipped, the connection goes on', async () => {
  const c = await startContainer();
  const k = await client(c.config.socket as string);
  k.write(Buffer.concat([encodeFrame(99, 'z'.repeat(5000)), encodeFrame(F.SIGNAL, '15')]));
  const s = await Promise.race([c.session, sleep(3000).then(() => undefined)]);
  k.close();
  if (!s) {
    process.kill(c.initPid, 'SIGKILL');
    await c.session.catch(() => undefined);
    assert.fail('the SIGNAL after the unknown frame was not acted on');
  }
  assert.equal(s.exit.exitCode, 143);
});

test('RLIMIT_NOFILE: 1048576 (Docker\'s) or the shim\'s hard limit when lower, soft and hard, for init, the command and every exec', async () => {
  // Started with a soft limit below the hard one: whatever merely inherits it shows 1024.
  // (Raising a hard limit takes CAP_SYS_RESOURCE, which this machine's root lacks: the
  // 1048576 cap itself cannot be seen here.)
  const limits = (pid: number) => /^Max open files\s+(\S+)\s+(\S+)/m.exec(fs.readFileSync(`/proc/${pid}/limits`, 'utf8'))!.slice(1).join(' ');
  const c = await startContainer({}, ['prlimit', '--nofile=1024:4096']);
  try {
    assert.equal(limits(c.initPid), '4096 4096', 'init');
    const command = Number(fs.readFileSync(`/proc/${c.initPid}/task/${c.initPid}/children`, 'utf8').trim());
    assert.equal(limits(command), '4096 4096', 'the command');
    assert.equal(limits(c.monitor.pid!), '1024 4096', 'the monitor keeps its own');
    assert.equal((await execViaMonitor(c, sh('ulimit -n; ulimit -Hn'))).stdout, '4096\n4096\n', 'EXEC');
    assert.equal((await exec(c, sh('ulimit -n; ulimit -Hn'), { wrap: ['prlimit', '--nofile=1024:2048'] })).stdout, '2048\n2048\n', '`tdock-shim exec`');
  } finally {
    await stopContainer(c);
  }
});

test('log: a short write (RLIMIT_FSIZE) is cut back to whole records and logging stops (logError)', async () => {
  const limit = 4096;
  const b = await startBare({ args: ['sh', '-c', 'echo first; sleep 0.2; i=0; while [ $i -lt 200 ]; do echo line-$i-abcdefghijklmnopqrstuvwxyz; i=$((i+1)); done'] },
    ['prlimit', `--fsize=${limit}`]);
  const r = await attach(b.config.socket as string);
  assert.equal(await b.exited, 0);
  assert.equal(r.exit.exitCode, 0);
  assert.match(r.stdout, /line-199-/, 'clients still get everything');
  const log = fs.readFileSync(b.config.logPath as string);
  // `first` came alone and fits; the loop's output comes in larger reads and does not.
  assert.ok(log.length > 0 && log.length <= limit, `log size ${log.length}`);
  const { records, consumed } = parseRecords(log);
  assert.equal(consumed, log.length, 'the log parses record by record to its end');
  assert.ok(r.stdout.startsWith(Buffer.concat(records.map((x) => x.data)).toString()));
  assert.match((r.exit as { logError?: string }).logError ?? '', /^write the log: File too large$/);
  assert.deepEqual(JSON.parse(fs.readFileSync(b.config.exitPath as string, 'utf8')), r.exit);
});

test('log: rotation at logMaxSize keeps logMaxFiles files of whole records, each starting at a line', async () => {
  const b = await startBare({ args: ['busybox', 'seq', '1', '20000'], logMaxSize: 8192, logMaxFiles: 3 });
  const r = await attach(b.config.socket as string);
  assert.equal(await b.exited, 0);
  assert.equal(r.exit.exitCode, 0, r.stderr);
  assert.equal((r.exit as { logError?: string }).logError, undefined);
  const names = fs.readdirSync(b.dir).filter((f) => f.startsWith('container.log')).sort();
  assert.deepEqual(names, ['container.log', 'container.log.1', 'container.log.2']);
  let kept = '';
  // Newest first: each file's data goes before what is kept after it.
  for (const name of ['container.log', 'container.log.1', 'container.log.2']) {
    const log = fs.readFileSync(path.join(b.dir, name));
    assert.ok(log.length <= 8192, `${name}: ${log.length} bytes`);
    const { records, consumed } = parseRecords(log);
    assert.equal(consumed, log.length, `${name} holds whole records`);
    const data = Buffer.concat(records.map((x) => x.data)).toString();
    const at = r.stdout.length - kept.length - data.length;
    kept = data + kept;
    assert.ok(at === 0 || r.stdout[at - 1] === '\n', `${name} starts at a line`);
  }
  // The files kept are exactly the end of the output: nothing lost where they meet.
  assert.ok(r.stdout.endsWith(kept), 'the files hold the end of the output');
  assert.ok(kept.length > 2 * 4096, `${kept.length} bytes kept`);
});

test('log: a rotation that fails stops logging with the step in logError; clients still get everything', async () => {
  const b = await startBare({ args: ['busybox', 'seq', '1', '5000'], logMaxSize: 4096, logMaxFiles: 2 });
  fs.mkdirSync(path.join(b.dir, 'container.log.1'));
  const r = await attach(b.config.socket as string);
  assert.equal(await b.exited, 0);
  assert.match((r.exit as { logError?: string }).logError ?? '', /^rotate the log: unlink \/.*\/container\.log\.1: Is a directory$/);
  assert.ok(r.stdout.endsWith('5000\n'));
  const log = fs.readFileSync(b.config.logPath as string);
  assert.ok(log.length > 0 && log.length <= 4096);
  assert.equal(parseRecords(log).consumed, log.length);
});

// ---------------------------------------------------------------- whiteouts

// Runs the verb; stdout must stay empty whatever happens, the one error line is on stderr.
function whiteouts(dir: string, records: string[], args: string[] = []): { status: number | null; stderr: string } {
  const input = records.map((r) => `${r}\0`).join('');
  const r = spawnSync(SHIM, ['whiteouts', ...args, dir], { input, encoding: 'utf8' });
  assert.equal(r.stdout, '');
  return { status: r.status, stderr: r.stderr };
}

function xattr(p: string, name: string): string {
  return execFileSync('python3', ['-c', 'import os,sys; print(os.getxattr(sys.argv[1], sys.argv[2], follow_symlinks=False).decode())', p, name],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
}

function makeTree(root: string, files: Record<string, string>): void {
  for (const [rel, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    if (rel.endsWith('/')) fs.mkdirSync(path.join(root, rel), { recursive: true });
    else fs.writeFileSync(path.join(root, rel), content);
  }
}

test('whiteouts: char device 0:0 replaces a file and a whole directory; opaque xattr; ownership', () => {
  const layer = path.join(tempDir(), 'layer');
  makeTree(layer, { 'etc/gone': 'x', 'var/dir/a/b': 'y', 'var/dir/link': '', 'opq/keep': 'z', 'new/': '' });
  fs.rmSync(path.join(layer, 'var/dir/link'));
  fs.symlinkSync('/etc', path.join(layer, 'var/dir/link'));
  const r = whiteouts(layer, ['wetc/gone', 'w./var//dir', 'oopq', 'wdeep/er/missing', 'wnew/plain'], ['--uid', '100000', '--gid', '100001']);
  assert.deepEqual(r, { status: 0, stderr: '' });
  for (const w of ['etc/gone', 'var/dir', 'deep/er/missing', 'new/plain']) {
    const st = fs.lstatSync(path.join(layer, w));
    assert.ok(st.isCharacterDevice(), w);
    assert.equal(st.rdev, 0, w);
    assert.equal(st.uid, 100000, w);
    assert.equal(st.gid, 100001, w);
  }
  assert.equal(fs.lstatSync(path.join(layer, 'deep')).uid, 100000, 'created parents owned like the whiteouts');
  assert.equal(xattr(path.join(layer, 'opq'), 'trusted.overlay.opaque'), 'y');
  assert.equal(fs.readFileSync(path.join(layer, 'opq/keep'), 'utf8'), 'z', 'an opaque dir keeps its content');
  assert.ok(fs.existsSync('/etc/passwd'), 'the symlink was removed, not followed');
  // Rootless overlay reads user.overlay.opaque.
  fs.mkdirSync(path.join(layer, 'u'));
  assert.deepEqual(whiteouts(layer, ['ou'], ['--userxattr']), { status: 0, stderr: '' });
  assert.equal(xattr(path.join(layer, 'u'), 'user.overlay.opaque'), 'y');
  // Nothing to do is fine too.
  assert.deepEqual(whiteouts(layer, []), { status: 0, stderr: '' });
});

test('whiteouts: hostile paths are refused and nothing outside the layer changes', () => {
  const top = tempDir();
  const layer = path.join(top, 'layer');
  const outside = path.join(top, 'outside');
  makeTree(top, { 'outside/victim': 'safe', 'outside/dir/f': 'safe', 'layer/ok/': '' });
  fs.symlinkSync(outside, path.join(layer, 'link'));
  fs.symlinkSync('../outside/dir', path.join(layer, 'ok/rel'));
  for (const p of ['../outside/victim', 'ok/../../outside/victim', '/tmp/x', `${outside}/victim`, 'link/victim', 'ok/rel/f', 'ok/rel/new/x']) {
    const r = whiteouts(layer, [`w${p}`]);
    assert.deepEqual(r, { status: 1, stderr: `error: whiteout ${p}: escapes the layer\n` }, p);
  }
  for (const p of ['link', 'ok/rel', '../outside/dir']) {
    const r = whiteouts(layer, [`o${p}`]);
    assert.deepEqual(r, { status: 1, stderr: `error: whiteout ${p}: escapes the layer\n` }, p);
  }
  assert.equal(fs.readFileSync(path.join(outside, 'victim'), 'utf8'), 'safe');
  assert.equal(fs.readFileSync(path.join(outside, 'dir/f'), 'utf8'), 'safe');
  assert.deepEqual(fs.readdirSync(outside).sort(), ['dir', 'victim']);
  assert.deepEqual(fs.readdirSync(path.join(outside, 'dir')), ['f']);
  assert.throws(() => xattr(path.join(outside, 'dir'), 'trusted.overlay.opaque'));
  // Malformed input: one error line, exit 1.
  assert.match(whiteouts(layer, ['xfoo']).stderr, /^error: whiteouts: bad record/);
  assert.match(whiteouts(layer, ['w']).stderr, /^error: whiteouts: bad record/);
  assert.deepEqual(whiteouts(layer, ['o.']), { status: 0, stderr: '' }, 'the layer root may be opaque');
  assert.match(whiteouts(layer, [`w${'a/'.repeat(3000)}`]).stderr, /^error: whiteouts: record longer than PATH_MAX\n$/);
  assert.match(whiteouts(layer, [`w${'a'.repeat(9000)}`]).stderr, /^error: whiteouts: record longer than PATH_MAX\n$/);
  const noNul = spawnSync(SHIM, ['whiteouts', layer], { input: 'wok/x', encoding: 'utf8' });
  assert.equal(noNul.status, 1);
  assert.match(noNul.stderr, /^error: whiteouts: the last record has no NUL\n$/);
  assert.equal(fs.readFileSync(path.join(outside, 'victim'), 'utf8'), 'safe');
});

test('whiteouts: an overlay with the processed layer on top hides the file and the old directory content', () => {
  const top = tempDir();
  const l1 = path.join(top, 'l1');
  const l2 = path.join(top, 'l2');
  const mnt = path.join(top, 'mnt');
  makeTree(top, { 'l1/f': 'old', 'l1/keep': 'k', 'l1/d/old': 'o', 'l1/wd/x': 'x', 'l2/d/new': 'n', 'mnt/': '' });
  // What an image's tar says with l2/.wh.f, l2/.wh.wd and l2/d/.wh..wh..opq.
  assert.deepEqual(whiteouts(l2, ['wf', 'wwd', 'od']), { status: 0, stderr: '' });
  // A private mount namespace: the overlay never shows on the host and vanishes with sh.
  const out = execFileSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c',
    `mount -t overlay overlay -o lowerdir=${l2}:${l1} ${mnt} && ls -A ${mnt} && echo -- && ls -A ${mnt}/d`], { encoding: 'utf8' });
  assert.equal(out, 'd\nkeep\n--\nnew\n');
  assert.ok(!fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(mnt), 'nothing leaked to the host');
});

test('exec -t: RESIZE frames sent around a quick command\'s exit never cost its output or EXIT (50 runs)', async () => {
  // The client keeps sending RESIZE (every ms, on its own connection, as the daemon
  // does) until EXIT, so some frames reach the exec-monitor after its last read.
  // It used to close() the connection then: the client's next write failed (EPIPE)
  // and node dropped the socket with STDOUT and EXIT unread (all output lost).
  const lost: string[] = [];
  for (let i = 0; i < 50; i++) {
    let timer: NodeJS.Timeout | undefined;
    let n = 0;
    const r = await exec(shared, { ...sh('echo out-$$; exit 4'), tty: true, ttyRows: 30, ttyCols: 100 }, {
      during: (send) => {
        timer = setInterval(() => send(F.RESIZE, `${40 + (n++ % 2)} 100`), 1);
      },
    }).finally(() => clearInterval(timer));
    assert.equal(r.exit.exitCode, 4);
    if (!/^out-\d+\r?\n$/.test(r.stdout)) lost.push(`${JSON.stringify(r.stdout)} after ${n} resizes`);
  }
  assert.deepEqual(lost, []);
});

test('exec -i: STDIN frames sent around a quick command\'s exit never cost its output or EXIT (50 runs)', async () => {
  // The same race without a tty: a client still streaming stdin when the command ends.
  const lost: string[] = [];
  for (let i = 0; i < 50; i++) {
    let timer: NodeJS.Timeout | undefined;
    const r = await exec(shared, { ...sh('echo out; echo err >&2; exit 3'), openStdin: true }, {
      during: (send) => {
        timer = setInterval(() => send(F.STDIN, 'more input\n'), 1);
      },
    }).finally(() => clearInterval(timer));
    assert.equal(r.exit.exitCode, 3);
    if (r.stdout !== 'out\n' || r.stderr !== 'err\n') lost.push(JSON.stringify([r.stdout, r.stderr]));
  }
  assert.deepEqual(lost, []);
});
