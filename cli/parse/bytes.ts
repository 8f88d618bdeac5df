// Sizes and other numeric flags of `run`/`create`, validated like Docker's CLI.

export class ValueError extends Error {}

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };

/**
 * Docker's RAMInBytes: a number with an optional binary unit (b, k, m, g, t, p,
 * optionally followed by "b" or "ib", any case): 64m, 1g, 512k, 1.5GiB, 1048576.
 */
export function parseBytes(s: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?) ?([bkmgtp])?(?:i?b)?$/i.exec(s.trim());
  if (!m) return undefined;
  const n = Number(m[1]) * UNITS[(m[2] ?? '').toLowerCase()]!;
  return Math.floor(n);
}

export function memoryFlag(flag: string, value: string, allowUnlimited: boolean): number {
  if (allowUnlimited && value.trim() === '-1') return -1;
  const n = parseBytes(value);
  if (n !== undefined && !Number.isSafeInteger(n)) throw new ValueError(`invalid value "${value}" for ${flag}: out of range`);
  if (n === undefined) {
    throw new ValueError(
      `invalid value "${value}" for ${flag}: expected a size such as 64m, 1g or a number of bytes${allowUnlimited ? ' (-1 = unlimited)' : ''}`,
    );
  }
  return n;
}

export function cpusFlag(value: string): number {
  const s = value.trim();
  const n = /^\d*\.?\d+$/.test(s) ? Number(s) : Number.NaN;
  if (!Number.isFinite(n) || n <= 0) {
    throw new ValueError(`invalid value "${value}" for --cpus: expected a positive number of CPUs such as 0.5 or 2`);
  }
  return n;
}

export function intFlag(flag: string, value: string, min: number): number {
  const s = value.trim();
  if (!/^-?\d+$/.test(s) || Number(s) < min || !Number.isSafeInteger(Number(s))) {
    throw new ValueError(`invalid value "${value}" for ${flag}: expected an integer >= ${min}`);
  }
  return Number(s);
}

/** -e/--env: K=V, or K alone to pass the CLI's own value (Docker's rule; dropped if unset). */
export function envFlag(values: readonly string[], env: NodeJS.ProcessEnv = process.env): string[] {
  const out: string[] = [];
  for (const v of values) {
    const eq = v.indexOf('=');
    if (eq === 0) throw new ValueError(`invalid value "${v}" for -e/--env: expected KEY=VALUE or KEY`);
    if (eq > 0) out.push(v);
    else if (env[v] !== undefined) out.push(`${v}=${env[v]}`);
  }
  return out;
}
