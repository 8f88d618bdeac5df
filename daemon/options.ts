// tdockd's command line. Every path and name that two daemons could fight over is
// an option, so test daemons run side by side with the system one.
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { DEFAULT_LOG_CONFIG, MAX_LOG_FILES, parseLogFiles, parseLogSize, type LogConfig } from '../proto/log-opt.ts';
import { DEFAULT_MAX_LAYER_SIZE } from '../images/store.ts';

export interface DaemonOptions {
  root: string;
  execRoot: string;
  host: string;           // unix:///path
  socketPath: string;     // derived from host
  bridge: string;
  subnet: string;
  cgroupParent: string;
  cgroupParentGiven: boolean; // false: the default, which a systemd service replaces
  nftTable: string;
  shim: string;           // path of tdock-shim
  catalog?: string;       // rootfs catalog: path or URL (default images/catalog.json)
  insecureRegistries: string[];
  /** bytes one image layer may unpack to (--max-layer-size) */
  maxLayerSize: number;
  debug: boolean;
  rootless: boolean;
  /** Log rotation of containers created without --log-opt (and of those created before it existed). */
  logDefaults: LogConfig;
  /** SIGTERM stops the running containers (each with its stop timeout) instead of leaving them running. */
  shutdownStopContainers: boolean;
  /** Seconds calls in progress at SIGTERM may take to finish (--shutdown-timeout, as Docker's flag: 15). */
  shutdownTimeout: number;
}

const USAGE = 'usage: tdockd [--root DIR] [--exec-root DIR] [--host unix:///PATH] [--bridge NAME] [--subnet CIDR] [--cgroup-parent PATH] [--nft-table NAME] [--catalog PATH|URL] [--insecure-registry HOST]... [--log-max-size SIZE] [--log-max-file N] [--max-layer-size SIZE] [--shutdown-stop-containers] [--shutdown-timeout SECONDS] [--debug]';

export function defaultOptions(env: NodeJS.ProcessEnv = process.env, uid = process.getuid?.() ?? 0): Omit<DaemonOptions, 'shim' | 'socketPath' | 'insecureRegistries' | 'catalog' | 'cgroupParentGiven' | 'logDefaults' | 'maxLayerSize' | 'shutdownStopContainers' | 'shutdownTimeout'> {
  // Inside the rootless launcher's namespaces the daemon is uid 0 but still the user's.
  const rootless = uid !== 0 || env.TDOCK_ROOTLESS_NS === '1';
  if (!rootless) {
    return {
      root: '/var/lib/tdock', execRoot: '/run/tdock', host: 'unix:///run/tdock/tdock.sock',
      bridge: 'tdock0', subnet: '10.89.0.0/16', cgroupParent: 'tdock', nftTable: 'tdock', debug: false, rootless,
    };
  }
  const runtime = env.XDG_RUNTIME_DIR || `/run/user/${env.TDOCK_ROOTLESS_UID ?? uid}`;
  const data = env.XDG_DATA_HOME || join(env.HOME || '/', '.local/share');
  return {
    root: join(data, 'tdock'), execRoot: join(runtime, 'tdock'), host: `unix://${join(runtime, 'tdock/tdock.sock')}`,
    bridge: 'tdock0', subnet: '10.89.0.0/16', cgroupParent: 'tdock', nftTable: 'tdock', debug: false, rootless,
  };
}

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };

/** A size flag: bytes, or a number with a binary unit: 16g, 16GiB, 512m, 1.5TiB. */
export function parseSize(flag: string, value: string): number {
  const m = /^(\d+(?:\.\d+)?) ?([bkmgt])?(?:i?b)?$/i.exec(value.trim());
  const n = m ? Math.floor(Number(m[1]) * SIZE_UNITS[(m[2] ?? '').toLowerCase()]!) : 0;
  if (!(n > 0) || !Number.isSafeInteger(n)) throw new Error(`${flag} "${value}" is not a size like 16GiB, 512m or a number of bytes`);
  return n;
}

