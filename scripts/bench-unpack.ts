// Benchmark: unpack throughput of tdock's layer extractor vs GNU `tar xzf` on the same
// ~200 MB (unpacked) rootfs-like tarball, in the same run, on the same file system; and
// (with --run, needs root, docker-registry and a built tree) `tdock run` of a 3-layer
// image right after it was pulled from a local registry.
//
//   node scripts/bench-unpack.ts [--size-mb 200] [--dir /var/tmp] [--runs 2] [--run] [--json]
//
// The tarball is generated once (deterministic, cached in DIR/tdock-bench-unpack/):
// a rootfs-like mix of many small files, some medium and a few large ones, with
// text-like content that gzip compresses about 3x (like binaries and libraries do).
// Throughput is MB (10^6 bytes) of unpacked file data per second of wall time; both
// tools unpack as root, keeping owners (tdock shifts them into the subordinate range).
import { execFileSync, spawnSync } from 'node:child_process';
import { createReadStream, createWriteStream, existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import { extractLayer } from '../images/tar-extract.ts';
import { tarEntry, tarEnd } from '../images/tar-writer.ts';

interface Args { sizeMb: number; dir: string; runs: number; run: boolean; json: boolean }

function parseArgs(argv: string[]): Args {
  const a: Args = { sizeMb: 200, dir: '/var/tmp', runs: 2, run: false, json: false };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (k === '--size-mb') a.sizeMb = Number(argv[++i]);
    else if (k === '--dir') a.dir = argv[++i]!;
    else if (k === '--runs') a.runs = Number(argv[++i]);
    else if (k === '--run') a.run = true;
    else if (k === '--json') a.json = true;
    else throw new Error(`unknown argument ${k}`);
  }
  return a;
}

/** xorshift32: deterministic, fast */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

const WORDS = ('the of and to in is for on that by with from as at this be are or an it not which have has was can all ' +
  'lib usr bin etc share include libc so init main config error return const static void int char struct unsigned ' +
  'ELF text data bss rodata symtab strtab dynamic plt got version glibc python perl shell locale zoneinfo').split(' ');

/** Text-like data: words plus some random bytes; gzip -6 gets about 3x. */
function content(r: () => number, size: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  let o = 0;
  while (o < size) {
    const v = r();
    if ((v & 31) === 0) {
      // a short run of noise
      const n = Math.min(4 + (v >>> 29), size - o);
      for (let i = 0; i < n; i++) b[o++] = r() & 0xff;
    } else {
      const w = WORDS[(v >>> 8) % WORDS.length]!;
      o += b.write(w + ((v & 0x30) === 0 ? '\n' : ' '), o, 'latin1');
    }
  }
  return b;
}

/** Generates the tarball (gzip) and returns its path and the bytes of file data in it. */
async function generate(dir: string, sizeMb: number): Promise<{ file: string; dataBytes: number; files: number }> {
  const file = join(dir, `rootfs-${sizeMb}mb.tar.gz`);
  const r = rng(0x5eed + sizeMb);
  const target = sizeMb * 1e6;
  // plan the files first (cheap) so the plan is stable
  const plan: { path: string; size: number; dir?: boolean }[] = [];
  let total = 0;
  let d = 0;
  while (total < target) {
    const dirPath = `usr/lib/pkg${d++}/`;
    plan.push({ path: dirPath, size: 0, dir: true });
    const filesHere = 5 + (r() % 40);
    for (let i = 0; i < filesHere && total < target; i++) {
      const v = r() % 1000;
      // like a distribution's rootfs: 88% small (< 8 KB), 11.5% medium (16 .. 200 KB), 0.5% large (1 .. 8 MB);
      // about 38 KB per file on average
      const size = v < 880 ? 200 + (r() % 7800) : v < 995 ? 16384 + (r() % 184_000) : (1 << 20) + (r() % (7 << 20));
      plan.push({ path: `${dirPath}file${i}${v < 880 ? '.txt' : '.so'}`, size });
      total += size;
    }
  }
  const files = plan.filter((p) => !p.dir).length;
  if (existsSync(file) && existsSync(file + '.ok')) return { file, dataBytes: total, files };
  mkdirSync(dir, { recursive: true });
  process.stderr.write(`bench-unpack: generating ${file} (${files} files, ${(total / 1e6).toFixed(0)} MB)...\n`);
  async function* entries(): AsyncGenerator<Buffer> {
    yield tarEntry({ path: 'usr/', type: 'dir' });
    yield tarEntry({ path: 'usr/lib/', type: 'dir' });
    for (const p of plan) {
      if (p.dir) yield tarEntry({ path: p.path, type: 'dir', mtime: 1700000000 });
      else yield tarEntry({ path: p.path, data: content(r, p.size), mode: 0o644, mtime: 1700000000 });
    }
    yield tarEnd();
  }
  await pipeline(Readable.from(entries()), createGzip({ level: 6 }), createWriteStream(file));
  createWriteStream(file + '.ok').end();
  return { file, dataBytes: total, files };
}

