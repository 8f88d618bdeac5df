// Turns a create request plus the image's config into the container's spec: the
// pure part of `create`, kept free of I/O so it is unit-tested without root.
import { DEFAULT_PATH } from '../runtime/defaults.ts';
import { invalid } from '../errors.ts';
import { parseSecurityOpts, SecurityOptError, type SecurityOptions } from '../../proto/security-opt.ts';
import { DEFAULT_LOG_CONFIG, LogOptError, parseLogOpts, type LogConfig } from '../../proto/log-opt.ts';
import type { Limits } from '../cgroups/types.ts';
import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import { checkHostIp, isIPv4Address } from '../network/ports.ts';
import { checkExecSize } from './bounds.ts';
import { parseSignal } from './signals.ts';
import type { PortMapping, PortSpec } from '../../lib/ports.ts';
import { randomBytes } from 'node:crypto';
import { checkMounts, type MountInput, type MountPoint } from './mounts.ts';
import { checkRestartPolicy, RestartPolicyError, type RestartPolicy } from '../../lib/restart-policy.ts';
import { mergeHealthcheck, type HealthcheckConfig, type HealthFlags } from '../health/config.ts';

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
  /** --log-opt over the daemon's defaults at create (absent in containers created before it existed). */
  log?: LogConfig;
  /** -v, --mount, --tmpfs (absent in containers created before they existed) */
  mounts?: MountPoint[];
  /** --read-only */
  readonlyRootfs?: boolean;
  /** --restart (absent in containers created before it existed: "no"). */
  restartPolicy?: RestartPolicy;
  /** --health-* over the image's HEALTHCHECK (daemon/health/config.ts); absent: none. */
  healthcheck?: HealthcheckConfig;
  /** --label over the image's Labels (absent in containers created before labels existed). */
  labels?: Record<string, string>;
  /** --stop-timeout seconds: stop/restart without -t and a stopping shutdown wait this long; absent: 10. */
  stopTimeout?: number;
}

export interface ImageConfigLike {
  Env?: string[];
  Cmd?: string[] | null;
  Entrypoint?: string[] | null;
  WorkingDir?: string;
  User?: string;
  StopSignal?: string;
  Labels?: Record<string, string> | null;
  Healthcheck?: Partial<HealthcheckConfig> | null;
}

export interface CreateInput extends HealthFlags {
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
  ports: PortMapping[];
  dns: string[];
  resources: Limits;
  securityOpt: string[];
  /** --log-opt KEY=VALUE as given. */
  logOpt?: string[];
  /** -v, --mount, --tmpfs as the CLI parsed them */
  mounts?: MountInput[];
  /** --read-only */
  readOnly?: boolean;
  /** --restart as the API gave it (unset = no). */
  restartPolicy?: { name: string; maximumRetryCount: number } | null;
  /** --label K=V as given */
  labels?: string[];
  /** --stop-signal ("" = the image's) */
  stopSignal?: string;
  /** --stop-timeout seconds (undefined = unset) */
  stopTimeout?: number;
}

/** The image's labels, then --label (Docker's: the container's win). */
export function labelsOf(image: Record<string, string> | null | undefined, given: readonly string[]): Record<string, string> {
  const out: Record<string, string> = { ...(image ?? {}) };
  for (const kv of given) {
    const eq = kv.indexOf('=');
    const k = eq < 0 ? kv : kv.slice(0, eq);
    if (!k) throw invalid(`invalid label "${kv}": expected KEY=VALUE`);
    out[k] = eq < 0 ? '' : kv.slice(eq + 1);
  }
  return out;
}

/** --stop-timeout: whole seconds, 0 or more. */
export function stopTimeoutOf(v: number | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!Number.isSafeInteger(v) || v < 0) throw invalid(`invalid --stop-timeout ${v}: expected seconds, 0 or more`);
  return v;
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

/** What Create checks resource limits against. */
export interface HostFacts {
  /** CPUs this daemon may use (Docker's --cpus range ends there) */
  cpus: number;
}

/** Docker's smallest memory limit: below it a container cannot even start its init. */
export const MIN_MEMORY = 6 * 1024 * 1024;

/**
 * Resource limits as the API gave them, refused at create (not at start, with a
 * row and directories made) when Docker would refuse them, in Docker's words.
 * 0 means "no limit" for each; memorySwap -1 means unlimited swap, pidsLimit -1
 * (Docker's "unlimited") is taken as 0.
 */
export function checkResources(r: Limits, host: HostFacts): Limits {
  const out: Limits = {};
  const bytes = (v: number | undefined, what: string) => {
    if (v === undefined || v === 0) return undefined;
    if (!Number.isSafeInteger(v) || v < 0) throw invalid(`invalid ${what} ${v}: expected a number of bytes`);
    return v;
  };
  const memory = bytes(r.memory, 'memory limit');
  if (memory !== undefined) {
    if (memory < MIN_MEMORY) throw invalid('Minimum memory limit allowed is 6MB');
    out.memory = memory;
  }
  if (r.memorySwap !== undefined && r.memorySwap !== 0) {
    const swap = r.memorySwap === -1 ? -1 : bytes(r.memorySwap, 'memory+swap limit')!;
    if (memory === undefined) throw invalid('You should always set the Memory limit when using Memoryswap limit, see usage');
    if (swap !== -1 && swap < memory) throw invalid('Minimum memoryswap limit should be larger than memory limit, see usage');
    out.memorySwap = swap;
  }
  if (r.pidsLimit !== undefined && r.pidsLimit !== 0 && r.pidsLimit !== -1) {
    if (!Number.isSafeInteger(r.pidsLimit) || r.pidsLimit < 0) {
      throw invalid(`invalid pids limit ${r.pidsLimit}: expected a positive number of processes, or -1 for no limit`);
    }
    out.pidsLimit = r.pidsLimit;
  }
  if (r.cpus !== undefined && r.cpus !== 0) {
    const max = host.cpus.toFixed(2);
    if (!Number.isFinite(r.cpus) || r.cpus < 0.01 || r.cpus > host.cpus) {
      throw invalid(`Range of CPUs is from 0.01 to ${max}, as there are only ${host.cpus} CPUs available`);
    }
    out.cpus = r.cpus;
  }
  return out;
}