export function socketPathOf(host: string): string {
  if (!host.startsWith('unix://')) throw new Error(`--host must be unix:///PATH, got "${host}"`);
  const p = host.slice('unix://'.length);
  if (!p.startsWith('/')) throw new Error(`--host must be an absolute unix socket path (unix:///PATH), got "${host}"`);
  return p;
}

export function parseDaemonArgs(argv: string[], shim: string): DaemonOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      root: { type: 'string' },
      'exec-root': { type: 'string' },
      host: { type: 'string', short: 'H' },
      bridge: { type: 'string' },
      subnet: { type: 'string' },
      'cgroup-parent': { type: 'string' },
      'nft-table': { type: 'string' },
      catalog: { type: 'string' },
      'insecure-registry': { type: 'string', multiple: true },
      'log-max-size': { type: 'string' },
      'log-max-file': { type: 'string' },
      'max-layer-size': { type: 'string' },
      'shutdown-stop-containers': { type: 'boolean' },
      'shutdown-timeout': { type: 'string' },
      debug: { type: 'boolean', short: 'D' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) throw new Error(USAGE);
  const d = defaultOptions();
  const host = values.host ?? d.host;
  const bridge = values.bridge ?? d.bridge;
  if (!/^[a-zA-Z0-9_.-]{1,15}$/.test(bridge)) throw new Error(`--bridge "${bridge}" is not a valid interface name (1-15 of a-z A-Z 0-9 _ . -)`);
  const subnet = values.subnet ?? d.subnet;
  if (!/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/.test(subnet)) throw new Error(`--subnet "${subnet}" is not an IPv4 CIDR like 10.89.0.0/16`);
  const cgroupParent = (values['cgroup-parent'] ?? d.cgroupParent).replace(/^\/+|\/+$/g, '');
  if (!cgroupParent || cgroupParent.split('/').some((c) => c === '..' || c === '.')) {
    throw new Error(`--cgroup-parent "${values['cgroup-parent']}" must be a relative cgroup path like tdock or tdock-test/a`);
  }
  // The firewall table defaults to the bridge's name, so a daemon with its own bridge
  // never shares a table with another one.
  const nftTable = values['nft-table'] ?? (values.bridge ? bridge.replace(/[^a-zA-Z0-9_]/g, '_') : d.nftTable);
  const logDefaults = logDefaultsOf(values['log-max-size'], values['log-max-file']);
  const shutdownTimeout = Number(values['shutdown-timeout'] ?? 15);
  if (!/^\d{1,4}$/.test(values['shutdown-timeout'] ?? '15')) throw new Error(`--shutdown-timeout "${values['shutdown-timeout']}" must be whole seconds, 0 to 9999`);
  return {
    root: values.root ?? d.root,
    execRoot: values['exec-root'] ?? d.execRoot,
    host,
    socketPath: socketPathOf(host),
    bridge,
    subnet,
    cgroupParent,
    cgroupParentGiven: values['cgroup-parent'] !== undefined,
    nftTable,
    shim,
    ...(values.catalog ? { catalog: values.catalog } : {}),
    insecureRegistries: values['insecure-registry'] ?? [],
    maxLayerSize: values['max-layer-size'] === undefined ? DEFAULT_MAX_LAYER_SIZE : parseSize('--max-layer-size', values['max-layer-size']),
    debug: values.debug ?? false,
    rootless: d.rootless,
    logDefaults,
    shutdownStopContainers: values['shutdown-stop-containers'] ?? false,
    shutdownTimeout,
  };
}

function logDefaultsOf(size: string | undefined, files: string | undefined): LogConfig {
  const maxSize = size === undefined ? DEFAULT_LOG_CONFIG.maxSize : parseLogSize(size);
  if (maxSize === undefined) throw new Error(`--log-max-size "${size}" is not a size such as 10k, 20m, 1g (0 or -1 = unbounded)`);
  const maxFile = files === undefined ? DEFAULT_LOG_CONFIG.maxFile : parseLogFiles(files);
  if (maxFile === undefined) throw new Error(`--log-max-file "${files}" must be an integer from 1 to ${MAX_LOG_FILES}`);
  return maxSize === 0 ? { maxSize: 0, maxFile: 1 } : { maxSize, maxFile };
}
