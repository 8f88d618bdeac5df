// Resource limits against the machine's real cgroups (v1 here), plus stats, top and
// exec through the real CLI and daemon.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { suiteDaemon, until, type TestDaemon } from '../helpers/daemon.ts';

function cgroupFile(d: TestDaemon, controller: string, id: string, file: string): string {
  return join('/sys/fs/cgroup', controller, d.cgroupParent, id, file);
}

describe('resource limits, stats, top, exec', () => {
  const d = suiteDaemon();

  test('a process allocating 100 MB under -m 50m is OOM-killed and reported', async () => {
    const r = await d.cli(['run', '--name', 'oom', '-m', '50m', 'busybox', 'dd', 'if=/dev/zero', 'of=/dev/null', 'bs=100M', 'count=1']);
    assert.equal(r.code, 137, r.stderr);
    const info = await d.inspect('oom');
    assert.equal(info.State.OOMKilled, true);
    assert.equal(info.State.ExitCode, 137);
    assert.equal(info.HostConfig.Memory, 50 * 1024 * 1024);
    // Below the limit the same command runs fine and is not flagged.
    const ok = await d.cli(['run', '--name', 'nooom', '-m', '200m', 'busybox', 'dd', 'if=/dev/zero', 'of=/dev/null', 'bs=100M', 'count=1']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal((await d.inspect('nooom')).State.OOMKilled, false);
    await d.ok(['rm', 'oom', 'nooom']);
  });

  test('a fork bomb under --pids-limit 20 is contained', async () => {
    const id = (await d.ok(['run', '-d', '--pids-limit', '20', 'busybox', 'sh', '-c',
      'i=0; while [ $i -lt 200 ]; do (sleep 30 &) 2>/dev/null; i=$((i+1)); done; sleep 30'])).trim();
    try {
      const max = cgroupFile(d, 'pids', id, 'pids.max');
      assert.equal(readFileSync(max, 'utf8').trim(), '20');
      await until('the bomb to hit the limit', () => Number(readFileSync(cgroupFile(d, 'pids', id, 'pids.events'), 'utf8').split(' ')[1]) > 0);
      const current = Number(readFileSync(cgroupFile(d, 'pids', id, 'pids.current'), 'utf8'));
      assert.ok(current <= 20, `pids.current = ${current}`);
      // The host is unaffected: we can still start processes, and other containers run.
      assert.equal(await d.ok(['run', '--rm', 'busybox', 'echo', 'still fine']), 'still fine\n');
    } finally {
      await d.ok(['rm', '-f', id]);
    }
  });

  test('exec still works in a container at its pids limit (the monitor cannot fork there)', async () => {
    // The monitor, init and sleep: 3 of 3.
    const id = (await d.ok(['run', '-d', '--pids-limit', '3', 'busybox', 'sleep', '1000'])).trim();
    try {
      assert.equal(readFileSync(cgroupFile(d, 'pids', id, 'pids.current'), 'utf8').trim(), '3');
      assert.equal(await d.ok(['exec', id, 'echo', 'hi']), 'hi\n');
    } finally {
      await d.ok(['rm', '-f', id]);
    }
  });

  test('--cpus 0.2 throttles (from the cgroup\'s cpu statistics, not wall time)', async () => {
    const id = (await d.ok(['run', '-d', '--cpus', '0.2', 'busybox', 'sh', '-c', 'while true; do :; done'])).trim();
    try {
      assert.equal(readFileSync(cgroupFile(d, 'cpu', id, 'cpu.cfs_quota_us'), 'utf8').trim(), '20000');
      const usage = () => Number(readFileSync(cgroupFile(d, 'cpuacct', id, 'cpuacct.usage'), 'utf8'));
      const u0 = usage();
      const t0 = process.hrtime.bigint();
      await sleep(1500);
      const share = (usage() - u0) / Number(process.hrtime.bigint() - t0);
      const throttled = Number(/nr_throttled (\d+)/.exec(readFileSync(cgroupFile(d, 'cpu', id, 'cpu.stat'), 'utf8'))![1]);
      assert.ok(throttled > 0, 'the cgroup was throttled');
      assert.ok(share < 0.3, `used ${(share * 100).toFixed(0)}% of a core`);
    } finally {
      await d.ok(['rm', '-f', id]);
    }
  });

  test('invalid limit values are refused with a clear one-line error', async () => {
    for (const args of [['-m', 'lots'], ['--cpus', '-1'], ['--pids-limit', 'x'], ['-m', '10m', '--memory-swap', '5m']]) {
      const r = await d.cli(['run', '--rm', ...args, 'busybox', 'true']);
      assert.notEqual(r.code, 0, args.join(' '));
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
  });

  test('stats --no-stream shows memory usage/limit and pids from the cgroup', async () => {
    const id = (await d.ok(['run', '-d', '--name', 'statme', '-m', '64m', 'busybox', 'sleep', '1000'])).trim();
    try {
      const out = await d.ok(['stats', '--no-stream', 'statme']);
      assert.match(out, /CONTAINER ID\s+NAME\s+CPU %\s+MEM USAGE \/ LIMIT/);
      assert.match(out, new RegExp(`${id.slice(0, 12)}\\s+statme\\s+[\\d.]+%\\s+[\\d.]+\\w+ / 64MiB`));
    } finally {
      await d.ok(['rm', '-f', id]);
    }
  });

  test('top lists the container\'s processes with host and container pids', async () => {
    const id = (await d.ok(['run', '-d', 'busybox', 'sh', '-c', 'sleep 1000 & sleep 1001'])).trim();
    try {
      const pid = (await d.inspect(id)).State.Pid as number;
      const out = await d.ok(['top', id]);
      assert.match(out, /PID\s+CONTAINER PID/);
      assert.match(out, new RegExp(`^${pid}\\s+1\\s`, 'm'));
      assert.match(out, /sleep 1000/);
      assert.match(out, /sleep 1001/);
      // The monitor shares the cgroups, not the pid namespace: not one of the container's processes.
      assert.doesNotMatch(out, /tdock-shim monitor/);
      assert.equal(out.trim().split('\n').length, 4, out);
    } finally {
      await d.ok(['rm', '-f', id]);
    }
  });

  test('exec runs in the container\'s namespaces and cgroup with the same confinement', async () => {
    const id = (await d.ok(['run', '-d', '--name', 'ex', 'busybox', 'sleep', '1000'])).trim();
    try {
      const pid = (await d.inspect(id)).State.Pid as number;
      assert.equal(await d.ok(['exec', 'ex', 'echo', 'hi']), 'hi\n');
      assert.equal((await d.cli(['exec', 'ex', 'sh', '-c', 'exit 4'])).code, 4);
      const missing = await d.cli(['exec', 'ex', 'nope']);
      assert.equal(missing.code, 127);
      const out = await d.ok(['exec', '-u', '1000', '-w', '/tmp', '-e', 'X=y', 'ex', 'sh', '-c',
        'id -u; pwd; echo $X; grep -E "^(CapBnd|NoNewPrivs)" /proc/self/status; for n in pid mnt net user; do readlink /proc/self/ns/$n; done']);
      const lines = out.trim().split('\n');
      assert.deepEqual(lines.slice(0, 3), ['1000', '/tmp', 'y']);
      assert.match(out, /CapBnd:\s+00000000a80425fb/);
      assert.match(out, /NoNewPrivs:\s+1/);
      for (const ns of ['pid', 'mnt', 'net', 'user']) assert.ok(lines.includes(readlinkSync(`/proc/${pid}/ns/${ns}`)), `same ${ns} namespace`);
      const stdin = await d.cli(['exec', '-i', 'ex', 'wc', '-c'], { input: '12345' });
      assert.equal(stdin.stdout.trim(), '5');
      const tty = await d.cli(['exec', '-t', 'ex', 'tty']);
      assert.match(tty.stdout, /^\/dev\/pts\/\d+/);
      // No zombies pile up in the container after many execs, nor exec-monitors under the
      // container's monitor (it forks them: they are born in the container's cgroups).
      for (let i = 0; i < 20; i++) await d.ok(['exec', 'ex', 'true']);
      const ps = await d.ok(['exec', 'ex', 'ps', '-o', 'stat']);
      assert.ok(!/^Z/m.test(ps), ps);
      const monitor = Number(/^PPid:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
      await until('the exec-monitors to be reaped', () => readFileSync(`/proc/${monitor}/task/${monitor}/children`, 'utf8').trim() === String(pid));
      // exec joins the cgroup too.
      const procs = readFileSync(cgroupFile(d, 'pids', id, 'cgroup.procs'), 'utf8').split('\n');
      assert.ok(procs.includes(String(pid)));
      assert.ok(procs.includes(String(monitor)), 'the monitor is in the container\'s cgroup');
      const inCg = await d.ok(['exec', 'ex', 'cat', '/proc/self/cgroup']);
      assert.match(inCg, /pids:\/$/m);
    } finally {
      await d.ok(['rm', '-f', id]);
    }
    const dead = await d.cli(['exec', 'ex', 'true']);
    assert.equal(dead.code, 1);
    assert.match(dead.stderr, /No such container|not running/);
    assert.deepEqual(d.leftovers(), []);
    assert.ok(!existsSync(join(d.execRoot, 'c', id.slice(0, 12))));
  });
});
