// The daemon's log reader (chunked, tail from the end across rotated files, since/until,
// follow across rotations) and the option parsing of --log-opt, tdockd's log defaults,
// and logs --since/--until. No root, no container: files written as the monitor does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { LogStream, LOG_CHUNK, type LogQuery } from '../../daemon/runtime/logstream.ts';
import { parseRecords, type LogRecord } from '../../daemon/runtime/logfile.ts';
import { parseLogOpts, LogOptError, DEFAULT_LOG_CONFIG, logConfigView } from '../../proto/log-opt.ts';
import { parseDaemonArgs } from '../../daemon/options.ts';
import { buildCreateRequest } from '../../cli/create-flags.ts';
import { UsageError } from '../../cli/errors.ts';
import { parseTimeFlag } from '../../cli/parse/time.ts';
import { logsHandler, unixTimeNs } from '../../daemon/api/logs.ts';
import type { Engine } from '../../daemon/containers/engine.ts';
import type { OutputFrame } from '../../proto/api.ts';
import { logRecord, appendRecords, rotate, lineRecords } from '../helpers/logfile.ts';

function tmp(): { dir: string; path: string; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'tdock-logs-'));
  return { dir, path: join(dir, 'container.log'), done: () => rmSync(dir, { recursive: true, force: true }) };
}

async function drain(s: LogStream, each?: (batch: LogRecord[]) => void): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  for (let b = await s.next(); b; b = await s.next()) {
    each?.(b);
    out.push(...b);
  }
  await s.close();
  return out;
}

const text = (rs: LogRecord[]) => Buffer.concat(rs.map((r) => r.data)).toString();
const lines = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `line ${from + i}\n`).join('');
const all: LogQuery = { tail: -1 };

test('log records: the trailer is read and skipped, records without one (older monitors) too', () => {
  const buf = Buffer.concat([logRecord(1, 'new', 5n), logRecord(2, 'old', 6n, true), logRecord(1, 'x', 7n)]);
  const { records, consumed } = parseRecords(buf);
  assert.deepEqual(records.map((r) => [r.stream, r.data.toString(), r.timeNs]), [[1, 'new', 5n], [2, 'old', 6n], [1, 'x', 7n]]);
  assert.equal(consumed, buf.length);
  // An incomplete record (its trailer missing) waits for the rest.
  assert.equal(parseRecords(buf.subarray(0, buf.length - 1)).consumed, buf.length - 21);
});

test('a large log is streamed in chunks: the reader never holds more than its buffer', async () => {
  const t = tmp();
  try {
    // 6 MB in records of 1000 bytes, plus one record larger than the chunk.
    appendRecords(t.path, lineRecords(0, 500_000, 1000, 1n));
    appendRecords(t.path, [logRecord(2, Buffer.alloc(100_000, 0x61), 9n)]);
    const chunk = 64 << 10;
    const s = await LogStream.open(t.path, all, { chunkSize: chunk });
    let batches = 0;
    const got = await drain(s, (b) => {
      batches++;
      assert.ok(b.reduce((n, r) => n + r.data.length, 0) <= 100_000);
    });
    assert.equal(text(got.slice(0, -1)), lines(0, 500_000));
    assert.equal(got.at(-1)!.data.length, 100_000);
    assert.equal(got.at(-1)!.stream, 2);
    assert.ok(batches > 6_000_000 / chunk, `${batches} batches`);
    // The bound: one chunk, or one record when a record is larger than a chunk.
    assert.ok(s.maxBuffer <= 100_000 + 20, `the reader held ${s.maxBuffer} bytes at once`);
  } finally {
    t.done();
  }
});

test('the Logs call reads the next chunk only once the client has taken the last (all but 256 KiB)', async () => {
  const t = tmp();
  try {
    appendRecords(t.path, Array.from({ length: 600 }, (_, i) => logRecord(1, Buffer.alloc(32 << 10, 97 + (i % 26)), BigInt(i))));
    const total = 600 * (32 << 10);
    const stream = await LogStream.open(t.path, all);
    const engine = { logs: async () => stream } as unknown as Engine;
    // A client that takes nothing until told: the write callbacks are held.
    const held: (() => void)[] = [];
    let written = 0;
    let taken = 0;
    let ended = false;
    const call = Object.assign(new EventEmitter(), {
      request: { id: 'c', follow: false, timestamps: false, tail: -1, since: '', until: '' },
      write: (f: OutputFrame, cb: () => void) => {
        written += f.data.length;
        held.push(() => {
          taken += f.data.length;
          cb();
        });
        return true;
      },
      end: () => (ended = true),
    });
    logsHandler(engine)(call as never);
    await sleep(200);
    assert.ok(stream.bytesRead > 0 && stream.bytesRead <= LOG_CHUNK, `read ${stream.bytesRead} bytes for a client that takes nothing`);
    const stuck = stream.bytesRead;
    await sleep(100);
    assert.equal(stream.bytesRead, stuck);
    let most = 0;
    for (let spins = 0; !ended && spins < 100_000; spins++) {
      most = Math.max(most, written - taken);
      for (const take of held.splice(0)) take();
      await new Promise((r) => setImmediate(r));
    }
    assert.ok(ended);
    assert.equal(written, total);
    assert.ok(most <= LOG_CHUNK + (256 << 10), `${most} bytes were on their way at once`);
    assert.ok(stream.maxBuffer <= LOG_CHUNK);
  } finally {
    t.done();
  }
});

