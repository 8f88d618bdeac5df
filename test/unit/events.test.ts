// Events: the filters (parsing and matching, Docker's rules), the journal (bounded,
// ordered, BigInt times), the bus (journal first, then live), and the CLI's formats.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDb } from '../../daemon/store/db.ts';
import { EventJournal } from '../../daemon/events/journal.ts';
import { EventBus } from '../../daemon/events/bus.ts';
import { eventsHandler, toEventMessage } from '../../daemon/api/events.ts';
import { EventFilterError, eventFilters, matchEvent, parseFilterFlag } from '../../lib/event-filter.ts';
import { eventDocument, eventLine, fixedNano } from '../../cli/render/events.ts';
import { eventsRequest, renderEvent } from '../../cli/commands/events.ts';
import { UsageError } from '../../cli/errors.ts';
import type { TdockEvent } from '../../daemon/events/types.ts';

const ID = 'a'.repeat(64);
const ev = (over: Partial<TdockEvent> = {}): TdockEvent => ({
  seq: 1, type: 'container', action: 'start', id: ID, attributes: { image: 'busybox', name: 'web' }, timeNs: 1_765_015_200_123_456_789n, ...over,
});
const match = (filters: string[], e: TdockEvent) => matchEvent(eventFilters(filters.map(parseFilterFlag)), e);

test('filter flags: KEY=VALUE with a known key; type is container or image', () => {
  assert.deepEqual(parseFilterFlag('event=die'), { key: 'event', value: 'die' });
  assert.deepEqual(parseFilterFlag('Container=a=b'), { key: 'container', value: 'a=b' });
  for (const bad of ['die', '=x', 'label=a', 'type=volume', 'event=']) assert.throws(() => parseFilterFlag(bad), EventFilterError, bad);
  assert.throws(() => parseFilterFlag(`container=${'x'.repeat(1025)}`), /too long/);
  assert.throws(() => eventFilters(Array.from({ length: 257 }, () => ({ key: 'event', value: 'die' }))), /too many filters/);
});

test("filters match like Docker's: one key's values OR, keys AND", () => {
  assert.ok(match([], ev()));
  assert.ok(match(['type=container'], ev()));
  assert.ok(!match(['type=image'], ev()));
  assert.ok(match(['event=start', 'event=die'], ev()));
  assert.ok(!match(['event=die'], ev()));
  assert.ok(!match(['event=start', 'container=other'], ev()));
  // container: the name (with or without "/") or an id prefix
  assert.ok(match(['container=web'], ev()));
  assert.ok(match(['container=/web'], ev()));
  assert.ok(match(['container=aaaa'], ev()));
  assert.ok(!match(['container=we'], ev()));
  // an image event is no container's
  assert.ok(!match(['container=web'], ev({ type: 'image', id: 'sha256:aa', attributes: { name: 'web' } })));
  // health_status: by its name alone or with the status
  const h = ev({ action: 'health_status: healthy' });
  assert.ok(match(['event=health_status'], h));
  assert.ok(match(['event=health_status: healthy'], h));
  assert.ok(!match(['event=health_status: unhealthy'], h));
  // image: a container's image (with or without its tag), an image event's id or name
  assert.ok(match(['image=busybox'], ev()));
  assert.ok(match(['image=busybox'], ev({ attributes: { image: 'busybox:latest', name: 'x' } })));
  assert.ok(!match(['image=alpine'], ev()));
  const tag = ev({ type: 'image', action: 'tag', id: 'sha256:abcdef', attributes: { name: 'app:v1' } });
  assert.ok(match(['image=app:v1'], tag));
  assert.ok(match(['image=app'], tag));
  assert.ok(match(['image=sha256:abcdef'], tag));
  assert.ok(match(['image=abcd'], tag));
  assert.ok(!match(['image=localhost:5000'], ev({ attributes: { image: 'localhost:5000/app', name: 'x' } })));
});

