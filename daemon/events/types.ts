// What an event is, in Docker's terms (its events API): a type, an action, an actor
// (id and string attributes) and a time. One definition for the bus, the journal,
// the filters and the API handler.

export type EventType = 'container' | 'image';

export interface TdockEvent {
  /** order of emission (the journal's row id); later events have larger ones */
  seq: number;
  type: EventType;
  /** create, start, die, ..., "health_status: healthy" */
  action: string;
  /** a container's id; an image's id or the reference it was pulled/tagged as */
  id: string;
  attributes: Record<string, string>;
  /** unix ns */
  timeNs: bigint;
}

/**
 * Where the engine and the image service report what happened. `emit` never throws:
 * an event that cannot be recorded must not fail the container operation it reports.
 */
export interface EventSink {
  emit(type: EventType, action: string, id: string, attributes?: Record<string, string>): void;
}

/** A sink that drops everything (unit tests, and code built without a bus). */
export const NO_EVENTS: EventSink = { emit: () => {} };
