import { createReadStream, statSync } from 'node:fs';
import { Flags } from '../oclif.ts';
import { io, TdockCommand } from '../base.ts';
import { CliError } from '../errors.ts';
import { ProgressPrinter } from './pull.ts';
import { sendAll } from './import.ts';
import type { PullProgress } from '../../proto/api.ts';

/**
 * `tdock load`: sends a docker-archive or OCI-layout tar to the daemon (images/load.ts).
 * Prints "Loaded image: NAME:TAG" per tag and "Loaded image ID: sha256:..." for an
 * untagged image, also with -q (which only hides the progress), like docker load.
 * Errors exit 1, as docker load's do.
 */
export default class Load extends TdockCommand {
  static summary = 'Load images from a tar archive (docker save / tdock save / OCI layout) or STDIN.';
  static usage = 'load [OPTIONS]';
  static aliases = ['image:load'];
  static examples = ['tdock load -i busybox.tar', 'tdock load < images.tar'];
  static flags = {
    input: Flags.string({ char: 'i', summary: 'Read from tar archive file, instead of STDIN.', helpValue: 'FILE' }),
    quiet: Flags.boolean({ char: 'q', summary: 'Suppress the load output.' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Load);
    let input: NodeJS.ReadableStream;
    if (flags.input !== undefined) {
      try {
        if (!statSync(flags.input).isFile()) throw new CliError(`${flags.input} is not a file`);
      } catch (e) {
        if (e instanceof CliError) throw e;
        throw new CliError(`open ${flags.input}: no such file or directory`);
      }
      input = createReadStream(flags.input, { highWaterMark: 256 * 1024 });
    } else {
      if (io.stdin.isTTY) throw new CliError('requested load from stdin, but stdin is empty');
      input = io.stdin;
    }
    const d = await this.daemon(flags.host);
    const call = d.images.load();
    const printer = new ProgressPrinter(Boolean(io.stdout.isTTY) && !flags.quiet);
    let failed: unknown;
    const done = new Promise<void>((resolve, reject) => {
      call.on('data', (p: PullProgress) => {
        if (p.status.startsWith('Loaded image') || p.status.startsWith('The image ')) {
          io.stdout.write(`${p.status}\n`);
          return;
        }
        if (flags.quiet || !io.stdout.isTTY) return;
        const l = printer.line(p);
        if (l) io.stdout.write(l);
      });
      call.on('end', () => resolve());
      call.on('error', (e) => {
        failed = e;
        if (input !== io.stdin) (input as NodeJS.ReadableStream & { destroy(): void }).destroy();
        reject(e);
      });
    });
    done.catch(() => {});
    try {
      await sendAll(input, (data) => call.write({ data }), (cb) => call.once('drain', cb), () => failed !== undefined);
    } catch (e) {
      if (!failed) {
        call.cancel();
        throw new CliError(`reading ${flags.input ?? 'stdin'}: ${(e as Error).message}`);
      }
    }
    if (!failed) call.end();
    await done;
  }
}
