// The Logs call: the container's log read one chunk (LogStream: <= 1 MiB) at a time,
// the next one only once the transport has taken all but LOW_WATER of what was written
// (HTTP/2 flow control stops taking when the client stops reading). So a reader costs
// the daemon about one chunk plus LOW_WATER, whatever the size of the log and however
// slow its client. (Waiting for all of it to drain measured 30-50% slower: the read of
// the next chunk no longer overlaps the sending of the last.)
import type * as grpc from '@grpc/grpc-js';
import type { Engine } from '../containers/engine.ts';
import type { LogsRequest, OutputFrame } from '../../proto/api.ts';
import type { LogStream } from '../runtime/logstream.ts';
import type { LogRecord } from '../runtime/logfile.ts';
import { failStream } from './status.ts';
import { invalid } from '../errors.ts';

/** LogsRequest.since/until, Docker's API form "SECONDS[.NANOSECONDS]"; "" = not set. */
export function unixTimeNs(s: string, field: string): bigint | undefined {
  if (!s) return undefined;
  const m = /^(\d{1,12})(?:\.(\d{1,9}))?$/.exec(s);
  if (!m) throw invalid(`invalid ${field} "${s}": expected a Unix time (SECONDS[.NANOSECONDS])`);
  return BigInt(m[1]!) * 1_000_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'));
}

/** The next chunk is read once no more than this is still on its way to the client. */
const LOW_WATER = 256 << 10;

const frame = (r: LogRecord): OutputFrame => ({ stream: r.stream === 2 ? 'STDERR' : 'STDOUT', data: r.data, timeNs: Number(r.timeNs) });

export function logsHandler(engine: Engine): grpc.handleServerStreamingCall<LogsRequest, OutputFrame> {
  return (call) => {
    const r = call.request;
    let stream: LogStream | undefined;
    let gone = false;
    let sent: (() => void) | undefined;
    call.on('cancelled', () => {
      gone = true;
      sent?.();
      void stream?.close();
    });
    const run = async () => {
      stream = await engine.logs(r.id, { follow: r.follow, tail: r.tail, sinceNs: unixTimeNs(r.since, 'since'), untilNs: unixTimeNs(r.until, 'until') });
      let pending = 0;
      for (let batch = await nextOf(stream); batch && !gone; batch = await nextOf(stream)) {
        for (const rec of batch) {
          pending += rec.data.length;
          call.write(frame(rec), () => {
            pending -= rec.data.length;
            if (pending <= LOW_WATER) sent?.();
          });
        }
        if (pending > LOW_WATER) {
          await new Promise<void>((resolve) => (sent = resolve));
          sent = undefined;
        }
      }
      if (!gone) call.end();
    };
    const nextOf = (s: LogStream) => (gone ? Promise.resolve(null) : s.next());
    run()
      .catch((e) => {
        if (!gone) failStream(call, e);
      })
      .finally(() => void stream?.close());
  };
}
