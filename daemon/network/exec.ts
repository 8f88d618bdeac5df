// Running ip/nft/iptables: one spawn each (they cost milliseconds: batch what you can),
// stdin for scripts, the first line of stderr in the error.
import { spawn } from 'node:child_process';

export interface RunResult { stdout: string; stderr: string; code: number }

export class CommandError extends Error {
  readonly stderr: string;
  readonly code: number;
  constructor(cmd: string, r: RunResult) {
    const why = r.stderr.trim().split('\n').find((l) => l.trim()) ?? `exit status ${r.code}`;
    super(`${cmd}: ${why}`);
    this.stderr = r.stderr;
    this.code = r.code;
  }
}

/** Runs argv[0] with argv[1..]; resolves with its output whatever the exit code. */
export function run(argv: string[], input?: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(argv[0]!, argv.slice(1), { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    p.stdout!.on('data', (b: Buffer) => out.push(b));
    p.stderr!.on('data', (b: Buffer) => err.push(b));
    p.on('error', reject);
    p.on('close', (code, signal) => {
      resolve({ stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), code: code ?? (signal ? 128 : 1) });
    });
    if (input !== undefined) {
      p.stdin!.on('error', () => {}); // EPIPE when the command exits early: the exit code tells
      p.stdin!.end(input);
    }
  });
}

/** How a command is run: `run`, or a NetSystem's (tests pass a fake). */
export type Runner = (argv: string[], input?: string) => Promise<RunResult>;

/** Like run (through `runner`), but rejects with a CommandError on a non-zero exit. */
export async function must(runner: Runner, argv: string[], input?: string): Promise<string> {
  const r = await runner(argv, input);
  if (r.code !== 0) throw new CommandError(argv.slice(0, 2).join(' '), r);
  return r.stdout;
}

/** Milliseconds since `t0` (from performance.now()), rounded to 0.01. */
export function since(t0: number): number {
  return Math.round((performance.now() - t0) * 100) / 100;
}
