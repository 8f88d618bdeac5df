// The daemon's firewall: two nftables tables of the same name (`ip <table>` and
// `bridge <table>`, default `tdock`), changed only in atomic `nft -f -` transactions,
// plus — only when needed — a few tagged rules in iptables' filter FORWARD chain.
//
// `ip <table>` (see tableScript for the exact text):
//   map ports_ip  { ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service }
//        published ports bound to one host address (-p 127.0.0.1:8080:80)
//   map ports_any { inet_proto . inet_service : ipv4_addr . inet_service }
//        published ports on every host address (-p 8080:80, host IP 0.0.0.0)
//   chain raw         filter/raw (-300): `iifname BR ip daddr 127.0.0.0/8 drop`. The
//                     bridge needs route_localnet=1 (below), which also lets the kernel
//                     route a packet that arrives on the bridge addressed to 127.0.0.0/8
//                     to the host's loopback: any container with CAP_NET_RAW could then
//                     reach services bound to 127.0.0.1 (CVE-2020-8558). Nothing
//                     legitimate comes in from the bridge with such a destination (replies
//                     to 127.0.0.1:PORT clients are addressed to the gateway until conntrack
//                     undoes the masquerade, after this hook), so it is dropped before
//                     conntrack or NAT see it.
//   chain published   DNAT through the two maps (specific host IP first)
//   chain prerouting  nat/dstnat:  `fib daddr type local` → published (outside hosts,
//                     other containers, the container itself via a host address)
//   chain output      nat/-100:    same for connections made by host processes, so
//                     127.0.0.1:8080 and the host's own addresses work. 127.0.0.1 as a
//                     destination behind DNAT needs route_localnet=1 on the bridge (set
//                     on the bridge only, never on `all`).
//   chain postrouting nat/srcnat:
//                     ip saddr 127.0.0.0/8 oifname BR masquerade        (localhost → container)
//                     ip saddr NET ip daddr NET ct status dnat masquerade (hairpin)
//                     ip saddr NET oifname != BR masquerade             (egress)
//   chain forward     filter/0, policy accept: replies, DNATed (published) connections and
//                     everything from the bridge are accepted; new connections from
//                     elsewhere straight to a container address are dropped (only published
//                     ports are reachable from outside, as in Docker 28).
//
// `bridge <table>`: each container's port (the host end of its veth) may send only from
// its own MAC and IPv4 address, so no container can take over a neighbour's address by
// ARP (the host's and the other containers' neighbour entries), forge IPv4 sources, or
// teach the bridge a neighbour's MAC. Like libvirt's clean-traffic filter:
//   set ports   { ifname }                              this daemon's container ports
//   set senders { ifname . ether_addr . ipv4_addr }     the one MAC and address of each
//   chain prerouting  filter/-300 (before the bridge learns the source MAC, and before
//                     br_netfilter hands IPv4 to the ip hooks):
//                     ports of other bridges and daemons: accept (untouched);
//                     anything but IPv4 and ARP: drop. tdock has no IPv6 (Docker 26+ turns
//                     it off in containers on IPv4-only networks), and a VLAN tag would
//                     hide an ARP or IPv4 packet from the checks below while the host's
//                     kernel still takes it (it strips a priority tag, VLAN id 0);
//                     ARP: Ethernet source and sender MAC, and sender IP, must be the port's;
//                     IPv4: Ethernet source and IP source must be the port's.
//   (nft reads the ARP sender fields at the offsets of Ethernet/IPv4 ARP, the only kind
//   Linux takes on an Ethernet device: it drops any other address length itself.)
//   The set of ports rather than the bridge's name (`meta ibrname`) scopes the chain:
//   this kernel is built without nft's bridge meta keys. A container's elements are in
//   place before it gets START (attach waits for them), so no container runs unfiltered.
//
// A container's published ports and its two port elements are added in one transaction
// (addContainerScript) and removed in one (removeContainerScript), never rewriting a
// table. Deleting is made idempotent by adding the same elements first in the same
// transaction (adding an identical element is a no-op; nft 1.0.6 has no `destroy`).
// Daemon start replaces both tables atomically (`table T {}; delete table T; table T {...}`
// in one transaction) with the elements of the containers the database says are running.
//
// FORWARD DROP. Every netfilter base chain on a hook must accept a packet for it to pass:
// an accept in our table cannot override a DROP policy of another table's forward chain.
// Docker sets `iptables -P FORWARD DROP` (filter table). Like Docker, when (and only
// when) the host's iptables filter FORWARD policy is DROP at daemon start, we insert
// tagged accept rules for our bridge at the top of that chain:
//   -I FORWARD -i BR -j ACCEPT                                         (from containers)
//   -I FORWARD -o BR -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT (replies)
//   -I FORWARD -o BR -m conntrack --ctstate DNAT -j ACCEPT             (published ports)
// each with `-m comment --comment tdock:BR`, skipping ones already there. At clean
// shutdown (no container running) we delete exactly the rules carrying that comment
// (found with `iptables -S FORWARD`). The policy is read only at daemon start: a DROP set
// later (Docker started after tdockd) needs a tdockd restart. Other tables with their own
// forward chains (firewalld, Docker's nftables backend) are not touched.
import { must } from './exec.ts';
import { realNetSystem, type NetSystem } from './system.ts';
import type { PortSpec } from '../../lib/ports.ts';

