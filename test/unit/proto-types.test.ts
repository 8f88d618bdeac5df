// proto/gen/tdock.ts (committed, the message types of CLI and daemon) must be what
// scripts/proto-types.ts makes of proto/tdock.proto today, and the generator's idea of
// the decoded shapes must be the loaders' (defaults filled in, oneof members absent).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { OUT_FILE, PROTO_FILE, generateProtoTypes, writeProtoTypes } from '../../scripts/proto-types.ts';
import { LOADER_OPTIONS } from '../../proto/api.ts';
import { CONVERSION } from '../../proto/options.ts';

test('proto/gen/tdock.ts is up to date with proto/tdock.proto (run `node scripts/proto-types.ts`)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tdock-proto-'));
  try {
    const fresh = join(dir, 'gen', 'tdock.ts');
    assert.equal(writeProtoTypes(PROTO_FILE, fresh), true);
    assert.equal(readFileSync(OUT_FILE, 'utf8'), readFileSync(fresh, 'utf8'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a field added to the .proto shows in the generated types', () => {
  const proto = readFileSync(PROTO_FILE, 'utf8').replace(/message PortMapping \{/, 'message PortMapping {\n  string probe_field = 99;');
  assert.match(generateProtoTypes(proto), /export interface PortMapping \{[^}]*\n  probeField: string;/);
  assert.notEqual(generateProtoTypes(proto), readFileSync(OUT_FILE, 'utf8'));
});

test('decoded messages have exactly the generated fields (loader options as the generator assumes)', () => {
  const root = protobuf.parse(readFileSync(PROTO_FILE, 'utf8'), { keepCase: false }).root;
  root.resolveAll();
  const gen = readFileSync(OUT_FILE, 'utf8');
  // what the generator was written for; the daemon's loader converts the same way
  assert.deepEqual(CONVERSION, { keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true });
  assert.deepEqual(LOADER_OPTIONS, CONVERSION);
  const opts = { longs: CONVERSION.longs, enums: CONVERSION.enums, defaults: CONVERSION.defaults, oneofs: CONVERSION.oneofs };
  let seen = 0;
  const visit = (ns: protobuf.NamespaceBase, prefix: string) => {
    for (const t of ns.nestedArray) {
      if (!(t instanceof protobuf.Type)) continue;
      const name = prefix + t.name;
      const empty = t.toObject(t.decode(t.encode(t.fromObject({})).finish()), opts);
      const iface = new RegExp(`export interface ${name} \\{([^}]*)\\}`).exec(gen);
      if (t.oneofsArray.length === 0) {
        assert.ok(iface, `${name} is an interface`);
        const declared = [...iface[1]!.matchAll(/^ {2}(\w+):/gm)].map((m) => m[1]).sort();
        assert.deepEqual(Object.keys(empty).sort(), declared, name);
      } else {
        // An unset oneof decodes to its plain fields only; the union names every member.
        assert.match(gen, new RegExp(`export type ${name} =`));
        for (const f of t.oneofsArray[0]!.fieldsArray) assert.match(gen, new RegExp(`msg\\?: '${f.name}'; ${f.name}: `), `${name}.${f.name}`);
        assert.deepEqual(Object.keys(empty), t.fieldsArray.filter((f) => !f.partOf).map((f) => f.name), name);
      }
      seen++;
      visit(t, `${name}_`);
    }
  };
  visit(root.lookup('tdock.v1') as protobuf.Namespace, '');
  assert.ok(seen >= 40, `every message visited (${seen})`);
});
