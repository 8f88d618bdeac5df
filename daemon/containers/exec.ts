// `exec`: a process run in a running container through an exec-monitor, which
// joins init's namespaces and relays like a monitor.
import { closeSync, writeFileSync, rmSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { mergeEnv, securityOptions, withHome } from './spec.ts';
import { invalid, wrongState, messageOf } from '../errors.ts';
import { ExecRefused, type ExitFile } from '../runtime/monitor.ts';
import { InputQueue } from './input.ts';
import { resolveContainerUser } from './image-files.ts';
import { execConfig } from './shim-config.ts';
import type { MonitorLink } from './host.ts';
import type { MonitorSupervisor } from './supervisor.ts';
import type { EngineContext, ExecRequest, OutputSink } from './types.ts';

/** The handle of a running exec: its input, its signals, its flow control. */
export interface ExecSession {
  stdin(data: Buffer): boolean;
  closeStdin(): boolean;
  resize(rows: number, cols: number): boolean;
  onInputDrain(fn: () => void): void;
  signal(sig: number): void;
  drained(): void;
  detach(): void;
}

/** The sink gets output and the exit; the returned handle takes input. */
export async function runExec(ctx: EngineContext, sup: MonitorSupervisor, ref: string, req: ExecRequest, sink: OutputSink): Promise<ExecSession> {
  const { repo, o, host, layout } = ctx;
  const c = repo.find(ref);
  const l = sup.peek(c.id);
  if (c.state === 'restarting') throw wrongState(`container ${c.name} is restarting, wait until the container is running`);
  if (c.state !== 'running' || !l?.control || !l.initStartTime) throw wrongState(`container ${c.name} is not running`);
  if (!req.cmd.length) throw invalid('no command given: tdock exec CONTAINER COMMAND [ARG...]');
  const spec = c.spec;
  const cwd = req.workdir || spec.cwd;
  if (!cwd.startsWith('/')) throw invalid(`the working directory "${cwd}" is invalid: it needs to be an absolute path`);
  // The user as the container has it now (a user added in it counts), read through
  // init's root: its merged rootfs lives only in the container's mount namespace.
  let root: number;
  try {
    root = host.openRoot(c.pid, l.initStartTime);
  } catch {
    throw wrongState(`container ${c.name} is not running`);
  }
  let resolved;
  try {
    resolved = resolveContainerUser(root, req.user || spec.user);
  } finally {
    closeSync(root);
  }
  const { ids: user, home } = resolved;
  const env = withHome(mergeEnv(spec.env, req.tty ? ['TERM=xterm'] : [], req.env), home);
  const execId = randomBytes(4).toString('hex');
  const runDir = layout.runDir(c.id);
  const file = join(runDir, `e-${execId}.json`);
  const socket = join(runDir, `e-${execId}.sock`);
  const exitPath = join(runDir, `e-${execId}.exit.json`);
  const config = execConfig({
    initPid: c.pid,
    initStartTime: Number(l.initStartTime),
    args: req.cmd,
    env,
    cwd,
    user,
    tty: req.tty,
    ...(req.size ? { ttyRows: req.size.rows, ttyCols: req.size.cols } : {}),
    openStdin: req.openStdin,
    seccomp: securityOptions(spec.securityOpt).seccomp,
    cgroupProcs: o.cgroups.paths(c.id).map((p) => join(p, 'cgroup.procs')),
    socket,
    exitPath,
  });
  const cleanup = () => {
    for (const f of [file, socket, exitPath]) rmSync(f, { force: true });
  };
  writeFileSync(file, JSON.stringify(config));
  let conn: MonitorLink;
  try {
    await startExecMonitor(ctx, l.control, file);
    conn = await host.connect(socket);
  } catch (e) {
    cleanup();
    throw wrongState(`cannot exec in container ${c.name}: ${messageOf(e)}`);
  }
  let exit: ExitFile | undefined;
  let failure = '';
  conn.on('output', (stream, data) => {
    if (sink.output(stream, data) === false) conn.pause();
  });
  conn.on('failure', (msg) => {
    failure = msg;
  });
  conn.on('exit', (e) => {
    exit = e;
  });
  conn.on('close', () => {
    exit ??= (() => {
      try {
        return JSON.parse(readFileSync(exitPath, 'utf8')) as ExitFile;
      } catch {
        return undefined;
      }
    })();
    cleanup();
    sink.exit({
      exitCode: exit ? exit.exitCode : 255,
      oomKilled: false,
      error: exit?.error || failure || (exit ? '' : 'the exec monitor died without recording an exit status'),
    });
  });
  conn.start();
  const input = new InputQueue();
  input.open(conn);
  return {
    stdin: (data: Buffer) => input.push({ kind: 'stdin', data }),
    closeStdin: () => input.push({ kind: 'close' }),
    resize: (rows: number, cols: number) => input.push({ kind: 'resize', rows, cols }),
    onInputDrain: (fn: () => void) => input.onDrain(fn),
    // On a connection of its own: never behind the exec's stdin.
    signal: (sig: number) => {
      host.signalOnce(socket, sig).catch(() => {});
    },
    drained: () => conn.resume(),
    detach: () => conn.close(),
  };
}

/**
 * The container's monitor forks the exec-monitor (EXEC frame): born in the
 * container's cgroups, it needs no cgroup migration, the first of which after an
 * idle moment waits for an RCU grace period on cgroup v1 (~11 ms). The daemon
 * runs `tdock-shim exec` itself (its child migrates into the cgroups) when the
 * monitor predates EXEC or went away, and when the fork hit the pids limit: a
 * migration is not bound by pids.max, so an exec still works in a full container.
 */
async function startExecMonitor(ctx: EngineContext, conn: MonitorLink | undefined, file: string): Promise<void> {
  if (conn?.features.has('exec')) {
    try {
      await conn.exec(file);
      return;
    } catch (e) {
      if (e instanceof ExecRefused && !/^fork\b[^:]*: Resource temporarily unavailable$/.test(e.message)) throw e;
    }
  }
  await ctx.host.spawnMonitor(ctx.o.shim, file, 'exec');
}
