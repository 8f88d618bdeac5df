// tdockd: the daemon. Wires options → state → engine → gRPC server, and shuts down
// leaving running containers running (their monitors are independent processes).
import { chmodSync, mkdirSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDaemonArgs } from './options.ts';
import { openDb } from './store/db.ts';
import { loadIdMaps, lockDown } from './runtime/idmap.ts';
import { checkRootReachable } from './runtime/root-access.ts';
import { chooseCgroupParent, detectCgroups, moveSelfToLeaf } from './cgroups/index.ts';
import { CgroupV2 } from './cgroups/v2.ts';
import { Engine } from './containers/engine.ts';
import { ContainerRepository } from './containers/repository.ts';
import { ImageService } from './images.ts';
import { ImageStore } from '../images/store.ts';
import { BridgeNetwork } from './network/index.ts';
import { serve } from './api/server.ts';
import { containerHandlers } from './api/containers.ts';
import { imageHandlers } from './api/images.ts';
import { systemHandlers, VERSION } from './api/system.ts';
import { volumeHandlers } from './api/volumes.ts';
import { messageOf } from './errors.ts';
import { lockDir } from './lock.ts';
import { inheritedListener, notify } from './systemd.ts';
import { DiskReserve } from './store/space.ts';
import { setErrorExplainer } from './api/status.ts';
import { InFlight } from './api/inflight.ts';
import { engineId, infoDocument } from './info.ts';
import { DiskUsage } from './disk-usage.ts';
import { EventBus } from './events/bus.ts';
import { EventJournal } from './events/journal.ts';
import { launchRootless } from './rootless/launcher.ts';
import { containerIdMaps, inRootlessNamespace, Launcher, loopbackUp, ownSysfs, RootlessPorts } from './rootless/inside.ts';
import { NoCgroups, undelegatedDir } from './cgroups/delegation.ts';
import type { NetworkHooks } from './network/hooks.ts';
import { fileHandlers, commitHandlers } from './api/files.ts';
import { FileService } from './files/service.ts';
import { CommitService } from './files/commit.ts';

function findShim(): string {
  if (process.env.TDOCK_SHIM) return process.env.TDOCK_SHIM;
  const here = dirname(fileURLToPath(import.meta.url));
  for (const p of [join(here, '..', 'shim', 'tdock-shim')]) if (existsSync(p)) return p;
  throw new Error(`tdock-shim not found next to ${here}; run "npm run build"`);
}

/** After every call has ended: how long the connections get to carry the last statuses out. */
const SHUTDOWN_FLUSH_MS = 2000;

