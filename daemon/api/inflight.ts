// The calls in progress, for a graceful shutdown (SIGTERM): a call that ends on its own
// (create, stop -t N, rm, pull, ...) is let finish; a call that lasts as long as a
// container or a user wants (wait, attach, exec, logs -f, stats, events) is ended at
// once with UNAVAILABLE and a message saying why. No call ever hangs and no client
// reads "connection lost" from a daemon that stopped on purpose.
import * as grpc from '@grpc/grpc-js';

/** Methods whose calls last as long as a container or the user wants: never waited for at shutdown. */
const OPEN_ENDED = new Set(['Wait', 'Attach', 'Exec', 'Stats', 'Events']);

function openEnded(method: string, call: { request?: unknown }): boolean {
  if (method === 'Logs') return (call.request as { follow?: boolean } | undefined)?.follow === true;
  return OPEN_ENDED.has(method);
}

export const SHUTTING_DOWN = 'tdockd is shutting down';

type Abort = (details: string) => void;

interface Call {
  method: string;
  openEnded: boolean;
  abort: Abort;
}

/** What both kinds of call are to this module: an emitter, with a request when the client sent one. */
type AnyCall = NodeJS.EventEmitter & { request?: unknown };

function unavailable(details: string): grpc.ServiceError {
  return Object.assign(new Error(details), { code: grpc.status.UNAVAILABLE, details, metadata: new grpc.Metadata() });
}

export class InFlight {
  #calls = new Set<Call>();
  #closing = false;
  #idle: (() => void)[] = [];

  /** Calls that will end on their own, still running. */
  get finite(): Call[] {
    return [...this.#calls].filter((c) => !c.openEnded);
  }

  /** Wraps every handler of a service: calls are counted, refused once the daemon is closing. */
  track(service: grpc.UntypedServiceImplementation): grpc.UntypedServiceImplementation {
    const out: grpc.UntypedServiceImplementation = {};
    for (const [method, handler] of Object.entries(service)) {
      const fn = handler as (...a: unknown[]) => void;
      // grpc-js's unary handlers take (call, callback), the streaming ones (call) only.
      out[method] = fn.length >= 2 ? this.#unary(method, fn) : this.#stream(method, fn);
    }
    return out;
  }

  #unary(method: string, fn: (...a: unknown[]) => void) {
    return (call: AnyCall, callback: grpc.sendUnaryData<unknown>) => {
      if (this.#closing) return callback(unavailable(`${SHUTTING_DOWN}: try again when it is back`));
      let done = false;
      const entry: Call = { method, openEnded: openEnded(method, call), abort: (d) => finish(unavailable(d)) };
      const finish = (err: grpc.ServiceError | null, res?: unknown) => {
        if (done) return;
        done = true;
        this.#remove(entry);
        callback(err, res);
      };
      // A client that gave up (Ctrl-C on a wait) is not waited for.
      call.once('cancelled', () => {
        if (done) return;
        done = true;
        this.#remove(entry);
      });
      this.#calls.add(entry);
      fn(call, finish);
    };
  }

  #stream(method: string, fn: (...a: unknown[]) => void) {
    return (call: AnyCall) => {
      if (this.#closing) {
        call.emit('error', unavailable(`${SHUTTING_DOWN}: try again when it is back`));
        return;
      }
      let done = false;
      const entry: Call = {
        method,
        openEnded: openEnded(method, call),
        abort: (d) => {
          if (done) return;
          end();
          call.emit('error', unavailable(d));
        },
      };
      const end = () => {
        if (done) return;
        done = true;
        this.#remove(entry);
      };
      // A stream ends with its status (finish), an error status, or the client's cancel.
      for (const ev of ['finish', 'close', 'error', 'cancelled']) call.once(ev, end);
      this.#calls.add(entry);
      fn(call);
    };
  }

  #remove(c: Call): void {
    this.#calls.delete(c);
    if (this.finite.length === 0) for (const f of this.#idle.splice(0)) f();
  }

  /**
   * Starts the shutdown: new calls are refused, open-ended ones end now, finite ones
   * get up to `graceMs` to finish and are then ended with UNAVAILABLE. Resolves with
   * the methods that had to be cut.
   */
  async drain(graceMs: number): Promise<string[]> {
    this.#closing = true;
    for (const c of [...this.#calls]) if (c.openEnded) c.abort(`${SHUTTING_DOWN}: the call was ended (containers keep running)`);
    if (this.finite.length) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, graceMs);
        timer.unref();
        this.#idle.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    const cut = this.finite;
    for (const c of cut) c.abort(`${SHUTTING_DOWN}: the call did not finish in ${Math.round(graceMs / 1000)} s and was ended; its outcome is unknown, check with tdock ps or inspect`);
    return cut.map((c) => c.method);
  }
}