test('--tail reads from the end, across rotated files, never the whole log', async () => {
  const t = tmp();
  try {
    appendRecords(t.path, lineRecords(0, 100_000, 333, 1n));
    rotate(t.path, 3);
    appendRecords(t.path, lineRecords(100_000, 200_000, 333, 2n));
    rotate(t.path, 3);
    appendRecords(t.path, lineRecords(200_000, 200_002, 5, 3n));
    const chunk = 16 << 10;
    const tail = async (n: number) => {
      const s = await LogStream.open(t.path, { tail: n }, { chunkSize: chunk });
      const out = text(await drain(s));
      return { out, read: s.bytesRead };
    };
    assert.deepEqual((await tail(2)).out, lines(200_000, 200_002));
    // Across the boundary into the rotated file, starting inside a record.
    const five = await tail(5);
    assert.equal(five.out, lines(199_997, 200_002));
    assert.ok(five.read < 3 * chunk, `tail 5 read ${five.read} bytes`);
    assert.equal((await tail(0)).out, '');
    const everything = await tail(1_000_000);
    assert.equal(everything.out, lines(0, 200_002));
    // A last line without its newline counts as a line.
    appendRecords(t.path, [logRecord(1, 'partial', 4n)]);
    assert.equal((await tail(2)).out, 'line 200001\npartial');
  } finally {
    t.done();
  }
});

test('--tail of a log written by an older monitor (no trailers) still works, from a forward index', async () => {
  const t = tmp();
  try {
    appendRecords(t.path, lineRecords(0, 50_000, 777, 1n, true));
    // A restarted container: new records after the old ones, in one file.
    appendRecords(t.path, lineRecords(50_000, 50_010, 7, 2n));
    const s = await LogStream.open(t.path, { tail: 12 }, { chunkSize: 8 << 10 });
    assert.equal(text(await drain(s)), lines(49_998, 50_010));
    assert.ok(s.maxBuffer <= 8 << 10);
  } finally {
    t.done();
  }
});

test('--since and --until select records by their time, with --tail counting inside the range', async () => {
  const t = tmp();
  try {
    appendRecords(t.path, Array.from({ length: 10 }, (_, i) => logRecord(1, `r${i}\n`, 1000n + BigInt(i))));
    rotate(t.path, 5);
    appendRecords(t.path, Array.from({ length: 10 }, (_, i) => logRecord(2, `s${i}\n`, 2000n + BigInt(i))));
    const q = async (query: LogQuery) => text(await drain(await LogStream.open(t.path, query, { chunkSize: 64 })));
    assert.equal(await q({ tail: -1, sinceNs: 1008n }), 'r8\nr9\n' + Array.from({ length: 10 }, (_, i) => `s${i}\n`).join(''));
    assert.equal(await q({ tail: -1, untilNs: 1002n }), 'r0\nr1\nr2\n');
    assert.equal(await q({ tail: -1, sinceNs: 1009n, untilNs: 2001n }), 'r9\ns0\ns1\n');
    assert.equal(await q({ tail: 2, untilNs: 2004n }), 's3\ns4\n');
    assert.equal(await q({ tail: 3, sinceNs: 2008n }), 's8\ns9\n');
    assert.equal(await q({ tail: -1, sinceNs: 3000n }), '');
  } finally {
    t.done();
  }
});

