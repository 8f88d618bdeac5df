// daemon/containers/input.ts: input keeps its order and its end, whatever the timing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { INPUT_HIGH, InputQueue, type InputTarget } from '../../daemon/containers/input.ts';

/** A monitor connection whose socket takes `room` bytes before it wants a 'drain'. */
class FakeTarget extends EventEmitter implements InputTarget {
  got: string[] = [];
  buffered = 0;
  room: number;
  constructor(room = Infinity) {
    super();
    this.room = room;
  }
  private take(s: string, bytes: number): boolean {
    this.got.push(s);
    this.buffered += bytes;
    return this.buffered < this.room;
  }
  stdin(d: Buffer) { return this.take(d.toString(), d.length); }
  closeStdin() { return this.take('<close>', 0); }
  resize(r: number, c: number) { return this.take(`<${r}x${c}>`, 0); }
  drainAll() {
    this.buffered = 0;
    this.emit('drain');
  }
}

test('input that came before the connection goes first; later input waits behind it', () => {
  const q = new InputQueue();
  for (let i = 0; i < 1000; i++) q.push({ kind: 'stdin', data: Buffer.from(`${i},`) }); // more than any count limit
  q.push({ kind: 'close' });
  const t = new FakeTarget();
  q.open(t);
  assert.equal(t.got.length, 1001);
  assert.equal(t.got.slice(0, 1000).join(''), Array.from({ length: 1000 }, (_, i) => `${i},`).join(''));
  assert.equal(t.got.at(-1), '<close>', 'the end of input is never dropped');
});

test('a connection that is behind queues the rest in order; the client is paused, then resumed', () => {
  const q = new InputQueue();
  const t = new FakeTarget(10);
  q.open(t);
  assert.equal(q.push({ kind: 'stdin', data: Buffer.alloc(8, 'a') }), true);
  assert.equal(q.push({ kind: 'stdin', data: Buffer.alloc(8, 'b') }), false, 'the socket is full: pause');
  q.push({ kind: 'resize', rows: 24, cols: 80 });
  q.push({ kind: 'stdin', data: Buffer.from('c') });
  let resumed = 0;
  q.onDrain(() => resumed++);
  assert.equal(resumed, 0);
  assert.deepEqual(t.got, ['aaaaaaaa', 'bbbbbbbb']);
  t.drainAll();
  assert.deepEqual(t.got, ['aaaaaaaa', 'bbbbbbbb', '<24x80>', 'c']);
  assert.equal(resumed, 1);
});

test('without a connection, more than INPUT_HIGH bytes pause the client; nothing is dropped', () => {
  const q = new InputQueue();
  const chunk = Buffer.alloc(64 << 10, 'x');
  let n = 0;
  while (q.push({ kind: 'stdin', data: chunk })) n++;
  assert.ok((n + 1) * chunk.length > INPUT_HIGH);
  let resumed = false;
  q.onDrain(() => (resumed = true));
  const t = new FakeTarget();
  q.open(t);
  assert.equal(t.got.length, n + 1);
  assert.ok(resumed);
});

test('a connection that goes away: input waits for the next one, in order; discard() forgets it', () => {
  const q = new InputQueue();
  const a = new FakeTarget(1);
  q.open(a);
  q.push({ kind: 'stdin', data: Buffer.from('1') }); // a is now behind
  q.push({ kind: 'stdin', data: Buffer.from('2') });
  q.close();
  q.push({ kind: 'stdin', data: Buffer.from('3') });
  const b = new FakeTarget();
  q.open(b);
  assert.deepEqual(a.got, ['1']);
  assert.deepEqual(b.got, ['2', '3']);
  a.drainAll(); // a late 'drain' from the old connection changes nothing
  assert.deepEqual(b.got, ['2', '3']);
  q.close();
  q.push({ kind: 'stdin', data: Buffer.from('4') });
  q.discard();
  const c = new FakeTarget();
  q.open(c);
  assert.deepEqual(c.got, []);
});
