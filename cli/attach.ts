// The client half of Attach/Exec (bidirectional streams): used by run, start -a,
// attach and exec.
//   -> start {id, stdin, size, exec}      first message
//   <- attached                           the stream is live: run may Start now
//   <- output {stream, data}*             relayed binary-safe to stdout/stderr
//   -> stdin bytes*, closeStdin at EOF    with -i
//   -> resize {rows, cols}                with -t, at start and on SIGWINCH
//   <- exit {exitCode, oomKilled, error}  the end
// With a tty the local terminal goes raw (restored on every way out); without one,
// received signals are proxied to the container (Docker's --sig-proxy).
// Ctrl-P Ctrl-Q detaches from a tty session (Docker's default detach keys).
import type { ClientDuplexStream } from '@grpc/grpc-js';
import type { AttachInput, AttachOutput, AttachStart, ExitStatus, TerminalSize } from '../proto/api.ts';
import { io } from './base.ts';
import { CliError } from './errors.ts';
import { mark } from './trace.ts';

export interface SessionOptions {
  stream: ClientDuplexStream<AttachInput, AttachOutput>;
  start: AttachStart;
  /** forward our stdin */
  stdin: boolean;
  /** the container/exec has a tty */
  tty: boolean;
  /** called once the daemon says `attached` (run: Start the container) */
  onAttached?: () => Promise<unknown>;
  /** non-tty sessions: forward a received signal (name without SIG) */
  sigProxy?: (signal: string) => void;
  /** exec -d: done once the daemon says `attached` (or the stream ends) */
  returnOnAttached?: boolean;
}

export interface SessionResult {
  exit?: ExitStatus;
  detached?: boolean;
}

const PROXIED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];
const DETACH = [0x10, 0x11]; // Ctrl-P Ctrl-Q

export function terminalSize(): TerminalSize | null {
  const out = io.stdout;
  if (!out.isTTY || !out.rows || !out.columns) return null;
  return { rows: out.rows, cols: out.columns };
}

/** Restores the terminal on every exit path, even process.exit() from elsewhere. */
function makeRaw(): () => void {
  const stdin = io.stdin;
  if (!stdin.isTTY || typeof stdin.setRawMode !== 'function') return () => {};
  stdin.setRawMode(true);
  let restored = false;
  const restore = () => {
    if (restored) return;
    restored = true;
    try {
      stdin.setRawMode!(false);
    } catch {
      // the terminal is gone
    }
  };
  process.once('exit', restore);
  return () => {
    process.removeListener('exit', restore);
    restore();
  };
}

export function session(opts: SessionOptions): Promise<SessionResult> {
  const { stream } = opts;
  return new Promise<SessionResult>((resolve, reject) => {
    let done = false;
    let attached = false;
    const cleanups: (() => void)[] = [];
    const finish = (err: unknown, result?: SessionResult) => {
      if (done) return;
      done = true;
      for (const c of cleanups.reverse()) {
        try {
          c();
        } catch {
          // keep cleaning up
        }
      }
      if (err) {
        stream.cancel();
        reject(err);
      } else {
        stream.end();
        resolve(result ?? {});
      }
    };

    // ---- terminal ----------------------------------------------------------
    if (opts.tty && opts.stdin) cleanups.push(makeRaw());
    if (opts.tty && io.stdout.isTTY) {
      const onResize = () => {
        const size = terminalSize();
        if (size && !done) stream.write({ resize: size });
      };
      process.stdout.on('resize', onResize);
      cleanups.push(() => process.stdout.removeListener('resize', onResize));
    }

    // ---- signals -----------------------------------------------------------
    if (!opts.tty && opts.sigProxy) {
      const proxy = opts.sigProxy;
      for (const sig of PROXIED) {
        const h = () => proxy(sig.slice(3));
        process.on(sig, h);
        cleanups.push(() => process.removeListener(sig, h));
      }
    } else if (opts.tty) {
      // a raw terminal sends ^C as a byte; a signal from elsewhere ends us, cleanly
      for (const sig of ['SIGTERM', 'SIGHUP'] as NodeJS.Signals[]) {
        const h = () => {
          finish(new CliError(`received ${sig}`, 128 + (sig === 'SIGTERM' ? 15 : 1)));
        };
        process.on(sig, h);
        cleanups.push(() => process.removeListener(sig, h));
      }
    }

    // ---- stdin -------------------------------------------------------------
    const startStdin = () => {
      if (!opts.stdin) return;
      const input = io.stdin;
      let pending: number | undefined; // 1 when the last chunk ended with Ctrl-P
      const onData = (chunk: Buffer | string) => {
        let buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
        if (opts.tty) {
          if (pending !== undefined) {
            if (buf[0] === DETACH[1]) return finish(null, { detached: true });
            buf = Buffer.concat([Buffer.from([DETACH[0]!]), buf]);
            pending = undefined;
          }
          for (let i = 0; i < buf.length; i++) {
            if (buf[i] !== DETACH[0]) continue;
            if (i + 1 === buf.length) {
              pending = 1;
              buf = buf.subarray(0, i);
              break;
            }
            if (buf[i + 1] === DETACH[1]) {
              if (i > 0) stream.write({ stdin: buf.subarray(0, i) });
              return finish(null, { detached: true });
            }
          }
          if (buf.length === 0) return;
        }
        if (!stream.write({ stdin: buf })) {
          input.pause();
          stream.once('drain', () => input.resume());
        }
      };
      const onEnd = () => {
        if (!done) stream.write({ closeStdin: true });
      };
      input.on('data', onData);
      input.once('end', onEnd);
      input.resume();
      cleanups.push(() => {
        input.removeListener('data', onData);
        input.removeListener('end', onEnd);
        input.pause();
      });
    };

    // ---- output from the daemon ---------------------------------------------
    const onAttachedMsg = () => {
      if (attached) return;
      attached = true;
      if (opts.returnOnAttached) return finish(null, {});
      startStdin();
      if (opts.onAttached) {
        opts.onAttached().catch((e: unknown) => finish(e));
      }
    };

    stream.on('data', (m: AttachOutput) => {
      if (done) return;
      const kind = m.msg ?? (m.exit ? 'exit' : m.output ? 'output' : m.attached ? 'attached' : undefined);
      if (kind !== 'output') mark(`${kind} received`);
      if (kind === 'attached') return onAttachedMsg();
      if (kind === 'output' && m.output) {
        const dest = m.output.stream === 'STDERR' ? io.stderr : io.stdout;
        if (!dest.write(m.output.data)) {
          stream.pause();
          dest.once('drain', () => stream.resume());
        }
        return;
      }
      if (kind === 'exit') return finish(null, { exit: m.exit ?? { exitCode: 0, oomKilled: false, error: '' } });
    });
    stream.on('error', (e: Error & { code?: number }) => {
      if (!done) finish(e);
    });
    stream.on('end', () => {
      if (!done && opts.returnOnAttached) return finish(null, {});
      if (!done) finish(new CliError('the tdock daemon ended the session without an exit status'));
    });

    stream.write({ start: opts.start });
    mark('session started');
  });
}
