// After a daemon restart: reconcile SQLite with what is really running, and finish
// what a crash cut short (Docker does the same on restore).
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { constants as osConstants } from 'node:os';
import { removeTree } from './bundle.ts';
import type { Lifecycle } from './lifecycle.ts';
import type { MonitorSupervisor } from './supervisor.ts';
import type { EngineContext } from './types.ts';
import { NO_RESTART } from '../../lib/restart-policy.ts';
import { startsWithDaemon } from './restart-policy.ts';

/**
 * Reconnects to live monitors, records the exits that happened while the daemon was
 * away, removes --rm containers that are not running and containers whose removal
 * had begun, tears down what stopped containers left (cgroups, run dirs; the network
 * reconciled itself at its set-up), and removes bundle and run directories that have
 * no row. Then starts what the restart policies start with the daemon (Docker's restore).
 */
export async function recover(ctx: EngineContext, sup: MonitorSupervisor, life: Lifecycle): Promise<void> {
  const { repo, host, layout } = ctx;
  removeOrphanDirs(ctx);
  // Waiting to restart when the daemon stopped: judged below with the others, on its last exit.
  for (const c of repo.all()) if (c.state === 'restarting') repo.endRestarting(c.id);
  // A start the previous daemon never finished: its monitor waits for START forever.
  for (const c of repo.all().filter((r) => r.state === 'created' || r.state === 'exited' || r.state === 'dead')) {
    const sock = layout.socketPath(c.id);
    if (!host.socketExists(sock)) continue;
    const conn = await host.connect(sock).catch(() => undefined);
    if (!conn) continue;
    ctx.log(`container ${c.id.slice(0, 12)}: ending the monitor of a start that never finished`);
    const closed = new Promise<void>((r) => conn.once('close', () => r()));
    conn.signal(osConstants.signals.SIGKILL);
    await closed;
  }
  for (const c of repo.live()) {
    const sock = layout.socketPath(c.id);
    const conn = host.socketExists(sock) ? await host.connect(sock).catch(() => undefined) : undefined;
    if (conn) {
      conn.quiet();
      sup.bindControl(c.id, conn);
      sup.state(c.id).initStartTime = host.startTime(c.pid);
      // Recorded as running but cut off before START: let it run (ignored after the first).
      conn.start();
      ctx.log(`recovered running container ${c.id.slice(0, 12)}`);
      continue;
    }
    const exit = layout.readExitFile(c.id);
    ctx.log(`container ${c.id.slice(0, 12)} ${exit ? 'exited' : 'lost its monitor'} while the daemon was down`);
    // Judged by its restart policy below, once, like every stopped container.
    await life.onExit(c.id, exit, { policy: false });
  }
  for (const c of repo.all()) {
    if (c.state === 'running') continue;
    await life.teardown(c);
    if (c.state === 'dead' || c.spec.autoRemove) {
      ctx.log(`container ${c.id.slice(0, 12)}: ${c.state === 'dead' ? 'finishing its removal' : 'removing it (--rm)'}`);
      await life.removeFiles(c);
      sup.forget(c.id);
    }
  }
  await startWithDaemon(ctx, life);
}

/**
 * Docker's restore: `always` containers start, `unless-stopped` ones unless the user
 * stopped them, `on-failure` ones whose last run failed (not by a user stop) within
 * their maximum. A start that fails is logged; the daemon starts anyway.
 */
async function startWithDaemon(ctx: EngineContext, life: Lifecycle): Promise<void> {
  for (const c of ctx.repo.all()) {
    if (c.state !== 'exited') continue;
    const facts = { exitCode: c.exitCode, manuallyStopped: c.manuallyStopped, restartCount: c.restartCount, startedBefore: c.started > 0 };
    if (!startsWithDaemon(c.spec.restartPolicy ?? NO_RESTART, facts)) continue;
    ctx.log(`container ${c.id.slice(0, 12)}: starting it (restart policy ${c.spec.restartPolicy?.name})`);
    await life.start(c.id).catch((e) => ctx.log(`container ${c.id.slice(0, 12)}: restart policy: ${e instanceof Error ? e.message : String(e)}`));
  }
}

/** Bundle and run directories without a row: a create or an rm that a crash cut short. */
function removeOrphanDirs(ctx: EngineContext): void {
  const { repo, layout } = ctx;
  const ids = new Set(repo.all().map((c) => c.id));
  const shortIds = new Set([...ids].map((id) => id.slice(0, 12)));
  const list = (d: string) => (existsSync(d) ? readdirSync(d) : []);
  for (const d of list(layout.containersDir)) {
    if (ids.has(d)) continue;
    ctx.log(`removing the directory of container ${d.slice(0, 12)}, which has no record`);
    removeTree(join(layout.containersDir, d));
  }
  for (const d of list(layout.runDirs)) {
    if (shortIds.has(d)) continue;
    removeTree(join(layout.runDirs, d));
  }
}
