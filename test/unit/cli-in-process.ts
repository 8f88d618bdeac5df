// Runs a CLI command's run() in this process, as the unit tests of the CLI do: the
// oclif config of the package, the output captured, TDOCK_HOST set for the call only.
import { readFileSync } from 'node:fs';
import { Readable, Writable } from 'node:stream';
import { Config } from '@oclif/core/config';
import { setIo } from '../../cli/base.ts';
import { COMMANDS } from '../../cli/app.ts';

export type CommandName = keyof typeof COMMANDS;

export class Capture extends Writable {
  chunks: Buffer[] = [];
  isTTY: boolean;
  constructor(tty = false) {
    super();
    this.isTTY = tty;
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.chunks.push(Buffer.from(chunk));
    cb();
  }
  get text(): string {
    return Buffer.concat(this.chunks).toString();
  }
}

/** The package's oclif config with the explicit command table off (run() is called directly). */
export async function loadCliConfig(): Promise<Config> {
  const pjson = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
  pjson.oclif.commands = undefined;
  return Config.load({ root: new URL('../..', import.meta.url).pathname, pjson, userPlugins: false, devPlugins: false, ignoreManifest: true });
}

export interface InProcessOptions {
  host: string;
  stdin?: NodeJS.ReadableStream;
  ttyOut?: boolean;
  ttyIn?: boolean;
}

/** `tdock NAME ARGV...`: its exit code (0 when run() returned) and what it wrote. */
export async function runCommand(config: Config, name: CommandName, argv: string[], o: InProcessOptions) {
  const stdout = new Capture(o.ttyOut ?? false);
  const stderr = new Capture(false);
  const stdin = o.stdin ?? (o.ttyIn !== undefined ? Object.assign(Readable.from([]), { isTTY: o.ttyIn }) : undefined);
  setIo({ stdout, stderr, stdin: stdin as never });
  const saved = process.env.TDOCK_HOST;
  process.env.TDOCK_HOST = o.host;
  let code = 0;
  try {
    await COMMANDS[name].run(argv, config);
  } catch (e) {
    const err = e as Error & { code?: string; oclif?: { exit?: number } };
    if (err.code !== 'EEXIT') throw e;
    code = err.oclif?.exit ?? 1;
  } finally {
    setIo({});
    process.exitCode = undefined;
    if (saved === undefined) delete process.env.TDOCK_HOST;
    else process.env.TDOCK_HOST = saved;
  }
  return { code, stdout: stdout.text, stderr: stderr.text };
}