test('logs -f follows the files across rotations at its own pace, and ends after the exit', async () => {
  const t = tmp();
  try {
    let exited!: () => void;
    const ended = new Promise<void>((r) => (exited = r));
    // Nothing there yet: a created container.
    const s = await LogStream.open(t.path, all, { chunkSize: 4096, follow: { ended }, pollMs: 50 });
    const got: LogRecord[] = [];
    const read = async (upTo: string) => {
      while (!text(got).endsWith(upTo)) {
        const b = await s.next();
        assert.ok(b, `stream ended before ${JSON.stringify(upTo)}`);
        got.push(...b);
      }
    };
    writeFileSync(t.path, Buffer.concat(lineRecords(0, 10, 20, 1n)));
    await read('line 9\n');
    appendRecords(t.path, lineRecords(10, 20, 20, 2n));
    rotate(t.path, 3);
    appendRecords(t.path, lineRecords(20, 30, 20, 3n));
    await read('line 29\n');
    // Several rotations while the reader does not read: it goes on from where it was.
    appendRecords(t.path, lineRecords(30, 1000, 100, 4n));
    rotate(t.path, 3);
    appendRecords(t.path, lineRecords(1000, 2000, 100, 5n));
    rotate(t.path, 3);
    appendRecords(t.path, lineRecords(2000, 3000, 100, 6n));
    await read('line 2999\n');
    rotate(t.path, 3);
    appendRecords(t.path, lineRecords(3000, 3010, 100, 7n));
    const last = s.next();
    exited();
    got.push(...((await last) ?? []));
    got.push(...(await drain(s)));
    assert.equal(text(got), lines(0, 3010));
    assert.ok(s.maxBuffer <= 4096);
  } finally {
    t.done();
  }
});

test('max-file=1: a follower finishes the replaced file, then reads its successor', async () => {
  const t = tmp();
  try {
    let exited!: () => void;
    const ended = new Promise<void>((r) => (exited = r));
    appendRecords(t.path, lineRecords(0, 50, 10, 1n));
    const s = await LogStream.open(t.path, all, { chunkSize: 100, follow: { ended }, pollMs: 50 });
    const first = (await s.next()) ?? [];
    appendRecords(t.path, lineRecords(50, 60, 10, 2n));
    rotate(t.path, 1);
    appendRecords(t.path, lineRecords(60, 70, 10, 3n));
    exited();
    assert.equal(text([...first, ...(await drain(s))]), lines(0, 70));
  } finally {
    t.done();
  }
});

test('a follower that fell behind by more than the files kept goes on with the oldest one left', async () => {
  const t = tmp();
  try {
    let exited!: () => void;
    const ended = new Promise<void>((r) => (exited = r));
    appendRecords(t.path, lineRecords(0, 100, 10, 1n));
    const s = await LogStream.open(t.path, all, { chunkSize: 64, follow: { ended }, pollMs: 50 });
    const first = await s.next();
    assert.ok(first && first.length > 0);
    for (let k = 1; k <= 5; k++) {
      rotate(t.path, 2);
      appendRecords(t.path, lineRecords(k * 100, k * 100 + 100, 10, BigInt(k + 1)));
    }
    exited();
    const out = text([...first, ...(await drain(s))]);
    // The first file is read to its end (the reader had it open); then what is left: files 4 and 5.
    assert.ok(out.startsWith(text(first)));
    assert.ok(out.includes(lines(0, 100)));
    assert.ok(out.endsWith(lines(400, 600)), out.slice(-200));
    assert.ok(!out.includes('line 150\n'));
  } finally {
    t.done();
  }
});

test('logs -f --until ends once the time has passed, with nothing new written', async () => {
  const t = tmp();
  try {
    appendRecords(t.path, [logRecord(1, 'old\n', 1n)]);
    const never = new Promise<void>(() => {});
    const untilNs = BigInt(Date.now()) * 1_000_000n + 200_000_000n;
    const s = await LogStream.open(t.path, { tail: -1, untilNs }, { follow: { ended: never }, pollMs: 50 });
    assert.equal(text(await drain(s)), 'old\n');
  } finally {
    t.done();
  }
});

test('--log-opt: max-size (10k, 10m, 1g; 0 or -1 = unbounded) and max-file; anything else is named', () => {
  const d = DEFAULT_LOG_CONFIG;
  assert.deepEqual(parseLogOpts([], d), d);
  assert.deepEqual(parseLogOpts(['max-size=10k'], d), { maxSize: 10_000, maxFile: d.maxFile });
  assert.deepEqual(parseLogOpts(['max-size=10m', 'max-file=3'], d), { maxSize: 10_000_000, maxFile: 3 });
  assert.deepEqual(parseLogOpts(['max-size=1g'], d).maxSize, 1_000_000_000);
  assert.deepEqual(parseLogOpts(['max-size=1.5M'], d).maxSize, 1_500_000);
  assert.deepEqual(parseLogOpts(['max-size=123'], d).maxSize, 123);
  assert.deepEqual(parseLogOpts(['max-size=-1'], d), { maxSize: 0, maxFile: 1 });
  assert.deepEqual(parseLogOpts(['max-size=0'], d), { maxSize: 0, maxFile: 1 });
  for (const [opt, re] of [
    ['max-size=abc', /invalid value "max-size=abc" for --log-opt: .*10m/],
    ['max-size=', /--log-opt/],
    ['max-file=0', /invalid value "max-file=0" for --log-opt: .*max-file=N \(1 <= N <= 1000\)/],
    ['max-file=x', /max-file/],
    ['max-file=1001', /max-file/],
    ['compress=true', /unknown log option "compress"/],
    ['max-size', /expected KEY=VALUE/],
  ] as const) {
    assert.throws(() => parseLogOpts([opt], d), (e: Error) => e instanceof LogOptError && re.test(e.message) && !e.message.includes('\n'), opt);
  }
  assert.throws(() => parseLogOpts(['max-size=-1', 'max-file=3'], d), /max-file=3 needs a max-size/);
  assert.deepEqual(logConfigView({ maxSize: 20_000_000, maxFile: 5 }), { Type: 'local', Config: { 'max-size': '20m', 'max-file': '5' } });
  assert.deepEqual(logConfigView({ maxSize: 1536, maxFile: 1 }), { Type: 'local', Config: { 'max-size': '1536', 'max-file': '1' } });
  assert.deepEqual(logConfigView({ maxSize: 0, maxFile: 1 }), { Type: 'local', Config: { 'max-size': '-1', 'max-file': '1' } });
});

