// The monitor's log record (shim/PROTOCOL.md, "Log file"):
// [stream u8][flags u8][2 zero][len u32 LE][time u64 LE ns][data][len u32 LE, when flags & 1].
// The trailer lets a reader walk a file backwards (--tail); monitors before it wrote
// records without one, which are still read forwards.
import { EngineError } from '../errors.ts';

export interface LogRecord {
  stream: 1 | 2;
  timeNs: bigint;
  data: Buffer;
}

export const RECORD_HEADER = 16;
export const RECORD_TRAILER = 4;
export const FLAG_TRAILER = 1;
/** The monitor writes at most 32 KiB per record; a larger length means a damaged file. */
export const MAX_RECORD_DATA = 1 << 20;

export class CorruptLog extends EngineError {
  constructor(message: string) {
    super('INTERNAL', message);
  }
}

/** Bytes of the record whose header is at buf[off], trailer included. */
export function recordSize(buf: Buffer, off: number): number {
  const len = buf.readUInt32LE(off + 4);
  if (len > MAX_RECORD_DATA) throw new CorruptLog(`a record claims ${len} bytes`);
  return RECORD_HEADER + len + (buf[off + 1]! & FLAG_TRAILER ? RECORD_TRAILER : 0);
}

export function hasTrailer(header: Buffer): boolean {
  return (header[1]! & FLAG_TRAILER) !== 0;
}

export function recordAt(buf: Buffer, off: number): LogRecord {
  const len = buf.readUInt32LE(off + 4);
  return {
    stream: buf[off] === 2 ? 2 : 1,
    timeNs: buf.readBigUInt64LE(off + 8),
    data: buf.subarray(off + RECORD_HEADER, off + RECORD_HEADER + len),
  };
}

/** The whole records at the start of buf, and how many bytes they take. */
export function parseRecords(buf: Buffer): { records: LogRecord[]; offsets: number[]; consumed: number } {
  const records: LogRecord[] = [];
  const offsets: number[] = [];
  let off = 0;
  while (buf.length - off >= RECORD_HEADER) {
    const size = recordSize(buf, off);
    if (buf.length - off < size) break;
    records.push(recordAt(buf, off));
    offsets.push(off);
    off += size;
  }
  return { records, offsets, consumed: off };
}

/**
 * Whole records that end exactly at buf's end, found through their trailers, last
 * first; `start` is where the earliest of them begins (buf.length when none fits).
 * Throws CorruptLog when a trailer does not match its header (a file not written
 * with trailers): the caller reads that file forwards instead.
 */
export function parseRecordsBackward(buf: Buffer): { records: LogRecord[]; offsets: number[]; start: number } {
  const records: LogRecord[] = [];
  const offsets: number[] = [];
  let end = buf.length;
  while (end >= RECORD_HEADER + RECORD_TRAILER) {
    const len = buf.readUInt32LE(end - RECORD_TRAILER);
    if (len > MAX_RECORD_DATA) throw new CorruptLog(`a trailer claims ${len} bytes`);
    const off = end - RECORD_TRAILER - len - RECORD_HEADER;
    if (off < 0) break;
    if (!(buf[off + 1]! & FLAG_TRAILER) || buf.readUInt32LE(off + 4) !== len) {
      throw new CorruptLog('a trailer does not match its header');
    }
    records.push(recordAt(buf, off));
    offsets.push(off);
    end = off;
  }
  return { records, offsets, start: end };
}
