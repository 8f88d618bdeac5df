// The CLI's connection to tdockd: one grpc-js channel over the unix socket shared
// by the three service clients, promisified unary calls, typed streams.
// Loaded lazily (dynamic import) by the commands, so --help/--version never pay
// for grpc-js and proto-loader.
import { statSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { loadServices } from './rpc.ts';
import type * as api from '../proto/api.ts';
import { ConnectionError, EXIT_PERMISSION, cannotConnect, permissionDenied } from './errors.ts';
import { grpcTarget, socketPath } from './host.ts';
import { mark } from './trace.ts';

type Req<T> = Partial<T>;
export interface CallOptions {
  /** milliseconds from now */
  timeoutMs?: number;
}

type Unary<Q, R> = (req: Req<Q>, opts?: CallOptions) => Promise<R>;

function unary<Q, R>(client: grpc.Client, method: string): Unary<Q, R> {
  const fn = (client as unknown as Record<string, Function>)[method]!;
  return (req, opts) =>
    new Promise<R>((resolve, reject) => {
      const options: grpc.CallOptions = {};
      if (opts?.timeoutMs) options.deadline = Date.now() + opts.timeoutMs;
      fn.call(client, req, new grpc.Metadata(), options, (err: grpc.ServiceError | null, res: R) => {
        mark(`${method} answered`);
        if (err) reject(err);
        else resolve(res);
      });
    });
}

function serverStream<Q, R>(client: grpc.Client, method: string) {
  const fn = (client as unknown as Record<string, Function>)[method]!;
  return (req: Req<Q>): grpc.ClientReadableStream<R> => fn.call(client, req);
}

function bidi<Q, R>(client: grpc.Client, method: string) {
  const fn = (client as unknown as Record<string, Function>)[method]!;
  return (): grpc.ClientDuplexStream<Q, R> => fn.call(client);
}

export function makeContainers(c: grpc.Client) {
  return {
    create: unary<api.CreateRequest, api.CreateResponse>(c, 'Create'),
    start: unary<api.ContainerRef, api.Empty>(c, 'Start'),
    stop: unary<api.StopRequest, api.Empty>(c, 'Stop'),
    restart: unary<api.RestartRequest, api.Empty>(c, 'Restart'),
    kill: unary<api.KillRequest, api.Empty>(c, 'Kill'),
    remove: unary<api.RemoveRequest, api.Empty>(c, 'Remove'),
    list: unary<api.ListRequest, api.ListResponse>(c, 'List'),
    inspect: unary<api.ContainerRef, api.InspectResponse>(c, 'Inspect'),
    wait: unary<api.ContainerRef, api.WaitResponse>(c, 'Wait'),
    logs: serverStream<api.LogsRequest, api.OutputFrame>(c, 'Logs'),
    attach: bidi<api.AttachInput, api.AttachOutput>(c, 'Attach'),
    exec: bidi<api.AttachInput, api.AttachOutput>(c, 'Exec'),
    stats: serverStream<api.StatsRequest, api.StatsFrame>(c, 'Stats'),
    top: unary<api.ContainerRef, api.TopResponse>(c, 'Top'),
    port: unary<api.ContainerRef, api.PortResponse>(c, 'Port'),
  };
}

export function makeImages(c: grpc.Client) {
  return {
    pull: serverStream<api.PullRequest, api.PullProgress>(c, 'Pull'),
    import: (): grpc.ClientDuplexStream<api.ImportChunk, api.PullProgress> =>
      (c as unknown as Record<string, Function>).Import!.call(c),
    list: unary<api.Empty, api.ImageListResponse>(c, 'List'),
    remove: unary<api.ImageRemoveRequest, api.ImageRemoveResponse>(c, 'Remove'),
    inspect: unary<api.ImageRef, api.InspectResponse>(c, 'Inspect'),
    prune: unary<api.ImagePruneRequest, api.ImagePruneResponse>(c, 'Prune'),
    login: unary<api.LoginRequest, api.LoginResponse>(c, 'Login'),
    logout: unary<api.LogoutRequest, api.LoginResponse>(c, 'Logout'),
    save: serverStream<api.SaveRequest, api.SaveChunk>(c, 'Save'),
    load: (): grpc.ClientDuplexStream<api.LoadChunk, api.PullProgress> =>
      (c as unknown as Record<string, Function>).Load!.call(c),
    push: serverStream<api.PushRequest, api.PullProgress>(c, 'Push'),
  };
}

export function makeSystem(c: grpc.Client) {
  return {
    version: unary<api.Empty, api.VersionResponse>(c, 'Version'),
    info: unary<api.Empty, api.InfoResponse>(c, 'Info'),
    diskUsage: unary<api.Empty, api.DiskUsageResponse>(c, 'DiskUsage'),
    pruneContainers: unary<api.Empty, api.ContainerPruneResponse>(c, 'PruneContainers'),
    events: serverStream<api.EventsRequest, api.Event>(c, 'Events'),
  };
}

export function makeVolumes(c: grpc.Client) {
  return {
    create: unary<api.VolumeCreateRequest, api.Volume>(c, 'Create'),
    list: unary<api.VolumeListRequest, api.VolumeListResponse>(c, 'List'),
    inspect: unary<api.VolumeRef, api.Volume>(c, 'Inspect'),
    remove: unary<api.VolumeRemoveRequest, api.Empty>(c, 'Remove'),
    prune: unary<api.VolumePruneRequest, api.VolumePruneResponse>(c, 'Prune'),
  };
}

export type VolumesApi = ReturnType<typeof makeVolumes>;

export function makeFiles(c: grpc.Client) {
  return {
    statPath: unary<api.PathStatRequest, api.PathStat>(c, 'StatPath'),
    copyFrom: serverStream<api.CopyFromRequest, api.DataChunk>(c, 'CopyFrom'),
    copyTo: (cb: (err: grpc.ServiceError | null, res?: api.CopyToResponse) => void): grpc.ClientWritableStream<api.CopyToChunk> =>
      (c as unknown as Record<string, Function>).CopyTo!.call(c, cb),
    diff: unary<api.ContainerRef, api.DiffResponse>(c, 'Diff'),
    export: serverStream<api.ContainerRef, api.DataChunk>(c, 'Export'),
  };
}

export function makeCommits(c: grpc.Client) {
  return {
    commit: unary<api.CommitRequest, api.CommitResponse>(c, 'Commit'),
    tag: unary<api.TagRequest, api.Empty>(c, 'Tag'),
    history: unary<api.ImageRef, api.HistoryResponse>(c, 'History'),
  };
}

export type FilesApi = ReturnType<typeof makeFiles>;
export type CommitsApi = ReturnType<typeof makeCommits>;
export type ContainersApi = ReturnType<typeof makeContainers>;
export type ImagesApi = ReturnType<typeof makeImages>;
export type SystemApi = ReturnType<typeof makeSystem>;

const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.max_receive_message_length': 64 * 1024 * 1024,
  'grpc.max_send_message_length': 64 * 1024 * 1024,
  'grpc.primary_user_agent': 'tdock-cli',
  'grpc.enable_retries': 0,
};

