// Pure parts of the CLI: argv splitting, -p, sizes, run/create request building,
// human formatting, tables, host resolution.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ArgvError, flagSpec, protectPositional, splitArgv } from '../../cli/parse/argv.ts';
import { formatPort, parsePublish, PortSpecError } from '../../cli/parse/ports.ts';
import { cpusFlag, envFlag, intFlag, memoryFlag, parseBytes, ValueError } from '../../cli/parse/bytes.ts';
import { ago, bytesSize, ellipsis, goQuote, humanSize, rfc3339Nano, shortId } from '../../cli/render/format.ts';
import { humanDuration } from '../../lib/duration.ts';
import { renderTable } from '../../cli/render/table.ts';
import { defaultHost, grpcTarget, normalizeHost, resolveHost, socketPath } from '../../cli/host.ts';
import { buildCreateRequest } from '../../cli/create-flags.ts';
import { UsageError, describeError, Code } from '../../cli/errors.ts';
import { applyFormat, containerFacts } from '../../cli/inspect-util.ts';
import Run from '../../cli/commands/run.ts';
import Exec from '../../cli/commands/exec.ts';
import { specOf } from '../../cli/split.ts';
import { prepareArgv } from '../../cli/app.ts';
import { psRows } from '../../cli/commands/ps.ts';
import { imageRows } from '../../cli/commands/images.ts';
import { portLines } from '../../cli/commands/port.ts';
import { renderServer } from '../../cli/commands/info.ts';
import { dfSummary } from '../../cli/commands/system/df.ts';
import { systemPruneWarning } from '../../cli/commands/system/prune.ts';
import { ProgressPrinter } from '../../cli/commands/pull.ts';
import { withTimestamps } from '../../cli/commands/logs.ts';

const runSpec = specOf(Run.flags);

test('argv: options stop at IMAGE; the command is untouched', () => {
  const s = splitArgv(['-p', '8080:80', 'alpine', 'sh', '-c', 'echo hi'], runSpec);
  assert.deepEqual(s.options, ['--publish=8080:80']);
  assert.equal(s.positional, 'alpine');
  assert.deepEqual(s.rest, ['sh', '-c', 'echo hi']);
  const t = splitArgv(['--rm', 'alpine', 'ls', '-d', '--help', '-it'], runSpec);
  assert.deepEqual(t.options, ['--rm']);
  assert.deepEqual(t.rest, ['ls', '-d', '--help', '-it']);
});

test('argv: bundled shorts, attached values, = forms, aliases', () => {
  assert.deepEqual(splitArgv(['-it', 'alpine'], runSpec).options, ['--interactive', '--tty']);
  assert.deepEqual(splitArgv(['-dp', '80:80', 'x'], runSpec).options, ['--detach', '--publish=80:80']);
  assert.deepEqual(splitArgv(['-p8080:80', 'x'], runSpec).options, ['--publish=8080:80']);
  assert.deepEqual(splitArgv(['-e=A=B', 'x'], runSpec).options, ['--env=A=B']);
  assert.deepEqual(splitArgv(['-eA=B', 'x'], runSpec).options, ['--env=A=B']);
  assert.deepEqual(splitArgv(['--name', 'web', '--env', 'X=1', 'x'], runSpec).options, ['--name=web', '--env=X=1']);
  assert.deepEqual(splitArgv(['--net=host', 'x'], runSpec).options, ['--network=host']);
  assert.deepEqual(splitArgv(['--memory-swap', '-1', 'x'], runSpec).options, ['--memory-swap=-1']);
  assert.deepEqual(splitArgv(['-h', 'box', 'x'], runSpec).options, ['--hostname=box']);
  // --security-opt takes a value: the image is the word after it
  const so = splitArgv(['--security-opt', 'seccomp=unconfined', 'busybox', 'true'], runSpec);
  assert.deepEqual([so.options, so.positional, so.rest], [['--security-opt=seccomp=unconfined'], 'busybox', ['true']]);
  assert.deepEqual(splitArgv(['-H', 'unix:///s', 'x'], runSpec).options, ['--host=unix:///s']);
  assert.deepEqual(splitArgv(['--rm=false', '--tty=true', 'x'], runSpec).options, ['--tty']);
  // a value that looks like a flag is still the value
  assert.deepEqual(splitArgv(['--entrypoint', '-x', 'img'], runSpec).options, ['--entrypoint=-x']);
});

