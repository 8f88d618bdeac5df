// A container's healthcheck from run/create's --health-* flags over the image's
// HEALTHCHECK, merged as Docker does: a flag left unset takes the image's value
// (--health-cmd "" keeps the image's test), --no-healthcheck turns it off (Test ["NONE"]).
// Durations are nanoseconds as in Docker's config; 0 = unset (the default applies).
import { invalid } from '../errors.ts';
import { DEFAULT_INTERVAL_MS, DEFAULT_RETRIES, DEFAULT_TIMEOUT_MS, type HealthTiming } from './schedule.ts';

/** Docker's HealthConfig (the image config's and the container's Config.Healthcheck). */
export interface HealthcheckConfig {
  Test: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  Retries?: number;
}

export interface HealthFlags {
  healthCmd?: string;
  healthInterval?: number;
  healthTimeout?: number;
  healthRetries?: number;
  healthStartPeriod?: number;
  noHealthcheck?: boolean;
}

const MS = 1_000_000;

function duration(v: number | undefined, flag: string): number {
  const n = v ?? 0;
  if (!Number.isSafeInteger(n) || n < 0) throw invalid(`invalid ${flag} ${n}: it cannot be negative`);
  // Docker's: a duration under a millisecond is refused (it would probe in a busy loop).
  if (n > 0 && n < MS) throw invalid(`invalid ${flag}: it cannot be less than 1ms`);
  return n;
}

/** The merged healthcheck, or undefined when neither the flags nor the image have one. */
export function mergeHealthcheck(f: HealthFlags, image: Partial<HealthcheckConfig> | null | undefined): HealthcheckConfig | undefined {
  const interval = duration(f.healthInterval, '--health-interval');
  const timeout = duration(f.healthTimeout, '--health-timeout');
  const startPeriod = duration(f.healthStartPeriod, '--health-start-period');
  const retries = f.healthRetries ?? 0;
  if (!Number.isSafeInteger(retries) || retries < 0) throw invalid(`invalid --health-retries ${retries}: it cannot be negative`);
  if (f.healthCmd?.includes('\0')) throw invalid('invalid --health-cmd: it contains a NUL byte');
  if (f.noHealthcheck) {
    if (f.healthCmd || interval || timeout || startPeriod || retries) throw invalid('--no-healthcheck conflicts with --health-* options');
    return { Test: ['NONE'] };
  }
  const test = f.healthCmd ? ['CMD-SHELL', f.healthCmd] : (image?.Test ?? []);
  if (!test.length) return undefined;
  checkTest(test);
  const out: HealthcheckConfig = { Test: [...test] };
  const pick = (mine: number, theirs: number | undefined) => mine || theirs || 0;
  const i = pick(interval, image?.Interval);
  const t = pick(timeout, image?.Timeout);
  const s = pick(startPeriod, image?.StartPeriod);
  const r = pick(retries, image?.Retries);
  // Docker's inspect leaves unset ones out (omitempty).
  if (i) out.Interval = i;
  if (t) out.Timeout = t;
  if (s) out.StartPeriod = s;
  if (r) out.Retries = r;
  return out;
}

function checkTest(test: readonly string[]): void {
  const kind = test[0];
  if (kind === 'NONE') return;
  if (kind === 'CMD' && test.length >= 2) return;
  if (kind === 'CMD-SHELL' && test.length === 2 && test[1] !== '') return;
  throw invalid(`invalid healthcheck test ${JSON.stringify(test)}: expected ["CMD", ARG...], ["CMD-SHELL", COMMAND] or ["NONE"]`);
}

/** The command a probe runs, or undefined when the healthcheck is off. */
export function probeCommand(h: HealthcheckConfig | undefined): string[] | undefined {
  if (!h || !h.Test.length || h.Test[0] === 'NONE') return undefined;
  if (h.Test[0] === 'CMD-SHELL') return ['/bin/sh', '-c', h.Test[1] ?? ''];
  return h.Test.slice(1);
}

/** The timing with Docker's defaults for what is unset. */
export function healthTiming(h: HealthcheckConfig): HealthTiming {
  const ms = (ns: number | undefined, def: number) => (ns ? Math.max(1, Math.round(ns / MS)) : def);
  return {
    intervalMs: ms(h.Interval, DEFAULT_INTERVAL_MS),
    timeoutMs: ms(h.Timeout, DEFAULT_TIMEOUT_MS),
    startPeriodMs: ms(h.StartPeriod, 0),
    retries: h.Retries && h.Retries > 0 ? h.Retries : DEFAULT_RETRIES,
  };
}