export interface FirewallConfig { table: string; bridge: string; subnet: string }
/** What the firewall knows of a running container: its port (veth host end), addresses, published ports. */
export interface Endpoint { veth: string; mac: string; ip: string; ports: PortSpec[] }

const ANY = '0.0.0.0';

/** The element text of one published port: `[hostIp . ]proto . hostPort : ip . containerPort`. */
export function portElement(ip: string, p: PortSpec): { map: 'ports_any' | 'ports_ip'; element: string } {
  const value = `${p.protocol} . ${p.hostPort} : ${ip} . ${p.containerPort}`;
  return p.hostIp === ANY ? { map: 'ports_any', element: value } : { map: 'ports_ip', element: `${p.hostIp} . ${value}` };
}

function portLines(verb: 'add' | 'delete', table: string, ip: string, ports: PortSpec[]): string[] {
  const by = new Map<string, string[]>();
  for (const p of ports) {
    const e = portElement(ip, p);
    by.set(e.map, [...(by.get(e.map) ?? []), e.element]);
  }
  return [...by].map(([map, els]) => `${verb} element ip ${table} ${map} { ${els.join(', ')} }`);
}

/** The port's elements in the bridge table: its name, and the only MAC and IPv4 address it may send from. */
function senderLines(verb: 'add' | 'delete', table: string, e: Endpoint): string[] {
  return [
    `${verb} element bridge ${table} ports { "${e.veth}" }`,
    `${verb} element bridge ${table} senders { "${e.veth}" . ${e.mac} . ${e.ip} }`,
  ];
}

function elementLines(verb: 'add' | 'delete', table: string, e: Endpoint): string[] {
  return [...senderLines(verb, table, e), ...portLines(verb, table, e.ip, e.ports)];
}

