// Restart policies (issue 13): the --restart parser, the daemon's check, and the
// restart manager's back-off and decisions driven by a fake clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkRestartPolicy, parseRestartPolicy, RestartPolicyError, type RestartPolicy } from '../../lib/restart-policy.ts';
import { RestartManager, startsWithDaemon } from '../../daemon/containers/restart-policy.ts';
import { FakeClock } from './fake-clock.ts';
import { buildCreateRequest } from '../../cli/create-flags.ts';
import { UsageError } from '../../cli/errors.ts';

const always: RestartPolicy = { name: 'always', maximumRetryCount: 0 };

/** Exits that ran `ranMs` each; returns the delays the manager chose (undefined: no restart). */
function delays(m: RestartManager, clock: FakeClock, runs: { exitCode?: number; ranMs?: number; manuallyStopped?: boolean }[]): (number | undefined)[] {
  const out: (number | undefined)[] = [];
  for (const r of runs) {
    let restarted = false;
    const d = m.afterExit({ exitCode: r.exitCode ?? 1, manuallyStopped: r.manuallyStopped ?? false, ranMs: r.ranMs ?? 0 }, () => {
      restarted = true;
    });
    out.push(d);
    if (d !== undefined) {
      clock.advance(d - 1);
      assert.equal(restarted, false, 'not restarted before the back-off ended');
      clock.advance(1);
      assert.equal(restarted, true, 'restarted when the back-off ended');
    }
  }
  return out;
}

test('--restart parses Docker\'s forms; bad ones are one-line errors naming the flag', () => {
  assert.deepEqual(parseRestartPolicy(''), { name: 'no', maximumRetryCount: 0 });
  assert.deepEqual(parseRestartPolicy('no'), { name: 'no', maximumRetryCount: 0 });
  assert.deepEqual(parseRestartPolicy('always'), { name: 'always', maximumRetryCount: 0 });
  assert.deepEqual(parseRestartPolicy('unless-stopped'), { name: 'unless-stopped', maximumRetryCount: 0 });
  assert.deepEqual(parseRestartPolicy('on-failure'), { name: 'on-failure', maximumRetryCount: 0 });
  assert.deepEqual(parseRestartPolicy('on-failure:5'), { name: 'on-failure', maximumRetryCount: 5 });
  for (const bad of ['sometimes', 'always:3', 'on-failure:', 'on-failure:-1', 'on-failure:x', 'ON-FAILURE', 'no:1']) {
    assert.throws(() => parseRestartPolicy(bad), (e: Error) => e instanceof RestartPolicyError && /--restart/.test(e.message) && !e.message.includes('\n'), bad);
  }
});

test('the daemon checks the API\'s policy like Docker\'s: names, counts, never with --rm', () => {
  assert.deepEqual(checkRestartPolicy(undefined, true), { name: 'no', maximumRetryCount: 0 });
  assert.deepEqual(checkRestartPolicy({ name: '', maximumRetryCount: 0 }, false), { name: 'no', maximumRetryCount: 0 });
  assert.deepEqual(checkRestartPolicy({ name: 'on-failure', maximumRetryCount: 3 }, false), { name: 'on-failure', maximumRetryCount: 3 });
  assert.throws(() => checkRestartPolicy({ name: 'always', maximumRetryCount: 0 }, true), /^Error: Conflicting options: --restart and --rm$/);
  assert.throws(() => checkRestartPolicy({ name: 'always', maximumRetryCount: 2 }, false), /only be used with on-failure/);
  assert.throws(() => checkRestartPolicy({ name: 'on-failure', maximumRetryCount: -1 }, false), /0 or more/);
  assert.throws(() => checkRestartPolicy({ name: 'bogus', maximumRetryCount: 0 }, false), /invalid restart policy "bogus"/);
});

test('run/create: --restart in the request; bad values and --restart with --rm are usage errors', () => {
  const req = buildCreateRequest({ restart: 'on-failure:2' }, 'busybox', ['true'], {});
  assert.deepEqual(req.restartPolicy, { name: 'on-failure', maximumRetryCount: 2 });
  assert.deepEqual(buildCreateRequest({}, 'busybox', [], {}).restartPolicy, { name: 'no', maximumRetryCount: 0 });
  assert.deepEqual(buildCreateRequest({ restart: 'no', rm: true }, 'busybox', [], {}).restartPolicy, { name: 'no', maximumRetryCount: 0 });
  assert.throws(() => buildCreateRequest({ restart: 'always', rm: true }, 'busybox', [], {}), (e: Error) => e instanceof UsageError && e.message === 'Conflicting options: --restart and --rm');
  assert.throws(() => buildCreateRequest({ restart: 'bogus' }, 'busybox', [], {}), UsageError);
});

test('back-off: 100 ms doubling after every restart, capped at 1 min', () => {
  const clock = new FakeClock();
  const m = new RestartManager(always, 0, clock);
  const got = delays(m, clock, Array.from({ length: 13 }, () => ({})));
  assert.deepEqual(got, [100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 51200, 60000, 60000, 60000]);
  assert.equal(m.restartCount, 13);
});

