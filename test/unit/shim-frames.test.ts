// The daemon⇄shim frame table is written twice (TS and C): they must be the same.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Frame } from '../../daemon/runtime/frames.ts';

test('daemon/runtime/frames.ts and shim/monitor.h name the same frame types with the same numbers', () => {
  const header = readFileSync(new URL('../../shim/monitor.h', import.meta.url), 'utf8');
  const c = Object.fromEntries([...header.matchAll(/^\s*FRAME_([A-Z_]+)\s*=\s*(\d+),/gm)].map((m) => [m[1], Number(m[2])]));
  assert.ok(Object.keys(c).length >= 10, 'the C enum was found');
  assert.deepEqual(c, { ...Frame });
});
