// What a restart policy does (`--restart`), Docker's semantics, kept pure: the decision
// after an exit (with the back-off) and the decision at daemon start (the parsing is in
// lib/restart-policy.ts). Time comes in through an injected timer: unit tests use a fake clock.
//
// Docker's rules (moby's restartmanager and daemon.restore), followed here:
// - the delay doubles from 100 ms after every restart, capped at 1 min, and goes
//   back to 100 ms when the container had run for 10 s or more;
// - always restarts; unless-stopped restarts unless the user stopped it; on-failure
//   restarts only after a non-zero exit and, with a maximum, while fewer restarts
//   than the maximum were made (counted from the container's RestartCount);
// - a stop or kill by the user cancels the manager: the exit it causes is final, and
//   so is every later one until the user starts the container again (a new manager).

import type { RestartPolicy } from '../../lib/restart-policy.ts';

export type { RestartPolicy } from '../../lib/restart-policy.ts';

export const BACKOFF_START_MS = 100;
export const BACKOFF_MAX_MS = 60_000;
/** A container that ran this long starts the back-off from the beginning again. */
export const BACKOFF_RESET_AFTER_MS = 10_000;

/** What an exit leaves for the policy to judge. */
export interface ExitFacts {
  exitCode: number;
  /** stopped or killed by the user since its last start by the user */
  manuallyStopped: boolean;
  /** how long this run lasted */
  ranMs: number;
}

/** The timer the manager waits on; unit tests pass a fake one. */
export interface RestartTimer {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export const realTimer: RestartTimer = {
  set: (fn, ms) => {
    const t = setTimeout(fn, ms);
    // A pending restart must not keep a stopping daemon alive: the row says
    // "restarting" and the next daemon start takes it up (recovery.ts).
    t.unref();
    return t;
  },
  clear: (h) => clearTimeout(h as NodeJS.Timeout),
};

/**
 * One container's restarts from one start by the user to the next: the back-off, the
 * count, the cancellation. Lives only in the daemon's memory, like Docker's.
 */
export class RestartManager {
  private readonly policy: RestartPolicy;
  private readonly timer: RestartTimer;
  private count: number;
  private delayMs = 0;
  private canceled = false;
  private pending: { handle: unknown } | undefined;

  /** `restartCount`: the restarts already made (on-failure's maximum counts them). */
  constructor(policy: RestartPolicy, restartCount: number, timer: RestartTimer = realTimer) {
    this.policy = policy;
    this.count = restartCount;
    this.timer = timer;
  }

  /** Restarts made so far. */
  get restartCount(): number { return this.count; }
  /** A restart is scheduled and has not run yet. */
  get waiting(): boolean { return this.pending !== undefined; }
  get isCanceled(): boolean { return this.canceled; }

  /**
   * Judges an exit. When the policy restarts, schedules `restart` after the back-off
   * and returns the delay (ms); otherwise returns undefined and schedules nothing.
   */
  afterExit(exit: ExitFacts, restart: () => void): number | undefined {
    if (this.policy.name === 'no' || this.canceled || this.pending) return undefined;
    // Moby advances the back-off before it decides; so does this (same sequence).
    if (exit.ranMs >= BACKOFF_RESET_AFTER_MS) this.delayMs = 0;
    this.delayMs = this.delayMs === 0 ? BACKOFF_START_MS : Math.min(this.delayMs * 2, BACKOFF_MAX_MS);
    if (!policyRestarts(this.policy, exit, this.count)) return undefined;
    this.count++;
    const delay = this.delayMs;
    const pending = {
      handle: this.timer.set(() => {
        if (this.pending !== pending) return;
        this.pending = undefined;
        restart();
      }, delay),
    };
    this.pending = pending;
    return delay;
  }

  /**
   * The user stopped, killed, restarted or removed the container: no restart from now
   * on, and a scheduled one does not happen. Returns whether one was scheduled.
   */
  cancel(): boolean {
    this.canceled = true;
    const p = this.pending;
    if (!p) return false;
    this.pending = undefined;
    this.timer.clear(p.handle);
    return true;
  }
}

function policyRestarts(p: RestartPolicy, exit: ExitFacts, restartCount: number): boolean {
  switch (p.name) {
    case 'always':
      return true;
    case 'unless-stopped':
      return !exit.manuallyStopped;
    case 'on-failure':
      return exit.exitCode !== 0 && (p.maximumRetryCount === 0 || restartCount < p.maximumRetryCount);
    default:
      return false;
  }
}

/** What the daemon knows at its start of a container that is not running. */
export interface StoppedFacts {
  exitCode: number;
  manuallyStopped: boolean;
  restartCount: number;
  /** it ran at least once (a container only created is never started by the daemon) */
  startedBefore: boolean;
}

/**
 * Whether the daemon starts this container when it starts (moby's restore: the
 * policy judged on the last exit). `always` starts even after a user stop (Docker's
 * documented behaviour); `unless-stopped` not after one; `on-failure` after a
 * non-zero exit within its maximum, and, as the container ended by a user stop has
 * a non-zero code too, not after a user stop.
 */
export function startsWithDaemon(p: RestartPolicy, s: StoppedFacts): boolean {
  if (!s.startedBefore) return false;
  switch (p.name) {
    case 'always':
      return true;
    case 'unless-stopped':
      return !s.manuallyStopped;
    case 'on-failure':
      return !s.manuallyStopped && policyRestarts(p, { exitCode: s.exitCode, manuallyStopped: false, ranMs: 0 }, s.restartCount);
    default:
      return false;
  }
}