/** Replaces both tables atomically, with the elements of the running containers. */
export function tableScript(cfg: FirewallConfig, running: Endpoint[]): string {
  const { table: t, bridge: br, subnet: net } = cfg;
  const lines = [
    `table ip ${t} {}`,
    `delete table ip ${t}`,
    `table bridge ${t} {}`,
    `delete table bridge ${t}`,
    `table ip ${t} {`,
    `\tcomment "managed by tdockd (bridge ${br}): do not edit"`,
    `\tchain raw {`,
    `\t\ttype filter hook prerouting priority raw; policy accept;`,
    `\t\tiifname "${br}" ip daddr 127.0.0.0/8 drop`,
    `\t}`,
    `\tmap ports_ip {`,
    `\t\ttype ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service`,
    `\t}`,
    `\tmap ports_any {`,
    `\t\ttype inet_proto . inet_service : ipv4_addr . inet_service`,
    `\t}`,
    `\tchain published {`,
    `\t\tmeta l4proto { tcp, udp } dnat to ip daddr . meta l4proto . th dport map @ports_ip`,
    `\t\tmeta l4proto { tcp, udp } dnat to meta l4proto . th dport map @ports_any`,
    `\t}`,
    `\tchain prerouting {`,
    `\t\ttype nat hook prerouting priority dstnat; policy accept;`,
    `\t\tfib daddr type local jump published`,
    `\t}`,
    `\tchain output {`,
    `\t\ttype nat hook output priority -100; policy accept;`,
    `\t\tfib daddr type local jump published`,
    `\t}`,
    `\tchain postrouting {`,
    `\t\ttype nat hook postrouting priority srcnat; policy accept;`,
    `\t\tip saddr 127.0.0.0/8 oifname "${br}" masquerade`,
    `\t\tip saddr ${net} ip daddr ${net} ct status dnat masquerade`,
    `\t\tip saddr ${net} oifname != "${br}" masquerade`,
    `\t}`,
    `\tchain forward {`,
    `\t\ttype filter hook forward priority filter; policy accept;`,
    `\t\toifname "${br}" ct state established,related accept`,
    `\t\toifname "${br}" ct status dnat accept`,
    `\t\tiifname "${br}" accept`,
    `\t\toifname "${br}" drop`,
    `\t}`,
    `}`,
    `table bridge ${t} {`,
    `\tcomment "managed by tdockd (bridge ${br}): do not edit"`,
    `\tset ports {`,
    `\t\ttype ifname`,
    `\t}`,
    `\tset senders {`,
    `\t\ttype ifname . ether_addr . ipv4_addr`,
    `\t}`,
    `\tchain prerouting {`,
    `\t\ttype filter hook prerouting priority -300; policy accept;`,
    `\t\tiifname != @ports accept`,
    `\t\tether type != { arp, ip } drop`,
    `\t\tether type arp iifname . ether saddr . arp saddr ip != @senders drop`,
    `\t\tether type arp iifname . arp saddr ether . arp saddr ip != @senders drop`,
    `\t\tether type ip iifname . ether saddr . ip saddr != @senders drop`,
    `\t}`,
    `}`,
  ];
  for (const c of running) lines.push(...elementLines('add', t, c));
  return lines.join('\n') + '\n';
}

/** A container's port filter and published ports: one transaction. */
export function addContainerScript(table: string, e: Endpoint): string {
  return elementLines('add', table, e).join('\n') + '\n';
}

/** Removes a container's elements; succeeds whether or not they are there (add, then delete). */
export function removeContainerScript(table: string, e: Endpoint): string {
  return [...elementLines('add', table, e), ...elementLines('delete', table, e)].join('\n') + '\n';
}

/** Deletes both tables; succeeds whether or not they exist. */
export function deleteTableScript(table: string): string {
  return `table ip ${table} {}\ndelete table ip ${table}\ntable bridge ${table} {}\ndelete table bridge ${table}\n`;
}

// ---- iptables FORWARD DROP --------------------------------------------------

export const forwardTag = (bridge: string) => `tdock:${bridge}`;

