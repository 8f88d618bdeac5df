// The container lifecycle: create → start → (running) → exited → removed.
// The engine prepares plain configuration (dirs, cgroups, config.json) and lets the
// shim's monitor do everything that needs namespaces. It never sees gRPC types.
import { mkdirSync, rmSync, writeFileSync, readFileSync, statSync, lstatSync, chownSync, chmodSync, existsSync, readlinkSync, readdirSync, openSync, closeSync, constants as fsConstants } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { constants as osConstants } from 'node:os';
import type { Db } from '../store/db.ts';
import { ContainerRepository, type ContainerRow } from './repository.ts';
import { buildSpec, homeOf, logConfig, mergeEnv, resolveUser, securityOptions, withHome, type CreateInput, type ImageConfigLike } from './spec.ts';
import { randomName, checkName } from './names.ts';
import { statusText } from './status.ts';
import { parseSignal } from './signals.ts';
import { EngineError, conflict, invalid, notFound, wrongState, messageOf } from '../errors.ts';
import { spawnMonitor, MonitorConnection, ExecRefused, type ExitFile } from '../runtime/monitor.ts';
import { InputQueue } from './input.ts';
import { crashPoint } from '../crash.ts';
import { LogStream, type LogQuery } from '../runtime/logstream.ts';
import { DEFAULT_LOG_CONFIG, logConfigView, type LogConfig } from '../../proto/log-opt.ts';
import { DEFAULT_CAPABILITIES, MASKED_PATHS, READONLY_PATHS, containerSysctls } from '../runtime/defaults.ts';
import { lockDown, type IdMaps } from '../runtime/idmap.ts';
import type { CgroupDriver } from '../cgroups/index.ts';
import { startTime, procInfo, pidNamespace } from '../runtime/procfs.ts';

/** What the engine needs from the image store. */
export interface ImageSource {
  /** Resolves a reference, pulling it when it is missing and pulling is possible. */
  ensure(ref: string): Promise<{ id: string; config: ImageConfigLike }>;
  layerDirs(imageId: string): string[];
}

/**
 * Per-container networking (bridge, veth, IPAM, NAT, /etc files). Absent = every
 * container gets loopback only. Implemented in daemon/network/.
 */
export interface NetworkHooks {
  /**
   * Before the monitor starts: allocate the address and host ports, check conflicts,
   * write hostname/hosts/resolv.conf into `bundleDir`; returns the bind mounts for
   * them. Throws an EngineError (ALREADY_EXISTS, RESOURCE_EXHAUSTED...) and leaves
   * nothing allocated when it cannot.
   */
  prepare(c: ContainerRow, bundleDir: string): Promise<{ source: string; destination: string; options: string[] }[]>;
  /** Between the monitor's "ok" and START: wire the netns of `pid` (veth, address, route, NAT). */
  attach(c: ContainerRow, pid: number): Promise<void>;
  /** Idempotent: undo attach and prepare (rules, veth, lease). */
  detach(c: ContainerRow): Promise<void>;
  /** Published ports with the host ports actually bound (random ones resolved). */
  ports(c: ContainerRow): { hostIp: string; hostPort: number; containerPort: number; protocol: string }[];
  /** Docker's NetworkSettings for inspect. */
  inspect(c: ContainerRow): Record<string, unknown>;
}

export interface EngineOptions {
  root: string;
  execRoot: string;
  shim: string;
  idMaps: IdMaps;
  rootless: boolean;
  cgroups: CgroupDriver;
  images: ImageSource;
  network?: NetworkHooks;
  log?: (msg: string) => void;
  /** refuses to make something new on a nearly full disk (daemon/store/space.ts) */
  checkRoom?: (what: string) => void;
  /** Log rotation for containers created without --log-opt (default DEFAULT_LOG_CONFIG). */
  logDefaults?: LogConfig;
}

export interface ExitInfo { exitCode: number; oomKilled: boolean; error: string }

export interface OutputSink {
  /** false: this client is behind; output pauses until its handle's drained() */
  output(stream: 1 | 2, data: Buffer): boolean | void;
  exit(info: ExitInfo): void;
}

/**
 * The per-container state that lives only in this process. Two kinds of monitor
 * connection (runtime/monitor.ts): `control` is quiet (no output), so signals, EXEC
 * and the exit never wait behind output or input; `output` carries the attached
 * clients' output and input, exists only while some are attached (a detached
 * container is never held back by the daemon), and is paused while one lags.
 */
interface Live {
  control?: MonitorConnection;
  output?: MonitorConnection;
  openingOutput?: Promise<void>;
  sinks: Set<OutputSink>;
  waiters: ((e: ExitInfo) => void)[];
  /** the attached clients' input, in order, also before `output` exists */
  input: InputQueue;
  /** the recorded exit, for the attached clients once the last of their output is through */
  exitInfo?: ExitInfo;
  starting?: Promise<void>;
  exiting?: Promise<void>;
  /** /proc start time of init, taken while the monitor (its parent) holds it */
  initStartTime?: string;
  /** set by rm: a start that races it must not bring the container back */
  removing?: boolean;
  /** sinks that are behind: while any is, the monitor connection is paused */
  lagging: Set<OutputSink>;
}

export interface ExecRequest {
  cmd: string[];
  env: string[];
  user: string;
  workdir: string;
  tty: boolean;
  openStdin: boolean;
}

