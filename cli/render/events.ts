// `tdock events` output: Docker's line format and its event JSON (for --format).
import type { Event } from '../../proto/api.ts';
import { visible } from './escape.ts';

/** The event's time in unix ns (Event.time + time_nanos: one int64 of ns would not fit a double). */
export function eventTimeNs(e: Pick<Event, 'time' | 'timeNanos'>): bigint {
  return BigInt(e.time) * 1_000_000_000n + BigInt(e.timeNanos);
}

/** RFC 3339 with all nine digits, UTC ("2026-12-05T10:00:00.000000000Z"): Docker's RFC3339NanoFixed. */
export function fixedNano(ns: bigint): string {
  const base = new Date(Number(ns / 1_000_000n)).toISOString().slice(0, 19);
  return `${base}.${(ns % 1_000_000_000n).toString().padStart(9, '0')}Z`;
}

/** `2026-12-05T10:00:00.000000000Z container start ID (image=busybox, name=web)` */
export function eventLine(e: Event): string {
  const attrs = [...e.attributes].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)).map((a) => `${a.key}=${a.value}`);
  return visible(`${fixedNano(eventTimeNs(e))} ${e.type} ${e.action} ${e.actorId}${attrs.length ? ` (${attrs.join(', ')})` : ''}`);
}

/**
 * Docker's events.Message, as `--format '{{json .}}'` prints it: the legacy status, id
 * and from (the action, the actor, a container's image), then Type, Action, Actor,
 * scope, time and timeNano.
 */
export function eventDocument(e: Event): Record<string, unknown> {
  const attributes: Record<string, string> = {};
  for (const a of [...e.attributes].sort((x, y) => (x.key < y.key ? -1 : 1))) attributes[a.key] = a.value;
  const legacy: Record<string, unknown> = { status: e.action, id: e.actorId };
  if (e.type === 'container' && attributes.image !== undefined) legacy.from = attributes.image;
  return {
    ...legacy,
    Type: e.type,
    Action: e.action,
    Actor: { ID: e.actorId, Attributes: attributes },
    scope: e.scope || 'local',
    time: e.time,
    timeNano: eventTimeNs(e),
  };
}
