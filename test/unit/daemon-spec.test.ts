import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildSpec, homeOf, mergeEnv, resolveUser, securityOptions, withHome, type CreateInput } from '../../daemon/containers/spec.ts';
import { parseSecurityOpts } from '../../proto/security-opt.ts';
import { statusText } from '../../daemon/containers/status.ts';
import { humanDuration } from '../../lib/duration.ts';
import { parseSignal } from '../../daemon/containers/signals.ts';
import { checkName, randomName } from '../../daemon/containers/names.ts';

const base: CreateInput = {
  cmd: [], entrypoint: [], entrypointSet: false, env: [], workdir: '', user: '', hostname: '', tty: false,
  openStdin: false, autoRemove: false, network: '', ports: [], dns: [], resources: {}, securityOpt: [],
};
const ID = 'a'.repeat(64);

test('image Cmd is used when no command is given; a command replaces it', () => {
  assert.deepEqual(buildSpec(base, { Cmd: ['sh'] }, ID).args, ['sh']);
  assert.deepEqual(buildSpec({ ...base, cmd: ['ls', '-d'] }, { Cmd: ['sh'] }, ID).args, ['ls', '-d']);
});

test('entrypoint and cmd combine like Docker; --entrypoint resets the image Cmd', () => {
  const img = { Entrypoint: ['/ep'], Cmd: ['a'] };
  assert.deepEqual(buildSpec(base, img, ID).args, ['/ep', 'a']);
  assert.deepEqual(buildSpec({ ...base, cmd: ['b'] }, img, ID).args, ['/ep', 'b']);
  assert.deepEqual(buildSpec({ ...base, entrypoint: ['echo'], entrypointSet: true }, img, ID).args, ['echo']);
});

test('no command at all is a clear error', () => {
  assert.throws(() => buildSpec(base, {}, ID), /no command specified/);
});

test('env: PATH and HOSTNAME defaults, image env, then -e wins', () => {
  const s = buildSpec({ ...base, cmd: ['x'], env: ['A=2', 'PATH=/x'] }, { Env: ['A=1', 'B=1'] }, ID);
  assert.ok(s.env.includes('A=2'));
  assert.ok(s.env.includes('B=1'));
  assert.ok(s.env.includes('PATH=/x'));
  assert.ok(s.env.includes(`HOSTNAME=${ID.slice(0, 12)}`));
  // HOME is the user's, set at start (withHome)
  assert.ok(!s.env.some((e) => e.startsWith('HOME=')));
  assert.deepEqual(mergeEnv(['A=1'], ['A=2', 'B=3']), ['A=2', 'B=3']);
  assert.throws(() => mergeEnv(['=x']), /invalid environment variable/);
});

test('tty adds TERM; hostname defaults to the short id and is validated', () => {
  assert.ok(buildSpec({ ...base, cmd: ['x'], tty: true }, {}, ID).env.includes('TERM=xterm'));
  assert.equal(buildSpec({ ...base, cmd: ['x'] }, {}, ID).hostname, ID.slice(0, 12));
  assert.throws(() => buildSpec({ ...base, cmd: ['x'], hostname: 'bad_host!' }, {}, ID), /invalid hostname/);
});

test('relative workdir, unknown network, bad ports are refused', () => {
  assert.throws(() => buildSpec({ ...base, cmd: ['x'], workdir: 'tmp' }, {}, ID), /absolute path/);
  assert.throws(() => buildSpec({ ...base, cmd: ['x'], network: 'mesh' }, {}, ID), /unknown network "mesh"/);
  const p = { hostIp: '', hostPort: 8080, containerPort: 0, protocol: 'tcp' };
  assert.throws(() => buildSpec({ ...base, cmd: ['x'], network: 'bridge', ports: [p] }, {}, ID), /invalid container port/);
  assert.throws(() => buildSpec({ ...base, cmd: ['x'], network: 'bridge', ports: [{ ...p, containerPort: 80, protocol: 'sctp' }] }, {}, ID), /invalid protocol/);
});

