// Flags shared by `run` and `create` (Docker's names), and the pure translation
// of parsed flags into a CreateRequest. Bad values -> UsageError (exit 125).
import { Flags } from './oclif.ts';
import type { CreateRequest } from '../proto/api.ts';
import type { PortMapping } from '../lib/ports.ts';
import { UsageError } from './errors.ts';
import { cpusFlag, envFlag, intFlag, memoryFlag, ValueError } from './parse/bytes.ts';
import { parsePublish, PortSpecError } from './parse/ports.ts';
import { parseSecurityOpts, SecurityOptError } from '../proto/security-opt.ts';
import { DEFAULT_LOG_CONFIG, LogOptError, parseLogOpts } from '../proto/log-opt.ts';
import { parseMountFlags } from './parse/mounts.ts';
import { labelList, parseKvFile } from './parse/kv-file.ts';
import { parseRestartPolicy, RestartPolicyError } from '../lib/restart-policy.ts';
import { healthFlags, healthRequest, type HealthFlagValues } from './health-flags.ts';

const many = { multiple: true, multipleNonGreedy: true } as const;

export const createFlags = {
  name: Flags.string({ summary: 'Assign a name to the container.' }),
  env: Flags.string({ char: 'e', summary: 'Set an environment variable (KEY=VALUE, or KEY to pass ours).', helpValue: 'KEY=VALUE', ...many }),
  workdir: Flags.string({ char: 'w', summary: 'Working directory inside the container.', helpValue: 'DIR' }),
  user: Flags.string({ char: 'u', summary: 'Username or UID[:GID].', helpValue: 'USER' }),
  hostname: Flags.string({ char: 'h', summary: 'Container host name.' }),
  entrypoint: Flags.string({ summary: 'Overwrite the image\'s ENTRYPOINT ("" clears it).', helpValue: 'CMD' }),
  network: Flags.string({ summary: 'Network: bridge (default), none or host.', aliases: ['net'], helpValue: 'NET' }),
  publish: Flags.string({
    char: 'p',
    summary: 'Publish a port: [HOSTIP:][HOSTPORT:]CONTAINERPORT[/tcp|/udp].',
    helpValue: 'PORT',
    ...many,
  }),
  dns: Flags.string({ summary: 'Custom DNS server.', helpValue: 'IP', ...many }),
  memory: Flags.string({ char: 'm', summary: 'Memory limit (64m, 1g, bytes).', helpValue: 'SIZE' }),
  'memory-swap': Flags.string({ summary: 'Memory plus swap limit (-1 = unlimited swap).', helpValue: 'SIZE' }),
  'pids-limit': Flags.string({ summary: 'Maximum number of processes (0 or -1 = unlimited).', helpValue: 'N' }),
  cpus: Flags.string({ summary: 'Number of CPUs (0.5, 2).', helpValue: 'N' }),
  interactive: Flags.boolean({ char: 'i', summary: 'Keep STDIN open.' }),
  tty: Flags.boolean({ char: 't', summary: 'Allocate a pseudo-TTY.' }),
  rm: Flags.boolean({ summary: 'Remove the container when it exits.' }),
  restart: Flags.string({
    summary: 'Restart policy when the container exits: no, on-failure[:MAX-RETRIES], always, unless-stopped.',
    helpValue: 'POLICY',
  }),
  'security-opt': Flags.string({
    summary: 'Security option: seccomp=unconfined (no seccomp filter), no-new-privileges (always on).',
    helpValue: 'OPT',
    ...many,
  }),
  'log-opt': Flags.string({
    summary: 'Log rotation: max-size=SIZE (10k, 10m, 1g; -1 = unbounded), max-file=N (files kept). Default: tdockd\'s.',
    helpValue: 'OPT',
    ...many,
  }),
  ...healthFlags,
  volume: Flags.string({ char: 'v', summary: 'Bind mount a host path (HOST:CTR[:ro]), mount a named volume (NAME:CTR[:ro]) or an anonymous one (CTR).', helpValue: 'SPEC', ...many }),
  mount: Flags.string({ summary: 'Attach a mount: type=bind|volume|tmpfs,source=...,target=...[,readonly][,tmpfs-size=...][,tmpfs-mode=...].', helpValue: 'SPEC', ...many }),
  tmpfs: Flags.string({ summary: 'Mount a tmpfs: PATH[:size=64m,mode=1777,...].', helpValue: 'PATH', ...many }),
  'read-only': Flags.boolean({ summary: 'Mount the container\'s root filesystem read-only (volumes, tmpfs and /dev/shm stay writable).' }),
  label: Flags.string({ char: 'l', summary: 'Set meta data on a container (KEY=VALUE).', helpValue: 'KEY=VALUE', ...many }),
  'label-file': Flags.string({ summary: 'Read in a line delimited file of labels.', helpValue: 'FILE', ...many }),
  'env-file': Flags.string({ summary: 'Read in a file of environment variables.', helpValue: 'FILE', ...many }),
  'stop-signal': Flags.string({ summary: 'Signal to stop the container (default: the image\'s, else SIGTERM).', helpValue: 'SIGNAL' }),
  'stop-timeout': Flags.integer({ summary: 'Timeout (in seconds) to stop a container (default 10).', helpValue: 'SECONDS' }),
};

