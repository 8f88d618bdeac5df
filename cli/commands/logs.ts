import { Args, Flags } from '../oclif.ts';
import { io, TdockCommand } from '../base.ts';
import { UsageError } from '../errors.ts';
import { rfc3339Nano } from '../render/format.ts';
import { parseTimeFlag } from '../parse/time.ts';
import { ValueError } from '../parse/bytes.ts';
import type { OutputFrame } from '../../proto/api.ts';

/**
 * Docker's `logs -t`: every line starts with the RFC 3339 time of the record
 * (OutputFrame.time_ns). `atLineStart` carries per-stream state across frames.
 */
export function withTimestamps(f: OutputFrame, atLineStart: Map<string, boolean>): Buffer {
  if (!f.timeNs) return f.data;
  const stamp = Buffer.from(`${rfc3339Nano(f.timeNs)} `);
  const parts: Buffer[] = [];
  let start = atLineStart.get(f.stream) ?? true;
  let from = 0;
  for (let i = 0; i < f.data.length; i++) {
    if (start) {
      parts.push(stamp);
      start = false;
    }
    if (f.data[i] === 0x0a) {
      parts.push(f.data.subarray(from, i + 1));
      from = i + 1;
      start = true;
    }
  }
  if (from < f.data.length) parts.push(f.data.subarray(from));
  atLineStart.set(f.stream, start);
  return Buffer.concat(parts);
}

export default class Logs extends TdockCommand {
  static summary = 'Fetch the logs of a container.';
  static usage = 'logs [OPTIONS] CONTAINER';
  static flags = {
    follow: Flags.boolean({ char: 'f', summary: 'Follow log output.' }),
    timestamps: Flags.boolean({ char: 't', summary: 'Show timestamps.' }),
    tail: Flags.string({ char: 'n', summary: 'Number of lines to show from the end of the logs ("all" or N).', default: 'all', helpValue: 'N' }),
    since: Flags.string({ summary: 'Show logs since a time (2024-01-02T15:04:05Z, 1704207845) or for a duration before now (10m, 1h30m).', helpValue: 'TIME' }),
    until: Flags.string({ summary: 'Show logs before a time (2024-01-02T15:04:05Z, 1704207845) or a duration before now (10m, 1h30m).', helpValue: 'TIME' }),
  };
  static args = { container: Args.string({ description: 'container name or id', required: true, ignoreStdin: true }) };

  async run(): Promise<void> {
    const { flags, args } = await this.parse(Logs);
    let tail = -1;
    if (flags.tail !== 'all') {
      if (!/^-?\d+$/.test(flags.tail)) throw new UsageError(`invalid value "${flags.tail}" for -n/--tail: expected "all" or a number of lines`);
      tail = Math.max(-1, Number(flags.tail));
      if (Number(flags.tail) < 0) tail = -1;
    }
    const now = BigInt(Date.now()) * 1_000_000n;
    let since = '';
    let until = '';
    try {
      if (flags.since !== undefined) since = parseTimeFlag(flags.since, '--since', now);
      if (flags.until !== undefined) until = parseTimeFlag(flags.until, '--until', now);
    } catch (e) {
      if (e instanceof ValueError) throw new UsageError(e.message);
      throw e;
    }
    const d = await this.daemon(flags.host);
    // -t is rendered here from OutputFrame.time_ns (tdockd sends it with every
    // record), so the daemon is asked for the raw bytes (timestamps: false).
    const stream = d.containers.logs({ id: args.container, follow: Boolean(flags.follow), timestamps: false, tail, since, until });
    const lineStart = new Map<string, boolean>();
    const stop = () => stream.cancel();
    process.once('SIGINT', stop);
    try {
      await new Promise<void>((resolve, reject) => {
        stream.on('data', (f: OutputFrame) => {
          const dest = f.stream === 'STDERR' ? io.stderr : io.stdout;
          const data = flags.timestamps ? withTimestamps(f, lineStart) : f.data;
          if (!dest.write(data)) {
            stream.pause();
            dest.once('drain', () => stream.resume());
          }
        });
        stream.on('end', resolve);
        stream.on('error', (e: Error & { code?: number }) => (e.code === 1 ? resolve() : reject(e)));
      });
    } finally {
      process.removeListener('SIGINT', stop);
    }
  }
}
