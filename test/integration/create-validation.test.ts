// Bad values are refused at create (issue 9), through the CLI and the API, in one
// line, and leave nothing: no row, no directory.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { suiteDaemon } from '../helpers/daemon.ts';
import { Daemon } from '../../cli/client.ts';

describe('create refuses bad values and makes nothing', () => {
  const d = suiteDaemon();
  const nothingMade = async (what: string) => {
    assert.equal((await d.ok(['ps', '-aq'])).trim(), '', `${what}: a row was left`);
    const dir = join(d.root, 'containers');
    assert.deepEqual(existsSync(dir) ? readdirSync(dir) : [], [], `${what}: a directory was left`);
  };

  test('through the CLI: Docker\'s words, exit 125, one line', async () => {
    const cases: [string[], RegExp][] = [
      [['-m', '1k'], /Minimum memory limit allowed is 6MB/],
      [['-m', '999999999999999999999'], /invalid value "999999999999999999999" for -m\/--memory: out of range/],
      [['--cpus', '100'], /Range of CPUs is from 0\.01 to \d+\.00, as there are only \d+ CPUs available/],
      [['-m', '64m', '--memory-swap', '32m'], /--memory-swap must be at least -m\/--memory/],
    ];
    for (const [flags, msg] of cases) {
      const r = await d.cli(['run', '--rm', ...flags, 'busybox', 'true']);
      assert.equal(r.code, 125, `${flags.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, msg);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.doesNotMatch(r.stderr, /\/tmp\/|\/var\/lib|\/run\//, 'no host paths');
      await nothingMade(flags.join(' '));
    }
  });

  test('through the API: NUL bytes, negative or NaN values, swap below memory', async () => {
    const api = new Daemon(d.host);
    try {
      const base = { image: 'busybox', cmd: ['true'] };
      const res = (r: Record<string, number>) => ({ memory: 0, memorySwap: 0, pidsLimit: 0, cpus: 0, ...r });
      const cases: [Record<string, unknown>, RegExp][] = [
        [{ cmd: ['sh\0x'] }, /command: it contains a NUL byte/],
        [{ env: ['A=b\0c'] }, /environment: it contains a NUL byte/],
        [{ workdir: '/x\0' }, /working directory: it contains a NUL byte/],
        [{ resources: res({ memory: -1 }) }, /invalid memory limit -1/],
        [{ resources: res({ memory: 64 << 20, memorySwap: 1 << 20 }) }, /Minimum memoryswap limit/],
        [{ resources: res({ cpus: Number.NaN }) }, /Range of CPUs/],
        [{ resources: res({ cpus: -2 }) }, /Range of CPUs/],
        [{ resources: res({ pidsLimit: -7 }) }, /invalid pids limit -7/],
      ];
      for (const [extra, msg] of cases) {
        await assert.rejects(api.containers.create({ ...base, ...extra }), (e: Error & { code?: number; details?: string }) => {
          assert.equal(e.code, 3, `${JSON.stringify(extra)}: INVALID_ARGUMENT`);
          assert.match(e.details ?? '', msg);
          assert.doesNotMatch(e.details ?? '', /\n/);
          return true;
        });
        await nothingMade(JSON.stringify(extra));
      }
    } finally {
      api.close();
    }
  });
});
