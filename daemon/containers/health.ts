// The engine's healthchecks: one HealthChecker (daemon/health/schedule.ts) per running
// container that has a probe, each probe an exec in the container (exec.ts) whose
// output is kept up to 4 KiB, killed at its timeout. Started when the container
// starts (or is found running after a daemon restart), stopped when it exits.
import { runExec } from './exec.ts';
import type { MonitorSupervisor } from './supervisor.ts';
import type { EngineContext, ExitInfo } from './types.ts';
import type { ContainerRow } from './repository.ts';
import { healthTiming, probeCommand } from '../health/config.ts';
import { HealthChecker, MAX_OUTPUT, realClock, type Clock, type HealthState, type Probe } from '../health/schedule.ts';
import { EngineError, messageOf } from '../errors.ts';

export class HealthMonitors {
  private readonly checkers = new Map<string, HealthChecker>();
  /** The last state of containers that stopped: inspect still shows it, as Docker's does. */
  private readonly last = new Map<string, HealthState>();
  private readonly ctx: EngineContext;
  private readonly sup: MonitorSupervisor;
  private readonly clock: Clock;

  constructor(ctx: EngineContext, sup: MonitorSupervisor, clock: Clock = realClock) {
    this.ctx = ctx;
    this.sup = sup;
    this.clock = clock;
  }

  /** The container is running: probe it (a restart starts again from "starting"). */
  start(c: ContainerRow): void {
    const cmd = probeCommand(c.spec.healthcheck);
    if (!cmd || !c.spec.healthcheck) return;
    void this.stop(c.id);
    // Docker resets Status and FailingStreak at every start but keeps the Log: after a
    // restart, inspect still shows why the last run's probes failed.
    const previous = this.last.get(c.id)?.log ?? [];
    this.last.delete(c.id);
    const checker = new HealthChecker(healthTiming(c.spec.healthcheck), this.clock, this.probe(c.id, cmd), c.started || this.clock.now(), (status) => {
      this.ctx.events.emit('container', `health_status: ${status}`, c.id, { image: c.imageRef, name: c.name });
    }, previous);
    this.checkers.set(c.id, checker);
    checker.start();
  }

  /** The container stopped (or is gone): no more probes; its last state stays for inspect. */
  stop(id: string): Promise<void> {
    const checker = this.checkers.get(id);
    if (!checker) return Promise.resolve();
    this.checkers.delete(id);
    this.last.set(id, checker.state);
    return checker.stop();
  }

  forget(id: string): void {
    void this.stop(id);
    this.last.delete(id);
  }

  state(id: string): HealthState | undefined {
    return this.checkers.get(id)?.state ?? this.last.get(id);
  }

  /** Whether probes run now (ps shows the status only then). */
  active(id: string): boolean {
    return this.checkers.has(id);
  }

  stopAll(): void {
    for (const id of [...this.checkers.keys()]) void this.stop(id);
  }

  /** One probe: an exec of `cmd`, output bounded, SIGKILL when aborted (the timeout). */
  private probe(id: string, cmd: string[]): Probe {
    return (signal) =>
      new Promise((resolve, reject) => {
        const chunks: Buffer[] = [];
        let kept = 0;
        let killed = false;
        runExec(this.ctx, this.sup, id, { cmd, env: [], user: '', workdir: '', tty: false, openStdin: false }, {
          output: (_stream, data) => {
            if (kept < MAX_OUTPUT) {
              const part = data.subarray(0, MAX_OUTPUT - kept);
              chunks.push(part);
              kept += part.length;
            }
          },
          exit: (info: ExitInfo) => {
            const output = Buffer.concat(chunks).toString('utf8');
            resolve({ exitCode: info.exitCode, output: output || info.error });
          },
        }).then(
          (session) => {
            const kill = () => {
              if (killed) return;
              killed = true;
              session.signal(9);
            };
            if (signal.aborted) kill();
            else signal.addEventListener('abort', kill, { once: true });
          },
          (e) => {
            // Not running (init gone, the exit not processed yet; or restarting): no verdict.
            if (e instanceof EngineError && e.code === 'FAILED_PRECONDITION') resolve(null);
            else reject(new Error(`cannot run the healthcheck: ${messageOf(e)}`));
          },
        );
      });
  }
}
