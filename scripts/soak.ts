// npm run soak [-- --count N --parallel P]: many `tdock run --rm -p 0:80 busybox true`
// against a private daemon (own root, exec-root, socket, bridge, subnet, nft table,
// cgroup parent: test/helpers/daemon.ts), then checks that nothing is left and that
// the daemon's memory and descriptors did not grow with the runs. Not part of
// `npm test` (minutes, and numbers rather than pass/fail on a shared machine); exits
// non-zero when a run failed or something was left. Everything it made is removed,
// also on Ctrl-C or a failure.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { TestDaemon, TDOCK } from '../test/helpers/daemon.ts';

const USAGE = 'usage: node scripts/soak.ts [--count N (1000)] [--parallel P (10)]';

function options(): { count: number; parallel: number } {
  const { values } = parseArgs({
    options: { count: { type: 'string', short: 'n' }, parallel: { type: 'string', short: 'p' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const int = (v: string | undefined, d: number, what: string) => {
    if (v === undefined) return d;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${what} "${v}": expected a positive integer; ${USAGE}`);
    return n;
  };
  return { count: int(values.count, 1000, 'count'), parallel: int(values.parallel, 10, 'parallel') };
}

interface Sample { label: string; rssKb: number; fds: number; threads: number; children: number }

function sample(label: string, pid: number): Sample {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
  return { label, rssKb: field('VmRSS'), fds: readdirSync(`/proc/${pid}/fd`).length, threads: field('Threads'), children: childrenOf(pid).length };
}

/** The daemon's child processes (zombies included): a --rm run must leave none. */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      out.push(...readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
    } catch {
      /* thread gone */
    }
  }
  return out;
}

/** Everything a run could leave: the test helper's list, plus the network and the database. */
function leftovers(d: TestDaemon, baseline: { root: string[]; execRoot: string[] }): string[] {
  const left = d.leftovers();
  // cgroup v2: the unified hierarchy is /sys/fs/cgroup itself (leftovers() looks one level down)
  const v2 = join('/sys/fs/cgroup', d.cgroupParent);
  if (existsSync(join('/sys/fs/cgroup', 'cgroup.controllers')) && existsSync(v2)) {
    for (const e of readdirSync(v2, { withFileTypes: true })) if (e.isDirectory()) left.push(`cgroup ${join(v2, e.name)}`);
  }
  left.push(...d.networkLeftovers());
  for (const link of readdirSync('/sys/class/net')) {
    if (!/^td[0-9a-f]{10}$/.test(link)) continue;
    try {
      if (readlinkSync(`/sys/class/net/${link}/master`).endsWith(`/${d.bridge}`)) left.push(`veth ${link}`);
    } catch {
      /* not on a bridge, or gone */
    }
  }
  for (const [dir, before] of [[d.root, baseline.root], [d.execRoot, baseline.execRoot]] as const) {
    for (const f of readdirSync(dir)) if (!before.includes(f)) left.push(`new file ${join(dir, f)}`);
  }
  if (d.proc?.pid) for (const c of childrenOf(d.proc.pid)) left.push(`daemon child process ${c}`);
  return left;
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
}

async function main(): Promise<number> {
  const { count, parallel } = options();
  const d = new TestDaemon();
  const inFlight = new Set<ChildProcess>();
  let cleaning: Promise<void> | undefined;
  const cleanup = () => (cleaning ??= (async () => {
    for (const p of inFlight) p.kill('SIGKILL');
    await d.cleanup();
  })());
  const abort = (why: string, code: number) => {
    process.stderr.write(`\nsoak: ${why}: cleaning up\n`);
    void cleanup().finally(() => process.exit(code));
  };
  process.once('SIGINT', () => abort('interrupted', 130));
  process.once('SIGTERM', () => abort('terminated', 143));
  process.once('SIGHUP', () => abort('hung up', 129));
  process.stdout.on('error', () => abort('output closed', 1));

  try {
    await d.start();
    const pid = d.proc!.pid!;
    const args = ['run', '--rm', '-p', '0:80', 'busybox', 'true'];
    const runOnce = () => new Promise<{ code: number; ms: number; err: string }>((resolve) => {
      const t = performance.now();
      const p = spawn(TDOCK, args, { env: { ...process.env, TDOCK_HOST: d.host }, stdio: ['ignore', 'ignore', 'pipe'] });
      inFlight.add(p);
      let err = '';
      p.stderr!.on('data', (b: Buffer) => {
        if (err.length < 2000) err += b.toString();
      });
      p.on('close', (code, sig) => {
        inFlight.delete(p);
        resolve({ code: code ?? 128 + (sig ? 9 : 0), ms: performance.now() - t, err: err.trim() });
      });
    });

    console.log(`soak: ${count} x \`tdock ${args.join(' ')}\`, ${parallel} in parallel; daemon pid ${pid}, root ${d.root}, bridge ${d.bridge} ${d.subnet}`);
    const samples: Sample[] = [sample('daemon ready', pid)];
    await d.ok(['pull', 'busybox']);
    // warm-up: lazily loaded code and first-use caches count as the baseline, not as growth
    await Promise.all(Array.from({ length: parallel }, runOnce));
    await sleep(1000);
    const baseline = { root: readdirSync(d.root), execRoot: readdirSync(d.execRoot) };
    samples.push(sample('after warm-up', pid));

    const times: number[] = [];
    const failures: string[] = [];
    let next = 0;
    const t0 = performance.now();
    const worker = async () => {
      while (next < count && !cleaning) {
        next++;
        const r = await runOnce();
        times.push(r.ms);
        if (r.code !== 0) failures.push(`exit ${r.code}: ${r.err.split('\n')[0]}`);
        if (times.length % 100 === 0 || times.length === count) {
          const s = (performance.now() - t0) / 1000;
          const now = sample('', pid);
          process.stdout.write(`  ${times.length}/${count} runs, ${failures.length} failed, ${s.toFixed(1)} s (${(times.length / s).toFixed(1)} runs/s); ` +
            `daemon RSS ${(now.rssKb / 1024).toFixed(1)} MB, ${now.fds} fds; load ${readFileSync('/proc/loadavg', 'utf8').split(' ')[0]}\n`);
        }
      }
    };
    await Promise.all(Array.from({ length: parallel }, worker));
    const wall = (performance.now() - t0) / 1000;
    samples.push(sample(`after ${count} runs`, pid));

    // --rm removal finishes in the daemon just after the CLI returns: give it a moment
    let left = leftovers(d, baseline);
    for (let i = 0; i < 50 && left.length; i++) {
      await sleep(100);
      left = leftovers(d, baseline);
    }
    await sleep(2000);
    samples.push(sample('2 s later', pid));
    left = leftovers(d, baseline);

    const sorted = [...times].sort((a, b) => a - b);
    console.log(`\nruns: ${times.length} in ${wall.toFixed(1)} s (${(times.length / wall).toFixed(1)}/s), ${failures.length} failed; ` +
      `per run median ${pct(sorted, 0.5).toFixed(0)} ms, p95 ${pct(sorted, 0.95).toFixed(0)} ms, max ${(sorted.at(-1) ?? NaN).toFixed(0)} ms`);
    for (const f of [...new Set(failures)].slice(0, 10)) console.log(`  failure: ${f} (x${failures.filter((x) => x === f).length})`);
    console.log('\n| daemon | RSS (MB) | open fds | threads | child processes |');
    console.log('|---|---|---|---|---|');
    for (const s of samples) console.log(`| ${s.label} | ${(s.rssKb / 1024).toFixed(1)} | ${s.fds} | ${s.threads} | ${s.children} |`);
    console.log(`\nleft behind (container and run dirs, monitors, cgroups in every hierarchy, mounts, veths, bridge ports, nft elements, rows, leases, new files): ${left.length ? '' : 'nothing'}`);
    for (const l of left.slice(0, 50)) console.log(`  ${l}`);
    if (left.length > 50) console.log(`  ... and ${left.length - 50} more`);
    return failures.length || left.length ? 1 : 0;
  } finally {
    await cleanup();
  }
}

main().then((code) => process.exit(code), (e: unknown) => {
  console.error(`soak: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
