// The operating system as the container lifecycle sees it: launching a monitor,
// connecting to it, and telling a process from a reused pid. Behind an interface so
// unit tests can give the engine an in-process fake monitor and run without root
// (the idea of youki's Syscall trait).
import type { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { spawnMonitor, MonitorConnection, type MonitorEvents } from '../runtime/monitor.ts';
import { startTime } from '../runtime/procfs.ts';

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
  /** Runs `shim VERB TARGET`; resolves with init's host pid once it waits for START. */
  spawnMonitor(shim: string, target: string, verb?: 'monitor' | 'exec'): Promise<number>;
  connect(socket: string): Promise<MonitorLink>;
  /** One signal on a connection of its own, never queued behind stdin. */
  signalOnce(socket: string, sig: number): Promise<void>;
  /** /proc start time of a pid; undefined when it is gone. */
  startTime(pid: number): string | undefined;
  kill(pid: number, sig: NodeJS.Signals | number): void;
  /** The monitor's socket is still there (a monitor that is gone unlinked it, or never made it). */
  socketExists(socket: string): boolean;
}

export const realHost: Host = {
  spawnMonitor,
  connect: (socket) => MonitorConnection.connect(socket),
  signalOnce: (socket, sig) => MonitorConnection.signalOnce(socket, sig),
  startTime,
  kill: (pid, sig) => process.kill(pid, sig),
  socketExists: existsSync,
};
