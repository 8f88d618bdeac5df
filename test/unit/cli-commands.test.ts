// The commands end to end through their run(), in this process, against a fake
// tdockd (a real grpc-js server on a unix socket in a temp dir).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import type { Config } from '@oclif/core/config';
import { loadCliConfig, runCommand, type CommandName } from './cli-in-process.ts';
import { startFakeDaemon, type FakeDaemon } from './cli-fake-daemon.ts';

let daemon: FakeDaemon;
let config: Config;
let scratch: string;


async function tdock(name: CommandName, argv: string[], opts: { stdin?: NodeJS.ReadableStream; host?: string } = {}) {
  return runCommand(config, name, argv, { host: opts.host ?? daemon.host, ...(opts.stdin ? { stdin: opts.stdin } : {}) });
}

before(async () => {
  daemon = await startFakeDaemon();
  scratch = mkdtempSync(join(tmpdir(), 'tdock-cli-test-'));
  // oclif without command discovery: the tests call the command classes directly
  config = await loadCliConfig();
});

after(async () => {
  await daemon.close();
  rmSync(scratch, { recursive: true, force: true });
});

test('run: attach -> attached -> start -> output -> exit code', async () => {
  const r = await tdock('run', ['--rm', '-e', 'A=1', '-p', '8080:80', 'alpine', 'echo', 'hello', '-n', '--help']);
  assert.equal(r.stderr, '');
  assert.equal(r.stdout, 'hello -n --help\n');
  assert.equal(r.code, 0);
  const create = daemon.calls.filter((c) => c.method === 'Create').at(-1)!.request as Record<string, unknown>;
  assert.deepEqual(create.cmd, ['echo', 'hello', '-n', '--help']);
  assert.deepEqual(create.env, ['A=1']);
  assert.equal(create.pullMissing, true);
  assert.equal(create.autoRemove, true);
  assert.deepEqual(create.ports, [{ hostIp: '', hostPort: 8080, containerPort: 80, protocol: 'tcp' }]);
  // order: Create, Attach (start message), then Start
  const seq = daemon.calls.map((c) => c.method).filter((m) => ['Create', 'Attach', 'Start'].includes(m)).slice(-3);
  assert.deepEqual(seq, ['Create', 'Attach', 'Start']);
});

test('run: the exit code is the container\'s; stderr frames go to stderr', async () => {
  assert.equal((await tdock('run', ['alpine', 'exit', '3'])).code, 3);
  const r = await tdock('run', ['alpine', 'err', 'oops']);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, 'oops\n');
  assert.equal(r.code, 0);
});

test('run: a command that cannot start prints exit.error and exits with its code', async () => {
  const r = await tdock('run', ['alpine', 'missing']);
  assert.equal(r.stderr, 'Error: exec: "missing": executable file not found in $PATH\n');
  assert.equal(r.code, 127);
});

test('run -i forwards stdin and closes it at EOF', async () => {
  const r = await tdock('run', ['-i', 'alpine', 'cat'], { stdin: Readable.from([Buffer.from('line 1\n'), Buffer.from('line 2\n')]) });
  assert.equal(r.stdout, 'line 1\nline 2\n');
  assert.equal(r.code, 0);
});

test('run without -t proxies signals to the container (Kill with the signal name)', async () => {
  const p = tdock('run', ['alpine', 'sleep']);
  // wait until the container runs, then "receive" SIGTERM
  for (let i = 0; i < 200 && ![...daemon.containers.values()].some((c) => c.cmd[0] === 'sleep' && c.state === 'running' && c.attached.length > 0); i++) {
    await new Promise((r) => setTimeout(r, 5));
  }
  process.emit('SIGTERM' as never);
  const r = await p;
  assert.equal(r.code, 128 + 15);
  const kill = daemon.calls.filter((c) => c.method === 'Kill').at(-1)!.request as { signal: string };
  assert.equal(kill.signal, 'TERM');
  assert.equal(process.listenerCount('SIGTERM'), 0, 'signal handlers are removed');
});

