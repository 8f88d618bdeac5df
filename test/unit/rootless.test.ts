// Rootless pieces that need no root: the refusals' wording, the paths a rootless daemon
// picks (also inside its launcher's namespace, where it is uid 0), the cgroup probe.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { checkIdHelpers, findProgram, subordinateRanges } from '../../daemon/rootless/preflight.ts';
import { defaultOptions } from '../../daemon/options.ts';
import { NoCgroups, undelegatedDir, userServiceCgroup } from '../../daemon/cgroups/delegation.ts';
import { RootlessPorts, type Launcher } from '../../daemon/rootless/inside.ts';
import type { NetworkHooks, NetworkedContainer } from '../../daemon/network/hooks.ts';
import type { PortSpec } from '../../lib/ports.ts';

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'tdock-rootless-'));
}

test('subordinate ranges: a missing entry and too few ids are refused with the usermod that fixes them', () => {
  const d = tmp();
  try {
    const files = { uid: join(d, 'subuid'), gid: join(d, 'subgid') };
    writeFileSync(files.uid, 'other:100000:65536\n');
    writeFileSync(files.gid, 'alice:200000:65536\n');
    assert.throws(() => subordinateRanges('alice', 1000, files),
      { message: /^rootless: no entry for user alice in .*subuid; as root: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 alice/ });
    writeFileSync(files.uid, 'alice:300000:1000\n');
    assert.throws(() => subordinateRanges('alice', 1000, files),
      { message: /^rootless: user alice has 1000 subordinate uids in .*subuid \(300000-300999\), tdock needs 65536; as root: usermod/ });
    // by uid, as /etc/subuid may name it
    writeFileSync(files.uid, '1000:300000:65536\n');
    assert.deepEqual(subordinateRanges('alice', 1000, files), { uid: { start: 300000, size: 65536 }, gid: { start: 200000, size: 65536 } });
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('newuidmap missing or without setuid, a network tool missing: one line naming the package or chmod', () => {
  const d = tmp();
  try {
    assert.throws(() => checkIdHelpers(d), { message: 'rootless: newuidmap not found in PATH; install it: apt-get install uidmap (as root)' });
    for (const t of ['newuidmap', 'newgidmap']) {
      writeFileSync(join(d, t), '#!/bin/sh\n');
      chmodSync(join(d, t), 0o755);
    }
    assert.throws(() => checkIdHelpers(d), { message: `rootless: ${d}/newuidmap is not setuid root (mode 755); as root: chmod u+s ${d}/newuidmap (or reinstall uidmap)` });
    assert.throws(() => findProgram('slirp4netns', 'slirp4netns', d), { message: /^rootless: slirp4netns not found in PATH \(the rootless network needs it\); install it: apt-get install slirp4netns/ });
    copyFileSync(join(d, 'newuidmap'), join(d, 'slirp4netns'));
    chmodSync(join(d, 'slirp4netns'), 0o755);
    assert.equal(findProgram('slirp4netns', 'slirp4netns', d), join(d, 'slirp4netns'));
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('a rootless daemon keeps its data and socket in the XDG dirs, also inside its namespace as uid 0', () => {
  const env = { HOME: '/home/alice', XDG_RUNTIME_DIR: '/run/user/1000' };
  const out = defaultOptions(env, 1000);
  assert.equal(out.rootless, true);
  assert.equal(out.root, '/home/alice/.local/share/tdock');
  assert.equal(out.execRoot, '/run/user/1000/tdock');
  assert.equal(out.host, 'unix:///run/user/1000/tdock/tdock.sock');
  assert.deepEqual(defaultOptions({ ...env, TDOCK_ROOTLESS_NS: '1' }, 0), out);
  const noRuntime = defaultOptions({ HOME: '/home/alice', XDG_DATA_HOME: '/data', TDOCK_ROOTLESS_NS: '1', TDOCK_ROOTLESS_UID: '1000' }, 0);
  assert.equal(noRuntime.execRoot, '/run/user/1000/tdock');
  assert.equal(noRuntime.root, '/data/tdock');
  assert.equal(defaultOptions({}, 0).rootless, false);
});

test('cgroups: a hierarchy whose parent the daemon cannot create in is not delegated; NoCgroups limits nothing', () => {
  const d = tmp();
  try {
    const line = (mp: string, fs: string, opts: string) => `30 25 0:26 / ${mp} rw,nosuid shared:9 - ${fs} cgroup ${opts}`;
    const writable = line(d, 'cgroup', 'rw,memory');
    assert.equal(undelegatedDir('tdock/x', writable), undefined);
    const gone = join(d, 'missing');
    assert.equal(undelegatedDir('tdock', `${writable}\n${line(gone, 'cgroup', 'rw,pids')}`), gone);
    assert.equal(undelegatedDir('tdock', ''), '/sys/fs/cgroup');
    const none = new NoCgroups(1);
    assert.deepEqual(none.create(), []);
    assert.equal(none.exists(), false);
    assert.ok(none.procs().includes(process.pid));
    assert.deepEqual(none.paths(), []);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('a user service cgroup only when the parent is a systemd of our own uid and the unit is a service', () => {
  const cg = '1:name=systemd:/user.slice/user-1000.slice/user@1000.service/app.slice/tdockd.service\n0::/user.slice/user-1000.slice/user@1000.service/app.slice/tdockd.service\n';
  const env = { INVOCATION_ID: 'x' };
  // our parent is the test runner, not a systemd
  assert.equal(userServiceCgroup(cg, env, process.ppid), undefined);
  assert.equal(userServiceCgroup(cg, env, 999999999), undefined);
});

test('a random host port (-p 80) is one free on the host, picked by the launcher, not one free in the daemon\'s namespace', async () => {
  const inner: PortSpec[][] = [];
  const fake: NetworkHooks = {
    prepare: async (c) => { inner.push(c.spec.ports); return []; },
    attach: async () => {},
    detach: async () => {},
    // a random port resolved inside the daemon's own namespace: free there, maybe not on the host
    ports: (c) => c.spec.ports.map((p) => ({ ...p, hostPort: p.hostPort || 33333 })),
    inspect: () => ({}),
  };
  const published: number[] = [];
  const launcher = {
    hello: { portStart: 1024 },
    freePort: async (proto: string, hostIp: string) => (proto === 'tcp' && hostIp === '127.0.0.1' ? 45678 : 0),
    call: async (r: { op: string; hostPort: number }) => { if (r.op === 'publish') published.push(r.hostPort); },
  } as unknown as Launcher;
  const ports = new RootlessPorts(fake, launcher);
  const c: NetworkedContainer = { id: 'c1', name: 'c1', pid: 0, spec: { network: 'bridge', hostname: 'h', dns: [], ports: [{ hostIp: '127.0.0.1', hostPort: 0, containerPort: 80, protocol: 'tcp' }] } };
  await ports.prepare(c, '/nonexistent');
  assert.equal(inner[0]![0]!.hostPort, 45678);
  assert.deepEqual(published, [45678]);
  assert.deepEqual(ports.ports(c).map((p) => `${p.hostIp}:${p.hostPort}`), ['127.0.0.1:45678']);
});
