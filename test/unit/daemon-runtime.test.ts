import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, appendFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { FrameDecoder, encodeFrame, Frame } from '../../daemon/runtime/frames.ts';
import { parseRecords } from '../../daemon/runtime/logfile.ts';
import { LogStream } from '../../daemon/runtime/logstream.ts';
import { logRecord } from '../helpers/logfile.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { findRange, loadIdMaps } from '../../daemon/runtime/idmap.ts';
import { parseDaemonArgs, socketPathOf } from '../../daemon/options.ts';
import { blockingDir, canSearch } from '../../daemon/runtime/root-access.ts';

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

test('log records parse and a follower waits for a record written in halves, never repeating one', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tdock-unit-'));
  try {
    const f = join(dir, 'c.log');
    let exited!: () => void;
    const s = await LogStream.open(f, { tail: -1 }, { follow: { ended: new Promise<void>((r) => (exited = r)) }, pollMs: 20 });
    writeFileSync(f, Buffer.concat([logRecord(1, 'out', 1n), logRecord(2, 'err', 2n)]));
    const first = (await s.next())!;
    assert.deepEqual(first.map((x) => [x.stream, x.data.toString(), x.timeNs]), [[1, 'out', 1n], [2, 'err', 2n]]);
    const half = logRecord(1, 'later', 3n);
    appendFileSync(f, half.subarray(0, 10));
    const later = s.next();
    await sleep(60);
    appendFileSync(f, half.subarray(10));
    assert.deepEqual((await later)!.map((x) => x.data.toString()), ['later']);
    exited();
    assert.equal(await s.next(), null);
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

test('--root reachability: the mode bits the kernel would use for the containers\' root', () => {
  const ids = [100000, 100000] as const;
  assert.equal(canSearch({ mode: 0o40755, uid: 0, gid: 0 }, ...ids), true);
  assert.equal(canSearch({ mode: 0o40700, uid: 0, gid: 0 }, ...ids), false);
  assert.equal(canSearch({ mode: 0o40710, uid: 0, gid: 100000 }, ...ids), true);
  // the owner's bits only, when it is the owner (o+x does not help then)
  assert.equal(canSearch({ mode: 0o40601, uid: 100000, gid: 0 }, ...ids), false);
  assert.equal(canSearch({ mode: 0o40701, uid: 5, gid: 100000 }, ...ids), false);
  // a path that does not exist yet is checked from its first existing ancestor
  const dir = mkdtempSync(join(tmpdir(), 'tdock-unit-reach-'));
  try {
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.equal(blockingDir(join(dir, 'a', 'b'), ...ids)?.dir, dir);
    assert.equal(blockingDir('/', ...ids), undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
