// Thin handlers: translate between proto messages and engine calls.
import type * as grpc from '@grpc/grpc-js';
import type { Engine } from '../containers/engine.ts';
import type {
  AttachInput, AttachOutput, ContainerRef, CreateRequest, CreateResponse, Empty, InspectResponse, KillRequest,
  ListRequest, ListResponse, LogsRequest, OutputFrame, PortResponse, RemoveRequest, StopRequest, WaitResponse,
} from '../../proto/api.ts';
import { toStatus, unary } from './status.ts';
import { invalid } from '../errors.ts';

const streamName = (s: 1 | 2): OutputFrame['stream'] => (s === 2 ? 'STDERR' : 'STDOUT');

export function containerHandlers(engine: Engine): grpc.UntypedServiceImplementation {
  return {
    Create: unary<CreateRequest, CreateResponse>(async (r) => {
      const res = r.resources ?? { memory: 0, memorySwap: 0, pidsLimit: 0, cpus: 0 };
      return engine.create({
        image: r.image, name: r.name, cmd: r.cmd, entrypoint: r.entrypoint, entrypointSet: r.entrypointSet, env: r.env,
        workdir: r.workdir, user: r.user, hostname: r.hostname, tty: r.tty, openStdin: r.openStdin, autoRemove: r.autoRemove,
        network: r.network, ports: r.ports, dns: r.dns,
        resources: { memory: res.memory || undefined, memorySwap: res.memorySwap || undefined, pidsLimit: res.pidsLimit || undefined, cpus: res.cpus || undefined },
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
    Kill: unary<KillRequest, Empty>(async (r) => {
      await engine.kill(r.id, r.signal);
      return {};
    }),
    Remove: unary<RemoveRequest, Empty>(async (r) => {
      await engine.remove(r.id, r.force);
      return {};
    }),
    List: unary<ListRequest, ListResponse>(async (r) => ({ containers: engine.list(r.all) })),
    Inspect: unary<ContainerRef, InspectResponse>(async (r) => ({ json: JSON.stringify(engine.inspect(r.id)) })),
    Wait: unary<ContainerRef, WaitResponse>(async (r) => engine.wait(r.id)),
    Port: unary<ContainerRef, PortResponse>(async (r) => ({ ports: engine.repo.find(r.id).spec.ports })),

    Logs: (call: grpc.ServerWritableStream<LogsRequest, OutputFrame>) => {
      const r = call.request;
      try {
        const stop = engine.logs(
          r.id,
          { follow: r.follow, tail: r.tail },
          (records) => {
            for (const rec of records) call.write({ stream: streamName(rec.stream), data: rec.data, timeNs: Number(rec.timeNs) });
          },
          () => call.end(),
        );
        call.on('cancelled', stop);
      } catch (e) {
        call.destroy(Object.assign(new Error(), toStatus(e)));
      }
    },

    Attach: (call: grpc.ServerDuplexStream<AttachInput, AttachOutput>) => {
      let session: ReturnType<Engine['attach']> | undefined;
      let ended = false;
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
              output: (stream, data) => call.write({ output: { stream: streamName(stream), data, timeNs: 0 } }),
              exit: (info) => {
                call.write({ exit: info });
                end();
              },
            });
            if (msg.start.size && session.tty) session.resize(msg.start.size.rows, msg.start.size.cols);
            call.write({ attached: true });
          } else if (!session) {
            throw invalid('the first attach message must name the container');
          } else if ('stdin' in msg && msg.stdin) {
            session.stdin(msg.stdin);
          } else if ('resize' in msg && msg.resize) {
            session.resize(msg.resize.rows, msg.resize.cols);
          } else if ('closeStdin' in msg && msg.closeStdin) {
            session.closeStdin();
          }
        } catch (e) {
          ended = true;
          session?.detach();
          call.destroy(Object.assign(new Error(), toStatus(e)));
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
