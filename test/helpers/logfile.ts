// Writes log files the way the monitor does (shim/PROTOCOL.md, "Log file"), so the
// daemon's reader is tested without a container: records, rotation by rename.
import { appendFileSync, renameSync, unlinkSync, existsSync } from 'node:fs';

/** One record; `legacy`: without the trailer, as monitors before rotation wrote them. */
export function logRecord(stream: 1 | 2, data: string | Buffer, timeNs: bigint, legacy = false): Buffer {
  const body = typeof data === 'string' ? Buffer.from(data) : data;
  const h = Buffer.alloc(16);
  h.writeUInt8(stream, 0);
  h.writeUInt8(legacy ? 0 : 1, 1);
  h.writeUInt32LE(body.length, 4);
  h.writeBigUInt64LE(timeNs, 8);
  if (legacy) return Buffer.concat([h, body]);
  const t = Buffer.alloc(4);
  t.writeUInt32LE(body.length, 0);
  return Buffer.concat([h, body, t]);
}

/** Appends records to path. */
export function appendRecords(path: string, records: Buffer[]): void {
  appendFileSync(path, Buffer.concat(records));
}

/** What the monitor does when the file is full: path -> path.1 -> ... keeping maxFiles files. */
export function rotate(path: string, maxFiles: number): void {
  if (maxFiles === 1) {
    unlinkSync(path);
  } else {
    if (existsSync(`${path}.${maxFiles - 1}`)) unlinkSync(`${path}.${maxFiles - 1}`);
    for (let i = maxFiles - 2; i >= 1; i--) if (existsSync(`${path}.${i}`)) renameSync(`${path}.${i}`, `${path}.${i + 1}`);
    renameSync(path, `${path}.1`);
  }
  appendFileSync(path, Buffer.alloc(0));
}

/** "line N\n" for N in [from, to), cut into records of `size` bytes (so lines cross records). */
export function lineRecords(from: number, to: number, size: number, t0: bigint, legacy = false): Buffer[] {
  let text = '';
  for (let i = from; i < to; i++) text += `line ${i}\n`;
  const out: Buffer[] = [];
  const b = Buffer.from(text);
  for (let off = 0, k = 0; off < b.length; off += size, k++) out.push(logRecord(1, b.subarray(off, off + size), t0 + BigInt(k), legacy));
  return out;
}
