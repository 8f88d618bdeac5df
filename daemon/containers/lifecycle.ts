// The container state machine: start → running → exited → removed (→ restarting →
// running, by the restart policy), and the races between start, exit, stop/kill, rm
// and a pending restart. A start that rm overtakes must not bring the
// container back; an exit during a start tears down once; rm -f never waits on a
// client that stopped reading.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { constants as osConstants } from 'node:os';
import type { ContainerRow } from './repository.ts';
import { securityOptions, withHome } from './spec.ts';
import { parseSignal } from './signals.ts';
import { EngineError, notFound, wrongState, messageOf } from '../errors.ts';
import type { ExitFile, Started } from '../runtime/monitor.ts';
import { crashPoint } from '../crash.ts';
import { DEFAULT_LOG_CONFIG, type LogConfig } from '../../proto/log-opt.ts';
import { removeTree } from './bundle.ts';
import { resolveImageUser } from './image-files.ts';
import { monitorConfig } from './shim-config.ts';
import { prepareMounts } from './mount-sources.ts';
import type { MonitorSupervisor } from './supervisor.ts';
import type { EngineContext, ExitInfo } from './types.ts';
import { NO_RESTART } from '../../lib/restart-policy.ts';
import { RestartManager, realTimer } from './restart-policy.ts';
import { containerEvent } from './events.ts';

/** What else happens when a container starts running, stops, or is removed (healthchecks). */
export interface LifecycleHooks {
  running(c: ContainerRow): void;
  stopped(id: string): void;
  removed(id: string): void;
}

const NO_HOOKS: LifecycleHooks = { running: () => {}, stopped: () => {}, removed: () => {} };
import { heldUntil } from '../files/holds.ts';

export class Lifecycle {
  private readonly ctx: EngineContext;
  private readonly sup: MonitorSupervisor;
  /** Each container's restart manager, from its last start by the user (Docker's, in memory). */
  private readonly restarts = new Map<string, RestartManager>();
  private readonly hooks: LifecycleHooks;
  /** Restart-policy starts under way (the back-off ended): a shutdown waits for them. */
  private readonly policyStarts = new Set<Promise<void>>();
  /** Containers inside `tdock restart`: the exit its stop causes removes nothing (--rm). */
  private readonly userRestarts = new Set<string>();

  constructor(ctx: EngineContext, sup: MonitorSupervisor, hooks: LifecycleHooks = NO_HOOKS) {
    this.ctx = ctx;
    this.sup = sup;
    this.hooks = hooks;
  }

  /** Containers created before --log-opt existed get the daemon's default. */
  logConfigOf(c: ContainerRow): LogConfig { return c.spec.log ?? this.ctx.o.logDefaults ?? DEFAULT_LOG_CONFIG; }

  /** The container's restart manager; a new one after a start by the user. */
  private manager(c: ContainerRow): RestartManager {
    let m = this.restarts.get(c.id);
    if (!m) {
      m = new RestartManager(c.spec.restartPolicy ?? NO_RESTART, c.restartCount, this.ctx.o.restartTimer ?? realTimer);
      this.restarts.set(c.id, m);
    }
    return m;
  }

  /**
   * No restart from now on for this container (a stop, kill or rm by the user), also
   * when no manager exists yet (recovered after a daemon restart): one is made to say so.
   */
  private cancelRestarts(c: ContainerRow): void {
    if ((c.spec.restartPolicy?.name ?? 'no') !== 'no') this.manager(c).cancel();
  }

  /** Daemon shutdown: pending restarts are left to the next start (the rows say "restarting"). */
  close(): void {
    for (const m of this.restarts.values()) m.cancel();
  }

  /**
   * Daemon shutdown, before the network and cgroups go: no back-off ends from now on,
   * and a restart already starting finishes (half a start must not meet a removed bridge).
   */
  async quiesce(): Promise<void> {
    this.close();
    await Promise.allSettled([...this.policyStarts]);
  }

  /** Started by the user (start, restart, the daemon at its start): Docker's restart state begins anew. */
  async start(ref: string): Promise<void> {
    return this.startAs(this.ctx.repo.find(ref), 'user');
  }

