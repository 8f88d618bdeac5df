// Every input is bounded (DESIGN.md "Security model"): a create over the limits is
// refused whole (by the message size limit before it is read, or by the field limits
// with a line naming the field) and leaves nothing; the daemon stays small while it
// refuses; the database gives back the space of removed containers; and what a
// container controls reaches the terminal escaped.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { TestDaemon } from '../helpers/daemon.ts';
import { loadApi, type CreateRequest } from '../../proto/api.ts';
import { MAX_ARG_BYTES, MAX_ENV, MAX_EXEC_BYTES } from '../../daemon/containers/bounds.ts';

type Client = grpc.Client & Record<string, Function>;

function unary<T>(client: Client, method: string, req: unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    client[method]!(req, (err: Error | null, res: T) => (err ? reject(err) : resolve(res)));
  });
}

function rssMiB(pid: number): number {
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
}

const request = (over: Partial<CreateRequest>): CreateRequest => ({
  image: 'busybox', name: '', cmd: ['true'], entrypoint: [], entrypointSet: false, env: [], workdir: '', user: '',
  hostname: '', tty: false, openStdin: false, autoRemove: false, network: 'none', ports: [], dns: [],
  resources: { memory: 0, memorySwap: 0, pidsLimit: 0, cpus: 0 }, pullMissing: false, securityOpt: [], logOpt: [], mounts: [], readOnly: false, restartPolicy: null,
  healthCmd: '', healthInterval: 0, healthTimeout: 0, healthRetries: 0, healthStartPeriod: 0, noHealthcheck: false,
  labels: [], stopSignal: '', stopTimeout: 0, stopTimeoutSet: false,
  ...over,
});

