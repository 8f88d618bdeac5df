// `tdock info`'s document: Docker's Info shape (the names `docker info --format` users
// know), plus a few tdock facts (Rootless, IDMappings, LogConfig, Network). Data only:
// the CLI renders it (cli/commands/info.ts).
import { statfsSync, readFileSync, writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { cpus, hostname, machine, release, totalmem } from 'node:os';
import type { IdMaps } from './runtime/idmap.ts';
import { logConfigView, type LogConfig } from '../proto/log-opt.ts';
import type { State } from './containers/repository.ts';

export interface InfoSources {
  /** this daemon's engine id (engineId()) */
  id: string;
  version: string;
  root: string;
  execRoot: string;
  socketPath: string;
  rootless: boolean;
  idMaps: IdMaps;
  cgroupVersion: number;
  cgroupParent: string;
  logDefaults: LogConfig;
  insecureRegistries: readonly string[];
  liveRestore: boolean;
  containerStates: () => State[];
  imageCount: () => number;
  /** the bridge network's facts (BridgeNetwork.info()), undefined without one (rootless) */
  network?: () => Record<string, unknown>;
  /** rootless: the user-mode network that carries egress and published ports */
  rootlessNetwork?: string;
  /** false: no cgroup to limit containers in (rootless without a delegated subtree) */
  limitsEnforced: boolean;
}

/** statfs f_type -> the name Docker shows as "Backing Filesystem". */
const FS_NAMES: Record<number, string> = {
  0xef53: 'extfs', 0x58465342: 'xfs', 0x9123683e: 'btrfs', 0x01021994: 'tmpfs', 0x794c7630: 'overlayfs', 0x2fc12fc1: 'zfs', 0xf2f52010: 'f2fs',
};

function backingFs(dir: string): string {
  try {
    const t = statfsSync(dir).type;
    return FS_NAMES[t] ?? `0x${t.toString(16)}`;
  } catch {
    return 'unknown';
  }
}

function osName(): string {
  try {
    const m = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(readFileSync('/etc/os-release', 'utf8'));
    if (m) return m[1]!;
  } catch {
    /* below */
  }
  return 'Linux';
}

/**
 * The daemon's ID in info (Docker's engine-id): a UUID made at the first start and kept
 * in --root, so it names this daemon across restarts. A full disk at the first start
 * leaves it empty rather than keeping the daemon from starting.
 */
export function engineId(root: string, log: (msg: string) => void): string {
  const file = join(root, 'engine-id');
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    /* first start */
  }
  const id = randomUUID();
  try {
    writeFileSync(file, `${id}\n`, { mode: 0o644, flag: 'wx' });
    return id;
  } catch (e) {
    log(`engine id: cannot write ${file}: ${(e as Error).message}`);
    return '';
  }
}

export function infoDocument(s: InfoSources): Record<string, unknown> {
  const states = s.containerStates();
  const count = (...which: State[]) => states.filter((st) => which.includes(st)).length;
  const net = s.network?.();
  const warnings: string[] = [];
  if (net && net.ipForward === false) warnings.push('WARNING: IPv4 forwarding is disabled');
  if (!s.limitsEnforced) warnings.push('WARNING: resource limits are not enforced: no delegated cgroup (memory, cpu and pids limits are ignored)');
  const security = ['name=seccomp,profile=default', 'name=userns', 'name=no-new-privileges', 'name=cgroupns'];
  if (s.rootless) security.push('name=rootless');
  const range = (m: { start: number; size: number }) => ({ Start: m.start, Size: m.size });
  return {
    ID: s.id,
    Containers: states.length,
    // Docker's state counter: a container waiting out a restart back-off is not running.
    ContainersRunning: count('running'),
    ContainersPaused: count('paused'),
    ContainersStopped: count('created', 'restarting', 'exited', 'dead'),
    Images: s.imageCount(),
    // Image layers unpacked once each, stacked as overlayfs lower dirs below each
    // container's upper dir: overlay2's model.
    Driver: 'overlay2',
    DriverStatus: [['Backing Filesystem', backingFs(s.root)], ['Supports d_type', 'true'], ['Using metacopy', 'false'], ['Native Overlay Diff', 'true']],
    // The monitor's own framed, rotated format (as in each container's HostConfig.LogConfig).
    LoggingDriver: logConfigView(s.logDefaults).Type,
    LogConfig: logConfigView(s.logDefaults),
    // tdock writes the cgroup files itself (below a systemd-delegated subtree when run by systemd).
    CgroupDriver: 'cgroupfs',
    CgroupVersion: String(s.cgroupVersion),
    CgroupParent: s.cgroupParent,
    FirewallBackend: { Driver: 'nftables', Info: net ? [['Table', String(net.table)]] : [] },
    Network: net ? { Bridge: net.bridge, Subnet: net.subnet, Gateway: net.gateway, ...net } : { Mode: 'loopback only (rootless)' },
    KernelVersion: release(),
    OperatingSystem: osName(),
    OSType: 'linux',
    Architecture: machine(),
    NCPU: cpus().length,
    MemTotal: totalmem(),
    Name: hostname(),
    ServerVersion: s.version,
    NodeVersion: process.version,
    DockerRootDir: s.root,
    ExecRoot: s.execRoot,
    Socket: `unix://${s.socketPath}`,
    DefaultRuntime: 'tdock-shim',
    Runtimes: { 'tdock-shim': { path: 'tdock-shim' } },
    InitBinary: 'tdock-shim',
    SecurityOptions: security,
    Rootless: s.rootless,
    ...(s.rootlessNetwork ? { RootlessNetwork: s.rootlessNetwork } : {}),
    LimitsEnforced: s.limitsEnforced,
    IDMappings: { Uid: range(s.idMaps.uid), Gid: range(s.idMaps.gid) },
    LiveRestoreEnabled: s.liveRestore,
    RegistryConfig: {
      // Loopback registries are spoken to over http without being listed (as Docker's 127.0.0.0/8).
      InsecureRegistryCIDRs: ['127.0.0.0/8', '::1/128'],
      IndexConfigs: Object.fromEntries([
        ['docker.io', { Name: 'docker.io', Mirrors: [], Secure: true, Official: true }],
        ...s.insecureRegistries.map((h) => [h, { Name: h, Mirrors: [], Secure: false, Official: false }]),
      ]),
      Mirrors: [],
    },
    IndexServerAddress: 'https://index.docker.io/v1/',
    Warnings: warnings,
  };
}