  /** The restart policy's start, after the back-off: only if nothing changed meanwhile. */
  private async restartByPolicy(id: string, m: RestartManager): Promise<void> {
    const l = this.sup.state(id);
    while (l.exiting) await l.exiting.catch(() => {});
    const now = this.ctx.repo.get(id);
    if (!now || now.state !== 'restarting' || m.isCanceled || l.removing || l.starting) return;
    try {
      await this.startAs(now, 'policy');
    } catch (e) {
      // Docker: a restart that fails to start ends the restarts; the last exit stays.
      this.ctx.log(`restart of ${id.slice(0, 12)} failed: ${messageOf(e)}`);
      if (!m.waiting) {
        this.ctx.repo.endRestarting(id);
        this.settleWaiters(id);
      }
    }
  }

  /** A restart will not happen: whoever waits for the exit gets the last one. */
  private settleWaiters(id: string): void {
    const row = this.ctx.repo.get(id);
    const l = this.sup.peek(id);
    if (!row || !l) return;
    const last: ExitInfo = { exitCode: row.exitCode, oomKilled: row.oomKilled, error: row.error };
    for (const w of l.waiters.splice(0)) w(last);
  }

  private async startAs(c: ContainerRow, by: 'user' | 'policy'): Promise<void> {
    const l = this.sup.state(c.id);
    // Re-check after every wait: another start or an rm may have come meanwhile.
    for (;;) {
      if (l.removing) throw wrongState(`container ${c.name} is being removed`);
      if (l.starting) return l.starting;
      const held = heldUntil(c.id); // cp/export of the stopped container (daemon/files/holds.ts)
      if (held) {
        await held;
        continue;
      }
      if (!l.exiting) break;
      await l.exiting.catch(() => {});
    }
    const now = this.ctx.repo.get(c.id);
    if (!now) throw notFound(`No such container: ${c.name}`);
    if (now.state === 'running') return;
    if (now.state === 'dead') throw wrongState(`container ${c.name} is being removed`);
    if (by === 'user') {
      // Docker: one waiting to restart counts as running; starting it changes nothing.
      if (now.state === 'restarting') return;
      // Docker's restart state begins anew with every start by the user.
      this.restarts.get(c.id)?.cancel();
      this.restarts.delete(c.id);
      this.ctx.repo.markUserStarted(c.id);
    } else if (now.state !== 'restarting') {
      return;
    }
    l.starting = this.doStart(c.id).finally(() => {
      l.starting = undefined;
    });
    return l.starting;
  }

  private async doStart(id: string): Promise<void> {
    const { repo, o, host, layout } = this.ctx;
    const c = repo.find(id);
    const spec = c.spec;
    const lower = o.images.layerDirs(c.imageId);
    const { ids: user, home } = resolveImageUser(lower, spec.user);
    // A netns bind an earlier monitor could not remove (it was killed) must not keep the run dir.
    await host.releaseNetns(layout.netnsPath(id));
    const runDir = layout.freshRunDir(id);
    const netnsPath = layout.netnsPath(id);
    let cgroupsMade = false;
    let networkPrepared = false;
    let init: Started | undefined;
    const dir = layout.bundleDir(id);
    this.sup.state(id).exitInfo = undefined;
    try {
      // Before anything is made: a missing bind source fails the start here.
      const userMounts = prepareMounts(spec.mounts ?? [], this.ctx);
      // The user's mounts after the runtime's /etc files: a bind of /etc/hosts wins, as in Docker.
      const mounts = [...(o.network ? await o.network.prepare(c, dir) : []), ...userMounts];
      networkPrepared = o.network !== undefined;
      crashPoint('start.network');
      const cgroupProcs = o.cgroups.create(id, spec.resources);
      cgroupsMade = true;
      crashPoint('start.cgroups');
      const config = monitorConfig({
        c, bundleDir: dir, lower, env: withHome(spec.env, home), user, idMaps: o.idMaps, rootless: o.rootless,
        cgroupProcs, seccomp: securityOptions(spec.securityOpt).seccomp, mounts,
        socket: layout.socketPath(id), logPath: layout.logPath(id), log: this.logConfigOf(c), exitPath: layout.exitPath(id),
        netnsPath,
      });
      writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
      init = await host.spawnMonitor(o.shim, dir);
      const { pid, startTime } = init;
      crashPoint('start.monitor');
      const control = await host.connect(layout.socketPath(id));
      control.quiet();
      this.sup.bindControl(id, control);
      const l = this.sup.state(id);
      l.initStartTime = startTime;
      // Clients attached before the start (run, start -a) get the output from its
      // first byte: their connection is accepted before START.
      if (l.sinks.size) await this.sup.openOutput(id);
      if (o.network) await o.network.attach(c, netnsPath);
      crashPoint('start.attach');
      // Init died while we wired it (killed before START): its exit is recorded
      // already, and marking it running now would leave a row nothing ever ends.
      if (!l.control || l.exiting) throw new Error('the container exited while it was starting');
      repo.markStarted(id, pid, startTime, Date.now());
      crashPoint('start.running');
      l.control.start(); // the connection we hold now: a reconnect may have replaced the first
    } catch (e) {
      const msg = messageOf(e);
      this.ctx.log(`start ${id.slice(0, 12)}: ${msg}`);
      const l = this.sup.peek(id);
      l?.input.discard(); // input for a run that never happened
      if (l?.control) {
        // The monitor is up but we cannot go on: kill init; its exit does the teardown.
        l.control.signal(9);
        await this.sup.waitExit(id);
      } else {
        // A monitor we could not reach waits for START forever: end it through its init,
        // the process the monitor named with its start time (never whatever has the pid now).
        if (init) host.killProcess(init.pid, init.startTime, 'SIGKILL');
        if (networkPrepared) await o.network?.detach(c).catch(() => {});
        if (cgroupsMade) await o.cgroups.remove(id).catch(() => {});
        await host.releaseNetns(netnsPath);
        removeTree(runDir);
      }
      repo.setError(id, msg);
      // `run --rm` that never ran leaves nothing behind either.
      if (spec.autoRemove && repo.get(id)?.state !== 'running') {
        await this.removeFiles(c);
        this.sup.forget(id);
      }
      throw e instanceof EngineError ? e : new EngineError('FAILED_PRECONDITION', `cannot start container ${id.slice(0, 12)}: ${msg}`);
    }
    // Running: what follows must not undo the start (the catch above would kill it).
    containerEvent(this.ctx, c, 'start');
    const running = repo.get(id);
    try {
      if (running?.state === 'running') this.hooks.running(running);
    } catch (e) {
      this.ctx.log(`start ${id.slice(0, 12)}: ${messageOf(e)}`);
    }
  }

