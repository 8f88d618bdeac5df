// The Events call: the journaled events since `since` (when given), then the live ones
// until `until` or until the client cancels. Matching is done here, so a filtered
// stream costs the transport only what the client asked for.
import type * as grpc from '@grpc/grpc-js';
import type { Event, EventsRequest } from '../../proto/api.ts';
import type { EventBus } from '../events/bus.ts';
import type { TdockEvent } from '../events/types.ts';
import { EventFilterError, eventFilters, matchEvent } from '../../lib/event-filter.ts';
import { EngineError, invalid } from '../errors.ts';
import { failStream } from './status.ts';
import { unixTimeNs } from './logs.ts';
import { Lag, tooSlow } from './flow.ts';

export function toEventMessage(e: TdockEvent): Event {
  return {
    type: e.type,
    action: e.action,
    actorId: e.id,
    attributes: Object.entries(e.attributes).map(([key, value]) => ({ key, value })),
    time: Number(e.timeNs / 1_000_000_000n),
    timeNanos: Number(e.timeNs % 1_000_000_000n),
    scope: 'local',
  };
}

/** Journal rows read per turn of the event loop while a stream replays the journal. */
const REPLAY_PAGE = 500;

/** A rough size of one event on the wire, for the lag count. */
const sizeOf = (m: Event) => 64 + m.action.length + m.actorId.length + m.attributes.reduce((n, a) => n + a.key.length + a.value.length + 4, 0);

export function eventsHandler(bus: EventBus, now: () => bigint): grpc.handleServerStreamingCall<EventsRequest, Event> {
  return (call) => {
    const r = call.request;
    let unsubscribe: (() => void) | undefined;
    let timer: NodeJS.Timeout | undefined;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      unsubscribe?.();
      clearTimeout(timer);
    };
    call.on('cancelled', finish);
    try {
      const filters = (() => {
        try {
          return eventFilters(r.filters);
        } catch (e) {
          throw e instanceof EventFilterError ? invalid(e.message) : e;
        }
      })();
      const sinceNs = unixTimeNs(r.since, 'since');
      const untilNs = unixTimeNs(r.until, 'until');
      if (sinceNs !== undefined && untilNs !== undefined && untilNs < sinceNs) throw invalid('--since must be before --until');
      const lag = new Lag(call);
      const send = (e: TdockEvent) => {
        if (done || !matchEvent(filters, e)) return;
        const m = toEventMessage(e);
        lag.write(m, sizeOf(m));
        if (lag.exceeded) {
          finish();
          failStream(call, tooSlow('the events', 'the journal keeps the last events (tdock events --since)'));
        }
      };
      const t = now();
      const live = (e: TdockEvent) => {
        if (untilNs !== undefined && e.timeNs > untilNs) return;
        send(e);
      };
      const past = untilNs !== undefined && untilNs <= t;
      // Live events that come while the journal is replayed wait behind it.
      let held: TdockEvent[] | undefined = sinceNs !== undefined && !past ? [] : undefined;
      if (!past) {
        unsubscribe = bus.subscribe((e) => (held ? held.push(e) : live(e)), () => {
          if (done) return;
          finish();
          // UNAVAILABLE with grpc-js's words for a dropped connection: the CLI says it was lost.
          failStream(call, new EngineError('UNAVAILABLE', 'Connection dropped: tdockd is shutting down'));
        });
        if (untilNs !== undefined) {
          const ms = Number((untilNs - t) / 1_000_000n) + 1;
          // setTimeout's limit is 2^31-1 ms (~24.8 days): a later --until streams until cancelled.
          if (ms < 2 ** 31) {
            timer = setTimeout(() => {
              if (done) return;
              finish();
              call.end();
            }, ms);
          }
        }
      }
      if (sinceNs === undefined) {
        if (past) {
          finish();
          call.end();
        }
        return;
      }
      const upTo = bus.lastSeq;
      const replay = async () => {
        // In pages, yielding between them: a full journal is ~75 ms of work.
        for (let after = 0; !done; ) {
          const page = bus.past(sinceNs, untilNs ?? t, after, upTo, REPLAY_PAGE);
          for (const e of page) send(e);
          if (page.length < REPLAY_PAGE) break;
          after = page.at(-1)!.seq;
          await new Promise((r) => setImmediate(r));
        }
        if (done) return;
        if (past) {
          finish();
          call.end();
          return;
        }
        const waiting = held ?? [];
        held = undefined;
        for (const e of waiting) live(e);
      };
      replay().catch((e) => {
        if (done) return;
        finish();
        failStream(call, e);
      });
    } catch (e) {
      finish();
      failStream(call, e);
    }
  };
}
