// npm run bench (part): the two user-mode networks a rootless daemon could use,
// measured side by side on one namespace: pasta (passt) and slirp4netns. A throwaway
// user owns a user+network namespace running busybox httpd; each tool forwards a host
// port on 127.0.0.1 to it. Prints start cost, connection rate and throughput.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readlinkSync, rmSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { RootlessUser } from '../test/helpers/rootless.ts';
import { slirpCall } from '../daemon/rootless/launcher.ts';
import { requestsPerSecond, throughput, fetchOnce, freePort } from './bench-http.ts';

const RUNS = Number(process.env.BENCH_NET_RUNS ?? 5);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function waitUp(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await fetchOnce('127.0.0.1', port, '/index.html').then(() => true, () => false)) return;
    await sleep(25);
  }
  throw new Error(`nothing answers on 127.0.0.1:${port}`);
}

/** Starts one forwarder for `pid`'s namespace; resolves with its stop function once it forwards `port`. */
async function startSlirp(u: RootlessUser, pid: number, port: number, dir: string): Promise<() => void> {
  const api = join(u.runtime, `slirp-${port}.sock`);
  const [bin, ...args] = u.as(['slirp4netns', '--configure', '--mtu=65520', '--disable-host-loopback', '--api-socket', api, '--ready-fd', '3', String(pid), 'tap0']);
  const p = spawn(bin!, args, { stdio: ['ignore', 'ignore', 'ignore', 'pipe'] });
  await new Promise((resolve, reject) => {
    (p.stdio[3] as NodeJS.ReadableStream).once('data', resolve);
    p.once('exit', (code) => reject(new Error(`slirp4netns exited ${code}`)));
  });
  await slirpCall(api, { execute: 'add_hostfwd', arguments: { proto: 'tcp', host_addr: '127.0.0.1', host_port: port, guest_port: 8000 } });
  return () => p.kill('SIGKILL');
}

async function startPasta(u: RootlessUser, pid: number, port: number, dir: string): Promise<() => void> {
  const pidfile = join(u.runtime, `pasta-${port}.pid`);
  const [bin, ...args] = u.as(['pasta', '--config-net', '--no-map-gw', '-q', '-t', `127.0.0.1/${port}:8000`, '-u', 'none', '-T', 'none', '-U', 'none',
    '-P', pidfile, '--userns', `/proc/${pid}/ns/user`, '--netns', `/proc/${pid}/ns/net`]);
  // pasta forks into the background once it forwards: its parent's exit is "ready"
  const p = spawn(bin!, args, { stdio: 'ignore' });
  const code = await new Promise((r) => p.once('exit', r));
  if (code !== 0) throw new Error(`pasta exited ${code}`);
  const bg = Number(readFileSync(pidfile, 'utf8').trim());
  return () => process.kill(bg, 'SIGKILL');
}

async function main(): Promise<void> {
  const u = new RootlessUser();
  const dir = mkdtempSync('/tmp/tdrl-bench-');
  chmodSync(dir, 0o755);
  const stops: (() => void)[] = [];
  let holder: ReturnType<typeof spawn> | undefined;
  const cleanup = async () => {
    for (const s of stops) {
      try { s(); } catch { /* gone */ }
    }
    holder?.kill('SIGKILL');
    await u.remove();
    rmSync(dir, { recursive: true, force: true });
  };
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void cleanup().then(() => process.exit(1)));
  const step = (m: string) => process.env.BENCH_DEBUG && console.error(m);
  try {
    u.create().grant();
    const www = join(dir, 'www');
    spawnSync('sh', ['-c', `mkdir -p ${www} && echo hi > ${www}/index.html && dd if=/dev/zero of=${www}/big bs=1M count=64 2>/dev/null && chmod -R a+rX ${dir}`]);
    const [bin, ...args] = u.as(['unshare', '--user', '--map-root-user', '--net', 'sh', '-c', `ip link set lo up && exec busybox httpd -f -p 8000 -h ${www}`]);
    holder = spawn(bin!, args, { stdio: 'ignore' });
    const self = readlinkSync('/proc/self/ns/net');
    // the holder's pid is the shell's (setpriv, env and unshare exec), then httpd's
    for (let i = 0; i < 200 && (!existsSync(`/proc/${holder.pid}/ns/net`) || readlinkSync(`/proc/${holder.pid}/ns/net`) === self || !readFileSync(`/proc/${holder.pid}/cmdline`, 'utf8').includes('httpd')); i++) await sleep(10);
    step(`holder ${holder.pid}`);
    for (const [name, start] of [['slirp4netns', startSlirp], ['pasta', startPasta]] as const) {
      step(name);
      const costs: number[] = [];
      let port = 0;
      for (let i = 0; i < RUNS; i++) {
        port = await freePort();
        const t = performance.now();
        const stop = await start(u, holder.pid!, port, dir);
        await waitUp(port);
        costs.push(performance.now() - t);
        if (i < RUNS - 1) stop();
        else stops.push(stop);
      }
      const rps = await requestsPerSecond('127.0.0.1', port);
      const mbs = await throughput('127.0.0.1', port);
      console.log(`rootless network ${name.padEnd(11)}: start to first answer ${median(costs).toFixed(1)} ms (median of ${RUNS}), ` +
        `${rps.toFixed(0)} requests/s (8 concurrent, new connection each), ${mbs.toFixed(0)} MB/s (64 MB file) via 127.0.0.1`);
    }
  } finally {
    await cleanup();
  }
}

main().catch((e) => {
  console.error(`bench: ${e instanceof Error ? e.message : e}`);
  process.exit(1);
});
