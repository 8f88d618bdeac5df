// Starting a container's monitor (tdock-shim monitor) and talking to it over its socket.
import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { EventEmitter } from 'node:events';
import { Frame, FrameDecoder, encodeFrame } from './frames.ts';

export interface ExitFile {
  exitCode: number;
  signal: number;
  finishedAt: number; // ns
  error?: string;
}

/** A process as the monitor reports it: host pid and /proc/PID/stat field 22. */
export interface Started {
  pid: number;
  startTime: string;
}

/**
 * Spawns the monitor for a bundle (or the exec monitor for one exec config) and
 * waits for its one status line.
 * Resolves with the host pid of the container's init (or the exec'd process) and its
 * start time, which the monitor read while the process was its unreaped child: the
 * pair names that process, never one that reused the pid. Rejects with the shim's own
 * one-line error (it names the step that failed).
 */
export function spawnMonitor(shim: string, target: string, verb: 'monitor' | 'exec' = 'monitor'): Promise<Started> {
  return new Promise((resolve, reject) => {
    const child = spawn(shim, [verb, target], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let done = false;
    const finish = (fn: () => void) => {
      if (done) return;
      done = true;
      child.stdout.destroy();
      child.stderr.destroy();
      child.unref();
      fn();
    };
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl < 0) return;
      const line = out.slice(0, nl);
      const m = /^ok (\d+) (\d+)$/.exec(line);
      if (m) finish(() => resolve({ pid: Number(m[1]), startTime: m[2]! }));
      else finish(() => reject(new Error(line.replace(/^error: /, '') || 'tdock-shim failed without a message')));
    });
    child.stderr.on('data', (d: string) => {
      err += d;
    });
    child.on('error', (e) => finish(() => reject(new Error(`cannot run ${shim}: ${e.message}`))));
    child.on('exit', (code, sig) => {
      finish(() => reject(new Error((err.trim().split('\n').pop() || `tdock-shim exited with ${sig ?? code} before starting the container`).replace(/^error: /, ''))));
    });
  });
}

/** The monitor refused an EXEC: its message is the exec-monitor's `step: reason`. */
export class ExecRefused extends Error {}

export interface MonitorEvents {
  output: [stream: 1 | 2, data: Buffer];
  pid: [pid: number];
  exit: [exit: ExitFile];
  failure: [message: string];
  close: [];
  /** the socket took what was written: more may be sent */
  drain: [];
}

/**
 * A client connection to one monitor. Emits output, pid, failure, exit, close, drain.
 *
 * The daemon holds two kinds per container: a quiet one (quiet(): no output frames)
 * for signals, EXEC and the exit, which is never paused and never carries stdin, so
 * nothing ever waits behind data on it; and, while clients are attached, one for
 * their output and input, which is paused while a client lags (backpressure).
 */
export class MonitorConnection extends EventEmitter<MonitorEvents> {
  private readonly sock: Socket;
  private readonly decoder = new FrameDecoder();
  /** EXEC requests by config path (the monitor echoes it in the answer). */
  private readonly execs = new Map<string, { resolve: (pid: number) => void; reject: (e: Error) => void }>();
  /** What the monitor says it understands (FEATURES, right after PID); empty for an older monitor. */
  readonly features = new Set<string>();
  closed = false;
  /** Resolves once the monitor has accepted us (its PID frame): from then on we get all output. */
  readonly accepted: Promise<void>;
  private onAccepted!: () => void;

  private constructor(sock: Socket) {
    super();
    this.sock = sock;
    this.accepted = new Promise((resolve) => {
      this.onAccepted = resolve;
    });
    sock.on('data', (chunk: Buffer) => this.onData(chunk));
    sock.on('drain', () => this.emit('drain'));
    sock.on('error', () => {
      /* a dying monitor resets the connection; 'close' follows */
    });
    sock.on('close', () => {
      this.closed = true;
      for (const p of this.execs.values()) p.reject(new Error('the container\'s monitor went away'));
      this.execs.clear();
      this.onAccepted(); // nothing more will come: waiters go on and find it closed
      this.emit('close');
    });
  }

