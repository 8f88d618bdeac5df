// The engine's contracts with the rest of the daemon: what it needs from the image
// store and the network, how it is configured, and what it gives attached clients.
import type { ContainerRepository } from './repository.ts';
import type { NetworkHooks } from '../network/hooks.ts';
import type { BundleLayout } from './bundle.ts';
import type { ImageConfigLike } from './spec.ts';
import type { LogConfig } from '../../proto/log-opt.ts';
import type { IdMaps } from '../runtime/idmap.ts';
import type { CgroupDriver } from '../cgroups/index.ts';
import type { Host } from './host.ts';
import type { VolumeStore } from '../volumes/store.ts';
import type { RestartTimer } from './restart-policy.ts';
import type { EventSink } from '../events/types.ts';

/** What the engine needs from the image store. */
export interface ImageSource {
  /** Resolves a reference, pulling it when it is missing and pulling is possible. */
  ensure(ref: string): Promise<{ id: string; config: ImageConfigLike }>;
  layerDirs(imageId: string): string[];
}

export type { NetworkHooks };

export interface EngineOptions {
  root: string;
  execRoot: string;
  shim: string;
  idMaps: IdMaps;
  rootless: boolean;
  cgroups: CgroupDriver;
  images: ImageSource;
  network?: NetworkHooks;
  log?: (msg: string) => void;
  /** refuses to make something new on a nearly full disk (daemon/store/space.ts) */
  checkRoom?: (what: string) => void;
  /** Log rotation for containers created without --log-opt (default DEFAULT_LOG_CONFIG). */
  logDefaults?: LogConfig;
  /**
   * Set when limits cannot be applied (a rootless daemon without a delegated cgroup):
   * the user's name, for the warning each create with a limit gets.
   */
  limitsNotEnforcedFor?: string;
  /** The operating system as far as monitors go; unit tests pass a fake (default: the real one). */
  host?: Host;
  /** The restart policies' back-off timer; unit tests pass a fake (default: real timers). */
  restartTimer?: RestartTimer;
  /** Where container events go (daemon/events/); default: nowhere. */
  events?: EventSink;
}

export interface ExitInfo { exitCode: number; oomKilled: boolean; error: string }

export interface OutputSink {
  /** false: this client is behind; output pauses until its handle's drained() */
  output(stream: 1 | 2, data: Buffer): boolean | void;
  exit(info: ExitInfo): void;
}

export interface ExecRequest {
  cmd: string[];
  env: string[];
  user: string;
  workdir: string;
  tty: boolean;
  openStdin: boolean;
  /** the client's terminal size: the pty has it before the command runs */
  size?: { rows: number; cols: number };
}

/** What the engine's parts share: the rows, the options, the OS, the file layout. */
export interface EngineContext {
  readonly repo: ContainerRepository;
  readonly o: EngineOptions;
  readonly host: Host;
  readonly layout: BundleLayout;
  readonly log: (msg: string) => void;
  readonly events: EventSink;
  readonly volumes: VolumeStore;
  /** whether volumes are mounted idmapped (their data keeps the container's ids; volumes/store.ts) */
  readonly volumeIdmap: boolean;
}
