// Healthchecks without a container: Docker's status rules (start period, retries,
// streaks, transitions), the probe schedule and timeout on a fake clock, the merge of
// --health-* with the image's HEALTHCHECK, and the CLI's flags.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyResult, goDuration, HealthChecker, initialHealth, type Clock, type HealthTiming, type ProbeResult } from '../../daemon/health/schedule.ts';
import { healthTiming, mergeHealthcheck, probeCommand } from '../../daemon/health/config.ts';
import { healthRequest } from '../../cli/health-flags.ts';
import { buildCreateRequest } from '../../cli/create-flags.ts';
import { UsageError } from '../../cli/errors.ts';
import { ValueError } from '../../cli/parse/bytes.ts';
import { EngineError } from '../../lib/errors.ts';

const T: HealthTiming = { intervalMs: 1000, timeoutMs: 500, startPeriodMs: 0, retries: 3 };
const res = (exitCode: number, start = 10_000): ProbeResult => ({ start, end: start + 5, exitCode, output: '' });

test('status: starting -> healthy on success; failures count only at `retries` in a row', () => {
  let s = initialHealth();
  s = applyResult(s, res(1), T, 0);
  assert.deepEqual([s.status, s.failingStreak], ['starting', 1]);
  s = applyResult(s, res(0), T, 0);
  assert.deepEqual([s.status, s.failingStreak], ['healthy', 0]);
  s = applyResult(s, res(1), T, 0);
  s = applyResult(s, res(-1), T, 0);
  assert.deepEqual([s.status, s.failingStreak], ['healthy', 2]);
  s = applyResult(s, res(2), T, 0);
  assert.deepEqual([s.status, s.failingStreak], ['unhealthy', 3]);
  s = applyResult(s, res(1), T, 0);
  assert.deepEqual([s.status, s.failingStreak], ['unhealthy', 4]);
  s = applyResult(s, res(0), T, 0);
  assert.deepEqual([s.status, s.failingStreak], ['healthy', 0]);
  // never healthy: straight from starting to unhealthy
  let n = initialHealth();
  for (let i = 0; i < 3; i++) n = applyResult(n, res(1), T, 0);
  assert.equal(n.status, 'unhealthy');
});

test('start period: failures before it ends do not count while starting; after a success they do', () => {
  const t = { ...T, startPeriodMs: 5000, retries: 1 };
  let s = initialHealth();
  s = applyResult(s, res(1, 1000 + 4999), t, 1000); // inside the start period
  assert.deepEqual([s.status, s.failingStreak, s.log.length], ['starting', 0, 1]);
  s = applyResult(s, res(1, 1000 + 5000), t, 1000); // the period is over
  assert.deepEqual([s.status, s.failingStreak], ['unhealthy', 1]);
  let h = applyResult(initialHealth(), res(0, 1500), t, 1000);
  h = applyResult(h, res(1, 2000), t, 1000); // healthy once: the start period no longer shields
  assert.deepEqual([h.status, h.failingStreak], ['unhealthy', 1]);
});

test('the log keeps the last 5 results', () => {
  let s = initialHealth();
  for (let i = 0; i < 8; i++) s = applyResult(s, { ...res(0), output: String(i) }, T, 0);
  assert.deepEqual(s.log.map((r) => r.output), ['3', '4', '5', '6', '7']);
});

test("goDuration prints Go's durations", () => {
  assert.equal(goDuration(30_000), '30s');
  assert.equal(goDuration(500), '500ms');
  assert.equal(goDuration(90_000), '1m30s');
  assert.equal(goDuration(3_600_000), '1h0m0s');
  assert.equal(goDuration(1500), '1.5s');
});

/** Timers that fire only when the test advances the clock. */
class FakeClock implements Clock {
  t = 0;
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private next = 1;
  now() { return this.t; }
  setTimer(fn: () => void, ms: number) {
    const id = this.next++;
    this.timers.push({ at: this.t + ms, fn, id });
    return id;
  }
  clearTimer(id: unknown) { this.timers = this.timers.filter((x) => x.id !== id); }
  get pending() { return this.timers.length; }
  async advance(ms: number) {
    const end = this.t + ms;
    for (;;) {
      await new Promise((r) => setImmediate(r));
      this.timers.sort((a, b) => a.at - b.at);
      const due = this.timers[0];
      if (!due || due.at > end) break;
      this.timers.shift();
      this.t = due.at;
      due.fn();
    }
    this.t = end;
    await new Promise((r) => setImmediate(r));
  }
}

