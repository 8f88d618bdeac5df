// Test-only crash points: with TDOCK_CRASH_AT=STEP the daemon dies like kill -9 at
// that named step, so a test can crash it at every step in turn and check that the
// next start finishes what was interrupted and leaves nothing behind. Unset (always,
// outside tests) it costs one string comparison per step.

/** Every step, in the order a `run --rm` then `rm` reaches them. */
export const CRASH_STEPS = [
  'create.dir', // the bundle directory exists, no row yet
  'create.row', // the row exists (state created)
  'start.network', // address, ports and /etc files prepared
  'start.cgroups', // cgroups made
  'start.monitor', // the monitor runs, init waits for START
  'start.attach', // the container's network is wired
  'start.running', // recorded as running, START not sent yet
  'exit.recorded', // the exit is in the row, nothing torn down
  'exit.teardown', // network, cgroups and run dir gone; --rm not done yet
  'rm.dead', // rm: marked dead, nothing removed yet
  'rm.teardown', // rm: torn down, row and bundle still there
  'rm.row', // rm: row gone, bundle directory still there
] as const;

export type CrashStep = (typeof CRASH_STEPS)[number];

const at = process.env.TDOCK_CRASH_AT;

export function crashPoint(step: CrashStep): void {
  if (at === step) process.kill(process.pid, 'SIGKILL');
}
