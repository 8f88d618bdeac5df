import type * as grpc from '@grpc/grpc-js';
import { release, arch } from 'node:os';
import type { ContainerPruneResponse, DiskUsageResponse, Empty, InfoResponse, VersionResponse } from '../../proto/api.ts';
import type { DiskUsage } from '../disk-usage.ts';
import { unary } from './status.ts';
import { eventsHandler } from './events.ts';
import { nowNs, type EventBus } from '../events/bus.ts';

export const VERSION = '0.1.0';

/** Node's arch names in Docker's (GOARCH) spelling. */
export function goArch(nodeArch: string): string {
  return ({ x64: 'amd64', ia32: '386', arm: 'arm', arm64: 'arm64', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' } as Record<string, string>)[nodeArch] ?? nodeArch;
}
export const API_VERSION = 'v1';

export function systemHandlers(info: () => Record<string, unknown>, disk: DiskUsage, events: EventBus): grpc.UntypedServiceImplementation {
  return {
    Version: unary<Empty, VersionResponse>(async () => ({
      version: VERSION,
      apiVersion: API_VERSION,
      nodeVersion: process.version,
      os: 'linux',
      arch: goArch(arch()),
      kernel: release(),
    })),
    Info: unary<Empty, InfoResponse>(async () => ({ json: JSON.stringify(info()) })),
    DiskUsage: unary<Empty, DiskUsageResponse>(async () => disk.usage()),
    PruneContainers: unary<Empty, ContainerPruneResponse>(async () => disk.pruneContainers()),
    Events: eventsHandler(events, nowNs),
  };
}
