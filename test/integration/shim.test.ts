// Integration tests of tdock-shim's monitor and container init (shim/PROTOCOL.md).
// Needs root, overlayfs and user namespaces. Every test uses its own temp dir and
// cleans up (kill by pid, rm -rf) even when it fails. The escape checks (capabilities,
// seccomp, masked and read-only paths, descriptors, cwd, cgroups) are in breakout/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FrameDecoder } from '../../daemon/runtime/frames.ts';
import { F } from '../helpers/shim-session.ts';
import { HOST_ID, destroy, hostMounts, sh, shimHarness, startMonitor, talk, writeConfig } from '../helpers/shim-harness.ts';

const { makeBundle, run } = shimHarness();

interface Frame { type: number; payload: Buffer }

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

test('exit file that cannot be written: EXIT still goes out and says why', async () => {
  const exitPath = path.join('/tmp', `tdock-shimtest-missing-${process.pid}`, 'exit.json');
  const r = await run({ ...sh('exit 4'), exitPath });
  assert.equal(r.exit.exitCode, 4);
  assert.match(String((r.exit as unknown as Record<string, unknown>).exitFileError),
    /^write the exit file: open \/tmp\/tdock-shimtest-missing-\d+\/exit\.json\.tmp: No such file or directory$/);
  assert.ok(!fs.existsSync(exitPath));
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
  // The command waits for a line sent after the RESIZE (frames are handled in order, and
  // a RESIZE that came before the pty is applied before the stdin that came after it):
  // a RESIZE racing `stty size` on a 0x0 pty made busybox fail with a stale errno
  // ("stty: standard input: No child processes", left by the shell reaping `tty`).
  const r = await run({ ...sh('read x; tty; stty size'), tty: true, openStdin: true }, {
    during: (send) => {
      send(F.RESIZE, '40 100');
      send(F.STDIN, 'go\r');
    },
  });
  assert.equal(r.stdout.replace(/\r/g, ''), 'go\n/dev/pts/0\n40 100\n');
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
  // Tests running beside this one make and remove veths: only the interfaces there
  // before and after the container's look are certain to be in it.
  const before = new Set(fs.readdirSync('/sys/class/net'));
  const r = await run({ ...sh('ls /sys/class/net; touch /sys/x 2>&1; grep " /sys " /proc/self/mounts'), network: { mode: 'host' } });
  const hostIfs = fs.readdirSync('/sys/class/net').filter((i) => before.has(i));
  assert.ok(hostIfs.includes('lo'));
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

test('log file records and exit file', async () => {
  let log = Buffer.alloc(0);
  let exitFile = '';
  const t0 = BigInt(Date.now()) * 1000000n;
  const b = makeBundle(sh('echo one; echo two >&2; echo three'));
  const procs: ChildProcess[] = [];
  try {
    writeConfig(b);
    const s = await startMonitor(b);
    procs.push(s.monitor);
    // `ok PID START`: the start time is init's own (read while it was the monitor's unreaped child).
    const stat = fs.readFileSync(`/proc/${s.pid}/stat`, 'utf8');
    assert.equal(s.startTime, Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]));
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
    // Its last step before `ok` fails: the netns bind, after the clone, the maps and READY.
    b.config.netnsPath = path.join(b.dir, 'no-such-dir', 'netns');
    writeConfig(b);
    const before = new Set(fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)));
    const s = await startMonitor(b);
    procs.push(s.monitor);
    assert.match(s.line, /^error: create .*no-such-dir\/netns: No such file or directory$/);
    assert.equal(await s.exited, 1);
    assert.ok(!fs.existsSync(b.config.socket as string), 'socket');
    assert.ok(!fs.existsSync(b.config.netnsPath as string), 'netns file');
    assert.ok(!hostMounts().includes(b.dir), 'no mount');
    assert.ok(!fs.existsSync(b.config.logPath as string), 'log file');
    // No new process of ours survives: the container's init was killed and reaped. Ours
    // are those in the monitor's session (init keeps it) or naming the bundle; other
    // tests' containers, running meanwhile, are in sessions of their own.
    const session = s.monitor.pid!;
    for (const p of fs.readdirSync('/proc').filter((x) => /^\d+$/.test(x) && !before.has(x))) {
      let cmd = '';
      let sid = 0;
      try {
        cmd = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8');
        sid = Number(fs.readFileSync(`/proc/${p}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')[3]);
      } catch { continue; }
      assert.ok(!cmd.includes(b.dir) && sid !== session, `left over: ${p} ${cmd}`);
    }
  } finally {
    destroy(b, procs);
  }
});

test('setup failure after START: ERROR frame and exit 125', async () => {
  const r = await run({ args: ['true'], mounts: [{ source: '/nonexistent-src', destination: '/mnt', options: ['bind'] }] });
  assert.equal(r.exit.exitCode, 125);
  assert.match(r.errors[0], /^bind \/nonexistent-src on \/mnt: stat the source: No such file or directory$/);
});

