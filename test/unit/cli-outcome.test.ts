// cli/outcome.ts: a CLI process never ends with 0 while its command is pending.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { BROKEN_PIPE_EXIT, UNFINISHED_EXIT, UNFINISHED_LINE } from '../../cli/outcome.ts';

const outcome = fileURLToPath(new URL('../../cli/outcome.ts', import.meta.url));

function run(body: string) {
  const script = `import { exitWith } from ${JSON.stringify(outcome)};\n${body}`;
  return spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 10_000 });
}

test('a command whose promise never settles, with nothing holding the loop, exits non-zero with one line', () => {
  const r = run('exitWith(new Promise(() => {}));');
  assert.equal(r.status, UNFINISHED_EXIT);
  assert.equal(r.stderr, `${UNFINISHED_LINE}\n`);
});

test('process.exit(0) from elsewhere while the command is pending is not success', () => {
  const r = run('exitWith(new Promise(() => {})); setTimeout(() => process.exit(0), 10);');
  assert.equal(r.status, UNFINISHED_EXIT);
  assert.match(r.stderr, /before the command finished/);
});

test('a non-zero process.exit from elsewhere (a signal handler) keeps its code', () => {
  const r = run('exitWith(new Promise(() => {})); setTimeout(() => process.exit(130), 10);');
  assert.equal(r.status, 130);
  assert.equal(r.stderr, '');
});

test('the command\'s own code, also 0, once it is done; a rejection is exit 1 with its message', () => {
  assert.equal(run('exitWith(new Promise((r) => setTimeout(() => r(0), 20)));').status, 0);
  assert.equal(run('exitWith(Promise.resolve(3));').status, 3);
  const r = run('exitWith(Promise.reject(new Error("boom")));');
  assert.equal(r.status, 1);
  assert.equal(r.stderr, 'Error: boom\n');
});

test('a closed stdout (the reader went away) ends the process with 141, silently', async () => {
  const { spawn } = await import('node:child_process');
  const script = `import { exitWith } from ${JSON.stringify(outcome)};
exitWith(new Promise(() => {}));
setInterval(() => process.stdout.write('y\\n'.repeat(1000)), 1);`;
  const p = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  p.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  p.stdout.once('data', () => p.stdout.destroy());
  const code = await new Promise<number | null>((resolve) => {
    const t = setTimeout(() => {
      p.kill('SIGKILL');
      resolve(null);
    }, 10_000);
    p.once('exit', (c) => {
      clearTimeout(t);
      resolve(c);
    });
  });
  assert.equal(code, BROKEN_PIPE_EXIT);
  assert.equal(stderr, '');
});

test('everything written to stdout reaches a slow reader before the process exits', () => {
  // A shell pipeline whose reader is busy for a moment, as on a loaded machine:
  // Node's stdout to a pipe is asynchronous, and exiting must not drop what is queued.
  const size = 8 << 20;
  const script = `import { exitWith } from ${JSON.stringify(outcome)};
process.stdout.write(Buffer.alloc(${size}, 0x61));
exitWith(Promise.resolve(0));`;
  const r = spawnSync('sh', ['-c', `"$0" --input-type=module -e "$1" | (sleep 0.3; wc -c)`, process.execPath, script], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.stdout.trim(), String(size), 'every byte');
});
