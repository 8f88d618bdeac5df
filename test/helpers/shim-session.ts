// One client session with a tdock-shim monitor (or exec-monitor), as the shim tests
// drive it: connect, send START (and the options' frames), collect frames until EXIT.
import { connect } from 'node:net';
import { Frame, FrameDecoder, encodeFrame } from '../../daemon/runtime/frames.ts';

export { Frame as F };

export interface ShimFrame { type: number; payload: Buffer }

export interface SessionOpts {
  stdin?: string;
  closeStdin?: boolean;
  during?: (send: (type: number, payload?: string) => void) => void;
  timeoutMs?: number;
}

export interface SessionResult {
  frames: ShimFrame[];
  stdout: string;
  stderr: string;
  errors: string[];
  exit: { exitCode: number; signal: number; finishedAt: number; error?: string; logError?: string };
}

export function shimSession(sock: string, opts: SessionOpts = {}): Promise<SessionResult> {
  return new Promise((resolve, reject) => {
    const c = connect(sock);
    const decoder = new FrameDecoder();
    const frames: ShimFrame[] = [];
    const send = (type: number, payload = '') => c.write(encodeFrame(type, payload));
    const ms = opts.timeoutMs ?? 10000;
    const timer = setTimeout(() => {
      c.destroy();
      reject(new Error(`no EXIT within ${ms} ms; frames ${JSON.stringify(frames.map((f) => [f.type, f.payload.toString()]))}`));
    }, ms);
    c.on('connect', () => {
      send(Frame.START);
      if (opts.stdin !== undefined) send(Frame.STDIN, opts.stdin);
      if (opts.closeStdin) send(Frame.CLOSE_STDIN);
      opts.during?.(send);
    });
    c.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    // Settles nothing after EXIT; without EXIT (the monitor was killed) it is a failure.
    c.on('close', () => {
      clearTimeout(timer);
      reject(new Error('connection closed before EXIT'));
    });
    c.on('data', (chunk: Buffer) => {
      for (const f of decoder.push(chunk)) {
        frames.push(f);
        if (f.type !== Frame.EXIT) continue;
        clearTimeout(timer);
        c.destroy();
        const text = (t: number) => Buffer.concat(frames.filter((x) => x.type === t).map((x) => x.payload)).toString();
        resolve({
          frames,
          stdout: text(Frame.STDOUT),
          stderr: text(Frame.STDERR),
          errors: frames.filter((x) => x.type === Frame.ERROR).map((x) => x.payload.toString()),
          exit: JSON.parse(f.payload.toString()),
        });
      }
    });
  });
}
