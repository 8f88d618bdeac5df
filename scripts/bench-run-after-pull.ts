// Benchmark part of bench-unpack.ts --run: a private tdockd pulls a 3-layer image
// (busybox rootfs + two small layers) from a local docker-registry, then runs it once.
// Reports the pull time and the time of the first `tdock run --rm IMAGE true` after it.
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { buildBusyboxTar } from '../images/busybox.ts';
import { tarArchive } from '../images/tar-writer.ts';
import { TestDaemon } from '../test/helpers/daemon.ts';
import { haveRegistry, Pusher, pushImage, startRegistry } from '../test/integration/registry-harness.ts';

export async function runAfterPullBench(work: string): Promise<Record<string, number | string>> {
  if (process.getuid?.() !== 0) return { skipped: 'needs root' };
  if (!haveRegistry) return { skipped: 'docker-registry is not installed' };
  const dir = join(work, 'run-after-pull');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const reg = await startRegistry(join(dir, 'registry'));
  const d = new TestDaemon();
  try {
    const p = new Pusher(reg.base);
    await pushImage(p, 'bench/three', 'latest', [
      { tar: await buildBusyboxTar(), compression: 'gzip' },
      { tar: tarArchive([{ path: 'etc/', type: 'dir' }, { path: 'etc/motd', data: 'layer 2\n' }]), compression: 'gzip' },
      { tar: tarArchive([{ path: 'app/', type: 'dir' }, { path: 'app/hello', data: '#!/bin/sh\necho hello\n', mode: 0o755 }]), compression: 'none' },
    ], { config: { Env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sh'] } });
    await d.start();
    const ref = `${reg.host}/bench/three:latest`;
    const t0 = performance.now();
    await d.ok(['pull', '-q', ref], { timeout: 60000 });
    const t1 = performance.now();
    const out = await d.ok(['run', '--rm', ref, 'sh', '-c', 'cat /etc/motd; /app/hello'], { timeout: 60000 });
    const t2 = performance.now();
    if (!out.includes('layer 2') || !out.includes('hello')) throw new Error(`unexpected output: ${out}`);
    await d.ok(['run', '--rm', ref, 'true'], { timeout: 60000 });
    const t3 = performance.now();
    return { pullMs: Math.round(t1 - t0), firstRunMs: Math.round(t2 - t1), secondRunMs: Math.round(t3 - t2) };
  } finally {
    await d.stop().catch(() => {});
    await d.cleanup().catch(() => {});
    await reg.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
