// Network breakouts through the real CLI and daemon, tried from default containers
// (Docker's capability set, so CAP_NET_RAW): a raw frame to the host's 127.0.0.1
// (CVE-2020-8558), ARP and IPv4 spoofing of a neighbour, and the per-netns sysctls a
// non-root process needs for ping and low ports. The probe (fixtures/net-probe.c) is
// compiled at test time and imported as a tiny image next to busybox. Traffic stays on
// this test daemon's bridge, its containers and host sockets the tests open themselves.
// A test that cannot run fails: nothing here skips.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { suiteDaemon, until } from '../../helpers/daemon.ts';
import { tarArchive } from '../../../images/tar-writer.ts';
import { findBusybox } from '../../../images/busybox.ts';
import { formatIp, gateway, parseCidr } from '../../../daemon/network/ipam.ts';

const IMAGE = 'net-probe:1';
const PROBE = '/bin/net-probe';
const SOURCE = join(import.meta.dirname, '..', 'fixtures', 'net-probe.c');
const APPLETS = ['sh', 'sleep', 'cat'];
const BROADCAST = 'ff:ff:ff:ff:ff:ff';
const ZERO_MAC = '00:00:00:00:00:00';

interface Sink { port: number; got: string[]; close(): void }

/** A UDP socket on the host that records every datagram as "PAYLOAD from ADDRESS". */
function listen(address: string): Promise<Sink> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    const got: string[] = [];
    s.on('message', (m, r) => got.push(`${m.toString()} from ${r.address}`));
    s.once('error', reject);
    s.bind(0, address, () => resolve({ port: s.address().port, got, close: () => s.close() }));
  });
}

/** The host's neighbour entry (MAC) for ip on the bridge, or '' when there is none. */
function neighbour(bridge: string, ip: string): string {
  const l = JSON.parse(execFileSync('ip', ['-j', 'neigh', 'show', 'dev', bridge, 'to', ip], { encoding: 'utf8' })) as { lladdr?: string }[];
  return l[0]?.lladdr ?? '';
}

/** The bridge port that the bridge forwards frames for mac to. */
function fdbPort(bridge: string, mac: string): string {
  const l = JSON.parse(execFileSync('bridge', ['-j', 'fdb', 'show', 'br', bridge], { encoding: 'utf8' })) as { mac: string; ifname: string }[];
  return l.find((e) => e.mac === mac && e.ifname !== bridge)?.ifname ?? '';
}

async function get(url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
  return (await res.text()).trim();
}

