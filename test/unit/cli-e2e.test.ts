// The built CLI (bin/tdock -> dist/tdock.js) as a user runs it, against the fake
// daemon in this process: argv splitting in main, exit codes, one-line errors.
// Skipped when the bundle is not built (node scripts/build.mjs).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startFakeDaemon, type FakeDaemon } from './cli-fake-daemon.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const bin = join(root, 'bin', 'tdock');
const built = existsSync(join(root, 'dist', 'tdock.js'));
let daemon: FakeDaemon;
let scratch: string;

function tdock(args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}) {
  return new Promise<{ code: number; stdout: string; stderr: string; ms: number }>((resolve) => {
    const t = Date.now();
    const child = execFile(
      bin,
      args,
      { env: { ...process.env, TDOCK_HOST: daemon.host, ...opts.env }, encoding: 'utf8', timeout: 20_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr, ms: Date.now() - t });
      },
    );
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    else child.stdin!.end();
  });
}

before(async () => {
  if (!built) return;
  daemon = await startFakeDaemon();
  scratch = mkdtempSync(join(tmpdir(), 'tdock-e2e-'));
});

after(async () => {
  if (!built) return;
  await daemon.close();
  rmSync(scratch, { recursive: true, force: true });
});

test('run: everything after IMAGE reaches the container untouched', { skip: !built && 'dist/tdock.js not built' }, async () => {
  const r = await tdock(['run', '-p', '8080:80', '--rm', 'alpine', 'echo', '-c', 'echo hi', '--help', '-d']);
  assert.deepEqual([r.code, r.stdout, r.stderr], [0, '-c echo hi --help -d\n', '']);
  const create = daemon.calls.filter((c) => c.method === 'Create').at(-1)!.request as { cmd: string[]; ports: unknown[] };
  assert.deepEqual(create.cmd, ['echo', '-c', 'echo hi', '--help', '-d']);
  assert.equal(create.ports.length, 1);
});

test('run: exit code of the container, stdin with -i', { skip: !built && 'dist/tdock.js not built' }, async () => {
  assert.equal((await tdock(['run', 'alpine', 'exit', '7'])).code, 7);
  const r = await tdock(['run', '-i', 'alpine', 'cat'], { input: 'piped\n' });
  assert.deepEqual([r.code, r.stdout], [0, 'piped\n']);
  const d = await tdock(['run', '-d', 'alpine', 'sleep']);
  assert.match(d.stdout, /^[0-9a-f]{64}\n$/);
});

test('errors: one line; 125 for usage, 1 for daemon errors', { skip: !built && 'dist/tdock.js not built' }, async () => {
  const bad = await tdock(['run', '--bogus', 'alpine']);
  assert.deepEqual([bad.code, bad.stdout, bad.stderr], [125, '', "Error: unknown flag: --bogus (see 'tdock run --help')\n"]);
  const badPs = await tdock(['ps', '--bogus']);
  assert.equal(badPs.code, 125);
  assert.equal(badPs.stderr.trimEnd().split('\n').length, 1, badPs.stderr);
  const nf = await tdock(['inspect', 'foo']);
  assert.deepEqual([nf.code, nf.stderr], [1, 'Error: No such container: foo\n']);
  const verb = await tdock(['frobnicate']);
  assert.equal(verb.code, 1);
  assert.match(verb.stderr, /'frobnicate' is not a tdock command/);
});

test('errors: a bad integer flag value names the value and the flag (restart -t, stop -t)', { skip: !built && 'dist/tdock.js not built' }, async () => {
  for (const verb of ['restart', 'stop']) {
    const r = await tdock([verb, '-t', 'x', 'foo']);
    assert.equal(r.code, 125, r.stderr);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /^Error: invalid value "x" for --time: expected an integer/, r.stderr);
    const neg = await tdock([verb, '-t', '-5', 'foo']);
    assert.equal(neg.code, 125, neg.stderr);
    assert.match(neg.stderr, /^Error: invalid value "-5" for --time: expected an integer greater than or equal to 0/, neg.stderr);
  }
});

test('daemon not running: one line, exit 1, well under a second', { skip: !built && 'dist/tdock.js not built' }, async () => {
  const host = `unix://${join(scratch, 'none.sock')}`;
  for (const args of [['ps'], ['-H', host, 'images'], ['inspect', 'x']]) {
    const r = await tdock(args, { env: { TDOCK_HOST: host } });
    assert.deepEqual([r.code, r.stdout, r.stderr], [1, '', `Cannot connect to the tdock daemon at ${host}: is tdockd running?\n`], args.join(' '));
    assert.ok(r.ms < 1000, `${args.join(' ')} took ${r.ms} ms`);
  }
});

test('global -H before the verb, --version, help', { skip: !built && 'dist/tdock.js not built' }, async () => {
  const r = await tdock(['-H', daemon.host, 'ps', '-a'], { env: { TDOCK_HOST: 'unix:///nonexistent.sock' } });
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^CONTAINER ID {3}IMAGE/);
  const v = await tdock(['--version']);
  assert.match(v.stdout, /^tdock\/\d+\.\d+\.\d+ /);
  const h = await tdock(['run', '--help']);
  assert.equal(h.code, 0);
  assert.match(h.stdout, /run \[OPTIONS\] IMAGE \[COMMAND\] \[ARG\.\.\.\]/);
  assert.match(h.stdout, /-p, --publish=PORT/);
});
