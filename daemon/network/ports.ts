// Host ports of published container ports: the table in SQLite (no two containers of
// this daemon publish the same port) and a socket held open on each (like Docker's port
// reservation): the bind proves that no host process uses the port, and holding it
// keeps any from taking it later and being silently shadowed by the DNAT. The held
// sockets never see a packet: the DNAT rewrites every packet for a local address first.
// Host port 0 takes a port the kernel picks from net.ipv4.ip_local_port_range (Docker's
// ephemeral range idea).
import { createServer, type Server } from 'node:net';
import { createSocket, type Socket } from 'node:dgram';
import type { Db } from '../store/db.ts';
import { EngineError, invalid } from '../errors.ts';
import type { HostBinding, PortSpec, Protocol } from '../../lib/ports.ts';

export interface Held { close(): void; port: number }

interface PortRow extends PortSpec { containerId: string; name: string | null }

const ANY = '0.0.0.0';

const OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const IPV4 = new RegExp(`^${OCTET}(?:\\.${OCTET}){3}$`);

/** A dotted-quad IPv4 address: four decimal numbers 0-255 (no leading zeros, nothing around). */
export function isIPv4Address(s: string): boolean {
  return IPV4.test(s);
}

/** The published port's host IP is INVALID_ARGUMENT naming -p unless it is an IPv4 address. */
export function checkHostIp(hostIp: string): void {
  if (!isIPv4Address(hostIp)) throw invalid(`invalid host IP ${JSON.stringify(hostIp)} in -p: expected an IPv4 address`);
}

/** Whether two published ports collide: same protocol and port, and either is on every address or both on the same. */
export function collides(a: HostBinding, b: HostBinding): boolean {
  return a.protocol === b.protocol && a.hostPort === b.hostPort && (a.hostIp === b.hostIp || a.hostIp === ANY || b.hostIp === ANY);
}

export function inUseMessage(p: HostBinding, by: string): string {
  return `port ${p.hostPort}/${p.protocol} on ${p.hostIp} is already in use (${by}): choose another host port`;
}

/** Binds (and keeps) host port `port` (0: any free one) on `hostIp`. */
export function hold(hostIp: string, port: number, protocol: Protocol): Promise<Held> {
  return new Promise((resolve, reject) => {
    if (protocol === 'udp') {
      const s: Socket = createSocket({ type: 'udp4', reuseAddr: false });
      s.once('error', (e) => {
        s.close();
        reject(e);
      });
      s.bind({ address: hostIp, port, exclusive: true }, () => {
        s.removeAllListeners('error');
        s.on('error', () => {});
        s.unref();
        resolve({ port: s.address().port, close: () => s.close() });
      });
      return;
    }
    const srv: Server = createServer();
    srv.once('error', reject);
    srv.listen({ host: hostIp, port, exclusive: true, backlog: 1 }, () => {
      srv.removeAllListeners('error');
      srv.on('error', () => {});
      srv.on('connection', (c) => c.destroy());
      srv.unref();
      const a = srv.address();
      resolve({ port: typeof a === 'object' && a ? a.port : port, close: () => srv.close() });
    });
  });
}

export class PortTable {
  private readonly db: Db;
  private readonly stmts;
  /** container id → sockets held for its ports */
  private readonly held = new Map<string, Held[]>();

  constructor(db: Db) {
    this.db = db;
    this.stmts = {
      candidates: db.prepare(`SELECT p.container_id AS containerId, c.name AS name, p.host_ip AS hostIp, p.host_port AS hostPort,
        p.protocol AS protocol, p.container_port AS containerPort
        FROM net_ports p LEFT JOIN containers c ON c.id = p.container_id WHERE p.host_port = ? AND p.protocol = ?`),
      insert: db.prepare('INSERT INTO net_ports (container_id, host_ip, host_port, protocol, container_port) VALUES (?, ?, ?, ?, ?)'),
      of: db.prepare(`SELECT host_ip AS hostIp, host_port AS hostPort, protocol, container_port AS containerPort
        FROM net_ports WHERE container_id = ? ORDER BY rowid`),
      release: db.prepare('DELETE FROM net_ports WHERE container_id = ?'),
      containers: db.prepare('SELECT DISTINCT container_id FROM net_ports').pluck(),
    };
  }

  of(containerId: string): PortSpec[] {
    return this.stmts.of.all(containerId) as PortSpec[];
  }

