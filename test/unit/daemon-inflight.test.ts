// Graceful shutdown's bookkeeping (daemon/api/inflight.ts) with fake calls: finite calls
// are waited for, open-ended ones end at once, late ones are refused, overdue ones cut.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type * as grpc from '@grpc/grpc-js';
import { InFlight } from '../../daemon/api/inflight.ts';

type Result = { err: grpc.ServiceError | null; res?: unknown };

function unaryCall(handler: (...a: any[]) => void, request: unknown = {}): { result: Promise<Result>; call: EventEmitter } {
  const call = Object.assign(new EventEmitter(), { request });
  const result = new Promise<Result>((resolve) => handler(call, (err: grpc.ServiceError | null, res?: unknown) => resolve({ err, res })));
  return { result, call };
}

test('shutdown waits for a finite call, ends an open-ended one with UNAVAILABLE, refuses new ones', async () => {
  const calls = new InFlight();
  let finishStop!: () => void;
  const svc = calls.track({
    Stop: (_c: unknown, cb: grpc.sendUnaryData<unknown>) => {
      finishStop = () => cb(null, { ok: true });
    },
    Wait: (_c: unknown, _cb: grpc.sendUnaryData<unknown>) => { /* lasts as long as the container */ },
  });
  const stop = unaryCall(svc.Stop as never);
  const wait = unaryCall(svc.Wait as never);
  assert.deepEqual(calls.finite.map((c) => c.method), ['Stop']);
  const drained = calls.drain(60_000);
  const w = await wait.result;
  assert.equal(w.err?.code, 14);
  assert.equal(w.err?.details, 'tdockd is shutting down: the call was ended (containers keep running)');
  const late = await unaryCall(svc.Stop as never).result;
  assert.equal(late.err?.details, 'tdockd is shutting down: try again when it is back');
  finishStop();
  assert.deepEqual(await stop.result, { err: null, res: { ok: true } });
  assert.deepEqual(await drained, []);
});

test('a finite call past the grace is ended with UNAVAILABLE; its late answer goes nowhere', async () => {
  const calls = new InFlight();
  let late!: () => void;
  const svc = calls.track({ Pull: (_c: unknown, cb: grpc.sendUnaryData<unknown>) => { late = () => cb(null, {}); } });
  const pull = unaryCall(svc.Pull as never);
  assert.deepEqual(await calls.drain(10), ['Pull']);
  const r = await pull.result;
  assert.equal(r.err?.code, 14);
  assert.match(r.err!.details, /did not finish in 0 s and was ended/);
  late();
});

test('a client that cancels is not waited for; logs without -f is finite, with -f open-ended', async () => {
  const calls = new InFlight();
  const svc = calls.track({
    Create: (_c: unknown, _cb: grpc.sendUnaryData<unknown>) => {},
    Logs: (call: EventEmitter) => void call,
  });
  const create = unaryCall(svc.Create as never);
  create.call.emit('cancelled');
  assert.equal(calls.finite.length, 0);
  const follow = Object.assign(new EventEmitter(), { request: { follow: true } });
  const once = Object.assign(new EventEmitter(), { request: { follow: false } });
  const errors: unknown[] = [];
  follow.on('error', (e) => errors.push(e));
  (svc.Logs as (c: unknown) => void)(follow);
  (svc.Logs as (c: unknown) => void)(once);
  assert.deepEqual(calls.finite.map((c) => c.method), ['Logs']);
  once.emit('finish');
  assert.deepEqual(await calls.drain(60_000), []);
  assert.equal((errors[0] as grpc.ServiceError).code, 14);
});
