// npm run bench: prints the numbers the README quotes. Uses a private daemon (its
// own root, socket and cgroup parent) and removes everything it made.
import { spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import { TestDaemon, TDOCK } from '../test/helpers/daemon.ts';
import { loadApi } from '../proto/api.ts';

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

async function daemonSide(d: TestDaemon): Promise<number[]> {
  const api = loadApi();
  const client = new api.Containers(d.host, grpc.credentials.createInsecure());
  const out: number[] = [];
  for (let i = 0; i < RUNS + 3; i++) {
    const t = performance.now();
    const { id } = await unary<{ id: string }>(client, 'Create', { image: 'busybox', cmd: ['true'], autoRemove: true, network: 'none' });
    await unary(client, 'Start', { id });
    const w = await unary<{ exitCode: number }>(client, 'Wait', { id });
    const dt = performance.now() - t;
    if (w.exitCode !== 0) throw new Error(`exit ${w.exitCode}`);
    if (i >= 3) out.push(dt);
  }
  client.close();
  return out;
}

async function main(): Promise<void> {
  const d = new TestDaemon();
  try {
    await d.start();
    await d.ok(['pull', 'busybox']);
    for (let i = 0; i < 3; i++) timeCli(d, ['run', '--rm', 'busybox', 'true']); // warm caches
    const run: number[] = [];
    for (let i = 0; i < RUNS; i++) run.push(timeCli(d, ['run', '--rm', 'busybox', 'true']));
    console.log(`tdock run --rm busybox true (CLI start to exit):     ${stats(run)}`);
    console.log(`daemon-side create+start+wait (gRPC, no CLI start):  ${stats(await daemonSide(d))}`);
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
