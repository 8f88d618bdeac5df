// Writes proto/gen/tdock.ts: the TypeScript shapes of tdock.proto's messages, as both
// loaders hand them to the code (proto/api.ts's @grpc/proto-loader for the daemon,
// cli/rpc.ts's protobufjs for the CLI; both convert with proto/options.ts's CONVERSION:
// camelCase fields, longs as numbers, enums as strings, defaults filled in, oneofs
// named in `msg`; the shapes below follow from those).
//
// Why a generator of our own rather than ts-proto or protoc-gen-es: those need protoc
// or a plugin runtime and emit codecs we do not use (the loaders already encode);
// protobufjs (a dependency of @grpc/proto-loader) parses the .proto here, so nothing
// new is installed. The output is committed (tsc and editors work on a fresh clone,
// before any build); scripts/build.mjs regenerates it and test/unit/proto-types.test.ts
// fails when the committed file and the .proto disagree.
//
//   node scripts/proto-types.ts           (re)write proto/gen/tdock.ts
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { CONVERSION } from '../proto/options.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const PROTO_FILE = join(root, 'proto', 'tdock.proto');
export const OUT_FILE = join(root, 'proto', 'gen', 'tdock.ts');

// Long values arrive as numbers (LOADER_OPTIONS.longs = Number).
const SCALARS: Record<string, string> = {
  double: 'number', float: 'number',
  int32: 'number', uint32: 'number', sint32: 'number', fixed32: 'number', sfixed32: 'number',
  int64: 'number', uint64: 'number', sint64: 'number', fixed64: 'number', sfixed64: 'number',
  bool: 'boolean', string: 'string', bytes: 'Buffer',
};

/** Nested types flatten into `Outer_Inner` (ts-proto's naming). */
function tsName(t: protobuf.ReflectionObject, pkg: protobuf.Namespace): string {
  const parts: string[] = [];
  for (let o: protobuf.ReflectionObject | null = t; o && o !== pkg; o = o.parent) parts.unshift(o.name);
  return parts.join('_');
}

function fieldType(f: protobuf.Field, pkg: protobuf.Namespace): string {
  if (f.map) throw new Error(`${f.fullName}: map fields are not supported by scripts/proto-types.ts`);
  let t: string;
  if (f.resolvedType) t = tsName(f.resolvedType, pkg);
  else if (SCALARS[f.type]) t = SCALARS[f.type]!;
  else throw new Error(`${f.fullName}: unknown type ${f.type}`);
  return f.repeated ? `${t}[]` : t;
}

/** The .proto's comment on `o` as a doc comment line above it ('' when none). */
function comment(o: protobuf.ReflectionObject, indent: string): string {
  return o.comment ? `${indent}/** ${o.comment.replace(/\s*\n\s*/g, ' ').replace(/\*\//g, '* /')} */\n` : '';
}

function message(t: protobuf.Type, pkg: protobuf.Namespace, out: string[]): void {
  const name = tsName(t, pkg);
  const plain = t.fieldsArray.filter((f) => !f.partOf);
  // Singular message fields are null when unset (defaults: true); oneof members are
  // absent unless set, and `msg` names the one that is (oneofs: true). Writers may
  // leave `msg` out: the encoders look at the member fields.
  const body = plain.map((f) => {
    const t = fieldType(f, pkg);
    return `${comment(f, '  ')}  ${f.name}: ${f.resolvedType instanceof protobuf.Type && !f.repeated ? `${t} | null` : t};`;
  });
  if (t.oneofsArray.length > 1) throw new Error(`${t.fullName}: more than one oneof is not supported`);
  const oneof = t.oneofsArray[0];
  if (!oneof) {
    out.push(body.length ? `export interface ${name} {\n${body.join('\n')}\n}` : `export interface ${name} {}`);
  } else {
    const members = oneof.fieldsArray;
    const base = body.length ? `${name}_Fields & ` : '';
    if (body.length) out.push(`interface ${name}_Fields {\n${body.join('\n')}\n}`);
    const alts = members.map((m) => {
      const others = members.filter((o) => o !== m).map((o) => `${o.name}?: undefined`);
      return `${comment(m, '  ')}  | (${base}{ ${oneof.name}?: '${m.name}'; ${m.name}: ${fieldType(m, pkg)}; ${others.join('; ')} })`;
    });
    out.push(`export type ${name} =\n${alts.join('\n')};`);
  }
}

function walk(ns: protobuf.NamespaceBase, pkg: protobuf.Namespace, out: string[]): void {
  for (const o of ns.nestedArray) {
    if (o instanceof protobuf.Type) {
      if (o.comment) out.push(comment(o, '').trimEnd());
      message(o, pkg, out);
    }
    else if (o instanceof protobuf.Enum) {
      out.push(`export type ${tsName(o, pkg)} = ${Object.keys(o.values).map((v) => `'${v}'`).join(' | ')};`);
    }
    if (o instanceof protobuf.Type) walk(o, pkg, out);
  }
}

/** The generated module's text for the .proto source `proto`. */
export function generateProtoTypes(proto: string): string {
  const parsed = protobuf.parse(proto, { keepCase: CONVERSION.keepCase, alternateCommentMode: true });
  parsed.root.resolveAll();
  const pkgName = parsed.package;
  if (!pkgName) throw new Error('tdock.proto has no package');
  const pkg = parsed.root.lookup(pkgName);
  if (!(pkg instanceof protobuf.Namespace)) throw new Error(`package ${pkgName} not found`);
  const out: string[] = [];
  walk(pkg, pkg, out);
  const services = pkg.nestedArray.filter((o): o is protobuf.Service => o instanceof protobuf.Service).map((s) => `'${s.name}'`);
  return [
    '// GENERATED by scripts/proto-types.ts from proto/tdock.proto: do not edit by hand.',
    '// Run `node scripts/proto-types.ts` (scripts/build.mjs does) after changing the .proto.',
    '/* eslint-disable */',
    '',
    `export const PACKAGE = '${pkgName}';`,
    `export type ServiceName = ${services.join(' | ')};`,
    `export const SERVICES: readonly ServiceName[] = [${services.join(', ')}];`,
    '',
    ...out,
    '',
  ].join('\n');
}

/** Writes OUT_FILE when its text changes (an unchanged file keeps its mtime). */
export function writeProtoTypes(protoFile = PROTO_FILE, outFile = OUT_FILE): boolean {
  const text = generateProtoTypes(readFileSync(protoFile, 'utf8'));
  if (existsSync(outFile) && readFileSync(outFile, 'utf8') === text) return false;
  mkdirSync(dirname(outFile), { recursive: true });
  writeFileSync(outFile, text);
  return true;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeProtoTypes();
}
