// docker ps --filter, with the daemon's semantics (moby daemon/list.go): values of
// one key are alternatives (OR), different keys must all hold (AND), except label,
// where every label given must match. id and name are unanchored regular expressions
// (as filters.Args.Match); status=... also lists stopped containers.
import type { ContainerSummary } from '../proto/api.ts';
import { UsageError } from './errors.ts';

const KEYS = new Set(['id', 'name', 'label', 'exited', 'status', 'ancestor', 'before', 'since', 'health', 'volume', 'network', 'publish', 'expose', 'is-task']);
const STATES = new Set(['created', 'restarting', 'running', 'removing', 'paused', 'exited', 'dead']);
const HEALTH = new Set(['starting', 'healthy', 'unhealthy', 'none']);

export type Filters = Map<string, string[]>;

/** "key=value" flags -> key -> values; a malformed one or an unknown key is a usage error in docker's words. */
export function parseFilters(args: readonly string[], keys: ReadonlySet<string> = KEYS): Filters {
  const out: Filters = new Map();
  for (const a of args) {
    const eq = a.indexOf('=');
    if (eq <= 0) throw new UsageError(`bad format of filter (expected name=value)`);
    const k = a.slice(0, eq).trim().toLowerCase();
    const v = a.slice(eq + 1).trim();
    if (!keys.has(k)) throw new UsageError(`invalid filter '${k}'`);
    out.set(k, [...(out.get(k) ?? []), v]);
  }
  return out;
}

function regexMatch(pattern: string, s: string): boolean {
  if (pattern === s) return true;
  try {
    return new RegExp(pattern).test(s);
  } catch {
    return false;
  }
}

function labelsOf(c: ContainerSummary): Map<string, string> {
  const m = new Map<string, string>();
  for (const kv of c.labels ?? []) {
    const eq = kv.indexOf('=');
    m.set(eq < 0 ? kv : kv.slice(0, eq), eq < 0 ? '' : kv.slice(eq + 1));
  }
  return m;
}

/** "label=k" (present) or "label=k=v" (that value), all of them. */
function labelsMatch(c: ContainerSummary, wanted: readonly string[]): boolean {
  const have = labelsOf(c);
  return wanted.every((w) => {
    const eq = w.indexOf('=');
    if (eq < 0) return have.has(w);
    return have.get(w.slice(0, eq)) === w.slice(eq + 1);
  });
}

function healthOf(c: ContainerSummary): string {
  const m = /\((?:health: )?(starting|healthy|unhealthy)\)$/.exec(c.status);
  return m ? m[1]! : 'none';
}

/** "busybox" is "busybox:latest"; a registry host is kept. */
function normalRef(ref: string): string {
  const last = ref.slice(ref.lastIndexOf('/') + 1);
  return ref.includes('@') || last.includes(':') ? ref : `${ref}:latest`;
}

function ancestorMatch(c: ContainerSummary, a: string): boolean {
  if (normalRef(c.image) === normalRef(a)) return true;
  const bare = a.startsWith('sha256:') ? a.slice(7) : a;
  const id = (c.imageId ?? '').replace(/^sha256:/, '');
  return /^[0-9a-f]{4,64}$/.test(bare) && id.startsWith(bare);
}

/** "80", "80/udp", "8000-8080[/tcp]" against a container port. */
function portMatch(spec: string, port: number, proto: string): boolean {
  const [range, p = 'tcp'] = spec.split('/') as [string, string?];
  if (p.toLowerCase() !== proto.toLowerCase()) return false;
  const [lo, hi = lo] = range.split('-').map(Number) as [number, number?];
  if (!Number.isInteger(lo) || !Number.isInteger(hi)) throw new UsageError(`invalid filter value '${spec}': expected PORT[/PROTO] or START-END[/PROTO]`);
  return port >= lo && port <= hi!;
}

function findRef(list: readonly ContainerSummary[], ref: string): ContainerSummary {
  const c = list.find((x) => x.id === ref || x.name === ref.replace(/^\//, '')) ?? list.find((x) => x.id.startsWith(ref));
  if (!c) throw new UsageError(`No such container: ${ref}`);
  return c;
}

/** Values checked before anything is listed (docker refuses them whatever the containers). */
export function checkFilterValues(f: Filters): void {
  for (const v of f.get('status') ?? []) if (!STATES.has(v)) throw new UsageError(`invalid filter 'status=${v}'`);
  for (const v of f.get('health') ?? []) if (!HEALTH.has(v)) throw new UsageError(`Unrecognised filter value for health: ${v}`);
  for (const v of f.get('exited') ?? []) if (!/^-?\d+$/.test(v)) throw new UsageError(`invalid filter 'exited=${v}'`);
  for (const v of f.get('is-task') ?? []) if (v !== 'true' && v !== 'false') throw new UsageError(`Invalid filter 'is-task=${v}'`);
}

export interface PsQuery {
  all: boolean;
  /** -n N (0 = no limit); -l is 1 */
  last: number;
  filters: Filters;
}

/**
 * The containers docker ps shows, newest first: all of them (list is every container)
 * through the filters, stopped ones only with -a, -n/-l or a status filter.
 */
export function selectContainers(list: readonly ContainerSummary[], q: PsQuery): ContainerSummary[] {
  const f = q.filters;
  checkFilterValues(f);
  // Newest first, to the millisecond (an older daemon gives seconds alone); equal ones as the daemon listed them.
  const when = (c: ContainerSummary) => Number(c.createdMs) || c.created * 1000;
  const sorted = [...list].sort((a, b) => when(b) - when(a));
  const before = f.get('before')?.map((r) => findRef(sorted, r));
  const since = f.get('since')?.map((r) => findRef(sorted, r));
  const all = q.all || q.last > 0 || f.has('status');
  const any = (k: string, test: (v: string) => boolean) => !f.has(k) || f.get(k)!.some(test);
  const out = sorted.filter((c) => {
    const running = c.state === 'running' || c.state === 'restarting' || c.state === 'paused';
    if (!all && !running) return false;
    if (f.get('is-task')?.includes('true')) return false;
    return any('id', (v) => regexMatch(v, c.id))
      && any('name', (v) => regexMatch(v, `/${c.name}`))
      && (!f.has('label') || labelsMatch(c, f.get('label')!))
      && any('status', (v) => v === c.state)
      && any('exited', (v) => !running && c.state !== 'created' && c.exitCode === Number(v))
      && any('health', (v) => healthOf(c) === v)
      && any('ancestor', (v) => ancestorMatch(c, v))
      && any('volume', (v) => (c.mounts ?? []).includes(v))
      && any('network', (v) => (c.networks ?? []).includes(v))
      && any('publish', (v) => (c.ports ?? []).some((p) => portMatch(v, p.containerPort, p.protocol || 'tcp')))
      && any('expose', (v) => (c.ports ?? []).some((p) => portMatch(v, p.containerPort, p.protocol || 'tcp')))
      && (!before || before.every((b) => sorted.indexOf(c) > sorted.indexOf(b)))
      && (!since || since.every((s) => sorted.indexOf(c) < sorted.indexOf(s)));
  });
  return q.last > 0 ? out.slice(0, q.last) : out;
}
