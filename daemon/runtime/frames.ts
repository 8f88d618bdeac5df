// The monitor socket's framing: [type u8][length u32 BE][payload] (shim/PROTOCOL.md).
export const Frame = {
  STDOUT: 1,
  STDERR: 2,
  PID: 3,
  EXIT: 4,
  ERROR: 5,
  START: 10,
  STDIN: 11,
  CLOSE_STDIN: 12,
  RESIZE: 13,
  SIGNAL: 14,
  EXEC: 15,
  EXEC_OK: 16,
  EXEC_ERROR: 17,
  FEATURES: 18,
  QUIET: 19,
} as const;

export const HEADER = 5;
export const MAX_PAYLOAD = 16 * 1024 * 1024;

export function encodeFrame(type: number, payload: Buffer | string = Buffer.alloc(0)): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const out = Buffer.allocUnsafe(HEADER + body.length);
  out.writeUInt8(type, 0);
  out.writeUInt32BE(body.length, 1);
  body.copy(out, HEADER);
  return out;
}

/** Splits a byte stream into frames; keeps partial frames across chunks. */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): { type: number; payload: Buffer }[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const frames: { type: number; payload: Buffer }[] = [];
    let off = 0;
    while (this.buf.length - off >= HEADER) {
      const len = this.buf.readUInt32BE(off + 1);
      if (len > MAX_PAYLOAD) throw new Error(`monitor frame too large (${len} bytes)`);
      if (this.buf.length - off - HEADER < len) break;
      frames.push({ type: this.buf.readUInt8(off), payload: this.buf.subarray(off + HEADER, off + HEADER + len) });
      off += HEADER + len;
    }
    this.buf = off === this.buf.length ? Buffer.alloc(0) : this.buf.subarray(off);
    return frames;
  }
}
