import { Args, Flags } from '../oclif.ts';
import { io, TdockCommand } from '../base.ts';
import { humanSize } from '../render/format.ts';
import type { ClientReadableStream } from '@grpc/grpc-js';
import type { PullProgress } from '../../proto/api.ts';

// Statuses after which a layer is done: the only per-layer lines when not on a terminal
// (pull's, then push's).
const FINAL_STATUS = new Set(['Pull complete', 'Already exists', 'Download complete', 'Pushed', 'Layer already exists']);
const FINAL = { has: (s: string) => FINAL_STATUS.has(s) || s.startsWith('Mounted from ') };

interface LayerLine { status: string; current: number; total: number; speed: number; at: number }

/**
 * On a terminal: one line per layer (status, bytes/total, speed), redrawn in place as
 * progress arrives. Otherwise: one line per finished layer, plus the image's own lines.
 */
export class ProgressPrinter {
  #tty: boolean;
  #now: () => number;
  #layers = new Map<string, LayerLine>();
  #drawn = 0;
  constructor(tty: boolean, now: () => number = Date.now) {
    this.#tty = tty;
    this.#now = now;
  }

  line(p: PullProgress): string | undefined {
    if (!p.status) return undefined;
    if (!p.id) {
      // Image-level lines go above the layer block, which is redrawn below them.
      if (!this.#tty) return `${p.status}\n`;
      const out = `${this.#up()}\x1b[2K${p.status}\n${this.#render()}`;
      return out;
    }
    const prev = this.#layers.get(p.id);
    const now = this.#now();
    let speed = prev?.speed ?? 0;
    if (prev && p.current > prev.current && now > prev.at) {
      const inst = ((p.current - prev.current) * 1000) / (now - prev.at);
      speed = speed ? speed * 0.7 + inst * 0.3 : inst;
    }
    this.#layers.set(p.id, { status: p.status, current: p.current, total: p.total, speed, at: now });
    if (!this.#tty) {
      return FINAL.has(p.status) && prev?.status !== p.status ? `${p.id}: ${p.status}\n` : undefined;
    }
    return this.#up() + this.#render();
  }

  #up(): string {
    return this.#drawn ? `\x1b[${this.#drawn}A\r` : '';
  }

  #render(): string {
    let out = '';
    for (const [id, l] of this.#layers) {
      let text = `${id}: ${l.status}`;
      if (!FINAL.has(l.status) && (l.current > 0 || l.total > 0)) {
        text += ` ${l.total > 0 ? `${humanSize(l.current)}/${humanSize(l.total)}` : humanSize(l.current)}`;
        if (l.speed > 0) text += ` ${humanSize(l.speed)}/s`;
      }
      out += `\x1b[2K${text}\n`;
    }
    this.#drawn = this.#layers.size;
    return out;
  }

  end(): string {
    return '';
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
    'all-tags': Flags.boolean({ char: 'a', summary: 'Download all tagged images in the repository.' }),
  };
  static args = { name: Args.string({ description: 'image reference', required: true, ignoreStdin: true }) };

  async run(): Promise<void> {
    const { flags, args } = await this.parse(Pull);
    const d = await this.daemon(flags.host);
    const stream = d.images.pull({ ref: args.name, platform: flags.platform ?? '', allTags: Boolean(flags['all-tags']) });
    const id = await followProgress(stream, Boolean(flags.quiet), io.stdout);
    if (!flags.quiet && id) this.print(`Image: ${id}`);
    this.print(args.name);
  }
}
