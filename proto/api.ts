// Loads proto/tdock.proto for the daemon and re-exports the message types that
// scripts/proto-types.ts generates from it (proto/gen/tdock.ts), which the CLI uses
// too; both loaders convert with proto/options.ts's CONVERSION, which the types assume.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ServiceName } from './gen/tdock.ts';
import { CONVERSION } from './options.ts';

export const LOADER_OPTIONS: protoLoader.Options = { ...CONVERSION };

/** Finds tdock.proto both from the sources (proto/) and from the bundles (dist/). */
export function protoPath(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const p of [join(here, 'tdock.proto'), join(here, '..', 'proto', 'tdock.proto')]) {
    if (existsSync(p)) return p;
  }
  throw new Error(`tdock.proto not found near ${here}`);
}

export type ApiPackage = Record<ServiceName, grpc.ServiceClientConstructor>;

let cached: ApiPackage | undefined;

export function loadApi(): ApiPackage {
  if (cached) return cached;
  const def = protoLoader.loadSync(protoPath(), LOADER_OPTIONS);
  const pkg = grpc.loadPackageDefinition(def) as unknown as { tdock: { v1: ApiPackage } };
  cached = pkg.tdock.v1;
  return cached;
}

// ---- messages: generated from tdock.proto (scripts/proto-types.ts) ------------

export type * from './gen/tdock.ts';
/** The name of an output stream, as OutputFrame.stream carries it. */
export type { OutputFrame_Stream as StreamName } from './gen/tdock.ts';
