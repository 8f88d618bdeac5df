// The daemon reaches a container's network namespace through the bind its monitor
// makes (never /proc/PID, which a reused pid would point elsewhere), and no bind
// outlives the container, even when its monitor is killed before it can unmount it.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { suiteDaemon, until } from '../helpers/daemon.ts';

const mounted = (path: string) => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === path);

describe('the netns bind', () => {
  const d = suiteDaemon();

  test('a bridge container\'s netns is bound in its run dir and wired there; nothing is left after rm', async () => {
    const id = (await d.ok(['run', '-d', 'busybox', 'sleep', '1000'])).trim();
    try {
      const info = await d.inspect(id);
      const bind = join(d.execRoot, 'c', id.slice(0, 12), 'netns');
      assert.ok(mounted(bind), 'bound on the host');
      assert.equal(info.NetworkSettings.SandboxKey, bind, 'inspect names the bind, as Docker its netns file');
      assert.equal(statSync(bind).ino, statSync(`/proc/${info.State.Pid}/ns/net`).ino, 'the container\'s netns');
      const addr = spawnSync('nsenter', [`--net=${bind}`, 'ip', '-4', '-o', 'addr', 'show', 'eth0'], { encoding: 'utf8' });
      assert.ok(addr.stdout.includes(`${info.NetworkSettings.IPAddress}/`), addr.stdout + addr.stderr);
      await d.ok(['stop', '-t', '0', id]);
      assert.equal((await d.inspect(id)).NetworkSettings.SandboxKey, '', 'no SandboxKey once it stopped');
    } finally {
      await d.ok(['rm', '-f', id]);
    }
    assert.deepEqual(d.leftovers(), []);
  });

  test('a monitor killed with its bind still mounted: the daemon removes the bind', async () => {
    const id = (await d.ok(['run', '-d', 'busybox', 'sleep', '1000'])).trim();
    const bind = join(d.execRoot, 'c', id.slice(0, 12), 'netns');
    try {
      assert.ok(mounted(bind));
      const [monitor] = d.monitorPids();
      assert.ok(monitor, 'the monitor runs');
      process.kill(monitor, 'SIGKILL'); // no clean-up of its own: the bind stays
      await until('the container is recorded exited', async () => (await d.inspect(id)).State.Status === 'exited');
      assert.ok(!mounted(bind), 'the daemon unmounted it');
      assert.ok(!existsSync(bind));
    } finally {
      await d.ok(['rm', '-f', id]);
    }
    assert.deepEqual(d.leftovers(), []);
  });
});
