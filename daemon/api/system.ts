import type * as grpc from '@grpc/grpc-js';
import { release, arch } from 'node:os';
import type { Empty, InfoResponse, VersionResponse } from '../../proto/api.ts';
import { unary } from './status.ts';

export const VERSION = '0.1.0';
export const API_VERSION = 'v1';

export function systemHandlers(info: () => Record<string, unknown>): grpc.UntypedServiceImplementation {
  return {
    Version: unary<Empty, VersionResponse>(async () => ({
      version: VERSION,
      apiVersion: API_VERSION,
      nodeVersion: process.version,
      os: 'linux',
      arch: arch(),
      kernel: release(),
    })),
    Info: unary<Empty, InfoResponse>(async () => ({ json: JSON.stringify(info()) })),
  };
}