const BULK_WINDOW = 8 << 20;

export class Daemon {
  readonly host: string;
  readonly #ownConnection: boolean;
  #signals?: Daemon;
  #channel: grpc.Channel | undefined;
  #clients: grpc.Client[] = [];
  #containers?: ContainersApi;
  #images?: ImagesApi;
  #system?: SystemApi;
  #volumes?: VolumesApi;
  #files?: FilesApi;
  #commits?: CommitsApi;

  /** ownConnection: never share grpc-js's connection with the other clients of this process. */
  constructor(host: string, opts: { ownConnection?: boolean } = {}) {
    this.host = host;
    this.#ownConnection = opts.ownConnection ?? false;
  }

  #client(name: keyof api.ApiPackage, bulk = false): grpc.Client {
    const Ctor = loadServices()[name];
    mark('services loaded (proto parsed)');
    const opts: grpc.ClientOptions = { ...CHANNEL_OPTIONS };
    if (this.#ownConnection || bulk) opts['grpc.use_local_subchannel_pool'] = 1;
    // Bulk data (cp, export) on a connection of its own with a wide receive window:
    // HTTP/2's default 64 KiB makes the daemon wait for a window update every 64 KiB.
    if (bulk) opts['grpc-node.flow_control_window'] = BULK_WINDOW;
    else if (this.#channel) opts.channelOverride = this.#channel;
    const c = new Ctor(grpcTarget(this.host), grpc.credentials.createInsecure(), opts);
    if (!bulk) this.#channel ??= c.getChannel() as grpc.Channel;
    this.#clients.push(c);
    return c;
  }

  get containers(): ContainersApi {
    return (this.#containers ??= makeContainers(this.#client('Containers')));
  }
  get images(): ImagesApi {
    return (this.#images ??= makeImages(this.#client('Images')));
  }
  get system(): SystemApi {
    return (this.#system ??= makeSystem(this.#client('System')));
  }
  get volumes(): VolumesApi {
    return (this.#volumes ??= makeVolumes(this.#client('Volumes')));
  }
  get files(): FilesApi {
    return (this.#files ??= makeFiles(this.#client('Files', true)));
  }
  get commits(): CommitsApi {
    return (this.#commits ??= makeCommits(this.#client('Commits')));
  }
  /**
   * Container calls on a connection of their own, for signals proxied during an
   * attach: HTTP/2's flow-control window is per connection, so on the attach's
   * connection a Kill would wait behind the stdin the daemon has not taken yet.
   */
  get signals(): ContainersApi {
    return (this.#signals ??= new Daemon(this.host, { ownConnection: true })).containers;
  }

  close(): void {
    this.#signals?.close();
    for (const c of this.#clients) c.close();
    this.#clients = [];
    this.#channel = undefined;
  }
}

/**
 * Connects lazily (the first call opens the channel). A unix socket that does not
 * exist, or below a directory we may not enter, fails right here, without a network
 * round trip; a refused connection fails on the first call (grpc-js does not wait
 * for a server unless asked to).
 */
export function connect(host: string): Daemon {
  const path = socketPath(host);
  if (path !== undefined) {
    try {
      statSync(path);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw code === 'EACCES' || code === 'EPERM' ? new ConnectionError(permissionDenied(host), EXIT_PERMISSION) : new ConnectionError(cannotConnect(host));
    }
  }
  return new Daemon(host);
}
