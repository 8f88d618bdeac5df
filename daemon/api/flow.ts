// Output streams to clients that stop reading: the daemon must not buffer without limit.
// gRPC calls are object-mode streams (writableLength counts messages, not bytes), so the
// bytes handed to a call and not yet taken by HTTP/2 (whose flow control stops taking
// them when the client stops reading) are counted here from the write callbacks.
import { EngineError } from '../errors.ts';

/** How far (in output bytes) a client may fall behind a live stream before it is cut off. */
export const MAX_CLIENT_LAG = 8 << 20;
/**
 * Where backpressure starts: a client this far behind pauses the container's output
 * (the engine stops reading the monitor, the monitor stops reading the container)
 * until it is back under RESUME_LAG. So a client that keeps reading loses nothing and
 * the cut-off above is only for clients that stop reading where nothing can pause.
 */
export const PAUSE_LAG = 1 << 20;
export const RESUME_LAG = 256 << 10;

export const tooSlowMessage = (of: string, rest = "the log file keeps everything (tdock logs)"): string =>
  `client too slow: it fell more than ${MAX_CLIENT_LAG >> 20} MiB behind ${of}; ${rest}`;

/** The status a lagging client's call is ended with. */
export function tooSlow(of = "the container's output", rest?: string): EngineError {
  return new EngineError('RESOURCE_EXHAUSTED', tooSlowMessage(of, rest));
}

interface Writable {
  write(msg: unknown, cb: (err?: Error | null) => void): boolean;
}

/** Counts the output bytes written to one call that the transport has not taken yet. */
export class Lag {
  private pending = 0;
  private readonly call: Writable;
  readonly limit: number;

  /** Called when the pending bytes fall back under RESUME_LAG after being over PAUSE_LAG. */
  onDrained?: () => void;
  private paused = false;

  constructor(call: Writable, limit = MAX_CLIENT_LAG) {
    this.call = call;
    this.limit = limit;
  }

  /** True when the producer should pause (over PAUSE_LAG); stays true until drained. */
  get behind(): boolean {
    if (!this.paused && this.pending > PAUSE_LAG) this.paused = true;
    return this.paused;
  }

  /** Bytes written and not yet taken by the transport. */
  get bytes(): number {
    return this.pending;
  }

  /** Writes `msg` (carrying `size` output bytes); returns the call's write() result. */
  write(msg: unknown, size: number): boolean {
    this.pending += size;
    return this.call.write(msg, () => {
      this.pending -= size;
      if (this.paused && this.pending < RESUME_LAG) {
        this.paused = false;
        this.onDrained?.();
      }
    });
  }

  /** True when the client is more than the limit behind. */
  get exceeded(): boolean {
    return this.pending > this.limit;
  }
}
