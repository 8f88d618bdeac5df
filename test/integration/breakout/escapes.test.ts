// Escapes tried from containers made by the real CLI and daemon: masked and read-only
// kernel files, the host's mounts, capabilities, descriptors, nested user namespaces,
// cgroup v1 placement (release_agent), a working directory outside the root (exec),
// kernel modules. Each test fails when the defence it names is taken away; one that
// cannot be tried on this kernel says SKIP and why. Root only: a non-root run fails.
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { suiteDaemon } from '../../helpers/daemon.ts';
import { HostSideProcess, cgroupLines, missingOnHost, noModules, requireRoot, v1Hierarchies } from '../../helpers/breakout.ts';
import { MASKED_PATHS, READONLY_PATHS } from '../../../daemon/runtime/defaults.ts';

requireRoot();

/** Mount options of the mount at `p` (the last one stacked there), from mountinfo text. */
function mountAt(mountinfo: string, p: string): string | undefined {
  const line = mountinfo.split('\n').filter((l) => l.split(' ')[4] === p).at(-1);
  return line?.split(' ')[5];
}

describe('breakout: containers of tdock run and exec', () => {
  const d = suiteDaemon();

  // One container looks at every masked and read-only path; a test per path reads its part.
  let mountinfo = '';
  const report = new Map<string, string>();
  let writes = '';
  before(async () => {
    const look = MASKED_PATHS.map((p) => `if [ -c ${p} ]; then echo "${p} chr $(wc -c < ${p})"; elif [ -d ${p} ]; then echo "${p} dir $(ls -A ${p} | wc -l)"; ` +
      `elif [ -e ${p} ]; then echo "${p} file $(wc -c < ${p})"; else echo "${p} none"; fi`).join('; ');
    const out = await d.ok(['run', '--rm', 'busybox', 'sh', '-c',
      `cat /proc/self/mountinfo; echo ==; ${look}; echo ==; echo x 2>&1 > /proc/sys/kernel/domainname; ` +
      '[ -e /proc/sysrq-trigger ] && echo "?" 2>&1 > /proc/sysrq-trigger; true']);
    const [m = '', r = '', w = ''] = out.split('==\n');
    mountinfo = m;
    for (const l of r.trim().split('\n')) report.set(l.split(' ')[0]!, l);
    writes = w;
  });

  for (const p of MASKED_PATHS) {
    test(`masked: ${p}`, (t) => {
      const missing = missingOnHost(p);
      if (missing) return t.skip(missing);
      // /dev/null over a file, an empty read-only tmpfs over a directory.
      const opts = mountAt(mountinfo, p);
      assert.ok(opts, `nothing is mounted over ${p}`);
      if (statSync(p).isDirectory()) {
        assert.equal(report.get(p), `${p} dir 0`);
        assert.match(opts, /^ro,/);
      } else {
        assert.equal(report.get(p), `${p} chr 0`);
      }
    });
  }

  for (const p of READONLY_PATHS) {
    test(`read-only: ${p}`, (t) => {
      const missing = missingOnHost(p);
      if (missing) return t.skip(missing);
      assert.match(mountAt(mountinfo, p) ?? '', /^ro,/, `${p} is not a read-only mount`);
      if (p === '/proc/sys') assert.match(writes, /\/proc\/sys\/kernel\/domainname: Read-only file system/);
      if (p === '/proc/sysrq-trigger') assert.match(writes, /\/proc\/sysrq-trigger: Read-only file system/);
    });
  }

  test('the host\'s mounts are out of sight (the old root is detached)', () => {
    const points = mountinfo.trim().split('\n').map((l) => l.split(' ')[4]!);
    assert.ok(points.length < 40, `the container sees ${points.length} mounts`);
    for (const p of points) assert.ok(!p.startsWith(d.base) && !p.startsWith('/work') && !p.startsWith('/run/tdock'), `host mount ${p} is visible`);
  });

  test('capabilities are Docker\'s default set; no_new_privs; no fd >= 3 leaks in', async () => {
    const out = await d.ok(['run', '--rm', 'busybox', 'sh', '-c', 'grep -E "^(CapEff|CapBnd|NoNewPrivs)" /proc/self/status; ls /proc/self/fd']);
    // CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP
    assert.match(out, /CapEff:\s+00000000a80425fb/);
    assert.match(out, /CapBnd:\s+00000000a80425fb/);
    assert.match(out, /NoNewPrivs:\s+1/);
    const fds = out.trim().split('\n').slice(3).join(' ').split(/\s+/).filter(Boolean).map(Number);
    assert.ok(fds.every((fd) => fd <= 3), `open fds: ${fds}`); // 3 is ls's own directory fd
  });

  test('a nested user namespace cannot be created', async () => {
    const r = await d.cli(['run', '--rm', 'busybox', 'sh', '-c', 'cat /proc/sys/user/max_user_namespaces; unshare -U true && echo nested-ok || echo nested-refused']);
    assert.match(r.stdout, /^0$/m);
    assert.match(r.stdout, /nested-refused/);
  });

  test('release_agent: every process of a container is in a group of its own in EVERY v1 hierarchy', async (t) => {
    if (!v1Hierarchies().length) return t.skip('no cgroup v1 hierarchy on this host: release_agent exists only in v1');
    const id = (await d.ok(['run', '-d', 'busybox', 'sh', '-c', 'sleep 1000; true'])).trim();
    try {
      const init = (await d.inspect(id)).State.Pid as number;
      const want = `/${d.cgroupParent}/${id}`;
      // From the host: init and the command, in every hierarchy the kernel has.
      const command = readChildren(init)[0];
      assert.ok(command, 'the command runs');
      for (const pid of [init, command]) {
        const lines = cgroupLines(pid);
        assert.ok(lines.length >= v1Hierarchies().length, JSON.stringify(lines));
        for (const l of lines) assert.equal(l.path, want, `pid ${pid}, hierarchy ${l.hierarchy}`);
      }
      // From inside: that group is the root of the container's cgroup namespace.
      const inside = await d.ok(['exec', id, 'cat', '/proc/self/cgroup']);
      for (const line of inside.trim().split('\n')) assert.match(line, /:\/$/, inside);
    } finally {
      await d.ok(['rm', '-f', id]);
    }
  });

  test('exec: a working directory that leads out of the root is refused (getcwd check, CVE-2024-21626)', async () => {
    const id = (await d.ok(['run', '-d', 'busybox', 'sleep', '1000'])).trim();
    const host = new HostSideProcess();
    try {
      await host.enter((await d.inspect(id)).State.Pid as number);
      // The path does lead to the host's directory: a plain look through it sees the file.
      assert.match(await d.ok(['exec', id, 'ls', `/proc/${host.nsPid}/cwd/`]), /host-secret/);
      const r = await d.cli(['exec', '-w', `/proc/${host.nsPid}/cwd`, id, 'ls']);
      assert.doesNotMatch(r.stdout, /host-secret/, 'the command ran in a host directory');
      assert.equal(r.code, 126, r.stdout);
      assert.equal(r.stderr, `Error: chdir /proc/${host.nsPid}/cwd: the working directory is outside the container\n`);
    } finally {
      host.cleanup();
      await d.ok(['rm', '-f', id]);
    }
  });

  test('no kernel module can be loaded', async (t) => {
    const none = noModules();
    if (none) return t.skip(none);
    // Not a module: a kernel that let the call through would say "Invalid module format".
    const r = await d.cli(['run', '--rm', 'busybox', 'sh', '-c', 'echo x > /m.ko; insmod /m.ko']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Operation not permitted/);
  });
});

function readChildren(pid: number): number[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
}
