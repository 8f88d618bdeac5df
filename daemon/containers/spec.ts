// Turns a create request plus the image's config into the container's spec: the
// pure part of `create`, kept free of I/O so it is unit-tested without root.
import { DEFAULT_PATH } from '../runtime/defaults.ts';
import { invalid } from '../errors.ts';
import { parseSecurityOpts, SecurityOptError, type SecurityOptions } from '../../proto/security-opt.ts';
import type { Limits } from '../cgroups/types.ts';
import { isIP } from 'node:net';
import { checkHostIp, isIPv4Address } from '../network/ports.ts';
import { checkExecSize } from './bounds.ts';

export interface PortSpec { hostIp: string; hostPort: number; containerPort: number; protocol: 'tcp' | 'udp' }

export interface ContainerSpec {
  entrypoint: string[];
  cmd: string[];
  args: string[];          // entrypoint + cmd: what runs
  env: string[];
  cwd: string;
  user: string;            // as given; resolved to ids at start
  hostname: string;
  tty: boolean;
  openStdin: boolean;
  autoRemove: boolean;
  network: 'bridge' | 'none' | 'host';
  ports: PortSpec[];
  dns: string[];
  resources: Limits;
  stopSignal: string;
  /** --security-opt as given (absent in containers created before it existed). */
  securityOpt?: string[];
}

export interface ImageConfigLike {
  Env?: string[];
  Cmd?: string[] | null;
  Entrypoint?: string[] | null;
  WorkingDir?: string;
  User?: string;
  StopSignal?: string;
}

export interface CreateInput {
  cmd: string[];
  entrypoint: string[];
  entrypointSet: boolean;
  env: string[];
  workdir: string;
  user: string;
  hostname: string;
  tty: boolean;
  openStdin: boolean;
  autoRemove: boolean;
  network: string;
  ports: { hostIp: string; hostPort: number; containerPort: number; protocol: string }[];
  dns: string[];
  resources: Limits;
  securityOpt: string[];
}

/** Later entries win, keyed by the name before "="; order of first appearance kept. */
export function mergeEnv(...lists: string[][]): string[] {
  const map = new Map<string, string>();
  for (const list of lists) {
    for (const kv of list) {
      const eq = kv.indexOf('=');
      const key = eq < 0 ? kv : kv.slice(0, eq);
      if (!key) throw invalid(`invalid environment variable "${kv}": expected KEY=VALUE`);
      if (eq < 0) continue; // "-e KEY" without a value: Docker takes the client's; the CLI resolves it
      map.set(key, kv);
    }
  }
  return [...map.values()];
}

