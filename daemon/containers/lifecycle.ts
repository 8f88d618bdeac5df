// The container state machine: start → running → exited → removed, and the races
// between start, exit, stop/kill and rm. A start that rm overtakes must not bring the
// container back; an exit during a start tears down once; rm -f never waits on a
// client that stopped reading.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { constants as osConstants } from 'node:os';
import type { ContainerRow } from './repository.ts';
import { securityOptions, withHome } from './spec.ts';
import { parseSignal } from './signals.ts';
import { EngineError, notFound, wrongState, messageOf } from '../errors.ts';
import type { ExitFile } from '../runtime/monitor.ts';
import { crashPoint } from '../crash.ts';
import { DEFAULT_LOG_CONFIG, type LogConfig } from '../../proto/log-opt.ts';
import { removeTree } from './bundle.ts';
import { resolveImageUser } from './image-files.ts';
import { monitorConfig } from './shim-config.ts';
import type { MonitorSupervisor } from './supervisor.ts';
import type { EngineContext, ExitInfo } from './types.ts';
import { heldUntil } from '../files/holds.ts';

export class Lifecycle {
  private readonly ctx: EngineContext;
  private readonly sup: MonitorSupervisor;

  constructor(ctx: EngineContext, sup: MonitorSupervisor) {
    this.ctx = ctx;
    this.sup = sup;
  }

  /** Containers created before --log-opt existed get the daemon's default. */
  logConfigOf(c: ContainerRow): LogConfig { return c.spec.log ?? this.ctx.o.logDefaults ?? DEFAULT_LOG_CONFIG; }

  async start(ref: string): Promise<void> {
    const c = this.ctx.repo.find(ref);
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
    if (!now) throw notFound(`No such container: ${ref}`);
    if (now.state === 'running') return;
    if (now.state === 'dead') throw wrongState(`container ${c.name} is being removed`);
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
    const runDir = layout.freshRunDir(id);
    let cgroupsMade = false;
    let networkPrepared = false;
    let initPid = 0;
    const dir = layout.bundleDir(id);
    this.sup.state(id).exitInfo = undefined;
    try {
      const mounts = o.network ? await o.network.prepare(c, dir) : [];
      networkPrepared = o.network !== undefined;
      crashPoint('start.network');
      const cgroupProcs = o.cgroups.create(id, spec.resources);
      cgroupsMade = true;
      crashPoint('start.cgroups');
      const config = monitorConfig({
        c, bundleDir: dir, runDir, lower, env: withHome(spec.env, home), user, idMaps: o.idMaps, rootless: o.rootless,
        cgroupProcs, seccomp: securityOptions(spec.securityOpt).seccomp, mounts,
        socket: layout.socketPath(id), logPath: layout.logPath(id), log: this.logConfigOf(c), exitPath: layout.exitPath(id),
      });
      writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
      const pid = await host.spawnMonitor(o.shim, dir);
      initPid = pid;
      crashPoint('start.monitor');
      const control = await host.connect(layout.socketPath(id));
      control.quiet();
      this.sup.bindControl(id, control);
      const l = this.sup.state(id);
      l.initStartTime = host.startTime(pid);
      // Clients attached before the start (run, start -a) get the output from its
      // first byte: their connection is accepted before START.
      if (l.sinks.size) await this.sup.openOutput(id);
      if (o.network) await o.network.attach(c, pid);
      crashPoint('start.attach');
      // Init died while we wired it (killed before START): its exit is recorded
      // already, and marking it running now would leave a row nothing ever ends.
      if (!l.control || l.exiting) throw new Error('the container exited while it was starting');
      repo.markStarted(id, pid, Date.now());
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
        // A monitor we could not reach waits for START forever: end it through its init
        // (its child, not reaped before it exits, so the pid is still that process).
        if (initPid && host.startTime(initPid) !== undefined) {
          try {
            host.kill(initPid, 'SIGKILL');
          } catch {
            /* already gone */
          }
        }
        if (networkPrepared) await o.network?.detach(c).catch(() => {});
        if (cgroupsMade) await o.cgroups.remove(id).catch(() => {});
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
  }

  /** Records the exit, tears down in reverse order, removes with --rm, then tells waiters. */
  async onExit(id: string, exit: ExitFile | undefined): Promise<void> {
    const { repo, o } = this.ctx;
    const c = repo.get(id);
    if (!c) return;
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
    try {
      repo.markExited(id, info.exitCode, info.oomKilled, info.error, exit ? Math.round(exit.finishedAt / 1e6) : Date.now());
    } catch (e) {
      // Not recorded (no space even with the reserve): the run dir keeps the monitor's
      // exit file, the ground truth, for the next start; everyone waiting is told now.
      this.ctx.log(`exit of ${id.slice(0, 12)} not recorded: ${messageOf(e)}`);
      this.sup.exited(id, info);
      throw e;
    }
    try {
      crashPoint('exit.recorded');
      await this.teardown(c);
      crashPoint('exit.teardown');
      if (c.spec.autoRemove) await this.removeFiles(c);
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
    removeTree(this.ctx.layout.runDir(c.id));
  }

  async removeFiles(c: ContainerRow): Promise<void> {
    this.ctx.repo.remove(c.id);
    crashPoint('rm.row');
    removeTree(this.ctx.layout.bundleDir(c.id));
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
    if (now.state === 'created') {
      // Docker's "wait" on a created container waits for it to run and exit.
      return this.sup.waitExit(c.id);
    }
    return { exitCode: now.exitCode, oomKilled: now.oomKilled, error: now.error };
  }

  async kill(ref: string, signal: string): Promise<void> {
    const sig = parseSignal(signal);
    const c = this.ctx.repo.find(ref);
    const l = this.sup.peek(c.id);
    if (c.state !== 'running' || !l?.control) throw wrongState(`container ${c.name} is not running`);
    l.control.signal(sig);
  }

  async stop(ref: string, timeoutSec: number): Promise<void> {
    const c = this.ctx.repo.find(ref);
    const l = this.sup.peek(c.id);
    if (c.state !== 'running' || !l?.control) return;
    const exited = this.sup.waitExit(c.id);
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
    l.removing = true;
    try {
      if (now.state === 'running') {
        const exited = this.sup.waitExit(c.id);
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
      await this.removeFiles(row);
      // Nobody may wait forever on a container that no longer exists (wait, attach).
      const last: ExitInfo = { exitCode: row.exitCode, oomKilled: row.oomKilled, error: row.error };
      for (const s of l.sinks) s.exit(last);
      for (const w of l.waiters.splice(0)) w(last);
      this.sup.forget(c.id);
    } finally {
      l.removing = false;
    }
  }
}
