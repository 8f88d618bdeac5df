// run/create's healthcheck flags (Docker's names and duration syntax: 30s, 1m30s, 500ms)
// and their part of the CreateRequest. The daemon merges them with the image's
// HEALTHCHECK (daemon/health/config.ts); here only what needs no image is checked.
import { Flags } from './oclif.ts';
import { ValueError } from './parse/bytes.ts';
import { parseDuration } from './parse/time.ts';
import type { CreateRequest } from '../proto/api.ts';

export const healthFlags = {
  'health-cmd': Flags.string({ summary: 'Command to run to check health (run with /bin/sh -c in the container).', helpValue: 'CMD' }),
  'health-interval': Flags.string({ summary: 'Time between running the check (ms|s|m|h) (default 30s).', helpValue: 'DURATION' }),
  'health-timeout': Flags.string({ summary: 'Maximum time to allow one check to run (ms|s|m|h) (default 30s).', helpValue: 'DURATION' }),
  'health-retries': Flags.string({ summary: 'Consecutive failures needed to report unhealthy (default 3).', helpValue: 'N' }),
  'health-start-period': Flags.string({ summary: 'Start period for the container to initialize before failures count (ms|s|m|h) (default 0s).', helpValue: 'DURATION' }),
  'no-healthcheck': Flags.boolean({ summary: 'Disable any container-specified HEALTHCHECK.' }),
};

export interface HealthFlagValues {
  'health-cmd'?: string;
  'health-interval'?: string;
  'health-timeout'?: string;
  'health-retries'?: string;
  'health-start-period'?: string;
  'no-healthcheck'?: boolean;
}

type HealthRequest = Pick<CreateRequest, 'healthCmd' | 'healthInterval' | 'healthTimeout' | 'healthRetries' | 'healthStartPeriod' | 'noHealthcheck'>;

function durationFlag(flag: string, v: string | undefined): number {
  if (v === undefined) return 0;
  const ns = parseDuration(v.trim());
  if (ns === undefined) throw new ValueError(`invalid value "${v}" for --${flag}: expected a duration (30s, 1m30s, 500ms)`);
  if (ns < 0n) throw new ValueError(`--${flag} cannot be negative`);
  if (ns > 0n && ns < 1_000_000n) throw new ValueError(`--${flag} cannot be less than 1ms`);
  if (ns > BigInt(Number.MAX_SAFE_INTEGER)) throw new ValueError(`invalid value "${v}" for --${flag}: too long`);
  return Number(ns);
}

/** Pure: the flags as CreateRequest fields, or a ValueError naming the flag. */
export function healthRequest(f: HealthFlagValues): HealthRequest {
  const req: HealthRequest = {
    healthCmd: f['health-cmd'] ?? '',
    healthInterval: durationFlag('health-interval', f['health-interval']),
    healthTimeout: durationFlag('health-timeout', f['health-timeout']),
    healthRetries: 0,
    healthStartPeriod: durationFlag('health-start-period', f['health-start-period']),
    noHealthcheck: Boolean(f['no-healthcheck']),
  };
  const r = f['health-retries'];
  if (r !== undefined) {
    if (!/^-?\d+$/.test(r.trim())) throw new ValueError(`invalid value "${r}" for --health-retries: expected a number`);
    const n = Number(r.trim());
    if (n < 0) throw new ValueError('--health-retries cannot be negative');
    if (n > 2 ** 31 - 1) throw new ValueError(`invalid value "${r}" for --health-retries: too large`);
    req.healthRetries = n;
  }
  if (req.noHealthcheck && (req.healthCmd || req.healthInterval || req.healthTimeout || req.healthRetries || req.healthStartPeriod)) {
    throw new ValueError('--no-healthcheck conflicts with --health-* options');
  }
  return req;
}
