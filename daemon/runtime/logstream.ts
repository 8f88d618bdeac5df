// `logs` and `logs -f`, read from the files themselves, one chunk at a time: the caller
// asks for the next chunk when it has sent the last one, so a reader holds one chunk
// however large the log and however slow its client. A follower reads on at its own
// pace: it is never cut off and the container never waits for it; it learns of new
// output from the directory (fs.watch, with a poll as the safety net) and of the end
// from the engine's exit notification, after which it reads the files to their end.
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { CorruptLog, RECORD_HEADER, parseRecords, recordSize, type LogRecord } from './logfile.ts';
import { Reads, closeAll, isCurrent, openLogFiles, sameFile, type FileId, type LogFile } from './logfiles.ts';
import { findStart, type LogRange } from './logtail.ts';

export type LogQuery = LogRange;

/** At most this much is read (and held) at once. */
export const LOG_CHUNK = 1 << 20;
/**
 * Measured (README, "Numbers"): a follower woken by inotify sees a line within about
 * a millisecond; the poll only covers events that never come (a filesystem without
 * inotify, a watch that failed).
 */
export const POLL_WITH_WATCH_MS = 1000;
export const POLL_WITHOUT_WATCH_MS = 100;

export interface LogStreamOptions {
  chunkSize?: number;
  /** Follow: read on as the files grow and rotate until `ended` resolves, then to their end. */
  follow?: { ended: Promise<unknown> };
  /** Wake-up interval while following at the end; defaults above. */
  pollMs?: number;
  /** false: poll only. */
  watch?: boolean;
  /** Called once when the stream is closed (by the caller or at its end). */
  onClose?: () => void;
}

/** A file and how far it has been read; `end` is its final size, undefined while the monitor writes it. */
interface Segment { file: LogFile; offset: number; skip: number; end?: number }

export class LogStream {
  private readonly path: string;
  private readonly q: LogQuery;
  private readonly reads: Reads;
  private readonly o: LogStreamOptions;
  private segs: Segment[];
  private readonly following: boolean;
  private ended = false;
  private closed = false;
  /** --until was passed: no record after this one is shown. */
  private stopped = false;
  /** The last file read to its end: its successors are the files after it. */
  private last?: FileId;
  private watcher?: FSWatcher;
  private watching: boolean;
  private pollMs: number;
  private changed = false;
  private wake?: () => void;

  private constructor(path: string, q: LogQuery, reads: Reads, segs: Segment[], o: LogStreamOptions) {
    this.path = path;
    this.q = q;
    this.reads = reads;
    this.segs = segs;
    this.o = o;
    this.following = o.follow !== undefined;
    this.watching = o.watch ?? true;
    this.pollMs = o.pollMs ?? (this.watching ? POLL_WITH_WATCH_MS : POLL_WITHOUT_WATCH_MS);
    o.follow?.ended.then(
      () => this.poke(true),
      () => this.poke(true),
    );
  }

  /** Opens the log at path (PATH and its rotated PATH.N) positioned for q. */
  static async open(path: string, q: LogQuery, o: LogStreamOptions = {}): Promise<LogStream> {
    const reads = new Reads(o.chunkSize ?? LOG_CHUNK);
    const files = await openLogFiles(path);
    let segs: Segment[];
    try {
      const at = await findStart(files, q, reads);
      await closeAll(files.slice(0, at.file));
      segs = files.slice(at.file).map((file, i) => ({
        file,
        offset: i === 0 ? at.offset : 0,
        skip: i === 0 ? at.skip : 0,
        // Rotated files are complete; without follow, so is what the current one has now.
        end: o.follow && file.name === path ? undefined : file.size,
      }));
    } catch (e) {
      await closeAll(files);
      o.onClose?.();
      throw e;
    }
    return new LogStream(path, q, reads, segs, o);
  }

  /** Bytes read from the files so far. */
  get bytesRead(): number {
    return this.reads.bytes;
  }

  /** The largest buffer read into: the most this stream held at once. */
  get maxBuffer(): number {
    return this.reads.maxBuffer;
  }

  /** The next records (at most one chunk of them), or null at the end. Not to be called concurrently. */
  async next(): Promise<LogRecord[] | null> {
    try {
      return await this.step();
    } catch (e) {
      if (this.closed) return null;
      await this.close();
      throw e;
    }
  }

