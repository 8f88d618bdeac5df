// The daemon's side of each container's monitor: the quiet control connection (signals,
// EXEC, the exit), the output connection of the attached clients (their output with
// backpressure, their input in order), reconnecting when the monitor drops us, and
// handing the exit to the clients only after the last of their output.
import type { ExitFile } from '../runtime/monitor.ts';
import { messageOf } from '../errors.ts';
import { InputQueue } from './input.ts';
import type { MonitorLink } from './host.ts';
import type { EngineContext, ExitInfo, OutputSink } from './types.ts';

/**
 * The per-container state that lives only in this process. Two kinds of monitor
 * connection (runtime/monitor.ts): `control` is quiet (no output), so signals, EXEC
 * and the exit never wait behind output or input; `output` carries the attached
 * clients' output and input, exists only while some are attached (a detached
 * container is never held back by the daemon), and is paused while one lags.
 */
export interface Live {
  control?: MonitorLink;
  output?: MonitorLink;
  openingOutput?: Promise<void>;
  sinks: Set<OutputSink>;
  waiters: ((e: ExitInfo) => void)[];
  /** the attached clients' input, in order, also before `output` exists */
  input: InputQueue;
  /** the recorded exit, for the attached clients once the last of their output is through */
  exitInfo?: ExitInfo;
  starting?: Promise<void>;
  exiting?: Promise<void>;
  /** /proc start time of init, taken while the monitor (its parent) holds it */
  initStartTime?: string;
  /** set by rm: a start that races it must not bring the container back */
  removing?: boolean;
  /** sinks that are behind: while any is, the monitor connection is paused */
  lagging: Set<OutputSink>;
}

export class MonitorSupervisor {
  private readonly live = new Map<string, Live>();

  /** `onExit` records the end and tears down (the lifecycle); called once per exit. */
  private readonly ctx: EngineContext;
  private readonly onExit: (id: string, exit: ExitFile | undefined) => Promise<void>;

  constructor(ctx: EngineContext, onExit: (id: string, exit: ExitFile | undefined) => Promise<void>) {
    this.ctx = ctx;
    this.onExit = onExit;
  }

  state(id: string): Live {
    let l = this.live.get(id);
    if (!l) {
      l = { sinks: new Set(), waiters: [], input: new InputQueue(), lagging: new Set() };
      this.live.set(id, l);
    }
    return l;
  }

  peek(id: string): Live | undefined { return this.live.get(id); }
  forget(id: string): void { this.live.delete(id); }

  /** Wires the quiet control connection's events into the engine: the exit. */
  bindControl(id: string, conn: MonitorLink): void {
    const l = this.state(id);
    l.control = conn;
    let exit: ExitFile | undefined;
    let failure = '';
    conn.on('failure', (msg) => {
      failure = msg;
    });
    // The exit is handled when its frame arrives, not when the connection closes: a
    // monitor may stay a while after it to give a lagging attached client the rest of
    // the output, and rm -f, stop and wait must not wait for that.
    let handled = false;
    conn.on('exit', (e) => {
      exit = e;
      handled = true;
      if (l.control === conn) l.control = undefined;
      void this.afterClose(id, e, failure);
    });
    conn.on('close', () => {
      if (handled) return;
      if (l.control === conn) l.control = undefined;
      void this.afterClose(id, exit ?? this.ctx.layout.readExitFile(id), failure);
    });
  }

  /** Connects the attached clients to the container's output and input (one connection for all). */
  openOutput(id: string): Promise<void> {
    const l = this.state(id);
    if (l.output) return Promise.resolve();
    l.openingOutput ??= (async () => {
      const conn = await this.ctx.host.connect(this.ctx.layout.socketPath(id));
      await conn.accepted;
      if (conn.closed) return;
      if (!l.sinks.size) return conn.close(); // every client left meanwhile
      this.bindOutput(id, conn);
    })().finally(() => {
      l.openingOutput = undefined;
      if (!l.output) this.deliverExit(id);
    });
    return l.openingOutput;
  }

