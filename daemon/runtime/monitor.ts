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

/**
 * Spawns the monitor for a bundle (or the exec monitor for one exec config) and
 * waits for its one status line.
 * Resolves with the host pid of the container's init; rejects with the shim's
 * own one-line error (it names the step that failed).
 */
export function spawnMonitor(shim: string, target: string, verb: 'monitor' | 'exec' = 'monitor'): Promise<number> {
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
      const m = /^ok (\d+)$/.exec(line);
      if (m) finish(() => resolve(Number(m[1])));
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

export interface MonitorEvents {
  output: [stream: 1 | 2, data: Buffer];
  pid: [pid: number];
  exit: [exit: ExitFile];
  failure: [message: string];
  close: [];
}

/** A client connection to one monitor. Emits output, pid, failure, exit, close. */
export class MonitorConnection extends EventEmitter<MonitorEvents> {
  private readonly sock: Socket;
  private readonly decoder = new FrameDecoder();
  closed = false;

  private constructor(sock: Socket) {
    super();
    this.sock = sock;
    sock.on('data', (chunk: Buffer) => this.onData(chunk));
    sock.on('error', () => {
      /* a dying monitor resets the connection; 'close' follows */
    });
    sock.on('close', () => {
      this.closed = true;
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
          this.emit('pid', Number(f.payload.toString()));
          break;
        case Frame.ERROR:
          this.emit('failure', f.payload.toString().trim());
          break;
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

  private send(type: number, payload?: Buffer | string): void {
    if (!this.closed) this.sock.write(encodeFrame(type, payload));
  }

  start(): void { this.send(Frame.START); }
  stdin(data: Buffer): void { this.send(Frame.STDIN, data); }
  closeStdin(): void { this.send(Frame.CLOSE_STDIN); }
  resize(rows: number, cols: number): void { this.send(Frame.RESIZE, `${rows} ${cols}`); }
  signal(sig: number): void { this.send(Frame.SIGNAL, String(sig)); }
  close(): void { this.sock.destroy(); }
}
