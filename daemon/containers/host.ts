// The operating system as the container lifecycle sees it: launching a monitor,
// connecting to it, and telling a process from a reused pid. Behind an interface so
// unit tests can give the engine an in-process fake monitor and run without root
// (the idea of youki's Syscall trait).
import type { EventEmitter } from 'node:events';
import { execFile } from 'node:child_process';
import { closeSync, existsSync, openSync, rmSync, statSync, constants as fsConstants } from 'node:fs';
import { dirname } from 'node:path';
import { spawnMonitor, MonitorConnection, type MonitorEvents, type Started } from '../runtime/monitor.ts';
import { namespaceLinks, pidNamespace, procInfo, startTime, type ProcInfo } from '../runtime/procfs.ts';

/** One connection to a monitor: what the engine uses of runtime/monitor.ts's MonitorConnection. */
export interface MonitorLink extends EventEmitter<MonitorEvents> {
  readonly features: ReadonlySet<string>;
  readonly closed: boolean;
  readonly accepted: Promise<void>;
  exec(path: string): Promise<number>;
  start(): void;
  quiet(): void;
  stdin(data: Buffer): boolean;
  closeStdin(): boolean;
  resize(rows: number, cols: number): boolean;
  signal(sig: number): void;
  close(): void;
  hangUp(): void;
  pause(): void;
  resume(): void;
}

export interface Host {
  /** Runs `shim VERB TARGET`; resolves with init's host pid and start time once it waits for START. */
  spawnMonitor(shim: string, target: string, verb?: 'monitor' | 'exec'): Promise<Started>;
  connect(socket: string): Promise<MonitorLink>;
  /** One signal on a connection of its own, never queued behind stdin. */
  signalOnce(socket: string, sig: number): Promise<void>;
  /** /proc start time of a pid; undefined when it is gone. */
  startTime(pid: number): string | undefined;
  /** `top`'s facts of one process from /proc; undefined when it is gone. */
  procInfo(pid: number): ProcInfo | undefined;
  /** The pid namespace a process is in (its /proc/PID/ns/pid link), to tell a container's own processes. */
  pidNamespace(pid: number): string | undefined;
  /** inspect's namespace paths and ids of a process. */
  namespaceLinks(pid: number, kinds: readonly string[]): Record<string, { Path: string; Id: string }>;
  /**
   * Signals the process only while `pid` still names the one that started at
   * `startTime`; false when it is gone (or the pid is another process's now).
   */
  killProcess(pid: number, startTime: string, sig: NodeJS.Signals | number): boolean;
  /**
   * A directory fd of the root of the process (a container's init: its merged
   * rootfs, in its own mount namespace), only while `pid` still names the process
   * that started at `startTime`; throws otherwise. The caller closes it.
   */
  openRoot(pid: number, startTime: string): number;
  /** The monitor's socket is still there (a monitor that is gone unlinked it, or never made it). */
  socketExists(socket: string): boolean;
  /**
   * Removes a netns bind mount (and its file) that a monitor killed before its
   * clean-up left behind; nothing when there is none.
   */
  releaseNetns(path: string): Promise<void>;
}

/** Whether `path` is a mount point of its own (the netns bind: an nsfs inode). */
function mountedOn(path: string): boolean {
  try {
    return statSync(path).dev !== statSync(dirname(path)).dev;
  } catch {
    return false;
  }
}

export const realHost: Host = {
  spawnMonitor,
  connect: (socket) => MonitorConnection.connect(socket),
  signalOnce: (socket, sig) => MonitorConnection.signalOnce(socket, sig),
  startTime,
  procInfo,
  pidNamespace,
  namespaceLinks,
  // Node has no pidfd_send_signal: the check is as close to the kill as it gets, and
  // the callers' process is a monitor's child, whose pid is held until it reaps it.
  killProcess: (pid, start, sig) => {
    if (startTime(pid) !== start) return false;
    try {
      process.kill(pid, sig);
      return true;
    } catch {
      return false;
    }
  },
  openRoot: (pid, start) => {
    const fd = openSync(`/proc/${pid}/root`, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY);
    // Checked after the open: init lived then (its pid was never free), so fd is its root.
    if (startTime(pid) !== start) {
      closeSync(fd);
      throw new Error('container init is gone');
    }
    return fd;
  },
  socketExists: existsSync,
  releaseNetns: async (path) => {
    if (mountedOn(path)) {
      await new Promise<void>((resolve) => execFile('umount', ['-l', path], () => resolve()));
    }
    if (!mountedOn(path)) rmSync(path, { force: true });
  },
};
