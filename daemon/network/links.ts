// Links and addresses, with as few spawns as possible.
//
// A container is wired with ONE process: `nsenter --net=NETNS ip -batch -`, where NETNS
// is the monitor's bind of the container's netns (made while init was its unreaped
// child): it names that namespace for good, where /proc/PID/ns/net would name whatever
// process holds the pid by then (init may have died and the pid been reused).
// From inside the container's netns, one RTM_NEWLINK creates the veth pair with the host
// end placed straight into the daemon's netns (`netns /proc/<daemon>/ns/net`), enslaved
// to the bridge (`master if<index>`: the bridge's name cannot be resolved from inside)
// and up; the peer, `eth0`, stays in the container's netns with its MAC and MTU. The
// same batch then sets the address, brings eth0 and lo up and adds the default route.
// (Host root may enter the netns although the container's user namespace owns it.)
import { CommandError, must, type Runner } from './exec.ts';

/** Host end of a container's veth: "td" + 10 hex of the id (interface names ≤ 15 chars). */
export function vethName(containerId: string): string {
  return `td${containerId.slice(0, 10)}`;
}

export const VETH_RE = /^td[0-9a-f]{10}$/;

export interface WireOptions {
  veth: string;
  /** pid of a process in the daemon's (host) netns: process.pid */
  hostPid: number;
  bridgeIndex: number;
  mtu: number;
  mac: string;
  ip: string;
  prefix: number;
  gateway: string;
}

/** The batch run inside the container's netns. */
export function wireBatch(o: WireOptions): string {
  return [
    `link add ${o.veth} netns /proc/${o.hostPid}/ns/net mtu ${o.mtu} master if${o.bridgeIndex} up type veth peer name eth0 address ${o.mac} mtu ${o.mtu}`,
    `link set lo up`,
    `addr add ${o.ip}/${o.prefix} brd + dev eth0`,
    `link set eth0 up`,
    `route add default via ${o.gateway} dev eth0`,
  ].join('\n') + '\n';
}

/** `ip -batch -` inside the netns bound at `netns` (setns fails on anything else). */
export function nsenterIp(netns: string): string[] {
  return ['nsenter', `--net=${netns}`, 'ip', '-batch', '-'];
}

export async function wire(run: Runner, netns: string, o: WireOptions): Promise<void> {
  const r = await run(nsenterIp(netns), wireBatch(o));
  if (r.code === 0) return;
  if (/File exists/.test(r.stderr)) {
    // A stale host end with our name (a crash between attach and detach): replace it.
    // Ids are unique in the digits the name uses (containers/names.ts), so it is ours.
    await run(['ip', 'link', 'del', o.veth]);
    await must(run, nsenterIp(netns), wireBatch(o));
    return;
  }
  throw new CommandError(`cannot wire the network namespace ${netns}: ip`, r);
}

/** Deletes host links; "already gone" is fine. One spawn. */
export async function deleteLinks(run: Runner, names: string[]): Promise<void> {
  if (!names.length) return;
  await run(['ip', '-force', '-batch', '-'], names.map((n) => `link del ${n}`).join('\n') + '\n');
}