  private async step(): Promise<LogRecord[] | null> {
    for (;;) {
      if (this.closed || this.stopped) return this.finish();
      // Looked at before the files: once the exit is known, what they hold is everything.
      const ended = this.ended;
      this.changed = false;
      const seg = this.segs[0];
      if (!seg) {
        if (!this.following) return this.finish();
        if (await this.takeSuccessors()) continue;
        if (ended || this.pastUntil()) return this.finish();
        await this.waitForChange();
        continue;
      }
      const size = seg.end ?? (await seg.file.fh.stat()).size;
      if (seg.offset < size) {
        const r = await this.readChunk(seg, size);
        if (r.records.length) return r.records;
        if (r.progressed) continue;
      }
      if (seg.end === undefined) {
        if (await isCurrent(this.path, seg.file)) {
          if (ended || this.pastUntil()) return this.finish();
          await this.waitForChange();
          continue;
        }
        // Rotated away: the monitor writes to its successor now, this one is complete.
        seg.end = (await seg.file.fh.stat()).size;
        continue;
      }
      this.last = { dev: seg.file.dev, ino: seg.file.ino };
      this.segs.shift();
      await seg.file.fh.close();
    }
  }

  /** The whole records of one chunk of seg (one record when it is larger than a chunk). */
  private async readChunk(seg: Segment, size: number): Promise<{ records: LogRecord[]; progressed: boolean }> {
    let buf = await this.reads.read(seg.file.fh, seg.offset, Math.min(this.reads.chunk, size - seg.offset));
    let p;
    try {
      p = parseRecords(buf);
      if (p.consumed === 0 && buf.length >= RECORD_HEADER) {
        const need = recordSize(buf, 0);
        if (need > buf.length && seg.offset + need <= size) {
          buf = await this.reads.read(seg.file.fh, seg.offset, need);
          p = parseRecords(buf);
        }
      }
    } catch (e) {
      if (e instanceof CorruptLog) throw new CorruptLog(`the log file ${seg.file.name} is damaged at offset ${seg.offset}: ${e.message}`);
      throw e;
    }
    seg.offset += p.consumed;
    const out: LogRecord[] = [];
    for (let rec of p.records) {
      if (seg.skip) {
        rec = { ...rec, data: rec.data.subarray(Math.min(seg.skip, rec.data.length)) };
        seg.skip = 0;
      }
      // Time goes forward: the first record after --until ends the stream.
      if (this.q.untilNs !== undefined && rec.timeNs > this.q.untilNs) {
        this.stopped = true;
        break;
      }
      if (this.q.sinceNs !== undefined && rec.timeNs < this.q.sinceNs) continue;
      if (rec.data.length) out.push(rec);
    }
    return { records: out, progressed: p.consumed > 0 };
  }

  /** Follows on with the files that came after the last one read (all of them if that one is gone). */
  private async takeSuccessors(): Promise<boolean> {
    const files = await openLogFiles(this.path);
    const seen = this.last;
    const at = seen ? files.findIndex((f) => sameFile(f, seen)) : -1;
    await closeAll(files.slice(0, at + 1));
    this.segs = files.slice(at + 1).map((file) => ({ file, offset: 0, skip: 0, end: file.name === this.path ? undefined : file.size }));
    if (this.closed) {
      await closeAll(this.segs.map((s) => s.file));
      this.segs = [];
    }
    return this.segs.length > 0;
  }

  private pastUntil(): boolean {
    return this.q.untilNs !== undefined && BigInt(Date.now()) * 1_000_000n > this.q.untilNs;
  }

  private poke(ended = false): void {
    if (ended) this.ended = true;
    this.changed = true;
    this.wake?.();
  }

  private waitForChange(): Promise<void> {
    if (this.changed || this.closed) return Promise.resolve();
    this.startWatching();
    let ms = this.pollMs;
    if (this.q.untilNs !== undefined) ms = Math.min(ms, Math.max(1, Number((this.q.untilNs - BigInt(Date.now()) * 1_000_000n) / 1_000_000n) + 1));
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.wake?.(), ms);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
    });
  }

  /** One inotify watch on the directory: writes, renames and new files of the log all show there. */
  private startWatching(): void {
    if (this.watcher || !this.watching) return;
    const base = basename(this.path);
    const fallBack = () => {
      this.watcher?.close();
      this.watcher = undefined;
      this.watching = false;
      this.pollMs = Math.min(this.pollMs, POLL_WITHOUT_WATCH_MS);
    };
    try {
      this.watcher = watch(dirname(this.path), { persistent: false }, (_event, name) => {
        if (!name || name.startsWith(base)) this.poke();
      });
      this.watcher.on('error', fallBack);
    } catch {
      fallBack();
    }
  }

  private async finish(): Promise<null> {
    await this.close();
    return null;
  }

  /** Stops the stream and releases its files; next() then returns null. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.wake?.();
    this.watcher?.close();
    this.watcher = undefined;
    const segs = this.segs;
    this.segs = [];
    await closeAll(segs.map((s) => s.file));
    this.o.onClose?.();
  }
}
