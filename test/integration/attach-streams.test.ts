// Trust (issue 8): piped stdin arrives intact and in order with its end, a closed
// pipe ends the client, and kill/stop/rm never wait behind data on any stream.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { TDOCK, suiteDaemon, until, type TestDaemon } from '../helpers/daemon.ts';

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

/** Spawns the CLI; the caller owns its stdio. */
function spawnCli(d: TestDaemon, args: string[]) {
  return spawn(TDOCK, args, { env: { ...process.env, TDOCK_HOST: d.host }, stdio: ['pipe', 'pipe', 'pipe'] });
}

function exited(p: ReturnType<typeof spawn>, ms: number, what: string): Promise<number> {
  return new Promise((resolve, reject) => {
    if (p.exitCode !== null || p.signalCode !== null) return resolve(p.exitCode ?? 128);
    const t = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`${what}: still running after ${ms} ms`));
    }, ms);
    p.once('exit', (code, sig) => {
      clearTimeout(t);
      resolve(code ?? (sig ? 128 : 0));
    });
  });
}

async function state(d: TestDaemon, ref: string): Promise<string> {
  const r = await d.cli(['inspect', ref]);
  return r.code === 0 ? JSON.parse(r.stdout)[0].State.Status : 'gone';
}

describe('stdin is delivered in order, complete, with its end', () => {
  const d = suiteDaemon();
  const input = randomBytes(5 << 20);
  const want = md5(input);

  for (const network of ['bridge', 'none', 'host']) {
    test(`run -i, --network ${network}: 5 MiB of random bytes, three times`, async () => {
      for (let i = 0; i < 3; i++) {
        const r = await d.cli(['run', '-i', '--rm', '--network', network, 'busybox', 'md5sum'], { input, timeout: 60_000 });
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout.split(' ')[0], want, `round ${i}: the container saw other bytes`);
      }
    });
  }

  test('start -ai: 5 MiB of random bytes, three times, bridge and none', async () => {
    for (const network of ['bridge', 'none']) {
      const id = (await d.ok(['create', '-i', '--network', network, 'busybox', 'md5sum'])).trim();
      try {
        for (let i = 0; i < 3; i++) {
          const r = await d.cli(['start', '-ai', id], { input, timeout: 60_000 });
          assert.equal(r.code, 0, r.stderr);
          assert.equal(r.stdout.split(' ')[0], want, `${network} round ${i}: the container saw other bytes`);
        }
      } finally {
        await d.cli(['rm', '-f', id]);
      }
    }
  });

  test('input that arrives in many small pieces while the container starts keeps its order and its end', async () => {
    const p = spawnCli(d, ['run', '-i', '--rm', 'busybox', 'md5sum']);
    let out = '';
    p.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
    const pieces: Buffer[] = [];
    for (let i = 0; i < 2000; i++) {
      const b = Buffer.from(`line ${i}\n`);
      pieces.push(b);
      p.stdin!.write(b);
      if (i % 100 === 0) await sleep(2);
    }
    p.stdin!.end();
    assert.equal(await exited(p, 30_000, 'run -i'), 0);
    assert.equal(out.split(' ')[0], md5(Buffer.concat(pieces)));
  });
});