  /** Records the exit, tears down in reverse order, removes with --rm, then tells waiters. */
  async onExit(id: string, exit: ExitFile | undefined, opts: { policy?: boolean } = {}): Promise<void> {
    const { repo, o } = this.ctx;
    const c = repo.get(id);
    if (!c) return;
    const l = this.sup.peek(id);
    const usage = (() => {
      try {
        return o.cgroups.usage(id);
      } catch {
        return undefined;
      }
    })();
    const info: ExitInfo = {
      exitCode: exit ? exit.exitCode : 255,
      oomKilled: (usage?.oomKills ?? 0) > 0,
      error: exit ? (exit.error ?? '') : 'the container monitor died without recording an exit status',
    };
    const finished = exit ? Math.round(exit.finishedAt / 1e6) : Date.now();
    // The restart policy judges the exit (recovery passes policy: false: what was
    // running when the daemon stopped is judged once, at its start, in recovery.ts).
    const judged = opts.policy !== false && !c.spec.autoRemove && !l?.removing && (c.spec.restartPolicy?.name ?? 'no') !== 'no';
    const m = judged ? this.manager(c) : undefined;
    const delay = m?.afterExit(
      { exitCode: info.exitCode, manuallyStopped: c.manuallyStopped, ranMs: Math.max(0, finished - c.started) },
      () => {
        const p = this.restartByPolicy(id, m).catch((e) => this.ctx.log(`restart of ${id.slice(0, 12)}: ${messageOf(e)}`));
        this.policyStarts.add(p);
        void p.finally(() => this.policyStarts.delete(p));
      },
    );
    try {
      if (m && delay !== undefined) {
        repo.markRestarting(id, info.exitCode, info.oomKilled, info.error, finished, m.restartCount);
        this.ctx.log(`container ${id.slice(0, 12)} exited (${info.exitCode}): restart ${m.restartCount} in ${delay} ms`);
      } else {
        repo.markExited(id, info.exitCode, info.oomKilled, info.error, finished);
      }
    } catch (e) {
      m?.cancel();
      // Not recorded (no space even with the reserve): the run dir keeps the monitor's
      // exit file, the ground truth, for the next start; everyone waiting is told now.
      this.ctx.log(`exit of ${id.slice(0, 12)} not recorded: ${messageOf(e)}`);
      this.sup.exited(id, info);
      throw e;
    }
    this.hooks.stopped(id);
    // Docker's order: oom, then die (with the exit code and the whole seconds it ran, truncated).
    if (info.oomKilled) containerEvent(this.ctx, c, 'oom');
    const ran = c.started ? Math.max(0, Math.floor(((exit ? exit.finishedAt / 1e6 : Date.now()) - c.started) / 1000)) : 0;
    containerEvent(this.ctx, c, 'die', { exitCode: String(info.exitCode), execDuration: String(ran) });
    try {
      crashPoint('exit.recorded');
      await this.teardown(c);
      crashPoint('exit.teardown');
      // Docker's HasBeenManuallyRestarted: the stop of a restart is no end for --rm.
      if (c.spec.autoRemove && !this.userRestarts.has(id)) await this.removeFiles(c);
    } finally {
      this.sup.exited(id, info);
    }
  }

