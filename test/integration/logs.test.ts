// Logs end to end (issue 8, item 5): rotation by the monitor (--log-opt max-size/max-file
// and tdockd's defaults), `logs` across the rotated files, `logs -f` that never drops a
// slow reader, --tail/--since/--until, and inspect's LogConfig.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { suiteDaemon, TestDaemon } from '../helpers/daemon.ts';
import { parseTimeFlag } from '../../cli/parse/time.ts';
import { rfc3339Nano } from '../../cli/render/format.ts';

const seq = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `${from + i}\n`).join('');

function logFiles(d: TestDaemon, id: string): { name: string; size: number }[] {
  const dir = join(d.root, 'containers', id);
  return readdirSync(dir)
    .filter((f) => /^container\.log(\.\d+)?$/.test(f))
    .sort()
    .map((name) => ({ name, size: statSync(join(dir, name)).size }));
}

/** A --since/--until value halfway between two `logs -t` stamps. */
function between(a: string, b: string): string {
  const ns = (s: string) => {
    const [sec, frac] = parseTimeFlag(s, '--since', 0n).split('.');
    return BigInt(sec!) * 1_000_000_000n + BigInt(frac!);
  };
  const mid = (ns(a) + ns(b)) / 2n;
  return `${mid / 1_000_000_000n}.${(mid % 1_000_000_000n).toString().padStart(9, '0')}`;
}

