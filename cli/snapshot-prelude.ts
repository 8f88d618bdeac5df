// Imported first by cli/snapshot.ts, so that it runs before any other module of the
// startup snapshot is evaluated, at build time. What module top-level code does
// with the process is the BUILD's and is frozen into the snapshot:
//  - process.stdin/stdout/stderr are made anew in every process started from a
//    snapshot: listeners added to the build's streams (oclif's EPIPE handler on
//    stdout) would be lost. The build's streams are remembered, and
//    replayStdioListeners() adds those listeners to the real streams at run time.
//  - environment variables read at build time (grpc-js's GRPC_TRACE, debug's
//    DEBUG, ...) keep the build's values: their names are recorded
//    (envReadAtBuild()); build.mjs writes them next to the blob and bin/tdock does
//    not use the snapshot when any of them is set.
//  - timers: Node's JS timer lists and their next expiry are in the heap, but the
//    libuv timer that runs them is made anew in each process. A timer left in the
//    build (grpc-js unrefs its backoff, idle and pool-cleanup timers, so they do not
//    count as open resources) leaves a next expiry in the build's clock behind; a
//    CLI that starts later than that (a loaded machine, SIGSTOP) then never arms the
//    new libuv timer, no timer fires, nothing holds the loop, and Node exits with 0
//    in the middle of a call. Every timer made during the build is recorded here and
//    cleared by clearBuildTimers() before the snapshot is taken.
const NAMES = ['stdin', 'stdout', 'stderr'] as const;
type Name = (typeof NAMES)[number];

const built = new Map<Name, { stream: NodeJS.EventEmitter; baseline: Map<string | symbol, Function[]> }>();
const descriptors = new Map<Name, PropertyDescriptor>();

function listeners(e: NodeJS.EventEmitter): Map<string | symbol, Function[]> {
  return new Map(e.eventNames().map((ev) => [ev, e.rawListeners(ev)]));
}

for (const name of NAMES) {
  const d = Object.getOwnPropertyDescriptor(process, name)!;
  descriptors.set(name, d);
  Object.defineProperty(process, name, {
    configurable: true,
    enumerable: d.enumerable,
    get() {
      const s = d.get!.call(process) as NodeJS.EventEmitter;
      if (!built.has(name)) built.set(name, { stream: s, baseline: listeners(s) });
      return s;
    },
  });
}

type TimerFn = (...a: never[]) => NodeJS.Timeout;
const timersModule = process.getBuiltinModule('node:timers') as unknown as Record<string, TimerFn>;
const originals = new Map<string, TimerFn>();
const buildTimers = new Set<NodeJS.Timeout>();
const buildDurations = new Set<number>();
for (const name of ['setTimeout', 'setInterval']) {
  const real = (globalThis as unknown as Record<string, TimerFn>)[name]!;
  originals.set(name, real);
  const recording = ((...a: never[]) => {
    const t = real(...a);
    buildTimers.add(t);
    // the list Node files it under (the delay after Node's own clamping)
    buildDurations.add(Math.trunc((t as unknown as { _idleTimeout: number })._idleTimeout));
    return t;
  }) as TimerFn;
  (globalThis as unknown as Record<string, TimerFn>)[name] = recording;
  timersModule[name] = recording;
}

/**
 * Clears every timer made while the snapshot was built, restores the real
 * setTimeout/setInterval, and leaves Node's timer lists empty with no next expiry:
 *  - Node keeps the (empty) list of a cleared unref'd timer until its expiry comes
 *    (grpc-js's idle timer: 30 minutes), but drops an emptied list at once when the
 *    timer cleared was ref'd: one ref'd timer of each duration used, cleared, drops
 *    the lists;
 *  - the next expiry is forgotten only when the timers run: one timer of our own is
 *    waited for.
 */
export async function clearBuildTimers(): Promise<void> {
  for (const t of buildTimers) clearTimeout(t);
  buildTimers.clear();
  for (const [name, real] of originals) {
    (globalThis as unknown as Record<string, TimerFn>)[name] = real;
    timersModule[name] = real;
  }
  for (const ms of buildDurations) clearTimeout(setTimeout(() => {}, ms));
  buildDurations.clear();
  await new Promise((resolve) => setTimeout(resolve, 1));
}

const env = process.env;
const envRead = new Set<string>();
process.env = new Proxy(env, {
  get(t, k) {
    if (typeof k === 'string') envRead.add(k);
    return Reflect.get(t, k);
  },
  has(t, k) {
    if (typeof k === 'string') envRead.add(k);
    return Reflect.has(t, k);
  },
});

/**
 * Module evaluation is over: back to node's own process.env (what is read from now
 * on, by functions, is read again at run time) and stdio getters.
 */
export function endBuildWatch(): void {
  for (const [name, d] of descriptors) Object.defineProperty(process, name, d);
  process.env = env;
}

/** Names of the environment variables module code read while the snapshot was built. */
export function envReadAtBuild(): string[] {
  return [...envRead].sort();
}

/** Listeners the bundle added to the build's stdio streams, for the real ones. */
export function replayStdioListeners(): void {
  for (const [name, { stream, baseline }] of built) {
    for (const [ev, ls] of listeners(stream)) {
      const before = baseline.get(ev) ?? [];
      for (const l of ls) if (!before.includes(l)) (process[name] as NodeJS.EventEmitter).on(ev, l as (...a: unknown[]) => void);
    }
  }
}
