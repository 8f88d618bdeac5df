// cp's naming rules, path resolution inside a root, the tar reader and writer of the file
// verbs, whiteout conversion for commit, and -c changes. No root needed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, statSync, readFileSync, lstatSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { closeSync } from 'node:fs';
import { contentsOnly, cpPlan, splitCpArg } from '../../cli/cp-plan.ts';
import { openRoot, resolveInRoot } from '../../lib/files/inroot.ts';
import { tarOf } from '../../lib/files/tar-out.ts';
import { readTar } from '../../lib/files/tar-read.ts';
import { extractInto, cleanPath } from '../../lib/files/tar-in.ts';
import { tarArchive } from '../../images/tar-writer.ts';
import { applyChanges } from '../../images/changes.ts';
import { isWhiteout } from '../../daemon/files/changes.ts';

const ME = { uid: 0, gid: 0, size: 2 ** 32 };

async function collect(gen: AsyncIterable<Buffer>): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const b of gen) out.push(b);
  return Buffer.concat(out);
}

async function entries(tar: Buffer): Promise<{ path: string; type: string; data: string; linkpath: string }[]> {
  const out = [];
  for await (const e of readTar([tar])) {
    const data = (await collect(e.body())).toString();
    out.push({ path: e.header.path, type: e.header.type, data, linkpath: e.header.linkpath });
  }
  return out;
}

test('cp: CONTAINER:PATH vs local paths, and "/." for contents', () => {
  assert.deepEqual(splitCpArg('c1:/etc'), { container: 'c1', path: '/etc' });
  assert.deepEqual(splitCpArg('./a:b'), { path: './a:b' });
  assert.deepEqual(splitCpArg('/abs:x'), { path: '/abs:x' });
  assert.deepEqual(splitCpArg('plain'), { path: 'plain' });
  assert.deepEqual(contentsOnly('/data/.'), { path: '/data', contentsOnly: true });
  assert.deepEqual(contentsOnly('/data'), { path: '/data', contentsOnly: false });
});

test('cp: Docker\'s naming rules for files and directories', () => {
  const file = { isDir: false, name: 'a.txt', contentsOnly: false };
  const dirSrc = { isDir: true, name: 'data', contentsOnly: false };
  assert.deepEqual(cpPlan(file, { path: '/x/new', exists: false, isDir: false }), { dir: '/x', rootName: 'new' });
  assert.deepEqual(cpPlan(file, { path: '/x/d', exists: true, isDir: true }), { dir: '/x/d', rootName: 'a.txt' });
  assert.deepEqual(cpPlan(file, { path: '/x/f', exists: true, isDir: false }), { dir: '/x', rootName: 'f' });
  assert.throws(() => cpPlan(file, { path: '/x/missing/', exists: false, isDir: false }), /does not exist/);
  assert.deepEqual(cpPlan(dirSrc, { path: '/x/new', exists: false, isDir: false }), { dir: '/x', rootName: 'new' });
  assert.deepEqual(cpPlan(dirSrc, { path: '/x/d', exists: true, isDir: true }), { dir: '/x/d', rootName: 'data' });
  assert.deepEqual(cpPlan({ ...dirSrc, contentsOnly: true }, { path: '/x/d', exists: true, isDir: true }), { dir: '/x/d', rootName: '' });
  assert.throws(() => cpPlan(dirSrc, { path: '/x/f', exists: true, isDir: false }), /cannot copy a directory to a file/);
  assert.deepEqual(cpPlan(file, { path: 'rel', exists: false, isDir: false }), { dir: '.', rootName: 'rel' });
});