describe('logs: rotation, follow, tail, since/until', () => {
  const d = suiteDaemon();

  test('rotation keeps at most max-file files; logs shows the last lines with none missing at the boundaries', async () => {
    const id = (await d.ok(['run', '-d', '--log-opt', 'max-size=10k', '--log-opt', 'max-file=3', 'busybox', 'seq', '1', '30000'])).trim();
    assert.equal((await d.ok(['wait', id])).trim(), '0');
    const files = logFiles(d, id);
    assert.deepEqual(files.map((f) => f.name), ['container.log', 'container.log.1', 'container.log.2']);
    for (const f of files) assert.ok(f.size <= 10_000, `${f.name} is ${f.size} bytes`);
    const full = seq(1, 30000);
    const out = (await d.cli(['logs', id])).stdout;
    // Three files of at most 10 kB, less each record's header (more records when the
    // container's writes arrive in smaller pieces): well over half of it is output.
    assert.ok(out.length > 15_000, `logs shows ${out.length} bytes`);
    // Exactly the end of the output: nothing lost or repeated where the files meet.
    assert.equal(out, full.slice(full.length - out.length));
    // --tail crosses from the current file into the rotated ones.
    assert.equal((await d.ok(['logs', '--tail', '2500', id])), seq(27501, 30000));
    await d.ok(['rm', id]);
  });

  test('logs -f of a fast writer, read by a deliberately slow reader, gets every line and is not cut off', async () => {
    const n = 5_000_000; // 39 MB, far more than any buffer between the file and the reader
    const id = (await d.ok(['run', '-d', '--log-opt', 'max-size=1m', '--log-opt', 'max-file=100', 'busybox', 'seq', '1', String(n)])).trim();
    // The reader stops for 3 s while the container writes; then reads at its own pace.
    const r = await d.cli(['logs', '-f', id], { pause: { at: 100, ms: 3000 }, timeout: 180_000 });
    assert.equal(r.stderr, '');
    assert.equal(r.code, 0);
    assert.equal(r.stdout.length, seq(1, n).length);
    assert.ok(r.stdout === seq(1, n), 'every line, in order');
    assert.ok(logFiles(d, id).length > 30, 'the follower crossed many rotations');
    await d.ok(['rm', id]);
  });

  test('--tail, --since and --until (timestamps, durations), with -t', async () => {
    const id = (await d.ok(['run', '-d', 'busybox', 'sh', '-c', 'echo a; sleep 0.3; echo b >&2; sleep 0.3; echo c'])).trim();
    await d.ok(['wait', id]);
    const stamped = await d.cli(['logs', '-t', id]);
    const [ta, tc] = stamped.stdout.trim().split('\n').map((l) => l.split(' ')[0]!);
    const tb = stamped.stderr.trim().split(' ')[0]!;
    assert.match(stamped.stdout, /^\S+Z a\n\S+Z c\n$/);
    const logs = async (...args: string[]) => {
      const r = await d.cli(['logs', ...args, id]);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout + r.stderr;
    };
    assert.equal(await logs('--tail', '1'), 'c\n');
    assert.equal(await logs('--since', between(ta!, tb)), 'c\nb\n');
    assert.equal(await logs('--until', between(tb, tc!)), 'a\nb\n');
    assert.equal(await logs('--since', between(ta!, tb), '--until', between(tb, tc!)), 'b\n');
    assert.equal(await logs('--tail', '1', '--until', between(tb, tc!)), 'b\n');
    assert.equal(await logs('--since', '1h'), 'a\nc\nb\n');
    assert.equal(await logs('--until', '1h'), '');
    const [sec, frac] = between(tb, tc!).split('.');
    assert.equal(await logs('--since', rfc3339Nano(BigInt(sec!) * 1_000_000_000n + BigInt(frac!))), 'c\n');
    const bad = await d.cli(['logs', '--since', 'yesterday', id]);
    assert.equal(bad.code, 125);
    assert.match(bad.stderr.trim(), /^[^\n]*invalid value "yesterday" for --since[^\n]*$/);
    await d.ok(['rm', id]);
  });

  test('--log-opt: a bad option is one line naming it, exit 125, nothing created', async () => {
    const before = readdirSync(join(d.root, 'containers')).length;
    const listed = await d.ok(['ps', '-aq']);
    for (const opt of ['max-size=ten', 'max-file=0', 'max-file=-2', 'compress=true', 'max-size']) {
      for (const verb of ['run', 'create']) {
        const r = await d.cli([verb, '--log-opt', opt, 'busybox', 'true']);
        assert.equal(r.code, 125, `${verb} --log-opt ${opt}: ${r.stderr}`);
        const lines = r.stderr.trim().split('\n');
        assert.equal(lines.length, 1, r.stderr);
        assert.match(lines[0]!, /--log-opt/);
        assert.ok(lines[0]!.includes(opt), lines[0]);
      }
    }
    assert.equal(readdirSync(join(d.root, 'containers')).length, before);
    assert.equal(await d.ok(['ps', '-aq']), listed);
  });

  test('inspect shows LogPath and HostConfig.LogConfig', async () => {
    const dflt = (await d.ok(['create', 'busybox', 'true'])).trim();
    const set = (await d.ok(['create', '--log-opt', 'max-size=1m', '--log-opt', 'max-file=2', 'busybox', 'true'])).trim();
    const unbounded = (await d.ok(['create', '--log-opt', 'max-size=-1', 'busybox', 'true'])).trim();
    const a = await d.inspect(dflt);
    assert.equal(a.LogPath, join(d.root, 'containers', dflt, 'container.log'));
    assert.deepEqual(a.HostConfig.LogConfig, { Type: 'local', Config: { 'max-size': '20m', 'max-file': '5' } });
    assert.deepEqual((await d.inspect(set)).HostConfig.LogConfig, { Type: 'local', Config: { 'max-size': '1m', 'max-file': '2' } });
    assert.deepEqual((await d.inspect(unbounded)).HostConfig.LogConfig, { Type: 'local', Config: { 'max-size': '-1', 'max-file': '1' } });
    await d.ok(['rm', dflt, set, unbounded]);
  });
});

class DaemonWith extends TestDaemon {
  readonly extra: string[];
  constructor(extra: string[]) {
    super();
    this.extra = extra;
  }

  override args(): string[] {
    return [...super.args(), ...this.extra];
  }
}

describe('logs: the daemon default (tdockd --log-max-size, --log-max-file)', () => {
  const d = new DaemonWith(['--log-max-size', '4k', '--log-max-file', '2']);
  before(async () => {
    await d.start();
  });
  after(async () => {
    await d.cleanup();
  });

  test('a container without --log-opt rotates at the daemon default', async () => {
    const id = (await d.ok(['run', '-d', 'busybox', 'seq', '1', '10000'])).trim();
    await d.ok(['wait', id]);
    assert.deepEqual(logFiles(d, id).map((f) => f.name), ['container.log', 'container.log.1']);
    assert.deepEqual((await d.inspect(id)).HostConfig.LogConfig, { Type: 'local', Config: { 'max-size': '4k', 'max-file': '2' } });
    const full = seq(1, 10000);
    const out = await d.ok(['logs', id]);
    assert.equal(out, full.slice(full.length - out.length));
    await d.ok(['rm', id]);
  });
});
