// An in-process stand-in for tdock-shim's monitor, behind the engine's Host interface
// (daemon/containers/host.ts): it "spawns" from the bundle's config.json, accepts
// connections on its socket path, records the frames it is sent (START, SIGNAL,
// STDIN, QUIET...), and emits output and the exit like the real one. A connection
// whose stdin the monitor does not take is jammed: frames sent after it on that
// connection wait, as they would behind a full socket.
import { EventEmitter } from 'node:events';
import { constants, openSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Host, MonitorLink } from '../../daemon/containers/host.ts';
import { ExecRefused, type MonitorEvents, type Started } from '../../daemon/runtime/monitor.ts';
import type { ExecConfig, MonitorConfig } from '../../daemon/containers/shim-config.ts';
import type { ProcInfo } from '../../daemon/runtime/procfs.ts';

export interface Delivered { link: number; type: string; data?: string }

export class FakeLink extends EventEmitter<MonitorEvents> implements MonitorLink {
  readonly features = new Set<string>();
  closed = false;
  isQuiet = false;
  readonly accepted = Promise.resolve();
  private jammed = false;
  private readonly pending: Delivered[] = [];
  private readonly mon: FakeMonitor;
  readonly index: number;

  constructor(mon: FakeMonitor, index: number) {
    super();
    this.mon = mon;
    this.index = index;
  }

  private send(type: string, data?: string): boolean {
    if (this.closed) return true;
    const f: Delivered = { link: this.index, type, ...(data !== undefined ? { data } : {}) };
    if (this.jammed) {
      this.pending.push(f);
      return false;
    }
    this.mon.receive(this, f);
    if (type === 'STDIN' && !this.mon.takesStdin) {
      this.jammed = true;
      return false;
    }
    return true;
  }

  /** EXEC: the monitor forks an exec-monitor for the config at `path` (or refuses with `execRefusal`). */
  async exec(path: string): Promise<number> {
    this.mon.receive(this, { link: this.index, type: 'EXEC', data: path });
    if (this.mon.execRefusal) throw new ExecRefused(this.mon.execRefusal);
    return this.mon.host.startExec(path).pid;
  }
  start(): void { this.send('START'); }
  quiet(): void {
    this.isQuiet = true;
    this.send('QUIET');
  }
  stdin(data: Buffer): boolean { return this.send('STDIN', data.toString()); }
  closeStdin(): boolean { return this.send('CLOSE_STDIN'); }
  resize(rows: number, cols: number): boolean { return this.send('RESIZE', `${rows} ${cols}`); }
  signal(sig: number): void { this.send('SIGNAL', String(sig)); }
  close(): void { setImmediate(() => this.end()); }
  hangUp(): void {
    this.removeAllListeners('output');
    setImmediate(() => this.end());
  }
  pause(): void {}
  resume(): void {}

  /** The monitor's side hangs up. */
  end(): void {
    if (this.closed) return;
    this.closed = true;
    this.emit('close');
  }
}

export class FakeMonitor {
  readonly host: FakeHost;
  readonly verb: 'monitor' | 'exec';
  readonly config: MonitorConfig | ExecConfig;
  readonly pid: number;
  readonly links: FakeLink[] = [];
  /** frames as the monitor received them, in order */
  readonly delivered: Delivered[] = [];
  alive = true;
  /** what it tells each connection it understands (FEATURES) */
  readonly features = new Set<string>();
  /** false: the container reads no stdin (its connection jams) */
  takesStdin = true;
  /** SIGKILL/SIGTERM end the container like the real init does */
  diesOnSignal = true;

  /** an EXEC is answered with this refusal (`step: reason`) */
  execRefusal?: string;

  constructor(host: FakeHost, verb: 'monitor' | 'exec', config: MonitorConfig | ExecConfig, pid: number) {
    this.host = host;
    this.verb = verb;
    this.config = config;
    this.pid = pid;
  }

  receive(link: FakeLink, f: Delivered): void {
    this.delivered.push(f);
    if (f.type === 'SIGNAL' && this.diesOnSignal && (f.data === '9' || f.data === '15')) {
      setImmediate(() => this.exit(128 + Number(f.data)));
    }
  }

  frames(type: string): Delivered[] { return this.delivered.filter((f) => f.type === type); }

  /** Output to the connections that are not quiet. */
  output(stream: 1 | 2, text: string): void {
    for (const l of this.links) if (!l.closed && !l.isQuiet) l.emit('output', stream, Buffer.from(text));
  }

  /**
   * The container ended: the exit file, then EXIT and hang-up on every connection.
   * `lateOutput`: what the output connections still carry after the quiet one was told.
   */
  exit(exitCode: number, lateOutput?: string): void {
    if (!this.alive) return;
    this.die(exitCode);
    const e = { exitCode, signal: 0, finishedAt: Date.now() * 1e6 };
    const quiet = this.links.filter((l) => l.isQuiet);
    const loud = this.links.filter((l) => !l.isQuiet);
    for (const l of quiet) {
      if (l.closed) continue;
      l.emit('exit', e);
      l.end();
    }
    const rest = () => {
      for (const l of loud) {
        if (l.closed) continue;
        if (lateOutput) l.emit('output', 1, Buffer.from(lateOutput));
        l.emit('exit', e);
        l.end();
      }
    };
    if (lateOutput) setTimeout(rest, 30);
    else rest();
  }

