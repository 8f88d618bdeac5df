// Reads the monitor's log file: records of [stream u8][3 zero][len u32 LE][time u64 LE ns][data].
import { openSync, readSync, closeSync, fstatSync } from 'node:fs';

export interface LogRecord {
  stream: 1 | 2;
  timeNs: bigint;
  data: Buffer;
}

export const RECORD_HEADER = 16;

export function parseRecords(buf: Buffer): { records: LogRecord[]; consumed: number } {
  const records: LogRecord[] = [];
  let off = 0;
  while (buf.length - off >= RECORD_HEADER) {
    const len = buf.readUInt32LE(off + 4);
    if (buf.length - off - RECORD_HEADER < len) break;
    const stream = buf.readUInt8(off) === 2 ? 2 : 1;
    records.push({ stream, timeNs: buf.readBigUInt64LE(off + 8), data: buf.subarray(off + RECORD_HEADER, off + RECORD_HEADER + len) });
    off += RECORD_HEADER + len;
  }
  return { records, consumed: off };
}

/** Follows one log file from an offset; each read() returns the whole records added since. */
export class LogReader {
  private offset = 0;
  private readonly path: string;
  constructor(path: string) {
    this.path = path;
  }

  read(): LogRecord[] {
    let fd: number;
    try {
      fd = openSync(this.path, 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    try {
      const size = fstatSync(fd).size;
      if (size <= this.offset) return [];
      const buf = Buffer.allocUnsafe(size - this.offset);
      let got = 0;
      while (got < buf.length) {
        const n = readSync(fd, buf, got, buf.length - got, this.offset + got);
        if (n === 0) break;
        got += n;
      }
      const { records, consumed } = parseRecords(buf.subarray(0, got));
      this.offset += consumed;
      return records;
    } finally {
      closeSync(fd);
    }
  }
}
