// npm run bench: prints the numbers the README quotes. Uses a private daemon (its
// own root, socket and cgroup parent) and removes everything it made.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import { TestDaemon, TDOCK } from '../test/helpers/daemon.ts';
import { loadApi } from '../proto/api.ts';
import { fetchOnce, requestsPerSecond, throughput } from './bench-http.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 30);

function stats(ms: number[]): string {
  const s = [...ms].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  return `median ${q(0.5).toFixed(1)} ms   p95 ${q(0.95).toFixed(1)} ms   min ${s[0]!.toFixed(1)} ms   (n=${s.length})`;
}

function timeCli(d: TestDaemon, args: string[]): number {
  const t = performance.now();
  const r = spawnSync(TDOCK, args, { env: { ...process.env, TDOCK_HOST: d.host }, stdio: ['ignore', 'ignore', 'pipe'] });
  const dt = performance.now() - t;
  if (r.status !== 0) throw new Error(`tdock ${args.join(' ')}: ${r.stderr}`);
  return dt;
}

function unary<T>(client: grpc.Client, method: string, req: unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    (client as unknown as Record<string, Function>)[method]!(req, (err: Error | null, res: T) => (err ? reject(err) : resolve(res)));
  });
}

async function daemonSide(d: TestDaemon, network: string, ports: unknown[] = [], pauseMs = 0): Promise<number[]> {
  const api = loadApi();
  const client = new api.Containers(d.host, grpc.credentials.createInsecure());
  const out: number[] = [];
  for (let i = 0; i < RUNS + 3; i++) {
    const t = performance.now();
    const { id } = await unary<{ id: string }>(client, 'Create', { image: 'busybox', cmd: ['true'], autoRemove: true, network, ports });
    // Wait first: a --rm container that exits at once is gone before a later Wait.
    const waiting = unary<{ exitCode: number }>(client, 'Wait', { id });
    await unary(client, 'Start', { id });
    const w = await waiting;
    const dt = performance.now() - t;
    if (w.exitCode !== 0) throw new Error(`exit ${w.exitCode}`);
    if (i >= 3) out.push(dt);
    if (pauseMs) await new Promise((r) => setTimeout(r, pauseMs));
  }
  client.close();
  return out;
}




