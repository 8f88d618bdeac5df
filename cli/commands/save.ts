import { closeSync, fsyncSync, openSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Args, Flags } from '../oclif.ts';
import { io, TdockCommand } from '../base.ts';
import { CliError, UsageError } from '../errors.ts';
import type { SaveChunk } from '../../proto/api.ts';

/**
 * `tdock save`: the daemon streams the archive (see images/save.ts). With -o it goes to a
 * temporary file next to FILE, renamed over FILE once complete (as docker/cli does): a
 * failed save leaves FILE as it was.
 */
export default class Save extends TdockCommand {
  static summary = 'Save one or more images to a tar archive (streamed to STDOUT by default).';
  static usage = 'save [OPTIONS] IMAGE [IMAGE...]';
  static aliases = ['image:save'];
  static strict = false;
  static examples = ['tdock save -o busybox.tar busybox', 'tdock save busybox alpine:3.20 > images.tar'];
  static flags = {
    output: Flags.string({ char: 'o', summary: 'Write to a file, instead of STDOUT.', helpValue: 'FILE' }),
  };
  static args = { image: Args.string({ description: 'image reference or id', ignoreStdin: true }) };

  async run(): Promise<void> {
    const { flags, argv } = await this.parse(Save);
    const names = argv as string[];
    if (names.length === 0) throw new UsageError('"save" requires at least 1 argument (see \'tdock save --help\')');
    const out = flags.output;
    if (out === undefined && io.stdout.isTTY) throw new CliError('cowardly refusing to save to a terminal. Use the -o flag or redirect');
    // checked before the daemon is asked (docker/cli's ValidateOutputPath): the error names
    // the directory, not the temporary file tdock would have made in it
    if (out !== undefined) validateOutputPath(out);
    const d = await this.daemon(flags.host);
    const stream = d.images.save({ refs: names });
    if (out === undefined) {
      await new Promise<void>((resolve, reject) => {
        stream.on('data', (c: SaveChunk) => {
          if (!io.stdout.write(c.data)) {
            stream.pause();
            io.stdout.once('drain', () => stream.resume());
          }
        });
        stream.on('end', resolve);
        stream.on('error', reject);
      });
      return;
    }
    const tmp = join(dirname(out), `.${basename(out)}.tdock-tmp-${randomBytes(4).toString('hex')}`);
    let fd: number;
    try {
      fd = openSync(tmp, 'wx', 0o644);
    } catch (e) {
      throw new CliError(`failed to save image: invalid output path: ${(e as Error).message}`);
    }
    try {
      await new Promise<void>((resolve, reject) => {
        stream.on('data', (c: SaveChunk) => {
          try {
            let off = 0;
            while (off < c.data.length) off += writeSync(fd, c.data, off);
          } catch (e) {
            stream.cancel();
            reject(new CliError(`failed to save image: writing ${out}: ${(e as Error).message}`));
          }
        });
        stream.on('end', resolve);
        stream.on('error', reject);
      });
      fsyncSync(fd);
      closeSync(fd);
      renameSync(tmp, out);
    } catch (e) {
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
      rmSync(tmp, { force: true });
      throw e;
    }
  }
}

function validateOutputPath(out: string): void {
  const dir = dirname(out);
  let st;
  try {
    st = statSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new CliError(`failed to save image: invalid output path: directory "${dir}" does not exist`);
    throw new CliError(`failed to save image: invalid output path: ${(e as Error).message}`);
  }
  if (!st.isDirectory()) throw new CliError(`failed to save image: invalid output path: "${dir}" is not a directory`);
  try {
    const f = statSync(out);
    if (f.isDirectory()) throw new CliError(`failed to save image: invalid output path: "${out}" is a directory`);
  } catch (e) {
    if (e instanceof CliError) throw e;
  }
}
