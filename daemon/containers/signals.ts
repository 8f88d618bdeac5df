import { constants } from 'node:os';
import { invalid } from '../errors.ts';

/** "KILL", "SIGKILL", "kill" or "9" → 9. */
export function parseSignal(s: string, fallback = 'SIGKILL'): number {
  const v = (s || fallback).trim().toUpperCase();
  if (/^\d+$/.test(v)) {
    const n = Number(v);
    if (n >= 1 && n <= 64) return n;
  } else {
    const name = (v.startsWith('SIG') ? v : `SIG${v}`) as keyof typeof constants.signals;
    const n = constants.signals[name];
    if (n !== undefined) return n;
  }
  throw invalid(`invalid signal "${s}": use a name like TERM or KILL, or a number from 1 to 64`);
}
