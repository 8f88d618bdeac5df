// The rootful bridge network: one Linux bridge, IPv4 leases in SQLite, one veth per
// container, an nftables table for NAT and published ports, and the /etc files.
//
//   create()   daemon start, idempotent: bridge + gateway address, ip_forward,
//              route_localnet on the bridge, the nft table replaced atomically with the
//              ports of the running containers, leases/ports/veths of dead ones removed,
//              FORWARD DROP handled (see firewall.ts)
//   prepare()  before the monitor starts: lease, host ports (checked and held), files
//   attach()   between the monitor's "ok" and START: veth + address + route (one spawn)
//              and the container's nft elements (its port filter and published ports:
//              one spawn, started by prepare), in parallel
//   detach()   on exit: nft elements, host veth (if the netns did not take it along),
//              lease and ports; idempotent
//   shutdown() clean daemon stop: table, bridge and FORWARD rules go when no container runs
//
// Leases and host ports live from prepare to detach (start to exit), like Docker's.
import { setTimeout as sleep } from 'node:timers/promises';
import { basename } from 'node:path';
import type { Db } from '../store/db.ts';
import type { NetworkedContainer, NetworkHooks } from './hooks.ts';
import { EngineError, invalid, messageOf } from '../errors.ts';
import { formatCidr, formatIp, gateway, Leases, macFor, parseCidr, type Cidr } from './ipam.ts';
import { Firewall, type Endpoint } from './firewall.ts';
import { PortTable } from './ports.ts';
import { writeEtcFiles, type Mount, type Owner } from './files.ts';
import { deleteLinks, vethName, VETH_RE, wire } from './links.ts';
import { must, since } from './exec.ts';
import { realNetSystem, type NetSystem } from './system.ts';
import type { PortSpec } from '../../lib/ports.ts';

export interface BridgeNetworkOptions {
  db: Db;
  bridge: string;
  subnet: string;
  table: string;
  execRoot: string;
  log: (m: string) => void;
  /** Owner of each container's /etc/hosts, hostname and resolv.conf: the host ids of its root. */
  etcOwner?: Owner;
  /** The containers the database says run, read once at start to keep their network state. */
  running: () => Iterable<NetworkedContainer>;
  /** Commands and /sys, /proc files; unit tests pass a fake (default: the real ones). */
  sys?: NetSystem;
}

/** Step name → the last (up to 200) durations in ms, for benchmarks and `info`. */
export type Timings = Record<string, number[]>;

const sysNet = (dev: string, file: string) => `/sys/class/net/${dev}/${file}`;