test('argv: -- ends the options; help is noticed; errors name the flag', () => {
  const s = splitArgv(['-d', '--', '-weird-image', 'a'], runSpec);
  assert.equal(s.positional, '-weird-image');
  assert.deepEqual(s.rest, ['a']);
  assert.equal(splitArgv(['--help'], runSpec).help, true);
  assert.equal(splitArgv(['--rm'], runSpec).positional, undefined);
  assert.throws(() => splitArgv(['--nope', 'x'], runSpec), (e: Error) => e instanceof ArgvError && /--nope/.test(e.message));
  assert.throws(() => splitArgv(['-Z', 'x'], runSpec), /'Z'/);
  assert.throws(() => splitArgv(['-p'], runSpec), /needs an argument/);
  assert.throws(() => splitArgv(['--name'], runSpec), /needs an argument: --name/);
});

test('argv: exec splits at the container; protectPositional inserts --', () => {
  const spec = specOf(Exec.flags);
  const s = splitArgv(['-it', '-e', 'A=1', 'web', 'ls', '-l'], spec);
  assert.deepEqual(s.options, ['--interactive', '--tty', '--env=A=1']);
  assert.equal(s.positional, 'web');
  assert.deepEqual(s.rest, ['ls', '-l']);
  assert.deepEqual(protectPositional(['-p', '80', 'alpine', 'sh', '--help'], runSpec), ['--publish=80', '--', 'alpine', 'sh', '--help']);
  assert.deepEqual(protectPositional(['--bogus', 'alpine'], runSpec), ['--bogus', 'alpine']);
  const generic = flagSpec({ all: { type: 'boolean', char: 'a' } });
  assert.deepEqual(splitArgv(['-a', 'x'], generic).options, ['--all']);
});

test('prepareArgv: global -H before the verb goes to $TDOCK_HOST; run gets its --', () => {
  const env: NodeJS.ProcessEnv = {};
  assert.deepEqual(prepareArgv(['-H', 'unix:///x.sock', 'ps', '-a'], env), ['ps', '-a']);
  assert.equal(env.TDOCK_HOST, 'unix:///x.sock');
  assert.deepEqual(prepareArgv(['--host=/y.sock', 'run', '-d', 'alpine', 'ls', '-d'], env), ['run', '--detach', '--', 'alpine', 'ls', '-d']);
  assert.equal(env.TDOCK_HOST, '/y.sock');
  assert.deepEqual(prepareArgv(['image', 'inspect', 'alpine'], env), ['image', 'inspect', 'alpine']);
});

test('prepareArgv: Docker\'s --BOOL=false / --BOOL=true for every verb (commit --pause=false, attach --sig-proxy=false)', () => {
  const env: NodeJS.ProcessEnv = {};
  assert.deepEqual(prepareArgv(['commit', '--pause=false', 'c', 'img'], env), ['commit', '--no-pause', 'c', 'img']);
  assert.deepEqual(prepareArgv(['commit', '--pause=true', 'c'], env), ['commit', '--pause', 'c']);
  assert.deepEqual(prepareArgv(['attach', '--sig-proxy=false', 'c'], env), ['attach', '--no-sig-proxy', 'c']);
  // a plain boolean: false is its default
  assert.deepEqual(prepareArgv(['history', '--no-trunc=false', 'img'], env), ['history', 'img']);
  assert.deepEqual(prepareArgv(['history', '--no-trunc=true', 'img'], env), ['history', '--no-trunc', 'img']);
  // values of options and anything after -- stay as they are
  assert.deepEqual(prepareArgv(['commit', '-m=x', '--message=false', 'c'], env), ['commit', '-m=x', '--message=false', 'c']);
  assert.deepEqual(prepareArgv(['container', 'commit', '--pause=false', 'c'], env), ['container', 'commit', '--no-pause', 'c']);
});

