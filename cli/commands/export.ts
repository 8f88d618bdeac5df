import { createWriteStream } from 'node:fs';
import { Args, Flags } from '../oclif.ts';
import { io, TdockCommand } from '../base.ts';
import { CliError } from '../errors.ts';

export default class Export extends TdockCommand {
  static summary = "Export a container's filesystem as a tar archive.";
  static usage = 'export [OPTIONS] CONTAINER';
  static aliases = ['container:export'];
  static flags = {
    output: Flags.string({ char: 'o', summary: 'Write to a file, instead of STDOUT.', helpValue: 'FILE' }),
  };
  static args = { container: Args.string({ description: 'container name or id', required: true, ignoreStdin: true }) };

  async run(): Promise<void> {
    const { flags, args } = await this.parse(Export);
    if (!flags.output && io.stdout.isTTY) throw new CliError('cowardly refusing to save to a terminal. Use the -o flag or redirect');
    const d = await this.daemon(flags.host);
    const call = d.files.export({ id: args.container });
    const file = flags.output ? createWriteStream(flags.output) : undefined;
    const out: NodeJS.WritableStream = file ?? io.stdout;
    if (file) {
      await new Promise<void>((resolve, reject) => {
        file.once('open', () => resolve());
        file.once('error', (e: Error) => reject(new CliError(`open ${flags.output}: ${e.message}`)));
      });
    }
    try {
      for await (const m of call as AsyncIterable<{ data: Buffer }>) {
        if (!out.write(m.data)) await new Promise<void>((r) => out.once('drain', () => r()));
      }
    } catch (e) {
      file?.end();
      throw e;
    }
    if (file) await new Promise<void>((resolve, reject) => file.end((err?: Error | null) => (err ? reject(err) : resolve())));
  }
}