export function median(xs: number[]): number {
  if (!xs.length) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export class BridgeNetwork implements NetworkHooks {
  readonly bridge: string;
  readonly cidr: Cidr;
  readonly table: string;
  readonly timings: Timings = {};
  private readonly log: (m: string) => void;
  private readonly etcOwner: Owner | undefined;
  private readonly leases: Leases;
  private readonly portTable: PortTable;
  private readonly fw: Firewall;
  private readonly running: () => Iterable<NetworkedContainer>;
  private readonly gw: string;
  private bridgeIndex = 0;
  private mtu = 1500;
  private ipForward = '';
  private forwardPolicy = '';
  private startup: Record<string, unknown> = {};
  /** container id → the netns its veth was wired into (the monitor's bind + its inode, to tell a live one) */
  private readonly netns = new Map<string, { path: string; ino: number }>();
  private readonly sys: NetSystem;
  /** this.sys.run, bound: handed to the helpers in links.ts and exec.ts */
  private readonly run = (argv: string[], input?: string) => this.sys.run(argv, input);
  /** container id → background release of its lease once the old veth is gone */
  private readonly pending = new Map<string, Promise<void>>();
  /** container id → the address of a veth still on its way out (not handed out meanwhile) */
  private readonly dying = new Map<string, number>();
  /** container id → its nft transaction (port filter, published ports) started by prepare */
  private readonly publishing = new Map<string, Promise<void>>();

  private constructor(o: BridgeNetworkOptions, cidr: Cidr) {
    this.bridge = o.bridge;
    this.cidr = cidr;
    this.table = o.table;
    this.log = o.log;
    this.etcOwner = o.etcOwner;
    this.gw = formatIp(gateway(cidr));
    this.leases = new Leases(o.db, o.bridge, cidr);
    this.portTable = new PortTable(o.db);
    this.sys = o.sys ?? realNetSystem;
    this.fw = new Firewall({ table: o.table, bridge: o.bridge, subnet: formatCidr(cidr) }, this.sys);
    this.running = o.running;
  }

  static async create(o: BridgeNetworkOptions): Promise<BridgeNetwork> {
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/.test(o.bridge)) {
      throw invalid(`invalid bridge name "${o.bridge}": 1-15 letters, digits, "_", "." or "-"`);
    }
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(o.table)) {
      throw invalid(`invalid nftables table name "${o.table}": letters, digits and "_"`);
    }
    const n = new BridgeNetwork(o, parseCidr(o.subnet));
    await n.setUp();
    return n;
  }

  private record(step: string, ms: number): void {
    const l = (this.timings[step] ??= []);
    l.push(ms);
    if (l.length > 200) l.shift();
  }

  // ---- daemon start / stop -----------------------------------------------------

  private async setUp(): Promise<void> {
    const t0 = performance.now();
    const br = this.bridge;
    const prefix = this.cidr.prefix;
    const done: string[] = [];
    if (!this.sys.exists(sysNet(br, 'ifindex'))) {
      await must(this.run, ['ip', 'link', 'add', br, 'type', 'bridge']);
      done.push('bridge created');
    } else if (!this.sys.exists(sysNet(br, 'bridge'))) {
      throw new EngineError('FAILED_PRECONDITION', `${br} exists and is not a bridge: choose another --bridge`);
    }
    // Our gateway address, and no other IPv4 address (a previous --subnet).
    const addrs = JSON.parse(await must(this.run, ['ip', '-j', '-4', 'addr', 'show', 'dev', br])) as { addr_info?: { local: string; prefixlen: number }[] }[];
    const batch: string[] = [];
    let have = false;
    for (const a of addrs[0]?.addr_info ?? []) {
      if (a.local === this.gw && a.prefixlen === prefix) have = true;
      else batch.push(`addr del ${a.local}/${a.prefixlen} dev ${br}`);
    }
    if (!have) batch.push(`addr add ${this.gw}/${prefix} brd + dev ${br}`);
    batch.push(`link set ${br} up`);
    await must(this.run, ['ip', '-batch', '-'], batch.join('\n') + '\n');
    // /sys/class/net is read instead of spawning `ip` on hot paths: it must show our netns.
    this.bridgeIndex = Number(this.sys.read(sysNet(br, 'ifindex')));
    if (!this.bridgeIndex) {
      throw new EngineError('FAILED_PRECONDITION', `/sys/class/net does not show ${br}: /sys belongs to another network namespace; mount a sysfs for the daemon's own`);
    }
    this.mtu = Number(this.sys.read(sysNet(br, 'mtu')) ?? 1500) || 1500;

    // Forwarding for everyone (a router needs it); route_localnet on our bridge only.
    const fwd = this.sys.read('/proc/sys/net/ipv4/ip_forward');
    if (fwd !== '1') {
      this.sys.write('/proc/sys/net/ipv4/ip_forward', '1');
      done.push('net.ipv4.ip_forward set to 1');
    }
    this.ipForward = '1';
    this.sys.write(`/proc/sys/net/ipv4/conf/${br}/route_localnet`, '1');

    // Reconcile with the database: only containers that run keep network state.
    const running = new Map<string, NetworkedContainer>();
    for (const c of this.running()) if (c.spec.network === 'bridge') running.set(c.id, c);
    const stale = new Set<string>([...this.leases.all().map((l) => l.containerId), ...this.portTable.containers()]);
    for (const id of running.keys()) stale.delete(id);
    for (const id of stale) {
      this.portTable.release(id);
      this.leases.release(id);
    }
    if (stale.size) done.push(`released the network state of ${stale.size} stopped container(s)`);

    const linkBatch: string[] = [];
    const keep = new Set([...running.keys()].map(vethName));
    for (const dev of this.sys.list('/sys/class/net')) {
      if (!VETH_RE.test(dev)) continue;
      const link = this.sys.readlink(sysNet(dev, 'master'));
      const master = link ? basename(link) : '';
      if (keep.has(dev)) {
        if (master !== br) linkBatch.push(`link set ${dev} master ${br} up`); // bridge re-made under it
      } else if (master === br) {
        linkBatch.push(`link del ${dev}`);
      }
    }
    if (linkBatch.length) {
      await this.run(['ip', '-force', '-batch', '-'], linkBatch.join('\n') + '\n');
      done.push(`fixed ${linkBatch.length} stale veth(s)`);
    }

    const endpoints: Endpoint[] = [];
    for (const id of running.keys()) {
      const lease = this.leases.get(id);
      if (lease !== undefined) endpoints.push(this.endpoint(id, lease));
    }
    await this.fw.replaceTable(endpoints);
    for (const id of running.keys()) await this.portTable.rehold(id, this.log);
    this.forwardPolicy = await this.fw.ensureForward(this.log);

    this.startup = { ms: since(t0), running: running.size, actions: done };
    this.log(`network: bridge ${br} ${this.gw}/${prefix}, nft table ip ${this.table}, ${running.size} running container(s)` +
      (done.length ? `; ${done.join('; ')}` : '') + ` (${since(t0)} ms)`);
  }

  /** What the firewall needs of a container: port name, MAC and address (both from the lease), published ports. */
  private endpoint(containerId: string, lease: number): Endpoint {
    return { veth: vethName(containerId), mac: macFor(lease), ip: formatIp(lease), ports: this.portTable.of(containerId) };
  }

  info(): Record<string, unknown> {
    return {
      bridge: this.bridge,
      subnet: formatCidr(this.cidr),
      gateway: this.gw,
      table: `ip ${this.table}`,
      ipForward: this.ipForward === '1',
      mtu: this.mtu,
      forwardPolicy: this.forwardPolicy,
      forwardRulesAdded: this.fw.forwardRulesAdded,
      startup: this.startup,
    };
  }

  /** Clean daemon stop: removes table, bridge and FORWARD rules unless containers still run. */
  async shutdown(anyRunning: boolean): Promise<void> {
    await this.settled();
    this.portTable.closeAll();
    if (anyRunning) {
      this.log(`network: containers are running: keeping bridge ${this.bridge} and nft table ip ${this.table} so they stay reachable`);
      return;
    }
    const errors: string[] = [];
    await this.fw.deleteTable().catch((e) => errors.push(messageOf(e)));
    const removed = await this.fw.removeForward().catch((e) => {
      errors.push(messageOf(e));
      return 0;
    });
    const r = await this.run(['ip', 'link', 'del', this.bridge]);
    if (r.code !== 0 && this.sys.exists(sysNet(this.bridge, 'ifindex'))) errors.push(`ip link del ${this.bridge}: ${r.stderr.trim()}`);
    this.log(`network: removed bridge ${this.bridge}, nft table ip ${this.table}` + (removed ? `, ${removed} iptables FORWARD rule(s)` : '') +
      (errors.length ? `; errors: ${errors.join('; ')}` : ''));
  }

  // ---- per container -----------------------------------------------------------

  async prepare(c: NetworkedContainer, bundleDir: string): Promise<Mount[]> {
    const s = c.spec;
    if (s.network !== 'bridge') {
      return writeEtcFiles(bundleDir, { mode: s.network, hostname: s.hostname, name: c.name, dns: s.dns }, this.etcOwner);
    }
    // A restart right after an exit: the old veth may still be on its way out.
    const pending = this.pending.get(c.id);
    if (pending) await pending;
    let t = performance.now();
    const ip = this.leases.allocate(c.id, this.dying.values());
    this.record('prepare.lease', since(t));
    try {
      t = performance.now();
      await this.portTable.reserve(c.id, s.ports);
      this.record('prepare.ports', since(t));
      t = performance.now();
      const mounts = writeEtcFiles(bundleDir, { mode: 'bridge', hostname: s.hostname, name: c.name, ip: formatIp(ip), dns: s.dns }, this.etcOwner);
      this.record('prepare.files', since(t));
      // The port filter and the published ports now, in the background: the nft
      // transaction then overlaps with the monitor's start-up and attach only waits for
      // what is left of it. A DNAT to an address not wired yet is harmless (SYNs are
      // retried until it is), and the filter matches the port by name, before it exists.
      const t1 = performance.now();
      const p = this.fw.addContainer(this.endpoint(c.id, ip)).then(() => this.record('publish (background)', since(t1)));
      p.catch(() => {});
      this.publishing.set(c.id, p);
      return mounts;
    } catch (e) {
      this.portTable.release(c.id);
      this.leases.release(c.id);
      throw e;
    }
  }

  async attach(c: NetworkedContainer, netns: string): Promise<void> {
    if (c.spec.network !== 'bridge') return;
    const lease = this.leases.get(c.id);
    if (lease === undefined) throw new EngineError('FAILED_PRECONDITION', `container ${c.id.slice(0, 12)} has no address: prepare was not called`);
    const ip = formatIp(lease);
    const endpoint = this.endpoint(c.id, lease);
    const t0 = performance.now();
    const timed = async (step: string, f: () => Promise<void>) => {
      const t = performance.now();
      await f(); // spawn() itself is synchronous: timed from before it
      this.record(step, since(t));
    };
    const results = await Promise.allSettled([
      timed('attach.wire', () => wire(this.run, netns, {
        veth: vethName(c.id), hostPid: process.pid, bridgeIndex: this.bridgeIndex, mtu: this.mtu,
        mac: macFor(lease), ip, prefix: this.cidr.prefix, gateway: this.gw,
      })),
      timed('attach.publish-wait', async () => {
        const p = this.publishing.get(c.id);
        this.publishing.delete(c.id);
        if (p) await p;
        else await this.fw.addContainer(endpoint); // attach without prepare in this process
      }),
    ]);
    let failed = results.find((r) => r.status === 'rejected');
    if (!failed) {
      // Hairpin: with br_netfilter the DNAT of "container → host address:published port"
      // happens while the frame is bridged; when the container reaches itself that way the
      // frame must leave through the port it came in on. (Docker does the same.)
      try {
        this.sys.write(sysNet(vethName(c.id), 'brport/hairpin_mode'), '1');
      } catch (e) {
        failed = { status: 'rejected', reason: e };
      }
    }
    this.record('attach', since(t0));
    if (failed) {
      // Undo what this call did; the lease and ports stay until detach.
      await this.fw.removeContainer(endpoint).catch(() => {});
      await deleteLinks(this.run, [vethName(c.id)]);
      throw new EngineError('INTERNAL', `cannot attach container ${c.id.slice(0, 12)} to ${this.bridge}: ${messageOf(failed.reason)}`);
    }
    this.netns.set(c.id, { path: netns, ino: this.sys.ino(netns) });
  }

  /**
   * Idempotent. Frees the host ports at once and unpublishes them without waiting:
   * deleting nft elements costs the kernel an RCU grace period (~8-25 ms here), and the
   * firewall's queue commits the deletion before any later publish of the same key.
   * The veth: deleting one costs ~20 ms of kernel time too, and when the container has
   * exited its netns is already being destroyed by the kernel, which takes the pair
   * along (~25 ms later). Then we do not wait either: the lease is released in the
   * background once the host end is gone (deleted by us after 2 s if something still
   * holds the netns), so the address is never handed out while the old interface
   * exists. A live netns (attach failed, or detach before the exit) gets its veth
   * deleted before detach returns. `settled()` waits for all of it.
   */
  async detach(c: NetworkedContainer): Promise<void> {
    if (c.spec.network !== 'bridge') return;
    const t0 = performance.now();
    const lease = this.leases.get(c.id);
    const veth = vethName(c.id);
    const endpoint = lease !== undefined ? this.endpoint(c.id, lease) : undefined;
    this.portTable.release(c.id);
    this.publishing.delete(c.id); // the removal below is queued after it
    if (endpoint) {
      const unpublished = this.fw.removeContainer(endpoint);
      unpublished.catch((e) => this.log(`network: cannot remove the nft elements of ${c.id.slice(0, 12)}: ${messageOf(e)}`));
      this.track(unpublished);
    }
    const ns = this.netns.get(c.id);
    this.netns.delete(c.id);
    // Still bound by a running monitor (attach failed, or detach before the exit).
    const alive = ns !== undefined && this.sys.ino(ns.path) === ns.ino;
    if (this.pending.has(c.id)) {
      // detached already; the veth is on its way out
    } else if (!this.sys.exists(sysNet(veth, 'ifindex'))) {
      this.leases.release(c.id);
    } else if (alive) {
      const t = performance.now();
      await deleteLinks(this.run, [veth]);
      this.record('detach.veth', since(t));
      this.leases.release(c.id);
    } else {
      // (the lease row may vanish first: `rm` deletes the container, cascading)
      if (lease !== undefined) this.dying.set(c.id, lease);
      const done = this.reap(veth).finally(() => {
        if (this.pending.get(c.id) === done) {
          this.pending.delete(c.id);
          this.dying.delete(c.id);
          this.leases.release(c.id);
        }
      });
      this.pending.set(c.id, done);
    }
    this.record('detach', since(t0));
  }

  private readonly background = new Set<Promise<unknown>>();
  private track(p: Promise<unknown>): void {
    const q = p.catch(() => {}).finally(() => this.background.delete(q));
    this.background.add(q);
  }

  /** Waits for the kernel to remove a dying netns's veth; deletes it after 2 s. */
  private async reap(veth: string): Promise<void> {
    for (let waited = 0; waited < 2000; waited += 5) {
      if (!this.sys.exists(sysNet(veth, 'ifindex'))) return;
      await sleep(5);
    }
    await deleteLinks(this.run, [veth]);
  }

  /** Resolves when every background veth removal of detach() has finished (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.pending.size || this.background.size) {
      await Promise.allSettled([...this.pending.values(), ...this.background]);
    }
    await this.fw.idle();
  }

  ports(c: NetworkedContainer): PortSpec[] {
    if (c.spec.network !== 'bridge') return [];
    return this.portTable.of(c.id);
  }

  inspect(c: NetworkedContainer): Record<string, unknown> {
    const lease = c.spec.network === 'bridge' ? this.leases.get(c.id) : undefined;
    const Ports: Record<string, { HostIp: string; HostPort: string }[] | null> = {};
    const bound = lease !== undefined ? this.portTable.of(c.id) : [];
    for (const p of c.spec.ports) Ports[`${p.containerPort}/${p.protocol}`] = bound.length ? [] : null;
    for (const p of bound) (Ports[`${p.containerPort}/${p.protocol}`] ??= []).push({ HostIp: p.hostIp, HostPort: String(p.hostPort) });
    const ip = lease !== undefined ? formatIp(lease) : '';
    const mac = lease !== undefined ? macFor(lease) : '';
    const gw = lease !== undefined ? this.gw : '';
    const prefix = lease !== undefined ? this.cidr.prefix : 0;
    const settings: Record<string, unknown> = {
      Bridge: c.spec.network === 'bridge' ? this.bridge : '',
      SandboxKey: lease !== undefined && c.pid ? (c.netns ?? '') : '',
      Ports,
      IPAddress: ip,
      IPPrefixLen: prefix,
      Gateway: gw,
      MacAddress: mac,
      Networks: {} as Record<string, unknown>,
    };
    if (c.spec.network === 'bridge' || c.spec.network === 'host' || c.spec.network === 'none') {
      (settings.Networks as Record<string, unknown>)[c.spec.network] = {
        NetworkID: c.spec.network === 'bridge' ? this.bridge : c.spec.network,
        EndpointID: lease !== undefined ? vethName(c.id) : '',
        Gateway: gw,
        IPAddress: ip,
        IPPrefixLen: prefix,
        MacAddress: mac,
        DNSNames: c.spec.network === 'bridge' ? [c.name, c.spec.hostname] : null,
      };
    }
    return settings;
  }
}
