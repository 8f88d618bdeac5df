// The limits on what one create or exec may ask for (daemon/containers/bounds.ts),
// and error statuses that stay short whatever a client sent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkCreateBounds, checkExecBounds, MAX_ARG_BYTES, MAX_ARGS, MAX_EXEC_BYTES } from '../../daemon/containers/bounds.ts';
import { buildSpec, type CreateInput } from '../../daemon/containers/spec.ts';
import { toStatus, MAX_MESSAGE } from '../../daemon/api/status.ts';
import { invalid } from '../../daemon/errors.ts';

const fields = {
  image: 'busybox', name: '', cmd: ['true'], entrypoint: [], env: [], workdir: '', user: '', hostname: '',
  network: '', ports: [], dns: [], securityOpt: [],
};

test('within the limits: accepted, up to each limit exactly', () => {
  checkCreateBounds(fields);
  checkCreateBounds({ ...fields, name: 'n'.repeat(128), hostname: 'h'.repeat(63), workdir: `/${'w'.repeat(4095)}` });
  // One entry of Linux's largest size (with its NUL), and a total of exactly 1 MiB.
  checkCreateBounds({ ...fields, cmd: [], env: [`A=${'x'.repeat(MAX_ARG_BYTES - 3)}`] });
  const full = Array.from({ length: 8 }, () => 'x'.repeat(MAX_ARG_BYTES - 1));
  checkCreateBounds({ ...fields, cmd: full });
  assert.equal(full.length * MAX_ARG_BYTES, MAX_EXEC_BYTES);
  checkExecBounds({ cmd: Array.from({ length: MAX_ARGS }, () => 'x'), env: [], user: '', workdir: '' });
});

test('over a limit: INVALID_ARGUMENT naming the field and the limit, never quoting the value', () => {
  const refused = (over: object, want: RegExp) => {
    assert.throws(() => checkCreateBounds({ ...fields, ...over }), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'INVALID_ARGUMENT');
      assert.match(e.message, want);
      assert.ok(e.message.length < 160, e.message);
      return true;
    });
  };
  refused({ cmd: ['x'.repeat(MAX_ARG_BYTES)] }, /^argument list too long: command entry 1 is 131072 bytes, at most 131071 per entry/);
  refused({ entrypoint: ['sh'], cmd: Array.from({ length: MAX_ARGS }, () => 'x') }, /^too many command arguments: 4097, at most 4096 are allowed$/);
  refused({ cmd: Array.from({ length: 9 }, () => 'x'.repeat(MAX_ARG_BYTES - 1)) }, /^argument list too long: the command and environment take 1179648 bytes, at most 1048576 \(1 MiB\)/);
  refused({ name: 'x'.repeat(129) }, /^the container name \(--name\) is too long: 129 characters, at most 128 are allowed$/);
  refused({ ports: Array.from({ length: 4097 }, () => ({ hostIp: '', protocol: 'tcp' })) }, /^too many published ports \(-p\/--publish\): 4097, at most 4096/);
  refused({ ports: [{ hostIp: '1'.repeat(300), protocol: 'tcp' }] }, /host address \(-p\/--publish\) is too long: 300 characters/);
  refused({ network: 'n'.repeat(300) }, /^the network \(--network\) is too long/);
  refused({ securityOpt: Array.from({ length: 17 }, () => 'no-new-privileges') }, /^too many security options \(--security-opt\): 17, at most 16/);
  assert.throws(() => checkExecBounds({ cmd: ['sh'], env: [], user: 'u'.repeat(257), workdir: '' }), /^Error: the user \(-u\/--user\) is too long: 257 characters, at most 256/);
});

test('buildSpec: the image\'s Env and Cmd count toward the total', () => {
  const req: CreateInput = {
    cmd: [], entrypoint: [], entrypointSet: false, env: [], workdir: '', user: '', hostname: '', tty: false,
    openStdin: false, autoRemove: false, network: '', ports: [], dns: [], resources: {}, securityOpt: [],
  };
  const big = Array.from({ length: 9 }, (_, i) => `V${i}=${'x'.repeat(MAX_ARG_BYTES - 8)}`);
  assert.throws(() => buildSpec(req, { Cmd: ['sh'], Env: big }, 'a'.repeat(64)), /^Error: argument list too long: the command and environment \(the image's included\) take \d+ bytes, at most 1048576/);
  assert.throws(() => buildSpec(req, { Cmd: ['x'.repeat(MAX_ARG_BYTES)] }, 'a'.repeat(64)), /command \(the image's included\) entry 1 is 131072 bytes/);
  assert.deepEqual(buildSpec(req, { Cmd: ['sh'], Env: big.slice(0, 7) }, 'a'.repeat(64)).args, ['sh']);
});

test('error statuses are cut to one short line whatever they quote', () => {
  const s = toStatus(invalid(`No such container: ${'x'.repeat(5 << 20)}`));
  assert.equal(s.details!.length, MAX_MESSAGE);
  assert.ok(s.details!.endsWith('…'));
  assert.equal(toStatus(invalid('short')).details, 'short');
});