describe('bounded input: create', () => {
  const d = new TestDaemon();
  let containers: Client;
  const made = () => readdirSync(join(d.root, 'containers'));
  const dbBytes = () => ['tdock.db', 'tdock.db-wal'].reduce((n, f) => n + (statSync(join(d.root, f), { throwIfNoEntry: false })?.size ?? 0), 0);

  before(async () => {
    await d.start();
    // A client that may send what the CLI never would.
    containers = new (loadApi().Containers)(d.host, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': 256 << 20 }) as Client;
    await d.ok(['pull', 'busybox']);
  });
  after(async () => {
    containers?.close();
    await d.cleanup();
  });

  test('four 60 MB creates at once are refused (RESOURCE_EXHAUSTED) and the daemon stays small', async () => {
    const pid = d.proc!.pid!;
    const before = rssMiB(pid);
    const huge = request({ env: [`A=${'x'.repeat(60 << 20)}`] });
    const results = await Promise.allSettled([1, 2, 3, 4].map(() => unary(containers, 'Create', huge)));
    for (const r of results) {
      assert.equal(r.status, 'rejected');
      const e = (r as PromiseRejectedResult).reason as grpc.ServiceError;
      assert.equal(e.code, grpc.status.RESOURCE_EXHAUSTED, e.details);
      assert.match(e.details, /larger than max \(\d+ vs\.? 4194304\)/);
    }
    const grown = rssMiB(pid) - before;
    assert.ok(grown < 64, `the daemon grew by ${grown.toFixed(0)} MiB refusing 240 MB`);
    assert.deepEqual(made(), []);
  });

  test('fields over their limits: INVALID_ARGUMENT, one short line naming the field and the limit, nothing made', async () => {
    const cases: [Partial<CreateRequest>, RegExp][] = [
      [{ env: [`A=${'x'.repeat(3 << 20)}`] }, /^argument list too long: environment entry 1 is 3145730 bytes, at most 131071 per entry \(Linux's limit\)$/],
      [{ env: Array.from({ length: MAX_ENV + 1 }, (_, i) => `V${i}=1`) }, /^too many environment variables: 4097, at most 4096 are allowed$/],
      [{ env: Array.from({ length: 10 }, (_, i) => `V${i}=${'x'.repeat(MAX_ARG_BYTES - 100)}`) }, /^argument list too long: the command and environment take \d+ bytes, at most 1048576 \(1 MiB\) are allowed$/],
      [{ cmd: Array.from({ length: 5000 }, () => 'x') }, /^too many command arguments: 5000, at most 4096/],
      [{ name: 'n'.repeat(3 << 20) }, /^the container name \(--name\) is too long: 3145728 characters, at most 128 are allowed$/],
      [{ hostname: 'h'.repeat(64) }, /hostname \(-h\/--hostname\) is too long: 64 characters, at most 63/],
      [{ workdir: `/${'w'.repeat(5000)}` }, /working directory \(-w\/--workdir\) is too long: 5001 characters, at most 4096/],
      [{ user: 'u'.repeat(300) }, /user \(-u\/--user\) is too long/],
      [{ dns: Array.from({ length: 33 }, () => '10.0.0.1') }, /too many DNS servers \(--dns\): 33, at most 32/],
      [{ image: 'i'.repeat(2 << 20) }, /image reference is too long: \d+ characters, at most 1024 .*invalid reference format/],
      [{ securityOpt: [`seccomp=${'s'.repeat(2 << 20)}`] }, /security option \(--security-opt\) is too long/],
    ];
    for (const [over, want] of cases) {
      const e = await unary(containers, 'Create', request(over)).then(() => undefined, (x: grpc.ServiceError) => x);
      assert.ok(e, `accepted: ${Object.keys(over).join()}`);
      assert.equal(e.code, grpc.status.INVALID_ARGUMENT, e.details);
      assert.match(e.details, want);
      assert.ok(e.details.length < 200 && !e.details.includes('\n'), e.details);
    }
    assert.deepEqual(made(), []);
    assert.equal((await d.ok(['ps', '-aq'])).trim(), '');
  });

  test('the image\'s Env counts toward the limit too', async () => {
    // Entries of the largest size, 20 bytes short of the total limit with the command:
    // the defaults (PATH, HOSTNAME, HOME) take it over.
    const env = Array.from({ length: 7 }, (_, i) => `V${i}=${'x'.repeat(MAX_ARG_BYTES - 4)}`);
    env.push(`V7=${'x'.repeat(MAX_EXEC_BYTES - 20 - 5 - 7 * MAX_ARG_BYTES - 4)}`);
    const e = await unary(containers, 'Create', request({ env })).then(() => undefined, (x: grpc.ServiceError) => x);
    assert.equal(e?.code, grpc.status.INVALID_ARGUMENT);
    assert.match(e!.details, /^argument list too long: the command and environment \(the image's included\) take 10486\d\d bytes, at most 1048576/);
    assert.deepEqual(made(), []);
  });

  test('the CLI: a refused create is one line and exit 125', async () => {
    const many = Array.from({ length: MAX_ENV + 1 }, (_, i) => ['-e', `V${i}=1`]).flat();
    const r = await d.cli(['run', '--rm', ...many, 'busybox', 'true']);
    assert.equal(r.code, 125, r.stderr);
    assert.equal(r.stderr, 'Error: too many environment variables: 4097, at most 4096 are allowed\n');
    const n = await d.cli(['create', '--name', 'x'.repeat(200), 'busybox', 'true']);
    assert.equal(n.code, 125, n.stderr);
    assert.match(n.stderr, /^Error: the container name \(--name\) is too long: 200 characters, at most 128 are allowed\n$/);
    assert.deepEqual(made(), []);
  });

  test('exec: the same limits', async () => {
    const id = (await d.ok(['run', '-d', 'busybox', 'sleep', '1000'])).trim();
    try {
      const many = Array.from({ length: MAX_ENV + 1 }, (_, i) => ['-e', `V${i}=1`]).flat();
      const r = await d.cli(['exec', ...many, id, 'true']);
      assert.notEqual(r.code, 0);
      assert.equal(r.stderr, 'Error: too many environment variables: 4097, at most 4096 are allowed\n');
    } finally {
      await d.ok(['rm', '-f', id]);
    }
  });

  test('top and ps show a container\'s command line with its control characters escaped', async () => {
    // sh keeps running (two commands), with the escapes in its own argv ($0).
    const evil = '\x1b]0;pwned\x07\x1b[2J\u009b31m';
    const id = (await d.ok(['run', '-d', 'busybox', 'sh', '-c', 'sleep 1000; true', evil])).trim();
    try {
      const raw = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;
      const top = await d.ok(['top', id]);
      assert.match(top, /sh -c sleep 1000; true \\x1b\]0;pwned\\x07\\x1b\[2J\\x9b31m$/m);
      assert.doesNotMatch(top, raw);
      assert.doesNotMatch(await d.ok(['ps', '--no-trunc']), raw);
      assert.doesNotMatch(await d.ok(['inspect', id]), raw);
    } finally {
      await d.ok(['rm', '-f', id]);
    }
  });

  test('the database gives back the space of removed containers with large (allowed) fields', async () => {
    const start = dbBytes();
    // 7 x 120 KiB of environment each: allowed, ~0.8 MiB per container row.
    const env = Array.from({ length: 7 }, (_, i) => `V${i}=${'x'.repeat(120 << 10)}`);
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) ids.push((await unary<{ id: string }>(containers, 'Create', request({ env }))).id);
    const full = dbBytes();
    assert.ok(full > start + (15 << 20), `the database grew from ${start} to only ${full} bytes`);
    await d.ok(['rm', ...ids]);
    const after = dbBytes();
    assert.ok(after < start + (2 << 20), `the database kept ${after} bytes after the removal (${start} before, ${full} full)`);
  });
});
