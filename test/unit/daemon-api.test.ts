// API handlers and the server, in process: the socket's mode from the moment it exists,
// and an Import cancelled before the unpacker has started reading.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { serve } from '../../daemon/api/server.ts';
import { imageHandlers } from '../../daemon/api/images.ts';
import type { ImageService } from '../../daemon/images.ts';
import { openDb } from '../../daemon/store/db.ts';
import { ImageStore } from '../../images/store.ts';
import { tarArchive } from '../../images/tar-writer.ts';

const isRoot = process.getuid?.() === 0;

let scratch = '';
before(() => {
  scratch = mkdtempSync(join(tmpdir(), 'tdock-unit-api-'));
});
after(() => rmSync(scratch, { recursive: true, force: true }));

describe('serve()', () => {
  const noServices = { containers: {}, images: {}, system: {}, volumes: {} };

  /** serve() with the socket's mode recorded the moment the bind completes (before any chmod). */
  async function modeAtBind(socket: string, group?: number): Promise<{ atBind: number; after: number }> {
    const proto = grpc.Server.prototype as unknown as { bindAsync: (port: unknown, creds: unknown, cb: (err: Error | null, port: number) => void) => void };
    const orig = proto.bindAsync;
    let atBind = -1;
    proto.bindAsync = function (this: unknown, port: unknown, creds: unknown, cb: (err: Error | null, port: number) => void) {
      return orig.call(this, port, creds, (err: Error | null, p: number) => {
        if (!err) atBind = statSync(socket).mode & 0o777;
        cb(err, p);
      });
    };
    let server: grpc.Server;
    try {
      server = (await serve(socket, noServices, group)).server;
    } finally {
      proto.bindAsync = orig;
    }
    const mode = statSync(socket).mode & 0o777;
    server.forceShutdown();
    return { atBind, after: mode };
  }

  it('creates the socket 0600 (rootless) from the start, and restores the umask', async () => {
    const before = process.umask();
    const r = await modeAtBind(join(scratch, 'rootless', 'tdock.sock'));
    assert.equal(r.atBind.toString(8), '600', 'no moment with umask permissions between bind and chmod');
    assert.equal(r.after.toString(8), '600');
    assert.equal(process.umask(), before);
  });

  // Our own gid: the one group chown allows without root.
  it('creates the socket 0660 (with a group) from the start', async () => {
    const before = process.umask();
    const r = await modeAtBind(join(scratch, 'group', 'tdock.sock'), process.getgid!());
    assert.equal(r.atBind.toString(8), '660');
    assert.equal(r.after.toString(8), '660');
    assert.equal(process.umask(), before);
  });
});

/** Enough of a grpc duplex call for the Import handler. */
class FakeCall extends EventEmitter {
  written: unknown[] = [];
  ended = false;
  write(m: unknown): boolean {
    this.written.push(m);
    return true;
  }
  end(): void {
    this.ended = true;
    this.emit('test-ended');
  }
  /** The error the call is ended with; throws when it ends OK (the import was committed). */
  failure(): Promise<Error> {
    return new Promise((resolve, reject) => {
      this.once('error', resolve);
      this.once('test-ended', () => reject(new Error(`the import was committed: ${JSON.stringify(this.written)}`)));
    });
  }
  pause(): void {}
  resume(): void {}
}

// Without root the layers are shifted onto our own uid and gid, the one chown allowed.
describe('Import cancelled at once', () => {
  it('rejects the import (also after a half-close), leaves no staging dir, and raises nothing uncaught (many times)', async () => {
    const root = join(scratch, 'import-root');
    mkdirSync(root);
    const db = openDb(join(root, 'tdock.db'));
    const store = new ImageStore(db, root, isRoot ? { uid: 100000, gid: 100000, size: 65536 } : { uid: process.getuid!(), gid: process.getgid!(), size: 1 });
    const images = { importTar: (body: never, name: string, opts: { sha256?: string }) => store.importTar(body, name, opts) } as unknown as ImageService;
    const handlers = imageHandlers(images) as unknown as { Import: (call: FakeCall) => void };
    const uncaught: unknown[] = [];
    const onUncaught = (e: unknown) => uncaught.push(e);
    process.on('uncaughtException', onUncaught);
    try {
      for (let i = 0; i < 50; i++) {
        const call = new FakeCall();
        const failed = call.failure();
        handlers.Import(call);
        call.emit('data', { start: { name: `cancelled${i}`, url: '', sha256: '' } });
        // Cancelled before the unpacker attached (it is still creating its directory);
        // half of the time with some data already sent.
        if (i % 2) call.emit('data', { data: tarArchive([{ path: 'f', data: 'x' }]) });
        call.emit('cancelled');
        const err = await failed;
        assert.match(err.message, /import cancelled by the client/);
        assert.equal(call.ended, false);
      }
      // A cancel arrives as a half-close followed by 'cancelled': a valid tar received
      // so far must not be committed.
      for (let i = 0; i < 5; i++) {
        const call = new FakeCall();
        const failed = call.failure();
        handlers.Import(call);
        call.emit('data', { start: { name: `halfway${i}`, url: '', sha256: '' } });
        call.emit('data', { data: tarArchive([{ path: 'f', data: 'x' }]) });
        call.emit('end');
        await new Promise((r) => setTimeout(r, i));
        (call as unknown as { cancelled: boolean }).cancelled = true;
        call.emit('cancelled');
        assert.match((await failed).message, /import cancelled by the client/);
        assert.equal(call.ended, false);
      }
      // let any late 'error' event fire
      await new Promise((r) => setTimeout(r, 50));
    } finally {
      process.off('uncaughtException', onUncaught);
    }
    assert.deepEqual(uncaught, []);
    assert.deepEqual(readdirSync(join(root, 'layers')), [], 'no tmp- layer dir left');
    assert.deepEqual(store.list(), []);
    db.close();
  });
});