test('ports: Docker forms', () => {
  assert.deepEqual(parsePublish('80'), [{ hostIp: '', hostPort: 0, containerPort: 80, protocol: 'tcp' }]);
  assert.deepEqual(parsePublish('8080:80'), [{ hostIp: '', hostPort: 8080, containerPort: 80, protocol: 'tcp' }]);
  assert.deepEqual(parsePublish('127.0.0.1:8080:80/udp'), [{ hostIp: '127.0.0.1', hostPort: 8080, containerPort: 80, protocol: 'udp' }]);
  assert.deepEqual(parsePublish('127.0.0.1::80'), [{ hostIp: '127.0.0.1', hostPort: 0, containerPort: 80, protocol: 'tcp' }]);
  assert.deepEqual(parsePublish('[::1]:8080:80'), [{ hostIp: '::1', hostPort: 8080, containerPort: 80, protocol: 'tcp' }]);
  assert.deepEqual(
    parsePublish('8000-8001:80-81').map((p) => [p.hostPort, p.containerPort]),
    [[8000, 80], [8001, 81]],
  );
  assert.equal(formatPort({ hostIp: '', hostPort: 8080, containerPort: 80, protocol: 'tcp' }), '0.0.0.0:8080->80/tcp');
  assert.equal(formatPort({ hostIp: '::1', hostPort: 8080, containerPort: 80, protocol: 'udp' }), '[::1]:8080->80/udp');
  assert.equal(formatPort({ hostIp: '', hostPort: 0, containerPort: 80, protocol: '' }), '80/tcp');
});

test('ports: bad specs explain themselves', () => {
  for (const [spec, re] of [
    ['', /empty/],
    ['abc', /not a port number/],
    ['70000:80', /out of range/],
    ['80/sctp', /not tcp or udp/],
    ['1.2.3:80:80', /IPv4/],
    ['8000-8002:80-81', /differ in length/],
    ['a:b:c:d', /expected/],
    ['8080:', /no container port/],
    ['0', /out of range/],
  ] as const) {
    assert.throws(() => parsePublish(spec), (e: Error) => e instanceof PortSpecError && re.test(e.message) && e.message.includes('-p/--publish'), spec);
  }
});

test('bytes and numbers', () => {
  assert.equal(parseBytes('64m'), 64 * 1024 * 1024);
  assert.equal(parseBytes('1g'), 1024 ** 3);
  assert.equal(parseBytes('1GiB'), 1024 ** 3);
  assert.equal(parseBytes('512K'), 512 * 1024);
  assert.equal(parseBytes('1.5g'), 1.5 * 1024 ** 3);
  assert.equal(parseBytes('1048576'), 1048576);
  assert.equal(parseBytes('12x'), undefined);
  assert.equal(parseBytes('-1'), undefined);
  assert.equal(memoryFlag('--memory-swap', '-1', true), -1);
  assert.throws(() => memoryFlag('-m/--memory', 'lots', false), (e: Error) => e instanceof ValueError && /-m\/--memory/.test(e.message));
  assert.equal(cpusFlag('0.5'), 0.5);
  assert.equal(cpusFlag('2'), 2);
  assert.throws(() => cpusFlag('0'), /--cpus/);
  assert.throws(() => cpusFlag('two'), /--cpus/);
  assert.equal(intFlag('--pids-limit', '100', -1), 100);
  assert.throws(() => intFlag('--pids-limit', '1.5', -1), /--pids-limit/);
  assert.deepEqual(envFlag(['A=1', 'HOME', 'UNSET_X'], { HOME: '/root' }), ['A=1', 'HOME=/root']);
  assert.throws(() => envFlag(['=x']), /-e\/--env/);
});

