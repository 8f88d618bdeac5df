// What the engine and the network module agree on, with nothing of either: the
// network sees a container as the few fields it wires (not the engine's ContainerRow
// or repository), so it depends on this file and lib/ only, and the engine is free to
// change its records (its ContainerRow satisfies NetworkedContainer).
import type { PortSpec } from '../../lib/ports.ts';
import type { Mount } from './files.ts';

export type NetworkMode = 'bridge' | 'none' | 'host';

/** The part of a container the network reads. */
export interface NetworkedContainer {
  id: string;
  name: string;
  /** init's pid while it runs, 0 otherwise */
  pid: number;
  /** the bind of its network namespace while it runs (inspect's SandboxKey, as Docker's /var/run/docker/netns/ID) */
  netns?: string;
  spec: { network: NetworkMode; hostname: string; dns: string[]; ports: PortSpec[] };
}

/**
 * Per-container networking (bridge, veth, IPAM, NAT, /etc files). Absent = every
 * container gets loopback only. Implemented in daemon/network/.
 */
export interface NetworkHooks {
  /**
   * Before the monitor starts: allocate the address and host ports, check conflicts,
   * write hostname/hosts/resolv.conf into `bundleDir`; returns the bind mounts for
   * them. Throws an EngineError (ALREADY_EXISTS, RESOURCE_EXHAUSTED...) and leaves
   * nothing allocated when it cannot.
   */
  prepare(c: NetworkedContainer, bundleDir: string): Promise<Mount[]>;
  /**
   * Between the monitor's "ok" and START: wire the network namespace bound at `netns`
   * (veth, address, route, NAT). A path, never a pid: the monitor's bind names the
   * container's netns even if init died and its pid went to another process.
   */
  attach(c: NetworkedContainer, netns: string): Promise<void>;
  /** Idempotent: undo attach and prepare (rules, veth, lease). */
  detach(c: NetworkedContainer): Promise<void>;
  /** Published ports with the host ports actually bound (random ones resolved). */
  ports(c: NetworkedContainer): PortSpec[];
  /** Docker's NetworkSettings for inspect. */
  inspect(c: NetworkedContainer): Record<string, unknown>;
}
