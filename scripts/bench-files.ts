// The file verbs' numbers (run by scripts/bench.sh after bench.ts): cp of a 100 MB
// directory into and out of a running container, and commit of a container with 10,000
// small changed files, each beside GNU tar doing the same amount of work in the same
// run (tar c | tar x of the same tree). Uses a private daemon; removes what it made.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { TestDaemon, TDOCK } from '../test/helpers/daemon.ts';

const RUNS = Number(process.env.BENCH_FILES_RUNS ?? 5);

function time(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): number {
  const t = performance.now();
  const r = spawnSync(cmd, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  const dt = performance.now() - t;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return dt;
}

const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;

async function main(): Promise<void> {
  const d = new TestDaemon();
  const work = mkdtempSync(join(tmpdir(), 'tdk-bench-files-'));
  await d.start();
  const env = { ...process.env, TDOCK_HOST: d.host };
  const tdock = (args: string[]) => time(TDOCK, args, env);
  try {
    // 100 MB: 100 files of 1 MiB in 10 directories
    const src = join(work, 'big');
    for (let i = 0; i < 10; i++) {
      mkdirSync(join(src, `d${i}`), { recursive: true });
      for (let j = 0; j < 10; j++) writeFileSync(join(src, `d${i}`, `f${j}`), randomBytes(1 << 20));
    }
    const c = spawnSync(TDOCK, ['run', '-d', 'busybox', 'sleep', '100000'], { env, encoding: 'utf8' }).stdout.trim();
    const cin: number[] = [];
    const cout: number[] = [];
    const tar: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      cin.push(tdock(['cp', src, `${c}:/big${i}`]));
      const out = join(work, `out${i}`);
      cout.push(tdock(['cp', `${c}:/big${i}`, out]));
      rmSync(out, { recursive: true, force: true });
      const t = join(work, `tar${i}`);
      mkdirSync(t);
      tar.push(time('bash', ['-c', `tar -C ${work} -cf - big | tar -C ${t} -xf -`]));
      rmSync(t, { recursive: true, force: true });
    }
    console.log(`cp of a 100 MB directory (100 x 1 MiB), median of ${RUNS}: in ${median(cin).toFixed(0)} ms, out ${median(cout).toFixed(0)} ms; tar c | tar x of the same tree ${median(tar).toFixed(0)} ms`);
    spawnSync(TDOCK, ['rm', '-f', c], { env });

    // commit of 10,000 small changed files
    const commit: number[] = [];
    const tarSmall: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const name = `bench-commit-${i}`;
      const r = spawnSync(TDOCK, ['run', '--name', name, 'busybox', 'sh', '-c', 'mkdir /many && cd /many && i=0; while [ $i -lt 10000 ]; do echo $i > f$i; i=$((i+1)); done'], { env });
      if (r.status !== 0) throw new Error(`bench container: ${r.stderr}`);
      commit.push(tdock(['commit', name, `bench-commit:${i}`]));
      const upper = join(d.root, 'containers', spawnSync(TDOCK, ['inspect', '-f', '{{.Id}}', name], { env, encoding: 'utf8' }).stdout.trim(), 'upper');
      const t = join(work, `small${i}`);
      mkdirSync(t);
      tarSmall.push(time('bash', ['-c', `tar -C ${upper} -cf - many | tar -C ${t} -xf -`]));
      rmSync(t, { recursive: true, force: true });
      spawnSync(TDOCK, ['rm', '-f', name], { env });
      spawnSync(TDOCK, ['rmi', `bench-commit:${i}`], { env });
    }
    console.log(`commit of 10,000 small changed files, median of ${RUNS}: ${median(commit).toFixed(0)} ms; tar c | tar x of the upper dir ${median(tarSmall).toFixed(0)} ms`);
  } finally {
    await d.cleanup();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(`bench-files: ${e instanceof Error ? e.message : e}`);
  process.exit(1);
});
