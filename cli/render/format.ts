// Human formatting, following Docker's go-units so output looks familiar.
import { humanDuration } from '../../lib/duration.ts';

/** "3 seconds ago" for a unix time in seconds (0 = unknown). */
export function ago(unixSeconds: number, nowMs: number = Date.now()): string {
  if (!unixSeconds) return '';
  return `${humanDuration(Math.max(0, nowMs - unixSeconds * 1000))} ago`;
}

/** Go's %.<p>g: p significant digits, trailing zeros removed. */
function gfmt(n: number, precision: number): string {
  let s = n.toPrecision(precision);
  if (s.includes('e')) {
    const [mant, exp] = s.split('e') as [string, string];
    const m = mant.includes('.') ? mant.replace(/\.?0+$/, '') : mant;
    const e = Number(exp);
    return `${m}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
  }
  if (s.includes('.')) s = s.replace(/\.?0+$/, '');
  return s;
}

function custom(size: number, base: number, units: readonly string[], precision: number): string {
  let i = 0;
  let n = size;
  while (n >= base && i < units.length - 1) {
    n /= base;
    i++;
  }
  // rounding may reach the base (999.96 -> "1e+03"): move up a unit instead
  if (i < units.length - 1 && Number(n.toPrecision(precision)) >= base) {
    n /= base;
    i++;
  }
  return `${gfmt(n, precision)}${units[i]}`;
}

const DECIMAL = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'];
const BINARY = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB', 'ZiB', 'YiB'];

/** go-units HumanSizeWithPrecision(size, 3): 4.26MB (what `docker images` shows). */
export function humanSize(bytes: number, precision = 3): string {
  return custom(bytes, 1000, DECIMAL, precision);
}

/** go-units BytesSize: 1.953MiB (what `docker stats` shows). */
export function bytesSize(bytes: number): string {
  return custom(bytes, 1024, BINARY, 4);
}

/** Docker's ellipsis: at most `max` characters, the last one "…" when cut. */
export function ellipsis(s: string, max: number): string {
  const chars = [...s];
  if (chars.length <= max) return s;
  if (max <= 0) return '';
  return `${chars.slice(0, max - 1).join('')}…`;
}

/** Go's strconv.Quote for the strings we show (commands). */
export function goQuote(s: string): string {
  return JSON.stringify(s);
}

export function shortId(id: string): string {
  const bare = id.startsWith('sha256:') ? id.slice(7) : id;
  return bare.slice(0, 12);
}

/** Docker's RFC3339Nano for log timestamps: 2024-01-02T03:04:05.123456789Z. */
export function rfc3339Nano(timeNs: number | bigint): string {
  const ns = typeof timeNs === 'bigint' ? timeNs : BigInt(Math.trunc(timeNs));
  const ms = Number(ns / 1_000_000n);
  const frac = (ns % 1_000_000_000n).toString().padStart(9, '0').replace(/0+$/, '');
  const base = new Date(ms).toISOString().slice(0, 19);
  return `${base}${frac ? `.${frac}` : ''}Z`;
}