test('buildCreateRequest: flags -> CreateRequest', () => {
  const r = buildCreateRequest(
    { name: 'web', env: ['A=1'], publish: ['8080:80'], memory: '64m', cpus: '0.5', rm: true, tty: true, interactive: true, entrypoint: '' },
    'alpine',
    ['sh', '-c', 'echo hi'],
    {},
  );
  assert.equal(r.image, 'alpine');
  assert.deepEqual(r.cmd, ['sh', '-c', 'echo hi']);
  assert.equal(r.name, 'web');
  assert.deepEqual(r.env, ['A=1']);
  assert.deepEqual(r.ports, [{ hostIp: '', hostPort: 8080, containerPort: 80, protocol: 'tcp' }]);
  assert.deepEqual(r.resources, { memory: 64 * 1024 * 1024, memorySwap: 0, pidsLimit: 0, cpus: 0.5 });
  assert.equal(r.autoRemove, true);
  assert.equal(r.tty, true);
  assert.equal(r.openStdin, true);
  assert.equal(r.entrypointSet, true);
  assert.deepEqual(r.entrypoint, []);
  assert.equal(r.pullMissing, true);
  assert.equal(buildCreateRequest({}, 'alpine', [], {}).resources, null);
  assert.deepEqual(buildCreateRequest({}, 'alpine', [], {}).securityOpt, []);
  assert.deepEqual(buildCreateRequest({ 'security-opt': ['seccomp=unconfined', 'no-new-privileges'] }, 'alpine', [], {}).securityOpt,
    ['seccomp=unconfined', 'no-new-privileges']);
  const bad: [object, RegExp][] = [
    [{ memory: '64q' }, /-m\/--memory/],
    [{ publish: ['x'] }, /-p\/--publish/],
    [{ network: 'weird' }, /--network/],
    [{ network: 'host', publish: ['80'] }, /--network host/],
    [{ name: '-bad' }, /--name/],
    [{ dns: ['dns.example'] }, /--dns/],
    [{ workdir: 'rel' }, /absolute/],
    [{ memory: '64m', 'memory-swap': '32m' }, /--memory-swap/],
    [{ cpus: '-1' }, /--cpus/],
    [{ 'security-opt': ['seccomp=profile.json'] }, /--security-opt/],
    [{ 'security-opt': ['apparmor=unconfined'] }, /--security-opt/],
  ];
  for (const [f, re] of bad) {
    assert.throws(() => buildCreateRequest(f, 'alpine', [], {}), (e: Error) => e instanceof UsageError && e.exitCode === 125 && re.test(e.message), re.source);
  }
  assert.throws(() => buildCreateRequest({}, undefined, [], {}), /requires at least 1 argument/);
});

test('format: durations, sizes, ids, quoting', () => {
  assert.equal(humanDuration(500), 'Less than a second');
  assert.equal(humanDuration(1000), '1 second');
  assert.equal(humanDuration(3000), '3 seconds');
  assert.equal(humanDuration(60_000), 'About a minute');
  assert.equal(humanDuration(5 * 60_000), '5 minutes');
  assert.equal(humanDuration(3600_000), 'About an hour');
  assert.equal(humanDuration(5 * 3600_000), '5 hours');
  assert.equal(humanDuration(3 * 86400_000), '3 days');
  assert.equal(humanDuration(21 * 86400_000), '3 weeks');
  assert.equal(humanDuration(90 * 86400_000), '3 months');
  assert.equal(humanDuration(800 * 86400_000), '2 years');
  assert.equal(ago(1000, 1003_000), '3 seconds ago');
  assert.equal(ago(0), '');
  assert.equal(humanSize(4_264_000), '4.26MB');
  assert.equal(humanSize(999), '999B');
  assert.equal(humanSize(1000), '1kB');
  assert.equal(humanSize(123_456_789), '123MB');
  assert.equal(humanSize(999_600), '1MB');
  assert.equal(bytesSize(2_048_000), '1.953MiB');
  assert.equal(bytesSize(512), '512B');
  assert.equal(ellipsis('sh -c echo hello world', 20), 'sh -c echo hello wo…');
  assert.equal(ellipsis('short', 20), 'short');
  assert.equal(goQuote('a "b"'), '"a \\"b\\""');
  assert.equal(shortId(`sha256:${'a'.repeat(64)}`), 'aaaaaaaaaaaa');
  assert.equal(rfc3339Nano(1_700_000_000_123_456_789n), '2023-11-14T22:13:20.123456789Z');
  assert.equal(rfc3339Nano(1_700_000_000_000_000_000n), '2023-11-14T22:13:20Z');
});

test('table: Docker tabwriter layout (min width 10, padding 3)', () => {
  const t = renderTable([
    ['CONTAINER ID', 'IMAGE', 'NAMES'],
    ['abc', 'alpine:latest', 'web'],
  ]);
  assert.equal(t, 'CONTAINER ID   IMAGE           NAMES\nabc            alpine:latest   web\n');
  assert.equal(renderTable([['A', 'B']]), 'A         B\n');
  assert.equal(renderTable([]), '');
});

