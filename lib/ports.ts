// lib/: contracts that more than one of cli/, daemon/ and images/ depend on and that
// belong to none of them (types, errors, formatting shared by client and server).
// Nothing here does I/O or imports from those folders, so each can depend on lib/
// without depending on each other; proto/ stays the wire format alone.
//
// The published-port tuple, declared once: the CLI parses -p into it, the API carries
// it, the daemon checks it (daemon/containers/spec.ts) and network reserves and
// publishes it (daemon/network/ports.ts, firewall.ts).
import type { PortMapping } from '../proto/gen/tdock.ts';

/** A port as the API carries it (proto PortMapping): protocol as given, "" = tcp. */
export type { PortMapping };

export type Protocol = 'tcp' | 'udp';

/** A published port once checked by the daemon: the protocol is tcp or udp. */
export interface PortSpec extends PortMapping {
  protocol: Protocol;
}

/** What two published ports collide on (the container side does not matter). */
export type HostBinding = Pick<PortMapping, 'hostIp' | 'hostPort' | 'protocol'>;