/**
 * rm -rf that also wins against a monitor unlinking its own files at the same
 * moment (a vanished entry can make one rmSync pass stop early, leaving the dir).
 */
function removeTree(dir: string): void {
  for (let i = 0; ; i++) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch (e) {
      if (i >= 5) throw e;
    }
    if (!existsSync(dir) || i >= 5) return;
  }
}

/**
 * Reads LAYER/REL if it is a regular file reached without any symlink; undefined when
 * this layer does not have it, '' when the layer hides it (whiteout) or it is unsafe.
 */
export function readLayerFile(layer: string, rel: string, maxBytes = 1 << 20): string | undefined {
  let cur = layer;
  const parts = rel.split('/').filter(Boolean);
  for (let i = 0; i < parts.length; i++) {
    cur = join(cur, parts[i]!);
    let st;
    try {
      st = lstatSync(cur);
    } catch {
      return undefined;
    }
    const last = i === parts.length - 1;
    if (st.isCharacterDevice()) return ''; // an overlay whiteout: deleted in this layer
    if (st.isSymbolicLink()) return '';
    if (!last && !st.isDirectory()) return undefined;
    if (last) {
      if (!st.isFile() || st.size > maxBytes) return '';
      const fd = openSync(cur, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
      try {
        return readFileSync(fd, 'utf8').slice(0, maxBytes);
      } finally {
        closeSync(fd);
      }
    }
  }
  return undefined;
}

export class Engine {
  readonly repo: ContainerRepository;
  private readonly o: EngineOptions;
  private readonly live = new Map<string, Live>();
  private readonly log: (msg: string) => void;

  constructor(db: Db, opts: EngineOptions) {
    this.repo = new ContainerRepository(db);
    this.o = opts;
    this.log = opts.log ?? (() => {});
    // 0710 root:<container root gid> down to each rootfs: container root must walk to
    // its root directory for pivot_root; other host users must not get in at all.
    mkdirSync(join(opts.root, 'containers'), { recursive: true, mode: 0o710 });
    lockDown(join(opts.root, 'containers'), opts.rootless ? undefined : opts.idMaps.gid.start);
    mkdirSync(join(opts.execRoot, 'c'), { recursive: true, mode: 0o700 });
  }

  // ---- paths ---------------------------------------------------------------

  bundleDir(id: string): string { return join(this.o.root, 'containers', id); }
  /** Short: a unix socket path must fit in 108 bytes. */
  runDir(id: string): string { return join(this.o.execRoot, 'c', id.slice(0, 12)); }
  logPath(id: string): string { return join(this.bundleDir(id), 'container.log'); }
  private get logDefaults(): LogConfig { return this.o.logDefaults ?? DEFAULT_LOG_CONFIG; }
  /** Containers created before --log-opt existed get the daemon's default. */
  private logConfigOf(c: ContainerRow): LogConfig { return c.spec.log ?? this.logDefaults; }
  private socketPath(id: string): string { return join(this.runDir(id), 'm.sock'); }
  private exitPath(id: string): string { return join(this.runDir(id), 'exit.json'); }

  private state(id: string): Live {
    let l = this.live.get(id);
    if (!l) {
      l = { sinks: new Set(), waiters: [], input: new InputQueue(), lagging: new Set() };
      this.live.set(id, l);
    }
    return l;
  }

  // ---- create --------------------------------------------------------------

  async create(req: CreateInput & { image: string; name: string }): Promise<{ id: string; name: string; warnings: string[] }> {
    if (!req.image) throw invalid('no image given: tdock run [OPTIONS] IMAGE [COMMAND] [ARG...]');
    if (req.name) {
      const bad = checkName(req.name);
      if (bad) throw invalid(bad);
      const other = this.repo.nameTaken(req.name);
      if (other) {
        throw conflict(`the container name "/${req.name}" is already in use by container "${other.id}"; remove (or rename) that container to reuse the name`);
      }
    }
    // Flags that need no image are checked before a possible pull.
    securityOptions(req.securityOpt);
    this.o.checkRoom?.('create a container');
    logConfig(req.logOpt, this.logDefaults);
    const image = await this.o.images.ensure(req.image);
    let id = randomBytes(32).toString('hex');
    while (this.repo.shortIdTaken(id.slice(0, 12))) id = randomBytes(32).toString('hex');
    const spec = buildSpec(req, image.config, id, this.o.network ? 'bridge' : 'none', this.logDefaults);
    const name = req.name || randomName((n) => this.repo.nameTaken(n) !== undefined);
    // Check the user now so that a typo fails at create, not at start.
    this.resolveUserFor(image.id, spec.user);

    const dir = this.bundleDir(id);
    const lower = this.o.images.layerDirs(image.id);
    try {
      mkdirSync(dir, { mode: 0o710 });
      crashPoint('create.dir');
      lockDown(dir, this.o.rootless ? undefined : this.o.idMaps.gid.start);
      for (const d of ['upper', 'work', 'rootfs']) mkdirSync(join(dir, d));
      // The merged root takes the upper dir's owner and mode: make them the image's.
      const top = lower[0] ? statSync(lower[0]) : undefined;
      chownSync(join(dir, 'upper'), top?.uid ?? this.o.idMaps.uid.start, top?.gid ?? this.o.idMaps.gid.start);
      chmodSync(join(dir, 'upper'), top ? top.mode & 0o7777 : 0o755);
      this.repo.insert({ id, name, imageId: image.id, imageRef: req.image, spec, created: Date.now() });
      crashPoint('create.row');
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      if (e instanceof Error && /UNIQUE constraint failed: containers.name/.test(e.message)) {
        throw conflict(`the container name "/${name}" is already in use; remove (or rename) that container to reuse the name`);
      }
      throw e;
    }
    return { id, name, warnings: [] };
  }

  /**
   * A small text file of the image (etc/passwd), read as the top-most layer has it.
   * The layers are the image author's: never follow a symlink out of them, never open
   * a FIFO or a device, never read more than 1 MiB.
   */
  private imageFile(imageId: string, path: string): string {
    for (const dir of this.o.images.layerDirs(imageId)) {
      const found = readLayerFile(dir, path);
      if (found !== undefined) return found;
    }
    return '';
  }

  /** The user's ids, and its home for HOME (read from the same /etc/passwd). */
  private resolveUserFor(imageId: string, user: string) {
    const passwd = this.imageFile(imageId, 'etc/passwd');
    const ids = !user || /^\d+(:\d+)?$/.test(user)
      ? resolveUser(user, passwd, '')
      : resolveUser(user, passwd, this.imageFile(imageId, 'etc/group'));
    return { ids, home: homeOf(user, ids.uid, passwd) };
  }

  // ---- start ---------------------------------------------------------------

  async start(ref: string): Promise<void> {
    const c = this.repo.find(ref);
    const l = this.state(c.id);
    // Re-check after every wait: another start or an rm may have come meanwhile.
    for (;;) {
      if (l.removing) throw wrongState(`container ${c.name} is being removed`);
      if (l.starting) return l.starting;
      if (!l.exiting) break;
      await l.exiting.catch(() => {});
    }
    const now = this.repo.get(c.id);
    if (!now) throw notFound(`No such container: ${ref}`);
    if (now.state === 'running') return;
    if (now.state === 'dead') throw wrongState(`container ${c.name} is being removed`);
    l.starting = this.doStart(c.id).finally(() => {
      l.starting = undefined;
    });
    return l.starting;
  }

  private async doStart(id: string): Promise<void> {
    const c = this.repo.find(id);
    const spec = c.spec;
    const { ids: user, home } = this.resolveUserFor(c.imageId, spec.user);
    const runDir = this.runDir(id);
    removeTree(runDir);
    mkdirSync(runDir, { recursive: true, mode: 0o700 });
    let cgroupsMade = false;
    let networkPrepared = false;
    let initPid = 0;
    const dir = this.bundleDir(id);
    this.state(id).exitInfo = undefined;
    try {
      const mounts = this.o.network ? await this.o.network.prepare(c, dir) : [];
      networkPrepared = this.o.network !== undefined;
      crashPoint('start.network');
      const cgroupProcs = this.o.cgroups.create(id, spec.resources);
      cgroupsMade = true;
      crashPoint('start.cgroups');
      const config = {
        id,
        rootfs: join(dir, 'rootfs'),
        overlay: { lower: this.o.images.layerDirs(c.imageId), upper: join(dir, 'upper'), work: join(dir, 'work') },
        readonlyRootfs: false,
        hostname: spec.hostname,
        args: spec.args,
        env: withHome(spec.env, home),
        cwd: spec.cwd,
        user,
        tty: spec.tty,
        openStdin: spec.openStdin,
        uidMap: [{ containerId: 0, hostId: this.o.idMaps.uid.start, size: this.o.idMaps.uid.size }],
        gidMap: [{ containerId: 0, hostId: this.o.idMaps.gid.start, size: this.o.idMaps.gid.size }],
        rootless: this.o.rootless,
        network: { mode: spec.network },
        cgroupProcs,
        capabilities: DEFAULT_CAPABILITIES,
        noNewPrivileges: true,
        seccomp: securityOptions(spec.securityOpt).seccomp,
        maskedPaths: MASKED_PATHS,
        readonlyPaths: READONLY_PATHS,
        sysctl: containerSysctls(spec.network, this.o.idMaps.gid.size),
        mounts,
        socket: this.socketPath(id),
        logPath: this.logPath(id),
        logMaxSize: this.logConfigOf(c).maxSize,
        logMaxFiles: this.logConfigOf(c).maxFile,
        exitPath: this.exitPath(id),
        pidPath: join(runDir, 'init.pid'),
      };
      writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
      const pid = await spawnMonitor(this.o.shim, dir);
      initPid = pid;
      crashPoint('start.monitor');
      const control = await MonitorConnection.connect(this.socketPath(id));
      control.quiet();
      this.bindControl(id, control);
      const l = this.state(id);
      l.initStartTime = startTime(pid);
      // Clients attached before the start (run, start -a) get the output from its
      // first byte: their connection is accepted before START.
      if (l.sinks.size) await this.openOutput(id);
      if (this.o.network) await this.o.network.attach(c, pid);
      crashPoint('start.attach');
      this.repo.markStarted(id, pid, Date.now());
      crashPoint('start.running');
      control.start();
    } catch (e) {
      const msg = messageOf(e);
      this.log(`start ${id.slice(0, 12)}: ${msg}`);
      const l = this.live.get(id);
      l?.input.discard(); // input for a run that never happened
      if (l?.control) {
        // The monitor is up but we cannot go on: kill init; its exit does the teardown.
        l.control.signal(9);
        await this.waitExit(id);
      } else {
        // A monitor we could not reach waits for START forever: end it through its init
        // (its child, not reaped before it exits, so the pid is still that process).
        if (initPid && startTime(initPid) !== undefined) {
          try {
            process.kill(initPid, 'SIGKILL');
          } catch {
            /* already gone */
          }
        }
        if (networkPrepared) await this.o.network?.detach(c).catch(() => {});
        if (cgroupsMade) await this.o.cgroups.remove(id).catch(() => {});
        removeTree(runDir);
      }
      this.repo.setError(id, msg);
      // `run --rm` that never ran leaves nothing behind either.
      if (spec.autoRemove && this.repo.get(id)?.state !== 'running') {
        await this.removeFiles(c);
        this.live.delete(id);
      }
      throw e instanceof EngineError ? e : new EngineError('FAILED_PRECONDITION', `cannot start container ${id.slice(0, 12)}: ${msg}`);
    }
  }

  /** Wires the quiet control connection's events into the engine: the exit. */
  private bindControl(id: string, conn: MonitorConnection): void {
    const l = this.state(id);
    l.control = conn;
    let exit: ExitFile | undefined;
    let failure = '';
    conn.on('failure', (msg) => {
      failure = msg;
    });
    conn.on('exit', (e) => {
      exit = e;
    });
    conn.on('close', () => {
      if (l.control === conn) l.control = undefined;
      void this.afterClose(id, exit ?? this.readExitFile(id), failure);
    });
  }

  /** Connects the attached clients to the container's output and input (one connection for all). */
  private openOutput(id: string): Promise<void> {
    const l = this.state(id);
    if (l.output) return Promise.resolve();
    l.openingOutput ??= (async () => {
      const conn = await MonitorConnection.connect(this.socketPath(id));
      await conn.accepted;
      if (conn.closed) return;
      if (!l.sinks.size) return conn.close(); // every client left meanwhile
      this.bindOutput(id, conn);
    })().finally(() => {
      l.openingOutput = undefined;
      if (!l.output) this.deliverExit(id);
    });
    return l.openingOutput;
  }

  private bindOutput(id: string, conn: MonitorConnection): void {
    const l = this.state(id);
    l.output = conn;
    let exited = false;
    conn.on('output', (stream, data) => {
      if (l.output !== conn) return;
      for (const s of l.sinks) {
        if (s.output(stream, data) === false && !l.lagging.has(s)) {
          l.lagging.add(s);
          conn.pause();
        }
      }
    });
    if (l.lagging.size) conn.pause();
    conn.on('exit', () => {
      exited = true;
    });
    l.input.open(conn);
    conn.on('close', () => {
      if (l.output !== conn) return;
      l.output = undefined;
      l.input.close();
      if (l.exitInfo) return this.deliverExit(id);
      // The monitor dropped us while the container runs (a client far behind): again.
      if (!exited && l.sinks.size && l.control) {
        this.openOutput(id).catch((e) => this.log(`container ${id.slice(0, 12)}: output: ${messageOf(e)}`));
      }
    });
  }

  /** The last client left, or nobody may wait for the rest (rm -f): hang up the output connection. */
  private closeOutput(l: Live): void {
    const out = l.output;
    if (!out) return;
    l.output = undefined;
    l.input.close();
    out.hangUp();
  }

  /** The attached clients get the exit once the last of their output is through. */
  private deliverExit(id: string): void {
    const l = this.live.get(id);
    if (!l?.exitInfo || l.output || l.openingOutput) return;
    const info = l.exitInfo;
    l.exitInfo = undefined;
    for (const s of l.sinks) s.exit(info);
    l.sinks.clear();
    l.lagging.clear();
    if (!this.repo.get(id)) this.live.delete(id); // --rm
  }

  /**
   * The monitor's connection closed. With an exit status that is the container's end.
   * Without one the monitor may still be alive (it drops a client that falls far
   * behind): reconnect, and call it an exit only when nobody answers.
   */
  private async afterClose(id: string, exit: ExitFile | undefined, failure: string): Promise<void> {
    const l = this.state(id);
    if (!exit && existsSync(this.socketPath(id))) {
      for (let i = 0; i < 3; i++) {
        const again = await MonitorConnection.connect(this.socketPath(id)).catch(() => undefined);
        if (again) {
          this.log(`container ${id.slice(0, 12)}: reconnected to its monitor`);
          again.quiet();
          this.bindControl(id, again);
          return;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      exit = this.readExitFile(id);
    }
    if (exit && failure && !exit.error) exit.error = failure;
    l.exiting = this.onExit(id, exit)
      .catch((e) => this.log(`exit of ${id.slice(0, 12)}: ${messageOf(e)}`))
      .finally(() => {
        l.exiting = undefined;
      });
  }

  private readExitFile(id: string): ExitFile | undefined {
    try {
      return JSON.parse(readFileSync(this.exitPath(id), 'utf8')) as ExitFile;
    } catch {
      return undefined;
    }
  }

  /** Records the exit, tears down in reverse order, removes with --rm, then tells waiters. */
  private async onExit(id: string, exit: ExitFile | undefined): Promise<void> {
    const c = this.repo.get(id);
    if (!c) return;
    const usage = (() => {
      try {
        return this.o.cgroups.usage(id);
      } catch {
        return undefined;
      }
    })();
    const info: ExitInfo = {
      exitCode: exit ? exit.exitCode : 255,
      oomKilled: (usage?.oomKills ?? 0) > 0,
      error: exit ? (exit.error ?? '') : 'the container monitor died without recording an exit status',
    };
    const l = this.state(id);
    try {
      this.repo.markExited(id, info.exitCode, info.oomKilled, info.error, exit ? Math.round(exit.finishedAt / 1e6) : Date.now());
    } catch (e) {
      // Not recorded (no space even with the reserve): the run dir keeps the monitor's
      // exit file, the ground truth, for the next start; everyone waiting is told now.
      this.log(`exit of ${id.slice(0, 12)} not recorded: ${messageOf(e)}`);
      for (const w of l.waiters.splice(0)) w(info);
      l.exitInfo = info;
      this.deliverExit(id);
      throw e;
    }
    try {
      crashPoint('exit.recorded');
      await this.teardown(c);
      crashPoint('exit.teardown');
      if (c.spec.autoRemove) await this.removeFiles(c);
    } finally {
      for (const w of l.waiters.splice(0)) w(info);
      l.exitInfo = info;
      this.deliverExit(id);
    }
  }

  private async teardown(c: ContainerRow): Promise<void> {
    const steps: Promise<unknown>[] = [];
    if (this.o.network) steps.push(this.o.network.detach(c));
    steps.push(this.o.cgroups.remove(c.id));
    const results = await Promise.allSettled(steps);
    for (const r of results) if (r.status === 'rejected') this.log(`teardown ${c.id.slice(0, 12)}: ${messageOf(r.reason)}`);
    removeTree(this.runDir(c.id));
  }

  private async removeFiles(c: ContainerRow): Promise<void> {
    this.repo.remove(c.id);
    crashPoint('rm.row');
    removeTree(this.bundleDir(c.id));
  }

  // ---- signals, stop, wait ---------------------------------------------------

  /** Resolves once the exit is recorded (or the container removed); an abort drops the waiter. */
  waitExit(id: string, signal?: AbortSignal): Promise<ExitInfo> {
    return new Promise((resolve) => {
      const waiters = this.state(id).waiters;
      waiters.push(resolve);
      signal?.addEventListener('abort', () => {
        const i = waiters.indexOf(resolve);
        if (i >= 0) waiters.splice(i, 1);
      }, { once: true });
    });
  }

  async wait(ref: string): Promise<ExitInfo> {
    const c = this.repo.find(ref);
    const l = this.state(c.id);
    if (l.starting) await l.starting.catch(() => {});
    if (l.exiting) await l.exiting;
    const now = this.repo.get(c.id);
    if (!now) return { exitCode: c.exitCode, oomKilled: c.oomKilled, error: c.error };
    if (now.state === 'running') return this.waitExit(c.id);
    if (now.state === 'created') {
      // Docker's "wait" on a created container waits for it to run and exit.
      return this.waitExit(c.id);
    }
    return { exitCode: now.exitCode, oomKilled: now.oomKilled, error: now.error };
  }

  async kill(ref: string, signal: string): Promise<void> {
    const sig = parseSignal(signal);
    const c = this.repo.find(ref);
    const l = this.live.get(c.id);
    if (c.state !== 'running' || !l?.control) throw wrongState(`container ${c.name} is not running`);
    l.control.signal(sig);
  }

  async stop(ref: string, timeoutSec: number): Promise<void> {
    const c = this.repo.find(ref);
    const l = this.live.get(c.id);
    if (c.state !== 'running' || !l?.control) return;
    const exited = this.waitExit(c.id);
    l.control.signal(parseSignal(c.spec.stopSignal, 'SIGTERM'));
    const timeout = timeoutSec < 0 ? 10 : timeoutSec;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      exited.then(() => false),
      new Promise<boolean>((r) => {
        timer = setTimeout(() => r(true), timeout * 1000);
      }),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      l.control?.signal(osConstants.signals.SIGKILL);
      await exited;
    }
  }

  async remove(ref: string, force: boolean): Promise<void> {
    const c = this.repo.find(ref);
    const l = this.state(c.id);
    if (l.removing) return;
    if (l.starting) await l.starting.catch(() => {});
    const now = this.repo.get(c.id);
    if (!now) return;
    if (now.state === 'running' && !force) {
      throw wrongState(`you cannot remove a running container ${c.id.slice(0, 12)}: stop it first or use rm -f`);
    }
    l.removing = true;
    try {
      if (now.state === 'running') {
        const exited = this.waitExit(c.id);
        l.control?.signal(osConstants.signals.SIGKILL);
        await exited;
      }
      if (l.exiting) await l.exiting;
      // An attached client that stopped reading must not keep the container: it gets the exit now.
      this.closeOutput(l);
      this.deliverExit(c.id);
      const row = this.repo.get(c.id);
      if (!row) return;
      // From here on a restart finishes the removal (recover()).
      this.repo.markDead(c.id);
      crashPoint('rm.dead');
      await this.teardown(row);
      crashPoint('rm.teardown');
      await this.removeFiles(row);
      // Nobody may wait forever on a container that no longer exists (wait, attach).
      const last: ExitInfo = { exitCode: row.exitCode, oomKilled: row.oomKilled, error: row.error };
      for (const s of l.sinks) s.exit(last);
      for (const w of l.waiters.splice(0)) w(last);
      this.live.delete(c.id);
    } finally {
      l.removing = false;
    }
  }

  // ---- attach, logs ----------------------------------------------------------

  /**
   * Subscribes to a container's output. A created container is attached before it
   * starts, so a foreground run sees everything. Returns handles for input and detach.
   */
  attach(ref: string, sink: OutputSink) {
    const c = this.repo.find(ref);
    // An exited container may be attached too: `start -a` attaches, then starts it.
    if (c.state === 'dead') throw wrongState(`container ${c.name} is dead: remove it`);
    const l = this.state(c.id);
    l.sinks.add(sink);
    // A created container connects its clients when it starts.
    if (c.state === 'running') this.openOutput(c.id).catch((e) => this.log(`attach ${c.id.slice(0, 12)}: ${messageOf(e)}`));
    return {
      id: c.id,
      tty: c.spec.tty,
      /** false: stop reading this client until onInputDrain() */
      stdin: (data: Buffer) => l.input.push({ kind: 'stdin', data }),
      closeStdin: () => l.input.push({ kind: 'close' }),
      resize: (rows: number, cols: number) => l.input.push({ kind: 'resize', rows, cols }),
      onInputDrain: (fn: () => void) => l.input.onDrain(fn),
      signal: (sig: number) => l.control?.signal(sig),
      /** The sink caught up: resume the output when no other sink is behind. */
      drained: () => this.unlag(l, sink),
      detach: () => {
        l.sinks.delete(sink);
        this.unlag(l, sink);
        if (!l.sinks.size) this.closeOutput(l);
      },
    };
  }

  private unlag(l: Live, sink: OutputSink): void {
    if (l.lagging.delete(sink) && l.lagging.size === 0) l.output?.resume();
  }

  /**
   * The container's log, read from its files (never from its live output: a slow
   * reader must not hold the container back). With follow it reads on until the
   * exit is recorded, then to the end of the files.
   */
  async logs(ref: string, q: LogQuery & { follow: boolean }): Promise<LogStream> {
    const c = this.repo.find(ref);
    // Docker's `logs -f` on a created container waits for it to start.
    const follow = q.follow && (c.state === 'running' || c.state === 'created');
    const done = new AbortController();
    const ended = follow ? this.waitExit(c.id, done.signal) : undefined;
    const { tail, sinceNs, untilNs } = q;
    return LogStream.open(this.logPath(c.id), { tail, sinceNs, untilNs }, { ...(ended ? { follow: { ended } } : {}), onClose: () => done.abort() });
  }

  // ---- exec, top, stats ------------------------------------------------------

  /**
   * Runs a process in a running container through an exec-monitor (`tdock-shim
   * exec`), which joins init's namespaces and relays like a monitor. The sink gets
   * output and the exit; the returned handle takes input.
   */
  async exec(ref: string, req: ExecRequest, sink: OutputSink) {
    const c = this.repo.find(ref);
    const l = this.live.get(c.id);
    if (c.state !== 'running' || !l?.control || !l.initStartTime) throw wrongState(`container ${c.name} is not running`);
    if (!req.cmd.length) throw invalid('no command given: tdock exec CONTAINER COMMAND [ARG...]');
    const spec = c.spec;
    const cwd = req.workdir || spec.cwd;
    if (!cwd.startsWith('/')) throw invalid(`the working directory "${cwd}" is invalid: it needs to be an absolute path`);
    const { ids: user, home } = this.resolveUserFor(c.imageId, req.user || spec.user);
    const env = withHome(mergeEnv(spec.env, req.tty ? ['TERM=xterm'] : [], req.env), home);
    const execId = randomBytes(4).toString('hex');
    const runDir = this.runDir(c.id);
    const file = join(runDir, `e-${execId}.json`);
    const socket = join(runDir, `e-${execId}.sock`);
    const exitPath = join(runDir, `e-${execId}.exit.json`);
    const config = {
      initPid: c.pid,
      initStartTime: Number(l.initStartTime),
      args: req.cmd,
      env,
      cwd,
      user,
      tty: req.tty,
      openStdin: req.openStdin,
      capabilities: DEFAULT_CAPABILITIES,
      noNewPrivileges: true,
      // Like Docker's: an exec gets the container's profile.
      seccomp: securityOptions(spec.securityOpt).seccomp,
      // Only for `tdock-shim exec` (the fallback): an EXEC ignores it.
      cgroupProcs: this.o.cgroups.paths(c.id).map((p) => join(p, 'cgroup.procs')),
      socket,
      exitPath,
    };
    const cleanup = () => {
      for (const f of [file, socket, exitPath]) rmSync(f, { force: true });
    };
    writeFileSync(file, JSON.stringify(config));
    let conn: MonitorConnection;
    try {
      await this.startExecMonitor(l.control, file);
      conn = await MonitorConnection.connect(socket);
    } catch (e) {
      cleanup();
      throw wrongState(`cannot exec in container ${c.name}: ${messageOf(e)}`);
    }
    let exit: ExitFile | undefined;
    let failure = '';
    conn.on('output', (stream, data) => {
      if (sink.output(stream, data) === false) conn.pause();
    });
    conn.on('failure', (msg) => {
      failure = msg;
    });
    conn.on('exit', (e) => {
      exit = e;
    });
    conn.on('close', () => {
      exit ??= (() => {
        try {
          return JSON.parse(readFileSync(exitPath, 'utf8')) as ExitFile;
        } catch {
          return undefined;
        }
      })();
      cleanup();
      sink.exit({
        exitCode: exit ? exit.exitCode : 255,
        oomKilled: false,
        error: exit?.error || failure || (exit ? '' : 'the exec monitor died without recording an exit status'),
      });
    });
    conn.start();
    const input = new InputQueue();
    input.open(conn);
    return {
      stdin: (data: Buffer) => input.push({ kind: 'stdin', data }),
      closeStdin: () => input.push({ kind: 'close' }),
      resize: (rows: number, cols: number) => input.push({ kind: 'resize', rows, cols }),
      onInputDrain: (fn: () => void) => input.onDrain(fn),
      // On a connection of its own: never behind the exec's stdin.
      signal: (sig: number) => {
        MonitorConnection.signalOnce(socket, sig).catch(() => {});
      },
      drained: () => conn.resume(),
      detach: () => conn.close(),
    };
  }

  /**
   * The container's monitor forks the exec-monitor (EXEC frame): born in the
   * container's cgroups, it needs no cgroup migration, the first of which after an
   * idle moment waits for an RCU grace period on cgroup v1 (~11 ms). The daemon
   * runs `tdock-shim exec` itself (its child migrates into the cgroups) when the
   * monitor predates EXEC or went away, and when the fork hit the pids limit: a
   * migration is not bound by pids.max, so an exec still works in a full container.
   */
  private async startExecMonitor(conn: MonitorConnection | undefined, file: string): Promise<void> {
    if (conn?.features.has('exec')) {
      try {
        await conn.exec(file);
        return;
      } catch (e) {
        if (e instanceof ExecRefused && !/^fork\b[^:]*: Resource temporarily unavailable$/.test(e.message)) throw e;
      }
    }
    await spawnMonitor(this.o.shim, file, 'exec');
  }

  /** The container's processes, with their pids on the host and inside. */
  top(ref: string): { titles: string[]; processes: { cols: string[] }[] } {
    const c = this.repo.find(ref);
    if (c.state !== 'running') throw wrongState(`container ${c.name} is not running`);
    const tick = 100; // USER_HZ on Linux
    // The monitor and exec-monitors share the cgroups but not the pid namespace: not listed.
    const ns = pidNamespace(c.pid);
    const rows = this.o.cgroups.procs(c.id).filter((pid) => pidNamespace(pid) === ns).map(procInfo).filter((p) => p !== undefined);
    const shift = this.o.idMaps.uid.start;
    return {
      titles: ['PID', 'CONTAINER PID', 'PPID', 'USER', 'STAT', 'TIME', 'COMMAND'],
      processes: rows.map((p) => {
        const secs = Math.floor(p.cpuTicks / tick);
        const uid = p.uid >= shift && p.uid < shift + this.o.idMaps.uid.size ? p.uid - shift : p.uid;
        return {
          cols: [String(p.pid), String(p.nsPid), String(p.ppid), uid === 0 ? 'root' : String(uid), p.state,
            `${String(Math.floor(secs / 60)).padStart(2, '0')}:${String(secs % 60).padStart(2, '0')}`, p.cmd],
        };
      }),
    };
  }

  /** One sample of a running container's cgroup counters. */
  usage(ref: string) {
    const c = this.repo.find(ref);
    return { id: c.id, name: c.name, running: c.state === 'running', usage: c.state === 'running' ? this.o.cgroups.usage(c.id) : undefined };
  }

  // ---- queries ---------------------------------------------------------------

  list(all: boolean) {
    return this.repo.all().filter((c) => all || c.state === 'running').map((c) => this.summary(c));
  }

  summary(c: ContainerRow) {
    return {
      id: c.id,
      name: c.name,
      image: c.imageRef,
      command: c.spec.args.map((a) => (/\s/.test(a) ? `'${a}'` : a)).join(' '),
      created: Math.floor(c.created / 1000),
      state: c.state,
      status: statusText(c),
      // Like Docker: published ports are shown while they are published.
      ports: c.state === 'running' ? (this.o.network ? this.o.network.ports(c) : c.spec.ports) : [],
      pid: c.pid,
      exitCode: c.exitCode,
      oomKilled: c.oomKilled,
    };
  }

  inspect(ref: string): Record<string, unknown> {
    const c = this.repo.find(ref);
    const iso = (ms: number) => (ms ? new Date(ms).toISOString() : '0001-01-01T00:00:00Z');
    const namespaces: Record<string, { Path: string; Id: string }> = {};
    if (c.state === 'running' && c.pid) {
      for (const ns of ['user', 'mnt', 'pid', 'net', 'uts', 'ipc', 'cgroup']) {
        const path = `/proc/${c.pid}/ns/${ns}`;
        try {
          namespaces[ns] = { Path: path, Id: readlinkSync(path) };
        } catch {
          /* gone meanwhile */
        }
      }
    }
    const lower = this.o.images.layerDirs(c.imageId);
    const dir = this.bundleDir(c.id);
    return {
      Id: c.id,
      Created: iso(c.created),
      Path: c.spec.args[0],
      Args: c.spec.args.slice(1),
      State: {
        Status: c.state,
        Running: c.state === 'running',
        Paused: c.state === 'paused',
        Restarting: c.state === 'restarting',
        OOMKilled: c.oomKilled,
        Dead: c.state === 'dead',
        Pid: c.pid,
        ExitCode: c.exitCode,
        Error: c.error,
        StartedAt: iso(c.started),
        FinishedAt: iso(c.finished),
      },
      Image: c.imageId,
      Name: `/${c.name}`,
      LogPath: this.logPath(c.id),
      Config: {
        Hostname: c.spec.hostname,
        User: c.spec.user,
        Tty: c.spec.tty,
        OpenStdin: c.spec.openStdin,
        Env: c.spec.env,
        Cmd: c.spec.cmd,
        Entrypoint: c.spec.entrypoint.length ? c.spec.entrypoint : null,
        WorkingDir: c.spec.cwd,
        Image: c.imageRef,
        StopSignal: c.spec.stopSignal,
      },
      HostConfig: {
        AutoRemove: c.spec.autoRemove,
        NetworkMode: c.spec.network,
        Memory: c.spec.resources.memory ?? 0,
        MemorySwap: c.spec.resources.memorySwap ?? 0,
        PidsLimit: c.spec.resources.pidsLimit ?? 0,
        NanoCpus: Math.round((c.spec.resources.cpus ?? 0) * 1e9),
        Dns: c.spec.dns,
        // Docker's: as given, null when none.
        SecurityOpt: c.spec.securityOpt?.length ? c.spec.securityOpt : null,
        CgroupParent: this.o.cgroups.paths(c.id)[0] ?? '',
        LogConfig: logConfigView(this.logConfigOf(c)),
      },
      GraphDriver: {
        Name: 'overlay',
        Data: { LowerDir: lower.join(':'), UpperDir: join(dir, 'upper'), WorkDir: join(dir, 'work'), MergedDir: join(dir, 'rootfs') },
      },
      NetworkSettings: this.o.network?.inspect(c) ?? { Ports: {}, IPAddress: '', Gateway: '', MacAddress: '' },
      // Not in Docker's output: where the container's namespaces are and how ids map.
      Namespaces: namespaces,
      IdMappings: {
        UidMap: [{ ContainerID: 0, HostID: this.o.idMaps.uid.start, Size: this.o.idMaps.uid.size }],
        GidMap: [{ ContainerID: 0, HostID: this.o.idMaps.gid.start, Size: this.o.idMaps.gid.size }],
      },
      CgroupPaths: this.o.cgroups.paths(c.id),
    };
  }

  // ---- daemon restart --------------------------------------------------------

  /**
   * Reconciles SQLite with what is really running, and finishes what a crash cut
   * short (Docker does the same on restore): reconnects to live monitors, records
   * the exits that happened while the daemon was away, removes --rm containers that
   * are not running and containers whose removal had begun, tears down what stopped
   * containers left (cgroups, run dirs; the network reconciled itself at its set-up),
   * and removes bundle and run directories that have no row.
   */
  async recover(): Promise<void> {
    this.removeOrphanDirs();
    // A start the previous daemon never finished: its monitor waits for START forever.
    for (const c of this.repo.all().filter((r) => r.state === 'created' || r.state === 'exited' || r.state === 'dead')) {
      const sock = this.socketPath(c.id);
      if (!existsSync(sock)) continue;
      const conn = await MonitorConnection.connect(sock).catch(() => undefined);
      if (!conn) continue;
      this.log(`container ${c.id.slice(0, 12)}: ending the monitor of a start that never finished`);
      const closed = new Promise<void>((r) => conn.once('close', () => r()));
      conn.signal(osConstants.signals.SIGKILL);
      await closed;
    }
    for (const c of this.repo.live()) {
      const sock = this.socketPath(c.id);
      let conn: MonitorConnection | undefined;
      if (existsSync(sock)) conn = await MonitorConnection.connect(sock).catch(() => undefined);
      if (conn) {
        conn.quiet();
        this.bindControl(c.id, conn);
        this.state(c.id).initStartTime = startTime(c.pid);
        // Recorded as running but cut off before START: let it run (ignored after the first).
        conn.start();
        this.log(`recovered running container ${c.id.slice(0, 12)}`);
        continue;
      }
      const exit = this.readExitFile(c.id);
      this.log(`container ${c.id.slice(0, 12)} ${exit ? 'exited' : 'lost its monitor'} while the daemon was down`);
      await this.onExit(c.id, exit);
    }
    for (const c of this.repo.all()) {
      if (c.state === 'running') continue;
      await this.teardown(c);
      if (c.state === 'dead' || c.spec.autoRemove) {
        this.log(`container ${c.id.slice(0, 12)}: ${c.state === 'dead' ? 'finishing its removal' : 'removing it (--rm)'}`);
        await this.removeFiles(c);
        this.live.delete(c.id);
      }
    }
  }

  /** Bundle and run directories without a row: a create or an rm that a crash cut short. */
  private removeOrphanDirs(): void {
    const ids = new Set(this.repo.all().map((c) => c.id));
    const shortIds = new Set([...ids].map((id) => id.slice(0, 12)));
    const list = (d: string) => (existsSync(d) ? readdirSync(d) : []);
    for (const d of list(join(this.o.root, 'containers'))) {
      if (ids.has(d)) continue;
      this.log(`removing the directory of container ${d.slice(0, 12)}, which has no record`);
      removeTree(join(this.o.root, 'containers', d));
    }
    for (const d of list(join(this.o.execRoot, 'c'))) {
      if (shortIds.has(d)) continue;
      removeTree(join(this.o.execRoot, 'c', d));
    }
  }

  /** Closes monitor connections; containers keep running. */
  close(): void {
    for (const l of this.live.values()) {
      for (const conn of [l.control, l.output]) {
        conn?.removeAllListeners('close');
        conn?.close();
      }
    }
  }

  runningCount(): number {
    return this.repo.live().length;
  }
}
