// The busybox image built from the host's static busybox.
import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Parser } from 'tar';
import type { ReadEntry } from 'tar';
import { openDb } from '../../daemon/store/db.ts';
import { buildBusyboxTar, ensureBusybox, findBusybox } from '../../images/busybox.ts';
import { ImageStore } from '../../images/store.ts';

const isRoot = process.getuid?.() === 0;
let busybox: string | undefined;
try {
  busybox = findBusybox();
} catch {
  busybox = undefined;
}

function list(tar: Buffer): Map<string, { type: string; mode: number; linkpath?: string; mtime?: Date }> {
  const out = new Map<string, { type: string; mode: number; linkpath?: string; mtime?: Date }>();
  const p = new Parser({ strict: true });
  p.on('entry', (e: ReadEntry) => {
    out.set(e.path, { type: e.type, mode: e.mode ?? 0, ...(e.linkpath ? { linkpath: e.linkpath } : {}), ...(e.mtime ? { mtime: e.mtime } : {}) });
    e.resume();
  });
  p.end(tar);
  return out;
}

let scratch = '';
before(() => {
  scratch = mkdtempSync(join(tmpdir(), 'tdock-images-busybox-'));
});
after(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe('busybox image', { skip: !busybox && 'no static busybox on this host (apt-get install busybox-static)' }, () => {
  it('says to install busybox-static when it is missing', () => {
    assert.throws(() => findBusybox(['/nonexistent/busybox']), /busybox not found .*install busybox-static/);
  });

  it('builds a deterministic rootfs tar with applet symlinks, passwd and the usual dirs', async () => {
    const a = await buildBusyboxTar(busybox);
    const b = await buildBusyboxTar(busybox);
    assert.ok(a.equals(b), 'two builds are byte-identical');
    const entries = list(a);
    assert.deepEqual(entries.get('bin/busybox')?.type, 'File');
    assert.equal(entries.get('bin/busybox')?.mode, 0o755);
    assert.deepEqual(entries.get('bin/sh'), { type: 'SymbolicLink', mode: 0o777, linkpath: '/bin/busybox', mtime: entries.get('bin/busybox')!.mtime });
    assert.equal(entries.get('bin/ls')?.linkpath, '/bin/busybox');
    assert.equal(entries.get('usr/bin/env')?.linkpath, '/bin/busybox');
    assert.equal(entries.get('root/')?.mode, 0o700);
    assert.equal(entries.get('tmp/')?.mode, 0o1777);
    for (const d of ['dev/', 'proc/', 'sys/', 'etc/', 'var/', 'home/', 'usr/bin/', 'usr/sbin/', 'sbin/']) assert.equal(entries.get(d)?.type, 'Directory', d);
    assert.equal(entries.get('etc/passwd')?.type, 'File');
    const paths = [...entries.keys()];
    assert.deepEqual(paths, [...paths].sort(), 'sorted');
  });

  // Without root both stores shift the layer onto our own ids (the one chown allowed).
  it('ensureBusybox imports busybox:latest once, with Cmd sh and the default PATH', async () => {
    const self = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, size: 1 };
    const root = join(scratch, 'root');
    mkdirSync(root);
    const db = openDb(join(root, 'tdock.db'));
    try {
      const store = new ImageStore(db, root, isRoot ? { uid: 100000, gid: 100000, size: 65536 } : self);
      const img = await ensureBusybox(store, busybox);
      const again = await ensureBusybox(store, busybox);
      assert.equal(again.id, img.id);
      assert.deepEqual(img.repoTags, ['busybox:latest']);
      assert.deepEqual(img.config.config, { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sh'] });
      // same host busybox, fresh store: same id
      const root2 = join(scratch, 'root2');
      mkdirSync(root2);
      const db2 = openDb(join(root2, 'tdock.db'));
      const other = await ensureBusybox(new ImageStore(db2, root2, isRoot ? { uid: 200000, gid: 200000, size: 65536 } : self), busybox);
      db2.close();
      assert.equal(other.id, img.id);

      const [dir] = store.layerDirs(img.id);
      assert.equal(readlinkSync(join(dir!, 'bin/sh')), '/bin/busybox');
      const bb = lstatSync(join(dir!, 'bin/busybox'));
      assert.equal(bb.mode & 0o7777, 0o755);
      assert.equal(bb.uid, isRoot ? 100000 : self.uid);
      assert.equal(lstatSync(join(dir!, 'tmp')).mode & 0o7777, 0o1777);
      assert.match(readFileSync(join(dir!, 'etc/passwd'), 'utf8'), /^nobody:x:65534:65534:/m);
      assert.match(readFileSync(join(dir!, 'etc/group'), 'utf8'), /^nogroup:x:65534:$/m);
    } finally {
      db.close();
    }
  });
});