  async teardown(c: ContainerRow): Promise<void> {
    const { o } = this.ctx;
    const steps: Promise<unknown>[] = [];
    if (o.network) steps.push(o.network.detach(c));
    steps.push(o.cgroups.remove(c.id));
    const results = await Promise.allSettled(steps);
    for (const r of results) if (r.status === 'rejected') this.ctx.log(`teardown ${c.id.slice(0, 12)}: ${messageOf(r.reason)}`);
    // The monitor unmounts its netns bind as it ends; one it could not (killed) goes here.
    await this.ctx.host.releaseNetns(this.ctx.layout.netnsPath(c.id));
    removeTree(this.ctx.layout.runDir(c.id));
  }

  /** anonymousVolumes: rm -v; --rm always takes them (Docker). */
  async removeFiles(c: ContainerRow, anonymousVolumes = false): Promise<void> {
    this.ctx.repo.remove(c.id);
    crashPoint('rm.row');
    this.hooks.removed(c.id);
    containerEvent(this.ctx, c, 'destroy');
    removeTree(this.ctx.layout.bundleDir(c.id));
    if (anonymousVolumes || c.spec.autoRemove) {
      try {
        this.ctx.volumes.removeAnonymous((c.spec.mounts ?? []).filter((m) => m.type === 'volume').map((m) => m.name));
      } catch (e) {
        this.ctx.log(`rm ${c.id.slice(0, 12)}: anonymous volumes: ${messageOf(e)}`);
      }
    }
  }

  async wait(ref: string): Promise<ExitInfo> {
    const { repo } = this.ctx;
    const c = repo.find(ref);
    const l = this.sup.state(c.id);
    if (l.starting) await l.starting.catch(() => {});
    if (l.exiting) await l.exiting;
    const now = repo.get(c.id);
    if (!now) return { exitCode: c.exitCode, oomKilled: c.oomKilled, error: c.error };
    if (now.state === 'running') return this.sup.waitExit(c.id);
    if (now.state === 'created' || now.state === 'restarting') {
      // Docker's "wait" on a created container waits for it to run and exit; one
      // waiting to restart, for its next exit (or the end of the wait by stop or rm).
      return this.sup.waitExit(c.id);
    }
    return { exitCode: now.exitCode, oomKilled: now.oomKilled, error: now.error };
  }

  async kill(ref: string, signal: string): Promise<void> {
    const sig = parseSignal(signal);
    const c = this.ctx.repo.find(ref);
    const l = this.sup.peek(c.id);
    // Docker: one waiting to restart has no process: "not running" (stop ends the wait).
    if (c.state !== 'running' || !l?.control) throw wrongState(`container ${c.name} is not running`);
    containerEvent(this.ctx, c, 'kill', { signal: String(sig) });
    // Docker: any kill by the user counts as a manual stop (unless-stopped stays down
    // after a daemon restart); SIGKILL or the stop signal also ends the restarts.
    this.ctx.repo.markManuallyStopped(c.id);
    if (sig === osConstants.signals.SIGKILL || sig === parseSignal(c.spec.stopSignal, 'SIGTERM')) this.cancelRestarts(c);
    l.control.signal(sig);
  }