export function buildSpec(req: CreateInput, image: ImageConfigLike, id: string, defaultNetwork: ContainerSpec['network'] = 'none'): ContainerSpec {
  const entrypoint = req.entrypointSet ? req.entrypoint : (image.Entrypoint ?? []);
  // Docker: a new entrypoint resets the image's Cmd.
  const cmd = req.cmd.length ? req.cmd : req.entrypointSet ? [] : (image.Cmd ?? []);
  const args = [...entrypoint, ...cmd];
  if (!args.length) throw invalid('no command specified: the image has no Cmd or Entrypoint; give one after the image name');
  const network = req.network || defaultNetwork;
  if (network !== 'bridge' && network !== 'none' && network !== 'host') {
    throw invalid(`unknown network "${network}": use bridge, none or host`);
  }
  const hostname = req.hostname || id.slice(0, 12);
  if (hostname.length > 63 || !/^[a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9])?$/.test(hostname)) {
    throw invalid(`invalid hostname "${hostname}": use letters, digits, "-" and ".", at most 63 characters`);
  }
  const base = [DEFAULT_PATH, `HOSTNAME=${hostname}`];
  if (req.tty) base.push('TERM=xterm');
  const env = mergeEnv(base, image.Env ?? [], req.env);
  if (!env.some((e) => e.startsWith('HOME='))) env.push('HOME=/root');
  // The image's Cmd and Env count too: the spec is stored, and exec would refuse more.
  checkExecSize(args, env, " (the image's included)");
  const cwd = req.workdir || image.WorkingDir || '/';
  if (!cwd.startsWith('/')) throw invalid(`the working directory "${cwd}" is invalid: it needs to be an absolute path`);
  const ports: PortSpec[] = req.ports.map((p) => {
    const protocol = (p.protocol || 'tcp').toLowerCase();
    if (protocol !== 'tcp' && protocol !== 'udp') throw invalid(`invalid protocol "${p.protocol}" in a published port: use tcp or udp`);
    if (!(p.containerPort >= 1 && p.containerPort <= 65535)) throw invalid(`invalid container port ${p.containerPort}: use 1-65535`);
    if (!(p.hostPort >= 0 && p.hostPort <= 65535)) throw invalid(`invalid host port ${p.hostPort}: use 1-65535`);
    const hostIp = p.hostIp || '0.0.0.0';
    checkHostIp(hostIp);
    return { hostIp, hostPort: p.hostPort, containerPort: p.containerPort, protocol };
  });
  // Written into the container's resolv.conf as they are: only plain addresses.
  for (const d of req.dns) {
    if (!isIPv4Address(d) && isIP(d) !== 6) throw invalid(`invalid --dns ${JSON.stringify(d)}: expected an IP address`);
  }
  if (ports.length && network !== 'bridge') throw invalid(`published ports need the bridge network (got --network ${network})`);
  securityOptions(req.securityOpt);
  return {
    entrypoint,
    cmd,
    args,
    env,
    cwd,
    user: req.user || image.User || '',
    hostname,
    tty: req.tty,
    openStdin: req.openStdin,
    autoRemove: req.autoRemove,
    network,
    ports,
    dns: req.dns,
    resources: req.resources,
    stopSignal: image.StopSignal || 'SIGTERM',
    securityOpt: req.securityOpt,
  };
}

/** --security-opt as what the shim gets; a bad value is INVALID_ARGUMENT naming the flag. */
export function securityOptions(securityOpt: readonly string[] = []): SecurityOptions {
  try {
    return parseSecurityOpts(securityOpt);
  } catch (e) {
    if (e instanceof SecurityOptError) throw invalid(e.message);
    throw e;
  }
}

export interface ResolvedUser { uid: number; gid: number; additionalGids: number[] }

/**
 * Resolves "", "uid", "uid:gid", "name", "name:group" against the image's
 * /etc/passwd and /etc/group texts (either may be empty).
 */
export function resolveUser(user: string, passwd: string, group: string): ResolvedUser {
  if (!user) user = '0';
  const [u, g] = user.split(':', 2) as [string, string | undefined];
  const pw = passwd.split('\n').map((l) => l.split(':')).filter((f) => f.length >= 4);
  const gr = group.split('\n').map((l) => l.split(':')).filter((f) => f.length >= 3);
  let uid: number;
  let gid: number;
  if (/^\d+$/.test(u)) {
    uid = Number(u);
    const entry = pw.find((f) => Number(f[2]) === uid);
    gid = entry ? Number(entry[3]) : 0;
  } else {
    const entry = pw.find((f) => f[0] === u);
    if (!entry) throw invalid(`unable to find user ${u}: no matching entries in the image's /etc/passwd`);
    uid = Number(entry[2]);
    gid = Number(entry[3]);
  }
  if (g !== undefined && g !== '') {
    if (/^\d+$/.test(g)) gid = Number(g);
    else {
      const entry = gr.find((f) => f[0] === g);
      if (!entry) throw invalid(`unable to find group ${g}: no matching entries in the image's /etc/group`);
      gid = Number(entry[2]);
    }
  }
  if (uid > 65535 || gid > 65535) throw invalid(`user ${user}: ids above 65535 are outside the container's id map`);
  const name = pw.find((f) => Number(f[2]) === uid)?.[0];
  const additionalGids = name
    ? gr.filter((f) => (f[3] ?? '').split(',').includes(name)).map((f) => Number(f[2])).filter((n) => n !== gid && n <= 65535)
    : [];
  return { uid, gid, additionalGids };
}
