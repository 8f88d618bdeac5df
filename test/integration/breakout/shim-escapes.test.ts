// Escapes tried against tdock-shim's containers directly (monitor + init, no daemon):
// capabilities, nested user namespaces, masked and read-only paths, descriptors, a
// working directory outside the root, and cgroup v1 placement (release_agent). Each
// test fails when the defence it names is taken out of the shim. Root only: a
// non-root run fails (test/helpers/breakout.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CAP_NUM, DEFAULT_CAPS, MASKED, READONLY, sh, shimHarness } from '../../helpers/shim-harness.ts';
import { HostSideProcess, cgroupLines, missingOnHost, requireRoot, v1Hierarchies } from '../../helpers/breakout.ts';

requireRoot();
const { run } = shimHarness();

test('capabilities are the configured set; no_new_privs', async () => {
  const r = await run(sh('grep -E "^(Cap|NoNewPrivs)" /proc/self/status'));
  const st = Object.fromEntries(r.stdout.trim().split('\n').map((l) => l.split(/:\s+/)));
  let mask = 0n;
  for (const c of DEFAULT_CAPS) mask |= 1n << BigInt(CAP_NUM[c]!);
  const hex = mask.toString(16).padStart(16, '0');
  assert.equal(st.CapPrm, hex);
  assert.equal(st.CapEff, hex);
  assert.equal(st.CapBnd, hex);
  assert.equal(st.CapInh, '0000000000000000');
  assert.equal(st.CapAmb, '0000000000000000');
  assert.equal(st.NoNewPrivs, '1');
  // A non-root user keeps nothing (like Docker).
  const u = await run({ ...sh('grep CapEff /proc/self/status; id -u'), user: { uid: 1000, gid: 1000, additionalGids: [10] } });
  assert.match(u.stdout, /CapEff:\s+0000000000000000\n1000\n/);
  // And an empty list drops everything, bounding set included.
  const n = await run({ ...sh('grep CapBnd /proc/self/status'), capabilities: [] });
  assert.match(n.stdout, /CapBnd:\s+0000000000000000/);
});

test('nested user namespaces are refused (user.max_user_namespaces=0)', async () => {
  const r = await run(sh('cat /proc/sys/user/max_user_namespaces; unshare -U true; echo rc=$?'));
  assert.match(r.stdout, /^0\nrc=[1-9]/);
});

// One container reports on every path at once; a test per path reads its part.
const probe = (paths: readonly string[]) => sh(
  'cat /proc/self/mountinfo; echo ==; ' +
  paths.map((p) => `if [ -c ${p} ]; then echo "${p} chr $(wc -c < ${p})"; elif [ -d ${p} ]; then echo "${p} dir $(ls -A ${p} | wc -l)"; ` +
    `elif [ -e ${p} ]; then echo "${p} file"; else echo "${p} none"; fi`).join('; '),
);

/** Mount options of the mount at `p` (the last one stacked there), from mountinfo text. */
function mountAt(mountinfo: string, p: string): string | undefined {
  const line = mountinfo.split('\n').filter((l) => l.split(' ')[4] === p).at(-1);
  return line?.split(' ')[5];
}

let masked: { mountinfo: string; report: Map<string, string> } | undefined;
for (const p of MASKED) {
  test(`masked: ${p}`, async (t) => {
    const missing = missingOnHost(p);
    if (missing) return t.skip(missing);
    if (!masked) {
      const r = await run(probe(MASKED));
      // Paths this kernel lacks are skipped by the shim, not an error.
      assert.equal(r.exit.exitCode, 0, r.stderr);
      const [mountinfo = '', report = ''] = r.stdout.split('==\n');
      masked = { mountinfo, report: new Map(report.trim().split('\n').map((l) => [l.split(' ')[0]!, l])) };
    }
    // Something is mounted over it: /dev/null on a file, an empty read-only tmpfs on a directory.
    const opts = mountAt(masked.mountinfo, p);
    assert.ok(opts, `nothing is mounted over ${p}`);
    const line = masked.report.get(p);
    if (fs.statSync(p).isDirectory()) {
      assert.equal(line, `${p} dir 0`);
      assert.match(opts, /^ro,/);
    } else {
      assert.equal(line, `${p} chr 0`);
    }
  });
}

