// Base of every tdock command: the global -H/--host flag, a lazily loaded daemon
// connection, and ONE-line error reporting with Docker's exit codes.
import { renderInspect } from './render/inspect.ts';
import { Command, Flags } from './oclif.ts';
import type { Daemon } from './client.ts';
import { describeError, isConnectionError } from './errors.ts';
import { resolveHost } from './host.ts';
import { mark } from './trace.ts';
import { visible } from './render/escape.ts';

export const hostFlag = Flags.string({
  char: 'H',
  summary: 'Daemon socket to connect to (default $TDOCK_HOST or unix:///run/tdock/tdock.sock).',
  helpValue: 'unix:///PATH',
});

/** Flags every command accepts. */
export const baseFlags = { host: hostFlag };

/** Process streams, replaceable in tests. */
export interface Io {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number; rows?: number };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
}

let ioOverride: Partial<Io> = {};

/** Tests replace the process streams with their own. */
export function setIo(o: Partial<Io>): void {
  ioOverride = o;
}

export const io: Io = {
  get stdin() {
    return ioOverride.stdin ?? process.stdin;
  },
  get stdout() {
    return ioOverride.stdout ?? process.stdout;
  },
  get stderr() {
    return ioOverride.stderr ?? process.stderr;
  },
};

export abstract class TdockCommand extends Command {
  static baseFlags = baseFlags;

  /** The daemon address used (for the daemon-down message). */
  protected hostName: string | undefined;
  #daemon: Daemon | undefined;

  /** Connects to the daemon named by -H/--host, $TDOCK_HOST or the default. */
  protected async daemon(hostFlagValue?: string): Promise<Daemon> {
    if (this.#daemon) return this.#daemon;
    this.hostName = resolveHost(hostFlagValue);
    mark('command parsed');
    const { connect } = await import('./client.ts');
    mark('client loaded (grpc, protobufjs)');
    this.#daemon = connect(this.hostName);
    return this.#daemon;
  }

  protected print(s: string): void {
    io.stdout.write(s.endsWith('\n') ? s : `${s}\n`);
  }

  /** One line for the user (an error, a warning): control characters in it are shown escaped. */
  protected printErr(s: string): void {
    io.stderr.write(`${visible(s.endsWith('\n') ? s.slice(0, -1) : s)}\n`);
  }

  /** Prints one error line (for commands that go on with the next argument). */
  protected report(e: unknown): number {
    const { line, code } = describeError(e, this.hostName ?? resolveHost());
    this.printErr(line);
    return code;
  }

  /** True when the error means "no daemon": multi-argument commands stop then. */
  protected isFatal(e: unknown): boolean {
    return isConnectionError(e);
  }

  /**
   * Runs `fn` for every argument like docker's multi-container verbs: an error is
   * printed and the next one is tried; exit 1 at the end if any failed. A daemon
   * that cannot be reached stops everything at once.
   */
  protected async each(targets: readonly string[], fn: (t: string) => Promise<void>): Promise<void> {
    let failed = false;
    for (const t of targets) {
      try {
        await fn(t);
      } catch (e) {
        if (this.isFatal(e)) throw e;
        this.report(e);
        failed = true;
      }
    }
    if (failed) this.exit(1);
  }

  /**
   * Docker's inspect verbs: the documents of all the names that could be read (one JSON
   * array, or one --format line each); the others are reported and make it exit 1.
   */
  protected async inspectEach(names: readonly string[], one: (n: string) => Promise<unknown>, format: string | undefined): Promise<void> {
    const docs: unknown[] = [];
    let failed = false;
    for (const n of names) {
      try {
        docs.push(await one(n));
      } catch (e) {
        if (this.isFatal(e)) throw e;
        this.report(e);
        failed = true;
      }
    }
    if (!format || docs.length > 0) this.print(renderInspect(docs, format));
    if (failed) this.exit(1);
  }

  override async catch(err: Error & { code?: unknown }): Promise<never> {
    if (err.code === 'EEXIT') throw err;
    const code = this.report(err);
    this.exit(code);
  }

  override async finally(_: Error | undefined): Promise<void> {
    this.#daemon?.close();
    this.#daemon = undefined;
  }
}