test('run -d prints the full id; ps/ps -a/ps -q list it', async () => {
  const r = await tdock('run', ['-d', '--name', 'bg', 'alpine', 'sleep']);
  assert.match(r.stdout, /^[0-9a-f]{64}\n$/);
  const id = r.stdout.trim();
  const ps = await tdock('ps', []);
  const lines = ps.stdout.trimEnd().split('\n');
  assert.match(lines[0]!, /^CONTAINER ID {3}IMAGE {2,}COMMAND {2,}CREATED {2,}STATUS {2,}PORTS {2,}NAMES$/);
  assert.ok(lines.some((l) => l.startsWith(id.slice(0, 12)) && l.includes('"sleep"') && l.endsWith('bg')), ps.stdout);
  const q = await tdock('ps', ['-q', '--no-trunc']);
  assert.ok(q.stdout.split('\n').includes(id));
  const all = await tdock('ps', ['-a', '-q']);
  assert.ok(all.stdout.split('\n').length > q.stdout.split('\n').length);
  // stop, wait, rm
  assert.deepEqual(await tdock('stop', ['-t', '1', 'bg']), { code: 0, stdout: 'bg\n', stderr: '' });
  assert.equal((await tdock('wait', ['bg'])).stdout, '143\n');
  assert.deepEqual(await tdock('rm', ['bg']), { code: 0, stdout: 'bg\n', stderr: '' });
});

test('create prints the id; bad flags fail with one line and 125 before any call', async () => {
  const r = await tdock('create', ['--name', 'made', 'alpine']);
  assert.match(r.stdout, /^[0-9a-f]{64}\n$/);
  const before = daemon.calls.length;
  for (const argv of [['-p', 'nope', 'alpine'], ['-m', '12q', 'alpine'], ['--bogus', 'alpine'], ['--cpus', 'x', 'alpine'], []]) {
    const bad = await tdock('run', argv);
    assert.equal(bad.code, 125, argv.join(' '));
    assert.equal(bad.stderr.split('\n').length, 2, `one line: ${bad.stderr}`);
    assert.match(bad.stderr, /^Error: /);
  }
  assert.equal(daemon.calls.length, before);
  const dup = await tdock('create', ['--name', 'made', 'alpine']);
  assert.equal(dup.code, 125);
  assert.equal(dup.stderr, 'Error: Conflict: the container name "made" is already in use\n');
});

test('run of an unknown image: daemon error, one line, exit 125', async () => {
  const r = await tdock('run', ['nosuchimage']);
  assert.deepEqual(r, { code: 125, stdout: '', stderr: 'Error: No such image: nosuchimage\n' });
});

test('NOT_FOUND is printed as one line, exit 1; other arguments still run', async () => {
  assert.deepEqual(await tdock('rm', ['foo']), { code: 1, stdout: '', stderr: 'Error: No such container: foo\n' });
  const id = (await tdock('create', ['alpine'])).stdout.trim();
  const r = await tdock('rm', ['foo', id.slice(0, 12)]);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, `${id.slice(0, 12)}\n`);
  assert.equal(r.stderr, 'Error: No such container: foo\n');
  const i = await tdock('inspect', ['foo']);
  assert.equal(i.code, 1);
  assert.equal(i.stderr, 'Error: No such container: foo\n');
});

