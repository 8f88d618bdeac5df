import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import {
  parseIp, formatIp, parseCidr, formatCidr, gateway, broadcast, hostRange, lowestFree, macFor, contains, Leases,
} from '../../daemon/network/ipam.ts';
import { openDb } from '../../daemon/store/db.ts';
import { ContainerRepository } from '../../daemon/containers/repository.ts';
import { EngineError } from '../../daemon/errors.ts';
import type { ContainerSpec } from '../../daemon/containers/spec.ts';

test('IPv4 parse/format round trip; bad input is undefined', () => {
  assert.equal(parseIp('10.89.0.1'), 0x0a590001);
  assert.equal(parseIp('255.255.255.255'), 0xffffffff);
  assert.equal(formatIp(0xffffffff), '255.255.255.255');
  assert.equal(formatIp(parseIp('192.168.1.20')!), '192.168.1.20');
  for (const bad of ['10.89.0', '256.1.1.1', '1.2.3.4.5', 'a.b.c.d', '01.2.3.4', '']) assert.equal(parseIp(bad), undefined, bad);
});

test('CIDR: network, gateway, broadcast; host bits cleared', () => {
  const c = parseCidr('10.89.0.0/16');
  assert.equal(formatCidr(c), '10.89.0.0/16');
  assert.equal(formatIp(gateway(c)), '10.89.0.1');
  assert.equal(formatIp(broadcast(c)), '10.89.255.255');
  assert.equal(formatCidr(parseCidr('10.89.7.9/16')), '10.89.0.0/16');
  assert.equal(formatIp(broadcast(parseCidr('192.168.5.0/24'))), '192.168.5.255');
  assert.ok(contains(c, parseIp('10.89.200.3')!));
  assert.ok(!contains(c, parseIp('10.90.0.1')!));
  const top = parseCidr('255.255.255.0/24');
  assert.equal(formatIp(broadcast(top)), '255.255.255.255');
});

test('CIDR: invalid or too small subnets are INVALID_ARGUMENT', () => {
  for (const bad of ['10.89.0.0', '10.89.0.0/31', '10.89.0.0/32', '10.89.0.0/0', '10.89.0/16', 'x/8', '10.89.0.0/33']) {
    assert.throws(() => parseCidr(bad), (e: unknown) => e instanceof EngineError && e.code === 'INVALID_ARGUMENT', bad);
  }
});

test('the host range excludes network, gateway and broadcast', () => {
  const c = parseCidr('10.150.3.0/29');
  const r = hostRange(c);
  assert.deepEqual([formatIp(r.first), formatIp(r.last)], ['10.150.3.2', '10.150.3.6']);
  const r30 = hostRange(parseCidr('10.150.3.4/30'));
  assert.deepEqual([formatIp(r30.first), formatIp(r30.last)], ['10.150.3.6', '10.150.3.6']);
});

test('lowest free address; a /29 is exhausted after 5', () => {
  const c = parseCidr('10.150.3.0/29');
  const used = new Set<number>();
  const got: string[] = [];
  for (let i = 0; i < 5; i++) {
    const ip = lowestFree(c, used)!;
    used.add(ip);
    got.push(formatIp(ip));
  }
  assert.deepEqual(got, ['10.150.3.2', '10.150.3.3', '10.150.3.4', '10.150.3.5', '10.150.3.6']);
  assert.equal(lowestFree(c, used), undefined);
  used.delete(parseIp('10.150.3.4')!);
  assert.equal(formatIp(lowestFree(c, used)!), '10.150.3.4');
});

test('MAC derived from the address like Docker (02:42 + octets)', () => {
  assert.equal(macFor(parseIp('10.89.0.2')!), '02:42:0a:59:00:02');
  assert.equal(macFor(parseIp('172.17.255.254')!), '02:42:ac:11:ff:fe');
});

test('leases in SQLite: no reuse while leased, idempotent per container, clear exhaustion error', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tdk-ipam-'));
  try {
    const db = openDb(join(dir, 'db'));
    const repo = new ContainerRepository(db);
    const spec = { network: 'bridge', ports: [] } as unknown as ContainerSpec;
    const ids = Array.from({ length: 6 }, (_, i) => String(i).repeat(64));
    ids.forEach((id, i) => repo.insert({ id, name: `n${i}`, imageId: 'x', imageRef: 'x', spec, created: 0 }));
    const l = new Leases(db, 'tdk0', parseCidr('10.150.3.0/29'));
    const got = ids.slice(0, 5).map((id) => formatIp(l.allocate(id)));
    assert.deepEqual(got, ['10.150.3.2', '10.150.3.3', '10.150.3.4', '10.150.3.5', '10.150.3.6']);
    assert.equal(formatIp(l.allocate(ids[1]!)), '10.150.3.3');
    assert.throws(() => l.allocate(ids[5]!), (e: unknown) => {
      assert.ok(e instanceof EngineError);
      assert.equal(e.code, 'RESOURCE_EXHAUSTED');
      assert.equal(e.message, 'no free IP address in 10.150.3.0/29 (network tdk0): remove a container or use a larger --subnet');
      return true;
    });
    l.release(ids[2]!);
    assert.equal(formatIp(l.allocate(ids[5]!)), '10.150.3.4');
    // a removed container takes its lease along (ON DELETE CASCADE)
    repo.remove(ids[0]!);
    assert.equal(l.get(ids[0]!), undefined);
    assert.equal(l.all().length, 4);
    db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