/** The accept rules (iptables arguments after the chain name) for a bridge. */
export function forwardRules(bridge: string): string[][] {
  const tag = ['-m', 'comment', '--comment', forwardTag(bridge)];
  return [
    ['-i', bridge, ...tag, '-j', 'ACCEPT'],
    ['-o', bridge, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', ...tag, '-j', 'ACCEPT'],
    ['-o', bridge, '-m', 'conntrack', '--ctstate', 'DNAT', ...tag, '-j', 'ACCEPT'],
  ];
}

/** The policy of the FORWARD chain in `iptables -S FORWARD` output ("ACCEPT", "DROP"...). */
export function forwardPolicy(listing: string): string | undefined {
  return /^-P FORWARD (\S+)/m.exec(listing)?.[1];
}

/** The rules of `iptables -S FORWARD` output tagged for this bridge, as arguments after the chain. */
export function taggedRules(listing: string, bridge: string): string[][] {
  const tag = forwardTag(bridge);
  return listing
    .split('\n')
    .filter((l) => l.startsWith('-A FORWARD '))
    .map((l) => l.slice('-A FORWARD '.length).split(' ').map((a) => a.replace(/^"(.*)"$/, '$1')))
    .filter((args) => args.some((a, i) => a === tag && args[i - 1] === '--comment'));
}

/**
 * Talks to nft and iptables. nft transactions run one at a time, in call order, so an
 * unpublish still in flight always commits before a later publish of the same key.
 */
export class Firewall {
  readonly cfg: FirewallConfig;
  /** Whether we inserted iptables FORWARD rules (the policy was DROP). */
  forwardRulesAdded = false;
  private queue: Promise<unknown> = Promise.resolve();

  private readonly sys: NetSystem;
  /** this.sys.run, bound: handed to the helpers in links.ts and exec.ts */
  private readonly run = (argv: string[], input?: string) => this.sys.run(argv, input);

  constructor(cfg: FirewallConfig, sys: NetSystem = realNetSystem) {
    this.cfg = cfg;
    this.sys = sys;
  }

  private nft<T>(f: () => Promise<T>): Promise<T> {
    const p = this.queue.then(f, f);
    this.queue = p.catch(() => {});
    return p;
  }

  replaceTable(running: Endpoint[]): Promise<void> {
    return this.nft(async () => {
      await must(this.run, ['nft', '-f', '-'], tableScript(this.cfg, running));
    });
  }

  addContainer(e: Endpoint): Promise<void> {
    const s = addContainerScript(this.cfg.table, e);
    return this.nft(async () => void (await must(this.run, ['nft', '-f', '-'], s)));
  }

  /**
   * Removes a container's elements; succeeds whether or not they (or the tables) are there.
   * Deleting elements costs the kernel an RCU grace period (8-25 ms measured here,
   * against ~2 ms for adding): callers need not wait for it, the queue keeps the order.
   */
  removeContainer(e: Endpoint): Promise<void> {
    const s = removeContainerScript(this.cfg.table, e);
    return this.nft(async () => {
      const r = await this.run(['nft', '-f', '-'], s);
      if (r.code !== 0 && !/No such file or directory/.test(r.stderr)) await must(this.run, ['nft', '-f', '-'], s);
    });
  }

  deleteTable(): Promise<void> {
    return this.nft(async () => void (await must(this.run, ['nft', '-f', '-'], deleteTableScript(this.cfg.table))));
  }

  /** Resolves when every queued nft transaction has run. */
  async idle(): Promise<void> {
    let q;
    do {
      q = this.queue;
      await q;
    } while (q !== this.queue);
  }

  /** When iptables' FORWARD policy is DROP, makes sure our accept rules are there. Returns the policy. */
  async ensureForward(log: (m: string) => void): Promise<string> {
    const r = await this.run(['iptables', '-w', '-S', 'FORWARD']).catch(() => undefined);
    if (!r || r.code !== 0) return 'unknown (no iptables)';
    const policy = forwardPolicy(r.stdout) ?? 'unknown';
    if (policy !== 'DROP') return policy;
    for (const rule of forwardRules(this.cfg.bridge).reverse()) {
      const present = (await this.run(['iptables', '-w', '-C', 'FORWARD', ...rule])).code === 0;
      if (!present) await must(this.run, ['iptables', '-w', '-I', 'FORWARD', ...rule]);
    }
    this.forwardRulesAdded = true;
    log(`iptables FORWARD policy is DROP: inserted accept rules for ${this.cfg.bridge} (comment ${forwardTag(this.cfg.bridge)})`);
    return policy;
  }

  /** Deletes every FORWARD rule tagged for our bridge (whoever inserted it). */
  async removeForward(): Promise<number> {
    const r = await this.run(['iptables', '-w', '-S', 'FORWARD']).catch(() => undefined);
    if (!r || r.code !== 0) return 0;
    const rules = taggedRules(r.stdout, this.cfg.bridge);
    for (const rule of rules) await this.run(['iptables', '-w', '-D', 'FORWARD', ...rule]);
    this.forwardRulesAdded = false;
    return rules.length;
  }
}