test('the checker probes every interval after the previous probe, and reports each change once', async () => {
  const clock = new FakeClock();
  const results = [1, 1, 0, 0, 1, 1, 1, 0];
  const starts: number[] = [];
  const changes: string[] = [];
  const c = new HealthChecker(T, clock, async () => {
    starts.push(clock.now());
    return { exitCode: results.shift()!, output: 'x' };
  }, 0, (s) => changes.push(s));
  c.start();
  assert.equal(c.state.status, 'starting');
  await clock.advance(999);
  assert.deepEqual(starts, []);
  await clock.advance(1);
  assert.deepEqual(starts, [1000]);
  await clock.advance(7000);
  assert.deepEqual(starts, [1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000]);
  assert.deepEqual(changes, ['healthy', 'unhealthy', 'healthy']);
  await c.stop();
  assert.equal(clock.pending, 0);
});

test('a probe past its timeout is aborted and recorded as a failure (-1) with Docker\'s message', async () => {
  const clock = new FakeClock();
  let aborted = 0;
  const c = new HealthChecker({ ...T, retries: 1 }, clock, (signal) => new Promise((resolve) => {
    signal.addEventListener('abort', () => {
      aborted++;
      resolve({ exitCode: 137, output: '' });
    });
  }), 0, () => {});
  c.start();
  await clock.advance(1000 + 499);
  assert.equal(aborted, 0);
  await clock.advance(1);
  assert.equal(aborted, 1);
  assert.deepEqual(c.state.log.at(-1), { start: 1000, end: 1500, exitCode: -1, output: 'Health check exceeded timeout (500ms)' });
  assert.equal(c.state.status, 'unhealthy');
  // the next one starts an interval after the previous ended
  await clock.advance(1000);
  assert.equal(c.state.log.length, 1);
  await clock.advance(500);
  assert.equal(aborted, 2);
  await c.stop();
});

test('stop(): no more probes, a running one is aborted and gives no verdict; a probe that throws is a failure', async () => {
  const clock = new FakeClock();
  let aborted = false;
  const c = new HealthChecker(T, clock, (signal) => new Promise((resolve) => {
    signal.addEventListener('abort', () => {
      aborted = true;
      resolve({ exitCode: 137, output: '' });
    });
  }), 0, () => assert.fail('no change expected'));
  c.start();
  await clock.advance(1200);
  await c.stop();
  assert.ok(aborted);
  assert.equal(c.state.log.length, 0);
  assert.equal(clock.pending, 0);
  const t = new HealthChecker(T, clock, async () => { throw new Error('cannot exec'); }, 0, () => {});
  t.start();
  await clock.advance(1000);
  assert.deepEqual([t.state.log[0]!.exitCode, t.state.log[0]!.output, t.state.failingStreak], [-1, 'cannot exec', 1]);
  await t.stop();
});

test("merge: flags over the image's HEALTHCHECK field by field; --no-healthcheck; Docker's defaults", () => {
  const image = { Test: ['CMD', 'check'], Interval: 5e9, Retries: 4 };
  assert.deepEqual(mergeHealthcheck({}, image), image);
  assert.deepEqual(mergeHealthcheck({ healthCmd: 'curl x', healthTimeout: 2e9 }, image), { Test: ['CMD-SHELL', 'curl x'], Interval: 5e9, Timeout: 2e9, Retries: 4 });
  assert.deepEqual(mergeHealthcheck({ healthInterval: 1e9 }, image), { Test: ['CMD', 'check'], Interval: 1e9, Retries: 4 });
  assert.deepEqual(mergeHealthcheck({ noHealthcheck: true }, image), { Test: ['NONE'] });
  assert.equal(mergeHealthcheck({}, undefined), undefined);
  assert.equal(mergeHealthcheck({ healthInterval: 1e9 }, null), undefined);
  assert.throws(() => mergeHealthcheck({ noHealthcheck: true, healthCmd: 'x' }, undefined), EngineError);
  assert.throws(() => mergeHealthcheck({ healthInterval: 5 }, image), /less than 1ms/);
  assert.throws(() => mergeHealthcheck({ healthRetries: -1 }, image), /negative/);
  assert.throws(() => mergeHealthcheck({}, { Test: ['CMD'] }), /invalid healthcheck test/);
  assert.deepEqual(probeCommand({ Test: ['CMD-SHELL', 'exit 1'] }), ['/bin/sh', '-c', 'exit 1']);
  assert.deepEqual(probeCommand({ Test: ['CMD', 'a', 'b'] }), ['a', 'b']);
  assert.equal(probeCommand({ Test: ['NONE'] }), undefined);
  assert.deepEqual(healthTiming({ Test: ['CMD', 'x'] }), { intervalMs: 30_000, timeoutMs: 30_000, startPeriodMs: 0, retries: 3 });
  assert.deepEqual(healthTiming({ Test: ['CMD', 'x'], Interval: 1.5e9, Timeout: 2e6, StartPeriod: 1e10, Retries: 1 }), { intervalMs: 1500, timeoutMs: 2, startPeriodMs: 10_000, retries: 1 });
});

