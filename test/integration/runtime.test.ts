// The walking skeleton end to end: bin/tdock → gRPC → tdockd → tdock-shim → a
// container in every namespace. Each claim of the runtime issue has a test here.
import { describe, test } from 'node:test';
import { execFileSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { readlinkSync, statSync, readFileSync, existsSync, readdirSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { REPO, TestDaemon, suiteDaemon, until } from '../helpers/daemon.ts';

describe('tdock run (runtime core)', () => {
  const d = suiteDaemon();

  test('run --rm prints the output and exits 0; busybox is pulled on first use', async () => {
    const r = await d.cli(['run', '--rm', 'busybox', 'echo', 'hello from tdock']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'hello from tdock\n');
    assert.match(await d.ok(['images']), /busybox\s+latest/);
  });

  test('everything after IMAGE goes to the container untouched', async () => {
    assert.equal(await d.ok(['run', '--rm', 'busybox', 'sh', '-c', 'echo hi; echo "$0"', 'zero']), 'hi\nzero\n');
    assert.equal(await d.ok(['run', '--rm', 'busybox', 'ls', '-d', '/etc']), '/etc\n');
    const help = await d.cli(['run', '--rm', 'busybox', 'echo', '--help', '-p', '1']);
    assert.equal(help.stdout, '--help -p 1\n');
  });

  test('exit codes: the command\'s code, and 128+N when killed by signal N', async () => {
    assert.equal((await d.cli(['run', '--rm', 'busybox', 'sh', '-c', 'exit 3'])).code, 3);
    assert.equal((await d.cli(['run', '--rm', 'busybox', 'sh', '-c', 'kill -TERM $$'])).code, 143);
    assert.equal((await d.cli(['run', '--rm', 'busybox', 'sh', '-c', 'kill -KILL $$'])).code, 137);
  });

  test('stdout and stderr stay separate; -i passes stdin and its EOF', async () => {
    const r = await d.cli(['run', '--rm', 'busybox', 'sh', '-c', 'echo out; echo err >&2']);
    assert.equal(r.stdout, 'out\n');
    assert.equal(r.stderr, 'err\n');
    const i = await d.cli(['run', '--rm', '-i', 'busybox', 'sh', '-c', 'wc -l'], { input: 'a\nb\nc\n' });
    assert.equal(i.stdout.trim(), '3');
  });

  test('a missing command exits 127 with a one-line error', async () => {
    const r = await d.cli(['run', '--rm', 'busybox', 'no-such-command']);
    assert.equal(r.code, 127);
    assert.match(r.stderr, /no-such-command/);
    assert.equal(r.stderr.trim().split('\n').length, 1);
  });

  test('root in the container is the mapped subordinate uid on the host', async () => {
    const out = await d.ok(['run', '--rm', 'busybox', 'sh', '-c', 'id -u; cat /proc/self/uid_map; cat /proc/self/gid_map']);
    const [uid, uidMap, gidMap] = out.trim().split('\n').map((l) => l.trim().split(/\s+/).join(' '));
    assert.equal(uid, '0');
    const sub = readFileSync('/etc/subuid', 'utf8').split('\n').find((l) => l.startsWith('tdock:'))!.split(':');
    assert.equal(uidMap, `0 ${sub[1]} 65536`);
    assert.match(gidMap!, /^0 \d+ 65536$/);

    const id = (await d.ok(['run', '-d', 'busybox', 'sh', '-c', 'touch /made-here; sleep 1000'])).trim();
    try {
      const info = await d.inspect(id);
      const file = join(info.GraphDriver.Data.UpperDir, 'made-here');
      await until('the file in the upper dir', () => existsSync(file));
      assert.equal(statSync(file).uid, Number(sub[1]));
      assert.notEqual(statSync(file).uid, 0);
    } finally {
      await d.ok(['rm', '-f', id]);
    }
  });

  test('new namespaces: every inode differs from the host\'s; pid 1 is tdock\'s init', async () => {
    const id = (await d.ok(['run', '-d', '--hostname', 'box1', 'busybox', 'sleep', '1000'])).trim();
    try {
      assert.match(id, /^[0-9a-f]{64}$/);
      const info = await d.inspect(id);
      assert.equal(info.State.Status, 'running');
      assert.ok(info.State.Pid > 0);
      for (const ns of ['user', 'mnt', 'pid', 'net', 'uts', 'ipc', 'cgroup']) {
        const entry = info.Namespaces[ns];
        assert.ok(entry, `inspect shows the ${ns} namespace`);
        assert.equal(entry.Path, `/proc/${info.State.Pid}/ns/${ns}`);
        assert.notEqual(entry.Id, readlinkSync(`/proc/self/ns/${ns}`), `${ns} namespace is new`);
        assert.equal(readlinkSync(entry.Path), entry.Id);
      }
      assert.equal(info.IdMappings.UidMap[0].Size, 65536);
      const host = readFileSync(`/proc/${info.State.Pid}/status`, 'utf8');
      assert.match(host, /NoNewPrivs:\s+1/);
      // PID 1 of the container is the shim's init; the command is its child.
      const ps = await d.ok(['run', '--rm', 'busybox', 'sh', '-c', 'cat /proc/1/comm; echo $$; hostname']);
      const [comm, mypid, hostname] = ps.trim().split('\n');
      assert.notEqual(comm, 'sh');
      assert.equal(mypid, '2');
      assert.equal(hostname?.length, 12);
    } finally {
      await d.ok(['rm', '-f', id]);
    }
  });

  test('hostname, env, workdir and user flags reach the process', async () => {
    const out = await d.ok(['run', '--rm', '--hostname', 'web', '-e', 'FOO=bar', '-w', '/tmp', '-u', '1000:1000', 'busybox',
      'sh', '-c', 'hostname; echo $FOO; pwd; id -u; id -g']);
    assert.deepEqual(out.trim().split('\n'), ['web', 'bar', '/tmp', '1000', '1000']);
  });

  // Masked and read-only paths, the host's mounts: breakout/escapes.test.ts.
  test('mounts: proc, read-only sys, dev nodes, devpts, shm, mqueue', async () => {
    const script = [
      'grep -E " /(proc|sys|dev|dev/pts|dev/shm|dev/mqueue) " /proc/mounts | cut -d" " -f2,3,4 | cut -d, -f1',
      'ls /dev',
    ].join('; ');
    const out = await d.ok(['run', '--rm', 'busybox', 'sh', '-c', script]);
    assert.match(out, /^\/proc proc rw$/m);
    assert.match(out, /^\/sys sysfs ro$/m);
    assert.match(out, /^\/dev tmpfs rw$/m);
    assert.match(out, /^\/dev\/pts devpts rw$/m);
    assert.match(out, /^\/dev\/shm tmpfs rw$/m);
    assert.match(out, /^\/dev\/mqueue mqueue rw$/m);
    for (const dev of ['null', 'zero', 'full', 'random', 'urandom', 'tty', 'pts', 'shm', 'ptmx']) assert.match(out, new RegExp(`^${dev}$`, 'm'));
  });

  test('the shim binary cannot be reached from inside (CVE-2019-5736)', async () => {
    // The command re-executes what /proc/self/exe names before its exec: the runtime's
    // own binary. A write through /proc/2/exe fails for the container's root anyway (the
    // file is host root's); what must hold is that the file is a sealed copy, never the
    // host's (test/integration/breakout/exe.test.ts checks it from every side).
    const shim = join(REPO, 'shim', 'tdock-shim');
    const id = (await d.ok(['run', '-d', '-i', '--entrypoint', '/proc/self/exe', 'busybox', 'whiteouts', '/tmp'])).trim();
    try {
      await until('the command running the shim', async () => (await d.cli(['exec', id, 'cat', '/proc/2/cmdline'])).stdout.startsWith('/proc/self/exe\0whiteouts'));
      const out = await d.ok(['exec', id, 'sh', '-c', 'readlink /proc/2/exe; stat -L -c %d:%i /proc/2/exe; echo x >> /proc/2/exe && echo WROTE || echo refused']);
      const [link, devIno, wrote] = out.trim().split('\n');
      assert.notEqual(link, realpathSync(shim));
      const host = statSync(shim);
      assert.notEqual(devIno, `${host.dev}:${host.ino}`, `/proc/2/exe is the host's ${link}`);
      assert.equal(wrote, 'refused');
    } finally {
      await d.ok(['rm', '-f', id]);
    }
  });

  test('/etc/hosts, /etc/hostname and /etc/resolv.conf are the container\'s own, writable by its root', async () => {
    const script = [
      'echo 1.2.3.4 x >> /etc/hosts && grep -x "1.2.3.4 x" /etc/hosts',
      'echo other > /etc/hostname && cat /etc/hostname',
      'echo "nameserver 192.0.2.53" >> /etc/resolv.conf && grep 192.0.2.53 /etc/resolv.conf',
      'stat -c "%u:%g %a %n" /etc/hosts /etc/hostname /etc/resolv.conf',
    ].join(' && ');
    const r = await d.cli(['run', '--rm', 'busybox', 'sh', '-c', script]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), [
      '1.2.3.4 x', 'other', 'nameserver 192.0.2.53',
      '0:0 644 /etc/hosts', '0:0 644 /etc/hostname', '0:0 644 /etc/resolv.conf',
    ]);
    // Each container has its own copy: nothing of the first one's edits.
    const other = await d.ok(['run', '--rm', 'busybox', 'sh', '-c', 'cat /etc/hosts /etc/hostname /etc/resolv.conf']);
    assert.doesNotMatch(other, /1\.2\.3\.4|other|192\.0\.2\.53/);
    // Another user of the container reads them and may not write them.
    const user = await d.cli(['run', '--rm', '-u', '1000', 'busybox', 'sh', '-c', 'grep -c localhost /etc/hosts; echo y >> /etc/hosts']);
    assert.equal(user.stdout, '2\n');
    assert.match(user.stderr, /can't create \/etc\/hosts: Permission denied/);
  });

  test('RLIMIT_NOFILE is Docker\'s 1048576 (or the daemon\'s hard limit when lower), for the command and execs', async () => {
    const hard = /^Max open files\s+\S+\s+(\S+)/m.exec(readFileSync(`/proc/${d.proc!.pid}/limits`, 'utf8'))![1]!;
    const want = String(hard === 'unlimited' ? 1048576 : Math.min(1048576, Number(hard)));
    // Node raises its soft limit to the hard one, so here the command would inherit the
    // same (shim-exec.test.ts starts a monitor with a lower soft limit); an exec below
    // would not.
    assert.equal(await d.ok(['run', '--rm', 'busybox', 'sh', '-c', 'ulimit -n; ulimit -Hn']), `${want}\n${want}\n`);
    const id = (await d.ok(['run', '-d', 'busybox', 'sleep', '1000'])).trim();
    try {
      const pid = (await d.inspect(id)).State.Pid as number;
      assert.match(readFileSync(`/proc/${pid}/limits`, 'utf8'), new RegExp(`^Max open files\\s+${want}\\s+${want}\\s`, 'm'));
      // The monitor's own soft limit lowered: an exec it forks must not inherit that.
      const monitor = Number(/^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
      execFileSync('prlimit', ['--pid', String(monitor), `--nofile=1024:${hard}`]);
      assert.equal(await d.ok(['exec', id, 'sh', '-c', 'ulimit -n; ulimit -Hn']), `${want}\n${want}\n`);
    } finally {
      await d.ok(['rm', '-f', id]);
    }
  });

  test('-t gives a real pty in the container', async () => {
    const r = await d.cli(['run', '--rm', '-t', 'busybox', 'tty']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.replace(/\r/g, '').trim(), '/dev/pts/0');
  });

  test('init reaps orphaned zombies', async () => {
    const id = (await d.ok(['run', '-d', 'busybox', 'sh', '-c', 'for i in 1 2 3 4 5; do (sleep 0.1 &); done; sleep 1000'])).trim();
    try {
      const pid = (await d.inspect(id)).State.Pid as number;
      await sleep(600);
      const zombies = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
        try {
          const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
          const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
          return fields[0] === 'Z' && Number(fields[1]) === pid;
        } catch {
          return false;
        }
      });
      assert.deepEqual(zombies, []);
      // The orphans were really re-parented to init (they existed): init has no other children left.
      const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
      assert.equal(children.length, 1);
    } finally {
      await d.ok(['rm', '-f', id]);
    }
  });

  test('stop forwards SIGTERM (fast) and escalates to SIGKILL after the timeout', async () => {
    const id = (await d.ok(['run', '-d', 'busybox', 'sleep', '1000'])).trim();
    let t = Date.now();
    await d.ok(['stop', id]);
    assert.ok(Date.now() - t < 1500, `stop took ${Date.now() - t} ms`);
    assert.equal((await d.inspect(id)).State.ExitCode, 143);
    assert.equal((await d.ok(['wait', id])).trim(), '143');

    const stubborn = (await d.ok(['run', '-d', 'busybox', 'sh', '-c', 'trap "" TERM; while true; do sleep 0.1; done'])).trim();
    t = Date.now();
    await d.ok(['stop', '-t', '1', stubborn]);
    const took = Date.now() - t;
    assert.ok(took >= 900 && took < 4000, `stop -t 1 took ${took} ms`);
    assert.equal((await d.inspect(stubborn)).State.ExitCode, 137);
    await d.ok(['rm', id, stubborn]);
  });

  test('kill sends the named signal; ps, logs, wait, rm behave like Docker', async () => {
    const id = (await d.ok(['run', '-d', '--name', 'logger', 'busybox', 'sh', '-c', 'echo one; echo two >&2; trap "echo got-usr1; exit 5" USR1; while true; do sleep 0.05; done'])).trim();
    await until('output in logs', async () => (await d.cli(['logs', 'logger'])).stdout.includes('one'));
    const ps = await d.ok(['ps']);
    assert.match(ps, /^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES$/m);
    assert.match(ps, new RegExp(`^${id.slice(0, 12)}\\s+busybox\\s+.*Up .*logger$`, 'm'));
    assert.ok((await d.ok(['ps', '-q'])).split('\n').includes(id.slice(0, 12)));
    // Unique id prefixes address containers too.
    await d.ok(['kill', '-s', 'USR1', id.slice(0, 8)]);
    assert.equal((await d.ok(['wait', 'logger'])).trim(), '5');
    const logs = await d.cli(['logs', 'logger']);
    assert.equal(logs.stdout, 'one\ngot-usr1\n');
    assert.equal(logs.stderr, 'two\n');
    assert.ok(!(await d.ok(['ps', '-q'])).includes(id.slice(0, 12)));
    assert.match(await d.ok(['ps', '-a']), /Exited \(5\)/);
    const dup = await d.cli(['run', '-d', '--name', 'logger', 'busybox', 'true']);
    assert.notEqual(dup.code, 0);
    assert.match(dup.stderr, /already in use/);
    await d.ok(['rm', 'logger']);
    const gone = await d.cli(['inspect', 'logger']);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /No such container: logger/);
  });

  test('logs -f follows until the container exits', async () => {
    const id = (await d.ok(['run', '-d', 'busybox', 'sh', '-c', 'for i in 1 2 3; do echo line$i; sleep 0.1; done'])).trim();
    const r = await d.cli(['logs', '-f', id]);
    assert.equal(r.stdout, 'line1\nline2\nline3\n');
    await d.ok(['rm', id]);
  });

  test('start -a runs an exited container again and shows its output; attach refuses a stopped one', async () => {
    const id = (await d.ok(['create', '--name', 'again', 'busybox', 'sh', '-c', 'echo run; exit 6'])).trim();
    assert.equal((await d.inspect(id)).State.Status, 'created');
    const first = await d.cli(['start', '-a', 'again']);
    assert.equal(first.code, 6);
    assert.equal(first.stdout, 'run\n');
    const second = await d.cli(['start', '-a', 'again']);
    assert.equal(second.code, 6);
    assert.equal(second.stdout, 'run\n');
    const attach = await d.cli(['attach', 'again']);
    assert.equal(attach.code, 1);
    assert.match(attach.stderr, /cannot attach to a stopped container/);
    assert.equal((await d.cli(['logs', 'again'])).stdout, 'run\nrun\n');
    await d.ok(['rm', 'again']);
  });

  test('wait on a created container returns when it is removed; start racing rm leaves nothing', async () => {
    const id = (await d.ok(['create', 'busybox', 'true'])).trim();
    const waiting = d.cli(['wait', id]);
    await sleep(200);
    await d.ok(['rm', id]);
    assert.equal((await waiting).code, 0);
    for (let i = 0; i < 10; i++) {
      const c = (await d.ok(['create', 'busybox', 'sleep', '1000'])).trim();
      await Promise.all([d.cli(['start', c]), d.cli(['rm', '-f', c])]);
      await until('the raced container to be gone', async () => (await d.cli(['inspect', c])).code !== 0 || (await d.cli(['rm', '-f', c])).code === 0);
    }
    await until('no leftovers after start/rm races', () => d.leftovers().length === 0);
    assert.equal((await d.ok(['ps', '-aq'])).trim(), '');
  });

  test('a stalled daemon does not make a chatty container look exited (held output, or a reconnect)', async () => {
    // One unbounded log file: the check below counts its bytes (rotation has its own tests).
    const id = (await d.ok(['run', '-d', '--log-opt', 'max-size=-1', 'busybox', 'sh', '-c', 'yes | head -c 300000000; sleep 1000'])).trim();
    try {
      await sleep(100);
      const pid = d.proc!.pid!;
      process.kill(pid, 'SIGSTOP');
      await sleep(700);
      process.kill(pid, 'SIGCONT');
      await sleep(300);
      assert.equal((await d.inspect(id)).State.Status, 'running');
      assert.doesNotMatch(d.log, /lost its monitor|monitor died/);
      // Nothing was lost: all 300 MB reach the log once the daemon reads again.
      await until('all output in the log', () => {
        try {
          return statSync(join(d.root, 'containers', id, 'container.log')).size >= 300_000_000;
        } catch {
          return false;
        }
      }, 20000);
    } finally {
      await d.ok(['rm', '-f', id]);
    }
  });

  test('logs -f on a created container waits for its start and follows to the end', async () => {
    const id = (await d.ok(['create', 'busybox', 'sh', '-c', 'echo first; sleep 0.2; echo second'])).trim();
    const following = d.cli(['logs', '-f', id]);
    await sleep(300);
    await d.ok(['start', id]);
    const r = await following;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'first\nsecond\n');
    await d.ok(['rm', id]);
  });

  test('rm refuses a running container without -f', async () => {
    const id = (await d.ok(['run', '-d', 'busybox', 'sleep', '1000'])).trim();
    const r = await d.cli(['rm', id]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /stop it first or use rm -f/);
    await d.ok(['rm', '-f', id]);
  });

  test('bad input: unknown image, bad flag values, each a one-line error and nothing made', async () => {
    const before = readdirSync(join(d.root, 'containers')).length;
    for (const args of [
      ['run', '--rm', 'nosuchimage:1.0', 'true'],
      ['run', '--rm', '-w', 'relative', 'busybox', 'true'],
      ['run', '--rm', '-u', 'nosuchuser', 'busybox', 'true'],
      ['run', '--rm', '--name', '-bad', 'busybox', 'true'],
    ]) {
      const r = await d.cli(args);
      assert.notEqual(r.code, 0, args.join(' '));
      assert.equal(r.stderr.trim().split('\n').length, 1, `one line for ${args.join(' ')}: ${r.stderr}`);
    }
    assert.equal(readdirSync(join(d.root, 'containers')).length, before);
  });

  test('50 run --rm leave nothing behind', async () => {
    for (let i = 0; i < 50; i++) {
      const r = await d.cli(['run', '--rm', 'busybox', 'true']);
      assert.equal(r.code, 0, r.stderr);
    }
    assert.deepEqual(d.leftovers(), []);
    assert.equal((await d.ok(['ps', '-aq'])).trim(), '');
  });
});

