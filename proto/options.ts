// How both loaders turn messages into JS objects (proto/api.ts's @grpc/proto-loader for
// the daemon, cli/rpc.ts's protobufjs for the CLI), and what the generated types
// (proto/gen/tdock.ts, scripts/proto-types.ts) assume: camelCase fields, longs as
// numbers, enums as their names, defaults filled in, oneofs named in `msg`. A module
// of its own, with no imports, so the CLI bundle gets it without @grpc/proto-loader.
export const CONVERSION = {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
} as const;