  /** Gone without a word and without an exit file (killed -9). */
  vanish(): void {
    this.alive = false;
    for (const l of this.links) l.end();
  }

  /** Gone without a word (while the daemon was down): only the exit file is left. */
  die(exitCode: number): void {
    this.alive = false;
    writeFileSync(this.config.exitPath, JSON.stringify({ exitCode, signal: 0, finishedAt: Date.now() * 1e6 }));
  }
}

export class FakeHost implements Host {
  readonly monitors: FakeMonitor[] = [];
  private nextPid = 1000;
  /** awaited before a spawned monitor reports "ok": a test holds a start here */
  beforeOk?: (m: FakeMonitor) => Promise<void>;

  /** `tdock-shim exec` run by the daemon itself (not forked by a monitor) */
  readonly spawnedExecs: FakeMonitor[] = [];

  async spawnMonitor(_shim: string, target: string, verb: 'monitor' | 'exec' = 'monitor'): Promise<Started> {
    if (verb === 'exec') {
      const m = this.startExec(target);
      this.spawnedExecs.push(m);
      return { pid: m.pid, startTime: FakeHost.START };
    }
    const config = JSON.parse(readFileSync(join(target, 'config.json'), 'utf8')) as MonitorConfig;
    const m = new FakeMonitor(this, 'monitor', config, this.nextPid++);
    m.features.add('exec');
    this.monitors.push(m);
    await this.beforeOk?.(m);
    return { pid: m.pid, startTime: FakeHost.START };
  }

  startExec(file: string): FakeMonitor {
    const config = JSON.parse(readFileSync(file, 'utf8')) as ExecConfig;
    const m = new FakeMonitor(this, 'exec', config, this.nextPid++);
    this.monitors.push(m);
    return m;
  }

  private bySocket(socket: string): FakeMonitor | undefined {
    return this.monitors.find((m) => m.alive && m.config.socket === socket);
  }

  async connect(socket: string): Promise<MonitorLink> {
    const m = this.bySocket(socket);
    if (!m) throw Object.assign(new Error(`connect ENOENT ${socket}`), { code: 'ENOENT' });
    const link = new FakeLink(m, m.links.length);
    for (const f of m.features) link.features.add(f);
    m.links.push(link);
    return link;
  }

  async signalOnce(socket: string, sig: number): Promise<void> {
    const link = (await this.connect(socket)) as FakeLink;
    link.quiet();
    link.signal(sig);
    link.close();
  }

  /** The start time every fake process reports (the monitor's `ok` and /proc). */
  static readonly START = '4242';
  /** pid → start time of another process that holds the pid now (init died, the pid was reused) */
  readonly reused = new Map<number, string>();

  startTime(pid: number): string | undefined {
    const other = this.reused.get(pid);
    if (other !== undefined) return other;
    return this.monitors.some((m) => m.alive && m.pid === pid) ? FakeHost.START : undefined;
  }

  /** /proc as the fake shows it: processes a test adds (with their pid namespace); a live monitor is its init */
  readonly procs = new Map<number, ProcInfo & { ns: string }>();
  procInfo(pid: number): ProcInfo | undefined {
    const p = this.procs.get(pid);
    if (p) return { pid: p.pid, nsPid: p.nsPid, ppid: p.ppid, uid: p.uid, state: p.state, cpuTicks: p.cpuTicks, cmd: p.cmd };
    return this.startTime(pid) === FakeHost.START ? { pid, nsPid: 1, ppid: 0, uid: 0, state: 'S', cpuTicks: 0, cmd: 'init' } : undefined;
  }
  pidNamespace(pid: number): string | undefined {
    return this.procs.get(pid)?.ns ?? (this.startTime(pid) === FakeHost.START ? `pid:[${pid}]` : undefined);
  }
  namespaceLinks(pid: number, kinds: readonly string[]): Record<string, { Path: string; Id: string }> {
    return Object.fromEntries(kinds.map((k) => [k, { Path: `/proc/${pid}/ns/${k}`, Id: `${k}:[${pid}]` }]));
  }

  /** every killProcess call, and whether it reached the process */
  readonly killed: { pid: number; startTime: string; hit: boolean }[] = [];
  killProcess(pid: number, startTime: string): boolean {
    const hit = this.startTime(pid) === startTime && !this.reused.has(pid);
    this.killed.push({ pid, startTime, hit });
    if (hit) this.monitors.find((x) => x.alive && x.pid === pid)?.exit(137);
    return hit;
  }

  /** The directory a running container's root is (exec -u reads its etc/passwd); a temp dir in tests. */
  rootDir = tmpdir();
  openRoot(pid: number, startTime: string): number {
    if (this.startTime(pid) !== startTime || this.reused.has(pid)) throw new Error('container init is gone');
    return openSync(this.rootDir, constants.O_RDONLY | constants.O_DIRECTORY);
  }

  readonly netnsReleased: string[] = [];
  async releaseNetns(path: string): Promise<void> {
    this.netnsReleased.push(path);
  }

  socketExists(socket: string): boolean {
    return this.bySocket(socket) !== undefined;
  }

  /** Monitors still running: a test that ends with one has leaked a container. */
  alive(): FakeMonitor[] { return this.monitors.filter((m) => m.alive); }
}
