// Crash consistency (issue 9): the daemon killed at every named step of create,
// start, exit handling and rm; the next start finishes what was interrupted and
// nothing is left: rows, directories, monitors, cgroups in every hierarchy, veths,
// nft elements, leases, mounts.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TestDaemon, until } from '../helpers/daemon.ts';
import { CRASH_STEPS } from '../../daemon/crash.ts';

/** Everything of the daemon's that a container could leave, network and rows included. */
function leftovers(d: TestDaemon): string[] {
  return [...d.leftovers(), ...d.networkLeftovers()];
}

describe('a daemon killed at any step: the next start finishes the job and leaves nothing', () => {
  let port = 21000 + (process.pid % 1000) * 20;

  for (const step of CRASH_STEPS) {
    test(`killed at ${step}`, async () => {
      const d = new TestDaemon();
      try {
        await crashAndRecover(d, step, ++port);
      } finally {
        await d.cleanup();
      }
    });
  }
});

async function crashAndRecover(d: TestDaemon, step: string, port: number): Promise<void> {
  await d.start({ TDOCK_CRASH_AT: step });
  const publish = ['-p', `127.0.0.1:${port}:80`];
  let r;
  if (step.startsWith('rm.')) {
    await d.ok(['run', '-d', ...publish, 'busybox', 'sleep', '1000']);
    r = await d.cli(['rm', '-f', (await d.ok(['ps', '-q'])).trim()]);
  } else {
    r = await d.cli(['run', '--rm', ...publish, 'busybox', 'true']);
  }
  assert.notEqual(r.code, 0, `the daemon was to die at ${step}, yet the command succeeded: ${r.stdout}`);
  await until('the daemon to die', () => d.proc!.exitCode !== null || d.proc!.signalCode !== null);
  assert.equal(d.proc!.signalCode, 'SIGKILL', `the daemon did not die at ${step}: ${d.log}`);

  await d.start();
  await until('the interrupted container to be gone', async () => (await d.ok(['ps', '-aq'])).trim() === '', 15000);
  await until(`nothing left after a crash at ${step}`, () => leftovers(d).length === 0, 10000).catch(() => {
    assert.deepEqual(leftovers(d), [], `left after a crash at ${step}`);
  });
  // The daemon works, and the port is free again.
  assert.equal(await d.ok(['run', '--rm', ...publish, 'busybox', 'echo', 'ok']), 'ok\n');
}

describe('one daemon per root', () => {
  test('two daemons started at once with the same root: one runs, the other refuses before touching anything', async () => {
    const d = new TestDaemon();
    const { spawn } = await import('node:child_process');
    const { mkdirSync } = await import('node:fs');
    const { TDOCKD } = await import('../helpers/daemon.ts');
    mkdirSync(d.base, { recursive: true });
    const procs = [0, 1].map(() => {
      const p = spawn(TDOCKD, d.args(), { stdio: ['ignore', 'ignore', 'pipe'] });
      let log = '';
      p.stderr!.setEncoding('utf8').on('data', (s: string) => (log += s));
      return { p, log: () => log };
    });
    try {
      await until('one daemon ready and the other gone', () => {
        const ready = procs.filter((x) => x.log().includes('ready on')).length;
        const gone = procs.filter((x) => x.p.exitCode !== null).length;
        return ready + gone === 2 && gone >= 1;
      }, 20000).catch(() => {});
      const ready = procs.filter((x) => x.log().includes('ready on'));
      const refused = procs.filter((x) => x.p.exitCode !== null && x.p.exitCode !== 0);
      assert.equal(ready.length, 1, `both or neither started: ${procs.map((x) => x.log()).join(' | ')}`);
      assert.equal(refused.length, 1);
      assert.match(refused[0]!.log(), /another tdockd( \(pid \d+\))? already uses --root /);
      assert.equal(refused[0]!.log().trim().split('\n').length, 1, 'one line');
    } finally {
      for (const x of procs) if (x.p.exitCode === null) x.p.kill('SIGTERM');
      await Promise.all(procs.map((x) => (x.p.exitCode === null ? new Promise((r) => x.p.once('exit', r)) : undefined)));
      await d.cleanup();
    }
  });
});