let readonly: { mountinfo: string; writes: string } | undefined;
for (const p of READONLY) {
  test(`read-only: ${p}`, async (t) => {
    const missing = missingOnHost(p);
    if (missing) return t.skip(missing);
    readonly ??= await run(sh('cat /proc/self/mountinfo; echo ==; echo x 2>&1 > /proc/sys/kernel/domainname; ' +
      '[ -e /proc/sysrq-trigger ] && echo "?" 2>&1 > /proc/sysrq-trigger; true'))
      .then((r) => {
        const [mountinfo = '', writes = ''] = r.stdout.split('==\n');
        return { mountinfo, writes };
      });
    const ro = readonly!;
    assert.match(mountAt(ro.mountinfo, p) ?? '', /^ro,/, `${p} is not a read-only mount`);
    // The files among them: a write is refused by the mount, whatever the permissions say.
    if (p === '/proc/sys') assert.match(ro.writes, /\/proc\/sys\/kernel\/domainname: Read-only file system/);
    if (p === '/proc/sysrq-trigger') assert.match(ro.writes, /\/proc\/sysrq-trigger: Read-only file system/);
  });
}

test('no descriptor beyond stdio reaches the container', async () => {
  const r = await run(sh('ls -l /proc/self/fd'));
  const fds = [...r.stdout.matchAll(/ (\d+) -> (.*)$/gm)].map((m) => [Number(m[1]), m[2]] as const);
  for (const [fd, target] of fds) {
    if (fd <= 2) continue;
    // ls itself has the directory it is listing open.
    assert.equal(fd, 3);
    assert.match(target!, /^\/proc\/\d+\/fd$/);
  }
  assert.ok(fds.some(([fd]) => fd === 0));
});

test('a working directory that leads out of the root is refused (getcwd check, CVE-2024-21626)', async () => {
  const host = new HostSideProcess();
  try {
    // The host-side process enters before START: it is pid 2, the command will be 3.
    const r = await run({ args: ['ls', '-a'], cwd: '/proc/2/cwd' }, {
      beforeStart: async (pid) => {
        await host.enter(pid);
        assert.equal(host.nsPid, 2);
      },
    });
    assert.doesNotMatch(r.stdout, /host-secret/, 'the command listed a host directory');
    assert.equal(r.exit.exitCode, 126, r.stdout);
    assert.equal(r.exit.error, 'chdir /proc/2/cwd: the working directory is outside the container');
  } finally {
    host.cleanup();
  }
});

test('release_agent: the container sits in a group of its own in EVERY v1 hierarchy before its cgroup namespace exists', async (t) => {
  const hierarchies = v1Hierarchies();
  if (!hierarchies.length) return t.skip('no cgroup v1 hierarchy on this host: release_agent exists only in v1');
  const name = `tdock-breakout-${process.pid}-${Date.now()}`;
  const groups: string[] = [];
  try {
    for (const h of hierarchies) {
      const g = path.join(h.mountpoint, name);
      fs.mkdirSync(g);
      groups.push(g);
      // A cpuset group takes no task until it has cpus and mems.
      if (h.controllers.includes('cpuset')) {
        for (const f of ['cpuset.cpus', 'cpuset.mems']) fs.writeFileSync(path.join(g, f), fs.readFileSync(path.join(h.mountpoint, f)));
      }
    }
    let seen: { hierarchy: string; path: string }[] = [];
    const r = await run({ ...sh('cat /proc/self/cgroup'), cgroupProcs: groups.map((g) => path.join(g, 'cgroup.procs')) }, {
      beforeStart: (pid) => {
        seen = cgroupLines(pid);
      },
    });
    // From the host: init is in our group in every v1 hierarchy, none left in a root.
    const v1 = seen.filter((l) => !l.hierarchy.startsWith('0:'));
    assert.equal(v1.length, hierarchies.length, JSON.stringify(seen));
    for (const l of v1) assert.equal(l.path, `/${name}`, `hierarchy ${l.hierarchy}: ${l.path}`);
    // From inside: each group is the root of its cgroup namespace.
    for (const line of r.stdout.trim().split('\n')) assert.match(line, /:\/$/, r.stdout);
  } finally {
    for (const g of groups.reverse()) {
      for (let i = 0; i < 50; i++) {
        try {
          fs.rmdirSync(g);
          break;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EBUSY') break;
          await new Promise((res) => setTimeout(res, 20));
        }
      }
    }
  }
});
