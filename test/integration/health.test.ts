// Healthchecks (issue 13): --health-* and the image's HEALTHCHECK, probes run as execs in
// the container, State.Health and Config.Healthcheck in inspect, the ps suffix, the
// health_status events, --no-healthcheck, and no probe left behind.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { TestDaemon } from '../helpers/daemon.ts';
import { tarArchive } from '../../images/tar-writer.ts';
import { findBusybox } from '../../images/busybox.ts';
import { haveRegistry, Pusher, pushImage, startRegistry, type RegistryProcess } from './registry-harness.ts';

/** Waits (up to a minute: the machine may be loaded) until inspect's State.Health.Status is `status`. */
async function healthBecomes(d: TestDaemon, id: string, status: string): Promise<any> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const c = await d.inspect(id);
    if (c.State.Health?.Status === status) return c;
    assert.ok(Date.now() < deadline, `health never became ${status}: ${JSON.stringify(c.State.Health)}`);
    await sleep(200);
  }
}

const nowArg = () => (Date.now() / 1000).toFixed(3);

describe('healthchecks', () => {
  const d = new TestDaemon();
  let scratch = '';
  let reg: RegistryProcess | undefined;

  before(async () => {
    await d.start();
    scratch = mkdtempSync(join(tmpdir(), 'tdk-health-'));
  });
  after(async () => {
    await d.cleanup();
    await reg?.stop();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  test("--health-cmd true with a 1s interval: starting, then healthy; ps, inspect and events show it", async () => {
    const since = nowArg();
    const id = (await d.ok(['run', '-d', '--name', 'hc-ok', '--health-cmd', 'echo probed; true', '--health-interval', '1s', 'busybox', 'sleep', '1000'])).trim();
    try {
      const first = await d.inspect(id);
      assert.deepEqual(first.Config.Healthcheck, { Test: ['CMD-SHELL', 'echo probed; true'], Interval: 1e9 });
      const c = await healthBecomes(d, id, 'healthy');
      assert.equal(c.State.Health.FailingStreak, 0);
      const last = c.State.Health.Log.at(-1);
      assert.equal(last.ExitCode, 0);
      assert.equal(last.Output, 'probed\n');
      assert.ok(Date.parse(last.End) >= Date.parse(last.Start));
      assert.match(await d.ok(['ps']), /Up .* \(healthy\)\s+hc-ok\n/);
      const ev = await d.ok(['events', '--since', since, '--until', nowArg(), '--filter', 'event=health_status']);
      assert.match(ev, new RegExp(`^\\S+ container health_status: healthy ${id} \\(image=busybox, name=hc-ok\\)\\n$`));
      // The event name alone, or with its status, filters.
      assert.equal(await d.ok(['events', '--since', since, '--until', nowArg(), '--filter', 'event=health_status: healthy']), ev);
    } finally {
      await d.ok(['rm', '-f', id]);
    }
  });

  test('a failing probe: unhealthy after --health-retries failures in a row; ps says (unhealthy)', async () => {
    const since = nowArg();
    const id = (await d.ok(['run', '-d', '--name', 'hc-bad', '--health-cmd', 'echo nope >&2; exit 1', '--health-interval', '1s', '--health-retries', '2', 'busybox', 'sleep', '1000'])).trim();
    try {
      const c = await healthBecomes(d, id, 'unhealthy');
      assert.ok(c.State.Health.FailingStreak >= 2);
      assert.ok(c.State.Health.Log.length >= 2 && c.State.Health.Log.length <= 5);
      assert.deepEqual(c.State.Health.Log.at(-1).ExitCode, 1);
      assert.equal(c.State.Health.Log.at(-1).Output, 'nope\n');
      assert.match(await d.ok(['ps']), /Up .* \(unhealthy\)\s+hc-bad\n/);
      const ev = await d.ok(['events', '--since', since, '--until', nowArg(), '--filter', `container=${id}`, '--filter', 'event=health_status']);
      assert.match(ev, /^\S+ container health_status: unhealthy /);
      assert.equal(ev.trim().split('\n').length, 1, 'one event per change of status');
    } finally {
      await d.ok(['rm', '-f', id]);
    }
  });

  test('a probe past its timeout is killed and counts as a failure; nothing is left when the container goes', async () => {
    const id = (await d.ok(['run', '-d', '--name', 'hc-slow', '--health-cmd', 'sleep 600', '--health-interval', '1s', '--health-timeout', '1s', '--health-retries', '1', 'busybox', 'sleep', '1000'])).trim();
    try {
      const c = await healthBecomes(d, id, 'unhealthy');
      const last = c.State.Health.Log.at(-1);
      assert.equal(last.ExitCode, -1);
      assert.equal(last.Output, 'Health check exceeded timeout (1s)');
      // The killed probes are gone: at most the one running now besides the command.
      const top = await d.ok(['top', id]);
      assert.ok((top.match(/sleep 600/g) ?? []).length <= 1, top);
    } finally {
      await d.ok(['rm', '-f', id]);
    }
    assert.deepEqual(d.leftovers(), []);
  });

  test('a stopped container is not probed; a start probes again from "starting"', async () => {
    // The probe succeeds once per file the test makes, and 1000 failures would be needed
    // for "unhealthy": the status moves only when the test says so, whatever the timing.
    const id = (await d.ok(['run', '-d', '--health-cmd', 'rm /tmp/ok', '--health-interval', '1s', '--health-retries', '1000', 'busybox', 'sleep', '1000'])).trim();
    try {
      assert.equal((await d.inspect(id)).State.Health.Status, 'starting');
      assert.match(await d.ok(['ps']), /Up .* \(health: starting\)\s/);
      await d.ok(['exec', id, 'touch', '/tmp/ok']);
      await healthBecomes(d, id, 'healthy');
      await d.ok(['stop', '-t', '1', id]);
      const n = (await d.inspect(id)).State.Health.Log.length;
      assert.match(await d.ok(['ps', '-a']), /Exited \(\d+\) [^(\n]* ago\s/);
      await sleep(2500);
      assert.equal((await d.inspect(id)).State.Health.Log.length, n, 'no probe ran while it was stopped');
      await d.ok(['start', id]);
      assert.equal((await d.inspect(id)).State.Health.Status, 'starting');
      assert.match(await d.ok(['ps']), /\(health: starting\)/);
      await d.ok(['exec', id, 'touch', '/tmp/ok']);
      await healthBecomes(d, id, 'healthy');
    } finally {
      await d.ok(['rm', '-f', id]);
    }
  });

  test('probes go on for a container that kept running across a daemon restart', async () => {
    const id = (await d.ok(['run', '-d', '--health-cmd', 'rm /tmp/ok', '--health-interval', '1s', '--health-retries', '1000', 'busybox', 'sleep', '1000'])).trim();
    try {
      await d.ok(['exec', id, 'touch', '/tmp/ok']);
      await healthBecomes(d, id, 'healthy');
      await d.stop();
      await d.start();
      // The new daemon probes again, from "starting" (results lived in the old one's memory).
      assert.equal((await d.inspect(id)).State.Health.Status, 'starting');
      await d.ok(['exec', id, 'touch', '/tmp/ok']);
      await healthBecomes(d, id, 'healthy');
    } finally {
      await d.ok(['rm', '-f', id]);
    }
  });

  test('flag errors: one line, exit 125', async () => {
    for (const args of [
      ['--no-healthcheck', '--health-cmd', 'true'],
      ['--health-interval', '10'],
      ['--health-interval', '-1s'],
      ['--health-retries', 'x'],
    ]) {
      const r = await d.cli(['create', ...args, 'busybox', 'true']);
      assert.equal(r.code, 125, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1);
    }
    // A created container has its healthcheck but no State.Health until it starts (Docker's).
    const id = (await d.ok(['create', '--health-cmd', 'true', '--health-start-period', '1m', '--health-retries', '7', 'busybox', 'true'])).trim();
    const c = await d.inspect(id);
    assert.deepEqual(c.Config.Healthcheck, { Test: ['CMD-SHELL', 'true'], StartPeriod: 60e9, Retries: 7 });
    assert.equal(c.State.Health, undefined);
    await d.ok(['rm', id]);
  });

  test("the image's HEALTHCHECK is used, flags override parts of it, --no-healthcheck turns it off", { skip: !haveRegistry && 'docker-registry is not installed' }, async () => {
    reg = await startRegistry(join(scratch, 'registry'));
    const bb = readFileSync(findBusybox());
    await pushImage(new Pusher(reg.base), 'hc/app', 'v1', [
      { tar: tarArchive([
        { path: 'bin/', type: 'dir', mode: 0o755 },
        { path: 'bin/busybox', data: bb, mode: 0o755 },
        { path: 'bin/sh', type: 'symlink', linkpath: 'busybox' },
        { path: 'bin/sleep', type: 'symlink', linkpath: 'busybox' },
        { path: 'bin/true', type: 'symlink', linkpath: 'busybox' },
      ]) },
    ], { config: { Cmd: ['sleep', '1000'], Healthcheck: { Test: ['CMD', 'true'], Interval: 1e9, Retries: 5 } } });
    const ref = `${reg.host}/hc/app:v1`;
    await d.ok(['pull', ref]);
    const a = (await d.ok(['run', '-d', ref])).trim();
    const b = (await d.ok(['run', '-d', '--no-healthcheck', ref])).trim();
    const c = (await d.ok(['run', '-d', '--health-retries', '2', '--health-timeout', '5s', ref])).trim();
    try {
      const ia = await healthBecomes(d, a, 'healthy');
      assert.deepEqual(ia.Config.Healthcheck, { Test: ['CMD', 'true'], Interval: 1e9, Retries: 5 });
      const ib = await d.inspect(b);
      assert.deepEqual(ib.Config.Healthcheck, { Test: ['NONE'] });
      assert.equal(ib.State.Health, undefined);
      const ic = await d.inspect(c);
      assert.deepEqual(ic.Config.Healthcheck, { Test: ['CMD', 'true'], Interval: 1e9, Timeout: 5e9, Retries: 2 });
      await healthBecomes(d, c, 'healthy');
      const ps = await d.ok(['ps', '--no-trunc']);
      assert.match(ps, new RegExp(`${b}.*Up [^(\\n]*\\s{2,}`));
      assert.doesNotMatch(ps.split('\n').find((l) => l.startsWith(b))!, /health/);
    } finally {
      await d.ok(['rm', '-f', a, b, c]);
    }
  });
});
