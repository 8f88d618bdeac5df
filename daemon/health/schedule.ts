// Healthchecks without I/O: how a probe's result moves the status (Docker's rules), and
// when probes run, with the clock and the probe injected so unit tests drive both.
//
// Docker's rules (moby daemon/health.go): the status starts at "starting"; a probe that
// exits 0 makes it "healthy" and resets the failing streak; a failing probe (non-zero,
// timed out, could not run) adds to the streak, except while the container has never
// been healthy and is still in its start period, and at `retries` failures in a row the
// status is "unhealthy". Probes run one at a time, `interval` after the previous ended
// (the first `interval` after the start); a probe is killed after `timeout`.

export type HealthStatus = 'starting' | 'healthy' | 'unhealthy';

/** A healthcheck with the defaults applied (durations in ms). */
export interface HealthTiming {
  intervalMs: number;
  timeoutMs: number;
  startPeriodMs: number;
  retries: number;
}

/** Docker's defaults (30 s interval, 30 s timeout, 3 retries, no start period). */
export const DEFAULT_INTERVAL_MS = 30_000;
export const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_RETRIES = 3;
/** Results kept in State.Health.Log (Docker's). */
export const MAX_LOG_ENTRIES = 5;
/** Bytes of a probe's output kept (Docker's). */
export const MAX_OUTPUT = 4096;

export interface ProbeResult {
  /** unix ms */
  start: number;
  end: number;
  /** -1: timed out or could not run */
  exitCode: number;
  output: string;
}

export interface HealthState {
  status: HealthStatus;
  failingStreak: number;
  log: ProbeResult[];
}

export function initialHealth(): HealthState {
  return { status: 'starting', failingStreak: 0, log: [] };
}

/** The state after one probe; `startedAt` is the container's start (unix ms). */
export function applyResult(s: HealthState, r: ProbeResult, t: HealthTiming, startedAt: number): HealthState {
  const log = [...s.log, r].slice(-MAX_LOG_ENTRIES);
  if (r.exitCode === 0) return { status: 'healthy', failingStreak: 0, log };
  // Still starting (never healthy yet) within the start period: failures do not count.
  if (s.status === 'starting' && r.start - startedAt < t.startPeriodMs) return { ...s, log };
  const failingStreak = s.failingStreak + 1;
  return { status: failingStreak >= t.retries ? 'unhealthy' : s.status, failingStreak, log };
}

/** Go's time.Duration text for whole ms ("30s", "1m30s", "500ms"), as Docker's messages print it. */
export function goDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = (ms % 60_000) / 1000;
  return `${h ? `${h}h` : ''}${h || m ? `${m}m` : ''}${s}s`;
}

export interface Clock {
  now(): number;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(t: unknown): void;
}

export const realClock: Clock = {
  now: () => Date.now(),
  setTimer: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref(); // probes never keep the daemon alive at shutdown
    return t;
  },
  clearTimer: (t) => clearTimeout(t as NodeJS.Timeout),
};

/**
 * Runs the probe once; `signal` aborts it (the timeout): it must then end the process.
 * null: the container was found not running (its exit not processed yet): no verdict.
 */
export type Probe = (signal: AbortSignal) => Promise<{ exitCode: number; output: string } | null>;

/**
 * One container's probes: start() after the container started, stop() when it stops
 * (a running probe is aborted). onChange is called on every status change.
 */
export class HealthChecker {
  private s: HealthState = initialHealth();
  private timer: unknown;
  private running: AbortController | undefined;
  private stopped = false;
  /** The current probe, for tests and for stop() to wait on. */
  inFlight: Promise<void> | undefined;

  private readonly timing: HealthTiming;
  private readonly clock: Clock;
  private readonly probe: Probe;
  private readonly startedAt: number;
  private readonly onChange: (status: HealthStatus, state: HealthState) => void;

  /** `log`: the results of the container's previous run, kept as Docker keeps them. */
  constructor(timing: HealthTiming, clock: Clock, probe: Probe, startedAt: number, onChange: (status: HealthStatus, state: HealthState) => void, log: ProbeResult[] = []) {
    this.s = { ...initialHealth(), log: log.slice(-MAX_LOG_ENTRIES) };
    this.timing = timing;
    this.clock = clock;
    this.probe = probe;
    this.startedAt = startedAt;
    this.onChange = onChange;
  }

  get state(): HealthState { return this.s; }

  start(): void {
    this.schedule();
  }

  /** No more probes; a running one is aborted. Resolves when it has ended. */
  stop(): Promise<void> {
    this.stopped = true;
    this.clock.clearTimer(this.timer);
    this.running?.abort();
    return this.inFlight ?? Promise.resolve();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.clock.setTimer(() => {
      this.inFlight = this.runOnce().finally(() => {
        this.inFlight = undefined;
        this.schedule();
      });
    }, this.timing.intervalMs);
  }

  private async runOnce(): Promise<void> {
    if (this.stopped) return;
    const start = this.clock.now();
    const ac = new AbortController();
    this.running = ac;
    // At the timeout the probe is aborted (killed) and the result recorded at once: a
    // probe that cannot even be reached to kill it must not stop the probing.
    const result = await new Promise<{ exitCode: number; output: string } | null>((resolve) => {
      const timeout = this.clock.setTimer(() => {
        ac.abort();
        resolve({ exitCode: -1, output: `Health check exceeded timeout (${goDuration(this.timing.timeoutMs)})` });
      }, this.timing.timeoutMs);
      this.probe(ac.signal).then(
        (r) => {
          this.clock.clearTimer(timeout);
          resolve(r);
        },
        (e: unknown) => {
          this.clock.clearTimer(timeout);
          resolve({ exitCode: -1, output: e instanceof Error ? e.message : String(e) });
        },
      );
    });
    this.running = undefined;
    // Stopped meanwhile: the container's end killed the probe; that is no verdict. Nor is
    // a container found ended before its exit was processed (stop() follows).
    if (this.stopped || !result) return;
    const { exitCode, output } = result;
    const before = this.s.status;
    this.s = applyResult(this.s, { start, end: this.clock.now(), exitCode, output }, this.timing, this.startedAt);
    if (this.s.status !== before) this.onChange(this.s.status, this.s);
  }
}