test('CLI flags: Go durations, retries, --no-healthcheck conflicts; into the CreateRequest', () => {
  assert.deepEqual(healthRequest({ 'health-cmd': 'true', 'health-interval': '1s', 'health-timeout': '1m30s', 'health-retries': '2', 'health-start-period': '500ms' }), {
    healthCmd: 'true', healthInterval: 1e9, healthTimeout: 90e9, healthRetries: 2, healthStartPeriod: 5e8, noHealthcheck: false,
  });
  assert.deepEqual(healthRequest({ 'no-healthcheck': true }), { healthCmd: '', healthInterval: 0, healthTimeout: 0, healthRetries: 0, healthStartPeriod: 0, noHealthcheck: true });
  for (const bad of [{ 'health-interval': '10' }, { 'health-interval': '-1s' }, { 'health-timeout': '1us' }, { 'health-retries': '-1' }, { 'health-retries': 'x' }, { 'no-healthcheck': true, 'health-retries': '1' }]) {
    assert.throws(() => healthRequest(bad), ValueError, JSON.stringify(bad));
  }
  const req = buildCreateRequest({ 'health-cmd': 'true', 'health-interval': '2s' }, 'busybox', []);
  assert.equal(req.healthCmd, 'true');
  assert.equal(req.healthInterval, 2e9);
  assert.throws(() => buildCreateRequest({ 'health-interval': 'soon' }, 'busybox', []), UsageError);
});

test('a probe that does not end even when killed is recorded at its timeout and probing goes on', async () => {
  const clock = new FakeClock();
  let calls = 0;
  const c = new HealthChecker({ ...T, retries: 2 }, clock, () => {
    calls++;
    return new Promise(() => {}); // never settles
  }, 0, () => {});
  c.start();
  await clock.advance(1500);
  assert.equal(c.state.log.length, 1);
  await clock.advance(1500);
  assert.equal(calls, 2);
  assert.equal(c.state.status, 'unhealthy');
  await c.stop();
  assert.equal(clock.pending, 0);
});

test('a container started again (restart policy, restart) is "starting" with no streak, and keeps its last results (Docker\'s)', async () => {
  const { HealthMonitors } = await import('../../daemon/containers/health.ts');
  const clock = new FakeClock();
  const changes: string[] = [];
  // The probe's exec cannot run here (no monitor): each probe is a failure with a message.
  const ctx = { events: { emit: (_t: string, action: string) => { changes.push(action); } } };
  const mons = new HealthMonitors(ctx as never, {} as never, clock);
  const row = {
    id: 'c1', name: 'c', imageRef: 'img', started: 0,
    spec: { healthcheck: { Test: ['CMD', 'true'], Interval: 1000 * 1_000_000, Retries: 1 } },
  };
  mons.start(row as never);
  await clock.advance(1000);
  await new Promise((r) => setTimeout(r, 20));
  const first = mons.state('c1')!;
  assert.equal(first.status, 'unhealthy');
  assert.equal(first.failingStreak, 1);
  assert.equal(first.log.length, 1);
  await mons.stop('c1');
  mons.start(row as never);
  const again = mons.state('c1')!;
  assert.equal(again.status, 'starting');
  assert.equal(again.failingStreak, 0);
  assert.deepEqual(again.log, first.log);
  mons.forget('c1');
  assert.equal(clock.pending, 0);
});

test('a probe that finds the container no longer running (its exit not processed yet) gives no verdict: no failure, no event', async () => {
  const { HealthMonitors } = await import('../../daemon/containers/health.ts');
  const clock = new FakeClock();
  const changes: string[] = [];
  const row = {
    id: 'c2', name: 'c', imageRef: 'img', started: 0, state: 'running',
    spec: { healthcheck: { Test: ['CMD', 'true'], Interval: 1000 * 1_000_000, Retries: 1 } },
  };
  // The row still says running, but the monitor has no control link: init has exited.
  const ctx = { repo: { find: () => row }, events: { emit: (_t: string, action: string) => { changes.push(action); } } };
  const sup = { peek: () => undefined };
  const mons = new HealthMonitors(ctx as never, sup as never, clock);
  mons.start(row as never);
  await clock.advance(1000);
  await new Promise((r) => setTimeout(r, 20));
  const s = mons.state('c2')!;
  assert.deepEqual([s.status, s.failingStreak, s.log.length, changes], ['starting', 0, 0, []]);
  mons.forget('c2');
  assert.equal(clock.pending, 0);
});
