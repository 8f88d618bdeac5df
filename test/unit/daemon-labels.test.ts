// The daemon's side of --label, --stop-signal and --stop-timeout (daemon/containers/spec.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildSpec, type CreateInput } from '../../daemon/containers/spec.ts';

const base: CreateInput = {
  cmd: [], entrypoint: [], entrypointSet: false, env: [], workdir: '', user: '', hostname: '', tty: false,
  openStdin: false, autoRemove: false, network: '', ports: [], dns: [], resources: {}, securityOpt: [],
};
const ID = 'b'.repeat(64);

test('labels: the image\'s, then --label over them', () => {
  const s = buildSpec({ ...base, labels: ['a=mine', 'flag', 'c=x=y'] }, { Cmd: ['sh'], Labels: { a: 'image', b: 'image' } }, ID);
  assert.deepEqual(s.labels, { a: 'mine', b: 'image', flag: '', c: 'x=y' });
  assert.deepEqual(buildSpec(base, { Cmd: ['sh'] }, ID).labels, {});
  assert.throws(() => buildSpec({ ...base, labels: ['=v'] }, { Cmd: ['sh'] }, ID), /invalid label "=v"/);
});

test('stop signal: --stop-signal over the image\'s STOPSIGNAL over SIGTERM; a bad one refused', () => {
  assert.equal(buildSpec(base, { Cmd: ['sh'] }, ID).stopSignal, 'SIGTERM');
  assert.equal(buildSpec(base, { Cmd: ['sh'], StopSignal: 'SIGQUIT' }, ID).stopSignal, 'SIGQUIT');
  assert.equal(buildSpec({ ...base, stopSignal: 'USR1' }, { Cmd: ['sh'], StopSignal: 'SIGQUIT' }, ID).stopSignal, 'USR1');
  assert.throws(() => buildSpec({ ...base, stopSignal: 'NOPE' }, { Cmd: ['sh'] }, ID), /invalid signal "NOPE"/);
});

test('stop timeout: absent unless given, whole seconds 0 or more', () => {
  assert.equal(buildSpec(base, { Cmd: ['sh'] }, ID).stopTimeout, undefined);
  assert.equal(buildSpec({ ...base, stopTimeout: 0 }, { Cmd: ['sh'] }, ID).stopTimeout, 0);
  assert.equal(buildSpec({ ...base, stopTimeout: 30 }, { Cmd: ['sh'] }, ID).stopTimeout, 30);
  assert.throws(() => buildSpec({ ...base, stopTimeout: -1 }, { Cmd: ['sh'] }, ID), /invalid --stop-timeout -1/);
});
