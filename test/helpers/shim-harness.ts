// Runs tdock-shim's monitor on a bundle of its own, as the shim tests (test/integration/
// shim.test.ts, breakout/*.test.ts) do: a shared busybox lower layer owned by the
// container's root (uid 100000), one temp dir per container, cleaned up (kill by pid,
// rm -rf) even when a test fails. Needs root, overlayfs and user namespaces.
import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildProbe } from './seccomp-probe.ts';
import { shimSession, type SessionOpts, type SessionResult } from './shim-session.ts';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const SHIM = path.join(ROOT, 'shim/tdock-shim');
export const HOST_ID = 100000;
export const MAP = [{ containerId: 0, hostId: HOST_ID, size: 65536 }];

// Docker's default set (DESIGN.md "Security model").
export const DEFAULT_CAPS = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];
export const CAP_NUM: Record<string, number> = {
  CAP_CHOWN: 0, CAP_DAC_OVERRIDE: 1, CAP_FOWNER: 3, CAP_FSETID: 4, CAP_KILL: 5, CAP_SETGID: 6, CAP_SETUID: 7,
  CAP_SETPCAP: 8, CAP_NET_BIND_SERVICE: 10, CAP_NET_RAW: 13, CAP_SYS_CHROOT: 18, CAP_MKNOD: 27,
  CAP_AUDIT_WRITE: 29, CAP_SETFCAP: 31,
};
export const MASKED = ['/proc/kcore', '/proc/keys', '/proc/timer_list', '/proc/sched_debug', '/proc/scsi', '/sys/firmware'];
export const READONLY = ['/proc/sys', '/proc/sysrq-trigger', '/proc/irq', '/proc/bus', '/proc/fs'];
const APPLETS = ['sh', 'ls', 'cat', 'id', 'sleep', 'true', 'false', 'tty', 'ps', 'hostname', 'echo', 'touch', 'kill',
  'stty', 'grep', 'readlink', 'unshare', 'stat', 'wc', 'head', 'test', 'pwd', 'mount'];

export interface Bundle {
  dir: string;
  rootfs: string;
  upper: string;
  config: Record<string, unknown>;
  cleanup: (() => void)[];
}

export interface Started {
  /** the shim process (a monitor or an exec-monitor) */
  monitor: ChildProcess;
  line: string;
  /** from `ok PID START`: the watched process's host pid and its /proc start time (0 after `error:`) */
  pid: number;
  startTime: number;
  exited: Promise<number | null>;
}

/** The shim's answer when all went well (shim/PROTOCOL.md): `ok PID START`. */
export const OK_LINE = /^ok (\d+) (\d+)$/;

export interface Result extends SessionResult {
  pid: number;
  ms: number;
}

export interface RunOpts extends Omit<SessionOpts, 'during'> {
  // Called once the container runs (after START): send more frames.
  during?: (send: (type: number, payload?: string) => void, pid: number) => void;
  beforeStart?: (pid: number, b: Bundle) => void | Promise<void>;
}

/** A temp dir the container's root (host uid 100000) can walk down through. */
export function mkTemp(prefix: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.chmodSync(d, 0o711);
  return d;
}

export const sh = (script: string) => ({ args: ['sh', '-c', script] });