test('resolveInRoot: symlinks and ".." never leave the root', () => {
  const root = mkdtempSync(join(tmpdir(), 'tdk-inroot-'));
  try {
    mkdirSync(join(root, 'etc'));
    writeFileSync(join(root, 'etc', 'shadow'), 'inside');
    symlinkSync('/etc/shadow', join(root, 'abs'));
    symlinkSync('../../../../../etc/shadow', join(root, 'rel'));
    symlinkSync('/', join(root, 'up'));
    symlinkSync('loop2', join(root, 'loop1'));
    symlinkSync('loop1', join(root, 'loop2'));
    const fd = openRoot(root);
    try {
      for (const p of ['/abs', 'rel', '/up/etc/shadow', '/../../etc/shadow', '/up/up/../etc/shadow']) {
        const r = resolveInRoot(fd, p, { followLast: true });
        assert.equal(r.path, '/etc/shadow', p);
        assert.equal(readFileSync(r.at, 'utf8'), 'inside', p);
        r.close();
      }
      const nofollow = resolveInRoot(fd, '/abs');
      assert.ok(nofollow.st?.isSymbolicLink());
      nofollow.close();
      const missing = resolveInRoot(fd, '/etc/nothing');
      assert.equal(missing.st, undefined);
      missing.close();
      assert.throws(() => resolveInRoot(fd, '/nodir/x'), /no such directory \/nodir/);
      assert.throws(() => resolveInRoot(fd, '/etc/shadow/x'), /not a directory/);
      assert.throws(() => resolveInRoot(fd, '/loop1', { followLast: true }), /too many levels of symbolic links/);
    } finally {
      closeSync(fd);
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('tarOf + readTar: names, links, hard links, the root name and "contents only"', async () => {
  const root = mkdtempSync(join(tmpdir(), 'tdk-tarout-'));
  try {
    mkdirSync(join(root, 'd', 'sub'), { recursive: true });
    writeFileSync(join(root, 'd', 'f'), 'data');
    writeFileSync(join(root, 'd', 'sub', 'g'), 'x'.repeat(1000));
    symlinkSync('f', join(root, 'd', 'ln'));
    const fd = openRoot(root);
    try {
      const named = await entries(await collect(tarOf(fd, 'd', 'renamed', { shift: ME })));
      assert.deepEqual(named.map((e) => e.path), ['renamed/', 'renamed/f', 'renamed/ln', 'renamed/sub/', 'renamed/sub/g']);
      assert.equal(named.find((e) => e.path === 'renamed/f')!.data, 'data');
      assert.equal(named.find((e) => e.path === 'renamed/ln')!.linkpath, 'f');
      assert.equal(named.find((e) => e.path === 'renamed/sub/g')!.data.length, 1000);
      const contents = await entries(await collect(tarOf(fd, 'd', '', { shift: ME })));
      assert.deepEqual(contents.map((e) => e.path), ['f', 'ln', 'sub/', 'sub/g']);
    } finally {
      closeSync(fd);
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('commit: whiteouts become .wh.NAME and opaque directories get .wh..wh..opq', async () => {
  const root = mkdtempSync(join(tmpdir(), 'tdk-wh-'));
  try {
    mkdirSync(join(root, 'etc'));
    writeFileSync(join(root, 'etc', 'group'), ''); // stands for a char 0:0 device (mknod needs root)
    mkdirSync(join(root, 'opq'));
    writeFileSync(join(root, 'opq', 'only'), 'only');
    const gone = statSync(join(root, 'etc', 'group')).ino;
    const fd = openRoot(root);
    try {
      const got = await entries(await collect(tarOf(fd, '.', '', { shift: ME, whiteout: (st) => st.ino === gone, opaque: new Set(['opq']) })));
      assert.deepEqual(got.map((e) => e.path), ['etc/', 'etc/.wh.group', 'opq/', 'opq/.wh..wh..opq', 'opq/only']);
    } finally {
      closeSync(fd);
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  assert.equal(isWhiteout({ isCharacterDevice: () => true, rdev: 0 } as never), true);
  assert.equal(isWhiteout({ isCharacterDevice: () => true, rdev: 259 } as never), false);
  assert.equal(isWhiteout({ isCharacterDevice: () => false, rdev: 0 } as never), false);
});

test('extractInto: stays in the destination, replaces files, refuses ../ and dir-over-file', async () => {
  const root = mkdtempSync(join(tmpdir(), 'tdk-tarin-'));
  const outside = join(root, '..', `${root.split('/').pop()}-outside`);
  try {
    mkdirSync(join(root, 'dest'));
    writeFileSync(join(root, 'dest', 'old'), 'old');
    const fd = openRoot(root);
    try {
      const tar = tarArchive([
        { path: 'old', data: 'new' },
        { path: 'a/', type: 'dir', mode: 0o750 },
        { path: 'a/b', data: 'b' },
        { path: 'a/hard', type: 'link', linkpath: 'a/b' },
        { path: 'up', type: 'symlink', linkpath: '/' },
        { path: 'up/dest/via-link', data: 'inside' },
      ]);
      const res = await extractInto(fd, '/dest', [tar], { shift: ME, archive: false, chown: false });
      assert.equal(res.entries, 6);
      assert.equal(readFileSync(join(root, 'dest', 'old'), 'utf8'), 'new');
      assert.equal(statSync(join(root, 'dest', 'a')).mode & 0o777, 0o750);
      assert.equal(statSync(join(root, 'dest', 'a', 'hard')).ino, statSync(join(root, 'dest', 'a', 'b')).ino);
      assert.ok(lstatSync(join(root, 'dest', 'up')).isSymbolicLink());
      // "up" -> "/" is the root given (not the host's /)
      assert.equal(readFileSync(join(root, 'dest', 'via-link'), 'utf8'), 'inside');
      await assert.rejects(extractInto(fd, '/dest', [tarArchive([{ path: '../../x', data: 'x' }])], { shift: ME, archive: false, chown: false }), /escapes the destination/);
      await assert.rejects(extractInto(fd, '/dest', [tarArchive([{ path: 'a', data: 'x' }])], { shift: ME, archive: false, chown: false }), /cannot overwrite directory/);
      await assert.rejects(extractInto(fd, '/dest', [Buffer.alloc(512, 1)], { shift: ME, archive: false, chown: false }), /not a tar stream/);
    } finally {
      closeSync(fd);
    }
    assert.ok(!existsSync(outside));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  assert.deepEqual(cleanPath('./a//b/../c'), ['a', 'c']);
  assert.throws(() => cleanPath('a/../../b'), /escapes the destination/);
});

test('-c changes: Docker\'s instructions, shell and JSON forms', () => {
  const c = applyChanges({ Env: ['A=1'], Cmd: ['sh'] }, [
    'CMD ["echo", "hi"]', 'ENTRYPOINT /bin/run --x', 'ENV A=2 B="two words"', 'ENV LEGACY value with spaces',
    'EXPOSE 80 53/udp', 'LABEL k=v', 'USER 1000:1000', 'WORKDIR /srv', 'WORKDIR sub', 'STOPSIGNAL SIGINT',
  ]);
  assert.deepEqual(c.Cmd, ['echo', 'hi']);
  assert.deepEqual(c.Entrypoint, ['/bin/sh', '-c', '/bin/run --x']);
  assert.deepEqual(c.Env, ['A=2', 'B=two words', 'LEGACY=value with spaces']);
  assert.deepEqual(c.ExposedPorts, { '80/tcp': {}, '53/udp': {} });
  assert.deepEqual(c.Labels, { k: 'v' });
  assert.equal(c.User, '1000:1000');
  assert.equal(c.WorkingDir, '/srv/sub');
  assert.equal(c.StopSignal, 'SIGINT');
  assert.throws(() => applyChanges({}, ['RUN rm -rf /']), /RUN is not a valid change command/);
  assert.throws(() => applyChanges({}, ['EXPOSE eighty']), /invalid EXPOSE port/);
  // quoted label names lose their quotes, as in a Dockerfile
  assert.deepEqual(applyChanges({}, ['LABEL "a b"=c \'d\'="e f" g=h']).Labels, { 'a b': 'c', d: 'e f', g: 'h' });
  // ONBUILD is kept for a later build (Docker's OnBuild), with Docker's refusals
  assert.deepEqual(applyChanges({}, ['ONBUILD RUN echo hi', 'onbuild copy . /app']).OnBuild, ['RUN echo hi', 'COPY . /app']);
  assert.throws(() => applyChanges({}, ['ONBUILD ONBUILD RUN x']), /Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed/);
  assert.throws(() => applyChanges({}, ['ONBUILD FROM x']), /FROM isn't allowed as an ONBUILD trigger/);
  assert.throws(() => applyChanges({}, ['ONBUILD']), /ONBUILD requires at least one argument/);
  // VOLUME: refused with the reason, never dropped
  assert.throws(() => applyChanges({}, ['VOLUME /data']), /VOLUME.*-v/);
});

test('history: Docker\'s columns and the --format subset', async () => {
  const { historyFields, renderFormat } = await import('../../cli/commands/history.ts');
  const now = Date.parse('2026-01-01T00:10:00Z');
  const top = historyFields({ id: 'sha256:' + 'ab'.repeat(32), created: Date.parse('2026-01-01T00:00:00Z'), createdBy: 'sh -c ' + 'x'.repeat(60), size: 1234567, comment: 'msg' }, false, now);
  assert.equal(top.ID, 'abababababab');
  assert.equal(top.CreatedSince, '10 minutes ago');
  assert.equal(top.CreatedBy.length, 45);
  assert.ok(top.CreatedBy.endsWith('…'));
  assert.equal(top.Size, '1.23MB');
  const missing = historyFields({ id: '<missing>', created: now, createdBy: '', size: 0, comment: '' }, true, now);
  assert.equal(missing.ID, '<missing>');
  assert.equal(renderFormat('{{.ID}}|{{ .Comment }}', [top, missing]), 'abababababab|msg\n<missing>|');
  assert.equal(renderFormat("table {{.ID}}\t{{.Size}}", [top]), "IMAGE          SIZE\nabababababab   1.23MB\n");
  assert.throws(() => renderFormat('{{.Nope}}', [top]), /can't evaluate field Nope/);
  assert.throws(() => renderFormat('{{json .}}', [top]), /only \{\{\.Field\}\} is supported/);
});

test('extractInto: device nodes and FIFOs are counted and named (up to 3), never made', async () => {
  const root = mkdtempSync(join(tmpdir(), 'tdk-tarin-dev-'));
  const fd = openRoot(root);
  try {
    const tar = tarArchive([
      { path: 'p', type: 'fifo' },
      { path: 'd/', type: 'dir' },
      { path: 'd/null', type: 'char', devmajor: 1, devminor: 3 },
      { path: 'd/b', type: 'block', devmajor: 7, devminor: 0 },
      { path: 'd/q', type: 'fifo' },
      { path: 'f', data: 'f' },
    ]);
    const res = await extractInto(fd, '/', [tar], { shift: ME, archive: false, chown: false });
    assert.equal(res.skipped, 4);
    assert.deepEqual(res.skippedNames, ['p', 'd/null', 'd/b']);
    assert.ok(!existsSync(join(root, 'p')));
    assert.equal(readFileSync(join(root, 'f'), 'utf8'), 'f');
  } finally {
    closeSync(fd);
    rmSync(root, { recursive: true, force: true });
  }
});

test('extractInto: runs of zeros become holes (a sparse file stays sparse), the bytes are the same', async () => {
  const root = mkdtempSync(join(tmpdir(), 'tdk-tarin-sparse-'));
  const fd = openRoot(root);
  try {
    const data = Buffer.alloc(16 << 20);
    data.write('head', 0);
    data.write('tail', data.length - 4);
    await extractInto(fd, '/', [tarArchive([{ path: 's', data }, { path: 'z', data: Buffer.alloc(3 << 20) }])], { shift: ME, archive: false, chown: false });
    const st = statSync(join(root, 's'));
    assert.equal(st.size, data.length);
    assert.ok(st.blocks * 512 < 1 << 20, `allocated ${st.blocks * 512} bytes`);
    assert.ok(readFileSync(join(root, 's')).equals(data));
    assert.equal(statSync(join(root, 'z')).size, 3 << 20);
    assert.ok(readFileSync(join(root, 'z')).equals(Buffer.alloc(3 << 20)));
  } finally {
    closeSync(fd);
    rmSync(root, { recursive: true, force: true });
  }
});
