// Starts a private tdockd for a test: its own root, exec-root, socket, cgroup parent,
// bridge and firewall table names, so tests never touch the machine's daemon or each
// other. cleanup() removes everything it made, also after a failure.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { before, after } from 'node:test';
import Database from 'better-sqlite3';

export const REPO = join(import.meta.dirname, '..', '..');
export const TDOCK = join(REPO, 'bin', 'tdock');
export const TDOCKD = join(REPO, 'bin', 'tdockd');

let counter = 0;

/**
 * 10.A.n.0/24 with A from 200-249 (starting at pid % 50), skipping any already routed
 * here: another test process on this machine may have a daemon up on the same one, and
 * two bridges with one subnet send replies to the wrong one.
 */
function unroutedSubnet(n: number): string {
  const routes = spawnSync('ip', ['-4', 'route', 'show', 'table', 'all'], { encoding: 'utf8' }).stdout ?? '';
  for (let i = 0; i < 50; i++) {
    const prefix = `10.${200 + ((process.pid + i) % 50)}.${n}.`;
    if (!routes.includes(prefix)) return `${prefix}0/24`;
  }
  return `10.${200 + (process.pid % 50)}.${n}.0/24`;
}

export interface CliResult { code: number; stdout: string; stderr: string }
export interface CliOptions {
  input?: string | Buffer;
  timeout?: number;
  env?: NodeJS.ProcessEnv;
  /** stop the CLI `at` ms after it is spawned, for `ms` */
  pause?: { at: number; ms: number };
}

export class TestDaemon {
  readonly tag: string;
  readonly base: string;
  readonly root: string;
  readonly execRoot: string;
  readonly socket: string;
  readonly host: string;
  readonly cgroupParent: string;
  readonly bridge: string;
  readonly subnet: string;
  /** more tdockd flags (e.g. --max-layer-size) */
  readonly extraArgs: string[];
  proc?: ChildProcess;
  log = '';

  constructor(opts: { subnet?: string; args?: string[] } = {}) {
    this.extraArgs = opts.args ?? [];
    counter++;
    this.tag = `tdk${process.pid % 100000}x${counter}`;
    this.base = `/tmp/${this.tag}`;
    this.root = join(this.base, 'root');
    this.execRoot = join(this.base, 'run');
    this.socket = join(this.execRoot, 'tdock.sock');
    this.host = `unix://${this.socket}`;
    this.cgroupParent = `tdock-test/${this.tag}`;
    this.bridge = this.tag.slice(0, 15);
    this.subnet = opts.subnet ?? unroutedSubnet(counter);
  }

  args(): string[] {
    return ['--root', this.root, '--exec-root', this.execRoot, '--host', this.host, '--cgroup-parent', this.cgroupParent,
      '--bridge', this.bridge, '--subnet', this.subnet, ...this.extraArgs];
  }

