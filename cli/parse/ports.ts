// -p/--publish, Docker's syntax:
//   CONTAINERPORT[/PROTO]                      random host port, every address
//   HOSTPORT:CONTAINERPORT[/PROTO]
//   HOSTIP:HOSTPORT:CONTAINERPORT[/PROTO]
//   HOSTIP::CONTAINERPORT[/PROTO]              random host port on HOSTIP
//   [IPV6]:HOSTPORT:CONTAINERPORT[/PROTO]
// Ranges (8000-8002:80-82) expand to one mapping per port; both sides must have
// the same length. PROTO is tcp (default) or udp.
import type { PortMapping } from '../../lib/ports.ts';

export class PortSpecError extends Error {}

function fail(spec: string, why: string): never {
  throw new PortSpecError(`invalid -p/--publish value "${spec}": ${why}`);
}

function parseRange(spec: string, s: string, what: string, allowZero: boolean): [number, number] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(s);
  if (!m) fail(spec, `${what} "${s}" is not a port number (1-65535) or range (8000-8010)`);
  const lo = Number(m[1]);
  const hi = m[2] === undefined ? lo : Number(m[2]);
  const min = allowZero ? 0 : 1;
  if (lo < min || lo > 65535 || hi < min || hi > 65535) fail(spec, `${what} ${s} is out of range (1-65535)`);
  if (hi < lo) fail(spec, `${what} range ${s} ends before it starts`);
  return [lo, hi];
}

function isIPv4(s: string): boolean {
  const parts = s.split('.');
  return parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
}

function isIPv6(s: string): boolean {
  return /^[0-9a-fA-F:.]+$/.test(s) && s.includes(':');
}

export function parsePublish(spec: string): PortMapping[] {
  const raw = spec.trim();
  if (raw === '') fail(spec, 'empty');
  let body = raw;
  let protocol = 'tcp';
  const slash = raw.lastIndexOf('/');
  if (slash !== -1) {
    protocol = raw.slice(slash + 1).toLowerCase();
    body = raw.slice(0, slash);
    if (protocol !== 'tcp' && protocol !== 'udp') fail(spec, `protocol "${raw.slice(slash + 1)}" is not tcp or udp`);
  }
  let hostIp = '';
  let hostPart = '';
  let containerPart: string;
  if (body.startsWith('[')) {
    const close = body.indexOf(']');
    if (close === -1) fail(spec, 'missing "]" after the IPv6 address');
    hostIp = body.slice(1, close);
    if (!isIPv6(hostIp)) fail(spec, `"${hostIp}" is not an IPv6 address`);
    const tail = body.slice(close + 1);
    const m = /^:([^:]*):([^:]+)$/.exec(tail);
    if (!m) fail(spec, 'expected [IPV6]:HOSTPORT:CONTAINERPORT');
    hostPart = m[1]!;
    containerPart = m[2]!;
  } else {
    const parts = body.split(':');
    if (parts.length === 1) containerPart = parts[0]!;
    else if (parts.length === 2) [hostPart, containerPart] = parts as [string, string];
    else if (parts.length === 3) [hostIp, hostPart, containerPart] = parts as [string, string, string];
    else fail(spec, 'expected [HOSTIP:][HOSTPORT:]CONTAINERPORT[/PROTO]');
    if (parts.length === 3 && !isIPv4(hostIp)) fail(spec, `"${hostIp}" is not an IPv4 address (write IPv6 as [::1])`);
  }
  if (containerPart === '') fail(spec, 'no container port');
  const [cLo, cHi] = parseRange(spec, containerPart, 'container port', false);
  let hLo = 0;
  let hHi = 0;
  if (hostPart !== '') {
    [hLo, hHi] = parseRange(spec, hostPart, 'host port', true);
    if (hLo === 0 && hHi !== 0) fail(spec, 'host port range cannot start at 0');
  }
  const n = cHi - cLo + 1;
  if (hostPart !== '' && hLo !== 0 && hHi - hLo + 1 !== n) {
    fail(spec, `host port range ${hostPart} and container port range ${containerPart} differ in length`);
  }
  const out: PortMapping[] = [];
  for (let k = 0; k < n; k++) {
    out.push({ hostIp, hostPort: hLo === 0 ? 0 : hLo + k, containerPort: cLo + k, protocol });
  }
  return out;
}

/** Docker's rendering: 0.0.0.0:8080->80/tcp, or 80/tcp when not published. */
export function formatPort(p: PortMapping): string {
  const proto = p.protocol || 'tcp';
  if (!p.hostPort) return `${p.containerPort}/${proto}`;
  let ip = p.hostIp || '0.0.0.0';
  if (ip.includes(':')) ip = `[${ip}]`;
  return `${ip}:${p.hostPort}->${p.containerPort}/${proto}`;
}

export function formatPorts(ports: readonly PortMapping[]): string {
  return ports.map(formatPort).join(', ');
}
