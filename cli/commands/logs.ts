import { Args, Flags } from '../oclif.ts';
import { io, TdockCommand } from '../base.ts';
import { UsageError } from '../errors.ts';
import type { OutputFrame } from '../../proto/api.ts';

export default class Logs extends TdockCommand {
  static summary = 'Fetch the logs of a container.';
  static usage = 'logs [OPTIONS] CONTAINER';
  static flags = {
    follow: Flags.boolean({ char: 'f', summary: 'Follow log output.' }),
    timestamps: Flags.boolean({ char: 't', summary: 'Show timestamps.' }),
    tail: Flags.string({ char: 'n', summary: 'Number of lines to show from the end of the logs ("all" or N).', default: 'all', helpValue: 'N' }),
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
    const d = await this.daemon(flags.host);
    // The daemon renders timestamps (LogsRequest.timestamps); frames are relayed as they are.
    const stream = d.containers.logs({ id: args.container, follow: Boolean(flags.follow), timestamps: Boolean(flags.timestamps), tail });
    const stop = () => stream.cancel();
    process.once('SIGINT', stop);
    try {
      await new Promise<void>((resolve, reject) => {
        stream.on('data', (f: OutputFrame) => {
          const dest = f.stream === 'STDERR' ? io.stderr : io.stdout;
          if (!dest.write(f.data)) {
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