function clean(p: string): void {
  rmSync(p, { recursive: true, force: true });
  spawnSync('sync');
}

async function timeIt(fn: () => Promise<void> | void): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const work = join(a.dir, 'tdock-bench-unpack');
  const { file, dataBytes, files } = await generate(work, a.sizeMb);
  const out = join(work, 'out');
  const shift = process.getuid?.() === 0 ? { uid: 100000, gid: 100000, size: 65536 } : { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, size: 65536 };
  const results: { tool: string; seconds: number; mbps: number }[] = [];
  for (let run = 0; run < a.runs; run++) {
    clean(out);
    mkdirSync(out);
    const tgnu = await timeIt(() => {
      execFileSync('tar', ['xzf', file, '-C', out], { stdio: 'inherit' });
    });
    results.push({ tool: 'gnu-tar', seconds: tgnu, mbps: dataBytes / 1e6 / tgnu });
    clean(out);
    mkdirSync(out);
    const ttd = await timeIt(async () => {
      await extractLayer(createReadStream(file, { highWaterMark: 1 << 20 }), out, { shift });
    });
    results.push({ tool: 'tdock', seconds: ttd, mbps: dataBytes / 1e6 / ttd });
  }
  clean(out);
  const best = (tool: string) => Math.max(...results.filter((r) => r.tool === tool).map((r) => r.mbps));
  const gnu = best('gnu-tar');
  const td = best('tdock');
  const summary = {
    tarball: file, compressedMB: +(statSync(file).size / 1e6).toFixed(1), unpackedMB: +(dataBytes / 1e6).toFixed(1), files,
    gnuTarMBps: +gnu.toFixed(1), tdockMBps: +td.toFixed(1), ratio: +(td / gnu).toFixed(2), runs: results,
  };
  if (a.run) Object.assign(summary, { runAfterPull: await runAfterPull(work) });
  if (a.json) {
    process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
  } else {
    process.stdout.write(`unpack ${summary.unpackedMB} MB in ${files} files (${summary.compressedMB} MB gzip):\n`);
    for (const r of results) process.stdout.write(`  ${r.tool.padEnd(8)} ${r.seconds.toFixed(2)} s  ${r.mbps.toFixed(1)} MB/s\n`);
    process.stdout.write(`  best: tdock ${td.toFixed(1)} MB/s vs GNU tar ${gnu.toFixed(1)} MB/s = ${(td / gnu).toFixed(2)}x (target >= 0.8x)\n`);
    const rp = (summary as { runAfterPull?: Record<string, number | string> }).runAfterPull;
    if (rp) process.stdout.write(`run after pull: ${JSON.stringify(rp)}\n`);
  }
  void readdirSync;
}

/** Pull of a 3-layer image from a local registry, then `tdock run --rm IMAGE true` (first run). */
async function runAfterPull(work: string): Promise<Record<string, number | string>> {
  const { runAfterPullBench } = await import('./bench-run-after-pull.ts');
  return runAfterPullBench(work);
}

main().catch((e) => {
  process.stderr.write(`bench-unpack: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