export interface CreateFlagValues extends HealthFlagValues {
  name?: string;
  env?: string[];
  workdir?: string;
  user?: string;
  hostname?: string;
  entrypoint?: string;
  network?: string;
  publish?: string[];
  dns?: string[];
  memory?: string;
  'memory-swap'?: string;
  'pids-limit'?: string;
  cpus?: string;
  interactive?: boolean;
  tty?: boolean;
  rm?: boolean;
  restart?: string;
  'security-opt'?: string[];
  'log-opt'?: string[];
  volume?: string[];
  mount?: string[];
  tmpfs?: string[];
  'read-only'?: boolean;
  label?: string[];
  'label-file'?: string[];
  'env-file'?: string[];
  'stop-signal'?: string;
  'stop-timeout'?: number;
}

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** Pure: flags + IMAGE + COMMAND -> CreateRequest, or a UsageError naming the flag. */
export function buildCreateRequest(
  f: CreateFlagValues,
  image: string | undefined,
  cmd: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  cwd: string = process.cwd(),
): CreateRequest {
  if (!image) throw new UsageError('"run"/"create" requires at least 1 argument: IMAGE [COMMAND] [ARG...]');
  try {
    if (f.name !== undefined && !NAME_RE.test(f.name)) {
      throw new ValueError(`invalid value "${f.name}" for --name: use letters, digits, "_", "." and "-", starting with a letter or digit`);
    }
    if (f.workdir !== undefined && f.workdir !== '' && !f.workdir.startsWith('/')) {
      throw new ValueError(`invalid value "${f.workdir}" for -w/--workdir: it needs to be an absolute path`);
    }
    const network = f.network ?? '';
    if (network !== '' && !['bridge', 'none', 'host', 'default'].includes(network)) {
      throw new ValueError(`invalid value "${network}" for --network: expected bridge, none or host`);
    }
    const ports: PortMapping[] = [];
    for (const p of f.publish ?? []) ports.push(...parsePublish(p));
    if (ports.length > 0 && (network === 'none' || network === 'host')) {
      throw new ValueError(`-p/--publish cannot be used with --network ${network}`);
    }
    for (const d of f.dns ?? []) {
      const m = IPV4.exec(d);
      const ok = (m && m.slice(1).every((x) => Number(x) <= 255)) || /^[0-9a-fA-F:]+$/.test(d) && d.includes(':');
      if (!ok) throw new ValueError(`invalid value "${d}" for --dns: expected an IP address`);
    }
    const memory = f.memory !== undefined ? memoryFlag('-m/--memory', f.memory, false) : 0;
    const memorySwap = f['memory-swap'] !== undefined ? memoryFlag('--memory-swap', f['memory-swap'], true) : 0;
    if (memorySwap > 0 && memory === 0) throw new ValueError('--memory-swap needs -m/--memory as well');
    if (memorySwap > 0 && memorySwap < memory) {
      throw new ValueError('--memory-swap must be at least -m/--memory (it counts memory plus swap), or -1 for unlimited');
    }
    let pidsLimit = f['pids-limit'] !== undefined ? intFlag('--pids-limit', f['pids-limit'], -1) : 0;
    if (pidsLimit < 0) pidsLimit = 0;
    const cpus = f.cpus !== undefined ? cpusFlag(f.cpus) : 0;
    const securityOpt = [...(f['security-opt'] ?? [])];
    parseSecurityOpts(securityOpt);
    // Checked here against the usual defaults; the daemon applies its own.
    const logOpt = [...(f['log-opt'] ?? [])];
    parseLogOpts(logOpt, DEFAULT_LOG_CONFIG);
    const mounts = parseMountFlags(f, cwd);
    const restartPolicy = parseRestartPolicy(f.restart ?? '');
    if (restartPolicy.name !== 'no' && f.rm) throw new ValueError('Conflicting options: --restart and --rm');
    if (f['stop-timeout'] !== undefined && f['stop-timeout'] < 0) throw new ValueError(`invalid value "${f['stop-timeout']}" for --stop-timeout: expected seconds, 0 or more`);
    const hasResources = memory !== 0 || memorySwap !== 0 || pidsLimit !== 0 || cpus !== 0;
    return {
      image,
      name: f.name ?? '',
      cmd: [...cmd],
      entrypoint: f.entrypoint === undefined || f.entrypoint === '' ? [] : [f.entrypoint],
      entrypointSet: f.entrypoint !== undefined,
      // Docker's order: the files first, then -e (a later KEY wins in the daemon's merge).
      env: [...(f['env-file'] ?? []).flatMap((file) => parseKvFile(file, '--env-file', (k) => env[k])), ...envFlag(f.env ?? [], env)],
      workdir: f.workdir ?? '',
      user: f.user ?? '',
      hostname: f.hostname ?? '',
      tty: Boolean(f.tty),
      openStdin: Boolean(f.interactive),
      autoRemove: Boolean(f.rm),
      network: network === 'default' ? 'bridge' : network,
      ports,
      dns: [...(f.dns ?? [])],
      resources: hasResources ? { memory, memorySwap, pidsLimit, cpus } : null,
      pullMissing: true,
      securityOpt,
      logOpt,
      mounts,
      readOnly: Boolean(f['read-only']),
      restartPolicy,
      labels: labelList(f['label-file'] ?? [], f.label ?? []),
      stopSignal: f['stop-signal'] ?? '',
      stopTimeout: f['stop-timeout'] ?? 0,
      stopTimeoutSet: f['stop-timeout'] !== undefined,
      ...healthRequest(f),
    };
  } catch (e) {
    if (e instanceof ValueError || e instanceof PortSpecError || e instanceof SecurityOptError || e instanceof LogOptError || e instanceof RestartPolicyError) throw new UsageError(e.message);
    throw e;
  }
}
