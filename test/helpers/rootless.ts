// A throwaway user for rootless tests: its own name, home, subordinate ranges (not
// overlapping anyone's) and runtime dir; its tdockd and CLI run as it through setpriv.
// remove() takes everything away again (processes, lines in /etc/sub[ug]id, home).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { TDOCK, TDOCKD, type CliResult } from './daemon.ts';

let counter = 0;

/** Lines of /etc/subuid or /etc/subgid other than `name`'s. */
function otherRanges(file: string, name: string): { start: number; end: number }[] {
  return readFileSync(file, 'utf8').split('\n').map((l) => l.split(':')).filter((f) => f.length === 3 && f[0] !== name)
    .map((f) => ({ start: Number(f[1]), end: Number(f[1]) + Number(f[2]) }));
}

/** A range of `size` ids from 1e9 up (far above useradd's), clear of every other line. */
function freeRange(size: number): number {
  const taken = [...otherRanges('/etc/subuid', ''), ...otherRanges('/etc/subgid', '')];
  for (let start = 1_000_000_000 + (process.pid % 4096) * 131072; ; start += 131072) {
    if (!taken.some((r) => start < r.end && r.start < start + size)) return start;
  }
}

function dropLines(file: string, name: string): void {
  const text = readFileSync(file, 'utf8');
  const kept = text.split('\n').filter((l) => !l.startsWith(`${name}:`)).join('\n');
  if (kept !== text) writeFileSync(file, kept);
}

export class RootlessUser {
  readonly name: string;
  readonly home: string;
  readonly runtime: string;
  uid = -1;
  gid = -1;
  start = -1;
  daemon?: ChildProcess;
  log = '';

  constructor() {
    counter++;
    this.name = `tdrl${process.pid % 100000}u${counter}`;
    this.home = `/home/${this.name}`;
    this.runtime = `/tmp/${this.name}-run`;
  }

  /** The user alone, without subordinate ranges (useradd would add some: told not to). */
  create(): this {
    const r = spawnSync('useradd', ['-m', '-s', '/bin/sh', '-K', 'SUB_UID_COUNT=0', '-K', 'SUB_GID_COUNT=0', this.name], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`useradd ${this.name}: ${r.stderr}`);
    this.uid = Number(spawnSync('id', ['-u', this.name], { encoding: 'utf8' }).stdout.trim());
    this.gid = Number(spawnSync('id', ['-g', this.name], { encoding: 'utf8' }).stdout.trim());
    mkdirSync(this.runtime, { mode: 0o700 });
    chownSync(this.runtime, this.uid, this.gid);
    return this;
  }

  /** Gives the user `size` subordinate uids and gids (replacing earlier ones). */
  grant(size = 65536): this {
    for (const f of ['/etc/subuid', '/etc/subgid']) dropLines(f, this.name);
    this.start = freeRange(size);
    for (const f of ['/etc/subuid', '/etc/subgid']) writeFileSync(f, `${this.name}:${this.start}:${size}\n`, { flag: 'a' });
    return this;
  }