test('ps and images rows', () => {
  const now = 1_700_000_100_000;
  const rows = psRows(
    [{
      id: 'f'.repeat(64), name: 'web', image: 'alpine', command: 'sh -c echo hello world', created: 1_700_000_097,
      state: 'running', status: 'Up 3 seconds', ports: [{ hostIp: '', hostPort: 8080, containerPort: 80, protocol: 'tcp' }],
      pid: 1, exitCode: 0, oomKilled: false, labels: [], networks: [], mounts: [], imageId: '', createdMs: 0,
    }],
    false,
    now,
  );
  assert.deepEqual(rows[1], ['ffffffffffff', 'alpine', '"sh -c echo hello wo…"', '3 seconds ago', 'Up 3 seconds', '0.0.0.0:8080->80/tcp', 'web']);
  const img = imageRows([{ id: `sha256:${'b'.repeat(64)}`, repository: '', tag: '', created: 1_700_000_000, size: 4_264_000, digest: '', labels: [] }], false, now);
  assert.deepEqual(img[1], ['<none>', '<none>', 'bbbbbbbbbbbb', 'About a minute ago', '4.26MB']);
});

test('port lines, info rendering, pull progress', () => {
  const ports = [
    { hostIp: '', hostPort: 8080, containerPort: 80, protocol: 'tcp' },
    { hostIp: '127.0.0.1', hostPort: 5353, containerPort: 53, protocol: 'udp' },
    { hostIp: '', hostPort: 0, containerPort: 9000, protocol: 'tcp' },
  ];
  assert.deepEqual(portLines(ports), ['80/tcp -> 0.0.0.0:8080', '53/udp -> 127.0.0.1:5353']);
  assert.deepEqual(portLines(ports, '53/udp'), ['127.0.0.1:5353']);
  assert.deepEqual(portLines(ports, '53/tcp'), []);
  assert.throws(() => portLines(ports, 'x'), UsageError);
  // Not a terminal: one line per finished layer, and the image's own lines.
  const p = new ProgressPrinter(false);
  const ev = (id: string, status: string, current = 0, total = 0) => ({ id, status, current, total, imageId: '', createdMs: 0 });
  assert.equal(p.line(ev('l1', 'Pulling fs layer', 0, 10)), undefined);
  assert.equal(p.line(ev('l1', 'Downloading', 5, 10)), undefined);
  assert.equal(p.line(ev('l1', 'Pull complete')), 'l1: Pull complete\n');
  assert.equal(p.line(ev('l2', 'Already exists')), 'l2: Already exists\n');
  assert.equal(p.line(ev('', 'Done')), 'Done\n');
});

test('pull progress on a terminal: a line per layer with bytes and speed, redrawn in place', () => {
  let now = 0;
  const p = new ProgressPrinter(true, () => now);
  const ev = (id: string, status: string, current = 0, total = 0) => ({ id, status, current, total, imageId: '', createdMs: 0 });
  assert.equal(p.line(ev('aaa', 'Pulling fs layer', 0, 2_000_000)), '\x1b[2Kaaa: Pulling fs layer 0B/2MB\n');
  assert.equal(p.line(ev('bbb', 'Already exists')), '\x1b[1A\r\x1b[2Kaaa: Pulling fs layer 0B/2MB\n\x1b[2Kbbb: Already exists\n');
  now = 1000;
  const out = p.line(ev('aaa', 'Downloading', 1_000_000, 2_000_000))!;
  assert.equal(out, '\x1b[2A\r\x1b[2Kaaa: Downloading 1MB/2MB 1MB/s\n\x1b[2Kbbb: Already exists\n');
  assert.match(p.line(ev('aaa', 'Pull complete', 2_000_000, 2_000_000))!, /aaa: Pull complete\n/);
});