  private bindOutput(id: string, conn: MonitorLink): void {
    const l = this.state(id);
    l.output = conn;
    let exited = false;
    conn.on('output', (stream, data) => {
      if (l.output !== conn) return;
      for (const s of l.sinks) {
        if (s.output(stream, data) === false && !l.lagging.has(s)) {
          l.lagging.add(s);
          conn.pause();
        }
      }
    });
    if (l.lagging.size) conn.pause();
    conn.on('exit', () => {
      exited = true;
    });
    l.input.open(conn);
    conn.on('close', () => {
      if (l.output !== conn) return;
      l.output = undefined;
      l.input.close();
      if (l.exitInfo) return this.deliverExit(id);
      // The monitor dropped us while the container runs (a client far behind): again.
      if (!exited && l.sinks.size && l.control) {
        this.openOutput(id).catch((e) => this.ctx.log(`container ${id.slice(0, 12)}: output: ${messageOf(e)}`));
      }
    });
  }

  /** The last client left, or nobody may wait for the rest (rm -f): hang up the output connection. */
  closeOutput(l: Live): void {
    const out = l.output;
    if (!out) return;
    l.output = undefined;
    l.input.close();
    out.hangUp();
  }

  /** The attached clients get the exit once the last of their output is through. */
  deliverExit(id: string): void {
    const l = this.live.get(id);
    if (!l?.exitInfo || l.output || l.openingOutput) return;
    const info = l.exitInfo;
    l.exitInfo = undefined;
    for (const s of l.sinks) s.exit(info);
    l.sinks.clear();
    l.lagging.clear();
    if (!this.ctx.repo.get(id)) this.live.delete(id); // --rm
  }

  /** The exit is recorded: tell everyone waiting now, the attached clients after their output. */
  exited(id: string, info: ExitInfo): void {
    const l = this.state(id);
    for (const w of l.waiters.splice(0)) w(info);
    l.exitInfo = info;
    this.deliverExit(id);
  }

  /** The sink caught up: resume the output when no other sink is behind. */
  unlag(l: Live, sink: OutputSink): void {
    if (l.lagging.delete(sink) && l.lagging.size === 0) l.output?.resume();
  }

  /**
   * The monitor's connection closed. With an exit status that is the container's end.
   * Without one the monitor may still be alive (it drops a client that falls far
   * behind): reconnect, and call it an exit only when nobody answers.
   */
  private async afterClose(id: string, exit: ExitFile | undefined, failure: string): Promise<void> {
    const l = this.state(id);
    const { layout, host } = this.ctx;
    if (!exit && host.socketExists(layout.socketPath(id))) {
      for (let i = 0; i < 3; i++) {
        const again = await host.connect(layout.socketPath(id)).catch(() => undefined);
        if (again) {
          this.ctx.log(`container ${id.slice(0, 12)}: reconnected to its monitor`);
          again.quiet();
          this.bindControl(id, again);
          return;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      exit = layout.readExitFile(id);
    }
    if (exit && failure && !exit.error) exit.error = failure;
    l.exiting = this.onExit(id, exit)
      .catch((e) => this.ctx.log(`exit of ${id.slice(0, 12)}: ${messageOf(e)}`))
      .finally(() => {
        l.exiting = undefined;
      });
  }

  /** Resolves once the exit is recorded (or the container removed); an abort drops the waiter. */
  waitExit(id: string, signal?: AbortSignal): Promise<ExitInfo> {
    return new Promise((resolve) => {
      const waiters = this.state(id).waiters;
      waiters.push(resolve);
      signal?.addEventListener('abort', () => {
        const i = waiters.indexOf(resolve);
        if (i >= 0) waiters.splice(i, 1);
      }, { once: true });
    });
  }

  /** Closes monitor connections; containers keep running. */
  close(): void {
    for (const l of this.live.values()) {
      for (const conn of [l.control, l.output]) {
        conn?.removeAllListeners('close');
        conn?.close();
      }
    }
  }
}
