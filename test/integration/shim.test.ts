// Integration tests of tdock-shim's monitor and container init (shim/PROTOCOL.md).
// Needs root, overlayfs and user namespaces. Every test uses its own temp dir and
// cleans up (kill by pid, rm -rf, rmdir of its own cgroup) even when it fails.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildProbe, assertConfined, assertUnconfined } from '../helpers/seccomp-probe.ts';
import { FrameDecoder } from '../../daemon/runtime/frames.ts';
import { F, shimSession } from '../helpers/shim-session.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const SHIM = path.join(ROOT, 'shim/tdock-shim');
const HOST_ID = 100000;
const MAP = [{ containerId: 0, hostId: HOST_ID, size: 65536 }];


// Docker's default set (DESIGN.md "Security model").
const DEFAULT_CAPS = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];
const CAP_NUM: Record<string, number> = {
  CAP_CHOWN: 0, CAP_DAC_OVERRIDE: 1, CAP_FOWNER: 3, CAP_FSETID: 4, CAP_KILL: 5, CAP_SETGID: 6, CAP_SETUID: 7,
  CAP_SETPCAP: 8, CAP_NET_BIND_SERVICE: 10, CAP_NET_RAW: 13, CAP_SYS_CHROOT: 18, CAP_MKNOD: 27,
  CAP_AUDIT_WRITE: 29, CAP_SETFCAP: 31,
};
const MASKED = ['/proc/kcore', '/proc/keys', '/proc/timer_list', '/proc/sched_debug', '/proc/scsi', '/sys/firmware'];
const READONLY = ['/proc/sys', '/proc/sysrq-trigger', '/proc/irq', '/proc/bus', '/proc/fs'];
const APPLETS = ['sh', 'ls', 'cat', 'id', 'sleep', 'true', 'false', 'tty', 'ps', 'hostname', 'echo', 'touch', 'kill',
  'stty', 'grep', 'readlink', 'unshare', 'stat', 'wc', 'head', 'test'];

let base: string; // holds the shared busybox lower layer
let lower: string;

function mkTemp(prefix: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  // The container's root (host uid 100000) must be able to walk down to its rootfs.
  fs.chmodSync(d, 0o711);
  return d;
}