  static connect(path: string): Promise<MonitorConnection> {
    return new Promise((resolve, reject) => {
      const sock = connect(path);
      const onError = (e: Error) => reject(e);
      sock.once('error', onError);
      sock.once('connect', () => {
        sock.off('error', onError);
        resolve(new MonitorConnection(sock));
      });
    });
  }

  private onData(chunk: Buffer): void {
    let frames;
    try {
      frames = this.decoder.push(chunk);
    } catch {
      this.sock.destroy();
      return;
    }
    for (const f of frames) {
      switch (f.type) {
        case Frame.STDOUT:
          this.emit('output', 1, f.payload);
          break;
        case Frame.STDERR:
          this.emit('output', 2, f.payload);
          break;
        case Frame.PID:
          this.onAccepted();
          this.emit('pid', Number(f.payload.toString()));
          break;
        case Frame.ERROR:
          this.emit('failure', f.payload.toString().trim());
          break;
        case Frame.FEATURES:
          for (const word of f.payload.toString().split(' ')) if (word) this.features.add(word);
          break;
        case Frame.EXEC_OK:
        case Frame.EXEC_ERROR: {
          const nul = f.payload.indexOf(0);
          const path = f.payload.subarray(0, nul < 0 ? 0 : nul).toString();
          const detail = f.payload.subarray(nul + 1).toString();
          const p = this.execs.get(path);
          if (!p) break;
          this.execs.delete(path);
          if (f.type === Frame.EXEC_OK) p.resolve(Number(detail));
          else p.reject(new ExecRefused(detail));
          break;
        }
        case Frame.EXIT:
          try {
            this.emit('exit', JSON.parse(f.payload.toString()) as ExitFile);
          } catch {
            this.emit('exit', { exitCode: 255, signal: 0, finishedAt: Date.now() * 1e6, error: 'unreadable exit status from the monitor' });
          }
          break;
      }
    }
  }

  /** false: the socket has more than it wants; wait for 'drain' before sending more data. */
  private send(type: number, payload?: Buffer | string): boolean {
    if (this.closed) return true;
    return this.sock.write(encodeFrame(type, payload));
  }

  /**
   * Asks the container's monitor to fork an exec-monitor for the exec config at
   * `path` (absolute; one request per path at a time: the answer names it).
   * Resolves with the exec-monitor's pid once its socket listens; rejects with
   * ExecRefused (`step: reason`) or, when the monitor goes away, a plain Error.
   */
  exec(path: string): Promise<number> {
    return new Promise((resolve, reject) => {
      if (this.closed) {
        reject(new Error('the container\'s monitor went away'));
        return;
      }
      this.execs.set(path, { resolve, reject });
      this.send(Frame.EXEC, path);
    });
  }

  start(): void { this.send(Frame.START); }
  /** No STDOUT/STDERR frames on this connection from now on (a monitor that predates QUIET sends them anyway). */
  quiet(): void { this.send(Frame.QUIET); }
  stdin(data: Buffer): boolean { return this.send(Frame.STDIN, data); }
  closeStdin(): boolean { return this.send(Frame.CLOSE_STDIN); }
  resize(rows: number, cols: number): boolean { return this.send(Frame.RESIZE, `${rows} ${cols}`); }
  signal(sig: number): void { this.send(Frame.SIGNAL, String(sig)); }
  close(): void { this.sock.destroy(); }
  /** Sends what is written so far, then hangs up; output that still comes is read and dropped (never held). */
  hangUp(): void {
    this.removeAllListeners('output');
    this.sock.resume();
    this.sock.end();
  }

  /**
   * Sends one signal on a connection of its own (nothing queued ahead of it) and
   * hangs up once it is written. For processes whose only other connection may be
   * behind stdin (an exec).
   */
  static async signalOnce(path: string, sig: number): Promise<void> {
    const c = await MonitorConnection.connect(path);
    c.quiet();
    c.signal(sig);
    c.sock.end();
  }
  /** Stops reading output: the monitor then holds the container's output (backpressure). */
  pause(): void { this.sock.pause(); }
  resume(): void { this.sock.resume(); }
}