  containers(): string[] {
    return this.stmts.containers.all() as string[];
  }

  /** The container of this daemon already publishing a colliding port, if any. */
  private owner(containerId: string, p: HostBinding): PortRow | undefined {
    const rows = this.stmts.candidates.all(p.hostPort, p.protocol) as PortRow[];
    return rows.find((r) => r.containerId !== containerId && collides(r, p));
  }

  /**
   * Resolves, checks and reserves all ports of a container, or none: on any error
   * nothing stays reserved. Conflicts are ALREADY_EXISTS naming the other container,
   * or "a host process".
   */
  async reserve(containerId: string, wanted: PortSpec[]): Promise<PortSpec[]> {
    this.release(containerId);
    const got: PortSpec[] = [];
    const sockets: Held[] = [];
    const stale: Held[] = [];
    try {
      for (const w of wanted) {
        checkHostIp(w.hostIp);
        const clash = got.find((g) => collides(g, w) && w.hostPort !== 0);
        if (clash) throw new EngineError('ALREADY_EXISTS', inUseMessage(w, 'twice by this container'));
        // Explicit ports: check this daemon's table first, so the message names the container.
        if (w.hostPort !== 0) {
          const o = this.owner(containerId, w);
          if (o) throw new EngineError('ALREADY_EXISTS', inUseMessage(w, `by container ${o.name ?? o.containerId.slice(0, 12)}`));
        }
        let h: Held | undefined;
        for (let attempt = 0; !h; attempt++) {
          try {
            h = await hold(w.hostIp, w.hostPort, w.protocol);
          } catch (e) {
            const code = (e as NodeJS.ErrnoException).code;
            if (code === 'EACCES') throw new EngineError('FAILED_PRECONDITION', `cannot bind host port ${w.hostPort}/${w.protocol} on ${w.hostIp}: permission denied`);
            if (code === 'EADDRINUSE') throw new EngineError('ALREADY_EXISTS', inUseMessage(w, 'by a host process'));
            if (code === 'EADDRNOTAVAIL') throw invalid(`cannot publish on ${w.hostIp}: it is not an address of this host`);
            throw e;
          }
          // A kernel-picked port may still be published by one of our containers whose
          // socket is not held (after a failed re-reservation): try another.
          const m = { ...w, hostPort: h.port };
          if (w.hostPort === 0 && (this.owner(containerId, m) || got.some((g) => collides(g, m)))) {
            if (attempt > 20) throw new EngineError('RESOURCE_EXHAUSTED', `no free host port for ${w.containerPort}/${w.protocol}`);
            stale.push(h); // keep it bound while picking the next one; closed below
            h = undefined;
          }
        }
        sockets.push(h);
        got.push({ ...w, hostPort: h.port });
      }
      // Synchronous: no other prepare can slip in between the checks above and this.
      this.db.transaction(() => {
        for (const p of got) {
          const o = this.owner(containerId, p);
          if (o) throw new EngineError('ALREADY_EXISTS', inUseMessage(p, `by container ${o.name ?? o.containerId.slice(0, 12)}`));
          this.stmts.insert.run(containerId, p.hostIp, p.hostPort, p.protocol, p.containerPort);
        }
      })();
    } catch (e) {
      for (const s of sockets) s.close();
      throw e;
    } finally {
      for (const s of stale) s.close();
    }
    this.held.set(containerId, sockets);
    return got;
  }

  /** After a daemon restart: hold the sockets of a running container's ports again (best effort). */
  async rehold(containerId: string, log: (m: string) => void): Promise<void> {
    const list: Held[] = [];
    for (const p of this.of(containerId)) {
      try {
        list.push(await hold(p.hostIp, p.hostPort, p.protocol));
      } catch (e) {
        log(`cannot hold host port ${p.hostIp}:${p.hostPort}/${p.protocol} of container ${containerId.slice(0, 12)}: ${(e as Error).message}`);
      }
    }
    this.held.set(containerId, list);
  }

  release(containerId: string): void {
    for (const s of this.held.get(containerId) ?? []) s.close();
    this.held.delete(containerId);
    this.stmts.release.run(containerId);
  }

  /** Closes every held socket (daemon shutdown); the table stays. */
  closeAll(): void {
    for (const l of this.held.values()) for (const s of l) s.close();
    this.held.clear();
  }
}
