// Service clients for the CLI, built straight from tdock.proto with protobufjs.
// Same wire format and the same JS shapes as proto/api.ts's loadApi() (camelCase
// fields, longs as numbers, enums as strings, defaults filled in, oneofs named in
// `msg`), minus what @grpc/proto-loader adds for reflection (descriptor protos for
// every type), which cost the CLI ~10 ms per start for nothing.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import type { ApiPackage } from '../proto/api.ts';
import { PACKAGE, SERVICES } from '../proto/gen/tdock.ts';
import { CONVERSION } from '../proto/options.ts';

/** proto/options.ts's CONVERSION (proto/api.ts's too), as protobufjs's toObject takes it. */
const TO_OBJECT: protobuf.IConversionOptions = { longs: CONVERSION.longs, enums: CONVERSION.enums, defaults: CONVERSION.defaults, oneofs: CONVERSION.oneofs };

/** tdock.proto from the sources (cli/../proto) and from the bundle (dist/../proto). */
export function protoFile(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const p of [join(here, '..', 'proto', 'tdock.proto'), join(here, 'tdock.proto')]) {
    if (existsSync(p)) return p;
  }
  throw new Error(`tdock.proto not found near ${here}`);
}

function serializer(t: protobuf.Type) {
  return (arg: object): Buffer => {
    const b = t.encode(t.fromObject(arg)).finish();
    return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  };
}

function deserializer(t: protobuf.Type) {
  return (buf: Buffer): object => t.toObject(t.decode(buf), TO_OBJECT);
}

function lowerFirst(s: string): string {
  return s.charAt(0).toLowerCase() + s.slice(1);
}

let cached: ApiPackage | undefined;

/**
 * Every message type's generated code (protobufjs makes it on first use of a type):
 * the startup snapshot (cli/snapshot.ts) has it all made, and run once, at build time.
 */
function prepareAll(ns: protobuf.NamespaceBase): void {
  for (const o of ns.nestedArray) {
    if (o instanceof protobuf.Type) {
      o.setup();
      o.toObject(o.decode(o.encode(o.fromObject({})).finish()), TO_OBJECT);
    }
    if (o instanceof protobuf.Namespace || o instanceof protobuf.Type) prepareAll(o);
  }
}

export function loadServices(opts: { prepareAll?: boolean } = {}): ApiPackage {
  if (cached) return cached;
  const root = protobuf.parse(readFileSync(protoFile(), 'utf8'), { keepCase: CONVERSION.keepCase }).root;
  root.resolveAll();
  if (opts.prepareAll) prepareAll(root);
  const out: Record<string, grpc.ServiceClientConstructor> = {};
  for (const name of SERVICES) {
    const svc = root.lookupService(`${PACKAGE}.${name}`);
    const def: Record<string, grpc.MethodDefinition<object, object>> = {};
    for (const m of svc.methodsArray) {
      const req = m.resolvedRequestType!;
      const res = m.resolvedResponseType!;
      def[m.name] = {
        path: `/${PACKAGE}.${name}/${m.name}`,
        requestStream: Boolean(m.requestStream),
        responseStream: Boolean(m.responseStream),
        requestSerialize: serializer(req),
        requestDeserialize: deserializer(req),
        responseSerialize: serializer(res),
        responseDeserialize: deserializer(res),
        originalName: lowerFirst(m.name),
      };
    }
    out[name] = grpc.makeClientConstructor(def as grpc.ServiceDefinition, name);
  }
  cached = out as unknown as ApiPackage;
  return cached;
}
