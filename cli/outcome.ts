// How a CLI process ends: with the command's own exit code, and never with 0 while
// the command has not finished. Node ends a process with 0 when its event loop runs
// dry, whatever promise is still pending: a stream or timer that nothing holds open
// (grpc-js unrefs its connections) would turn "not done yet" into "success" for a
// script. Both entries (cli/main.ts, the snapshot in cli/snapshot.ts) end through
// here, so no path around it exists.

/** A closed stdout (`tdock … | head`): what a process killed by SIGPIPE returns, silently. */
export const BROKEN_PIPE_EXIT = 128 + 13;

/** What a process that ends before its command did prints and returns. */
export const UNFINISHED_EXIT = 125;
export const UNFINISHED_LINE = 'tdock: internal error: the process was ending before the command finished (nothing is known about its outcome)';

export interface Outcome {
  /** stderr, replaceable in tests */
  write?: (s: string) => void;
  /** called once, just before exiting with the command's code */
  beforeExit?: () => void;
}

/**
 * Runs `command` to its end and exits with its code. If the event loop drains or
 * anything calls process.exit(0) while it is still pending, the process exits
 * UNFINISHED_EXIT with a one-line message instead.
 */
export function exitWith(command: Promise<number>, o: Outcome = {}): void {
  const write = o.write ?? ((s: string) => process.stderr.write(s));
  let pending = true;
  const unfinished = () => {
    if (!pending) return;
    pending = false;
    write(`${UNFINISHED_LINE}\n`);
    process.exitCode = UNFINISHED_EXIT;
  };
  // 'beforeExit': the loop ran dry; 'exit': someone called process.exit() early.
  process.once('beforeExit', () => {
    unfinished();
    process.exit();
  });
  process.once('exit', (code) => {
    if (pending && code === 0) unfinished();
  });
  // Node ignores SIGPIPE and oclif swallows EPIPE: without this a client whose
  // reader went away (`tdock run … yes | head -n 1`) would wait forever. Like any
  // Unix filter it ends; the container goes on (or is removed by --rm when it ends).
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') return;
    pending = false;
    process.exit(BROKEN_PIPE_EXIT);
  });
  command.then(
    (code) => {
      pending = false;
      o.beforeExit?.();
      flushThenExit(code);
    },
    (e: unknown) => {
      pending = false;
      write(`Error: ${e instanceof Error ? e.message : String(e)}\n`);
      flushThenExit(1);
    },
  );
}

/**
 * Exits once stdout and stderr have handed everything to the kernel. Node writes to
 * a pipe asynchronously: process.exit() with output still queued drops it (a reader
 * busy for a moment got 64 KiB of 8 MiB). A reader that went away ends us with EPIPE
 * instead (the handler above); one that never reads keeps us, as any Unix writer.
 */
function flushThenExit(code: number): void {
  let waiting = 2;
  const done = () => {
    if (--waiting === 0) process.exit(code);
  };
  for (const s of [process.stdout, process.stderr]) {
    if (s.writableLength === 0 || s.destroyed) done();
    else s.write('', () => done());
  }
}
