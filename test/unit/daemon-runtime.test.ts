import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, appendFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { FrameDecoder, encodeFrame, Frame } from '../../daemon/runtime/frames.ts';
import { LogReader, parseRecords } from '../../daemon/runtime/logfile.ts';
import { findRange, loadIdMaps } from '../../daemon/runtime/idmap.ts';
import { parseDaemonArgs, socketPathOf } from '../../daemon/options.ts';

test('frames round-trip, split across arbitrary chunk boundaries', () => {
  const bytes = Buffer.concat([encodeFrame(Frame.STDOUT, 'hello'), encodeFrame(Frame.PID, '42'), encodeFrame(Frame.EXIT, '{"exitCode":3}')]);
  for (let cut = 0; cut <= bytes.length; cut++) {
    const d = new FrameDecoder();
    const got = [...d.push(bytes.subarray(0, cut)), ...d.push(bytes.subarray(cut))];
    assert.deepEqual(got.map((f) => [f.type, f.payload.toString()]), [[1, 'hello'], [3, '42'], [4, '{"exitCode":3}']]);
  }
});

test('an absurd frame length is rejected instead of buffered forever', () => {
  const bad = Buffer.from([1, 0xff, 0xff, 0xff, 0xff]);
  assert.throws(() => new FrameDecoder().push(bad), /too large/);
});

function record(stream: number, data: string, t: bigint): Buffer {
  const h = Buffer.alloc(16);
  h.writeUInt8(stream, 0);
  h.writeUInt32LE(Buffer.byteLength(data), 4);
  h.writeBigUInt64LE(t, 8);
  return Buffer.concat([h, Buffer.from(data)]);
}

test('log records parse and a reader follows the file without duplicates', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tdock-unit-'));
  try {
    const f = join(dir, 'c.log');
    const r = new LogReader(f);
    assert.deepEqual(r.read(), []);
    writeFileSync(f, Buffer.concat([record(1, 'out', 1n), record(2, 'err', 2n)]));
    const first = r.read();
    assert.deepEqual(first.map((x) => [x.stream, x.data.toString(), x.timeNs]), [[1, 'out', 1n], [2, 'err', 2n]]);
    const half = record(1, 'later', 3n);
    appendFileSync(f, half.subarray(0, 10));
    assert.deepEqual(r.read(), []);
    appendFileSync(f, half.subarray(10));
    assert.deepEqual(r.read().map((x) => x.data.toString()), ['later']);
    assert.equal(parseRecords(Buffer.alloc(3)).consumed, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('subordinate ranges are found by name or uid and a missing one says what to do', () => {
  const text = 'alice:100000:65536\ntdock:165536:65536\n1001:300000:1000\n';
  assert.deepEqual(findRange(text, 'tdock'), { start: 165536, size: 65536 });
  assert.deepEqual(findRange(text, 'bob', 1001), { start: 300000, size: 1000 });
  assert.equal(findRange(text, 'carol'), undefined);
  const dir = mkdtempSync(join(tmpdir(), 'tdock-unit-'));
  try {
    writeFileSync(join(dir, 'subuid'), text);
    writeFileSync(join(dir, 'subgid'), text);
    assert.throws(() => loadIdMaps('carol', undefined, { uid: join(dir, 'subuid'), gid: join(dir, 'subgid') }), /npm run setup/);
    assert.equal(loadIdMaps('tdock', undefined, { uid: join(dir, 'subuid'), gid: join(dir, 'subgid') }).uid.start, 165536);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('daemon options: defaults, derived table name, and clear errors', () => {
  const o = parseDaemonArgs(['--root', '/tmp/r', '--bridge', 'tdk-t1', '--cgroup-parent', '/tdock-test/'], '/shim');
  assert.equal(o.root, '/tmp/r');
  assert.equal(o.nftTable, 'tdk_t1');
  assert.equal(o.cgroupParent, 'tdock-test');
  assert.throws(() => parseDaemonArgs(['--bridge', 'way-too-long-bridge-name'], '/shim'), /not a valid interface name/);
  assert.throws(() => parseDaemonArgs(['--subnet', '10.0.0.0'], '/shim'), /IPv4 CIDR/);
  assert.throws(() => parseDaemonArgs(['--cgroup-parent', '../x'], '/shim'), /relative cgroup path/);
  assert.throws(() => parseDaemonArgs(['--bogus'], '/shim'), /bogus/);
  // The unpacked size of one layer: 16 GiB unless told, in bytes or with a binary unit.
  assert.equal(o.maxLayerSize, 16 * 2 ** 30);
  assert.equal(parseDaemonArgs(['--max-layer-size', '512m'], '/shim').maxLayerSize, 512 * 2 ** 20);
  assert.equal(parseDaemonArgs(['--max-layer-size', '2GiB'], '/shim').maxLayerSize, 2 * 2 ** 30);
  assert.equal(parseDaemonArgs(['--max-layer-size', '1000000'], '/shim').maxLayerSize, 1e6);
  for (const bad of ['0', 'lots', '1x', '1.5.2g']) {
    assert.throws(() => parseDaemonArgs(['--max-layer-size', bad], '/shim'), /^Error: --max-layer-size ".*" is not a size like 16GiB, 512m or a number of bytes$/);
  }
  assert.throws(() => socketPathOf('tcp://1.2.3.4:5'), /unix:\/\/\/PATH/);
});

test('version reports the architecture in Docker\'s spelling', async () => {
  const { goArch } = await import('../../daemon/api/system.ts');
  assert.equal(goArch('x64'), 'amd64');
  assert.equal(goArch('arm64'), 'arm64');
  assert.equal(goArch('mips'), 'mips');
});