test('daemon not running: one line, exit 1, fast', async () => {
  const missing = `unix://${join(scratch, 'none.sock')}`;
  let t = Date.now();
  assert.deepEqual(await tdock('ps', [], { host: missing }), {
    code: 1,
    stdout: '',
    stderr: `Cannot connect to the tdock daemon at ${missing}: is tdockd running?\n`,
  });
  assert.ok(Date.now() - t < 1000);
  // a socket path that exists but nobody listens on (connection refused)
  const dead = join(scratch, 'dead.sock');
  writeFileSync(dead, '');
  t = Date.now();
  const r = await tdock('images', ['-H', `unix://${dead}`]);
  assert.deepEqual(r, { code: 1, stdout: '', stderr: `Cannot connect to the tdock daemon at unix://${dead}: is tdockd running?\n` });
  assert.ok(Date.now() - t < 1000, `took ${Date.now() - t} ms`);
  // run/create too: exit 1 (not 125) whether the socket is missing or refuses
  for (const host of [missing, `unix://${dead}`]) {
    const run = await tdock('run', ['alpine', 'echo'], { host });
    assert.deepEqual(run, { code: 1, stdout: '', stderr: `Cannot connect to the tdock daemon at ${host}: is tdockd running?\n` });
  }
});

test('inspect prints a JSON array; --format picks fields', async () => {
  const id = (await tdock('create', ['--name', 'insp', '-t', 'alpine'])).stdout.trim();
  const r = await tdock('inspect', ['insp', 'alpine']);
  assert.equal(r.code, 0);
  const docs = JSON.parse(r.stdout);
  assert.equal(docs.length, 2);
  assert.equal(docs[0].Id, id);
  assert.equal(docs[0].Config.Tty, true);
  assert.deepEqual(docs[1].RepoTags, ['alpine:latest']); // falls back to images
  assert.match(r.stdout, /^\[\n {4}\{/);
  assert.equal((await tdock('inspect', ['-f', '{{.State.Status}}', 'insp'])).stdout, 'created\n');
});

test('exec: splits at the container; exit code and output', async () => {
  await tdock('run', ['-d', '--name', 'ex', 'alpine', 'sleep']);
  const r = await tdock('exec', ['-e', 'X=1', '-w', '/tmp', 'ex', 'ls', '-l', '--help']);
  assert.deepEqual(r, { code: 0, stdout: 'ls -l --help\n', stderr: '' });
  const spec = daemon.calls.filter((c) => c.method === 'Exec').at(-1)!.request as { exec: { cmd: string[]; env: string[]; workdir: string } };
  assert.deepEqual(spec.exec.cmd, ['ls', '-l', '--help']);
  assert.deepEqual(spec.exec.env, ['X=1']);
  assert.equal(spec.exec.workdir, '/tmp');
  assert.equal((await tdock('exec', ['ex', 'false'])).code, 1);
  assert.equal((await tdock('exec', ['-d', 'ex', 'sleep'])).code, 0);
  assert.equal((await tdock('exec', ['ex'])).code, 125);
  const nf = await tdock('exec', ['nope', 'ls']);
  assert.deepEqual(nf, { code: 1, stdout: '', stderr: 'Error: No such container: nope\n' });
  await tdock('kill', ['-s', 'KILL', 'ex']);
});

test('logs, top, port, start -a, attach', async () => {
  const id = (await tdock('create', ['-p', '127.0.0.1:8081:80', '--name', 'lg', 'alpine', 'echo', 'logged'])).stdout.trim();
  const s = await tdock('start', ['-a', 'lg']);
  assert.deepEqual(s, { code: 0, stdout: 'logged\n', stderr: '' });
  assert.equal((await tdock('logs', ['lg'])).stdout, 'logged\n');
  assert.equal((await tdock('logs', ['--tail', '0', id])).stdout, '');
  assert.equal((await tdock('logs', ['--tail', 'x', id])).code, 125);
  assert.equal((await tdock('port', ['lg'])).stdout, '80/tcp -> 127.0.0.1:8081\n');
  assert.equal((await tdock('port', ['lg', '80'])).stdout, '127.0.0.1:8081\n');
  const top = await tdock('top', ['lg']);
  assert.match(top.stdout, /^PID {17}USER {16}CMD\n4242 {16}root {16}sleep 1000\n$/);
  await tdock('run', ['-d', '--name', 'att', 'alpine', 'sleep']);
  const a = tdock('attach', ['att']);
  await new Promise((r) => setTimeout(r, 100));
  await tdock('kill', ['att']);
  assert.equal((await a).code, 137);
});

test('images, rmi, image inspect, pull, import', async () => {
  const im = await tdock('images', []);
  assert.equal(im.stdout, 'REPOSITORY   TAG       IMAGE ID       CREATED       SIZE\nalpine       latest    abababababab   2 hours ago   4.26MB\n');
  assert.equal((await tdock('images', ['-q'])).stdout, 'abababababab\n');
  assert.equal((await tdock('image:inspect', ['alpine'])).code, 0);
  assert.deepEqual(await tdock('rmi', ['nope']), { code: 1, stdout: '', stderr: 'Error: No such image: nope\n' });
  assert.equal((await tdock('rmi', ['alpine'])).stdout, `Untagged: alpine:latest\nDeleted: sha256:${'ab'.repeat(32)}\n`);
  const pull = await tdock('pull', ['busybox:1.36']);
  assert.equal(pull.stdout, `layer1: Pull complete\nDownloaded busybox:1.36\nImage: sha256:${'cd'.repeat(32)}\nbusybox:1.36\n`);
  assert.equal((await tdock('pull', ['-q', 'busybox'])).stdout, 'busybox\n');
  assert.equal((await tdock('pull', ['nosuch'])).stderr, 'Error: manifest for nosuch not found\n');
  // import a 600 KiB file: 256 KiB chunks
  const file = join(scratch, 'rootfs.tar');
  writeFileSync(file, Buffer.alloc(600 * 1024, 7));
  const r = await tdock('import', [file, 'mine:1', '--sha256', 'A'.repeat(64)]);
  assert.deepEqual(r, { code: 0, stdout: `sha256:${'ef'.repeat(32)}\n`, stderr: '' });
  const rec = daemon.imported.at(-1)!;
  assert.deepEqual(rec.start, { name: 'mine:1', url: '', sha256: 'a'.repeat(64), changes: [], message: '' });
  assert.equal(rec.bytes, 600 * 1024);
  assert.equal(rec.maxChunk, 256 * 1024);
  // URL: only start.url, no data
  await tdock('import', ['https://example.org/rootfs.tar.gz', 'fromurl']);
  assert.deepEqual(daemon.imported.at(-1)!.start, { name: 'fromurl', url: 'https://example.org/rootfs.tar.gz', sha256: '', changes: [], message: '' });
  assert.equal(daemon.imported.at(-1)!.bytes, 0);
  // stdin
  const stdin = new PassThrough();
  stdin.end(Buffer.from('tarball bytes'));
  await tdock('import', ['-', 'fromstdin'], { stdin });
  assert.equal(daemon.imported.at(-1)!.bytes, 13);
  assert.equal((await tdock('import', [join(scratch, 'nope.tar'), 'x'])).stderr, `Error: open ${join(scratch, 'nope.tar')}: no such file or directory\n`);
  assert.equal((await tdock('import', [file, 'x', '--sha256', 'xyz'])).code, 125);
});

test('version and info', async () => {
  const v = await tdock('version', []);
  assert.match(v.stdout, /^Client:\n Version: +0\.1\.0\n/);
  assert.match(v.stdout, /Server:\n Engine:\n {2}Version: +0\.1\.0-fake\n/);
  const down = await tdock('version', [], { host: `unix://${join(scratch, 'none.sock')}` });
  assert.equal(down.code, 1);
  assert.match(down.stdout, /^Client:/);
  assert.match(down.stderr, /^Cannot connect to the tdock daemon/);
  const i = await tdock('info', []);
  assert.match(i.stdout, /^Client:\n Version: +0\.1\.0\n Context: +default\n Debug Mode: false\n\nServer:\n Containers: \d+\n/);
  assert.match(i.stdout, /\n Images: 1\n Server Version: 0\.1\.0-fake\n Storage Driver: overlay2\n/);
  assert.equal((await tdock('info', ['--format', '{{.Driver}} {{json .ClientInfo.Context}}'])).stdout, 'overlay2 "default"\n');
});