before(() => {
  execFileSync('make', ['-s', '-C', path.join(ROOT, 'shim')], { stdio: 'inherit' });
  base = mkTemp('tdock-shimtest-');
  lower = path.join(base, 'lower');
  for (const d of ['bin', 'proc', 'sys', 'dev', 'tmp', 'etc', 'root']) fs.mkdirSync(path.join(lower, d), { recursive: true });
  fs.chmodSync(path.join(lower, 'tmp'), 0o1777);
  fs.copyFileSync('/usr/bin/busybox', path.join(lower, 'bin/busybox'));
  fs.chmodSync(path.join(lower, 'bin/busybox'), 0o755);
  for (const a of APPLETS) fs.symlinkSync('busybox', path.join(lower, 'bin', a));
  fs.copyFileSync(buildProbe(base), path.join(lower, 'bin/seccomp-probe'));
  fs.writeFileSync(path.join(lower, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/sh\n');
  execFileSync('chown', ['-R', '-h', `${HOST_ID}:${HOST_ID}`, lower]);
});

after(() => {
  if (base) fs.rmSync(base, { recursive: true, force: true });
});

// ---------------------------------------------------------------- helpers

interface Frame { type: number; payload: Buffer }

interface Bundle {
  dir: string;
  rootfs: string;
  upper: string;
  config: Record<string, unknown>;
  cleanup: (() => void)[];
}

function makeBundle(over: Record<string, unknown> = {}): Bundle {
  const dir = mkTemp('tdock-shimtest-');
  const rootfs = path.join(dir, 'rootfs');
  const upper = path.join(dir, 'upper');
  const work = path.join(dir, 'work');
  for (const d of [rootfs, upper, work]) fs.mkdirSync(d);
  // The upper dir's root becomes the container's "/": it must belong to the container's root.
  fs.chownSync(upper, HOST_ID, HOST_ID);
  const config: Record<string, unknown> = {
    id: 'a'.repeat(64),
    rootfs,
    overlay: { lower: [lower], upper, work },
    readonlyRootfs: false,
    hostname: 'shimtest',
    args: ['true'],
    env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/root'],
    cwd: '/',
    user: { uid: 0, gid: 0, additionalGids: [] },
    tty: false,
    openStdin: false,
    uidMap: MAP,
    gidMap: MAP,
    rootless: false,
    network: { mode: 'none' },
    cgroupProcs: [],
    capabilities: DEFAULT_CAPS,
    noNewPrivileges: true,
    maskedPaths: MASKED,
    readonlyPaths: READONLY,
    mounts: [],
    socket: path.join(dir, 'monitor.sock'),
    logPath: path.join(dir, 'container.log'),
    exitPath: path.join(dir, 'exit.json'),
    pidPath: path.join(dir, 'init.pid'),
    ...over,
  };
  const b: Bundle = { dir, rootfs, upper, config, cleanup: [] };
  b.cleanup.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return b;
}

function writeConfig(b: Bundle, text?: string): void {
  fs.writeFileSync(path.join(b.dir, 'config.json'), text ?? JSON.stringify(b.config, null, 2));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function destroy(b: Bundle, procs: ChildProcess[]): void {
  for (const p of procs) if (p.pid && p.exitCode === null && p.signalCode === null) {
    try { process.kill(p.pid, 'SIGKILL'); } catch { /* already gone */ }
  }
  for (const f of b.cleanup.reverse()) {
    try { f(); } catch { /* keep cleaning */ }
  }
}

interface Started {
  monitor: ChildProcess;
  line: string;
  pid: number;
  exited: Promise<number | null>;
}

function startMonitor(b: Bundle): Promise<Started> {
  return new Promise((resolve, reject) => {
    const monitor = spawn(SHIM, ['monitor', b.dir], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((r) => monitor.on('exit', (code) => r(code)));
    let out = '';
    monitor.stdout!.setEncoding('utf8');
    monitor.stdout!.on('data', (d: string) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl < 0) return;
      const line = out.slice(0, nl);
      const m = /^ok (\d+)$/.exec(line);
      resolve({ monitor, line, pid: m ? Number(m[1]) : 0, exited });
    });
    monitor.stderr!.resume();
    monitor.on('error', reject);
    monitor.on('exit', () => resolve({ monitor, line: out.trim(), pid: 0, exited }));
  });
}

interface Result {
  stdout: string;
  stderr: string;
  frames: Frame[];
  exit: { exitCode: number; signal: number; finishedAt: number; error?: string };
  errors: string[];
  pid: number;
  ms: number;
}

interface RunOpts {
  stdin?: string;
  closeStdin?: boolean;
  // Called once the container runs (after START): send more frames.
  during?: (send: (type: number, payload?: string) => void, pid: number) => void;
  beforeStart?: (pid: number, b: Bundle) => void;
  timeoutMs?: number;
}

async function run(over: Record<string, unknown>, opts: RunOpts = {}, keep?: (b: Bundle) => void): Promise<Result> {
  const b = makeBundle(over);
  const procs: ChildProcess[] = [];
  try {
    writeConfig(b);
    keep?.(b);
    const t0 = process.hrtime.bigint();
    const s = await startMonitor(b);
    procs.push(s.monitor);
    assert.match(s.line, /^ok \d+$/, `monitor said: ${s.line}`);
    opts.beforeStart?.(s.pid, b);
    const r = await talk(b.config.socket as string, s.pid, opts);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    assert.equal(await s.exited, 0, 'monitor exit code');
    return { ...r, pid: s.pid, ms };
  } finally {
    destroy(b, procs);
  }
}

function talk(sock: string, pid: number, opts: RunOpts): Promise<Omit<Result, 'pid' | 'ms'>> {
  const { during, ...rest } = opts;
  return shimSession(sock, { ...rest, ...(during ? { during: (send) => during(send, pid) } : {}) });
}

const sh = (script: string) => ({ args: ['sh', '-c', script] });

function hostMounts(): string {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8');
}

// ---------------------------------------------------------------- tests

test('exit codes: 0, 3, and 128+N when killed by a signal', async () => {
  const a = await run({ args: ['true'] });
  assert.equal(a.exit.exitCode, 0);
  assert.equal(a.exit.error, undefined);
  const b = await run(sh('exit 3'));
  assert.equal(b.exit.exitCode, 3);
  const c = await run(sh('kill -9 $$'));
  assert.equal(c.exit.exitCode, 137);
  assert.equal(c.exit.signal, 0, 'init itself was not killed');
});

test('PID frame first, stdout and stderr kept apart', async () => {
  const r = await run(sh('echo out; echo err >&2; echo out2'));
  assert.equal(r.frames[0].type, F.PID);
  assert.equal(Number(r.frames[0].payload.toString()), r.pid);
  assert.equal(r.stdout, 'out\nout2\n');
  assert.equal(r.stderr, 'err\n');
});

test('stdin via frames; CLOSE_STDIN gives EOF', async () => {
  const r = await run({ args: ['cat'], openStdin: true }, { stdin: 'hello\nworld\n', closeStdin: true });
  assert.equal(r.stdout, 'hello\nworld\n');
  assert.equal(r.exit.exitCode, 0);
  // Without openStdin, stdin is /dev/null: cat ends at once.
  const n = await run({ args: ['cat'] });
  assert.equal(n.stdout, '');
  assert.equal(n.exit.exitCode, 0);
});

test('tty: /dev/pts/0, RESIZE reaches stty', async () => {
  const r = await run({ ...sh('tty; stty size'), tty: true }, {
    during: (send) => send(F.RESIZE, '40 100'),
  });
  assert.equal(r.stdout.replace(/\r/g, ''), '/dev/pts/0\n40 100\n');
  assert.equal(r.stderr, '');
});

test('tty with stdin: input reaches the command through the pty', async () => {
  const r = await run({ ...sh('read x; echo "got $x"'), tty: true, openStdin: true }, { stdin: 'abc\r' });
  assert.match(r.stdout.replace(/\r/g, ''), /got abc\n/);
});

test('large output and large stdin arrive whole', async () => {
  const out = await run(sh('head -c 3000000 /dev/zero; echo end >&2'));
  assert.equal(out.stdout.length, 3000000);
  assert.equal(out.stderr, 'end\n');
  const big = 'x'.repeat(1 << 20);
  const r = await run({ args: ['wc', '-c'], openStdin: true }, { stdin: big, closeStdin: true });
  assert.equal(r.stdout.trim(), String(1 << 20));
});

test('PID 1 is the shim init; the command is PID 2', async () => {
  const r = await run(sh('echo $$; cat /proc/1/cmdline | tr "\\0" " "; echo; grep CapEff /proc/1/status; readlink /proc/1/exe || echo no-exe'));
  const [self, cmdline, capEff, exe] = r.stdout.split('\n');
  assert.equal(self, '2');
  assert.match(cmdline, /^tdock-shim init/);
  assert.doesNotMatch(cmdline, /tdock-shimtest/, 'the bundle path does not leak');
  // Init keeps CAP_KILL only, and is not dumpable: /proc/1/exe (the host binary) stays closed.
  assert.match(capEff, /CapEff:\s+0000000000000020$/);
  assert.equal(exe, 'no-exe', `stderr: ${r.stderr}`);
});

test('root inside is uid 100000 outside; files in the upper dir are owned by it', async () => {
  let upper = '';
  const r = await run(sh('id -u; id -g; touch /tmp/created; echo x > /root/f'), {}, (b) => (upper = b.upper));
  assert.equal(r.stdout, '0\n0\n');
  // The bundle is gone after run(); look at the exit status only, then repeat with a kept dir.
  assert.equal(r.exit.exitCode, 0);
  assert.ok(upper);
  const b = makeBundle(sh('touch /tmp/created'));
  const procs: ChildProcess[] = [];
  try {
    writeConfig(b);
    const s = await startMonitor(b);
    procs.push(s.monitor);
    await talk(b.config.socket as string, s.pid, {});
    const st = fs.statSync(path.join(b.upper, 'tmp/created'));
    assert.equal(st.uid, HOST_ID);
    assert.equal(st.gid, HOST_ID);
  } finally {
    destroy(b, procs);
  }
});

test('every namespace differs from the host', async () => {
  const kinds = ['user', 'mnt', 'pid', 'uts', 'ipc', 'net', 'cgroup'];
  const r = await run(sh(kinds.map((k) => `readlink /proc/self/ns/${k}`).join('; ')));
  const inside = r.stdout.trim().split('\n');
  assert.equal(inside.length, kinds.length);
  kinds.forEach((k, i) => assert.notEqual(inside[i], fs.readlinkSync(`/proc/self/ns/${k}`), k));
});

test('hostname, loopback up, own network namespace', async () => {
  const r = await run({ ...sh('hostname; cat /sys/class/net/lo/flags; ls /sys/class/net'), hostname: 'box1' });
  const [h, flags, ifs] = r.stdout.trim().split('\n');
  assert.equal(h, 'box1');
  assert.equal(Number(flags) & 1, 1, 'lo is up');
  assert.equal(ifs, 'lo');
});

test('network host: host interfaces, /sys read-only', async () => {
  const r = await run({ ...sh('ls /sys/class/net; touch /sys/x 2>&1; grep " /sys " /proc/self/mounts'), network: { mode: 'host' } });
  const hostIfs = fs.readdirSync('/sys/class/net');
  for (const i of hostIfs) assert.match(r.stdout, new RegExp(`^${i}$`, 'm'));
  assert.match(r.stdout, /Read-only file system/);
  assert.match(r.stdout, / \/sys sysfs ro,/);
});

test('orphans are reaped: no zombies', async () => {
  const r = await run(sh(`(sleep 0.1 &); sh -c 'sleep 0.1 & exec sleep 0.3'; sleep 0.4; cat /proc/[0-9]*/stat`));
  assert.equal(r.exit.exitCode, 0);
  const states = r.stdout.trim().split('\n').map((l) => l.replace(/^.*\) /, '')[0]);
  assert.ok(states.length >= 2);
  assert.ok(!states.includes('Z'), `zombies: ${r.stdout}`);
});

test('SIGNAL 15 is forwarded: sleep 1000 ends quickly with 143', async () => {
  const t0 = Date.now();
  const r = await run({ args: ['sleep', '1000'] }, { during: (send) => setTimeout(() => send(F.SIGNAL, '15'), 100) });
  assert.equal(r.exit.exitCode, 143);
  assert.equal(r.exit.signal, 0);
  assert.ok(Date.now() - t0 < 3000);
});

test('SIGNAL 9 kills init: 137 and signal 9', async () => {
  const r = await run({ args: ['sleep', '1000'] }, { during: (send) => setTimeout(() => send(F.SIGNAL, '9'), 100) });
  assert.equal(r.exit.exitCode, 137);
  assert.equal(r.exit.signal, 9);
});

test('capabilities are the configured set; no_new_privs', async () => {
  const r = await run(sh('grep -E "^(Cap|NoNewPrivs)" /proc/self/status'));
  const st = Object.fromEntries(r.stdout.trim().split('\n').map((l) => l.split(/:\s+/)));
  let mask = 0n;
  for (const c of DEFAULT_CAPS) mask |= 1n << BigInt(CAP_NUM[c]);
  const hex = mask.toString(16).padStart(16, '0');
  assert.equal(st.CapPrm, hex);
  assert.equal(st.CapEff, hex);
  assert.equal(st.CapBnd, hex);
  assert.equal(st.CapInh, '0000000000000000');
  assert.equal(st.CapAmb, '0000000000000000');
  assert.equal(st.NoNewPrivs, '1');
  // A non-root user keeps nothing (like Docker).
  const u = await run({ ...sh('grep CapEff /proc/self/status; id -u'), user: { uid: 1000, gid: 1000, additionalGids: [10] } });
  assert.match(u.stdout, /CapEff:\s+0000000000000000\n1000\n/);
  // And an empty list drops everything, bounding set included.
  const n = await run({ ...sh('grep CapBnd /proc/self/status'), capabilities: [] });
  assert.match(n.stdout, /CapBnd:\s+0000000000000000/);
});

test('nested user namespaces are refused (user.max_user_namespaces=0)', async () => {
  const r = await run(sh('unshare -U true; echo rc=$?'));
  assert.match(r.stdout, /rc=[1-9]/);
});

test('seccomp: the default profile blocks what it lists, in the command but not in init', async () => {
  const r = await run({ args: ['seccomp-probe'] });
  assert.equal(r.exit.exitCode, 0, r.stderr);
  assertConfined(r.stdout);
  const st = await run(sh('grep -E "^Seccomp(_filters)?:" /proc/1/status /proc/self/status'));
  assert.equal(st.stdout, '/proc/1/status:Seccomp:\t0\n/proc/1/status:Seccomp_filters:\t0\n' +
    '/proc/self/status:Seccomp:\t2\n/proc/self/status:Seccomp_filters:\t1\n');
  // "default" said explicitly is the same; so is a non-root user, and a command without no_new_privs.
  assertConfined((await run({ args: ['seccomp-probe'], seccomp: 'default', user: { uid: 1000, gid: 1000, additionalGids: [] } })).stdout);
  const nnp = await run({ args: ['seccomp-probe'], noNewPrivileges: false });
  assert.equal(nnp.exit.exitCode, 0, nnp.stderr);
  assertConfined(nnp.stdout);
});

test('seccomp: "unconfined" installs no filter; a bad value is a config error', async () => {
  const r = await run({ args: ['seccomp-probe'], seccomp: 'unconfined' });
  assertUnconfined(r.stdout);
  const st = await run({ ...sh('grep "^Seccomp:" /proc/self/status'), seccomp: 'unconfined' });
  assert.equal(st.stdout, 'Seccomp:\t0\n');
  const b = makeBundle({ seccomp: 'strict' });
  try {
    writeConfig(b);
    const s = await startMonitor(b);
    assert.equal(s.line, 'error: config: seccomp: expected "default" or "unconfined"');
    assert.equal(await s.exited, 1);
  } finally {
    destroy(b, []);
  }
});

test('masked paths are empty; missing ones are skipped', async () => {
  const r = await run(sh('wc -c < /proc/keys; ls /sys/firmware | wc -l; echo ok'));
  assert.equal(r.stdout, '0\n0\nok\n');
  assert.equal(r.exit.exitCode, 0, 'missing /proc/kcore did not fail the setup');
});

test('/proc/sys and the other read-only paths are read-only', async () => {
  const r = await run(sh('echo x > /proc/sys/kernel/domainname; grep -E " /proc/(sys|irq|bus|fs) " /proc/self/mounts'));
  assert.match(r.stderr, /Read-only file system/);
  for (const line of r.stdout.trim().split('\n')) assert.match(line, / ro,/);
});

test('no descriptor beyond stdio reaches the container', async () => {
  const r = await run(sh('ls -l /proc/self/fd'));
  const fds = [...r.stdout.matchAll(/ (\d+) -> (.*)$/gm)].map((m) => [Number(m[1]), m[2]] as const);
  for (const [fd, target] of fds) {
    if (fd <= 2) continue;
    // ls itself has the directory it is listing open.
    assert.equal(fd, 3);
    assert.match(target, /^\/proc\/\d+\/fd$/);
  }
  assert.ok(fds.some(([fd]) => fd === 0));
});

test('cwd is honoured; a missing one is created for the user (Docker\'s -w); a file in the way fails', async () => {
  const r = await run({ ...sh('pwd'), cwd: '/tmp' });
  assert.equal(r.stdout, '/tmp\n');
  const made = await run({ ...sh('pwd; stat -c %u:%g /nonexistent /nonexistent/a'), cwd: '/nonexistent/a', user: { uid: 1000, gid: 1000 } });
  assert.equal(made.stdout, '/nonexistent/a\n1000:1000\n1000:1000\n');
  const bad = await run({ args: ['true'], cwd: '/etc/passwd/x' });
  assert.equal(bad.exit.exitCode, 126);
  assert.match(bad.exit.error ?? '', /chdir \/etc\/passwd\/x: Not a directory/);
});

test('a missing command exits 127 with an error message', async () => {
  const r = await run({ args: ['no-such-command'] });
  assert.equal(r.exit.exitCode, 127);
  assert.equal(r.errors.length, 1);
  assert.match(r.errors[0], /no-such-command.*not found/);
  assert.equal(r.exit.error, r.errors[0]);
});

test('read-only rootfs and a read-only bind mount', async () => {
  let src = '';
  const r = await run({ ...sh('cat /etc/extra; echo y > /etc/extra; touch /x; echo rc=$?'), readonlyRootfs: true }, {}, (b) => {
    src = path.join(b.dir, 'extra');
    fs.writeFileSync(src, 'from host\n', { mode: 0o644 });
    b.config.mounts = [{ source: src, destination: '/etc/extra', options: ['bind', 'ro'] }];
    writeConfig(b);
  });
  assert.equal(r.stdout, 'from host\nrc=1\n');
  assert.match(r.stderr, /Read-only file system/);
});

test('cgroups: placed in its own cgroup, which is the root of its cgroup namespace', async (t) => {
  const cg = `/sys/fs/cgroup/pids/tdock-shimtest-${process.pid}-${Date.now()}`;
  if (!fs.existsSync('/sys/fs/cgroup/pids')) return t.skip('no v1 pids hierarchy');
  fs.mkdirSync(cg);
  try {
    fs.writeFileSync(path.join(cg, 'pids.max'), '50');
    let seenPid = 0;
    const r = await run({ ...sh('grep pids /proc/self/cgroup'), cgroupProcs: [path.join(cg, 'cgroup.procs')] }, {
      beforeStart: (pid) => {
        seenPid = pid;
        assert.match(fs.readFileSync(path.join(cg, 'cgroup.procs'), 'utf8'), new RegExp(`^${pid}$`, 'm'));
      },
    });
    assert.ok(seenPid > 0);
    assert.match(r.stdout, /:pids:\/$/m);
  } finally {
    fs.rmdirSync(cg);
  }
});

test('log file records and exit file', async () => {
  let log = Buffer.alloc(0);
  let exitFile = '';
  let pidFile = '';
  const t0 = BigInt(Date.now()) * 1000000n;
  const b = makeBundle(sh('echo one; echo two >&2; echo three'));
  const procs: ChildProcess[] = [];
  try {
    writeConfig(b);
    const s = await startMonitor(b);
    procs.push(s.monitor);
    pidFile = fs.readFileSync(b.config.pidPath as string, 'utf8');
    assert.equal(Number(pidFile), s.pid);
    const r = await talk(b.config.socket as string, s.pid, {});
    assert.equal(await s.exited, 0);
    log = fs.readFileSync(b.config.logPath as string);
    exitFile = fs.readFileSync(b.config.exitPath as string, 'utf8');
    assert.deepEqual(JSON.parse(exitFile), r.exit);
    assert.ok(!fs.existsSync(b.config.socket as string), 'socket removed');
  } finally {
    destroy(b, procs);
  }
  const out: Record<number, string> = { 1: '', 2: '' };
  let off = 0;
  while (off < log.length) {
    const stream = log[off];
    assert.ok(stream === 1 || stream === 2);
    assert.equal(log[off + 1], 1, 'flags: a trailer follows');
    assert.equal(log.readUIntLE(off + 2, 2), 0);
    const len = log.readUInt32LE(off + 4);
    const ns = log.readBigUInt64LE(off + 8);
    assert.ok(ns >= t0 - 1000000000n && ns <= BigInt(Date.now()) * 1000000n + 1000000000n, 'timestamp');
    out[stream] += log.subarray(off + 16, off + 16 + len).toString();
    assert.equal(log.readUInt32LE(off + 16 + len), len, 'the trailer repeats the length');
    off += 16 + len + 4;
  }
  assert.equal(off, log.length);
  assert.equal(out[1], 'one\nthree\n');
  assert.equal(out[2], 'two\n');
  const e = JSON.parse(exitFile);
  assert.equal(e.exitCode, 0);
  assert.equal(e.signal, 0);
  assert.ok(BigInt(e.finishedAt) >= t0);
});

test('netnsPath: bound while running, gone after', async () => {
  let nsPath = '';
  const r = await run(sh('readlink /proc/self/ns/net'), {
    beforeStart: (pid, b) => {
      nsPath = b.config.netnsPath as string;
      assert.ok(hostMounts().includes(nsPath), 'bound on the host');
      assert.equal(fs.statSync(nsPath).ino, fs.statSync(`/proc/${pid}/ns/net`).ino);
    },
  }, (b) => {
    b.config.netnsPath = path.join(b.dir, 'netns');
    writeConfig(b);
  });
  assert.ok(nsPath);
  assert.match(r.stdout, /^net:\[\d+\]\n$/);
  assert.ok(!hostMounts().includes(nsPath), 'unmounted after exit');
});

test('a second client gets PID first, and both get the output and EXIT', async () => {
  const b = makeBundle(sh('sleep 0.3; echo late'));
  const procs: ChildProcess[] = [];
  try {
    writeConfig(b);
    const s = await startMonitor(b);
    procs.push(s.monitor);
    const first = talk(b.config.socket as string, s.pid, {});
    await new Promise((r) => setTimeout(r, 100));
    const second = await new Promise<Frame[]>((resolve) => {
      const c = connect(b.config.socket as string);
      const reader = new FrameDecoder();
      const frames: Frame[] = [];
      c.on('data', (d: Buffer) => frames.push(...reader.push(d)));
      c.on('close', () => resolve(frames));
      c.on('error', () => resolve(frames));
    });
    const a = await first;
    assert.equal(a.stdout, 'late\n');
    assert.equal(second[0].type, F.PID);
    assert.ok(second.some((f) => f.type === F.STDOUT && f.payload.toString() === 'late\n'));
    assert.equal(second.at(-1)!.type, F.EXIT);
    assert.equal(await s.exited, 0);
  } finally {
    destroy(b, procs);
  }
});

test('bad config: error line, exit 1, nothing left behind', async () => {
  for (const [text, want] of [
    ['{"rootfs": "/x",', /^error: config: .*line \d+ column \d+: /],
    [JSON.stringify({ rootfs: '/x' }), /^error: config: socket: missing$/],
    ['ARGS', /^error: config: args: needs a command$/],
    [null, /^error: config: capabilities: unknown capability CAP_NOPE$/],
    ['NOROOT', /^error: config: gidMap: no range for id 0 \(the container's root\)$/],
    ['LOGFILES', /^error: config: logMaxFiles: expected an integer from 1 to 1000$/],
  ] as const) {
    const b = makeBundle({ capabilities: ['CAP_NOPE'] });
    const procs: ChildProcess[] = [];
    try {
      if (text === 'ARGS') b.config.args = [];
      if (text === 'NOROOT') {
        b.config.capabilities = [];
        b.config.gidMap = [{ containerId: 1, hostId: HOST_ID, size: 65535 }];
      }
      if (text === 'LOGFILES') Object.assign(b.config, { capabilities: [], logMaxSize: 4096, logMaxFiles: 0 });
      writeConfig(b, text === 'ARGS' || text === 'NOROOT' || text === 'LOGFILES' ? undefined : (text ?? undefined));
      const s = await startMonitor(b);
      procs.push(s.monitor);
      assert.match(s.line, want);
      assert.equal(await s.exited, 1);
      assert.ok(!fs.existsSync(b.config.socket as string));
      assert.ok(!hostMounts().includes(b.dir));
    } finally {
      destroy(b, procs);
    }
  }
});

test('failure after the clone: error line, init killed, netns and socket removed', async () => {
  const b = makeBundle({});
  const procs: ChildProcess[] = [];
  try {
    b.config.netnsPath = path.join(b.dir, 'netns');
    b.config.pidPath = path.join(b.dir, 'no-such-dir', 'init.pid');
    writeConfig(b);
    const before = new Set(fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)));
    const s = await startMonitor(b);
    procs.push(s.monitor);
    assert.match(s.line, /^error: open .*no-such-dir\/init\.pid\.tmp: No such file or directory$/);
    assert.equal(await s.exited, 1);
    assert.ok(!fs.existsSync(b.config.socket as string), 'socket');
    assert.ok(!fs.existsSync(b.config.netnsPath as string), 'netns file');
    assert.ok(!hostMounts().includes(b.dir), 'no mount');
    assert.ok(!fs.existsSync(b.config.logPath as string), 'log file');
    // No new process of ours survives: the container's init was killed and reaped.
    for (const p of fs.readdirSync('/proc').filter((x) => /^\d+$/.test(x) && !before.has(x))) {
      let cmd = '';
      try { cmd = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8'); } catch { continue; }
      assert.ok(!cmd.includes(b.dir) && !cmd.startsWith('tdock-shim\0init'), `left over: ${p} ${cmd}`);
    }
  } finally {
    destroy(b, procs);
  }
});

test('setup failure after START: ERROR frame and exit 125', async () => {
  const r = await run({ args: ['true'], mounts: [{ source: '/nonexistent-src', destination: '/mnt', options: ['bind'] }] });
  assert.equal(r.exit.exitCode, 125);
  assert.match(r.errors[0], /^bind \/mnt: stat source \/nonexistent-src: No such file or directory$/);
});

test('the shim binary is not writable', () => {
  assert.equal(fs.statSync(SHIM).mode & 0o777, 0o555);
});

test('timing (spawn to EXIT for `true`) and monitor RSS', async (t) => {
  const times: number[] = [];
  for (let i = 0; i < 20; i++) times.push((await run({ args: ['true'] })).ms);
  times.sort((a, b) => a - b);
  const median = times[10];
  let rss = 0;
  await run({ args: ['sleep', '0.2'] }, {
    during: () => {
      // Read the monitor's RSS while the container runs.
    },
    beforeStart: (pid) => {
      const ppid = Number(/^PPid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
      rss = Number(/^VmRSS:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${ppid}/status`, 'utf8'))![1]);
    },
  });
  t.diagnostic(`spawn -> EXIT for true: median ${median.toFixed(2)} ms (min ${times[0].toFixed(2)}, max ${times[19].toFixed(2)}); monitor RSS ${rss} kB`);
  assert.ok(rss > 0 && rss < 1024, `monitor RSS ${rss} kB`);
  assert.ok(alive(process.pid));
});
