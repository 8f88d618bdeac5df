// tdock cp and a container's volumes and binds (Docker copies into and out of what is
// mounted there, for running and stopped containers), and --read-only containers.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, statSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { suiteDaemon } from '../helpers/daemon.ts';

describe('tdock cp with volumes, binds and --read-only', () => {
  const d = suiteDaemon();
  let dir = '';
  let bind = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'tdk-cpm-'));
    bind = join(dir, 'bind');
    mkdirSync(bind);
    writeFileSync(join(dir, 'f'), 'payload');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('into and out of a running container\'s volume and bind: the files are the mount\'s, owned by its root', async () => {
    const c = (await d.ok(['run', '-d', '-v', 'cpmvol:/vol', '-v', `${bind}:/bind`, 'busybox', 'sleep', '1000'])).trim();
    try {
      await d.ok(['cp', join(dir, 'f'), `${c}:/vol/`]);
      await d.ok(['cp', join(dir, 'f'), `${c}:/bind/g`]);
      assert.equal(await d.ok(['exec', c, 'cat', '/vol/f', '/bind/g']), 'payloadpayload');
      assert.equal((await d.ok(['exec', c, 'stat', '-c', '%u:%g', '/vol/f', '/bind/g'])).trim(), '0:0\n0:0');
      assert.equal(readFileSync(join(bind, 'g'), 'utf8'), 'payload');
      await d.ok(['exec', c, 'sh', '-c', 'echo inner > /vol/inner']);
      await d.ok(['cp', `${c}:/vol/inner`, join(dir, 'inner')]);
      assert.equal(readFileSync(join(dir, 'inner'), 'utf8'), 'inner\n');
      // symlinks resolve in the container's root: one to the volume leads into it, one
      // in the volume to ../../etc leads to the container's /etc (never the host's)
      await d.ok(['exec', c, 'sh', '-c', 'ln -s /vol /tovol && ln -s ../../../etc /vol/out']);
      await d.ok(['cp', join(dir, 'f'), `${c}:/tovol/via-link`]);
      assert.equal(await d.ok(['exec', c, 'cat', '/vol/via-link']), 'payload');
      await d.ok(['cp', join(dir, 'f'), `${c}:/vol/out/from-vol`]);
      assert.equal(await d.ok(['exec', c, 'cat', '/etc/from-vol']), 'payload');
      assert.throws(() => statSync('/etc/from-vol'));
      // the volume's files are not the container's changes
      assert.doesNotMatch(await d.ok(['diff', c]), /\/vol\/f|\/bind\/g|via-link/);
    } finally {
      await d.cli(['rm', '-f', c]);
    }
  });

  test('a bind of a single file: cp out gives the file', async () => {
    writeFileSync(join(dir, 'single'), 'single file');
    const c = (await d.ok(['run', '-d', '-v', `${join(dir, 'single')}:/etc/single`, 'busybox', 'sleep', '1000'])).trim();
    try {
      await d.ok(['cp', `${c}:/etc/single`, join(dir, 'single-out')]);
      assert.equal(readFileSync(join(dir, 'single-out'), 'utf8'), 'single file');
    } finally {
      await d.cli(['rm', '-f', c]);
    }
  });

  test('a stopped container: cp reaches its volume and bind, not the dirs under them', async () => {
    const c = (await d.ok(['create', '-v', 'cpmvol2:/vol', '-v', `${bind}:/bind`, 'busybox', 'cat', '/vol/s', '/bind/s'])).trim();
    try {
      await d.ok(['start', '-a', c]).catch(() => '');
      await d.ok(['cp', join(dir, 'f'), `${c}:/vol/s`]);
      await d.ok(['cp', join(dir, 'f'), `${c}:/bind/s`]);
      assert.equal(readFileSync(join(bind, 's'), 'utf8'), 'payload');
      await d.ok(['cp', `${c}:/vol/s`, join(dir, 'back')]);
      assert.equal(readFileSync(join(dir, 'back'), 'utf8'), 'payload');
      assert.equal(await d.ok(['start', '-a', c]), 'payloadpayload');
    } finally {
      await d.cli(['rm', '-f', c]);
    }
  });

  test('FIFOs are not copied, either way, and cp says so in one warning line', async () => {
    const src = join(dir, 'withfifo');
    mkdirSync(src);
    writeFileSync(join(src, 'plain'), 'p');
    assert.equal(spawnSync('mkfifo', [join(src, 'pipe')]).status, 0);
    const c = (await d.ok(['run', '-d', 'busybox', 'sleep', '1000'])).trim();
    try {
      const r = await d.cli(['cp', src, `${c}:/in`]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /^WARNING: 1 device node or FIFO not copied \(in\/pipe\)/);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.equal(await d.ok(['exec', c, 'cat', '/in/plain']), 'p');
      await d.ok(['exec', c, 'mkfifo', '/in/p2']);
      const out = await d.cli(['cp', `${c}:/in`, join(dir, 'fifo-out')]);
      assert.equal(out.code, 0, out.stderr);
      assert.match(out.stderr, /^WARNING: 1 device node or FIFO not copied \(fifo-out\/p2\)/);
      assert.equal(out.stderr.trim().split('\n').length, 1, out.stderr);
      assert.equal(readFileSync(join(dir, 'fifo-out', 'plain'), 'utf8'), 'p');
    } finally {
      await d.cli(['rm', '-f', c]);
    }
  });

  test('out to "FILE/" of an existing file: not a directory (Docker\'s lstat error), nothing written', async () => {
    const c = (await d.ok(['run', '-d', 'busybox', 'sleep', '1000'])).trim();
    try {
      const r = await d.cli(['cp', `${c}:/etc/passwd`, join(dir, 'f') + '/']);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /not a directory/);
      assert.equal(readFileSync(join(dir, 'f'), 'utf8'), 'payload');
    } finally {
      await d.cli(['rm', '-f', c]);
    }
  });

  test('--read-only: cp into the root file system is refused, into a writable volume it works, a :ro one refuses', async () => {
    const c = (await d.ok(['run', '-d', '--read-only', '-v', 'cpmvol3:/vol', '-v', `${bind}:/robind:ro`, 'busybox', 'sleep', '1000'])).trim();
    try {
      const r = await d.cli(['cp', join(dir, 'f'), `${c}:/tmp/`]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /container rootfs is marked read-only/);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      const ro = await d.cli(['cp', join(dir, 'f'), `${c}:/robind/`]);
      assert.notEqual(ro.code, 0);
      assert.match(ro.stderr, /mounted volume is marked read-only/);
      await d.ok(['cp', join(dir, 'f'), `${c}:/vol/`]);
      assert.equal(await d.ok(['exec', c, 'cat', '/vol/f']), 'payload');
      await d.ok(['stop', '-t', '0', c]);
      const r2 = await d.cli(['cp', join(dir, 'f'), `${c}:/tmp/`]);
      assert.match(r2.stderr, /container rootfs is marked read-only/);
      assert.throws(() => statSync(join(bind, 'f')));
    } finally {
      await d.cli(['rm', '-f', c]);
      for (const v of ['cpmvol', 'cpmvol2', 'cpmvol3']) await d.cli(['volume', 'rm', v]);
    }
  });
});
