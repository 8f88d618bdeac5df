// BridgeNetwork against the real kernel: a bridge, veths, nftables, network namespaces
// made the way the shim makes them (a new user + net namespace), without the daemon.
// Traffic only on loopback, the test bridge and a namespace this test makes ("outside").
// Everything is named tdk-n<rand>/tdk_n<rand> and removed in after(), also on failure.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync, readdirSync, readlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, basename } from 'node:path';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { openDb, type Db } from '../../daemon/store/db.ts';
import { ContainerRepository, type ContainerRow } from '../../daemon/containers/repository.ts';
import type { ContainerSpec } from '../../daemon/containers/spec.ts';
import type { PortSpec } from '../../lib/ports.ts';
import { BridgeNetwork, median } from '../../daemon/network/bridge.ts';
import { EngineError } from '../../daemon/errors.ts';

const isRoot = process.getuid?.() === 0;
const have = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const skip = (!isRoot && 'needs root') || (!['ip', 'nft', 'nsenter', 'unshare'].every(have) && 'needs iproute2, nftables, util-linux') || false;

const sh = (argv: string[], input?: string) => {
  const r = spawnSync(argv[0]!, argv.slice(1), { input, encoding: 'utf8' });
  return { code: r.status ?? 1, out: r.stdout ?? '', err: r.stderr ?? '' };
};
const ok = (argv: string[], input?: string) => {
  const r = sh(argv, input);
  assert.equal(r.code, 0, `${argv.join(' ')}: ${r.err}`);
  return r.out;
};

/** A subnet 10.a.b.0/24 (a in 150-199) no route on this machine covers. */
function freeNet(exclude: string[] = []): [number, number] {
  const routes = sh(['ip', '-4', 'route', 'show', 'table', 'all']).out;
  for (;;) {
    const a = 150 + Math.floor(Math.random() * 50);
    const b = Math.floor(Math.random() * 250);
    const p = `10.${a}.${b}.`;
    if (!routes.includes(p) && !exclude.some((e) => e.startsWith(p))) return [a, b];
  }
}

const NODE = process.execPath;
// An HTTP server that answers "NAME REMOTE_ADDR", and a UDP one that answers the same.
const SERVER = `
const [name, port] = process.argv.slice(1);
require('http').createServer((q, s) => s.end(name + ' ' + q.socket.remoteAddress)).listen(+port, '0.0.0.0', () => console.log('up'));
const u = require('dgram').createSocket('udp4');
u.on('message', (m, r) => u.send(name + ' ' + r.address, r.port, r.address));
u.bind(+port);
`;

