// Loads proto/tdock.proto and gives both sides the same typed view of it.
// The message interfaces below mirror the .proto by hand (proto-loader options:
// camelCase fields, longs as numbers, enums as strings, defaults filled in,
// oneofs named in `msg`). A unit test checks that every field here exists there.
import { readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
};

/** Finds tdock.proto both from the sources (proto/) and from the bundles (dist/). */
export function protoPath(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const p of [join(here, 'tdock.proto'), join(here, '..', 'proto', 'tdock.proto')]) {
    if (existsSync(p)) return p;
  }
  throw new Error(`tdock.proto not found near ${here}`);
}

export interface ApiPackage {
  Containers: grpc.ServiceClientConstructor;
  Images: grpc.ServiceClientConstructor;
  System: grpc.ServiceClientConstructor;
}

let cached: ApiPackage | undefined;

export function loadApi(): ApiPackage {
  if (cached) return cached;
  const def = protoLoader.loadSync(protoPath(), LOADER_OPTIONS);
  const pkg = grpc.loadPackageDefinition(def) as unknown as { tdock: { v1: ApiPackage } };
  cached = pkg.tdock.v1;
  return cached;
}

export function protoSource(): string {
  return readFileSync(protoPath(), 'utf8');
}

// ---- messages -------------------------------------------------------------

export interface Empty {}
export interface ContainerRef { id: string }
export interface PortMapping { hostIp: string; hostPort: number; containerPort: number; protocol: string }
export interface Resources { memory: number; memorySwap: number; pidsLimit: number; cpus: number }

export interface CreateRequest {
  image: string;
  name: string;
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
  resources: Resources | null;
  pullMissing: boolean;
  securityOpt: string[];
  logOpt: string[];
}
export interface CreateResponse { id: string; name: string; warnings: string[] }
export interface StopRequest { id: string; timeout: number }
export interface KillRequest { id: string; signal: string }
export interface RemoveRequest { id: string; force: boolean }
export interface ListRequest { all: boolean }
export interface ContainerSummary {
  id: string;
  name: string;
  image: string;
  command: string;
  created: number;
  state: string;
  status: string;
  ports: PortMapping[];
  pid: number;
  exitCode: number;
  oomKilled: boolean;
}
export interface ListResponse { containers: ContainerSummary[] }
export interface InspectResponse { json: string }
export interface WaitResponse { exitCode: number; oomKilled: boolean; error: string }
export interface LogsRequest { id: string; follow: boolean; timestamps: boolean; tail: number; since: string; until: string }
export type StreamName = 'STDOUT' | 'STDERR';
export interface OutputFrame { stream: StreamName; data: Buffer; timeNs: number }
export interface TerminalSize { rows: number; cols: number }
export interface ExecSpec { cmd: string[]; env: string[]; user: string; workdir: string; tty: boolean; detach: boolean }
export interface AttachStart { id: string; stdin: boolean; size: TerminalSize | null; exec: ExecSpec | null }
export type AttachInput =
  | { start: AttachStart }
  | { stdin: Buffer }
  | { resize: TerminalSize }
  | { closeStdin: boolean };
export interface ExitStatus { exitCode: number; oomKilled: boolean; error: string }
export interface AttachOutput {
  msg?: 'output' | 'exit' | 'attached';
  output?: OutputFrame | null;
  exit?: ExitStatus | null;
  attached?: boolean;
}
export interface TopResponse { titles: string[]; processes: { cols: string[] }[] }
export interface PortResponse { ports: PortMapping[] }
export interface StatsRequest { ids: string[]; stream: boolean }
export interface ContainerStats {
  id: string; name: string; cpuPercent: number; memoryUsage: number; memoryLimit: number; pids: number;
}
export interface StatsFrame { stats: ContainerStats[] }

export interface ImageRef { ref: string }
export interface PullRequest { ref: string; platform: string }
export interface PullProgress { id: string; status: string; current: number; total: number; imageId: string }
export interface ImportStart { name: string; url: string; sha256: string }
export type ImportChunk = { start: ImportStart } | { data: Buffer };
export interface ImageSummary { id: string; repository: string; tag: string; created: number; size: number }
export interface ImageListResponse { images: ImageSummary[] }
export interface ImageRemoveRequest { ref: string; force: boolean }
export interface ImageRemoveResponse { untagged: string[]; deleted: string[] }
export interface ImagePruneResponse { deleted: string[]; reclaimed: number }
export interface LoginRequest { server: string; username: string; password: string }
export interface LogoutRequest { server: string }
export interface LoginResponse { server: string; status: string }
export interface VersionResponse {
  version: string; apiVersion: string; nodeVersion: string; os: string; arch: string; kernel: string;
}
export interface InfoResponse { json: string }