describe('a closed pipe ends the client; kill, stop and rm never wait behind data', () => {
  const d = suiteDaemon();

  test('tdock run busybox yes | head -n 1 returns; the container goes on without its client', async () => {
    const name = `yes-${process.pid}`;
    const sh = spawn('sh', ['-c', `"${TDOCK}" run --name ${name} busybox yes | head -n 1`], {
      env: { ...process.env, TDOCK_HOST: d.host },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    sh.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
    try {
      await exited(sh, 15_000, 'tdock run … | head -n 1');
      assert.equal(out, 'y\n');
      assert.equal(await state(d, name), 'running', 'a client that goes away does not stop the container');
    } finally {
      const r = await d.cli(['rm', '-f', name], { timeout: 10_000 });
      assert.equal(r.code, 0, r.stderr);
    }
  });

  test('rm -f of a container whose attached client stopped reading completes at once', async () => {
    const name = `stuck-${process.pid}`;
    const p = spawnCli(d, ['run', '--name', name, 'busybox', 'yes']);
    p.stdout!.pause(); // the client's output pipe fills; the client, the daemon and the monitor hold back
    try {
      await until('the container to run', async () => (await state(d, name)) === 'running');
      await sleep(500);
      const t = Date.now();
      const r = await d.cli(['rm', '-f', name], { timeout: 10_000 });
      assert.equal(r.code, 0, r.stderr);
      assert.ok(Date.now() - t < 5000, `rm -f took ${Date.now() - t} ms`);
      assert.equal(await state(d, name), 'gone');
      p.stdout!.resume();
      await exited(p, 10_000, 'the attached client after rm -f');
    } finally {
      p.kill('SIGKILL');
      await d.cli(['rm', '-f', name]);
    }
  });

  test('kill and stop of a container that does not read a large stdin backlog take effect at once', async () => {
    for (const verb of ['kill', 'stop']) {
      const name = `backlog-${verb}-${process.pid}`;
      const p = spawnCli(d, ['run', '-i', '--name', name, 'busybox', 'sleep', '1000']);
      p.stdout!.resume();
      p.stderr!.resume();
      const chunk = Buffer.alloc(1 << 20, 0x61);
      let writing = true;
      const pump = async () => {
        while (writing) {
          if (!p.stdin!.write(chunk)) await new Promise((r) => p.stdin!.once('drain', r));
        }
      };
      p.stdin!.on('error', () => {});
      try {
        await until('the container to run', async () => (await state(d, name)) === 'running');
        void pump().catch(() => {});
        await sleep(1500); // many MiB are queued on the way: CLI, daemon, monitor
        const t = Date.now();
        const r = await d.cli(verb === 'stop' ? ['stop', '-t', '1', name] : ['kill', name], { timeout: 15_000 });
        assert.equal(r.code, 0, r.stderr);
        await until(`${verb}: the container to exit`, async () => (await state(d, name)) === 'exited', 5000);
        assert.ok(Date.now() - t < 4000, `${verb} took effect after ${Date.now() - t} ms`);
        assert.equal(await exited(p, 10_000, `the attached client after ${verb}`), verb === 'kill' ? 137 : 143);
      } finally {
        writing = false;
        p.kill('SIGKILL');
        await d.cli(['rm', '-f', name]);
      }
    }
  });

  test('timeout N tdock run -i … ends: SIGTERM is proxied even behind a stdin backlog', async () => {
    const name = `sigproxy-${process.pid}`;
    const sh = spawn('sh', ['-c', `yes | timeout 3 "${TDOCK}" run -i --name ${name} busybox sleep 1000`], {
      env: { ...process.env, TDOCK_HOST: d.host },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      // timeout exits 124 when it had to send its signal
      assert.equal(await exited(sh, 15_000, 'timeout 3 tdock run -i'), 124);
      await until('the container to exit', async () => (await state(d, name)) === 'exited', 5000);
      assert.equal((await d.inspect(name)).State.ExitCode, 143, 'the container got SIGTERM');
    } finally {
      sh.kill('SIGKILL');
      await d.cli(['rm', '-f', name]);
    }
  });

  test('an attached client that is behind when the container exits still gets every byte; nothing is left', async () => {
    const size = 2 << 20; // under the monitor's hold: the container exits while the client is behind
    const p = spawnCli(d, ['run', '--rm', 'busybox', 'head', '-c', String(size), '/dev/zero']);
    p.stdout!.pause(); // behind: the container exits long before this client reads on
    await sleep(5000);
    let got = 0;
    p.stdout!.on('data', (b: Buffer) => (got += b.length));
    p.stdout!.resume();
    assert.equal(await exited(p, 60_000, 'run after reading on'), 0);
    assert.equal(got, size, 'every byte, though the client fell behind past the exit');
    await until('nothing left', () => d.leftovers().length === 0, 10_000).catch(() => assert.deepEqual(d.leftovers(), []));
  });
});
