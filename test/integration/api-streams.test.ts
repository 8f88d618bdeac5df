// The API's streams against a real private daemon, through raw gRPC clients: an Import
// cancelled at once does not crash the daemon, a client that stops reading an Attach holds
// the container's output (backpressure) instead of making the daemon buffer without limit
// or losing anything, and an Exec cancelled before it started still ends its process.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import { TestDaemon, until } from '../helpers/daemon.ts';
import { loadApi } from '../../proto/api.ts';
import type { AttachOutput, OutputFrame } from '../../proto/api.ts';

type Client = grpc.Client & Record<string, Function>;

function unary<T>(client: Client, method: string, req: unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    client[method]!(req, (err: Error | null, res: T) => (err ? reject(err) : resolve(res)));
  });
}

function rssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]);
}

describe('API streams', () => {
  const d = new TestDaemon();
  let containers: Client;
  let images: Client;
  before(async () => {
    await d.start();
    const api = loadApi();
    containers = new api.Containers(d.host, grpc.credentials.createInsecure()) as Client;
    images = new api.Images(d.host, grpc.credentials.createInsecure()) as Client;
    await d.ok(['pull', 'busybox']);
  });
  after(async () => {
    containers?.close();
    images?.close();
    await d.cleanup();
  });

  test('the socket has its final mode (0660) as soon as the daemon is up', () => {
    assert.equal((statSync(d.socket).mode & 0o777).toString(8), '660');
  });

  test('an Import cancelled right after its start message leaves the daemon up and nothing behind', async () => {
    // Its own connection: closing it at the end is what a CLI killed mid-import does.
    const own = new (loadApi().Images)(d.host, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }) as Client;
    try {
      for (let i = 0; i < 60; i++) {
        const call = own.Import!() as grpc.ClientDuplexStream<unknown, unknown>;
        const done = new Promise<grpc.ServiceError | undefined>((resolve) => {
          call.on('error', resolve);
          call.on('end', () => resolve(undefined));
        });
        call.on('data', () => {});
        call.write({ start: { name: `gone${i}`, url: '', sha256: '' } });
        if (i % 2) call.write({ data: Buffer.alloc(4096) });
        // The start reaches the daemon (mostly), then the cancel follows at once.
        await sleep(i % 3);
        call.cancel();
        const err = await done;
        assert.equal(err?.code, grpc.status.CANCELLED);
      }
    } finally {
      // (grpc-js may not reset a stream cancelled before it was open: the closed
      // connection cancels those on the daemon's side)
      own.close();
    }
    await sleep(300);
    assert.equal(d.proc!.exitCode, null, `tdockd died: ${d.log}`);
    assert.equal(d.proc!.signalCode, null);
    // still serving, no image and no staging dir left
    assert.doesNotMatch(await d.ok(['images']), /gone\d/);
    const layers = join(d.root, 'layers');
    await until('staging dirs removed', () => !existsSync(layers) || !readdirSync(layers).some((n) => n.startsWith('tmp-')));
  });

  test('an Attach client that stops reading holds the output (backpressure): the daemon stays bounded, nothing is lost', async () => {
    // 200 MB in 1 MB steps
    const TOTAL = 200_000_000;
    const { id } = await unary<{ id: string }>(containers, 'Create', {
      image: 'busybox', cmd: ['sh', '-c', 'i=0; while [ $i -lt 200 ]; do yes 0123456789abcdefghijklmnopqrstuvwxyz | head -c 1000000; usleep 15000; i=$((i+1)); done'],
      network: 'none',
      // One unbounded log file: Logs below reads back all 200 MB.
      logOpt: ['max-size=-1'],
    });
    const pid = d.proc!.pid!;
    const rssBefore = rssKiB(pid);
    // A second, well-behaved client on its own connection (like another CLI).
    const own = new (loadApi().Containers)(d.host, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }) as Client;
    after(() => own.close());
    const good = own.Attach!() as grpc.ClientDuplexStream<unknown, AttachOutput>;
    let goodBytes = 0;
    let goodExit: number | undefined;
    let goodAttached = false;
    const goodDone = new Promise<grpc.ServiceError | undefined>((resolve) => {
      good.on('data', (m: AttachOutput) => {
        if (m.attached) goodAttached = true;
        if (m.output) goodBytes += m.output.data.length;
        if (m.exit) goodExit = m.exit.exitCode;
      });
      good.on('error', resolve);
      good.on('end', () => resolve(undefined));
    });
    good.write({ start: { id, stdin: false } });

    const slow = containers.Attach!() as grpc.ClientDuplexStream<unknown, AttachOutput>;
    let attached = false;
    let slowBytes = 0;
    let slowExit: number | undefined;
    const slowDone = new Promise<grpc.ServiceError | undefined>((resolve) => {
      slow.on('data', (m: AttachOutput) => {
        if (m.attached) {
          attached = true;
          slow.pause(); // stop reading: nothing more is taken from the connection
        }
        if (m.output) slowBytes += m.output.data.length;
        if (m.exit) slowExit = m.exit.exitCode;
      });
      slow.on('error', resolve);
      slow.on('end', () => resolve(undefined));
    });
    slow.write({ start: { id, stdin: false } });
    await until('slow client attached', () => attached);
    await until('good client attached', () => goodAttached);

    await unary(containers, 'Start', { id });
    let peak = rssBefore;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssKiB(pid));
    }, 20);
    try {
      // While the slow client does not read, the container's output is held.
      await sleep(1500);
      assert.ok(goodBytes < TOTAL / 2, `output held while a client is behind (good client got ${goodBytes})`);
      assert.equal(JSON.parse((await unary<{ json: string }>(containers, 'Inspect', { id })).json).State.Status, 'running');
      slow.resume();
      const w = await unary<{ exitCode: number }>(containers, 'Wait', { id });
      assert.equal(w.exitCode, 0);
      assert.equal(await goodDone, undefined, 'the good client got a normal end');
      assert.equal(await slowDone, undefined, 'the slow client got a normal end too');
      peak = Math.max(peak, rssKiB(pid));
    } finally {
      clearInterval(sampler);
    }
    assert.equal(goodBytes, TOTAL);
    assert.equal(slowBytes, TOTAL);
    assert.equal(goodExit, 0);
    assert.equal(slowExit, 0);
    const grown = (peak - rssBefore) / 1024;
    assert.ok(grown < 140, `daemon RSS grew by ${grown.toFixed(0)} MiB`);
    assert.equal(d.proc!.exitCode, null);

    // The log has it all; Logs streams it to a reader that reads slowly.
    const logs = containers.Logs!({ id, follow: false, timestamps: false, tail: -1 }) as grpc.ClientReadableStream<OutputFrame>;
    let logBytes = 0;
    let paused = 0;
    await new Promise<void>((resolve, reject) => {
      logs.on('data', (f: OutputFrame) => {
        logBytes += f.data.length;
        if (++paused % 500 === 0) {
          logs.pause();
          setTimeout(() => logs.resume(), 5);
        }
      });
      logs.on('error', reject);
      logs.on('end', resolve);
    });
    assert.equal(logBytes, TOTAL);
    assert.equal((await d.cli(['logs', id], { timeout: 60000 })).stdout.length, TOTAL);
    await d.ok(['rm', id]);
  });

  test('an Exec cancelled before it started still gets its process ended (SIGHUP)', async () => {
    const id = (await d.ok(['run', '-d', 'busybox', 'sleep', '600'])).trim();
    const marker = 4242 + Math.floor(Math.random() * 1000);
    const running = () => readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8') === `sleep\0${marker}\0`;
      } catch {
        return false;
      }
    });
    for (let i = 0; i < 3; i++) {
      const call = containers.Exec!() as grpc.ClientDuplexStream<unknown, AttachOutput>;
      const done = new Promise<void>((resolve) => {
        call.on('error', () => resolve());
        call.on('end', () => resolve());
      });
      call.on('data', () => {});
      call.write({ start: { id, stdin: false, exec: { cmd: ['sleep', String(marker)], env: [], user: '', workdir: '', tty: false, detach: false } } });
      await sleep(2); // the start reaches the daemon; the exec is still being set up
      call.cancel();
      await done;
    }
    // Each exec starts after the cancel and must be ended as soon as it exists.
    await sleep(500);
    await until('the exec processes ended', () => running().length === 0, 10000);
    await d.ok(['rm', '-f', id]);
  });
});
