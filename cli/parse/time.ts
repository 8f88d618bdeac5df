// logs --since/--until: the forms Docker's CLI takes, turned into the API's Unix time
// ("SECONDS.NANOSECONDS"). Relative durations count back from this machine's clock, as
// Docker's do.

import { ValueError } from './bytes.ts';

const NS_PER: Record<string, bigint> = { ns: 1n, us: 1_000n, 'µs': 1_000n, ms: 1_000_000n, s: 1_000_000_000n, m: 60_000_000_000n, h: 3_600_000_000_000n };

/** Go's time.ParseDuration ("10m", "1h30m", "1.5s", "-5m"), in ns; undefined if it is not one. */
export function parseDuration(s: string): bigint | undefined {
  const m = /^([+-]?)((?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|ms|s|m|h))+)$/.exec(s);
  if (!m) return undefined;
  let total = 0n;
  for (const [, int, frac, unit] of m[2]!.matchAll(/(\d*)(?:\.(\d*))?(ns|us|µs|ms|s|m|h)/g)) {
    const per = NS_PER[unit!]!;
    const digits = (frac ?? '').slice(0, 18);
    total += BigInt(int || '0') * per + (BigInt(digits || '0') * per) / 10n ** BigInt(digits.length);
  }
  return m[1] === '-' ? -total : total;
}

/** RFC 3339 and its shorter forms Docker takes (a date, a time without seconds); no zone = local time. */
function parseDate(s: string): bigint | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?)?([Zz]|[+-]\d{2}:\d{2})?$/.exec(s);
  if (!m) return undefined;
  const [y, mo, d, h, mi, sec] = [m[1], m[2], m[3], m[4], m[5], m[6]].map((x) => Number(x ?? 0)) as [number, number, number, number, number, number];
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return undefined;
  let ms: number;
  if (m[8] === undefined) {
    ms = new Date(y, mo - 1, d, h, mi, sec).getTime();
  } else {
    const off = /^[Zz]$/.test(m[8]) ? 0 : (m[8].startsWith('-') ? -1 : 1) * (Number(m[8].slice(1, 3)) * 60 + Number(m[8].slice(4, 6)));
    ms = Date.UTC(y, mo - 1, d, h, mi, sec) - off * 60_000;
  }
  // Date rolls 2023-02-31 over into March: refuse it instead.
  if (new Date(y, mo - 1, d).getDate() !== d) return undefined;
  return BigInt(ms) * 1_000_000n + BigInt((m[7] ?? '').padEnd(9, '0') || '0');
}

/** Unix time: SECONDS or SECONDS.FRACTION. */
function parseUnix(s: string): bigint | undefined {
  const m = /^(\d+)(?:\.(\d{1,9}))?$/.exec(s);
  return m ? BigInt(m[1]!) * 1_000_000_000n + BigInt((m[2] ?? '').padEnd(9, '0')) : undefined;
}

/** The value of --since/--until as the API's "SECONDS.NANOSECONDS"; nowNs is this machine's clock. */
export function parseTimeFlag(value: string, flag: string, nowNs: bigint): string {
  const v = value.trim();
  const d = v === '0' ? undefined : parseDuration(v);
  let ns = d !== undefined ? nowNs - d : (parseDate(v) ?? parseUnix(v));
  if (ns === undefined) {
    throw new ValueError(`invalid value "${value}" for ${flag}: expected a timestamp (2024-01-02T15:04:05Z, 2024-01-02, 1704207845) or a duration before now (10m, 1h30m)`);
  }
  if (ns < 0n) ns = 0n;
  return `${ns / 1_000_000_000n}.${(ns % 1_000_000_000n).toString().padStart(9, '0')}`;
}