function groupId(name: string): number | undefined {
  try {
    const line = readFileSync('/etc/group', 'utf8').split('\n').find((l) => l.startsWith(`${name}:`));
    return line ? Number(line.split(':')[2]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * mkdir -p whose new directories are 0711 whatever the umask (a root shell's 077 would
 * make them 0700, and the containers could not walk through them to their rootfs).
 */
function makeSearchable(dir: string): void {
  const first = mkdirSync(dir, { recursive: true, mode: 0o711 });
  if (first === undefined) return;
  for (let d = dir; ; d = dirname(d)) {
    chmodSync(d, 0o711);
    if (d === first || d === dirname(d)) break;
  }
}

async function main(): Promise<void> {
  const o = parseDaemonArgs(process.argv.slice(2), findShim());
  const log = (msg: string) => process.stderr.write(`${new Date().toISOString()} tdockd: ${msg}\n`);
  // First: nothing we start may inherit systemd's LISTEN_* variables.
  const listenFd = inheritedListener();
  // Rootless: this process only launches the daemon in its own namespaces (daemon/rootless).
  if (o.rootless && !inRootlessNamespace()) {
    try {
      makeSearchable(o.execRoot);
    } catch (e) {
      throw new Error(`rootless: cannot create ${o.execRoot} (${messageOf(e)}); set XDG_RUNTIME_DIR to a directory of yours (a login through systemd-logind makes /run/user/UID) or pass --exec-root`);
    }
    return void (await launchRootless({ execRoot: o.execRoot, argv: [process.execPath, ...process.execArgv, process.argv[1]!, ...process.argv.slice(2)], log }));
  }
  const launcher = o.rootless ? await Launcher.connect() : undefined;
  if (launcher) ownSysfs(o.execRoot);
  const idMaps = launcher ? containerIdMaps() : loadIdMaps('tdock');
  // Before anything is made: a --root the containers cannot reach is refused, not half set up.
  const hostUid = launcher ? (id: number) => (id === 0 ? launcher.hello.uid : launcher.hello.ranges.uid.start + id - 1) : undefined;
  checkRootReachable(o.root, idMaps.uid.start, idMaps.gid.start, hostUid);
  makeSearchable(o.root);
  makeSearchable(o.execRoot);
  // Before the bridge, the firewall table or the database is touched.
  const locks = [lockDir(o.root, '--root'), lockDir(o.execRoot, '--exec-root')];

  // The database's writes fall back on a space reserve: exits and removals get
  // recorded, and the daemon starts, on a full disk (daemon/store/space.ts).
  const reserve = new DiskReserve(o.root, log);
  const db = reserve.write(() => openDb(join(o.root, 'tdock.db')));
  reserve.guard(db);
  reserve.ensure();
  setErrorExplainer((e) => reserve.explain(e));
  const events = new EventBus(new EventJournal(db), log);
  // Host users must not reach the layers and upper dirs (setuid files of images are
  // setuid to a subordinate uid there): only root and the containers' own root group.
  lockDown(o.root, idMaps.gid.start);
  // A rootless daemon under `systemctl --user`: its launcher found the service's subtree.
  const userService = launcher && !o.cgroupParentGiven ? process.env.TDOCK_USER_SERVICE : undefined;
  const placement = userService ? { parent: `${userService}/containers` } : chooseCgroupParent(o.cgroupParentGiven ? o.cgroupParent : undefined);
  // Rootless: limits only in a cgroup subtree delegated to the user; said once, here.
  const undelegated = launcher ? undelegatedDir(placement.parent, readFileSync('/proc/self/mountinfo', 'utf8')) : undefined;
  const detected = detectCgroups(placement.parent);
  const cgroups = undelegated ? new NoCgroups(detected.version) : detected;
  if (launcher && undelegated) {
    log(`rootless: no delegated cgroup for user ${launcher.hello.user} (${undelegated} is not writable): containers run without resource limits (-m, --cpus, --pids-limit are not enforced); delegate a subtree (cgroup v2: systemd Delegate=yes; v1: chown a subtree of every hierarchy to the user) and pass it as --cgroup-parent`);
  }
  if (placement.service && cgroups instanceof CgroupV2) {
    const leaf = moveSelfToLeaf(cgroups.mountpoint, placement.service);
    log(`systemd service: moved the daemon to ${leaf}; containers go below ${placement.parent}`);
  }
  let engine: Engine | undefined;
  const store = new ImageStore(db, o.root, { uid: idMaps.uid.start, gid: idMaps.gid.start, size: idMaps.uid.size }, { maxLayerSize: o.maxLayerSize });
  const images = new ImageService(store, (imageId) => engine?.repo.imageInUse(imageId) ?? false, {
    shim: o.shim,
    userxattr: o.rootless,
    insecureRegistries: o.insecureRegistries,
    checkRoom: (what) => reserve.checkRoom(what),
    ...(o.catalog ? { catalog: o.catalog } : {}),
    events,
  });
  // Rootless: the same bridge in the daemon's own network namespace, ports forwarded by the launcher.
  if (launcher) loopbackUp();
  const bridge = await BridgeNetwork.create({
        db, bridge: o.bridge, subnet: o.subnet, table: o.nftTable, execRoot: o.execRoot, log,
        etcOwner: { uid: idMaps.uid.start, gid: idMaps.gid.start },
        running: () => new ContainerRepository(db).live(),
      });
  const network: NetworkHooks = launcher ? new RootlessPorts(bridge, launcher) : bridge;
  engine = new Engine(db, {
    root: o.root, execRoot: o.execRoot, shim: o.shim, idMaps, rootless: o.rootless, cgroups, images, network, log,
    checkRoom: (what) => reserve.checkRoom(what),
    logDefaults: o.logDefaults,
    events,
    ...(launcher && undelegated ? { limitsNotEnforcedFor: launcher.hello.user } : {}),
  });
  await store.cleanup();
  await engine.recover();

  const eng = engine;
  const fileEnv = { shim: o.shim, rootless: o.rootless };
  const shift = { uid: idMaps.uid.start, gid: idMaps.gid.start, size: idMaps.uid.size };
  const id = engineId(o.root, log);
  const info = () => infoDocument({
    id, version: VERSION, root: o.root, execRoot: o.execRoot, socketPath: o.socketPath, rootless: o.rootless, idMaps: launcher ? launcher.hello.ranges : idMaps,
    cgroupVersion: cgroups.version, cgroupParent: placement.parent, logDefaults: o.logDefaults,
    insecureRegistries: o.insecureRegistries, liveRestore: !o.shutdownStopContainers,
    containerStates: () => eng.repo.all().map((c) => c.state), imageCount: () => images.list().length,
    network: () => bridge.info(),
    ...(launcher ? { rootlessNetwork: launcher.hello.driver } : {}),
    limitsEnforced: !(cgroups instanceof NoCgroups),
  });

  const disk = new DiskUsage({
    containers: () => eng.repo.all(), summary: (c) => eng.summary(c), diskPaths: (id) => eng.diskPaths(id),
    remove: (id) => eng.remove(id, false), images: () => images.list(), layerUse: () => store.layerUse(), log,
    volumes: () => eng.volumes.list().map((v) => ({ name: v.name, links: eng.volumes.users(v.name).length, size: eng.volumes.size(v.name) })),
  });
  const calls = new InFlight();
  const serving = await serve(
    o.socketPath,
    {
      containers: calls.track(containerHandlers(eng)), images: calls.track(imageHandlers(images)),
      system: calls.track(systemHandlers(info, disk, events)), volumes: calls.track(volumeHandlers(eng.volumes)),
      files: calls.track(fileHandlers(new FileService(eng, fileEnv, shift, (what) => reserve.checkRoom(what)))),
      commits: calls.track(commitHandlers(new CommitService(eng, store, fileEnv, shift, (what) => reserve.checkRoom(what), events))),
    },
    o.rootless ? undefined : groupId('tdock'),
    listenFd,
  );
  const how = listenFd === undefined ? '' : ' (socket activation)';
  log(`ready on unix://${o.socketPath}${how} (root ${o.root}, cgroup v${cgroups.version}, ids ${idMaps.uid.start}+${idMaps.uid.size})`);
  void notify(o.shim, log, 'READY=1', `STATUS=serving on unix://${o.socketPath}${how}; ${eng.runningCount()} container(s) running`);

  let stopping = false;
  const shutdown = async (sig: string) => {
    if (stopping) return;
    stopping = true;
    // Rootless: the namespaces, the bridge and the user-mode network end with this
    // daemon, so its containers could not be reached by the next one: they stop too.
    const keep = !o.shutdownStopContainers && !launcher;
    log(`${sig}: shutting down; ${keep ? 'running containers keep running' : 'stopping the running containers'}`);
    void notify(o.shim, log, 'STOPPING=1', `STATUS=shutting down; ${keep ? 'running containers keep running' : 'stopping containers'}`);
    // Event streams never finish on their own: ended now, so they do not hold up the rest.
    events.close();
    // No new connections or calls; calls that end on their own finish (a stop -t N, a
    // pull), those that last as long as a container (attach, wait, logs -f) end now
    // with UNAVAILABLE: their clients read why, the containers go on.
    const drained = new Promise<void>((resolve) => serving.shutdown(resolve));
    // --shutdown-timeout (15 s) stays below the unit's TimeoutStopSec (30 s).
    const waiting = calls.finite.length;
    if (waiting) log(`waiting up to ${o.shutdownTimeout} s for ${waiting} call(s) in progress: ${calls.finite.map((c) => c.method).join(', ')}`);
    const cut = await calls.drain(o.shutdownTimeout * 1000);
    if (cut.length) log(`ended ${cut.length} call(s) still in progress: ${cut.join(', ')}`);
    await Promise.race([drained, new Promise((r) => setTimeout(r, SHUTDOWN_FLUSH_MS).unref())]);
    // No back-off ends from here on; a restart under way finishes before the stop pass
    // and before the network and cgroup parent are judged unused (bounded: a start that
    // hangs must not keep the daemon past --shutdown-timeout).
    let quiesceTimer: NodeJS.Timeout | undefined;
    await Promise.race([eng.quiesce(), new Promise((r) => (quiesceTimer = setTimeout(r, o.shutdownTimeout * 1000)))]);
    clearTimeout(quiesceTimer);
    if (!keep) {
      // Stopped by the daemon, not the user: unless-stopped ones come back at the next start (Docker's).
      await Promise.allSettled(eng.list(false).map((c) => eng.stop(c.id, -1, 'daemon').catch((e) => log(`stop ${c.id.slice(0, 12)}: ${messageOf(e)}`))));
    }
    eng.close();
    const anyRunning = eng.runningCount() > 0;
    if (!anyRunning) cgroups.removeParent();
    const netDone = bridge.shutdown(anyRunning).catch((e) => log(`network shutdown: ${messageOf(e)}`));
    await netDone;
    // An inherited socket is systemd's: it stays, for the next activation.
    if (listenFd === undefined) rmSync(o.socketPath, { force: true });
    for (const dir of [o.root, o.execRoot]) rmSync(join(dir, 'tdockd.pid'), { force: true });
    db.close();
    for (const l of locks) l.release();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  // Without its launcher a rootless daemon has no network to the host and no one to pass it signals.
  if (launcher) launcher.gone = () => void shutdown('the rootless launcher exited');
  process.on('SIGINT', () => void shutdown('SIGINT'));
  // `systemctl reload` (the unit's ExecReload sends SIGHUP): Node's default for SIGHUP is
  // to exit, which took the daemon down. Its settings are its command-line flags, so
  // there is nothing to re-read; the reload is acknowledged in systemd's protocol
  // (RELOADING=1 with the monotonic time, then READY=1) and the daemon serves on.
  process.on('SIGHUP', () => {
    if (stopping) return;
    log('SIGHUP: reload: the settings are command-line flags; restart the daemon to change them (running containers keep running)');
    const usec = process.hrtime.bigint() / 1000n; // libuv's clock is CLOCK_MONOTONIC
    void notify(o.shim, log, 'RELOADING=1', `MONOTONIC_USEC=${usec}`).then(() =>
      notify(o.shim, log, 'READY=1', `STATUS=serving on unix://${o.socketPath}${how}; ${eng.runningCount()} container(s) running`));
  });
}

// A bug in one request's background work must not take every container's daemon down.
process.on('unhandledRejection', (e) => {
  process.stderr.write(`${new Date().toISOString()} tdockd: unhandled rejection: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
});

main().catch((e) => {
  process.stderr.write(`tdockd: ${messageOf(e)}\n`);
  process.exit(1);
});
