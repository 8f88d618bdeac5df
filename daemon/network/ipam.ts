// IPv4 address management: CIDR math (pure) and the leases kept in SQLite.
//
// A subnet's first host address is the gateway (the bridge's own address), the network
// and broadcast addresses are never handed out, so a /29 holds 5 containers
// (.2-.6) and a /16 65533. Addresses are stored as unsigned 32-bit integers.
// The lowest free address is taken: no reuse while leased, and because the MAC is
// derived from the address (02:42:a.b.c.d, like Docker), a reused address keeps its
// MAC and no neighbour's ARP cache goes stale.
import type { Db } from '../store/db.ts';
import { EngineError, invalid } from '../errors.ts';

export interface Cidr {
  /** network address, uint32 */
  network: number;
  prefix: number;
  /** netmask, uint32 */
  mask: number;
}

export function parseIp(s: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s.trim());
  if (!m) return undefined;
  let n = 0;
  for (let i = 1; i <= 4; i++) {
    const o = Number(m[i]);
    if (o > 255 || (m[i]!.length > 1 && m[i]![0] === '0')) return undefined;
    n = n * 256 + o;
  }
  return n >>> 0;
}

export function formatIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** "10.89.0.0/16" → network/prefix/mask. Host bits are cleared. Needs room for a gateway and a host (≤ /30). */
export function parseCidr(s: string): Cidr {
  const m = /^([0-9.]+)\/(\d{1,2})$/.exec(s.trim());
  const ip = m ? parseIp(m[1]!) : undefined;
  const prefix = m ? Number(m[2]) : NaN;
  if (ip === undefined || !(prefix >= 1 && prefix <= 30)) {
    throw invalid(`invalid subnet "${s}": expected an IPv4 CIDR like 10.89.0.0/16 with a prefix of /1 to /30`);
  }
  const mask = maskOf(prefix);
  return { network: (ip & mask) >>> 0, prefix, mask };
}

export function formatCidr(c: Cidr): string {
  return `${formatIp(c.network)}/${c.prefix}`;
}

export function broadcast(c: Cidr): number {
  return (c.network | ~c.mask) >>> 0;
}

/** The first host address: the bridge's own address and the containers' default route. */
export function gateway(c: Cidr): number {
  return (c.network + 1) >>> 0;
}

export function contains(c: Cidr, ip: number): boolean {
  return ((ip & c.mask) >>> 0) === c.network;
}

/** First and last address a container can get (gateway, network and broadcast excluded). */
export function hostRange(c: Cidr): { first: number; last: number } {
  return { first: (gateway(c) + 1) >>> 0, last: (broadcast(c) - 1) >>> 0 };
}

/** The lowest address of the subnet's host range not in `used`, or undefined when all are taken. */
export function lowestFree(c: Cidr, used: ReadonlySet<number>): number | undefined {
  const { first, last } = hostRange(c);
  for (let ip = first; ip <= last; ip++) if (!used.has(ip)) return ip;
  return undefined;
}

/** Docker's rule: 02:42 followed by the four octets of the IPv4 address. */
export function macFor(ip: number): string {
  const o = [0x02, 0x42, ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255];
  return o.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

export interface Lease { containerId: string; ip: number }

/** Leases of one network (keyed by bridge name) in the net_leases table. */
export class Leases {
  private readonly db: Db;
  private readonly network: string;
  private readonly cidr: Cidr;
  private readonly stmts;

  constructor(db: Db, network: string, cidr: Cidr) {
    this.db = db;
    this.network = network;
    this.cidr = cidr;
    this.stmts = {
      used: db.prepare('SELECT addr FROM net_leases WHERE network = ?').pluck(),
      insert: db.prepare('INSERT INTO net_leases (network, addr, container_id, created) VALUES (?, ?, ?, ?)'),
      byContainer: db.prepare('SELECT addr FROM net_leases WHERE container_id = ? AND network = ?').pluck(),
      release: db.prepare('DELETE FROM net_leases WHERE container_id = ?'),
      all: db.prepare('SELECT container_id AS containerId, addr AS ip FROM net_leases WHERE network = ?'),
    };
  }

  /**
   * Allocates (or returns the existing) address of a container, never one leased or in
   * `alsoUsed`; RESOURCE_EXHAUSTED when none is free.
   */
  allocate(containerId: string, alsoUsed: Iterable<number> = []): number {
    return this.db.transaction(() => {
      const have = this.stmts.byContainer.get(containerId, this.network) as number | undefined;
      if (have !== undefined) return have;
      const used = new Set(this.stmts.used.all(this.network) as number[]);
      for (const ip of alsoUsed) used.add(ip);
      const ip = lowestFree(this.cidr, used);
      if (ip === undefined) {
        throw new EngineError('RESOURCE_EXHAUSTED',
          `no free IP address in ${formatCidr(this.cidr)} (network ${this.network}): remove a container or use a larger --subnet`);
      }
      this.stmts.insert.run(this.network, ip, containerId, Date.now());
      return ip;
    })();
  }

  get(containerId: string): number | undefined {
    return this.stmts.byContainer.get(containerId, this.network) as number | undefined;
  }

  release(containerId: string): void {
    this.stmts.release.run(containerId);
  }

  all(): Lease[] {
    return this.stmts.all.all(this.network) as Lease[];
  }
}