async function httpBench(d: TestDaemon): Promise<void> {
  const id = (await d.ok(['run', '-d', '-p', '80', 'busybox', 'sh', '-c',
    'mkdir -p /www && echo hi > /www/index.html && dd if=/dev/zero of=/www/big bs=1M count=64 2>/dev/null && exec httpd -f -p 80 -h /www'])).trim();
  try {
    const info = await d.inspect(id);
    const hostPort = Number(info.NetworkSettings.Ports['80/tcp'][0].HostPort);
    const ip = info.NetworkSettings.IPAddress as string;
    for (let i = 0; i < 100; i++) {
      if (await fetchOnce('127.0.0.1', hostPort, '/index.html').then(() => true, () => false)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    console.log(`busybox httpd requests/s (8 concurrent, new connection each): 127.0.0.1:${hostPort} ${(await requestsPerSecond('127.0.0.1', hostPort)).toFixed(0)}   container ${ip}:80 ${(await requestsPerSecond(ip, 80)).toFixed(0)}`);
    console.log(`throughput of a 64 MB file:                           127.0.0.1 ${(await throughput('127.0.0.1', hostPort)).toFixed(0)} MB/s   container IP ${(await throughput(ip, 80)).toFixed(0)} MB/s`);
  } finally {
    await d.ok(['rm', '-f', id]);
  }
}

async function execBench(d: TestDaemon): Promise<void> {
  const id = (await d.ok(['run', '-d', 'busybox', 'sleep', '1000'])).trim();
  try {
    const t: number[] = [];
    for (let i = 0; i < RUNS; i++) t.push(timeCli(d, ['exec', id, 'true']));
    console.log(`tdock exec C true:                                   ${stats(t)}`);
  } catch (e) {
    console.log(`tdock exec C true:                                   unavailable (${e instanceof Error ? e.message.split('\n')[0] : e})`);
  } finally {
    await d.ok(['rm', '-f', id]);
  }
}

function kb(pid: number, field: string, file: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/${file}`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

async function memoryBench(d: TestDaemon): Promise<void> {
  const n = Number(process.env.BENCH_IDLE ?? 50);
  const ids: string[] = [];
  try {
    for (let i = 0; i < n; i++) ids.push((await d.ok(['run', '-d', '--network', 'none', 'busybox', 'sleep', '1000'])).trim());
    const monitors = d.monitorPids().filter((p) => readFileSync(`/proc/${p}/cmdline`, 'utf8').startsWith(`${process.cwd()}`) || true)
      .filter((p) => readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('monitor'));
    const rss = monitors.map((p) => kb(p, 'VmRSS', 'status'));
    const pss = monitors.map((p) => kb(p, 'Pss', 'smaps_rollup'));
    const avg = (a: number[]) => a.reduce((x, y) => x + y, 0) / Math.max(1, a.length);
    console.log(`shim monitor memory with ${n} idle containers (${monitors.length} monitors): RSS ${avg(rss).toFixed(0)} kB, PSS ${avg(pss).toFixed(0)} kB per container`);
  } finally {
    for (const id of ids) await d.ok(['rm', '-f', id]);
  }
}

async function main(): Promise<void> {
  const d = new TestDaemon();
  // Ctrl-C, kill, or a closed output pipe (`| head`) must not leave the private daemon,
  // its bridge, firewall table and cgroups behind.
  const abort = (why: string) => {
    void d.cleanup().finally(() => {
      process.stderr.write(`bench: ${why}: cleaned up\n`);
      process.exit(1);
    });
  };
  process.once('SIGINT', () => abort('interrupted'));
  process.once('SIGTERM', () => abort('terminated'));
  process.once('SIGHUP', () => abort('hung up'));
  process.stdout.on('error', () => abort('output closed'));
  try {
    await d.start();
    await d.ok(['pull', 'busybox']);
    for (let i = 0; i < 3; i++) timeCli(d, ['run', '--rm', 'busybox', 'true']); // warm caches
    const run: number[] = [];
    for (let i = 0; i < RUNS; i++) run.push(timeCli(d, ['run', '--rm', 'busybox', 'true']));
    console.log(`tdock run --rm busybox true (CLI start to exit):     ${stats(run)}`);
    console.log(`daemon-side create+start+wait, --network none:        ${stats(await daemonSide(d, 'none'))}`);
    console.log(`daemon-side create+start+wait, --network bridge:      ${stats(await daemonSide(d, 'bridge'))}`);
    const oneport = [{ hostIp: '', hostPort: 0, containerPort: 80, protocol: 'tcp' }];
    console.log(`daemon-side create+start+wait, bridge + -p 80:        ${stats(await daemonSide(d, 'bridge', oneport))}`);
    // Back to back, a start also waits for the previous container's nft teardown (an RCU
    // grace period); spaced out, the difference is what the network itself adds. Spacing
    // also makes each start pay the cgroup migration's grace period (see README).
    const spaced = (net: string, ports: unknown[] = []) => daemonSide(d, net, ports, 60);
    const base = await spaced('none');
    const br = await spaced('bridge');
    const brp = await spaced('bridge', oneport);
    const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
    console.log(`daemon-side, 60 ms apart: none ${med(base).toFixed(1)} ms, bridge ${med(br).toFixed(1)} ms, bridge + -p ${med(brp).toFixed(1)} ms: bridge + one port adds ${(med(brp) - med(base)).toFixed(1)} ms`);
    for (const [label, extra] of [['--network none', ['--network', 'none']], ['bridge', []], ['bridge -p', ['-p', '80']]] as const) {
      const t: number[] = [];
      for (let i = 0; i < RUNS; i++) t.push(timeCli(d, ['run', '--rm', ...extra, 'busybox', 'true']));
      console.log(`tdock run --rm ${label.padEnd(15)} busybox true:      ${stats(t)}`);
    }
    await httpBench(d);
    await execBench(d);
    await memoryBench(d);
    const ps: number[] = [];
    for (let i = 0; i < RUNS; i++) ps.push(timeCli(d, ['ps']));
    console.log(`tdock ps:                                            ${stats(ps)}`);
    const ver: number[] = [];
    for (let i = 0; i < RUNS; i++) ver.push(timeCli(d, ['--version']));
    console.log(`tdock --version (no daemon call):                    ${stats(ver)}`);
    if (d.leftovers().length) console.log(`LEFTOVERS: ${d.leftovers().join(', ')}`);
  } finally {
    await d.cleanup();
  }
}

main().catch((e) => {
  console.error(`bench: ${e instanceof Error ? e.message : e}`);
  process.exit(1);
});