  env(extra: NodeJS.ProcessEnv = {}): string[] {
    const e = { HOME: this.home, USER: this.name, LOGNAME: this.name, PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', XDG_RUNTIME_DIR: this.runtime, ...extra };
    return Object.entries(e).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${v}`);
  }

  /** argv that runs `cmd` as this user with a clean environment. */
  as(cmd: string[], env: NodeJS.ProcessEnv = {}): string[] {
    return ['setpriv', `--reuid=${this.uid}`, `--regid=${this.gid}`, '--init-groups', '--', 'env', '-i', ...this.env(env), ...cmd];
  }

  run(cmd: string[], opts: { env?: NodeJS.ProcessEnv; input?: string; timeout?: number } = {}): Promise<CliResult> {
    const [bin, ...args] = this.as(cmd, opts.env);
    return new Promise((resolve, reject) => {
      const p = spawn(bin!, args, { cwd: '/', stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      p.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      const timer = setTimeout(() => {
        p.kill('SIGKILL');
        reject(new Error(`${cmd.join(' ')} timed out; stdout=${stdout} stderr=${stderr}`));
      }, opts.timeout ?? 60000);
      p.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code: code ?? 137, stdout, stderr });
      });
      p.stdin.end(opts.input ?? '');
    });
  }

  /** `cmd` as this user, synchronously: its stdout (stderr appended). */
  runSync(cmd: string[]): string {
    const [bin, ...args] = this.as(cmd);
    const r = spawnSync(bin!, args, { cwd: '/', encoding: 'utf8' });
    return `${r.stdout}${r.stderr}`;
  }

  /** The CLI as this user, finding the daemon by its default socket (no TDOCK_HOST). */
  cli(args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<CliResult> {
    return this.run([TDOCK, ...args], opts);
  }

  async ok(args: string[]): Promise<string> {
    const r = await this.cli(args);
    if (r.code !== 0) throw new Error(`${this.name}: tdock ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
    return r.stdout;
  }

  /** tdockd as this user until it exits (for the refusals): its code and stderr. */
  daemonOnce(args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
    return this.run([TDOCKD, ...args], { env, timeout: 30000 });
  }

  /**
   * `cgroupProcs`: cgroup.procs files the daemon joins first (as systemd does for a
   * service with Delegate=yes: a v2 move needs the common ancestor to be the user's).
   */
  async startDaemon(args: string[] = [], cgroupProcs: string[] = []): Promise<void> {
    const argv = this.as([TDOCKD, ...args]);
    const [bin, ...rest] = cgroupProcs.length
      ? ['sh', '-c', 'for f in $PROCS; do echo $$ > "$f" || exit 1; done; exec "$@"', 'sh', ...argv]
      : argv;
    this.log = '';
    const p = spawn(bin!, rest, { cwd: '/', stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, PROCS: cgroupProcs.join(' ') } });
    this.daemon = p;
    p.stderr!.setEncoding('utf8').on('data', (d: string) => (this.log += d));
    const deadline = Date.now() + 30000;
    while (!this.log.includes('ready on')) {
      if (p.exitCode !== null) throw new Error(`tdockd as ${this.name} exited: ${this.log}`);
      if (Date.now() > deadline) throw new Error(`tdockd as ${this.name} did not become ready: ${this.log}`);
      await sleep(20);
    }
  }

  async stopDaemon(): Promise<void> {
    const p = this.daemon;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const done = new Promise((r) => p.once('exit', r));
    const killer = setTimeout(() => p.kill('SIGKILL'), 10000);
    p.kill('SIGTERM');
    await done;
    clearTimeout(killer);
  }

  /** Pids of every process running as the user or as one of its subordinate ids. */
  processes(): number[] {
    const out: number[] = [];
    for (const d of readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      try {
        const uid = Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${d}/status`, 'utf8'))![1]);
        if (uid === this.uid || (this.start >= 0 && uid >= this.start && uid < this.start + 65536)) out.push(Number(d));
      } catch {
        /* gone */
      }
    }
    return out;
  }

  /** Mounts that mention the user's home or runtime dir (in the host's mount namespace). */
  mounts(): string[] {
    return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(this.home) || l.includes(this.runtime));
  }

  /** Kills what is left (by pid), removes the user, its lines, home and runtime dir. */
  async remove(): Promise<void> {
    await this.stopDaemon().catch(() => {});
    for (let i = 0; i < 3; i++) {
      for (const pid of this.processes()) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      if (!this.processes().length) break;
      await sleep(100);
    }
    if (this.uid >= 0) spawnSync('userdel', ['-r', '-f', this.name], { stdio: 'ignore' });
    for (const f of ['/etc/subuid', '/etc/subgid']) dropLines(f, this.name);
    rmSync(this.home, { recursive: true, force: true });
    rmSync(this.runtime, { recursive: true, force: true });
  }

  exists(): boolean {
    return existsSync(this.home) || readFileSync('/etc/passwd', 'utf8').split('\n').some((l) => l.startsWith(`${this.name}:`));
  }

  /** The daemon's data dir. */
  get dataDir(): string {
    return join(this.home, '.local/share/tdock');
  }
}