test('the journal keeps the newest events, in order, with times to the nanosecond', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tdock-unit-events-'));
  try {
    const db = openDb(join(dir, 'tdock.db'));
    const j = new EventJournal(db, 50);
    for (let i = 0; i < 120; i++) j.append({ ...ev(), action: `a${i}`, timeNs: 1_765_015_200_000_000_001n + BigInt(i) });
    const all = j.range(0n, 2n ** 62n);
    assert.ok(all.length >= 50 && all.length <= 100, `${all.length} kept`);
    assert.equal(all.at(-1)!.action, 'a119');
    assert.equal(all.at(-1)!.timeNs, 1_765_015_200_000_000_120n);
    assert.deepEqual(all.map((e) => e.seq), [...all.map((e) => e.seq)].sort((a, b) => a - b));
    // since/until are inclusive
    const some = j.range(1_765_015_200_000_000_110n, 1_765_015_200_000_000_112n);
    assert.deepEqual(some.map((e) => e.action), ['a109', 'a110', 'a111']);
    assert.deepEqual(j.last(), { seq: 120, timeNs: 1_765_015_200_000_000_120n });
    db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the bus journals, then tells listeners; times only go forward; attributes sorted; a failing journal still delivers', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tdock-unit-bus-'));
  try {
    const db = openDb(join(dir, 'tdock.db'));
    let clock = 1000n;
    const bus = new EventBus(new EventJournal(db), () => {}, () => clock);
    const seen: TdockEvent[] = [];
    const off = bus.subscribe((e) => seen.push(e));
    bus.emit('container', 'create', ID, { name: 'x', image: 'i' });
    bus.emit('container', 'start', ID, { name: 'x', image: 'i' }); // same clock reading
    clock = 500n; // the wall clock stepped back
    bus.emit('container', 'die', ID, { name: 'x', image: 'i', exitCode: '0' });
    assert.deepEqual(seen.map((e) => [e.action, e.timeNs]), [['create', 1000n], ['start', 1001n], ['die', 1002n]]);
    assert.deepEqual(Object.keys(seen[2]!.attributes), ['exitCode', 'image', 'name']);
    assert.deepEqual(bus.past(0n, 5000n).map((e) => e.action), ['create', 'start', 'die']);
    off();
    // A new bus (a daemon restart) goes on after the journal's last event.
    const again = new EventBus(new EventJournal(db), () => {}, () => 10n);
    again.emit('image', 'pull', 'busybox:latest', { name: 'busybox:latest' });
    assert.equal(again.past(0n, 5000n).at(-1)!.timeNs, 1003n);
    db.close();
    const logged: string[] = [];
    const broken = new EventBus({ append: () => { throw new Error('disk full'); }, last: () => ({ seq: 0, timeNs: 0n }), range: () => [] } as unknown as EventJournal, (m) => logged.push(m));
    const got: string[] = [];
    broken.subscribe((e) => got.push(e.action));
    broken.emit('container', 'start', ID);
    assert.deepEqual(got, ['start']);
    assert.match(logged[0]!, /not journaled \(nor the next ones until it works again\): disk full/);
    broken.emit('container', 'die', ID);
    assert.equal(logged.length, 1, 'said once');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("Docker's line: fixed nine digits, UTC, attributes sorted; control characters escaped", () => {
  const m = toEventMessage(ev({ attributes: { name: 'web', image: 'busybox', exitCode: '3' }, action: 'die' }));
  assert.equal(eventLine(m), `2025-12-06T10:00:00.123456789Z container die ${ID} (exitCode=3, image=busybox, name=web)`);
  assert.equal(fixedNano(1_765_015_200_000_000_000n), '2025-12-06T10:00:00.000000000Z');
  assert.equal(eventLine(toEventMessage(ev({ type: 'image', action: 'delete', id: 'sha256:ab', attributes: {} }))), '2025-12-06T10:00:00.123456789Z image delete sha256:ab');
  assert.match(eventLine(toEventMessage(ev({ attributes: { name: 'a\x1b[2Jb' } }))), /name=a\\x1b\[2Jb\)$/);
});

test("{{json .}}: Docker's events.Message with the legacy fields and an exact timeNano", () => {
  const m = toEventMessage(ev());
  assert.deepEqual(eventDocument(m), {
    status: 'start', id: ID, from: 'busybox', Type: 'container', Action: 'start',
    Actor: { ID, Attributes: { image: 'busybox', name: 'web' } }, scope: 'local', time: 1765015200, timeNano: 1_765_015_200_123_456_789n,
  });
  assert.equal(renderEvent(m, '{{json .}}'), `{"status":"start","id":"${ID}","from":"busybox","Type":"container","Action":"start","Actor":{"ID":"${ID}","Attributes":{"image":"busybox","name":"web"}},"scope":"local","time":1765015200,"timeNano":1765015200123456789}\n`);
  assert.equal(renderEvent(m, 'json'), renderEvent(m, '{{json .}}'));
  assert.equal(renderEvent(m, '{{.Type}} {{.Action}} {{.Actor.Attributes.name}}'), 'container start web\n');
  // An image event has no "from".
  assert.equal('from' in eventDocument(toEventMessage(ev({ type: 'image', action: 'pull', id: 'busybox:latest', attributes: { name: 'busybox:latest' } }))), false);
});

test("--format fields by their Go names, as Docker's documented example uses them ({{.Status}} {{.ID}} {{.Time}})", () => {
  const m = toEventMessage(ev());
  assert.equal(renderEvent(m, 'Type={{.Type}}  Status={{.Status}}  ID={{.ID}}'), `Type=container  Status=start  ID=${ID}\n`);
  assert.equal(renderEvent(m, '{{.From}} {{.Scope}} {{.Time}} {{.TimeNano}}'), 'busybox local 1765015200 1765015200123456789\n');
  // {{json .}} keeps the JSON names only.
  assert.equal(renderEvent(m, '{{json .}}').includes('"Status"'), false);
});

test('events flags: times as logs takes them, filters checked before any call', () => {
  const now = 1_765_015_200_000_000_000n;
  assert.deepEqual(eventsRequest({ since: '10m', until: '2025-12-06T10:00:00Z', filter: ['type=image'] }, now), {
    since: '1765014600.000000000', until: '1765015200.000000000', filters: [{ key: 'type', value: 'image' }],
  });
  assert.deepEqual(eventsRequest({}, now), { since: '', until: '', filters: [] });
  assert.throws(() => eventsRequest({ since: 'yesterday' }, now), UsageError);
  assert.throws(() => eventsRequest({ filter: ['colour=red'] }, now), UsageError);
});

/** Waits for `cond` (the replay yields between pages: how long it takes depends on the machine). */
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; !cond(); i++) {
    assert.ok(i < 10_000, 'condition never met');
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('a stream replays a long journal in pages, then the live events: none missed, none twice', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tdock-unit-stream-'));
  try {
    const db = openDb(join(dir, 'tdock.db'));
    let clock = 1_000_000n;
    const bus = new EventBus(new EventJournal(db), () => {}, () => clock++);
    for (let i = 0; i < 1234; i++) bus.emit('container', `a${i}`, ID);
    const got: string[] = [];
    let ended = false;
    const listeners: Record<string, () => void> = {};
    const call = {
      request: { since: '0', until: '', filters: [] },
      write: (m: { action: string }, cb: () => void) => { got.push(m.action); cb(); return true; },
      end: () => { ended = true; },
      on: (ev: string, fn: () => void) => { listeners[ev] = fn; },
      emit: () => true,
    };
    eventsHandler(bus, () => clock)(call as never);
    // Emitted while the replay is under way (it yields between pages): after the journal.
    bus.emit('container', 'live1', ID);
    await until(() => got.includes('live1'));
    bus.emit('container', 'live2', ID);
    assert.equal(got.length, 1236);
    assert.deepEqual(got.slice(0, 3), ['a0', 'a1', 'a2']);
    assert.deepEqual(got.slice(-3), ['a1233', 'live1', 'live2']);
    assert.equal(new Set(got).size, got.length);
    assert.equal(ended, false);
    listeners.cancelled!();
    bus.emit('container', 'after', ID);
    assert.equal(got.at(-1), 'live2');
    assert.equal(bus.subscribers, 0);
    // --until in the past: the journal, then the end.
    const got2: string[] = [];
    let ended2 = false;
    eventsHandler(bus, () => clock)({ ...call, request: { since: '0', until: '0.002', filters: [{ key: 'event', value: 'a5' }] }, write: (m: { action: string }, cb: () => void) => { got2.push(m.action); cb(); return true; }, end: () => { ended2 = true; } } as never);
    await until(() => ended2);
    assert.deepEqual(got2, ['a5']);
    assert.ok(ended2);
    db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
