// The container engine's entry point: what the API calls. It prepares plain
// configuration (dirs, cgroups, config.json) and lets the shim's monitor do everything
// that needs namespaces; it never sees gRPC types. The work is done by:
//   lifecycle.ts   start/stop/kill/rm/wait and their races (the state machine)
//   supervisor.ts  each container's monitor connections, output, input, the exit
//   exec.ts        exec through an exec-monitor
//   recovery.ts    reconciling with reality after a daemon restart
//   bundle.ts, image-files.ts, shim-config.ts   files on disk and for the shim
//   host.ts        the operating system as far as monitors go (fakeable in unit tests)
import { rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Db } from '../store/db.ts';
import { ContainerRepository, type ContainerRow } from './repository.ts';
import { buildSpec, logConfig, restartPolicyOf, securityOptions, type CreateInput } from './spec.ts';
import { randomName, checkName, newContainerId } from './names.ts';
import { statusText } from './status.ts';
import { conflict, invalid, wrongState, messageOf } from '../errors.ts';
import { crashPoint } from '../crash.ts';
import { LogStream, type LogQuery } from '../runtime/logstream.ts';
import { DEFAULT_LOG_CONFIG, type LogConfig } from '../../proto/log-opt.ts';
import { BundleLayout } from './bundle.ts';
import { resolveImageUser } from './image-files.ts';
import { realHost } from './host.ts';
import { MonitorSupervisor } from './supervisor.ts';
import { Lifecycle } from './lifecycle.ts';
import { runExec, type ExecSession } from './exec.ts';
import { recover } from './recovery.ts';
import { HealthMonitors } from './health.ts';
import { containerEvent } from './events.ts';
import { NO_EVENTS } from '../events/types.ts';
import type { HealthState } from '../health/schedule.ts';
import type { InspectView, ProcessesView } from '../api/presenter.ts';
import { VolumeStore } from '../volumes/store.ts';
import { notIdmappable } from '../runtime/idmapped.ts';
import { createWarnings, checkBindSources, idmapOf } from './mount-sources.ts';
import type { MountPoint } from './mounts.ts';
import type { EngineContext, EngineOptions, ExecRequest, ExitInfo, OutputSink } from './types.ts';

export type { ImageSource, NetworkHooks, EngineOptions, ExitInfo, OutputSink, ExecRequest } from './types.ts';

export class Engine {
  readonly repo: ContainerRepository;
  private readonly o: EngineOptions;
  private readonly ctx: EngineContext;
  private readonly sup: MonitorSupervisor;
  private readonly life: Lifecycle;
  private readonly health: HealthMonitors;
  private readonly log: (msg: string) => void;

  constructor(db: Db, opts: EngineOptions) {
    this.repo = new ContainerRepository(db);
    this.o = opts;
    this.log = opts.log ?? (() => {});
    // A rootless daemon is root in its own user namespace (daemon/rootless): it owns
    // and chowns its files as root does; only a plain-user daemon could not.
    const plainUser = opts.rootless && process.getuid?.() !== 0;
    const layout = new BundleLayout(opts.root, opts.execRoot, opts.idMaps, plainUser);
    layout.init();
    // Rootless, the daemon cannot make idmapped mounts (that needs root over the file
    // system's own user namespace, the host's): volume data belongs to the container's
    // root (the user's first subordinate id outside), and its directories let that id through.
    const volumeIdmap = !opts.rootless && notIdmappable(opts.root) === undefined;
    const volumes = new VolumeStore(db, opts.root, {
      ...(plainUser ? {} : { rootGid: opts.idMaps.gid.start }),
      ...(volumeIdmap || plainUser ? {} : { plainOwner: { uid: opts.idMaps.uid.start, gid: opts.idMaps.gid.start } }),
    });
    this.ctx = { repo: this.repo, o: opts, host: opts.host ?? realHost, layout, log: this.log, volumes, volumeIdmap, events: opts.events ?? NO_EVENTS };
    this.sup = new MonitorSupervisor(this.ctx, (id, exit) => this.life.onExit(id, exit));
    this.health = new HealthMonitors(this.ctx, this.sup);
    this.life = new Lifecycle(this.ctx, this.sup, {
      running: (c) => this.health.start(c),
      stopped: (id) => void this.health.stop(id),
      removed: (id) => this.health.forget(id),
    });
  }

