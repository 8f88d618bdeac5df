// TDOCK_TRACE_STARTUP=1 prints where a CLI start spends its time (stderr, at exit).
// Costs nothing otherwise. Used to keep `tdock ps` fast.
let on = Boolean(process.env.TDOCK_TRACE_STARTUP);
let marks: [string, number][] = [];

export function mark(name: string): void {
  if (!on) return;
  if (marks.length === 0) process.once('exit', report);
  marks.push([name, performance.now()]);
}

/** A start from the startup snapshot: forget the build's state, read the environment now. */
export function restartTrace(): void {
  on = Boolean(process.env.TDOCK_TRACE_STARTUP);
  marks = [];
}

function report(): void {
  let prev = 0;
  let out = '';
  for (const [n, t] of marks) {
    out += `${n.padEnd(28)} ${(t - prev).toFixed(1).padStart(6)} ms  (at ${t.toFixed(1)})\n`;
    prev = t;
  }
  out += `${'exit'.padEnd(28)} ${(performance.now() - prev).toFixed(1).padStart(6)} ms  (at ${performance.now().toFixed(1)})\n`;
  process.stderr.write(out);
}
