// The database gives space back: new files are made with incremental auto_vacuum,
// older ones are converted once at open, and reclaim() shrinks the file after deletes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDb, reclaim } from '../../daemon/store/db.ts';
import { ContainerRepository } from '../../daemon/containers/repository.ts';
import type { ContainerSpec } from '../../daemon/containers/spec.ts';

let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'tdock-unit-db-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const bytes = (f: string) => statSync(f).size + (statSync(`${f}-wal`, { throwIfNoEntry: false })?.size ?? 0);

test('a new database uses incremental auto_vacuum; removed containers give their pages back', () => {
  const f = join(dir, 'new.db');
  const db = openDb(f);
  assert.equal(db.pragma('auto_vacuum', { simple: true }), 2);
  const repo = new ContainerRepository(db);
  const start = bytes(f);
  const spec = { env: [`A=${'x'.repeat(1 << 20)}`] } as unknown as ContainerSpec;
  for (let i = 0; i < 16; i++) repo.insert({ id: String(i).padStart(64, '0'), name: `c${i}`, imageId: 'i', imageRef: 'r', spec, created: i });
  assert.ok(bytes(f) > start + (16 << 20));
  for (let i = 0; i < 16; i++) repo.remove(String(i).padStart(64, '0'));
  assert.ok(bytes(f) < start + (1 << 20), `${bytes(f)} bytes left, ${start} at the start`);
  db.close();
});

test('a database made without auto_vacuum is converted when opened, and keeps its rows', () => {
  const f = join(dir, 'old.db');
  // A file as tdockd made it before: the same schema, without auto_vacuum.
  const first = openDb(f);
  first.pragma('auto_vacuum = 0');
  first.exec('VACUUM');
  assert.equal(first.pragma('auto_vacuum', { simple: true }), 0);
  first.prepare('INSERT INTO layers VALUES (?, ?, ?, ?)').run('sha256:x', '/l', 1, 2);
  first.close();

  const db = openDb(f);
  assert.equal(db.pragma('auto_vacuum', { simple: true }), 2);
  assert.deepEqual(db.prepare('SELECT diff_id, dir FROM layers').all(), [{ diff_id: 'sha256:x', dir: '/l' }]);
  reclaim(db); // nothing to give back: a no-op
  db.close();
});
