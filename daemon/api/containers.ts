// Thin handlers: translate between proto messages and engine calls.
import type * as grpc from '@grpc/grpc-js';
import type { Engine } from '../containers/engine.ts';
import type {
  StatsFrame, StatsRequest, TopResponse, ContainerStats,
  AttachInput, AttachOutput, ContainerRef, CreateRequest, CreateResponse, Empty, InspectResponse, KillRequest,
  ListRequest, ListResponse, OutputFrame, PortResponse, RemoveRequest, RestartRequest, StopRequest, WaitResponse,
} from '../../proto/api.ts';
import { failStream, unary } from './status.ts';
import { invalid } from '../errors.ts';
import { checkCreateBounds, checkExecBounds } from '../containers/bounds.ts';
import { Lag, tooSlow } from './flow.ts';
import { logsHandler } from './logs.ts';
import { inspectDocument, topTable } from './presenter.ts';

const streamName = (s: 1 | 2): OutputFrame['stream'] => (s === 2 ? 'STDERR' : 'STDOUT');

/**
 * The container (or the monitor) is behind on this client's input: read no more
 * of it until it caught up. gRPC's flow control then stops the client's writes and
 * the CLI stops reading its stdin; nothing is dropped, nothing piles up here.
 */
function holdInput(call: grpc.ServerDuplexStream<AttachInput, AttachOutput>, s: { onInputDrain(fn: () => void): void }): void {
  if (call.isPaused()) return;
  call.pause();
  s.onInputDrain(() => call.resume());
}