test('host resolution', () => {
  assert.equal(defaultHost({}, 0), 'unix:///run/tdock/tdock.sock');
  assert.equal(defaultHost({ XDG_RUNTIME_DIR: '/run/user/1000/' }, 1000), 'unix:///run/user/1000/tdock/tdock.sock');
  assert.equal(defaultHost({}, 1000), 'unix:///run/tdock/tdock.sock');
  assert.equal(resolveHost('/tmp/x.sock', {}), 'unix:///tmp/x.sock');
  assert.equal(resolveHost(undefined, { TDOCK_HOST: 'unix:/a.sock' }), 'unix:///a.sock');
  assert.equal(resolveHost(undefined, {}, 0), 'unix:///run/tdock/tdock.sock');
  assert.equal(normalizeHost('tcp://h:1'), 'tcp://h:1');
  assert.equal(grpcTarget('tcp://h:1'), 'h:1');
  assert.equal(socketPath('unix:///a/b.sock'), '/a/b.sock');
  assert.equal(socketPath('tcp://h:1'), undefined);
});

test('errors: one line, Docker exit codes', () => {
  const host = 'unix:///x.sock';
  const g = (code: number, details: string) => Object.assign(new Error(details), { code, details, metadata: {} });
  assert.deepEqual(describeError(g(Code.UNAVAILABLE, 'No connection established'), host), {
    line: 'Cannot connect to the tdock daemon at unix:///x.sock: is tdockd running?',
    code: 1,
  });
  assert.deepEqual(describeError(g(Code.UNAVAILABLE, 'No connection established. Last error: Error: connect EACCES /x.sock'), host), {
    // 125 (was 1): issue 13 makes a socket the user may not use tdock's own refusal
    line: 'permission denied while connecting to the tdock daemon at unix:///x.sock: add the user to group tdock',
    code: 125,
  });
  for (const details of ['Connection dropped', 'read ECONNRESET']) {
    assert.deepEqual(describeError(g(Code.UNAVAILABLE, details), host), {
      line: 'Error: the connection to the tdock daemon at unix:///x.sock was lost (tdockd stopped or crashed during the call)',
      code: 1,
    });
  }
  assert.deepEqual(describeError(g(Code.NOT_FOUND, 'No such container: foo'), host), { line: 'Error: No such container: foo', code: 1 });
  assert.deepEqual(describeError(g(Code.INVALID_ARGUMENT, 'Error: bad\nthing'), host), { line: 'Error: bad thing', code: 1 });
  assert.deepEqual(describeError(new UsageError('unknown flag: --x'), host), { line: 'Error: unknown flag: --x', code: 125 });
  // grpc-js's refusal of a request over the daemon's message size limit, in the CLI's words.
  assert.deepEqual(describeError(g(Code.RESOURCE_EXHAUSTED, 'Received message larger than max (62914662 vs 4194304)'), host), {
    line: 'Error: request too large for the daemon (60.0 MiB, at most 4.0 MiB): shorten the command, environment or other values',
    code: 1,
  });
  const parseErr = Object.assign(new Error('Nonexistent flag: --x\nSee more help with --help'), { oclif: { exit: 2 } });
  assert.deepEqual(describeError(parseErr, host), { line: 'Error: unknown flag: --x', code: 125 });
});

test('inspect helpers', () => {
  const f = containerFacts(JSON.stringify({ Id: 'abc', Config: { Tty: true, OpenStdin: true }, State: { Running: true } }), 'x');
  assert.deepEqual(f, { id: 'abc', tty: true, openStdin: true, running: true });
  assert.deepEqual(containerFacts('not json', 'x'), { id: 'x', tty: false, openStdin: false, running: false });
  const doc = { State: { Status: 'running', Pid: 42 }, Config: { Env: ['A=1'] } };
  assert.equal(applyFormat('{{.State.Status}} {{.State.Pid}}', doc), 'running 42');
  assert.equal(applyFormat('{{json .Config.Env}}', doc), '["A=1"]');
  assert.equal(applyFormat('{{.Nope}}', doc), '<no value>');
});

test('logs -t: a timestamp at the start of every line, across frames', () => {
  const state = new Map<string, boolean>();
  const t = 1_700_000_000_000_000_000;
  const f = (data: string, stream: 'STDOUT' | 'STDERR' = 'STDOUT') => withTimestamps({ stream, data: Buffer.from(data), timeNs: t }, state).toString();
  const ts = '2023-11-14T22:13:20Z ';
  assert.equal(f('a\nb'), `${ts}a\n${ts}b`);
  assert.equal(f('c\n'), 'c\n');
  assert.equal(f('d\n', 'STDERR'), `${ts}d\n`);
  assert.equal(f('e\n'), `${ts}e\n`);
  assert.equal(withTimestamps({ stream: 'STDOUT', data: Buffer.from('x'), timeNs: 0 }, state).toString(), 'x');
});

