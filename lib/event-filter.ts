// `events --filter`: Docker's filters for events, shared by the CLI (which checks the
// flags) and the daemon (which matches). Values of one key are alternatives (OR);
// different keys must all match (AND), as in Docker.

export const EVENT_FILTER_KEYS = ['type', 'event', 'container', 'image'] as const;
export type EventFilterKey = (typeof EVENT_FILTER_KEYS)[number];
export const EVENT_TYPES = ['container', 'image'] as const;

export class EventFilterError extends Error {}

export interface EventLike {
  type: string;
  action: string;
  id: string;
  attributes: Readonly<Record<string, string>>;
}

export type EventFilters = Map<EventFilterKey, string[]>;

/** One `--filter KEY=VALUE` as its key and value, or an EventFilterError naming what is wrong. */
export function parseFilterFlag(s: string): { key: EventFilterKey; value: string } {
  const eq = s.indexOf('=');
  if (eq <= 0) throw new EventFilterError(`invalid filter "${s}": expected KEY=VALUE (type, event, container or image)`);
  const key = s.slice(0, eq).trim().toLowerCase();
  const value = s.slice(eq + 1);
  return { key: checkKey(key, value), value };
}

function checkKey(key: string, value: string): EventFilterKey {
  if (!(EVENT_FILTER_KEYS as readonly string[]).includes(key)) {
    throw new EventFilterError(`invalid filter "${key}": use type, event, container or image`);
  }
  if (key === 'type' && !(EVENT_TYPES as readonly string[]).includes(value)) {
    throw new EventFilterError(`invalid value "${value}" for filter type: use container or image`);
  }
  if (value === '') throw new EventFilterError(`invalid filter "${key}=": the value is empty`);
  if (value.length > MAX_FILTER_VALUE) throw new EventFilterError(`the value of filter ${key} is too long: ${value.length} characters, at most ${MAX_FILTER_VALUE} are allowed`);
  return key as EventFilterKey;
}

/** More filters than anyone types: each event is matched against all of them. */
export const MAX_EVENT_FILTERS = 256;
/** Longer than any name, id or reference. */
export const MAX_FILTER_VALUE = 1024;

/** Pairs (from the API) as filters; an unknown key or type is an EventFilterError. */
export function eventFilters(pairs: readonly { key: string; value: string }[]): EventFilters {
  if (pairs.length > MAX_EVENT_FILTERS) throw new EventFilterError(`too many filters: ${pairs.length}, at most ${MAX_EVENT_FILTERS} are allowed`);
  const f: EventFilters = new Map();
  for (const { key, value } of pairs) {
    const k = checkKey(key.toLowerCase(), value);
    f.set(k, [...(f.get(k) ?? []), value]);
  }
  return f;
}

/** "busybox:latest" -> "busybox" (not the port of "host:5000/img"). */
function stripTag(ref: string): string {
  const at = ref.indexOf('@');
  if (at >= 0) return ref.slice(0, at);
  const colon = ref.lastIndexOf(':');
  return colon > ref.lastIndexOf('/') ? ref.slice(0, colon) : ref;
}

export function matchEvent(f: EventFilters, e: EventLike): boolean {
  const any = (key: EventFilterKey, test: (v: string) => boolean) => {
    const vals = f.get(key);
    return !vals || vals.some(test);
  };
  // An action with a detail ("health_status: healthy") matches its name alone, too.
  const base = e.action.split(':', 1)[0]!;
  const name = e.attributes.name ?? '';
  const image = (e.type === 'image' ? e.attributes.name : e.attributes.image) ?? '';
  return (
    any('type', (v) => v === e.type) &&
    any('event', (v) => v === e.action || v === base) &&
    any('container', (v) => e.type === 'container' && (v === name || v === `/${name}` || (v.length > 0 && e.id.startsWith(v)))) &&
    any('image', (v) => [e.id, image, stripTag(e.id), stripTag(image)].includes(v) || (e.type === 'image' && /^(sha256:)?[0-9a-f]{4,64}$/.test(v) && e.id.replace(/^sha256:/, '').startsWith(v.replace(/^sha256:/, ''))))
  );
}
