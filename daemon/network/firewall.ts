// The daemon's firewall: one nftables table (`ip <table>`, default `ip tdock`), changed
// only in atomic `nft -f -` transactions, plus — only when needed — a few tagged rules in
// iptables' filter FORWARD chain.
//
// Table layout (see tableScript for the exact text):
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
// A container's published ports are map elements: attach adds them and detach deletes
// them, each in one transaction, never rewriting the table. Deleting is made idempotent
// by adding the same elements first in the same transaction (adding an identical element
// is a no-op; nft 1.0.6 has no `destroy`). Daemon start replaces the whole table
// atomically (`table T {}; delete table T; table T {...}` in one transaction) with the
// elements of the containers the database says are running.
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
import { must, run } from './exec.ts';

export interface PortMapping { hostIp: string; hostPort: number; containerPort: number; protocol: 'tcp' | 'udp' }
export interface FirewallConfig { table: string; bridge: string; subnet: string }
export interface ContainerPorts { ip: string; ports: PortMapping[] }

const ANY = '0.0.0.0';

/** The element text of one published port: `[hostIp . ]proto . hostPort : ip . containerPort`. */
export function portElement(ip: string, p: PortMapping): { map: 'ports_any' | 'ports_ip'; element: string } {
  const value = `${p.protocol} . ${p.hostPort} : ${ip} . ${p.containerPort}`;
  return p.hostIp === ANY ? { map: 'ports_any', element: value } : { map: 'ports_ip', element: `${p.hostIp} . ${value}` };
}

function elementLines(verb: 'add' | 'delete', table: string, ip: string, ports: PortMapping[]): string[] {
  const by = new Map<string, string[]>();
  for (const p of ports) {
    const e = portElement(ip, p);
    by.set(e.map, [...(by.get(e.map) ?? []), e.element]);
  }
  return [...by].map(([map, els]) => `${verb} element ip ${table} ${map} { ${els.join(', ')} }`);
}

/** Replaces the whole table atomically, with the ports of the running containers. */
export function tableScript(cfg: FirewallConfig, running: ContainerPorts[]): string {
  const { table: t, bridge: br, subnet: net } = cfg;
  const lines = [
    `table ip ${t} {}`,
    `delete table ip ${t}`,
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
  ];
  for (const c of running) lines.push(...elementLines('add', t, c.ip, c.ports));
  return lines.join('\n') + '\n';
}

/** Publishes a container's ports: one transaction. Empty when there is nothing to add. */
export function addPortsScript(table: string, ip: string, ports: PortMapping[]): string {
  const l = elementLines('add', table, ip, ports);
  return l.length ? l.join('\n') + '\n' : '';
}

/** Unpublishes a container's ports; succeeds whether or not they are there (add, then delete). */
export function removePortsScript(table: string, ip: string, ports: PortMapping[]): string {
  const l = [...elementLines('add', table, ip, ports), ...elementLines('delete', table, ip, ports)];
  return l.length ? l.join('\n') + '\n' : '';
}

/** Deletes the table; succeeds whether or not it exists. */
export function deleteTableScript(table: string): string {
  return `table ip ${table} {}\ndelete table ip ${table}\n`;
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

  constructor(cfg: FirewallConfig) {
    this.cfg = cfg;
  }

  private nft<T>(f: () => Promise<T>): Promise<T> {
    const p = this.queue.then(f, f);
    this.queue = p.catch(() => {});
    return p;
  }

  replaceTable(running: ContainerPorts[]): Promise<void> {
    return this.nft(async () => {
      await must(['nft', '-f', '-'], tableScript(this.cfg, running));
    });
  }

  addPorts(ip: string, ports: PortMapping[]): Promise<void> {
    const s = addPortsScript(this.cfg.table, ip, ports);
    return s ? this.nft(async () => void (await must(['nft', '-f', '-'], s))) : Promise.resolve();
  }

  /**
   * Unpublishes; succeeds whether or not the elements (or the table) are there.
   * Deleting elements costs the kernel an RCU grace period (8-25 ms measured here,
   * against ~2 ms for adding): callers need not wait for it, the queue keeps the order.
   */
  removePorts(ip: string, ports: PortMapping[]): Promise<void> {
    const s = removePortsScript(this.cfg.table, ip, ports);
    if (!s) return Promise.resolve();
    return this.nft(async () => {
      const r = await run(['nft', '-f', '-'], s);
      if (r.code !== 0 && !/No such file or directory/.test(r.stderr)) await must(['nft', '-f', '-'], s);
    });
  }

  deleteTable(): Promise<void> {
    return this.nft(async () => void (await must(['nft', '-f', '-'], deleteTableScript(this.cfg.table))));
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
    const r = await run(['iptables', '-w', '-S', 'FORWARD']).catch(() => undefined);
    if (!r || r.code !== 0) return 'unknown (no iptables)';
    const policy = forwardPolicy(r.stdout) ?? 'unknown';
    if (policy !== 'DROP') return policy;
    for (const rule of forwardRules(this.cfg.bridge).reverse()) {
      const present = (await run(['iptables', '-w', '-C', 'FORWARD', ...rule])).code === 0;
      if (!present) await must(['iptables', '-w', '-I', 'FORWARD', ...rule]);
    }
    this.forwardRulesAdded = true;
    log(`iptables FORWARD policy is DROP: inserted accept rules for ${this.cfg.bridge} (comment ${forwardTag(this.cfg.bridge)})`);
    return policy;
  }

  /** Deletes every FORWARD rule tagged for our bridge (whoever inserted it). */
  async removeForward(): Promise<number> {
    const r = await run(['iptables', '-w', '-S', 'FORWARD']).catch(() => undefined);
    if (!r || r.code !== 0) return 0;
    const rules = taggedRules(r.stdout, this.cfg.bridge);
    for (const rule of rules) await run(['iptables', '-w', '-D', 'FORWARD', ...rule]);
    this.forwardRulesAdded = false;
    return rules.length;
  }
}