test('info: the Server section in docker info\'s words and order', () => {
  const out = renderServer({
    Containers: 3, ContainersRunning: 1, ContainersPaused: 0, ContainersStopped: 2, Images: 4, ServerVersion: '0.1.0',
    Driver: 'overlay2', DriverStatus: [['Backing Filesystem', 'extfs']], LoggingDriver: 'local',
    LogConfig: { Type: 'local', Config: { 'max-size': '20m', 'max-file': '5' } }, CgroupDriver: 'cgroupfs', CgroupVersion: '2',
    FirewallBackend: { Driver: 'nftables', Info: [['Table', 'ip t']] }, Network: { Bridge: 'tdock0', Subnet: '10.0.0.0/24', Gateway: '10.0.0.1' },
    SecurityOptions: ['name=seccomp,profile=default', 'name=userns'], Rootless: false,
    IDMappings: { Uid: { Start: 100000, Size: 65536 }, Gid: { Start: 100000, Size: 65536 } }, MemTotal: 8 * 2 ** 30, NCPU: 2,
    RegistryConfig: { InsecureRegistryCIDRs: ['127.0.0.0/8'], IndexConfigs: { 'r:5000': { Name: 'r:5000', Secure: false } } },
    Warnings: ['WARNING: IPv4 forwarding is disabled'],
  });
  assert.match(out, /^Server:\n Containers: 3\n  Running: 1\n  Paused: 0\n  Stopped: 2\n Images: 4\n Server Version: 0\.1\.0\n Storage Driver: overlay2\n  Backing Filesystem: extfs\n Logging Driver: local\n Log Options:\n  max-size: 20m\n  max-file: 5\n Cgroup Driver: cgroupfs\n Cgroup Version: 2\n/);
  assert.match(out, /\n Firewall Backend: nftables\n  Table: ip t\n Network:\n  Bridge: tdock0\n  Subnet: 10\.0\.0\.0\/24\n/);
  assert.match(out, /\n Security Options:\n  seccomp\n   Profile: default\n  userns\n Rootless: no\n ID Mappings:\n  Uid: 100000-165535 \(65536\)\n/);
  assert.match(out, /\n CPUs: 2\n Total Memory: 8GiB\n/);
  assert.match(out, /\n Insecure Registries:\n  r:5000\n  127\.0\.0\.0\/8\n/);
  assert.match(out, /\nWARNING: IPv4 forwarding is disabled\n$/);
});

test('system df: Docker\'s summary table; prune: Docker\'s warning', () => {
  const summary = (id: string, state: string) => ({ id, name: id, image: 'i', command: 'sh', created: 0, state, status: '', ports: [], pid: 0, exitCode: 0, oomKilled: false, labels: [], networks: [], mounts: [], imageId: '', createdMs: 0 });
  const image = (id: string, tag: string) => ({ id, repository: 'r', tag, created: 0, size: 300, digest: '', labels: [] });
  const out = dfSummary({
    images: [{ image: image('a', 'x'), sharedSize: 0, containers: 2 }, { image: image('a', 'y'), sharedSize: 0, containers: 2 }, { image: image('b', 'z'), sharedSize: 0, containers: 0 }],
    containers: [{ container: summary('c1', 'running'), size: 100 }, { container: summary('c2', 'exited'), size: 300 }],
    volumes: [], layersSize: 600, imagesReclaimable: 300, buildCacheSize: 0,
  });
  assert.equal(out, [
    'TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE',
    'Images          2         1         600B      300B (50%)',
    'Containers      2         1         400B      300B (75%)',
    'Local Volumes   0         0         0B        0B',
    'Build Cache     0         0         0B        0B',
    '',
  ].join('\n'));
  assert.equal(systemPruneWarning(false, false), 'WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n  - all dangling images\n  - unused build cache\n');
  assert.match(systemPruneWarning(true, true), /anonymous volumes.*\n  - all images without at least one container associated to them\n  - all build cache\n$/s);
});