describe('bridge network (root, real kernel)', { skip }, () => {
  const tag = randomBytes(3).toString('hex');
  const BR = `tdk-n${tag}`;
  const TABLE = `tdk_n${tag}`;
  const [a, b] = freeNet();
  const SUBNET = `10.${a}.${b}.0/24`;
  const GW = `10.${a}.${b}.1`;
  // The "outside host": a netns behind a /30 of its own, routed through this host.
  const [oa, ob] = freeNet([SUBNET]);
  let outPid = 0; // the outside host's netns is held by a process (no /run/netns mount)
  const OUT_HOST_IF = `tdk-h${tag}`;
  const OUT_HOST_IP = `10.${oa}.${ob}.1`;
  const OUT_IP = `10.${oa}.${ob}.2`;
  let dir = ''; // made in before(): a suite filtered out by --test-name-pattern runs no hooks
  const procs = new Set<ChildProcess>();
  const held: Server[] = [];
  let db: Db;
  let repo: ContainerRepository;
  let net: BridgeNetwork;
  const logs: string[] = [];
  const hostAddr = sh(['ip', '-4', '-o', 'addr', 'show', 'scope', 'global']).out
    .split('\n').map((l) => /inet (\d+\.\d+\.\d+\.\d+)/.exec(l)?.[1]).find((x) => x && !x.startsWith('10.'));

  // ---- helpers ---------------------------------------------------------------

  /** A "container": a process in a new user + net namespace, like the shim's init. */
  async function sandbox(): Promise<number> {
    const p = spawn('unshare', ['--user', '--map-root-user', '--net', 'sleep', '1000'], { stdio: 'ignore' });
    procs.add(p);
    p.on('exit', () => procs.delete(p));
    const me = readlinkSync('/proc/self/ns/net');
    for (let i = 0; i < 200; i++) {
      try {
        if (readlinkSync(`/proc/${p.pid}/ns/net`) !== me && readFileSync(`/proc/${p.pid}/uid_map`, 'utf8').trim()) return p.pid!;
      } catch {
        /* not yet */
      }
      await sleep(5);
    }
    throw new Error('unshare did not start');
  }

  /** Servers started in a container's netns, by the container's pid: they die with it (like a pid namespace). */
  const members = new Map<number, ChildProcess[]>();

  /** Kills a container's processes and waits for them, as the engine's exit path does before detach. */
  async function kill(pid: number) {
    const all = [...procs].filter((p) => p.pid === pid).concat(members.get(pid) ?? []);
    members.delete(pid);
    await Promise.all(all.map((p) => new Promise((r) => {
      if (p.exitCode !== null || p.signalCode !== null) return r(undefined);
      p.once('exit', r);
      p.kill('SIGKILL');
    })));
  }

  async function serve(prefix: string[], name: string, port: number, owner?: number): Promise<ChildProcess> {
    const p = spawn(prefix[0]!, [...prefix.slice(1), NODE, '-e', SERVER, name, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
    procs.add(p);
    if (owner) members.set(owner, [...(members.get(owner) ?? []), p]);
    p.on('exit', () => procs.delete(p));
    await new Promise<void>((res, rej) => {
      p.stdout!.once('data', () => res());
      p.once('exit', (c) => rej(new Error(`server ${name} exited ${c}`)));
    });
    return p;
  }

  const inNs = (pid: number) => ['nsenter', `--net=/proc/${pid}/ns/net`];
  const inOut: string[] = []; // filled in before(): nsenter into the outside netns

  /** GET http://host:port/ from a namespace (busybox wget) or, with no prefix, from this process. */
  async function get(prefix: string[] | null, host: string, port: number): Promise<string> {
    if (!prefix) {
      return new Promise((res) => {
        const r = request({ host, port, path: '/', timeout: 2000, agent: false }, (s) => {
          let body = '';
          s.on('data', (d) => (body += d));
          s.on('end', () => res(body));
        });
        r.on('error', (e) => res(`error: ${(e as NodeJS.ErrnoException).code ?? ''} ${e.message}`));
        r.on('timeout', () => r.destroy(new Error('timeout')));
        r.end();
      });
    }
    // (busybox wget crashes here; nc with a hand-made request does not)
    const r = sh([...prefix, 'busybox', 'nc', '-w', '2', host, String(port)], 'GET / HTTP/1.0\r\n\r\n');
    const i = r.out.indexOf('\r\n\r\n');
    return r.code === 0 && i >= 0 ? r.out.slice(i + 4) : `error: ${r.code} ${r.err.trim()}`;
  }

  /** Sends one UDP datagram from a namespace and prints the answer (busybox nc has no -u here). */
  function udp(prefix: string[], host: string, port: number): string {
    const js = `const s=require('dgram').createSocket('udp4');s.on('message',(m)=>{console.log(String(m));process.exit(0)});` +
      `s.send('ping',${port},'${host}');setTimeout(()=>process.exit(1),2000)`;
    return sh([...prefix, NODE, '-e', js]).out;
  }

  let seq = 0;
  function container(opts: { name?: string; ports?: PortSpec[]; network?: ContainerSpec['network']; dns?: string[] } = {}): ContainerRow {
    const id = randomBytes(32).toString('hex');
    const name = opts.name ?? `c${++seq}-${tag}`;
    const spec: ContainerSpec = {
      entrypoint: [], cmd: ['sh'], args: ['sh'], env: [], cwd: '/', user: '', hostname: id.slice(0, 12), tty: false,
      openStdin: false, autoRemove: false, network: opts.network ?? 'bridge', ports: opts.ports ?? [], dns: opts.dns ?? [],
      resources: {}, stopSignal: 'SIGTERM',
    };
    repo.insert({ id, name, imageId: 'sha256:test', imageRef: 'test', spec, created: Date.now() });
    return repo.get(id)!;
  }

  /** prepare + attach + mark running, as the engine does. */
  async function start(c: ContainerRow): Promise<{ pid: number; c: ContainerRow }> {
    const bundle = mkdtempSync(join(dir, 'bundle-'));
    await net.prepare(c, bundle);
    const pid = await sandbox();
    await net.attach(c, `/proc/${pid}/ns/net`);
    repo.markStarted(c.id, pid, '', Date.now());
    return { pid, c: repo.get(c.id)! };
  }

  async function stop(x: { pid: number; c: ContainerRow }) {
    await kill(x.pid);
    await net.detach(x.c);
    repo.markExited(x.c.id, 137, false, '', Date.now());
    await net.settled();
  }

  const tcp = (hostPort: number, containerPort = 80, hostIp = '0.0.0.0'): PortSpec => ({ hostIp, hostPort, containerPort, protocol: 'tcp' });
  const leaseCount = () => (db.prepare('SELECT COUNT(*) FROM net_leases').pluck().get() as number);
  const portRows = () => (db.prepare('SELECT COUNT(*) FROM net_ports').pluck().get() as number);
  const ourVeths = () => readdirSync('/sys/class/net').filter((d) => {
    try {
      return basename(readlinkSync(`/sys/class/net/${d}/master`)) === BR;
    } catch {
      return false;
    }
  });
  const elements = () => {
    const t = sh(['nft', 'list', 'table', 'ip', TABLE]).out + sh(['nft', 'list', 'table', 'bridge', TABLE]).out;
    return [...t.matchAll(/elements = \{([^}]*)\}/g)].map((m) => m[1]!.trim()).join(', ');
  };

  /** A free TCP port on 0.0.0.0 (bound and released). */
  async function freePort(): Promise<number> {
    const s = createServer();
    await new Promise<void>((r) => s.listen(0, '0.0.0.0', r));
    const p = (s.address() as { port: number }).port;
    await new Promise((r) => s.close(r));
    return p;
  }

  // ---- set-up / tear-down ----------------------------------------------------

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tdk-net-'));
    db = openDb(join(dir, 'tdock.db'));
    repo = new ContainerRepository(db);
    net = await BridgeNetwork.create({ db, bridge: BR, subnet: SUBNET, table: TABLE, execRoot: dir, log: (m) => logs.push(m), running: () => new ContainerRepository(db).live() });
    // the outside host: a plain network namespace behind a /30, routed through this host
    const o = spawn('unshare', ['--net', 'sleep', '1000'], { stdio: 'ignore' });
    procs.add(o);
    for (let i = 0; i < 200 && !outPid; i++) {
      await sleep(5);
      try {
        if (readlinkSync(`/proc/${o.pid}/ns/net`) !== readlinkSync('/proc/self/ns/net')) outPid = o.pid!;
      } catch {
        /* not yet */
      }
    }
    inOut.push(...inNs(outPid));
    ok(['ip', 'link', 'add', OUT_HOST_IF, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', String(outPid)]);
    ok(['ip', 'addr', 'add', `${OUT_HOST_IP}/30`, 'dev', OUT_HOST_IF]);
    ok(['ip', 'link', 'set', OUT_HOST_IF, 'up']);
    ok([...inOut, 'ip', '-batch', '-'], `addr add ${OUT_IP}/30 dev eth0\nlink set eth0 up\nlink set lo up\nroute add default via ${OUT_HOST_IP}\n`);
    await serve(inOut, 'outside', 9000);
  });

  after(async () => {
    for (const s of held) s.close();
    for (const p of procs) p.kill('SIGKILL');
    await sleep(50);
    await net?.shutdown(false).catch(() => {});
    sh(['ip', 'link', 'del', BR]);
    sh(['ip', 'link', 'del', OUT_HOST_IF]);
    for (const t of [TABLE, `${TABLE}x`]) {
      for (const family of ['ip', 'bridge']) if (sh(['nft', 'list', 'table', family, t]).code === 0) sh(['nft', 'delete', 'table', family, t]);
    }
    for (const d of readdirSync('/sys/class/net')) if (d.startsWith(`tdk-x${tag}`)) sh(['ip', 'link', 'del', d]);
    db?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  // ---- tests -----------------------------------------------------------------

  test('create: bridge with the gateway, route_localnet on the bridge only, ip_forward, the nft table', () => {
    const addr = ok(['ip', '-4', '-o', 'addr', 'show', 'dev', BR]);
    assert.match(addr, new RegExp(`inet ${GW.replaceAll('.', '\\.')}/24`));
    assert.equal(readFileSync(`/proc/sys/net/ipv4/conf/${BR}/route_localnet`, 'utf8').trim(), '1');
    assert.equal(readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim(), '1');
    const t = ok(['nft', 'list', 'table', 'ip', TABLE]);
    for (const chain of ['prerouting', 'output', 'postrouting', 'forward', 'published']) assert.match(t, new RegExp(`chain ${chain} `));
    assert.deepEqual({ ...net.info(), startup: undefined, forwardPolicy: undefined, forwardRulesAdded: undefined, mtu: undefined },
      { bridge: BR, subnet: SUBNET, gateway: GW, table: `ip ${TABLE}`, ipForward: true, startup: undefined, forwardPolicy: undefined, forwardRulesAdded: undefined, mtu: undefined });
  });

  test('create is idempotent (a second daemon start on the same state)', async () => {
    const again = await BridgeNetwork.create({ db, bridge: BR, subnet: SUBNET, table: TABLE, execRoot: dir, log: () => {}, running: () => new ContainerRepository(db).live() });
    assert.equal(again.info().gateway, GW);
    assert.equal(ok(['ip', '-4', '-o', 'addr', 'show', 'dev', BR]).trim().split('\n').length, 1);
  });

  let web: { pid: number; c: ContainerRow };
  let webPort = 0;

  test('prepare writes hostname/hosts/resolv.conf; attach wires eth0 with the derived MAC and the default route', async () => {
    webPort = await freePort();
    const c = container({ name: `web-${tag}`, ports: [tcp(webPort), { hostIp: '0.0.0.0', hostPort: webPort, containerPort: 80, protocol: 'udp' }] });
    const bundle = mkdtempSync(join(dir, 'bundle-'));
    const mounts = await net.prepare(c, bundle);
    assert.deepEqual(mounts.map((m) => [m.destination, m.options]), [
      ['/etc/hostname', ['bind', 'nosuid', 'nodev', 'noexec']], ['/etc/hosts', ['bind', 'nosuid', 'nodev', 'noexec']],
      ['/etc/resolv.conf', ['bind', 'nosuid', 'nodev', 'noexec']],
    ]);
    const ip = `10.${a}.${b}.2`;
    assert.equal(readFileSync(join(bundle, 'hostname'), 'utf8'), `${c.spec.hostname}\n`);
    assert.match(readFileSync(join(bundle, 'hosts'), 'utf8'), new RegExp(`^${ip}\\t${c.spec.hostname} web-${tag}$`, 'm'));
    assert.doesNotMatch(readFileSync(join(bundle, 'resolv.conf'), 'utf8'), /nameserver 127\./);
    const pid = await sandbox();
    await net.attach(c, `/proc/${pid}/ns/net`);
    repo.markStarted(c.id, pid, '', Date.now());
    web = { pid, c: repo.get(c.id)! };
    const link = ok([...inNs(pid), 'ip', '-o', 'link', 'show', 'eth0']);
    assert.match(link, new RegExp(`link/ether 02:42:0a:${a.toString(16).padStart(2, '0')}:${b.toString(16).padStart(2, '0')}:02`));
    assert.match(ok([...inNs(pid), 'ip', '-4', '-o', 'addr', 'show', 'eth0']), new RegExp(`${ip.replaceAll('.', '\\.')}/24`));
    assert.match(ok([...inNs(pid), 'ip', 'route']), new RegExp(`default via ${GW.replaceAll('.', '\\.')} dev eth0`));
    assert.match(ok([...inNs(pid), 'ip', '-o', 'link', 'show', 'lo']), /UP/);
    assert.deepEqual(ourVeths(), [`td${c.id.slice(0, 10)}`]);
    assert.match(elements(), new RegExp(`tcp \\. ${webPort} : ${ip.replaceAll('.', '\\.')} \\. 80`));
    await serve(inNs(pid), 'web', 80, pid);

    assert.deepEqual(net.ports(web.c), [
      { hostIp: '0.0.0.0', hostPort: webPort, containerPort: 80, protocol: 'tcp' },
      { hostIp: '0.0.0.0', hostPort: webPort, containerPort: 80, protocol: 'udp' },
    ]);
    const ins = net.inspect(web.c) as Record<string, any>;
    assert.equal(ins.IPAddress, ip);
    assert.equal(ins.IPPrefixLen, 24);
    assert.equal(ins.Gateway, GW);
    assert.equal(ins.MacAddress, `02:42:0a:${a.toString(16).padStart(2, '0')}:${b.toString(16).padStart(2, '0')}:02`);
    assert.deepEqual(ins.Ports['80/tcp'], [{ HostIp: '0.0.0.0', HostPort: String(webPort) }]);
    assert.equal(ins.Networks.bridge.IPAddress, ip);
  });

  test('the published port answers from 127.0.0.1, the host\'s addresses and the gateway', async () => {
    assert.match(await get(null, '127.0.0.1', webPort), /^web 127\.0\.0\.1$|^web 10\./);
    assert.match(await get(null, GW, webPort), /^web /);
    assert.match(await get(null, OUT_HOST_IP, webPort), /^web /);
    if (hostAddr) assert.match(await get(null, hostAddr, webPort), /^web /);
  });

  test('from an outside host (a netns routed through this host), with its own address as the source', async () => {
    assert.equal(await get(inOut, OUT_HOST_IP, webPort), `web ${OUT_IP}`);
  });

  test('UDP published on the same port number', () => {
    assert.equal(udp(inOut, OUT_HOST_IP, webPort).trim(), `web ${OUT_IP}`);
  });

  test('an outside host cannot reach a container address directly (only published ports)', async () => {
    ok([...inOut, 'ip', 'route', 'add', SUBNET, 'via', OUT_HOST_IP]);
    try {
      assert.match(await get(inOut, `10.${a}.${b}.2`, 80), /^error/);
    } finally {
      sh([...inOut, 'ip', 'route', 'del', SUBNET]);
    }
  });

  let other: { pid: number; c: ContainerRow };

  test('hairpin: another container and the container itself via a host address', async () => {
    other = await start(container({ name: `other-${tag}` }));
    // masqueraded to the gateway, so replies come back through the host
    assert.equal(await get(inNs(other.pid), OUT_HOST_IP, webPort), `web ${GW}`);
    if (hostAddr) assert.equal(await get(inNs(other.pid), hostAddr, webPort), `web ${GW}`);
    assert.equal(await get(inNs(other.pid), GW, webPort), `web ${GW}`);
    assert.equal(await get(inNs(web.pid), OUT_HOST_IP, webPort), `web ${GW}`);
  });

  test('container to container by IP, unmasqueraded', async () => {
    assert.equal(await get(inNs(other.pid), `10.${a}.${b}.2`, 80), `web 10.${a}.${b}.3`);
  });

  test('egress is masqueraded: the outside host sees this host\'s address', async () => {
    assert.equal(await get(inNs(web.pid), OUT_IP, 9000), `outside ${OUT_HOST_IP}`);
  });

  test('a port published by another container is refused before anything starts', async () => {
    const before = leaseCount();
    const c = container({ name: `clash-${tag}`, ports: [tcp(webPort, 8080)] });
    await assert.rejects(net.prepare(c, mkdtempSync(join(dir, 'bundle-'))), (e: unknown) => {
      assert.ok(e instanceof EngineError);
      assert.equal(e.code, 'ALREADY_EXISTS');
      assert.equal(e.message, `port ${webPort}/tcp on 0.0.0.0 is already in use (by container web-${tag}): choose another host port`);
      return true;
    });
    // also on one address only: 127.0.0.1 collides with 0.0.0.0
    await assert.rejects(net.prepare(c, mkdtempSync(join(dir, 'bundle-'))), /already in use/);
    const c2 = container({ ports: [tcp(webPort, 80, '127.0.0.1')] });
    await assert.rejects(net.prepare(c2, mkdtempSync(join(dir, 'bundle-'))), /by container web-/);
    assert.equal(leaseCount(), before);
  });

  test('a port bound by a host process (on 127.0.0.1) is refused; nothing stays allocated', async () => {
    const s = createServer();
    held.push(s);
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const port = (s.address() as { port: number }).port;
    const before = [leaseCount(), portRows()];
    const c = container({ ports: [tcp(await freePort(), 81), tcp(port)] });
    await assert.rejects(net.prepare(c, mkdtempSync(join(dir, 'bundle-'))), (e: unknown) => {
      assert.ok(e instanceof EngineError);
      assert.equal(e.code, 'ALREADY_EXISTS');
      assert.equal(e.message, `port ${port}/tcp on 0.0.0.0 is already in use (by a host process): choose another host port`);
      return true;
    });
    assert.deepEqual([leaseCount(), portRows()], before);
  });

  test('the published port is held: a host process cannot take it', async () => {
    const s = createServer();
    const err = await new Promise<NodeJS.ErrnoException | undefined>((r) => {
      s.once('error', r);
      s.listen(webPort, '127.0.0.1', () => r(undefined));
    });
    s.close();
    assert.equal(err?.code, 'EADDRINUSE');
  });

  test('host port 0 picks a free port; one host IP only', async () => {
    const x = await start(container({ ports: [tcp(0, 80, '127.0.0.1')] }));
    try {
      const [p] = net.ports(x.c);
      assert.ok(p && p.hostPort > 1024 && p.hostIp === '127.0.0.1', JSON.stringify(p));
      await serve(inNs(x.pid), 'eph', 80, x.pid);
      assert.match(await get(null, '127.0.0.1', p.hostPort), /^eph /);
      // bound to 127.0.0.1 only: not on the outside interface
      assert.match(await get(inOut, OUT_HOST_IP, p.hostPort), /^error/);
    } finally {
      await stop(x);
    }
  });

  test('network none and host: files only, no lease', async () => {
    for (const mode of ['none', 'host'] as const) {
      const c = container({ network: mode, dns: mode === 'none' ? ['192.0.2.53'] : [] });
      const bundle = mkdtempSync(join(dir, 'bundle-'));
      const m = await net.prepare(c, bundle);
      assert.equal(m.length, 3);
      await net.attach(c, `/proc/${process.pid}/ns/net`);
      await net.detach(c);
      assert.equal(net.ports(c).length, 0);
      if (mode === 'none') assert.match(readFileSync(join(bundle, 'resolv.conf'), 'utf8'), /^nameserver 192\.0\.2\.53$/m);
      if (mode === 'host') assert.equal(readFileSync(join(bundle, 'resolv.conf'), 'utf8'), readFileSync('/etc/resolv.conf', 'utf8').replace(/\n*$/, '\n'));
    }
    assert.equal(db.prepare('SELECT COUNT(*) FROM net_leases WHERE container_id NOT IN (?, ?)').pluck().get(web.c.id, other.c.id), 0);
  });

  test('a daemon restart keeps running containers reachable and drops dead ones\' state', async () => {
    // a dead container's lease and port left behind (daemon crash)
    const dead = container();
    await net.prepare(dead, mkdtempSync(join(dir, 'bundle-')));
    assert.equal(leaseCount(), 3);
    await net.shutdown(true);
    assert.ok(existsSync(`/sys/class/net/${BR}`));
    assert.match(logs.at(-1)!, /keeping bridge/);
    net = await BridgeNetwork.create({ db, bridge: BR, subnet: SUBNET, table: TABLE, execRoot: dir, log: (m) => logs.push(m), running: () => new ContainerRepository(db).live() });
    assert.equal(leaseCount(), 2);
    assert.match(await get(inOut, OUT_HOST_IP, webPort), /^web /);
    assert.match(await get(null, '127.0.0.1', webPort), /^web /);
  });

  test('detach is idempotent and leaves nothing', async () => {
    await stop(other);
    await net.detach(other.c);
    await stop(web);
    await net.detach(web.c);
    await net.settled();
    assert.deepEqual(ourVeths(), []);
    assert.equal(elements(), '');
    assert.equal(leaseCount(), 0);
    assert.equal(portRows(), 0);
  });

  test('50 start/stop cycles with a published port leave nothing; cost per step', async () => {
    const port = await freePort();
    const total: number[] = [];
    for (let i = 0; i < 50; i++) {
      const c = container({ ports: [tcp(port)] });
      const bundle = mkdtempSync(join(dir, 'bundle-'));
      const pid = await sandbox();
      await net.settled(); // the previous container's teardown is not part of this start
      const t0 = performance.now();
      await net.prepare(c, bundle);
      await net.attach(c, `/proc/${pid}/ns/net`);
      total.push(performance.now() - t0);
      if (i % 10 === 0) {
        await serve(inNs(pid), `loop${i}`, 80, pid);
        const got = await get(null, '127.0.0.1', port);
        assert.equal(got.split(' ')[0], `loop${i}`, `cycle ${i}: ${got}`);
      }
      await kill(pid);
      await net.detach(repo.get(c.id)!);
      repo.remove(c.id);
    }
    await net.settled();
    assert.deepEqual(ourVeths(), []);
    assert.equal(elements(), '');
    assert.equal(leaseCount(), 0);
    assert.equal(portRows(), 0);
    const lines = Object.entries(net.timings).map(([k, v]) => `${k.padEnd(14)} median ${median(v).toFixed(2)} ms (n=${v.length})`);
    lines.push(`${'prepare+attach'.padEnd(14)} median ${median(total).toFixed(2)} ms`);
    console.log(`# network cost per container (bridge + 1 tcp port):\n# ${lines.join('\n# ')}`);
  });

  test('IPAM: a /29 holds 5 containers, the 6th gets a clear RESOURCE_EXHAUSTED', async () => {
    const [sa, sb] = freeNet([SUBNET]);
    const small = `10.${sa}.${sb}.0/29`;
    const db2 = openDb(join(dir, 'small.db'));
    const repo2 = new ContainerRepository(db2);
    const br2 = `tdk-x${tag}`;
    const n2 = await BridgeNetwork.create({ db: db2, bridge: br2, subnet: small, table: `${TABLE}x`, execRoot: dir, log: () => {}, running: () => repo2.live() });
    try {
      const mk = () => {
        const id = randomBytes(32).toString('hex');
        const spec = { ...repo.all()[0]!.spec, network: 'bridge' as const, ports: [] };
        repo2.insert({ id, name: `s${id.slice(0, 6)}`, imageId: 'x', imageRef: 'x', spec, created: Date.now() });
        return repo2.get(id)!;
      };
      const cs = [];
      for (let i = 0; i < 5; i++) {
        const c = mk();
        await n2.prepare(c, mkdtempSync(join(dir, 'bundle-')));
        cs.push(c);
      }
      assert.deepEqual(cs.map((c) => (n2.inspect(c) as { IPAddress: string }).IPAddress), [2, 3, 4, 5, 6].map((x) => `10.${sa}.${sb}.${x}`));
      const sixth = mk();
      await assert.rejects(n2.prepare(sixth, mkdtempSync(join(dir, 'bundle-'))), (e: unknown) => {
        assert.ok(e instanceof EngineError);
        assert.equal(e.code, 'RESOURCE_EXHAUSTED');
        assert.equal(e.message, `no free IP address in ${small} (network ${br2}): remove a container or use a larger --subnet`);
        return true;
      });
      await n2.detach(cs[2]!);
      await n2.prepare(sixth, mkdtempSync(join(dir, 'bundle-')));
      assert.equal((n2.inspect(sixth) as { IPAddress: string }).IPAddress, `10.${sa}.${sb}.4`);
    } finally {
      await n2.shutdown(false);
      db2.close();
    }
    assert.ok(!existsSync(`/sys/class/net/${br2}`));
    assert.notEqual(sh(['nft', 'list', 'table', 'ip', `${TABLE}x`]).code, 0);
  });

  test('shutdown with nothing running removes the table and the bridge', async () => {
    await net.shutdown(false);
    assert.ok(!existsSync(`/sys/class/net/${BR}`));
    assert.notEqual(sh(['nft', 'list', 'table', 'ip', TABLE]).code, 0);
    assert.notEqual(sh(['nft', 'list', 'table', 'bridge', TABLE]).code, 0);
  });
});

// FORWARD DROP (what Docker leaves behind) cannot be set on this shared machine, so the
// whole daemon side runs in a private network namespace of its own: its iptables
// policy, bridge and table vanish with it.
describe('bridge network under an iptables FORWARD DROP policy (private netns)', { skip: skip || (!have('iptables') && 'needs iptables') }, () => {
  test('tagged accept rules are inserted at start, forwarded traffic passes, shutdown removes exactly them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tdk-fwd-'));
    const src = (f: string) => JSON.stringify(join(import.meta.dirname, '..', '..', 'daemon', f));
    const script = `
      import { spawn, spawnSync } from 'node:child_process';
      import { BridgeNetwork } from ${src('network/bridge.ts')};
      import { openDb } from ${src('store/db.ts')};
      import { ContainerRepository } from ${src('containers/repository.ts')};
      const sh = (...a) => spawnSync(a[0], a.slice(1), { encoding: 'utf8', input: '' });
      const out = {};
      const kids = [];
      const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
      try {
        sh('ip', 'link', 'set', 'lo', 'up');
        sh('iptables', '-P', 'FORWARD', 'DROP');
        sh('iptables', '-A', 'FORWARD', '-i', 'lo', '-j', 'ACCEPT', '-m', 'comment', '--comment', 'not-ours');
        const db = openDb(${JSON.stringify(join(dir, 'db'))});
        const repo = new ContainerRepository(db);
        const net = await BridgeNetwork.create({ db, bridge: 'tdk-fwd0', subnet: '10.151.0.0/24', table: 'tdk_fwd', execRoot: ${JSON.stringify(dir)}, log: () => {}, running: () => repo.live() });
        out.info = net.info();
        out.rulesAfterCreate = sh('iptables', '-S', 'FORWARD').stdout;
        const mk = async (name, ports) => {
          const id = name.repeat(64).slice(0, 64);
          repo.insert({ id, name, imageId: 'x', imageRef: 'x', created: 0, spec: { hostname: name, network: 'bridge', ports, dns: [] } });
          const c = repo.get(id);
          await net.prepare(c, ${JSON.stringify(dir)});
          const p = spawn('unshare', ['--user', '--map-root-user', '--net', 'sleep', '60'], { stdio: 'ignore' });
          kids.push(p);
          await sleep(100);
          await net.attach(c, '/proc/' + p.pid + '/ns/net');
          return { c, pid: p.pid };
        };
        const a = await mk('a', [{ hostIp: '0.0.0.0', hostPort: 8080, containerPort: 80, protocol: 'tcp' }]);
        const b = await mk('b', []);
        const srv = spawn('nsenter', ['--net=/proc/' + a.pid + '/ns/net', process.execPath, '-e',
          "require('http').createServer((q,s)=>s.end('web '+q.socket.remoteAddress)).listen(80,'0.0.0.0',()=>console.log('up'))"], { stdio: ['ignore', 'pipe', 'inherit'] });
        kids.push(srv);
        await new Promise((r) => srv.stdout.once('data', r));
        const get = (pid, host, port) => {
          return spawnSync('nsenter', ['--net=/proc/' + pid + '/ns/net', 'busybox', 'nc', '-w', '2', host, String(port)],
            { encoding: 'utf8', input: 'GET / HTTP/1.0\\r\\n\\r\\n' }).stdout.split('\\r\\n\\r\\n')[1] ?? 'error';
        };
        out.hairpin = get(b.pid, '10.151.0.1', 8080);
        out.direct = get(b.pid, '10.151.0.2', 80);
        // negative control: without the accept rules the DROP policy wins
        for (const l of sh('iptables', '-S', 'FORWARD').stdout.split('\\n').filter((l) => l.includes('tdock:'))) {
          sh('iptables', '-D', ...l.slice(3).replaceAll('"', '').split(' '));
        }
        out.hairpinWithoutRules = get(b.pid, '10.151.0.1', 8080);
        for (const k of kids) k.kill('SIGKILL');
        await sleep(50);
        await net.detach(repo.get(a.c.id));
        await net.detach(repo.get(b.c.id));
        await net.shutdown(false);
        out.rulesAfterShutdown = sh('iptables', '-S', 'FORWARD').stdout;
        db.close();
      } finally {
        for (const k of kids) k.kill('SIGKILL');
      }
      console.log(JSON.stringify(out));
      process.exit(0);
    `;
    try {
      // (its own sysfs too: /sys/class/net shows the netns of whoever mounted it)
      const r = spawnSync('unshare', ['--net', '--mount', 'sh', '-c', 'mount -t sysfs sysfs /sys && exec "$0" "$@"', NODE, '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000, killSignal: 'SIGKILL' });
      assert.equal(r.status, 0, r.stderr);
      const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, any>;
      assert.equal(out.info.forwardPolicy, 'DROP');
      assert.equal(out.info.forwardRulesAdded, true);
      const created = (out.rulesAfterCreate as string).trim().split('\n');
      assert.deepEqual(created, [
        '-P FORWARD DROP',
        '-A FORWARD -i tdk-fwd0 -m comment --comment "tdock:tdk-fwd0" -j ACCEPT',
        '-A FORWARD -o tdk-fwd0 -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment "tdock:tdk-fwd0" -j ACCEPT',
        '-A FORWARD -o tdk-fwd0 -m conntrack --ctstate DNAT -m comment --comment "tdock:tdk-fwd0" -j ACCEPT',
        '-A FORWARD -i lo -m comment --comment not-ours -j ACCEPT',
      ]);
      assert.equal(out.hairpin, 'web 10.151.0.1');
      assert.equal(out.direct, 'web 10.151.0.3');
      assert.equal(out.hairpinWithoutRules, 'error');
      assert.deepEqual((out.rulesAfterShutdown as string).trim().split('\n'), [
        '-P FORWARD DROP',
        '-A FORWARD -i lo -m comment --comment not-ours -j ACCEPT',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