  /** env: extra environment for the daemon (TDOCK_CRASH_AT=STEP: it dies at that step, see daemon/crash.ts). */
  async start(env: NodeJS.ProcessEnv = {}): Promise<this> {
    mkdirSync(this.base, { recursive: true });
    this.log = '';
    const proc = spawn(TDOCKD, this.args(), { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
    this.proc = proc;
    proc.stderr!.setEncoding('utf8');
    proc.stderr!.on('data', (d: string) => {
      this.log += d;
    });
    const deadline = Date.now() + 15000;
    while (!this.log.includes('ready on')) {
      if (proc.exitCode !== null) throw new Error(`tdockd exited: ${this.log}`);
      if (Date.now() > deadline) throw new Error(`tdockd did not become ready: ${this.log}`);
      await sleep(10);
    }
    return this;
  }

  /** Runs the real CLI (bin/tdock) against this daemon. */
  cli(args: string[], opts: CliOptions = {}): Promise<CliResult> {
    return new Promise((resolve, reject) => {
      const p = spawn(TDOCK, args, { env: { ...process.env, ...opts.env, TDOCK_HOST: this.host }, stdio: ['pipe', 'pipe', 'pipe'] });
      if (opts.pause) {
        // a loaded machine, as a user's shell can make one: SIGSTOP, then SIGCONT
        const { at, ms } = opts.pause;
        setTimeout(() => {
          if (p.exitCode !== null || p.signalCode !== null) return;
          p.kill('SIGSTOP');
          setTimeout(() => p.kill('SIGCONT'), ms);
        }, at);
      }
      let stdout = '';
      let stderr = '';
      p.stdout.setEncoding('utf8');
      p.stderr.setEncoding('utf8');
      p.stdout.on('data', (d: string) => (stdout += d));
      p.stderr.on('data', (d: string) => (stderr += d));
      const timer = setTimeout(() => {
        p.kill('SIGKILL');
        reject(new Error(`tdock ${args.join(' ')} timed out; stdout=${stdout} stderr=${stderr}`));
      }, opts.timeout ?? 30000);
      p.on('close', (code, sig) => {
        clearTimeout(timer);
        resolve({ code: code ?? 128 + (sig ? 9 : 0), stdout, stderr });
      });
      if (opts.input !== undefined) p.stdin.end(opts.input);
      else p.stdin.end();
    });
  }

  /** Like cli() but fails the test on a non-zero exit. */
  async ok(args: string[], opts?: CliOptions): Promise<string> {
    const r = await this.cli(args, opts);
    if (r.code !== 0) throw new Error(`tdock ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
    return r.stdout;
  }

  async inspect(ref: string): Promise<any> {
    return JSON.parse(await this.ok(['inspect', ref]))[0];
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const done = new Promise((r) => p.once('exit', r));
    p.kill(signal);
    await done;
  }

  /** Monitors (and so containers) started by this daemon, found by our unique root path. */
  monitorPids(): number[] {
    const pids: number[] = [];
    for (const d of readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      try {
        const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8');
        if (cmd.includes('tdock-shim') && cmd.includes(this.root)) pids.push(Number(d));
      } catch {
        /* gone */
      }
    }
    return pids;
  }

  cgroupDirs(): string[] {
    const out: string[] = [];
    for (const h of readdirSync('/sys/fs/cgroup')) {
      const dir = join('/sys/fs/cgroup', h, this.cgroupParent);
      if (existsSync(dir)) out.push(dir, ...readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => join(dir, e.name)));
    }
    return out;
  }

  /** Everything this daemon's containers could have left behind. */
  leftovers(): string[] {
    const left: string[] = [];
    const list = (d: string) => (existsSync(d) ? readdirSync(d) : []);
    for (const c of list(join(this.root, 'containers'))) left.push(`container dir ${c}`);
    for (const c of list(join(this.execRoot, 'c'))) left.push(`run dir ${c}`);
    for (const v of list(join(this.root, 'volumes'))) left.push(`volume ${v}`);
    for (const p of this.monitorPids()) left.push(`process ${p}`);
    for (const d of this.cgroupDirs().filter((d) => !d.endsWith(this.cgroupParent))) left.push(`cgroup ${d}`);
    const mounts = readFileSync('/proc/self/mounts', 'utf8').split('\n').filter((l) => l.includes(this.base));
    for (const m of mounts) left.push(`mount ${m}`);
    return left;
  }

  /**
   * What containers could leave in the network and the database while the daemon runs:
   * bridge ports, veths on our bridge, elements in our nft maps, container/lease/port rows.
   */
  networkLeftovers(): string[] {
    const left: string[] = [];
    const brif = `/sys/class/net/${this.bridge}/brif`;
    for (const port of existsSync(brif) ? readdirSync(brif) : []) left.push(`bridge port ${port}`);
    const nft = spawnSync('nft', ['-j', 'list', 'table', 'ip', this.bridge.replace(/[^a-zA-Z0-9_]/g, '_')], { encoding: 'utf8' });
    if (nft.status === 0) {
      for (const o of (JSON.parse(nft.stdout) as { nftables: { map?: { name: string; elem?: unknown[] } }[] }).nftables) {
        if (o.map?.elem?.length) left.push(`nft map ${o.map.name}: ${JSON.stringify(o.map.elem)}`);
      }
    }
    const dbFile = join(this.root, 'tdock.db');
    if (existsSync(dbFile)) {
      const db = new Database(dbFile, { readonly: true });
      try {
        for (const t of ['containers', 'net_leases', 'net_ports']) {
          const n = (db.prepare(`SELECT count(*) AS n FROM ${t}`).get() as { n: number }).n;
          if (n) left.push(`${n} row(s) in ${t}`);
        }
      } finally {
        db.close();
      }
    }
    return left;
  }

  async cleanup(): Promise<void> {
    for (const pid of this.monitorPids()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    // A clean shutdown removes the bridge and the firewall table; SIGKILL if it hangs.
    const killer = setTimeout(() => this.proc?.kill('SIGKILL'), 5000);
    await this.stop('SIGTERM');
    clearTimeout(killer);
    for (let i = 0; i < 100 && this.monitorPids().length; i++) await sleep(20);
    // What a crashed daemon may have left: only our own names.
    spawnSync('ip', ['link', 'del', this.bridge], { stdio: 'ignore' });
    for (const family of ['ip', 'bridge']) spawnSync('nft', ['delete', 'table', family, this.bridge.replace(/[^a-zA-Z0-9_]/g, '_')], { stdio: 'ignore' });
    for (const line of readdirSync('/sys/class/net')) {
      if (line.startsWith('td') && !line.startsWith('tdk')) {
        try {
          const master = readlinkSync(`/sys/class/net/${line}/master`);
          if (master.endsWith(`/${this.bridge}`)) spawnSync('ip', ['link', 'del', line], { stdio: 'ignore' });
        } catch {
          /* not on a bridge */
        }
      }
    }
    for (const line of readFileSync('/proc/self/mounts', 'utf8').split('\n').reverse()) {
      const mp = line.split(' ')[1];
      if (mp && mp.startsWith(this.base)) spawnSync('umount', ['-l', mp]);
    }
    const dirs = this.cgroupDirs().sort((a, b) => b.length - a.length);
    for (const d of dirs) {
      for (let i = 0; i < 50; i++) {
        try {
          rmdirSync(d);
          break;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EBUSY') break;
          await sleep(20);
        }
      }
    }
    for (const h of readdirSync('/sys/fs/cgroup')) {
      try {
        rmdirSync(join('/sys/fs/cgroup', h, 'tdock-test'));
      } catch {
        /* other tests still use it, or never made */
      }
    }
    rmSync(this.base, { recursive: true, force: true });
  }
}

/** A daemon for the tests of one describe(): started before them, removed after them (also after a failure). */
export function suiteDaemon(opts: { subnet?: string } = {}): TestDaemon {
  const d = new TestDaemon(opts);
  before(async () => {
    await d.start();
  });
  after(async () => {
    await d.cleanup();
  });
  return d;
}

export async function withDaemon<T>(fn: (d: TestDaemon) => Promise<T>): Promise<T> {
  const d = new TestDaemon();
  try {
    await d.start();
    return await fn(d);
  } finally {
    await d.cleanup();
  }
}

export async function until<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, ms = 10000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}
