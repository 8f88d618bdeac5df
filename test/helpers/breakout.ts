// Shared pieces of the breakout suite (test/integration/breakout/): each test there
// tries an escape against a real container and must fail when the defence it names
// is taken away, so none of them may quietly skip or pass where it cannot run.
import { before } from 'node:test';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Registers a before() hook that fails every test of the file when not run as root:
 * the escape checks need real namespaces, and a breakout suite that skips proves nothing.
 */
export function requireRoot(): void {
  before(() => {
    if (process.getuid?.() !== 0) {
      throw new Error(`the breakout tests must run as root (uid 0, not ${process.getuid?.()}): they try escapes from real containers; run them with sudo`);
    }
  });
}

/** Why a path the defaults mask or make read-only cannot be tested here, or undefined when it can. */
export function missingOnHost(p: string): string | undefined {
  return fs.existsSync(p) ? undefined : `this kernel has no ${p}: nothing for a container to reach there`;
}

/** Why module loading cannot be tried here, or undefined when it can. */
export function noModules(): string | undefined {
  return fs.existsSync('/proc/modules') ? undefined : 'this kernel has no module loading (no /proc/modules: CONFIG_MODULES is off)';
}

/** The host's cgroup v1 hierarchies (named ones too): mount points and their controllers. */
export function v1Hierarchies(): { mountpoint: string; controllers: string[] }[] {
  const out: { mountpoint: string; controllers: string[] }[] = [];
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const [fstype, , opts = ''] = line.slice(sep + 3).split(' ');
    if (fstype !== 'cgroup') continue;
    const controllers = opts.split(',').filter((o) => !['rw', 'ro', 'relatime', 'nosuid', 'nodev', 'noexec', 'clone_children', 'noprefix', 'xattr'].includes(o) && !o.startsWith('release_agent='));
    const mountpoint = line.slice(0, sep).split(' ')[4]!;
    if (!out.some((h) => h.mountpoint === mountpoint)) out.push({ mountpoint, controllers });
  }
  return out;
}

/** /proc/PID/cgroup as the host sees it: one "id:controllers:path" per hierarchy. */
export function cgroupLines(pid: number): { hierarchy: string; path: string }[] {
  return fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n').map((l) => {
    const [id, controllers, ...rest] = l.split(':');
    return { hierarchy: `${id}:${controllers}`, path: rest.join(':') };
  });
}

/**
 * A process of the host in a container's user and pid namespaces (not its mount
 * namespace), with no capabilities, whose cwd is a host directory holding one file:
 * /proc/N/cwd of it, inside the container, leads out of the container's root. It
 * stands in for a leaked host descriptor (CVE-2024-21626) so that the shim's getcwd
 * check, the last defence, can be reached at all.
 */
export class HostSideProcess {
  readonly dir: string;
  private nsenter?: ChildProcess;
  /** host pid of the process in the container */
  pid = 0;
  /** its pid inside the container's pid namespace */
  nsPid = 0;

  constructor() {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tdock-hostside-'));
    fs.chmodSync(this.dir, 0o755);
    fs.writeFileSync(path.join(this.dir, 'host-secret'), 'on the host\n');
  }

  /** Enters the namespaces of the container whose init has host pid `initPid`. */
  async enter(initPid: number): Promise<this> {
    // setpriv drops every capability (bounding set included), so the container's root
    // may look at it through /proc like at any of its own processes.
    const p = spawn('nsenter', ['-t', String(initPid), '-U', '-p', '--', 'setpriv', '--bounding-set=-all', '--inh-caps=-all', 'sleep', '1000'], {
      cwd: this.dir, stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.nsenter = p;
    let err = '';
    p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    for (let i = 0; i < 500; i++) {
      if (p.exitCode !== null) throw new Error(`nsenter exited ${p.exitCode}: ${err}`);
      const child = Number(readOr(`/proc/${p.pid}/task/${p.pid}/children`).trim().split(/\s+/)[0] || 0);
      // The child is sleep once setpriv has exec'd it.
      if (child && readOr(`/proc/${child}/comm`).trim() === 'sleep') {
        const ns = /^NSpid:\s+\d+\s+(\d+)$/m.exec(readOr(`/proc/${child}/status`));
        if (ns) {
          this.pid = child;
          this.nsPid = Number(ns[1]);
          return this;
        }
      }
      await sleep(10);
    }
    throw new Error(`the host-side process did not enter the container: ${err}`);
  }

  /** Kills it (by pid) and removes its directory; safe to call twice. */
  cleanup(): void {
    const parent = this.nsenter?.pid;
    // Still ours only while nsenter is its parent (it dies with the container's pid namespace).
    const mine = this.pid && parent && new RegExp(`^PPid:\\s+${parent}$`, 'm').test(readOr(`/proc/${this.pid}/status`));
    for (const pid of [mine ? this.pid : 0, this.nsenter?.exitCode === null ? parent : 0]) {
      if (!pid) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

function readOr(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}
