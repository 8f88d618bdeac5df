// Benchmark: `save` and `load` of the busybox image (store level: the code the daemon
// runs, without the gRPC hop), each beside GNU tar doing the same work on the same data
// in the same run: `tar -cf` of the unpacked layer for save, `tar -xf` of the layer tar
// for load. Median of --runs runs (default 5).
//
//   node scripts/bench-save-load.ts [--runs 5] [--dir /var/tmp] [--json]
import { execFileSync } from 'node:child_process';
import { createReadStream, createWriteStream, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { openDb } from '../daemon/store/db.ts';
import { ensureBusybox } from '../images/busybox.ts';
import { loadArchive } from '../images/load.ts';
import { resolveForSave, saveArchive } from '../images/save.ts';
import { ImageStore } from '../images/store.ts';

const argv = process.argv.slice(2);
const opt = (k: string, d: string) => (argv.includes(k) ? argv[argv.indexOf(k) + 1]! : d);
const runs = Number(opt('--runs', '5'));
const json = argv.includes('--json');
const isRoot = process.getuid?.() === 0;
const SHIFT = isRoot ? { uid: 100000, gid: 100000, size: 65536 } : { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, size: 1 };

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
async function time(fn: () => Promise<void> | void): Promise<number> {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(opt('--dir', '/var/tmp'), 'tdock-bench-saveload-'));
  try {
    const store = (name: string) => {
      const root = join(work, name);
      mkdirSync(root);
      return new ImageStore(openDb(join(root, 'tdock.db')), root, SHIFT);
    };
    const src = store('src');
    const img = await ensureBusybox(src);
    const layerDir = src.layerDirs(img.id)[0]!;
    const archive = join(work, 'busybox.tar');
    const plain = join(work, 'layer.tar');
    const t = { save: [] as number[], tarC: [] as number[], load: [] as number[], tarX: [] as number[] };
    for (let i = 0; i < runs; i++) {
      t.save.push(await time(() => pipeline(Readable.from(saveArchive(src, resolveForSave(src, ['busybox']))), createWriteStream(archive))));
      t.tarC.push(await time(() => {
        execFileSync('tar', ['-cf', plain, '-C', layerDir, '.']);
      }));
      const dst = store(`dst-${i}`);
      t.load.push(await time(async () => {
        await loadArchive(dst, createReadStream(archive));
      }));
      const x = join(work, `x-${i}`);
      mkdirSync(x);
      t.tarX.push(await time(() => {
        execFileSync('tar', ['-xf', plain, '-C', x]);
      }));
    }
    const r = {
      archiveMB: +(statSync(archive).size / 1e6).toFixed(2),
      saveMs: +median(t.save).toFixed(1), tarCreateMs: +median(t.tarC).toFixed(1),
      loadMs: +median(t.load).toFixed(1), tarExtractMs: +median(t.tarX).toFixed(1), runs,
    };
    if (json) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
    else {
      process.stdout.write(`save/load of busybox (${r.archiveMB} MB archive), median of ${runs}:\n`);
      process.stdout.write(`  save ${r.saveMs} ms   vs tar -cf of the layer ${r.tarCreateMs} ms\n`);
      process.stdout.write(`  load ${r.loadMs} ms   vs tar -xf of the layer ${r.tarExtractMs} ms\n`);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e) => {
  process.stderr.write(`bench-save-load: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
