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
      // (run -d returns once START is sent: init forks the command a moment later)
      await until('the monitor, init and sleep in the cgroup', () => readFileSync(cgroupFile(d, 'pids', id, 'pids.current'), 'utf8').trim() === '3');
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

  test('the container\'s own cgroups are mounted read-only at /sys/fs/cgroup, and nothing above them', async () => {
    // A runtime (JVM, Go, .NET) sizes itself from these files: without them it sees the host's memory.
    const script = [
      'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max',
      // Every cgroup mount has the container's cgroup as its root; all of them read-only.
      'awk \'$5 ~ "^/sys/fs/cgroup" { for (i = 7; $i != "-"; i++); print $4, $5, $6, $(i + 1) }\' /proc/self/mountinfo',
      // No child groups and no release_agent (which only a hierarchy's real root has).
      'find /sys/fs/cgroup -mindepth 2 -type d; ls /sys/fs/cgroup/*/release_agent 2>/dev/null; echo end',
      'echo 100 > /sys/fs/cgroup/pids/pids.max; mkdir /sys/fs/cgroup/memory/x; touch /sys/fs/cgroup/y; true',
    ].join('; ');
    const r = await d.cli(['run', '--rm', '-m', '64m', '--pids-limit', '50', 'busybox', 'sh', '-c', script]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines[0], '67108864');
    assert.equal(lines[1], '50');
    const mounts = lines.slice(2, lines.indexOf('end'));
    assert.ok(mounts.some((m) => m === '/ /sys/fs/cgroup ' + m.split(' ')[2] + ' tmpfs'), `a tmpfs at /sys/fs/cgroup:\n${mounts.join('\n')}`);
    // The host's hierarchies (v1 here, and the hybrid cgroup2 at unified), by the same names.
    const hierarchies = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' '))
      .filter((f) => /^cgroup2?$/.test(f[f.indexOf('-') + 1] ?? '') && f[4]!.startsWith('/sys/fs/cgroup/')).map((f) => f[4]!.slice(15));
    assert.ok(hierarchies.includes('memory') && hierarchies.includes('pids'), `host hierarchies: ${hierarchies}`);
    for (const h of hierarchies) {
      assert.ok(mounts.some((m) => m.startsWith(`/ /sys/fs/cgroup/${h} `)), `/sys/fs/cgroup/${h} mounted with / as its root:\n${mounts.join('\n')}`);
    }
    for (const m of mounts) {
      assert.match(m, /^\/ \S+ ro,/, `read-only, rooted at the container's cgroup: ${m}`);
    }
    // Read-only mounts say so (a write refused on file permissions alone would say "Permission denied").
    assert.match(r.stderr, /can't create \/sys\/fs\/cgroup\/pids\/pids\.max: Read-only file system/);
    assert.match(r.stderr, /can't create directory '\/sys\/fs\/cgroup\/memory\/x': Read-only file system/);
    assert.match(r.stderr, /\/sys\/fs\/cgroup\/y: Read-only file system/);
    // With the host's /sys (network host) the same view, not the host's hierarchies.
    assert.equal(await d.ok(['run', '--rm', '--network', 'host', '-m', '64m', 'busybox', 'cat', '/sys/fs/cgroup/memory/memory.limit_in_bytes']), '67108864\n');
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