test('run/create --log-opt: sent as given; a bad one is a usage error before anything is sent', () => {
  assert.deepEqual(buildCreateRequest({}, 'alpine', [], {}).logOpt, []);
  assert.deepEqual(buildCreateRequest({ 'log-opt': ['max-size=1m', 'max-file=2'] }, 'alpine', [], {}).logOpt, ['max-size=1m', 'max-file=2']);
  assert.throws(() => buildCreateRequest({ 'log-opt': ['max-file=0'] }, 'alpine', [], {}), (e: Error) => e instanceof UsageError && /--log-opt/.test(e.message));
});

test('tdockd --log-max-size/--log-max-file: a bounded default, the same syntax, clear errors', () => {
  assert.deepEqual(parseDaemonArgs([], '/shim').logDefaults, DEFAULT_LOG_CONFIG);
  assert.ok(DEFAULT_LOG_CONFIG.maxSize > 0 && DEFAULT_LOG_CONFIG.maxFile > 1);
  assert.deepEqual(parseDaemonArgs(['--log-max-size', '5k', '--log-max-file', '2'], '/shim').logDefaults, { maxSize: 5000, maxFile: 2 });
  assert.deepEqual(parseDaemonArgs(['--log-max-size=-1'], '/shim').logDefaults, { maxSize: 0, maxFile: 1 });
  assert.throws(() => parseDaemonArgs(['--log-max-size', 'big'], '/shim'), /--log-max-size "big"/);
  assert.throws(() => parseDaemonArgs(['--log-max-file', '0'], '/shim'), /--log-max-file "0"/);
});

test('logs --since/--until: RFC 3339, Unix timestamps and durations, as Docker takes them', () => {
  const now = 1_700_000_000_123_456_789n;
  assert.equal(parseTimeFlag('1700000000', '--since', now), '1700000000.000000000');
  assert.equal(parseTimeFlag('1700000000.5', '--since', now), '1700000000.500000000');
  assert.equal(parseTimeFlag('2023-11-14T22:13:20Z', '--since', now), '1700000000.000000000');
  assert.equal(parseTimeFlag('2023-11-14T22:13:20.000000007Z', '--since', now), '1700000000.000000007');
  assert.equal(parseTimeFlag('2023-11-14T23:13:20+01:00', '--since', now), '1700000000.000000000');
  assert.equal(parseTimeFlag('10m', '--since', now), '1699999400.123456789');
  assert.equal(parseTimeFlag('1h30m', '--until', now), '1699994600.123456789');
  assert.equal(parseTimeFlag('1.5s', '--until', now), '1699999998.623456789');
  // Without a zone: local time, like Docker.
  const local = new Date(2023, 10, 14, 22, 13, 20).getTime() / 1000;
  assert.equal(parseTimeFlag('2023-11-14T22:13:20', '--since', now), `${local}.000000000`);
  assert.equal(parseTimeFlag('2023-11-14', '--since', now), `${new Date(2023, 10, 14).getTime() / 1000}.000000000`);
  for (const bad of ['yesterday', '10x', '2023-13-01', '', '1.2.3']) {
    assert.throws(() => parseTimeFlag(bad, '--since', now), (e: Error) => /invalid value .* for --since: expected/.test(e.message), bad);
  }
  assert.equal(unixTimeNs('1700000000.000000007', 'since'), 1_700_000_000_000_000_007n);
  assert.equal(unixTimeNs('12', 'since'), 12_000_000_000n);
  assert.equal(unixTimeNs('', 'since'), undefined);
  assert.throws(() => unixTimeNs('10m', 'until'), /until/);
});
