// Trust (issue 8): a CLI run either does its job or exits non-zero with a message,
// whatever the timing. Each test here reproduced a failure first.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { suiteDaemon } from '../helpers/daemon.ts';

// Where a SIGSTOP lands in a CLI start: before node runs, while the snapshot is
// deserialized, while the command parses, while its first call connects, later.
// 1.5 s: longer than the build of the CLI's snapshot runs before it is taken (a
// process started from it "later" than that is what once lost its timers).
const PAUSES = [5, 20, 35, 60].map((at) => ({ at, ms: 1500 }));

describe('the CLI never exits 0 without doing its job', () => {
  const d = suiteDaemon();

  test('ps, stopped for a moment at any point of its start, still lists', async () => {
    const name = `trust-ps-${process.pid}`;
    await d.ok(['create', '--name', name, 'busybox', 'true']);
    try {
      for (const pause of PAUSES) {
        const r = await d.cli(['ps', '-a'], { pause });
        assert.equal(r.code, 0, `paused at ${pause.at} ms: ${r.stderr}`);
        assert.match(r.stdout, new RegExp(name), `paused at ${pause.at} ms: output ${JSON.stringify(r.stdout)}`);
      }
    } finally {
      await d.cli(['rm', '-f', name]);
    }
  });

  test('run --rm, stopped for a moment, prints its output', async () => {
    for (const pause of PAUSES) {
      const r = await d.cli(['run', '--rm', 'busybox', 'echo', `marker-${pause.at}`], { pause });
      assert.equal(r.code, 0, `paused at ${pause.at} ms: ${r.stderr}`);
      assert.equal(r.stdout, `marker-${pause.at}\n`, `paused at ${pause.at} ms`);
    }
  });

  test('exec, stopped for a moment, runs its command', async () => {
    const id = (await d.ok(['run', '-d', 'busybox', 'sleep', '1000'])).trim();
    try {
      for (const pause of PAUSES) {
        const r = await d.cli(['exec', id, 'echo', `exec-${pause.at}`], { pause });
        assert.equal(r.code, 0, `paused at ${pause.at} ms: ${r.stderr}`);
        assert.equal(r.stdout, `exec-${pause.at}\n`, `paused at ${pause.at} ms`);
      }
    } finally {
      await d.cli(['rm', '-f', id]);
    }
  });

  test('rm -f, stopped for a moment, removes the container', async () => {
    for (const pause of PAUSES) {
      const id = (await d.ok(['run', '-d', 'busybox', 'sleep', '1000'])).trim();
      const r = await d.cli(['rm', '-f', id], { pause });
      assert.equal(r.code, 0, `paused at ${pause.at} ms: ${r.stderr}`);
      const left = await d.cli(['inspect', id]);
      assert.notEqual(left.code, 0, `paused at ${pause.at} ms: rm -f said ok but ${id} is still there`);
    }
  });

  test('10 parallel run --rm, three rounds: every marker printed', async () => {
    for (let round = 0; round < 3; round++) {
      const runs = Array.from({ length: 10 }, (_, i) => d.cli(['run', '--rm', 'busybox', 'echo', `marker-${round}-${i}`]));
      const results = await Promise.all(runs);
      results.forEach((r, i) => {
        assert.equal(r.code, 0, `round ${round} run ${i}: ${r.stderr}`);
        assert.equal(r.stdout, `marker-${round}-${i}\n`, `round ${round} run ${i}`);
      });
    }
    assert.equal((await d.ok(['ps', '-aq'])).trim(), '', 'every --rm container is gone');
  });
});
