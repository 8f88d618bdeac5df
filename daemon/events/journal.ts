// The events journal in SQLite: the last MAX_EVENTS events survive a daemon restart,
// so `tdock events --since` sees what happened before it. Pruned as it grows.
import Database from 'better-sqlite3';
import type { Db } from '../store/db.ts';
import type { EventType, TdockEvent } from './types.ts';

/** Events kept (Docker keeps 256 in memory; a journal on disk can afford more). */
export const MAX_EVENTS = 10_000;
/** Pruning every PRUNE_EVERY inserts: at most MAX_EVENTS + PRUNE_EVERY rows. */
const PRUNE_EVERY = 100;

interface RawEvent { seq: number; time_ns: bigint; type: string; action: string; actor: string; attributes: string }

export class EventJournal {
  private readonly stmts;
  private readonly max: number;

  constructor(db: Db, max = MAX_EVENTS) {
    this.max = max;
    // The daemon's writes may fall back on its space reserve on a full disk (store/space.ts
    // wraps db.prepare); that reserve is for exits and removals, not for the journal: its
    // insert is prepared without the wrapper and simply fails then (the bus goes on).
    const unguarded = Database.prototype.prepare.call(db, 'INSERT INTO events (time_ns, type, action, actor, attributes) VALUES (?, ?, ?, ?, ?)') as Database.Statement<unknown[]>;
    this.stmts = {
      insert: unguarded,
      prune: db.prepare('DELETE FROM events WHERE seq <= ?'),
      // Unix ns do not fit a double: read them as BigInt.
      range: db.prepare('SELECT * FROM events WHERE seq > ? AND seq <= ? AND time_ns >= ? AND time_ns <= ? ORDER BY seq LIMIT ?').safeIntegers(true),
      last: db.prepare('SELECT max(seq) AS seq, max(time_ns) AS t FROM events').safeIntegers(true),
    };
  }

  /** Records one event; returns its sequence number. */
  append(e: Omit<TdockEvent, 'seq'>): number {
    const seq = Number(this.stmts.insert.run(e.timeNs, e.type, e.action, e.id, JSON.stringify(e.attributes)).lastInsertRowid);
    if (seq % Math.min(PRUNE_EVERY, this.max) === 0) this.stmts.prune.run(seq - this.max);
    return seq;
  }

  /**
   * Events from sinceNs to untilNs (both included), oldest first: at most `limit`, with
   * sequence numbers after `afterSeq` and up to `toSeq` (pages of a long journal).
   */
  range(sinceNs: bigint, untilNs: bigint, afterSeq = 0, toSeq = Number.MAX_SAFE_INTEGER, limit = -1): TdockEvent[] {
    return (this.stmts.range.all(afterSeq, toSeq, sinceNs, untilNs, limit) as RawEvent[]).map((r) => ({
      seq: Number(r.seq),
      timeNs: BigInt(r.time_ns),
      type: r.type as EventType,
      action: r.action,
      id: r.actor,
      attributes: JSON.parse(r.attributes) as Record<string, string>,
    }));
  }

  /** The newest sequence number and time recorded (0 when empty): the bus continues from them. */
  last(): { seq: number; timeNs: bigint } {
    const r = this.stmts.last.get() as { seq: bigint | null; t: bigint | null };
    return { seq: Number(r.seq ?? 0n), timeNs: r.t ?? 0n };
  }
}