export function containerHandlers(engine: Engine): grpc.UntypedServiceImplementation {
  return {
    Create: unary<CreateRequest, CreateResponse>(async (r) => {
      checkCreateBounds(r);
      const res = r.resources ?? { memory: 0, memorySwap: 0, pidsLimit: 0, cpus: 0 };
      return engine.create({
        image: r.image, name: r.name, cmd: r.cmd, entrypoint: r.entrypoint, entrypointSet: r.entrypointSet, env: r.env,
        workdir: r.workdir, user: r.user, hostname: r.hostname, tty: r.tty, openStdin: r.openStdin, autoRemove: r.autoRemove,
        mounts: r.mounts ?? [], readOnly: r.readOnly,
        labels: r.labels ?? [], stopSignal: r.stopSignal, stopTimeout: r.stopTimeoutSet ? r.stopTimeout : undefined,
        network: r.network, ports: r.ports, dns: r.dns, securityOpt: r.securityOpt, logOpt: r.logOpt, restartPolicy: r.restartPolicy,
        healthCmd: r.healthCmd, healthInterval: r.healthInterval, healthTimeout: r.healthTimeout,
        healthRetries: r.healthRetries, healthStartPeriod: r.healthStartPeriod, noHealthcheck: r.noHealthcheck,
        // As given (0 = unset): NaN or a negative value must reach the checks, not turn into "unlimited".
        resources: { memory: res.memory, memorySwap: res.memorySwap, pidsLimit: res.pidsLimit, cpus: res.cpus },
      });
    }),
    Start: unary<ContainerRef, Empty>(async (r) => {
      await engine.start(r.id);
      return {};
    }),
    Stop: unary<StopRequest, Empty>(async (r) => {
      await engine.stop(r.id, r.timeout);
      return {};
    }),
    Restart: unary<RestartRequest, Empty>(async (r) => {
      await engine.restart(r.id, r.timeout);
      return {};
    }),
    Kill: unary<KillRequest, Empty>(async (r) => {
      await engine.kill(r.id, r.signal);
      return {};
    }),
    Remove: unary<RemoveRequest, Empty>(async (r) => {
      await engine.remove(r.id, r.force, r.volumes);
      return {};
    }),
    List: unary<ListRequest, ListResponse>(async (r) => ({ containers: engine.list(r.all) })),
    Inspect: unary<ContainerRef, InspectResponse>(async (r) => ({ json: JSON.stringify(inspectDocument(engine.inspectView(r.id))) })),
    Wait: unary<ContainerRef, WaitResponse>(async (r) => engine.wait(r.id)),
    Port: unary<ContainerRef, PortResponse>(async (r) => ({ ports: engine.summary(engine.repo.find(r.id)).ports })),
    Top: unary<ContainerRef, TopResponse>(async (r) => topTable(engine.processes(r.id))),

    Stats: (call: grpc.ServerWritableStream<StatsRequest, StatsFrame>) => {
      const { ids, stream } = call.request;
      let prev = new Map<string, { cpu: number; at: number }>();
      let timer: NodeJS.Timeout | undefined;
      let first = true;
      const sample = () => {
        try {
          const refs = ids.length ? ids : engine.list(false).map((c) => c.id);
          const now = process.hrtime.bigint();
          const next = new Map<string, { cpu: number; at: number }>();
          const stats: ContainerStats[] = refs.map((ref) => {
            const u = engine.usage(ref);
            const at = Number(now);
            const cpu = u.usage?.cpuUsageNs ?? 0;
            next.set(u.id, { cpu, at });
            const p = prev.get(u.id);
            // CPU % like Docker: CPU time used over wall time, 100% = one core.
            const cpuPercent = p && at > p.at ? ((cpu - p.cpu) / (at - p.at)) * 100 : 0;
            return {
              id: u.id, name: u.name, cpuPercent: Math.max(0, cpuPercent),
              memoryUsage: u.usage?.memoryUsage ?? 0, memoryLimit: u.usage?.memoryLimit ?? 0, pids: u.usage?.pids ?? 0,
            };
          });
          prev = next;
          // The first sample has no CPU delta yet: Docker also waits for a second one.
          if (!first) call.write({ stats });
          if (!first && !stream) {
            call.end();
            return;
          }
          first = false;
          timer = setTimeout(sample, stream ? 1000 : 500);
        } catch (e) {
          failStream(call, e);
        }
      };
      call.on('cancelled', () => clearTimeout(timer));
      sample();
    },

    Exec: (call: grpc.ServerDuplexStream<AttachInput, AttachOutput>) => {
      let session: Awaited<ReturnType<Engine['exec']>> | undefined;
      let starting = false;
      let detached = false;
      // The client went away (or was cut off) before the exec had started: the
      // process is ended as soon as there is one to signal.
      let gone = false;
      let cutOff = false;
      const lag = new Lag(call);
      const pending: AttachInput[] = [];
      const fail = (e: unknown) => failStream(call, e);
      const hangUp = () => {
        gone = true;
        if (!detached) session?.signal(1);
      };
      const handle = (msg: AttachInput) => {
        if (!session) return;
        if ('stdin' in msg && msg.stdin) {
          if (!session.stdin(msg.stdin)) holdInput(call, session);
        }
        else if ('resize' in msg && msg.resize) session.resize(msg.resize.rows, msg.resize.cols);
        else if ('closeStdin' in msg && msg.closeStdin) session.closeStdin();
      };
      call.on('data', (msg: AttachInput) => {
        if ('start' in msg && msg.start && !starting) {
          starting = true;
          const st = msg.start;
          const ex = st.exec;
          if (!ex) {
            fail(invalid('exec needs a command: tdock exec CONTAINER COMMAND [ARG...]'));
            return;
          }
          try {
            checkExecBounds(ex);
          } catch (e) {
            fail(e);
            return;
          }
          detached = ex.detach;
          engine
            .exec(st.id, { cmd: ex.cmd, env: ex.env, user: ex.user, workdir: ex.workdir, tty: ex.tty, openStdin: st.stdin && !ex.detach, ...(st.size && ex.tty ? { size: { rows: st.size.rows, cols: st.size.cols } } : {}) }, {
              output: (stream, data) => {
                if (detached || cutOff || gone) return;
                lag.write({ output: { stream: streamName(stream), data, timeNs: 0 } }, data.length);
                if (lag.exceeded) {
                  // Backpressure failed to hold it; nothing keeps an exec's output: the
                  // client is cut off like a lost terminal.
                  cutOff = true;
                  hangUp();
                  fail(tooSlow("the command's output", 'an exec has no log: the command was sent SIGHUP'));
                  return;
                }
                return !lag.behind;
              },
              exit: (info) => {
                if (detached || cutOff || gone) return;
                call.write({ exit: info });
                call.end();
              },
            })
            .then((s) => {
              session = s;
              // No resize here: the size went into the exec's config (the pty has it from
              // the start). (A RESIZE racing a quick command's exit used to cost all of its
              // output: the exec-monitor's close made our write fail and the connection
              // drop with STDOUT and EXIT unread; shim/relay.c linger_close.)
              lag.onDrained = () => s.drained();
              // Cancelled while starting: SIGHUP now, as the 'cancelled' handler could not.
              if (gone) {
                if (!detached) s.signal(1);
                return;
              }
              for (const m of pending.splice(0)) handle(m);
              call.write({ attached: true });
              if (detached) call.end();
            }, fail);
        } else if (!session) {
          if (!starting) fail(invalid('the first exec message must name the container and the command'));
          else pending.push(msg);
        } else {
          handle(msg);
        }
      });
      // The client is gone: a foreground exec is ended like docker's would lose its
      // terminal; a detached one goes on.
      call.on('cancelled', hangUp);
    },

    Logs: logsHandler(engine),

    Attach: (call: grpc.ServerDuplexStream<AttachInput, AttachOutput>) => {
      let session: ReturnType<Engine['attach']> | undefined;
      let ended = false;
      const lag = new Lag(call);
      const end = () => {
        if (ended) return;
        ended = true;
        session?.detach();
        call.end();
      };
      call.on('data', (msg: AttachInput & { msg?: string }) => {
        try {
          if ('start' in msg && msg.start && !session) {
            session = engine.attach(msg.start.id, {
              output: (stream, data) => {
                if (ended) return;
                lag.write({ output: { stream: streamName(stream), data, timeNs: 0 } }, data.length);
                if (lag.exceeded) {
                  // Backpressure failed to hold it: cut this client off; the container goes on.
                  ended = true;
                  session?.detach();
                  failStream(call, tooSlow());
                  return;
                }
                return !lag.behind;
              },
              exit: (info) => {
                if (ended) return;
                call.write({ exit: info });
                end();
              },
            });
            const s = session;
            lag.onDrained = () => s.drained();
            if (msg.start.size && session.tty) session.resize(msg.start.size.rows, msg.start.size.cols);
            call.write({ attached: true });
          } else if (!session) {
            throw invalid('the first attach message must name the container');
          } else if ('stdin' in msg && msg.stdin) {
            if (!session.stdin(msg.stdin)) holdInput(call, session);
          } else if ('resize' in msg && msg.resize) {
            session.resize(msg.resize.rows, msg.resize.cols);
          } else if ('closeStdin' in msg && msg.closeStdin) {
            session.closeStdin();
          }
        } catch (e) {
          ended = true;
          session?.detach();
          failStream(call, e);
        }
      });
      // A half-close only means "no more input"; output goes on until the exit.
      // The client going away (detach keys, Ctrl-C, crash) leaves the container running.
      call.on('cancelled', () => {
        ended = true;
        session?.detach();
      });
      call.on('error', () => {
        ended = true;
        session?.detach();
      });
    },
  };
}