test('--dns must be IP addresses: nothing else reaches resolv.conf', () => {
  const spec = (dns: string[]) => buildSpec({ ...base, cmd: ['x'], dns }, {}, ID);
  assert.deepEqual(spec(['1.1.1.1', '10.0.0.53', '2001:4860:4860::8888', '::1']).dns, ['1.1.1.1', '10.0.0.53', '2001:4860:4860::8888', '::1']);
  for (const bad of ['8.8.8.8\nnameserver 6.6.6.6', 'options ndots:99', 'dns.example.com', '999.1.1.1', '1.2.3', ' 1.1.1.1', '']) {
    assert.throws(() => spec([bad]), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'INVALID_ARGUMENT');
      assert.equal(e.message, `invalid --dns ${JSON.stringify(bad)}: expected an IP address`);
      assert.ok(!e.message.includes('\n'), 'one line');
      return true;
    });
  }
});

test('-p host IPs must be IPv4 dotted quads of 0-255: refused at create, not at start', () => {
  const spec = (hostIp: string) => buildSpec({ ...base, cmd: ['x'], network: 'bridge', ports: [{ hostIp, hostPort: 8080, containerPort: 80, protocol: 'tcp' }] }, {}, ID);
  assert.equal(spec('').ports[0]!.hostIp, '0.0.0.0');
  for (const ok of ['127.0.0.1', '0.0.0.0', '255.255.255.255', '10.1.2.3']) assert.equal(spec(ok).ports[0]!.hostIp, ok);
  assert.throws(() => spec('999.1.1.1'), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'INVALID_ARGUMENT');
    assert.equal(e.message, 'invalid host IP "999.1.1.1" in -p: expected an IPv4 address');
    return true;
  });
  for (const bad of ['256.0.0.1', '1.2.3', '1.2.3.4.5', '01.2.3.4', '::1', 'localhost', '1.2.3.4\n']) {
    assert.throws(() => spec(bad), /^Error: invalid host IP .* in -p: expected an IPv4 address$/);
  }
});

test('--security-opt: seccomp default/unconfined, no-new-privileges accepted; others refused', () => {
  assert.deepEqual(parseSecurityOpts([]), { seccomp: 'default' });
  assert.deepEqual(parseSecurityOpts(['seccomp=unconfined']), { seccomp: 'unconfined' });
  assert.deepEqual(parseSecurityOpts(['seccomp:unconfined', 'seccomp=default']), { seccomp: 'default' });
  assert.deepEqual(parseSecurityOpts(['no-new-privileges', 'no-new-privileges=true', 'no-new-privileges:true']), { seccomp: 'default' });
  for (const [opt, re] of [
    ['seccomp=/etc/profile.json', /custom seccomp profiles are not supported/],
    ['seccomp=', /expected seccomp=unconfined/],
    ['no-new-privileges=false', /always on/],
    ['apparmor=unconfined', /expected seccomp=unconfined, seccomp=default or no-new-privileges/],
    ['label=disable', /--security-opt/],
  ] as const) {
    assert.throws(() => parseSecurityOpts([opt]), re, opt);
    assert.throws(() => buildSpec({ ...base, cmd: ['x'], securityOpt: [opt] }, {}, ID), (e: Error & { code?: string }) =>
      e.code === 'INVALID_ARGUMENT' && !e.message.includes('\n') && e.message.includes(`"${opt}"`), opt);
  }
  const s = buildSpec({ ...base, cmd: ['x'], securityOpt: ['seccomp=unconfined'] }, {}, ID);
  assert.deepEqual(s.securityOpt, ['seccomp=unconfined']);
  assert.equal(securityOptions(s.securityOpt).seccomp, 'unconfined');
  // A container created before the option existed has none: the default profile.
  assert.equal(securityOptions(undefined).seccomp, 'default');
});