  private get layout(): BundleLayout { return this.ctx.layout; }
  /** Local volumes (the Volumes API works on them directly). */
  get volumes(): VolumeStore { return this.ctx.volumes; }
  private get logDefaults(): LogConfig { return this.o.logDefaults ?? DEFAULT_LOG_CONFIG; }

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
    restartPolicyOf(req);
    const image = await this.o.images.ensure(req.image);
    const id = newContainerId((prefix) => this.repo.shortIdTaken(prefix));
    const spec = buildSpec(req, image.config, id, this.o.network ? 'bridge' : 'none', this.logDefaults);
    const name = req.name || randomName((n) => this.repo.nameTaken(n) !== undefined);
    const lower = this.o.images.layerDirs(image.id);
    // Check the user now so that a typo fails at create, not at start.
    resolveImageUser(lower, spec.user);

    const points = spec.mounts ?? [];
    // --mount type=bind refuses a missing source now (Docker); -v makes it at start.
    checkBindSources(points);
    const warnings = createWarnings(points, this.ctx);
    const made: string[] = [];
    try {
      for (const p of points) {
        if (p.type !== 'volume') continue;
        if (this.ctx.volumes.create(p.name, {}, p.anonymous).made) made.push(p.name);
        p.source = this.ctx.volumes.mountpoint(p.name);
      }
      this.layout.make(id, lower);
      this.ctx.volumes.transaction(() => {
        this.repo.insert({ id, name, imageId: image.id, imageRef: req.image, spec, created: Date.now() });
        this.ctx.volumes.use(id, points.filter((p) => p.type === 'volume').map((p) => p.name));
      });
      crashPoint('create.row');
      containerEvent(this.ctx, { id, name, imageRef: req.image }, 'create');
    } catch (e) {
      rmSync(this.layout.bundleDir(id), { recursive: true, force: true });
      // Volumes this create made go with it: bad input leaves nothing.
      for (const n of made) {
        try {
          this.ctx.volumes.remove(n, true);
        } catch (err) {
          this.log(`create: removing volume ${n}: ${messageOf(err)}`);
        }
      }
      if (e instanceof Error && /UNIQUE constraint failed: containers.name/.test(e.message)) {
        throw conflict(`the container name "/${name}" is already in use; remove (or rename) that container to reuse the name`);
      }
      throw e;
    }
    return { id, name, warnings: [...warnings, ...this.unenforced(spec.resources)] };
  }

  /** Docker's kind of warning for each limit asked for but not enforced (never a silent no-op). */
  private unenforced(r: { memory?: number; memorySwap?: number; cpus?: number; pidsLimit?: number }): string[] {
    const user = this.o.limitsNotEnforcedFor;
    if (user === undefined) return [];
    const asked = [r.memory ? 'memory' : '', r.memorySwap && !r.memory ? 'memory+swap' : '', r.cpus ? 'cpu' : '', r.pidsLimit ? 'pids' : ''].filter(Boolean);
    return asked.map((what) => `${what} limit not enforced: no delegated cgroup for user ${user}`);
  }

  // ---- the state machine (lifecycle.ts) --------------------------------------

  start(ref: string): Promise<void> { return this.life.start(ref); }
  /** `by: 'daemon'`: a shutdown stopping containers (not a user stop: unless-stopped comes back). */
  stop(ref: string, timeoutSec: number, by: 'user' | 'daemon' = 'user'): Promise<void> { return this.life.stop(ref, timeoutSec, by); }
  restart(ref: string, timeoutSec: number): Promise<void> { return this.life.restart(ref, timeoutSec); }
  kill(ref: string, signal: string): Promise<void> { return this.life.kill(ref, signal); }
  /** volumes: rm -v, the container's anonymous volumes go too. */
  remove(ref: string, force: boolean, volumes = false): Promise<void> { return this.life.remove(ref, force, volumes); }
  wait(ref: string): Promise<ExitInfo> { return this.life.wait(ref); }

  // ---- attach, logs, exec ----------------------------------------------------

  /**
   * Subscribes to a container's output. A created container is attached before it
   * starts, so a foreground run sees everything. Returns handles for input and detach.
   */
  attach(ref: string, sink: OutputSink) {
    const c = this.repo.find(ref);
    // An exited container may be attached too: `start -a` attaches, then starts it.
    if (c.state === 'dead') throw wrongState(`container ${c.name} is dead: remove it`);
    const l = this.sup.state(c.id);
    l.sinks.add(sink);
    containerEvent(this.ctx, c, 'attach');
    // A created container connects its clients when it starts.
    if (c.state === 'running') this.sup.openOutput(c.id).catch((e) => this.log(`attach ${c.id.slice(0, 12)}: ${messageOf(e)}`));
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
      drained: () => this.sup.unlag(l, sink),
      detach: () => {
        l.sinks.delete(sink);
        this.sup.unlag(l, sink);
        if (!l.sinks.size) this.sup.closeOutput(l);
      },
    };
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
    const ended = follow ? this.sup.waitExit(c.id, done.signal) : undefined;
    const { tail, sinceNs, untilNs } = q;
    return LogStream.open(this.layout.logPath(c.id), { tail, sinceNs, untilNs }, { ...(ended ? { follow: { ended } } : {}), onClose: () => done.abort() });
  }

  /** Runs a process in a running container (exec.ts); Docker's exec_create, exec_start and exec_die events. */
  async exec(ref: string, req: ExecRequest, sink: OutputSink): Promise<ExecSession> {
    const c = this.repo.find(ref);
    const execID = randomBytes(32).toString('hex');
    const what = req.cmd.join(' ');
    const session = await runExec(this.ctx, this.sup, ref, req, {
      output: (stream, data) => sink.output(stream, data),
      exit: (info) => {
        containerEvent(this.ctx, c, 'exec_die', { execID, exitCode: String(info.exitCode) });
        sink.exit(info);
      },
    });
    containerEvent(this.ctx, c, `exec_create: ${what}`, { execID });
    containerEvent(this.ctx, c, `exec_start: ${what}`, { execID });
    return session;
  }

  // ---- queries ---------------------------------------------------------------

  /** The container's processes (api/presenter.ts makes `top`'s table of them). */
  processes(ref: string): ProcessesView {
    const c = this.repo.find(ref);
    if (!this.initAlive(c)) throw wrongState(`container ${c.name} is not running`);
    // The monitor and exec-monitors share the cgroups but not the pid namespace: not listed.
    const { host } = this.ctx;
    const ns = host.pidNamespace(c.pid);
    const rows = this.o.cgroups.procs(c.id).filter((pid) => host.pidNamespace(pid) === ns).map((pid) => host.procInfo(pid)).filter((p) => p !== undefined);
    return { rows, idMaps: this.o.idMaps };
  }

  /** Running, and its pid still names its init (the start time recorded at its start). */
  private initAlive(c: ContainerRow): boolean {
    return c.state === 'running' && c.pid > 0 && c.initStartTime !== '' && this.ctx.host.startTime(c.pid) === c.initStartTime;
  }

  /** One sample of a running container's cgroup counters. */
  usage(ref: string) {
    const c = this.repo.find(ref);
    return { id: c.id, name: c.name, running: c.state === 'running', usage: c.state === 'running' ? this.o.cgroups.usage(c.id) : undefined };
  }

  list(all: boolean) {
    // Like Docker's: one waiting to restart is listed without -a too.
    return this.repo.all().filter((c) => all || c.state === 'running' || c.state === 'restarting').map((c) => this.summary(c));
  }

  summary(c: ContainerRow) {
    const health = c.state === 'running' && this.health.active(c.id) ? this.health.state(c.id) : undefined;
    return {
      id: c.id,
      name: c.name,
      image: c.imageRef,
      command: c.spec.args.map((a) => (/\s/.test(a) ? `'${a}'` : a)).join(' '),
      created: Math.floor(c.created / 1000),
      state: c.state,
      // Docker's: "Up 3 seconds (healthy)", "(health: starting)", "(unhealthy)".
      status: statusText(c) + (health ? (health.status === 'starting' ? ' (health: starting)' : ` (${health.status})`) : ''),
      // Like Docker: published ports are shown while they are published.
      ports: c.state === 'running' ? (this.o.network ? this.o.network.ports(c) : c.spec.ports) : [],
      pid: c.pid,
      exitCode: c.exitCode,
      oomKilled: c.oomKilled,
      labels: Object.keys(c.spec.labels ?? {}).sort().map((k) => `${k}=${c.spec.labels![k]}`),
      networks: [c.spec.network],
      // docker ps's MOUNTS: a volume by name, anything else by its source
      mounts: (c.spec.mounts ?? []).map((m) => (m.type === 'volume' ? m.name : m.source)).filter(Boolean),
      imageId: c.imageId,
      createdMs: c.created,
    };
  }

  /** What `system df` counts of a container: its writable layer, and its log file (rotated ones beside it). */
  diskPaths(id: string): { upper: string; log: string } {
    return { upper: join(this.layout.bundleDir(id), 'upper'), log: this.layout.logPath(id) };
  }

  /** What `inspect` shows (api/presenter.ts makes Docker's document of it). */
  inspectView(ref: string): InspectView {
    const c = this.repo.find(ref);
    const dir = this.layout.bundleDir(c.id);
    return {
      c,
      logPath: this.layout.logPath(c.id),
      log: this.life.logConfigOf(c),
      lowerDirs: this.o.images.layerDirs(c.imageId),
      upperDir: join(dir, 'upper'),
      workDir: join(dir, 'work'),
      mergedDir: join(dir, 'rootfs'),
      networkSettings: this.o.network?.inspect({ ...c, ...(c.pid ? { netns: this.ctx.layout.netnsPath(c.id) } : {}) }),
      namespaces: this.initAlive(c) ? this.ctx.host.namespaceLinks(c.pid, ['user', 'mnt', 'pid', 'net', 'uts', 'ipc', 'cgroup']) : {},
      idMaps: this.o.idMaps,
      cgroupPaths: this.o.cgroups.paths(c.id),
      health: this.healthOf(c),
    };
  }

  /** State.Health: only for a container with a probe (not Test ["NONE"]), as Docker's. */
  healthOf(c: ContainerRow): HealthState | undefined {
    const h = c.spec.healthcheck;
    if (!h || !h.Test.length || h.Test[0] === 'NONE') return undefined;
    // Like Docker's, none before the first start (and none kept across a daemon restart).
    return this.health.state(c.id) ?? (c.state === 'running' ? { status: 'starting', failingStreak: 0, log: [] } : undefined);
  }

  // ---- daemon restart and shutdown -------------------------------------------

  /** Reconciles SQLite with what is really running (recovery.ts). */
  async recover(): Promise<void> {
    await recover(this.ctx, this.sup, this.life);
    // Probes start again for the containers found running (from "starting": the
    // previous daemon's results were in its memory).
    for (const c of this.repo.live()) if (c.state === 'running') this.health.start(c);
  }

  /** Closes monitor connections; containers keep running. */
  /** Daemon shutdown: restart-policy starts end (cancelled, or finished if under way). */
  quiesce(): Promise<void> { return this.life.quiesce(); }

  close(): void {
    this.life.close();
    this.health.stopAll();
    this.sup.close();
  }

  runningCount(): number {
    return this.repo.live().length;
  }

  /** What the file verbs (cp, diff, export, commit: daemon/files/) need of a container. */
  /**
   * commit -p: freezes a running container's processes (its cgroup's freezer) and returns
   * the thaw; undefined when it is not running. Docker's pause and unpause events around it.
   */
  async pauseForCommit(ref: string): Promise<(() => Promise<void>) | undefined> {
    const c = this.repo.find(ref);
    if (c.state !== 'running') return undefined;
    try {
      await this.o.cgroups.freeze(c.id, true);
    } catch (e) {
      throw wrongState(`container ${c.name}: ${(e as Error).message}`);
    }
    containerEvent(this.ctx, c, 'pause');
    return async () => {
      await this.o.cgroups.freeze(c.id, false);
      containerEvent(this.ctx, c, 'unpause');
    };
  }

  /** Whether a bind or volume of a container is mounted idmapped: its files then keep the container's ids on disk. */
  mountIdmapped(p: MountPoint): boolean {
    return idmapOf(p, this.ctx);
  }

  fileTarget(ref: string): FileTarget {
    const c = this.repo.find(ref);
    const dir = this.layout.bundleDir(c.id);
    return {
      c,
      bundleDir: dir,
      upper: join(dir, 'upper'),
      work: join(dir, 'work'),
      rootfs: join(dir, 'rootfs'),
      lower: this.o.images.layerDirs(c.imageId),
      // a start in progress counts as running: its monitor is mounting the overlay
      live: c.state === 'running' || c.state === 'paused' || c.state === 'restarting' || this.sup.peek(c.id)?.starting !== undefined,
      initStartTime: this.sup.peek(c.id)?.initStartTime,
    };
  }
}

export interface FileTarget {
  c: ContainerRow;
  bundleDir: string;
  upper: string;
  work: string;
  /** where the monitor mounts the overlay (in its own mount namespace) */
  rootfs: string;
  /** the image's layer dirs, top first */
  lower: string[];
  /** running (or starting): its merged view is its init's root */
  live: boolean;
  /** /proc start time of init (c.pid), to tell it from a process that reused the pid */
  initStartTime: string | undefined;
}
