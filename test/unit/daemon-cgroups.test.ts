// The cgroup drivers against fake trees (plain directories): limits land in the
// right files for v1 and v2 without touching the machine's real cgroups.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { parseMountinfo, detectCgroups } from '../../daemon/cgroups/index.ts';
import { CgroupV1 } from '../../daemon/cgroups/v1.ts';
import { CgroupV2 } from '../../daemon/cgroups/v2.ts';

const MOUNTINFO = `
25 1 0:22 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755
26 25 0:23 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
27 25 0:24 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
28 25 0:25 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
29 25 0:26 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;

test('mountinfo parsing finds v1 hierarchies (named ones too) and the v2 mount', () => {
  const m = parseMountinfo(MOUNTINFO);
  assert.deepEqual(m.v1.map((h) => h.controllers), [['memory'], ['cpu', 'cpuacct'], ['name=systemd']]);
  assert.equal(m.v2, '/sys/fs/cgroup/unified');
  assert.equal(detectCgroups('tdock', MOUNTINFO).version, 1);
  assert.equal(detectCgroups('tdock', '30 1 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n').version, 2);
  assert.throws(() => detectCgroups('tdock', ''), /no cgroup filesystem/);
});

function tree(): string {
  return mkdtempSync(join(tmpdir(), 'tdock-cgfake-'));
}

test('v1 driver: a group in every hierarchy, memory/memsw/pids/cpu limits, removal', async () => {
  const root = tree();
  try {
    for (const c of ['memory', 'pids', 'cpu', 'cpuset', 'systemd']) mkdirSync(join(root, c));
    writeFileSync(join(root, 'cpuset', 'cpuset.cpus'), '0-1');
    writeFileSync(join(root, 'cpuset', 'cpuset.mems'), '0');
    const hs = [
      { mountpoint: join(root, 'memory'), controllers: ['memory'] },
      { mountpoint: join(root, 'pids'), controllers: ['pids'] },
      { mountpoint: join(root, 'cpu'), controllers: ['cpu'] },
      { mountpoint: join(root, 'cpuset'), controllers: ['cpuset'] },
      { mountpoint: join(root, 'systemd'), controllers: ['name=systemd'] },
    ];
    // A fake tree has no kernel files: pre-create the ones the driver checks for.
    mkdirSync(join(root, 'memory', 'p', 'c1'), { recursive: true });
    writeFileSync(join(root, 'memory', 'p', 'c1', 'memory.memsw.limit_in_bytes'), '');
    const d = new CgroupV1(hs, 'p');
    const procs = d.create('c1', { memory: 50 << 20, pidsLimit: 20, cpus: 0.5 });
    assert.equal(procs.length, 5);
    assert.equal(readFileSync(join(root, 'memory/p/c1/memory.limit_in_bytes'), 'utf8'), String(50 << 20));
    assert.equal(readFileSync(join(root, 'memory/p/c1/memory.memsw.limit_in_bytes'), 'utf8'), String(100 << 20));
    assert.equal(readFileSync(join(root, 'pids/p/c1/pids.max'), 'utf8'), '20');
    assert.equal(readFileSync(join(root, 'cpu/p/c1/cpu.cfs_quota_us'), 'utf8'), '50000');
    assert.equal(readFileSync(join(root, 'cpuset/p/c1/cpuset.cpus'), 'utf8'), '0-1');
    assert.ok(existsSync(join(root, 'systemd/p/c1')));
    writeFileSync(join(root, 'memory/p/c1/memory.oom_control'), 'oom_kill_disable 0\nunder_oom 0\noom_kill 2\n');
    assert.equal(d.usage('c1').oomKills, 2);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('v2 driver: controllers enabled down the path, memory.max/swap/pids/cpu.max', () => {
  const root = tree();
  try {
    writeFileSync(join(root, 'cgroup.controllers'), 'cpuset cpu io memory pids');
    writeFileSync(join(root, 'cgroup.subtree_control'), '');
    mkdirSync(join(root, 'p', 'c1'), { recursive: true });
    writeFileSync(join(root, 'p', 'cgroup.subtree_control'), '');
    writeFileSync(join(root, 'p', 'c1', 'memory.swap.max'), '');
    const d = new CgroupV2(root, 'p');
    d.create('c1', { memory: 64 << 20, memorySwap: 96 << 20, pidsLimit: 5, cpus: 1.5 });
    assert.equal(readFileSync(join(root, 'cgroup.subtree_control'), 'utf8'), '+cpu +memory +pids');
    assert.equal(readFileSync(join(root, 'p', 'cgroup.subtree_control'), 'utf8'), '+cpu +memory +pids');
    assert.equal(readFileSync(join(root, 'p/c1/memory.max'), 'utf8'), String(64 << 20));
    assert.equal(readFileSync(join(root, 'p/c1/memory.swap.max'), 'utf8'), String(32 << 20));
    assert.equal(readFileSync(join(root, 'p/c1/pids.max'), 'utf8'), '5');
    assert.equal(readFileSync(join(root, 'p/c1/cpu.max'), 'utf8'), '150000 100000');
    writeFileSync(join(root, 'p/c1/memory.events'), 'low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n');
    writeFileSync(join(root, 'p/c1/memory.max'), 'max');
    const u = d.usage('c1');
    assert.equal(u.oomKills, 1);
    assert.equal(u.memoryLimit, 0);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('under systemd the cgroup parent is the service\'s delegated subtree; --cgroup-parent wins', async () => {
  const { systemdServiceCgroup, chooseCgroupParent, moveSelfToLeaf } = await import('../../daemon/cgroups/index.ts');
  const hybrid = '12:memory:/system.slice/tdockd.service\n1:name=systemd:/system.slice/tdockd.service\n0::/system.slice/tdockd.service\n';
  const unified = '0::/system.slice/tdockd.service\n';
  const shell = '1:name=systemd:/user.slice/user-0.slice/session-1.scope\n0::/user.slice/user-0.slice/session-1.scope\n';
  const env = { INVOCATION_ID: 'abc' };
  assert.equal(systemdServiceCgroup(hybrid, env, 1), 'system.slice/tdockd.service');
  assert.equal(systemdServiceCgroup(unified, env, 1), 'system.slice/tdockd.service');
  assert.equal(systemdServiceCgroup(shell, env, 1), undefined);
  assert.equal(systemdServiceCgroup(unified, {}, 1), undefined);
  // Started by something inside a service (not by systemd itself): not ours.
  assert.equal(systemdServiceCgroup(unified, env, 4321), undefined);
  assert.deepEqual(chooseCgroupParent(undefined, env, unified, 1), { parent: 'system.slice/tdockd.service/containers', service: 'system.slice/tdockd.service' });
  assert.deepEqual(chooseCgroupParent('custom', env, unified, 1), { parent: 'custom' });
  assert.deepEqual(chooseCgroupParent(undefined, {}, unified, 1), { parent: 'tdock' });
  // v2: the daemon leaves the service group so it may have children with controllers.
  const root = tree();
  try {
    const leaf = moveSelfToLeaf(root, 'system.slice/tdockd.service', 4242);
    assert.equal(readFileSync(join(leaf, 'cgroup.procs'), 'utf8'), '4242');
    assert.equal(leaf, join(root, 'system.slice/tdockd.service/daemon'));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('shutdown removes the containers\' group and the ancestors it made, never pre-existing ones', async () => {
  const { removeOwnParent } = await import('../../daemon/cgroups/fsutil.ts');
  const root = tree();
  try {
    mkdirSync(join(root, 'system.slice/tdockd.service/containers'), { recursive: true });
    removeOwnParent(root, 'system.slice/tdockd.service/containers', new Set());
    assert.ok(!existsSync(join(root, 'system.slice/tdockd.service/containers')));
    assert.ok(existsSync(join(root, 'system.slice/tdockd.service')), 'the service group is systemd\'s');
    mkdirSync(join(root, 'a/b'), { recursive: true });
    removeOwnParent(root, 'a/b', new Set([join(root, 'a'), join(root, 'a/b')]));
    assert.ok(!existsSync(join(root, 'a')));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