test('users resolve from numbers and from the image passwd/group', () => {
  const passwd = 'root:x:0:0:root:/root:/bin/sh\nwww:x:33:33::/var/www:/bin/false\n';
  const group = 'root:x:0:\nwww:x:33:\nextra:x:50:www\n';
  assert.deepEqual(resolveUser('', passwd, group), { uid: 0, gid: 0, additionalGids: [] });
  assert.deepEqual(resolveUser('1000', passwd, group), { uid: 1000, gid: 0, additionalGids: [] });
  assert.deepEqual(resolveUser('1000:1001', passwd, group), { uid: 1000, gid: 1001, additionalGids: [] });
  assert.deepEqual(resolveUser('www', passwd, group), { uid: 33, gid: 33, additionalGids: [50] });
  assert.deepEqual(resolveUser('www:root', passwd, group), { uid: 33, gid: 0, additionalGids: [50] });
  assert.throws(() => resolveUser('nobody', passwd, group), /unable to find user nobody/);
  assert.throws(() => resolveUser('70000', passwd, group), /outside the container's id map/);
});

test('HOME: the user\'s entry in /etc/passwd, "/" without one; -e or the image\'s Env win', () => {
  const passwd = 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\ntoor:x:0:0::/toor:/bin/sh\nempty:x:7:7:::/bin/sh\n';
  assert.equal(homeOf('', 0, passwd), '/root');
  assert.equal(homeOf('nobody', 65534, passwd), '/home');
  assert.equal(homeOf('65534:0', 65534, passwd), '/home');
  assert.equal(homeOf('toor', 0, passwd), '/toor');
  assert.equal(homeOf('empty', 7, passwd), '/');
  assert.equal(homeOf('12345', 12345, passwd), '/');
  assert.equal(homeOf('', 0, ''), '/');
  assert.deepEqual(withHome(['PATH=/bin'], '/home'), ['PATH=/bin', 'HOME=/home']);
  assert.deepEqual(withHome(['HOME=/x', 'PATH=/bin'], '/home'), ['HOME=/x', 'PATH=/bin']);
  const s = buildSpec({ ...base, cmd: ['x'] }, { Env: ['HOME=/img'] }, ID);
  assert.deepEqual(withHome(s.env, '/home').filter((e) => e.startsWith('HOME=')), ['HOME=/img']);
});

test('status strings look like Docker', () => {
  const now = 1_000_000_000;
  assert.equal(statusText({ state: 'running', exitCode: 0, started: now - 3000, finished: 0 }, now), 'Up 3 seconds');
  assert.equal(statusText({ state: 'exited', exitCode: 137, started: 0, finished: now - 120_000 }, now), 'Exited (137) 2 minutes ago');
  assert.equal(statusText({ state: 'created', exitCode: 0, started: 0, finished: 0 }, now), 'Created');
  assert.equal(humanDuration(500), 'Less than a second');
  assert.equal(humanDuration(60_000), 'About a minute');
  assert.equal(humanDuration(3 * 3600_000), '3 hours');
});

test('signals parse by name and number', () => {
  assert.equal(parseSignal('TERM'), 15);
  assert.equal(parseSignal('sigkill'), 9);
  assert.equal(parseSignal('10'), 10);
  assert.equal(parseSignal(''), 9);
  assert.throws(() => parseSignal('NOPE'), /invalid signal "NOPE"/);
  assert.throws(() => parseSignal('99'), /invalid signal/);
});

test('container names follow Docker rules; random names avoid taken ones', () => {
  assert.equal(checkName('web-1.a_b'), undefined);
  assert.match(checkName('-bad') ?? '', /Invalid container name/);
  const taken = new Set<string>();
  for (let i = 0; i < 50; i++) {
    const n = randomName((x) => taken.has(x));
    assert.ok(!taken.has(n));
    taken.add(n);
  }
});

test('image files are read without following symlinks, FIFOs or devices, and capped', async () => {
  const { readLayerFile } = await import('../../daemon/containers/image-files.ts');
  const { mkdtempSync, mkdirSync, writeFileSync, symlinkSync, rmSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const { execFileSync } = await import('node:child_process');
  const dir = mkdtempSync(join(tmpdir(), 'tdock-unit-layer-'));
  try {
    mkdirSync(join(dir, 'etc'));
    writeFileSync(join(dir, 'etc', 'passwd'), 'root:x:0:0::/root:/bin/sh\n');
    assert.equal(readLayerFile(dir, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
    assert.equal(readLayerFile(dir, 'etc/group'), undefined, 'not in this layer');
    symlinkSync('/etc/shadow', join(dir, 'etc', 'shadow-link'));
    assert.equal(readLayerFile(dir, 'etc/shadow-link'), '', 'a symlink is never followed');
    symlinkSync('/etc', join(dir, 'hostetc'));
    assert.equal(readLayerFile(dir, 'hostetc/passwd'), '', 'nor a symlinked parent');
    execFileSync('mkfifo', [join(dir, 'etc', 'fifo')]);
    assert.equal(readLayerFile(dir, 'etc/fifo'), '', 'a FIFO is not opened (it would block the daemon)');
    writeFileSync(join(dir, 'etc', 'big'), Buffer.alloc(2 << 20, 0x61));
    assert.equal(readLayerFile(dir, 'etc/big'), '', 'over 1 MiB is refused');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('resource limits are refused at create in Docker\'s words', async () => {
  const { checkResources } = await import('../../daemon/containers/spec.ts');
  const host = { cpus: 2 };
  const bad: [Record<string, number>, RegExp][] = [
    [{ memory: 1024 }, /: Minimum memory limit allowed is 6MB$/],
    [{ memory: -5 }, /invalid memory limit -5/],
    [{ memory: 1e21 }, /invalid memory limit/],
    [{ memory: 64 << 20, memorySwap: 32 << 20 }, /: Minimum memoryswap limit should be larger than memory limit/],
    [{ memorySwap: 64 << 20 }, /: You should always set the Memory limit when using Memoryswap limit/],
    [{ cpus: 100 }, /: Range of CPUs is from 0\.01 to 2\.00, as there are only 2 CPUs available$/],
    [{ cpus: Number.NaN }, /: Range of CPUs/],
    [{ cpus: -1 }, /: Range of CPUs/],
    [{ cpus: 0.001 }, /: Range of CPUs/],
    [{ pidsLimit: -5 }, /invalid pids limit -5/],
    [{ pidsLimit: 1.5 }, /invalid pids limit/],
  ];
  for (const [r, msg] of bad) assert.throws(() => checkResources(r, host), msg, JSON.stringify(r));
  assert.deepEqual(checkResources({ memory: 6 << 20, memorySwap: -1, pidsLimit: -1, cpus: 2 }, host), { memory: 6 << 20, memorySwap: -1, cpus: 2 });
  assert.deepEqual(checkResources({ memory: 0, memorySwap: 0, pidsLimit: 0, cpus: 0 }, host), {});
});

test('a NUL byte in any text field is refused at create, naming the field', () => {
  const cases: [string, CreateInput][] = [
    ['command', { ...base, cmd: ['sh\0x'] }],
    ['environment', { ...base, cmd: ['sh'], env: ['A=\0'] }],
    ['working directory', { ...base, cmd: ['sh'], workdir: '/a\0b' }],
    ['user', { ...base, cmd: ['sh'], user: 'x\0' }],
  ];
  for (const [field, req] of cases) {
    assert.throws(() => buildSpec(req, {}, ID), new RegExp(`invalid ${field}: it contains a NUL byte`));
  }
});

test('new container ids are unique in the digits host names use (veth: 10), not only in 12', async () => {
  const { newContainerId, ID_UNIQUE_PREFIX } = await import('../../daemon/containers/names.ts');
  const { vethName } = await import('../../daemon/network/links.ts');
  const existing = 'abcdef0123' + '45'.repeat(27);
  // the first candidate shares the 10 digits a veth name uses, but not 12
  const candidates = ['abcdef0123' + '99'.repeat(27), '0123456789' + 'ab'.repeat(27)];
  const id = newContainerId((p) => existing.startsWith(p), () => candidates.shift()!);
  assert.equal(id.slice(0, 10), '0123456789');
  assert.notEqual(vethName(id), vethName(existing));
  assert.ok(vethName(id).length <= 15 && vethName(id).slice(2) === id.slice(0, ID_UNIQUE_PREFIX));
});
