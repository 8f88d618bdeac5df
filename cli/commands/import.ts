import { createReadStream, statSync } from 'node:fs';
import { Args, Flags } from '../oclif.ts';
import { io, TdockCommand } from '../base.ts';
import { CliError, UsageError } from '../errors.ts';
import { followProgress } from './pull.ts';
import type { ImportChunk } from '../../proto/api.ts';

export const CHUNK = 256 * 1024;

export default class Import extends TdockCommand {
  static summary = 'Import a root filesystem tarball (file, URL or - for stdin) as an image.';
  static usage = 'import [OPTIONS] FILE|URL|- [REPOSITORY[:TAG]]';
  static aliases = ['image:import'];
  static examples = [
    'tdock import alpine-minirootfs.tar.gz alpine:3.20',
    'tdock import https://example.org/rootfs.tar.gz myimage --sha256 <hex>',
    'cat rootfs.tar | tdock import - myimage',
  ];
  static flags = {
    sha256: Flags.string({ summary: 'Expected sha256 of the tarball (hex); the daemon verifies it.', helpValue: 'HEX' }),
    quiet: Flags.boolean({ char: 'q', summary: 'Print only the image id.' }),
    change: Flags.string({ char: 'c', summary: 'Apply Dockerfile instruction to the created image.', multiple: true, multipleNonGreedy: true, helpValue: 'LIST' }),
    message: Flags.string({ char: 'm', summary: 'Set commit message for imported image.', helpValue: 'STRING' }),
  };
  static args = {
    source: Args.string({ description: 'tarball file, http(s) URL, or - for stdin', required: true, ignoreStdin: true }),
    name: Args.string({ description: 'REPOSITORY[:TAG] for the image (none: untagged)', ignoreStdin: true }),
  };

  async run(): Promise<void> {
    const { flags, args } = await this.parse(Import);
    let sha256 = flags.sha256?.toLowerCase() ?? '';
    if (sha256.startsWith('sha256:')) sha256 = sha256.slice(7);
    if (sha256 && !/^[0-9a-f]{64}$/.test(sha256)) throw new UsageError(`invalid value "${flags.sha256}" for --sha256: expected 64 hex digits`);
    const isUrl = /^https?:\/\//i.test(args.source);
    let input: NodeJS.ReadableStream | undefined;
    if (!isUrl) {
      if (args.source === '-') input = io.stdin;
      else {
        try {
          if (!statSync(args.source).isFile()) throw new CliError(`${args.source} is not a file`);
        } catch (e) {
          if (e instanceof CliError) throw e;
          throw new CliError(`open ${args.source}: no such file or directory`);
        }
        input = createReadStream(args.source, { highWaterMark: CHUNK });
      }
    }
    const d = await this.daemon(flags.host);
    const call = d.images.import();
    const quiet = Boolean(flags.quiet) || !io.stderr.isTTY;
    const progress = followProgress(call as never, quiet, io.stderr);
    let failed: unknown;
    progress.catch((e: unknown) => {
      failed = e;
      if (input && input !== io.stdin) (input as NodeJS.ReadableStream & { destroy(): void }).destroy();
    });
    call.write({ start: { name: args.name ?? '', url: isUrl ? args.source : '', sha256, changes: flags.change ?? [], message: flags.message ?? '' } } satisfies ImportChunk);
    if (input) {
      try {
        await sendAll(input, (data) => call.write({ data }), (cb) => call.once('drain', cb), () => failed !== undefined);
      } catch (e) {
        if (!failed) {
          call.cancel();
          throw e;
        }
      }
    }
    if (!failed) call.end();
    const id = await progress; // rejects with the daemon's status when it failed
    this.print(id || args.name || '');
  }
}

/** Sends a stream in chunks of at most 256 KiB, honouring back-pressure. */
export async function sendAll(
  input: NodeJS.ReadableStream,
  write: (b: Buffer) => boolean,
  onDrain: (cb: () => void) => void,
  stop: () => boolean = () => false,
): Promise<void> {
  for await (const chunk of input as AsyncIterable<Buffer | string>) {
    if (stop()) return;
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    for (let off = 0; off < buf.length; off += CHUNK) {
      if (!write(buf.subarray(off, off + CHUNK))) await new Promise<void>((r) => onDrain(r));
    }
  }
}
