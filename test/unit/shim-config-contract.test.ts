// The shim's config.json and exec config: one typed schema on the daemon's side
// (daemon/containers/shim-config.ts), read by shim/config.c. Every key the daemon
// writes must be one the shim reads, and every key the shim reads must be written
// by the daemon or be listed below with the reason it is not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { execConfig, monitorConfig, type MonitorConfigInput } from '../../daemon/containers/shim-config.ts';
import { checkMounts, shimMounts } from '../../daemon/containers/mounts.ts';

const configC = readFileSync(new URL('../../shim/config.c', import.meta.url), 'utf8');

/** Keys shim/config.c looks up: the string literal a json_get/get_* call names. */
const shimReads = new Set([...configC.matchAll(/\b(?:json_get|get_[a-z_]+)\([^,()]*,\s*"([A-Za-z]+)"/g)].map((m) => m[1]!));

/** Keys the shim understands that the daemon does not write, and why. */
const SHIM_ONLY: Record<string, string> = {
  startTimeoutMs: 'optional: tests shorten how long an exec-monitor waits for its START; the daemon keeps the default',
};

/** Every object key in a JSON-like value, except inside maps whose keys are data (sysctl). */
function keysOf(v: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(v)) for (const x of v) keysOf(x, out);
  else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      out.add(k);
      if (k !== 'sysctl') keysOf(x, out);
    }
  }
  return out;
}

const input = {
  c: { id: 'a'.repeat(64), spec: { hostname: 'h', args: ['sh'], cwd: '/', tty: false, openStdin: false, network: 'bridge' } },
  bundleDir: '/b', lower: ['/l'], env: ['A=1'], user: { uid: 0, gid: 0, additionalGids: [1] },
  idMaps: { uid: { start: 100000, size: 65536 }, gid: { start: 100000, size: 65536 } }, rootless: false,
  cgroupProcs: ['/c'], seccomp: 'default',
  mounts: [{ source: '/s', destination: '/d', options: ['bind', 'ro'] }, { type: 'tmpfs', source: 'tmpfs', destination: '/t', options: ['size=1'] }],
  socket: '/r/m.sock', logPath: '/b/container.log', log: { maxSize: 1, maxFile: 1 }, exitPath: '/r/exit.json', netnsPath: '/r/netns',
} as unknown as MonitorConfigInput;

test('every key the daemon writes into config.json and an exec config is read by shim/config.c', () => {
  assert.ok(shimReads.size > 30, `the shim's lookups were found (${shimReads.size})`);
  const exec = execConfig({
    initPid: 1, initStartTime: 2, args: ['true'], env: [], cwd: '/', user: { uid: 0, gid: 0, additionalGids: [] },
    tty: false, openStdin: false, seccomp: 'default', cgroupProcs: [], socket: '/s', exitPath: '/e',
  });
  for (const [name, doc] of [['config.json', monitorConfig(input)], ['the exec config', exec]] as const) {
    const unread = [...keysOf(doc)].filter((k) => !shimReads.has(k));
    assert.deepEqual(unread, [], `${name}: keys the shim never reads`);
  }
});

test('every key shim/config.c reads is written by the daemon, or listed with its reason', () => {
  const written = keysOf(monitorConfig(input));
  for (const k of keysOf(execConfig({
    initPid: 1, initStartTime: 2, args: [], env: [], cwd: '/', user: { uid: 0, gid: 0, additionalGids: [] },
    tty: true, ttyRows: 30, ttyCols: 100, openStdin: false, seccomp: 'default', cgroupProcs: [], socket: '/s', exitPath: '/e',
  }))) written.add(k);
  const unwritten = [...shimReads].filter((k) => !written.has(k) && !(k in SHIM_ONLY));
  assert.deepEqual(unwritten, [], 'keys the shim reads that the daemon never writes: write them, or list them in SHIM_ONLY with why');
  for (const k of Object.keys(SHIM_ONLY)) assert.ok(shimReads.has(k), `SHIM_ONLY lists ${k}, which the shim no longer reads`);
});

/** Mount options shim/config.c knows by name: its option_flags table and the ones it tests for itself. */
const shimOptions = new Set([
  ...[...configC.matchAll(/\{ "([a-z]+)", (?:MS_|0)/g)].map((m) => m[1]!),
  ...[...configC.matchAll(/strcmp\(o, "([a-z]+)"\)/g)].map((m) => m[1]!),
]);
/** Options passed to the kernel as data (tmpfs): only for file systems, never for binds. */
const DATA_OPTION = /^(size|mode)=[0-7]*\d*$/;

test('every mount option the daemon writes is one shim/config.c knows, and every one it knows is written', () => {
  assert.ok(shimOptions.has('ro') && shimOptions.has('rbind') && shimOptions.has('idmap') && shimOptions.has('copyup'), [...shimOptions].join(' '));
  const m = (over: Record<string, unknown>) => ({
    type: 'bind', source: '/h', target: '/t', readOnly: false, createSource: false, noCopy: false, tmpfsSize: 0, tmpfsMode: 0,
    tmpfsOptions: [] as string[], origin: 'mount', spec: '', mode: '', ...over,
  });
  const points = checkMounts([
    m({ target: '/a' }), m({ target: '/b', readOnly: true }),
    m({ type: 'volume', source: 'vol', target: '/c' }), m({ type: 'volume', source: '', target: '/d', noCopy: true }),
    m({ type: 'tmpfs', source: '', target: '/e', tmpfsSize: 1024, tmpfsMode: 0o700, tmpfsOptions: ['exec', 'noatime'], readOnly: true }),
  ], () => 'x'.repeat(64));
  const written = new Set<string>();
  for (const idmap of [true, false]) {
    for (const b of shimMounts(points, () => idmap)) {
      for (const o of b.options) {
        if (b.type && DATA_OPTION.test(o)) continue;
        assert.ok(shimOptions.has(o), `the daemon writes mount option "${o}", which shim/config.c does not know`);
        written.add(o);
      }
    }
  }
  for (const b of monitorConfig(input).mounts) for (const o of b.options) written.add(o);
  // The shim's own table has more than the daemon needs (compatibility spellings); the ones it tests for itself must be used.
  for (const o of [...configC.matchAll(/strcmp\(o, "([a-z]+)"\)/g)].map((x) => x[1]!)) {
    assert.ok(written.has(o), `shim/config.c handles mount option "${o}", which the daemon never writes`);
  }
});
