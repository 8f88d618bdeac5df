// The two documents the daemon hands the shim: config.json for `tdock-shim monitor`
// (read by shim/config.c) and an exec config for an EXEC or `tdock-shim exec`. Typed
// here so a field the shim reads cannot silently go missing or change its type.
import { join } from 'node:path';
import type { ContainerRow } from './repository.ts';
import type { ResolvedUser } from './spec.ts';
import type { SeccompProfile } from '../../proto/security-opt.ts';
import { DEFAULT_CAPABILITIES, MASKED_PATHS, READONLY_PATHS, containerSysctls } from '../runtime/defaults.ts';
import type { IdMaps } from '../runtime/idmap.ts';

export interface IdMapEntry { containerId: number; hostId: number; size: number }
/** A mount the shim makes: a bind (no type), or a file system of `type` (tmpfs). Options: shim/config.c. */
export interface BindMount { type?: string; source: string; destination: string; options: string[] }

/** What config.json and an exec config share: the process to run, its rights, where to talk. */
export interface ProcessConfig {
  args: string[];
  env: string[];
  cwd: string;
  user: ResolvedUser;
  tty: boolean;
  /** the pty's size from the start (exec -it: the command may read it before a resize comes) */
  ttyRows?: number;
  ttyCols?: number;
  openStdin: boolean;
  capabilities: readonly string[];
  noNewPrivileges: boolean;
  seccomp: SeccompProfile;
  /** the cgroup.procs files to join (an exec: only for `tdock-shim exec`, the fallback; an EXEC ignores it) */
  cgroupProcs: string[];
  socket: string;
  exitPath: string;
}

export interface MonitorConfig extends ProcessConfig {
  id: string;
  rootfs: string;
  overlay: { lower: string[]; upper: string; work: string };
  readonlyRootfs: boolean;
  hostname: string;
  uidMap: IdMapEntry[];
  gidMap: IdMapEntry[];
  rootless: boolean;
  network: { mode: string };
  maskedPaths: readonly string[];
  readonlyPaths: readonly string[];
  sysctl: Record<string, string>;
  mounts: BindMount[];
  logPath: string;
  logMaxSize: number;
  logMaxFiles: number;
  /** bridge network: the monitor binds init's netns here before `ok`; the wiring enters it by this path */
  netnsPath?: string;
}

export interface ExecConfig extends ProcessConfig {
  initPid: number;
  /** init's /proc start time: the exec joins that process, never a reused pid */
  initStartTime: number;
}

export interface MonitorConfigInput {
  c: ContainerRow;
  bundleDir: string;
  lower: string[];
  env: string[];
  user: ResolvedUser;
  idMaps: IdMaps;
  rootless: boolean;
  cgroupProcs: string[];
  seccomp: SeccompProfile;
  mounts: BindMount[];
  socket: string;
  logPath: string;
  log: { maxSize: number; maxFile: number };
  exitPath: string;
  netnsPath: string;
}

export function monitorConfig(i: MonitorConfigInput): MonitorConfig {
  const spec = i.c.spec;
  return {
    id: i.c.id,
    rootfs: join(i.bundleDir, 'rootfs'),
    overlay: { lower: i.lower, upper: join(i.bundleDir, 'upper'), work: join(i.bundleDir, 'work') },
    readonlyRootfs: spec.readonlyRootfs === true,
    hostname: spec.hostname,
    args: spec.args,
    env: i.env,
    cwd: spec.cwd,
    user: i.user,
    tty: spec.tty,
    openStdin: spec.openStdin,
    uidMap: [{ containerId: 0, hostId: i.idMaps.uid.start, size: i.idMaps.uid.size }],
    gidMap: [{ containerId: 0, hostId: i.idMaps.gid.start, size: i.idMaps.gid.size }],
    rootless: i.rootless,
    network: { mode: spec.network },
    cgroupProcs: i.cgroupProcs,
    capabilities: DEFAULT_CAPABILITIES,
    noNewPrivileges: true,
    seccomp: i.seccomp,
    maskedPaths: MASKED_PATHS,
    readonlyPaths: READONLY_PATHS,
    sysctl: containerSysctls(spec.network, i.idMaps.gid.size),
    mounts: i.mounts,
    socket: i.socket,
    logPath: i.logPath,
    logMaxSize: i.log.maxSize,
    logMaxFiles: i.log.maxFile,
    exitPath: i.exitPath,
    ...(spec.network === 'bridge' ? { netnsPath: i.netnsPath } : {}),
  };
}

export function execConfig(i: Omit<ExecConfig, 'capabilities' | 'noNewPrivileges'>): ExecConfig {
  const { initPid, initStartTime, args, env, cwd, user, tty, openStdin, seccomp, cgroupProcs, socket, exitPath } = i;
  return {
    initPid, initStartTime, args, env, cwd, user, tty, openStdin,
    ...(tty && i.ttyRows && i.ttyCols ? { ttyRows: i.ttyRows, ttyCols: i.ttyCols } : {}),
    capabilities: DEFAULT_CAPABILITIES,
    noNewPrivileges: true,
    // Like Docker's: an exec gets the container's profile.
    seccomp,
    cgroupProcs, socket, exitPath,
  };
}