export function hostMounts(): string {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8');
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function writeConfig(b: Bundle, text?: string): void {
  fs.writeFileSync(path.join(b.dir, 'config.json'), text ?? JSON.stringify(b.config, null, 2));
}

export function destroy(b: Bundle, procs: ChildProcess[]): void {
  for (const p of procs) if (p.pid && p.exitCode === null && p.signalCode === null) {
    try { process.kill(p.pid, 'SIGKILL'); } catch { /* already gone */ }
  }
  for (const f of b.cleanup.reverse()) {
    try { f(); } catch { /* keep cleaning */ }
  }
}

/**
 * Starts `tdock-shim VERB ARG` and resolves at its one-line answer. wrap: a command
 * that execs the shim (e.g. prlimit), so the pid stays the shim's.
 */
export function startShim(verb: string, arg: string, wrap: string[] = []): Promise<Started> {
  return new Promise((resolve, reject) => {
    const argv = [...wrap, SHIM, verb, arg];
    const monitor = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((r) => monitor.on('exit', (code) => r(code)));
    let out = '';
    const done = () => {
      const line = out.split('\n')[0]!.trim();
      const m = OK_LINE.exec(line);
      resolve({ monitor, line, pid: m ? Number(m[1]) : 0, startTime: m ? Number(m[2]) : 0, exited });
    };
    monitor.stdout!.setEncoding('utf8');
    monitor.stdout!.on('data', (d: string) => {
      out += d;
      if (out.includes('\n')) done();
    });
    monitor.stderr!.resume();
    monitor.on('error', reject);
    monitor.on('exit', done);
  });
}

export function startMonitor(b: Bundle, wrap: string[] = []): Promise<Started> {
  return startShim('monitor', b.dir, wrap);
}

export function talk(sock: string, pid: number, opts: RunOpts): Promise<SessionResult> {
  const { during, beforeStart: _, ...rest } = opts;
  return shimSession(sock, { ...rest, ...(during ? { during: (send) => during(send, pid) } : {}) });
}

export interface ShimHarness {
  /** the shared lower layer (set in before()) */
  readonly lower: string;
  /** A bundle whose monitor said `ok` (asserted), with nobody connected yet: init waits for START. */
  startBare(over?: Record<string, unknown>, wrap?: string[]): Promise<{ b: Bundle; s: Started }>;
  makeBundle(over?: Record<string, unknown>): Bundle;
  /** Runs one container to its end; keep() may change the bundle before the monitor starts. */
  run(over: Record<string, unknown>, opts?: RunOpts, keep?: (b: Bundle) => void): Promise<Result>;
}

/**
 * The lower layer for the tests of one file: made before them, removed after them;
 * `extra` may add files to it (before it is given to the container's root).
 */
export function shimHarness(extra?: (lower: string) => void): ShimHarness {
  let base = '';
  let lower = '';
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
    extra?.(lower);
    execFileSync('chown', ['-R', '-h', `${HOST_ID}:${HOST_ID}`, lower]);
  });
  /** Bundles of startBare: their monitors are killed and dirs removed after the file's tests. */
  const bare: { b: Bundle; s: Started }[] = [];
  after(() => {
    for (const { b, s } of bare.splice(0)) destroy(b, [s.monitor]);
    if (base) fs.rmSync(base, { recursive: true, force: true });
  });

  const makeBundle = (over: Record<string, unknown> = {}): Bundle => {
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
      ...over,
    };
    const b: Bundle = { dir, rootfs, upper, config, cleanup: [] };
    b.cleanup.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    return b;
  };

  const run = async (over: Record<string, unknown>, opts: RunOpts = {}, keep?: (b: Bundle) => void): Promise<Result> => {
    const b = makeBundle(over);
    const procs: ChildProcess[] = [];
    try {
      writeConfig(b);
      keep?.(b);
      const t0 = process.hrtime.bigint();
      const s = await startMonitor(b);
      procs.push(s.monitor);
      assert.match(s.line, OK_LINE, `monitor said: ${s.line}`);
      await opts.beforeStart?.(s.pid, b);
      const r = await talk(b.config.socket as string, s.pid, opts);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      assert.equal(await s.exited, 0, 'monitor exit code');
      return { ...r, pid: s.pid, ms };
    } finally {
      destroy(b, procs);
    }
  };

  const startBare = async (over: Record<string, unknown> = {}, wrap: string[] = []) => {
    const b = makeBundle(over);
    writeConfig(b);
    const s = await startMonitor(b, wrap);
    bare.push({ b, s });
    assert.match(s.line, OK_LINE, `monitor said: ${s.line}`);
    return { b, s };
  };

  return {
    get lower() {
      return lower;
    },
    makeBundle,
    run,
    startBare,
  };
}
