// Where `logs --tail N` / `--since` start: found by walking the files from their end,
// one chunk at a time, so the size of the log does not matter.
import { CorruptLog, MAX_RECORD_DATA, RECORD_HEADER, RECORD_TRAILER, hasTrailer, parseRecords, parseRecordsBackward, recordSize, type LogRecord } from './logfile.ts';
import type { LogFile, Reads } from './logfiles.ts';

export interface LogRange {
  /** Lines to show from the end; -1 = all. */
  tail: number;
  /** Records older than this are not shown. */
  sinceNs?: bigint;
  /** Records newer than this are not shown. */
  untilNs?: bigint;
}

/** A record boundary in files[file], and how many bytes of that record's data to drop. */
export interface LogPosition { file: number; offset: number; skip: number }

/** Records of one block, last first, with their offsets in the file. */
interface Block { records: LogRecord[]; offsets: number[] }

/** Through the trailers, chunk by chunk from the end; returns where it had to stop (0: the start). */
async function* viaTrailers(f: LogFile, reads: Reads): AsyncGenerator<Block, number> {
  let end = f.size;
  while (end > 0) {
    let start = Math.max(0, end - reads.chunk);
    let buf = await reads.read(f.fh, start, end - start);
    try {
      let p = parseRecordsBackward(buf);
      if (p.records.length === 0) {
        // One record larger than the chunk: its trailer says how large.
        if (buf.length < RECORD_TRAILER) return end;
        const size = RECORD_HEADER + buf.readUInt32LE(buf.length - RECORD_TRAILER) + RECORD_TRAILER;
        if (size - RECORD_HEADER - RECORD_TRAILER > MAX_RECORD_DATA || size > end) return end;
        start = end - size;
        buf = await reads.read(f.fh, start, size);
        p = parseRecordsBackward(buf);
        if (p.records.length === 0) return end;
      }
      yield { records: p.records, offsets: p.offsets.map((o) => o + start) };
      end = start + p.start;
    } catch (e) {
      if (e instanceof CorruptLog) return end;
      throw e;
    }
  }
  return 0;
}

/**
 * Files (or their first `end` bytes) written without trailers: one pass forward notes
 * where each chunk of whole records begins, then those chunks are read last first.
 */
async function* viaIndex(f: LogFile, end: number, reads: Reads): AsyncGenerator<Block> {
  const starts: number[] = [];
  let off = 0;
  try {
    while (off < end) {
      const buf = await reads.read(f.fh, off, Math.min(reads.chunk, end - off));
      let n = parseRecords(buf).consumed;
      if (n === 0) {
        if (buf.length < RECORD_HEADER) break;
        n = recordSize(buf, 0);
        if (off + n > end) break;
      }
      starts.push(off);
      off += n;
    }
  } catch (e) {
    if (!(e instanceof CorruptLog)) throw e;
  }
  const stop = off;
  for (let i = starts.length - 1; i >= 0; i--) {
    const from = starts[i]!;
    const p = parseRecords(await reads.read(f.fh, from, (starts[i + 1] ?? stop) - from));
    yield { records: p.records.reverse(), offsets: p.offsets.map((o) => o + from).reverse() };
  }
}

async function* backwards(f: LogFile, reads: Reads): AsyncGenerator<Block> {
  if (f.size < RECORD_HEADER) return;
  const head = await reads.read(f.fh, 0, RECORD_HEADER);
  // The first record tells how the file was written (a restarted container's file
  // may have older records first and newer ones after: that one goes forward).
  let left = f.size;
  if (hasTrailer(head)) left = yield* viaTrailers(f, reads);
  if (left > 0) yield* viaIndex(f, left, reads);
}

/** Where to start reading files (oldest first) to show `r`. */
export async function findStart(files: LogFile[], r: LogRange, reads: Reads): Promise<LogPosition> {
  const everything: LogPosition = { file: 0, offset: 0, skip: 0 };
  if (r.tail < 0 && r.sinceNs === undefined) return everything;
  if (r.tail === 0) return files.length ? { file: files.length - 1, offset: files.at(-1)!.size, skip: 0 } : everything;
  let needed = r.tail;
  // The output's very last newline ends its last line; it does not begin another.
  let last = true;
  for (let i = files.length - 1; i >= 0; i--) {
    for await (const block of backwards(files[i]!, reads)) {
      for (let k = 0; k < block.records.length; k++) {
        const rec = block.records[k]!;
        const offset = block.offsets[k]!;
        if (r.untilNs !== undefined && rec.timeNs > r.untilNs) continue;
        // Time goes forward through the files: what is older than --since ends the walk.
        if (r.sinceNs !== undefined && rec.timeNs < r.sinceNs) return { file: i, offset, skip: rec.data.length };
        if (needed < 0) continue;
        const d = rec.data;
        let end = d.length;
        if (last && end > 0) {
          last = false;
          if (d[end - 1] === 0x0a) end--;
        }
        while (end > 0) {
          const nl = d.lastIndexOf(0x0a, end - 1);
          if (nl < 0) break;
          if (--needed === 0) return { file: i, offset, skip: nl + 1 };
          end = nl;
        }
      }
    }
  }
  return everything;
}