describe('daemon lifecycle', () => {
  test('the CLI says so in one line when the daemon is not running', async () => {
    const d = new TestDaemon();
    try {
      const r = await d.cli(['ps']);
      assert.equal(r.code, 1);
      assert.equal(r.stderr.trim().split('\n').length, 1);
      assert.match(r.stderr, /daemon/);
    } finally {
      await d.cleanup();
    }
  });

  test('a container outlives kill -9 of tdockd and the restarted daemon shows and stops it', async () => {
    const d = new TestDaemon();
    try {
      await d.start();
      const id = (await d.ok(['run', '-d', 'busybox', 'sh', '-c', 'echo before; sleep 1000'])).trim();
      const pid = (await d.inspect(id)).State.Pid as number;
      await d.stop('SIGKILL');
      await sleep(200);
      assert.ok(existsSync(`/proc/${pid}`), 'init still alive');
      await d.start();
      assert.match(await d.ok(['ps']), new RegExp(id.slice(0, 12)));
      await d.ok(['stop', id]);
      assert.equal((await d.inspect(id)).State.ExitCode, 143);
      await d.ok(['rm', id]);
      assert.deepEqual(d.leftovers(), []);
    } finally {
      await d.cleanup();
    }
  });

  test('an exit while the daemon was down is recorded at restart and cleaned up', async () => {
    const d = new TestDaemon();
    try {
      await d.start();
      const id = (await d.ok(['run', '-d', 'busybox', 'sh', '-c', 'sleep 0.5; exit 7'])).trim();
      await d.stop('SIGKILL');
      // The exit happens while the daemon is down: the monitor records it and ends.
      await until('the container and its monitor to end', () => d.monitorPids().length === 0, 20000);
      await d.start();
      const info = await d.inspect(id);
      assert.equal(info.State.Status, 'exited');
      assert.equal(info.State.ExitCode, 7);
      await d.ok(['rm', id]);
      assert.deepEqual(d.leftovers(), []);
    } finally {
      await d.cleanup();
    }
  });

  test('stopping the daemon leaves running containers running and removes its socket', async () => {
    const d = new TestDaemon();
    try {
      await d.start();
      const id = (await d.ok(['run', '-d', 'busybox', 'sleep', '1000'])).trim();
      const pid = (await d.inspect(id)).State.Pid as number;
      await d.stop('SIGTERM');
      assert.ok(existsSync(`/proc/${pid}`));
      assert.ok(!existsSync(d.socket));
      await d.start();
      await d.ok(['rm', '-f', id]);
      assert.deepEqual(d.leftovers(), []);
    } finally {
      await d.cleanup();
    }
  });

  test('two daemons with different roots run side by side', async () => {
    const a = new TestDaemon();
    const b = new TestDaemon();
    try {
      await Promise.all([a.start(), b.start()]);
      const ida = (await a.ok(['run', '-d', 'busybox', 'sleep', '1000'])).trim();
      assert.equal((await b.ok(['ps', '-aq'])).trim(), '');
      assert.equal(await b.ok(['run', '--rm', 'busybox', 'echo', 'b']), 'b\n');
      await a.ok(['rm', '-f', ida]);
    } finally {
      await Promise.all([a.cleanup(), b.cleanup()]);
    }
  });
});