test('back-off: a run of 10 s or more starts it again from 100 ms', () => {
  const clock = new FakeClock();
  const m = new RestartManager(always, 0, clock);
  assert.deepEqual(delays(m, clock, [{}, {}, {}, { ranMs: 9999 }, { ranMs: 10_000 }, {}, { ranMs: 60_000 }]), [100, 200, 400, 800, 100, 200, 100]);
});

test('on-failure: only after a non-zero exit, and no more than MAX restarts (counted from RestartCount)', () => {
  const clock = new FakeClock();
  const onFailure2: RestartPolicy = { name: 'on-failure', maximumRetryCount: 2 };
  const m = new RestartManager(onFailure2, 0, clock);
  assert.deepEqual(delays(m, clock, [{ exitCode: 3 }, { exitCode: 3 }, { exitCode: 3 }]), [100, 200, undefined]);
  assert.equal(m.restartCount, 2);
  assert.equal(clock.pending, 0);
  // A success ends it without using a retry.
  const ok = new RestartManager(onFailure2, 0, clock);
  assert.deepEqual(delays(ok, clock, [{ exitCode: 0 }]), [undefined]);
  assert.equal(ok.restartCount, 0);
  // The count survives a daemon restart through the container's RestartCount.
  const later = new RestartManager(onFailure2, 1, clock);
  assert.deepEqual(delays(later, clock, [{ exitCode: 1 }, { exitCode: 1 }]), [100, undefined]);
  // No maximum: restarts go on.
  const unbounded = new RestartManager({ name: 'on-failure', maximumRetryCount: 0 }, 0, clock);
  assert.deepEqual(delays(unbounded, clock, [{ exitCode: 1 }, { exitCode: 137 }, { exitCode: 1 }]), [100, 200, 400]);
});

test('no never restarts; always restarts after exit 0 too; unless-stopped not after a manual stop', () => {
  const clock = new FakeClock();
  assert.deepEqual(delays(new RestartManager({ name: 'no', maximumRetryCount: 0 }, 0, clock), clock, [{ exitCode: 1 }]), [undefined]);
  assert.deepEqual(delays(new RestartManager(always, 0, clock), clock, [{ exitCode: 0 }]), [100]);
  const us = new RestartManager({ name: 'unless-stopped', maximumRetryCount: 0 }, 0, clock);
  assert.deepEqual(delays(us, clock, [{ exitCode: 0 }, { exitCode: 143, manuallyStopped: true }]), [100, undefined]);
});

test('manual stop: cancel() drops a pending restart and every later one', () => {
  const clock = new FakeClock();
  const m = new RestartManager(always, 0, clock);
  let restarts = 0;
  assert.equal(m.afterExit({ exitCode: 1, manuallyStopped: false, ranMs: 0 }, () => restarts++), 100);
  assert.equal(m.waiting, true);
  clock.advance(50);
  assert.equal(m.cancel(), true, 'a restart was pending');
  assert.equal(m.waiting, false);
  clock.advance(10_000);
  assert.equal(restarts, 0, 'the canceled restart did not happen');
  assert.equal(m.afterExit({ exitCode: 1, manuallyStopped: false, ranMs: 0 }, () => restarts++), undefined, 'always, yet stopped by the user');
  assert.equal(m.cancel(), false, 'nothing pending');
  assert.equal(clock.pending, 0);
});

test('at daemon start: always starts, unless-stopped unless stopped by the user, on-failure after a failure within MAX', () => {
  const f = (o: Partial<Parameters<typeof startsWithDaemon>[1]> = {}) => ({ exitCode: 1, manuallyStopped: false, restartCount: 0, startedBefore: true, ...o });
  assert.equal(startsWithDaemon(always, f({ exitCode: 0 })), true);
  assert.equal(startsWithDaemon(always, f({ manuallyStopped: true })), true, 'Docker: always comes back with the daemon even after a stop');
  assert.equal(startsWithDaemon(always, f({ startedBefore: false })), false, 'never started: stays created');
  const us: RestartPolicy = { name: 'unless-stopped', maximumRetryCount: 0 };
  assert.equal(startsWithDaemon(us, f({ exitCode: 0 })), true);
  assert.equal(startsWithDaemon(us, f({ manuallyStopped: true })), false);
  const of2: RestartPolicy = { name: 'on-failure', maximumRetryCount: 2 };
  assert.equal(startsWithDaemon(of2, f({ exitCode: 3 })), true);
  assert.equal(startsWithDaemon(of2, f({ exitCode: 0 })), false);
  assert.equal(startsWithDaemon(of2, f({ exitCode: 3, restartCount: 2 })), false, 'retries used up');
  assert.equal(startsWithDaemon(of2, f({ exitCode: 143, manuallyStopped: true })), false, 'stopped by the user');
  assert.equal(startsWithDaemon({ name: 'no', maximumRetryCount: 0 }, f()), false);
});
