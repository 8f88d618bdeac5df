import { Args, Flags } from '../oclif.ts';
import { io, TdockCommand } from '../base.ts';
import { humanSize } from '../render/format.ts';
import type { ClientReadableStream } from '@grpc/grpc-js';
import type { PullProgress } from '../../proto/api.ts';

/** One line per change of (id, status); byte counts only on a terminal. */
export class ProgressPrinter {
  #last = new Map<string, string>();
  #tty: boolean;
  #lastWasProgress = false;
  constructor(tty: boolean) {
    this.#tty = tty;
  }
  line(p: PullProgress): string | undefined {
    const key = p.id || '';
    const head = p.id ? `${p.id}: ${p.status}` : p.status;
    if (!p.status) return undefined;
    const hasBytes = p.total > 0 || p.current > 0;
    if (this.#tty && hasBytes) {
      const bytes = p.total > 0 ? `${humanSize(p.current)}/${humanSize(p.total)}` : humanSize(p.current);
      this.#last.set(key, p.status);
      this.#lastWasProgress = true;
      return `\r\x1b[2K${head} ${bytes}`;
    }
    if (this.#last.get(key) === p.status) return undefined;
    this.#last.set(key, p.status);
    const pre = this.#lastWasProgress ? '\n' : '';
    this.#lastWasProgress = false;
    return `${pre}${head}\n`;
  }
  end(): string {
    return this.#lastWasProgress ? '\n' : '';
  }
}

/** Relays a progress stream; resolves with the final image id. */
export function followProgress(stream: ClientReadableStream<PullProgress>, quiet: boolean, out: NodeJS.WritableStream): Promise<string> {
  const printer = new ProgressPrinter(Boolean((out as { isTTY?: boolean }).isTTY));
  let imageId = '';
  return new Promise<string>((resolve, reject) => {
    stream.on('data', (p: PullProgress) => {
      if (p.imageId) imageId = p.imageId;
      if (quiet) return;
      const l = printer.line(p);
      if (l) out.write(l);
    });
    stream.on('end', () => {
      if (!quiet) out.write(printer.end());
      resolve(imageId);
    });
    stream.on('error', (e) => {
      if (!quiet) out.write(printer.end());
      reject(e);
    });
  });
}

export default class Pull extends TdockCommand {
  static summary = 'Download an image.';
  static usage = 'pull [OPTIONS] NAME[:TAG]';
  static aliases = ['image:pull'];
  static flags = {
    quiet: Flags.boolean({ char: 'q', summary: 'Suppress progress output; print only the image reference.' }),
    platform: Flags.string({ summary: 'Platform (linux/amd64, linux/arm64).', helpValue: 'OS/ARCH' }),
  };
  static args = { name: Args.string({ description: 'image reference', required: true, ignoreStdin: true }) };

  async run(): Promise<void> {
    const { flags, args } = await this.parse(Pull);
    const d = await this.daemon(flags.host);
    const stream = d.images.pull({ ref: args.name, platform: flags.platform ?? '' });
    const id = await followProgress(stream, Boolean(flags.quiet), io.stdout);
    if (!flags.quiet && id) this.print(`Image: ${id}`);
    this.print(args.name);
  }
}
