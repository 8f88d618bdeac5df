// Docker's prune confirmation: the warning and "Are you sure you want to continue? [y/N] "
// on stdout, one line read from stdin (a terminal or a pipe); only y/yes goes on.
import { io } from './base.ts';
import { CliError } from './errors.ts';

/** Reads one line from stdin; "" at its end. */
function readLine(): Promise<string> {
  const input = io.stdin;
  return new Promise((resolve) => {
    let got = '';
    const done = () => {
      input.off('data', onData);
      input.off('end', done);
      input.off('error', done);
      input.pause();
      resolve(got.split('\n')[0]!.trim());
    };
    const onData = (d: Buffer | string) => {
      got += d.toString();
      if (got.includes('\n')) done();
    };
    input.on('data', onData);
    input.once('end', done);
    input.once('error', done);
    input.resume();
  });
}

/** Asks; throws "WHAT has been cancelled" (exit 1) unless the answer is y or yes. */
export async function confirmOrCancel(warning: string, what: string): Promise<void> {
  io.stdout.write(`${warning}\nAre you sure you want to continue? [y/N] `);
  const answer = await readLine();
  if (!/^(y|yes)$/i.test(answer)) {
    io.stdout.write('\n');
    throw new CliError(`${what} has been cancelled`);
  }
}