/** Text fields end up in C strings, files and argv: a NUL byte cannot be there. */
function checkNoNul(req: CreateInput): void {
  const fields: [string, readonly string[]][] = [
    ['command', req.cmd], ['entrypoint', req.entrypoint], ['environment', req.env], ['working directory', [req.workdir]],
    ['user', [req.user]], ['hostname', [req.hostname]], ['network', [req.network]], ['dns', req.dns],
    ['security option', req.securityOpt], ['published port address', req.ports.map((p) => p.hostIp)],
  ];
  for (const [what, values] of fields) {
    if (values.some((v) => v.includes('\0'))) throw invalid(`invalid ${what}: it contains a NUL byte`);
  }
}

export function buildSpec(
  req: CreateInput,
  image: ImageConfigLike,
  id: string,
  defaultNetwork: ContainerSpec['network'] = 'none',
  logDefaults: Readonly<LogConfig> = DEFAULT_LOG_CONFIG,
  host: HostFacts = { cpus: availableParallelism() },
): ContainerSpec {
  checkNoNul(req);
  const resources = checkResources(req.resources, host);
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
  const log = logConfig(req.logOpt, logDefaults);
  const mounts = checkMounts(req.mounts ?? [], () => randomBytes(32).toString('hex'));
  const restartPolicy = restartPolicyOf(req);
  const healthcheck = mergeHealthcheck(req, image.Healthcheck);
  const stopTimeout = stopTimeoutOf(req.stopTimeout);
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
    resources,
    stopSignal: req.stopSignal ? (parseSignal(req.stopSignal), req.stopSignal) : image.StopSignal || 'SIGTERM',
    labels: labelsOf(image.Labels, req.labels ?? []),
    ...(stopTimeout !== undefined ? { stopTimeout } : {}),
    securityOpt: req.securityOpt,
    log,
    mounts,
    readonlyRootfs: req.readOnly === true,
    restartPolicy,
    ...(healthcheck ? { healthcheck } : {}),
  };
}

/** --restart checked like Docker's daemon; a bad one is INVALID_ARGUMENT naming what is wrong. */
export function restartPolicyOf(req: Pick<CreateInput, 'restartPolicy' | 'autoRemove'>): RestartPolicy {
  try {
    return checkRestartPolicy(req.restartPolicy ?? undefined, req.autoRemove);
  } catch (e) {
    if (e instanceof RestartPolicyError) throw invalid(e.message);
    throw e;
  }
}

/** --log-opt over the daemon's defaults; a bad value is INVALID_ARGUMENT naming the option. */
export function logConfig(opts: readonly string[] = [], defaults: Readonly<LogConfig> = DEFAULT_LOG_CONFIG): LogConfig {
  try {
    return parseLogOpts(opts, defaults);
  } catch (e) {
    if (e instanceof LogOptError) throw invalid(e.message);
    throw e;
  }
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
 * Resolves "", "uid", "uid:gid", "name", "name:group" against /etc/passwd and
 * /etc/group texts (the image's or the container's; either may be empty). The
 * messages are Docker's.
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
    if (!entry) throw invalid(`unable to find user ${u}: no matching entries in passwd file`);
    uid = Number(entry[2]);
    gid = Number(entry[3]);
  }
  if (g !== undefined && g !== '') {
    if (/^\d+$/.test(g)) gid = Number(g);
    else {
      const entry = gr.find((f) => f[0] === g);
      if (!entry) throw invalid(`unable to find group ${g}: no matching entries in group file`);
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

/**
 * The home directory of `user` (as given to -u) in the image's /etc/passwd, "/" when it
 * has no entry: what runc puts in HOME. A name picks its own entry; a number the first
 * entry with that uid.
 */
export function homeOf(user: string, uid: number, passwd: string): string {
  const name = user.split(':', 1)[0] ?? '';
  const pw = passwd.split('\n').map((l) => l.split(':')).filter((f) => f.length >= 6);
  const entry = name !== '' && !/^\d+$/.test(name) ? pw.find((f) => f[0] === name) : pw.find((f) => Number(f[2]) === uid);
  return entry?.[5] || '/';
}

/**
 * HOME is set when the process starts, for its user (Docker leaves it to runc): unless
 * -e or the image's Env set it, the user's home from the image. Not at create, where
 * the user of a later exec is unknown.
 */
export function withHome(env: string[], home: string): string[] {
  return env.some((e) => e.startsWith('HOME=')) ? env : [...env, `HOME=${home}`];
}