describe('network breakouts from a default container', () => {
  const d = suiteDaemon();
  const table = () => d.bridge.replace(/[^a-zA-Z0-9_]/g, '_');
  let dir = '';
  const started: string[] = [];

  interface Box { id: string; ip: string; mac: string; veth: string; gateway: string }
  async function box(args: string[]): Promise<Box> {
    const id = (await d.ok(['run', '-d', ...args])).trim();
    started.push(id);
    const n = (await d.inspect(id)).NetworkSettings;
    return { id, ip: n.IPAddress, mac: n.MacAddress, veth: n.Networks.bridge.EndpointID, gateway: n.Gateway };
  }
  const probe = (b: Box, ...args: string[]) => d.ok(['exec', b.id, PROBE, ...args]);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tdk-netbrk-'));
    const bin = join(dir, 'net-probe');
    execFileSync('cc', ['-static', '-O2', '-Wall', '-Wextra', '-Werror', '-o', bin, SOURCE], { stdio: ['ignore', 'ignore', 'inherit'] });
    const tar = tarArchive([
      { path: 'bin/', type: 'dir', mode: 0o755 },
      { path: 'bin/busybox', data: readFileSync(findBusybox()), mode: 0o755 },
      ...APPLETS.map((a) => ({ path: `bin/${a}`, type: 'symlink' as const, linkpath: 'busybox' })),
      { path: 'bin/net-probe', data: readFileSync(bin), mode: 0o755 },
      { path: 'proc/', type: 'dir', mode: 0o755 },
      { path: 'sys/', type: 'dir', mode: 0o755 },
    ]);
    writeFileSync(join(dir, 'rootfs.tar'), tar);
    await d.ok(['import', join(dir, 'rootfs.tar'), IMAGE]);
  });
  after(async () => {
    if (started.length) await d.cli(['rm', '-f', ...started]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('a raw frame to 127.0.0.1 through the gateway does not reach the host\'s loopback (CVE-2020-8558)', async () => {
    const a = await box([IMAGE, 'sleep', '1000']);
    const lo = await listen('127.0.0.1');
    const control = await listen(a.gateway);
    try {
      // The same frame twice, to the gateway's MAC: once for 127.0.0.1, once (the
      // control, proving the probe's frames do arrive) for the gateway's own address.
      await probe(a, 'udp', `arp:${a.gateway}`, '-', '-', '127.0.0.1', String(lo.port), 'loopback');
      await probe(a, 'udp', `arp:${a.gateway}`, '-', '-', a.gateway, String(control.port), 'control');
      await until('the control datagram', () => control.got.length > 0, 5000);
      await sleep(300);
      assert.deepEqual(control.got, [`control from ${a.ip}`]);
      assert.deepEqual(lo.got, [], 'a host socket bound to 127.0.0.1 only got a datagram from a container');
    } finally {
      lo.close();
      control.close();
    }
  });

  test('ARP and IPv4 spoofing of a neighbour are dropped at the port: the host keeps reaching the victim', async () => {
    const victim = await box(['busybox', 'httpd', '-f', '-p', '80', '-h', '/etc']);
    const attacker = await box([IMAGE, 'sleep', '1000']);
    const br = d.bridge;
    const gw = victim.gateway;
    // The host learns both: the victim's MAC from an HTTP exchange, the attacker's from ARP.
    assert.equal(await until('the victim\'s page', () => get(`http://${victim.ip}/hostname`).catch(() => '')), victim.id.slice(0, 12));
    const poke = createSocket('udp4');
    poke.send('x', 9, attacker.ip, () => poke.close());
    await until('the attacker in the host\'s neighbour table', () => neighbour(br, attacker.ip) === attacker.mac);
    assert.equal(neighbour(br, victim.ip), victim.mac);
    assert.equal(fdbPort(br, victim.mac), victim.veth);

    const sink = await listen(gw);
    try {
      // ARP: the victim's address at the attacker's MAC (gratuitous; asking the host;
      // the same behind an 802.1Q priority tag, which the host's kernel strips); the
      // attacker's own address at the victim's MAC (gratuitous: the kernel takes those at
      // once, other updates only a second after the entry's last one); a plain request
      // of the attacker's sent from the victim's MAC (the bridge would learn it on the
      // attacker's port).
      await probe(attacker, 'arp', '1', BROADCAST, '-', '-', victim.ip, ZERO_MAC, victim.ip);
      await probe(attacker, 'arp', '1', BROADCAST, '-', '-', victim.ip, ZERO_MAC, gw);
      await probe(attacker, 'arp', '1', BROADCAST, '-', '-', victim.ip, ZERO_MAC, gw, '0');
      await probe(attacker, 'arp', '1', BROADCAST, '-', victim.mac, '-', ZERO_MAC, attacker.ip);
      await probe(attacker, 'arp', '1', BROADCAST, victim.mac, '-', '-', ZERO_MAC, gw);
      // IPv4 with the victim's source address; the attacker's address from the victim's
      // MAC (which would also teach the bridge the victim's MAC on the attacker's port);
      // the forged source again behind a priority tag; then the control.
      await probe(attacker, 'udp', `arp:${gw}`, '-', victim.ip, gw, String(sink.port), 'forged-ip');
      await probe(attacker, 'udp', `arp:${gw}`, victim.mac, '-', gw, String(sink.port), 'forged-mac');
      await probe(attacker, 'udp', `arp:${gw}`, '-', victim.ip, gw, String(sink.port), 'forged-ip-tagged', '0');
      await probe(attacker, 'udp', `arp:${gw}`, '-', '-', gw, String(sink.port), 'control');
      await until('the control datagram', () => sink.got.includes(`control from ${attacker.ip}`), 5000);
      await sleep(300);
      const seen = {
        datagrams: sink.got,
        victimNeighbour: neighbour(br, victim.ip),
        attackerNeighbour: neighbour(br, attacker.ip),
        victimMacPort: fdbPort(br, victim.mac),
      };
      assert.deepEqual(seen, {
        datagrams: [`control from ${attacker.ip}`],
        victimNeighbour: victim.mac,
        attackerNeighbour: attacker.mac,
        victimMacPort: victim.veth,
      });
      assert.equal(await get(`http://${victim.ip}/hostname`).catch((e) => `error: ${e}`), victim.id.slice(0, 12));
    } finally {
      sink.close();
    }
  });

  test('each container\'s port rules are in the daemon\'s bridge table while it runs, and go with it', async () => {
    const a = await box([IMAGE, 'sleep', '1000']);
    const list = () => execFileSync('nft', ['list', 'table', 'bridge', table()], { encoding: 'utf8' });
    const mine = (t: string) => t.includes(`"${a.veth}"`) && t.includes(a.ip) && t.includes(a.mac);
    assert.ok(mine(list()), list());
    await d.ok(['rm', '-f', a.id]);
    await until('the rules of the removed container to go', () => !list().includes(`"${a.veth}"`) && !list().includes(a.ip));
  });

  test('Docker\'s per-netns defaults: a non-root user may ping and bind port 80', async () => {
    const gw = formatIp(gateway(parseCidr(d.subnet)));
    assert.equal((await d.ok(['run', '--rm', '--user', '1000', IMAGE, PROBE, 'ping', gw])).trim(), `reply from ${gw}`);
    assert.equal((await d.ok(['run', '--rm', '--user', '1000', '--network', 'none', IMAGE, PROBE, 'ping', '127.0.0.1'])).trim(), 'reply from 127.0.0.1');
    const serve = 'httpd -f -p 80 -h /etc & for i in $(seq 50); do wget -q -O- http://127.0.0.1/hostname && exit 0; sleep 0.1; done; exit 1';
    assert.equal((await d.ok(['run', '--rm', '--user', '1000', '--hostname', 'low', 'busybox', 'sh', '-c', serve])).trim(), 'low');
    const values = await d.ok(['run', '--rm', 'busybox', 'cat', '/proc/sys/net/ipv4/ip_unprivileged_port_start', '/proc/sys/net/ipv4/ping_group_range']);
    assert.match(values, /^0\n0\t[1-9]\d*\n$/);
  });

  // (A guard for the fix rather than a breakout: passes before it too.)
  test('--network host: the host\'s own ping_group_range and ip_unprivileged_port_start stay as they were', async () => {
    const files = ['/proc/sys/net/ipv4/ping_group_range', '/proc/sys/net/ipv4/ip_unprivileged_port_start'];
    const host = () => files.map((f) => readFileSync(f, 'utf8')).join('');
    const before = host();
    // Inside, the host's group range reads as overflow ids (unmapped in the container); the port is a plain number.
    const inside = await d.ok(['run', '--rm', '--network', 'host', 'busybox', 'cat', files[1]!]);
    assert.equal(inside, readFileSync(files[1]!, 'utf8'));
    assert.equal(host(), before);
  });
});
