// The event bus: the engine and the image service emit into it; each event is written
// to the journal and handed to the live subscribers (`tdock events`) in one go. A
// subscriber that replays the journal subscribes first, notes lastSeq, replays up to
// it and then takes the live events after it: nothing is missed or seen twice.
import type { EventJournal } from './journal.ts';
import type { EventSink, EventType, TdockEvent } from './types.ts';

export type Listener = (e: TdockEvent) => void;

export class EventBus implements EventSink {
  private readonly journal: EventJournal | undefined;
  private readonly listeners = new Set<Listener>();
  private readonly closers = new Map<Listener, () => void>();
  private readonly log: (msg: string) => void;
  private readonly clock: () => bigint;
  private lastNs: bigint;
  private seq: number;
  private failing = false;

  constructor(journal: EventJournal | undefined, log: (msg: string) => void = () => {}, clock: () => bigint = nowNs) {
    this.journal = journal;
    this.log = log;
    this.clock = clock;
    const last = journal?.last() ?? { seq: 0, timeNs: 0n };
    this.seq = last.seq;
    this.lastNs = last.timeNs;
  }

  emit(type: EventType, action: string, id: string, attributes: Record<string, string> = {}): void {
    // Strictly increasing times: --since/--until and the order of the journal agree.
    let timeNs = this.clock();
    if (timeNs <= this.lastNs) timeNs = this.lastNs + 1n;
    this.lastNs = timeNs;
    const e: TdockEvent = { seq: 0, type, action, id, attributes: sortedAttributes(attributes), timeNs };
    try {
      e.seq = this.journal ? this.journal.append(e) : ++this.seq;
      this.seq = e.seq;
      if (this.failing) this.log('events are journaled again');
      this.failing = false;
    } catch (err) {
      // Not journaled (a full disk): the live subscribers still get it. Said once, not per event.
      e.seq = ++this.seq;
      if (!this.failing) this.log(`event ${type} ${action} ${id.slice(0, 12)} not journaled (nor the next ones until it works again): ${(err as Error).message}`);
      this.failing = true;
    }
    for (const l of this.listeners) {
      try {
        l(e);
      } catch (err) {
        this.log(`event listener: ${(err as Error).message}`);
      }
    }
  }

  /** Journaled events in [sinceNs, untilNs], oldest first; a page of them with afterSeq/toSeq/limit. */
  past(sinceNs: bigint, untilNs: bigint, afterSeq = 0, toSeq = Number.MAX_SAFE_INTEGER, limit = -1): TdockEvent[] {
    return this.journal?.range(sinceNs, untilNs, afterSeq, toSeq, limit) ?? [];
  }

  /** The sequence number of the last event emitted (0: none yet). */
  get lastSeq(): number { return this.seq; }

  /** `onClose`: the daemon is shutting down (close()): the stream must end now. */
  subscribe(l: Listener, onClose?: () => void): () => void {
    this.listeners.add(l);
    if (onClose) this.closers.set(l, onClose);
    return () => {
      this.listeners.delete(l);
      this.closers.delete(l);
    };
  }

  /** Ends every subscription (daemon shutdown: live streams would hold it up forever). */
  close(): void {
    const closers = [...this.closers.values()];
    this.listeners.clear();
    this.closers.clear();
    for (const c of closers) c();
  }

  get subscribers(): number { return this.listeners.size; }
}

/** Attributes in key order, as Docker prints them. */
function sortedAttributes(a: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(a).sort()) out[k] = a[k]!;
  return out;
}

export function nowNs(): bigint {
  // Date.now() for the wall clock; the sub-millisecond part from the monotonic clock.
  return BigInt(Date.now()) * 1_000_000n + (process.hrtime.bigint() % 1_000_000n);
}