  /**
   * `by: 'daemon'` (a daemon shutting down that stops its containers): no restart, but
   * not a stop by the user either, so unless-stopped comes back with the daemon (Docker's).
   */
  async stop(ref: string, timeoutSec: number, by: 'user' | 'daemon' = 'user'): Promise<void> {
    const first = this.ctx.repo.find(ref);
    if (first.state === 'running' || first.state === 'restarting') {
      if (by === 'user') this.ctx.repo.markManuallyStopped(first.id);
      this.cancelRestarts(first);
    }
    if (first.state === 'restarting') {
      // The back-off may have ended and the start be under way: let it finish, then stop it.
      const l = this.sup.peek(first.id);
      if (l?.starting) await l.starting.catch(() => {});
      else while (l?.exiting) await l.exiting.catch(() => {});
      if (this.ctx.repo.get(first.id)?.state === 'restarting') {
        this.ctx.repo.endRestarting(first.id);
        this.settleWaiters(first.id);
        // Docker: stopping one waiting to restart sends no signal but is a stop.
        containerEvent(this.ctx, first, 'stop');
        return;
      }
    }
    const c = this.ctx.repo.get(first.id);
    if (!c) return;
    const l = this.sup.peek(c.id);
    if (c.state !== 'running' || !l?.control) return;
    const exited = this.sup.waitExit(c.id);
    const sig = parseSignal(c.spec.stopSignal, 'SIGTERM');
    // Docker's events of a stop: kill (the stop signal), [kill (9)], die, stop.
    containerEvent(this.ctx, c, 'kill', { signal: String(sig) });
    l.control.signal(sig);
    // No -t: the container's --stop-timeout, else Docker's 10 s (a shutdown too).
    const timeout = timeoutSec < 0 ? (c.spec.stopTimeout ?? 10) : timeoutSec;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      exited.then(() => false),
      new Promise<boolean>((r) => {
        timer = setTimeout(() => r(true), timeout * 1000);
      }),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      containerEvent(this.ctx, c, 'kill', { signal: String(osConstants.signals.SIGKILL) });
      l.control?.signal(osConstants.signals.SIGKILL);
      await exited;
    }
    containerEvent(this.ctx, c, 'stop');
  }

  /**
   * `tdock restart`: stop (a manual stop: its exit restarts nothing), then start as the
   * user. One call, so the restart policy cannot start it in between.
   */
  async restart(ref: string, timeoutSec: number): Promise<void> {
    const c = this.ctx.repo.find(ref);
    this.userRestarts.add(c.id);
    try {
      await this.stop(c.id, timeoutSec);
      // The stop's exit may still be tearing down: it must see the mark.
      const l = this.sup.peek(c.id);
      while (l?.exiting) await l.exiting.catch(() => {});
    } finally {
      this.userRestarts.delete(c.id);
    }
    await this.start(c.id);
    containerEvent(this.ctx, c, 'restart');
  }

  async remove(ref: string, force: boolean, volumes = false): Promise<void> {
    const { repo } = this.ctx;
    const c = repo.find(ref);
    const l = this.sup.state(c.id);
    if (l.removing) return;
    if (l.starting) await l.starting.catch(() => {});
    const now = repo.get(c.id);
    if (!now) return;
    if (now.state === 'running' && !force) {
      throw wrongState(`you cannot remove a running container ${c.id.slice(0, 12)}: stop it first or use rm -f`);
    }
    if (now.state === 'restarting' && !force) {
      throw wrongState(`you cannot remove a restarting container ${c.id.slice(0, 12)}: stop it first or use rm -f`);
    }
    l.removing = true;
    // No restart from here on: neither a pending one nor one after the kill below.
    this.cancelRestarts(now);
    try {
      if (now.state === 'running') {
        const exited = this.sup.waitExit(c.id);
        containerEvent(this.ctx, c, 'kill', { signal: String(osConstants.signals.SIGKILL) });
        l.control?.signal(osConstants.signals.SIGKILL);
        await exited;
      }
      if (l.exiting) await l.exiting;
      // An attached client that stopped reading must not keep the container: it gets the exit now.
      this.sup.closeOutput(l);
      this.sup.deliverExit(c.id);
      const row = repo.get(c.id);
      if (!row) return;
      // From here on a restart finishes the removal (recover()).
      repo.markDead(c.id);
      crashPoint('rm.dead');
      await this.teardown(row);
      crashPoint('rm.teardown');
      await this.removeFiles(row, volumes);
      // Nobody may wait forever on a container that no longer exists (wait, attach).
      const last: ExitInfo = { exitCode: row.exitCode, oomKilled: row.oomKilled, error: row.error };
      for (const s of l.sinks) s.exit(last);
      for (const w of l.waiters.splice(0)) w(last);
      this.sup.forget(c.id);
      this.restarts.delete(c.id);
    } finally {
      l.removing = false;
    }
  }
}
