// npm run bench (part): rootless beside rootful in one run. A throwaway user starts its
// own tdockd; `run --rm busybox true` and a published port's requests/s are measured on
// it and on a private rootful daemon, interleaved. Everything made is removed.
import { spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { RootlessUser } from '../test/helpers/rootless.ts';
import { TestDaemon, TDOCK } from '../test/helpers/daemon.ts';
import { fetchOnce, freePort, requestsPerSecond } from './bench-http.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 30);

function stats(ms: number[]): string {
  const s = [...ms].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  return `median ${q(0.5).toFixed(1)} ms   p95 ${q(0.95).toFixed(1)} ms   (n=${s.length})`;
}

function timed(argv: string[], env: NodeJS.ProcessEnv = process.env): number {
  const t = performance.now();
  const r = spawnSync(argv[0]!, argv.slice(1), { env, stdio: ['ignore', 'ignore', 'pipe'], cwd: '/' });
  const dt = performance.now() - t;
  if (r.status !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr}`);
  return dt;
}

const HTTPD = ['sh', '-c', 'mkdir -p /www && echo hi > /www/index.html && exec httpd -f -p 80 -h /www'];

async function portRate(start: (port: number) => Promise<string>, rm: (id: string) => Promise<unknown>): Promise<number> {
  const port = await freePort();
  const id = await start(port);
  try {
    for (let i = 0; i < 200; i++) {
      if (await fetchOnce('127.0.0.1', port, '/index.html').then(() => true, () => false)) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    return await requestsPerSecond('127.0.0.1', port);
  } finally {
    await rm(id);
  }
}

async function main(): Promise<void> {
  const u = new RootlessUser();
  const d = new TestDaemon();
  const cleanup = async () => {
    await u.remove();
    await d.cleanup();
  };
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void cleanup().then(() => process.exit(1)));
  try {
    u.create().grant();
    await u.startDaemon();
    await d.start();
    const rootless = u.as([TDOCK, 'run', '--rm', 'busybox', 'true']);
    const rootful = [TDOCK, 'run', '--rm', 'busybox', 'true'];
    const env = { ...process.env, TDOCK_HOST: d.host };
    for (let i = 0; i < 3; i++) {
      timed(rootless);
      timed(rootful, env);
    }
    const a: number[] = [];
    const b: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      a.push(timed(rootful, env));
      b.push(timed(rootless));
    }
    // setpriv + env add their own exec to the rootless numbers:
    const wrap: number[] = [];
    for (let i = 0; i < RUNS; i++) wrap.push(timed(u.as(['true'])));
    console.log(`run --rm busybox true, rootful:                      ${stats(a)}`);
    console.log(`run --rm busybox true, rootless (CLI via setpriv):   ${stats(b)}   (setpriv+env alone: ${stats(wrap)})`);
    const rf = await portRate(async (p) => (await d.ok(['run', '-d', '-p', `${p}:80`, 'busybox', ...HTTPD])).trim(), (id) => d.ok(['rm', '-f', id]));
    const rl = await portRate(async (p) => (await u.ok(['run', '-d', '-p', `${p}:80`, 'busybox', ...HTTPD])).trim(), (id) => u.ok(['rm', '-f', id]));
    console.log(`published port requests/s via 127.0.0.1 (8 concurrent, new connection each): rootful ${rf.toFixed(0)}   rootless (slirp4netns) ${rl.toFixed(0)}`);
  } finally {
    await cleanup();
  }
}

main().catch((e) => {
  console.error(`bench: ${e instanceof Error ? e.message : e}`);
  process.exit(1);
});
