// The volume store (daemon/volumes/store.ts) and `volume ls --filter`: no root needed
// (directories made rootless-style, 0700).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDb } from '../../daemon/store/db.ts';
import { ContainerRepository } from '../../daemon/containers/repository.ts';
import { VolumeStore, ANONYMOUS_LABEL } from '../../daemon/volumes/store.ts';
import { volumeFilter } from '../../daemon/api/volumes.ts';
import type { ContainerSpec } from '../../daemon/containers/spec.ts';
import type { Volume } from '../../proto/api.ts';

let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'tdock-unit-volumes-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function setup(name: string) {
  const root = join(dir, name);
  const db = openDb(join(dir, `${name}.db`));
  return { db, root, store: new VolumeStore(db, root, {}), repo: new ContainerRepository(db) };
}

const addContainer = (repo: ContainerRepository, id: string) =>
  repo.insert({ id, name: id.slice(0, 8), imageId: 'i', imageRef: 'r', spec: {} as ContainerSpec, created: 1 });

test('create: a directory and a row; idempotent by name; random names; Docker\'s name rule', () => {
  const { store } = setup('create');
  const a = store.create('data', { k: 'v' });
  assert.equal(a.made, true);
  assert.ok(existsSync(store.mountpoint('data')));
  assert.deepEqual(store.find('data').labels, { k: 'v' });
  assert.equal(store.create('data', {}).made, false);
  const r = store.create('', {}, true);
  assert.match(r.volume.name, /^[0-9a-f]{64}$/);
  assert.deepEqual(r.volume.labels, { [ANONYMOUS_LABEL]: '' });
  assert.throws(() => store.create('../x', {}), /includes invalid characters for a local volume name/);
  assert.throws(() => store.create('x', {}), /includes invalid characters/);
  assert.throws(() => store.find('nope'), /get nope: no such volume/);
});

test('rm: refused while a container uses it (any state); freed when the container row goes', () => {
  const { store, repo } = setup('rm');
  store.create('used', {});
  addContainer(repo, 'c'.repeat(64));
  store.transaction(() => store.use('c'.repeat(64), ['used']));
  assert.throws(() => store.remove('used'), new RegExp(`remove used: volume is in use - \\[${'c'.repeat(64)}\\]`));
  assert.throws(() => store.remove('used', true), /volume is in use/);
  repo.remove('c'.repeat(64));
  store.remove('used');
  assert.equal(existsSync(join(store.dir, 'used')), false);
  assert.throws(() => store.remove('used'), /no such volume/);
  store.remove('used', true);
});

test('anonymous volumes go with their container only when nobody else uses them; prune takes the unused', () => {
  const { store, repo } = setup('prune');
  const anon = store.create('', {}, true).volume.name;
  const shared = store.create('', {}, true).volume.name;
  store.create('named', {});
  addContainer(repo, 'a'.repeat(64));
  addContainer(repo, 'b'.repeat(64));
  store.use('a'.repeat(64), [anon, shared, 'named']);
  store.use('b'.repeat(64), [shared]);
  repo.remove('a'.repeat(64));
  store.removeAnonymous([anon, shared, 'named']);
  assert.deepEqual(store.list().map((v) => v.name).sort(), [shared, 'named'].sort());
  writeFileSync(join(store.mountpoint('named'), 'f'), Buffer.alloc(8192));
  assert.deepEqual(store.prune(false).deleted, [], 'the shared one is in use; named ones need -a');
  const all = store.prune(true);
  assert.deepEqual(all.deleted, ['named']);
  assert.ok(all.reclaimed >= 8192, `${all.reclaimed}`);
  repo.remove('b'.repeat(64));
  assert.deepEqual(store.prune(false).deleted, [shared]);
});

test('volume ls filters: name, label (key or key=value), dangling; keys OR within, AND across', () => {
  const v = (name: string, labels: string[], containers: string[] = []): Volume =>
    ({ name, driver: 'local', mountpoint: '', createdAt: 0, labels, anonymous: false, containers });
  const list = [v('web-data', ['app=web', 'tier=']), v('db', ['app=db'], ['c1']), v('cache', [])];
  const names = (f: string[]) => list.filter(volumeFilter(f)).map((x) => x.name);
  assert.deepEqual(names(['name=data']), ['web-data']);
  assert.deepEqual(names(['label=app']), ['web-data', 'db']);
  assert.deepEqual(names(['label=app=db']), ['db']);
  assert.deepEqual(names(['label=tier']), ['web-data']);
  assert.deepEqual(names(['dangling=true']), ['web-data', 'cache']);
  assert.deepEqual(names(['dangling=false']), ['db']);
  assert.deepEqual(names(['name=web', 'name=cache']), ['web-data', 'cache']);
  assert.deepEqual(names(['label=app', 'dangling=true']), ['web-data']);
  assert.throws(() => volumeFilter(['colour=red']), /invalid filter 'colour'/);
  assert.throws(() => volumeFilter(['dangling=maybe']), /invalid filter 'dangling=maybe'/);
  assert.throws(() => volumeFilter(['name']), /bad format of filter/);
});
