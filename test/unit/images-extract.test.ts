// Layer extraction: hostile tarballs, ownership shift, modes, formats, streaming.
// The ownership tests need root (lchown into the subordinate range) and are skipped
// otherwise; the hostile-tarball tests run unprivileged too, shifting every entry
// (all owned by 0 there) onto the test's own uid and gid, which needs no privilege.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { extractLayer, cleanPath } from '../../images/tar-extract.ts';
import type { ExtractResult } from '../../images/tar-extract.ts';
import { tarArchive, tarEntry, tarEnd } from '../../images/tar-writer.ts';
import type { TarEntrySpec } from '../../images/tar-writer.ts';

const isRoot = process.getuid?.() === 0;
const SHIFT = { uid: 100000, gid: 100000, size: 65536 };
/** Without root: the one shift that chown allows, onto ourselves. */
const SELF = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, size: 1 };
const shift = isRoot ? SHIFT : SELF;

let scratch = '';
let n = 0;
before(() => {
  scratch = mkdtempSync(join(tmpdir(), 'tdock-images-extract-'));
});
after(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

/** A fresh case dir: <case>/root (the target) and <case>/outside (a sentinel with one file). */
function fresh(): { root: string; outside: string; dir: string } {
  const dir = join(scratch, `case-${n++}`);
  const root = join(dir, 'root');
  const outside = join(dir, 'outside');
  mkdirSync(root, { recursive: true });
  mkdirSync(outside);
  writeFileSync(join(outside, 'secret'), 'secret\n');
  return { root, outside, dir };
}

function chunks(buf: Buffer, size: number): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) parts.push(buf.subarray(i, i + size));
  return Readable.from(parts);
}

async function extract(tar: Buffer, root: string, chunk = 65536): Promise<ExtractResult> {
  return extractLayer(chunks(tar, chunk), root, { shift });
}

/** Nothing but the sentinel file is outside the target, and the sentinel is intact. */
function assertOutsideUntouched(c: { outside: string; dir: string }): void {
  assert.deepEqual(readdirSync(c.outside), ['secret']);
  assert.equal(readFileSync(join(c.outside, 'secret'), 'utf8'), 'secret\n');
  assert.deepEqual(readdirSync(c.dir).sort(), ['outside', 'root']);
}

async function assertRejected(entries: TarEntrySpec[], pattern: RegExp): Promise<void> {
  const c = fresh();
  await assert.rejects(extract(tarArchive(entries), c.root), (e: Error & { code?: string }) => {
    assert.match(e.message, pattern);
    assert.doesNotMatch(e.message, /\n/);
    assert.equal(e.code, 'INVALID_ARGUMENT');
    return true;
  });
  assertOutsideUntouched(c);
}

describe('cleanPath', () => {
  it('cleans lexically and refuses to climb above the root', () => {
    assert.deepEqual(cleanPath('/a/./b//c/'), ['a', 'b', 'c']);
    assert.deepEqual(cleanPath('a/../b'), ['b']);
    assert.deepEqual(cleanPath('./'), []);
    assert.throws(() => cleanPath('../x'), /layer rejected: entry "..\/x" escapes the root/);
    assert.throws(() => cleanPath('/../../etc/passwd'), /escapes the root/);
    assert.throws(() => cleanPath('a/../../x'), /escapes the root/);
  });
});

describe('extractLayer: hostile tarballs', () => {
  it('rejects ".." traversal', async () => {
    await assertRejected([{ path: '../outside/pwned', data: 'x' }], /layer rejected: entry "\.\.\/outside\/pwned" escapes the root/);
    await assertRejected([{ path: 'a/', type: 'dir' }, { path: 'a/../../outside/pwned', data: 'x' }], /escapes the root/);
    await assertRejected([{ path: 'x'.repeat(150) + '/../../../outside/pwned', data: 'x' }], /escapes the root/);
  });

  it('makes absolute paths relative to the target', async () => {
    const c = fresh();
    const name = `tdock-test-${process.pid}-${Date.now()}`;
    await extract(tarArchive([{ path: `/etc/${name}`, data: 'inside\n' }]), c.root);
    assert.equal(readFileSync(join(c.root, 'etc', name), 'utf8'), 'inside\n');
    assert.equal(existsSync(join('/etc', name)), false);
    assertOutsideUntouched(c);
  });

  it('rejects writing through a symlink (absolute and relative) and never follows it', async () => {
    const probe = fresh();
    await assertRejected(
      [{ path: 'evil', type: 'symlink', linkpath: probe.outside }, { path: 'evil/pwned', data: 'x' }],
      /layer rejected: entry "evil\/pwned" goes through the symlink "evil"/,
    );
    await assertRejected(
      [{ path: 'evil', type: 'symlink', linkpath: '../outside' }, { path: 'evil/pwned', data: 'x' }],
      /goes through the symlink "evil"/,
    );
    await assertRejected(
      [{ path: 'evil', type: 'symlink', linkpath: '/' }, { path: 'evil/tmp/pwned', type: 'dir' }],
      /goes through the symlink/,
    );
    assertOutsideUntouched(probe);
  });

  it('rejects a directory replaced by a symlink and then written through', async () => {
    const c = fresh();
    const tar = tarArchive([
      { path: 'd/', type: 'dir' },
      { path: 'd/x', data: 'x' },
      { path: 'd', type: 'symlink', linkpath: c.outside },
      { path: 'd/pwned', data: 'x' },
    ]);
    await assert.rejects(extract(tar, c.root), /entry "d\/pwned" goes through the symlink "d"/);
    assertOutsideUntouched(c);
  });

  it('replaces a symlink at the final component instead of writing through it', async () => {
    const c = fresh();
    await extract(tarArchive([
      { path: 'f', type: 'symlink', linkpath: join(c.outside, 'secret') },
      { path: 'f', data: 'replaced\n' },
    ]), c.root);
    assert.ok(lstatSync(join(c.root, 'f')).isFile());
    assert.equal(readFileSync(join(c.root, 'f'), 'utf8'), 'replaced\n');
    assertOutsideUntouched(c);
  });

  it('rejects hardlinks outside the tree, through symlinks, or to entries not extracted', async () => {
    const probe = fresh();
    await assertRejected([{ path: 'h', type: 'link', linkpath: '../outside/secret' }], /hardlink "h" to "..\/outside\/secret" escapes the root/);
    await assertRejected([{ path: 'h', type: 'link', linkpath: '/etc/passwd' }], /hardlink "h" -> "\/etc\/passwd": target not extracted/);
    await assertRejected(
      [{ path: 'evil', type: 'symlink', linkpath: probe.outside }, { path: 'h', type: 'link', linkpath: 'evil/secret' }],
      /hardlink "h" -> "evil\/secret": target not extracted/,
    );
    await assertRejected([{ path: 'h', type: 'link', linkpath: 'later' }, { path: 'later', data: 'x' }], /target not extracted/);
    await assertRejected([{ path: 'd/', type: 'dir' }, { path: 'h', type: 'link', linkpath: 'd' }], /target is a directory/);
    assertOutsideUntouched(probe);
  });

  it('hardlinks to a symlink link the symlink itself, not what it points to', async () => {
    const c = fresh();
    await extract(tarArchive([
      { path: 'l', type: 'symlink', linkpath: join(c.outside, 'secret') },
      { path: 'h', type: 'link', linkpath: 'l' },
    ]), c.root);
    assert.ok(lstatSync(join(c.root, 'h')).isSymbolicLink());
    assert.equal(lstatSync(join(join(c.outside, 'secret'))).nlink, 1);
    assertOutsideUntouched(c);
  });

  it('keeps symlink targets exactly, absolute ones too', async () => {
    const c = fresh();
    await extract(tarArchive([
      { path: 'abs', type: 'symlink', linkpath: '/etc/shadow' },
      { path: 'rel', type: 'symlink', linkpath: '../../../x/../y' },
      { path: 'long', type: 'symlink', linkpath: '/' + 'l'.repeat(300) },
    ]), c.root);
    assert.equal(readlinkSync(join(c.root, 'abs')), '/etc/shadow');
    assert.equal(readlinkSync(join(c.root, 'rel')), '../../../x/../y');
    assert.equal(readlinkSync(join(c.root, 'long')), '/' + 'l'.repeat(300));
  });

  it('skips device nodes and FIFOs with a warning', async () => {
    const c = fresh();
    const r = await extract(tarArchive([
      { path: 'dev/', type: 'dir' },
      { path: 'dev/null', type: 'char', devmajor: 1, devminor: 3 },
      { path: 'dev/sda', type: 'block', devmajor: 8, devminor: 0 },
      { path: 'fifo', type: 'fifo' },
      { path: 'ok', data: 'ok' },
    ]), c.root);
    assert.deepEqual(r.warnings, ['skipped character device "dev/null"', 'skipped block device "dev/sda"', 'skipped FIFO "fifo"']);
    assert.deepEqual(readdirSync(join(c.root, 'dev')), []);
    assert.equal(existsSync(join(c.root, 'fifo')), false);
    assert.equal(r.entries, 2);
  });

  it('rejects ids outside the mapped range', async () => {
    await assertRejected([{ path: 'f', data: 'x', uid: 65536 }], new RegExp(`entry "f" has uid/gid 65536/0, outside the mapped range of ${shift.size} ids`));
    await assertRejected([{ path: 'f', data: 'x', gid: 1_000_000 }], /outside the mapped range/);
  });

  it('rejects a truncated gzip stream', async () => {
    const c = fresh();
    const gz = gzipSync(tarArchive([{ path: 'big', data: Buffer.alloc(200_000, 7) }, { path: 'f', data: 'x' }]));
    await assert.rejects(extract(gz.subarray(0, gz.length - 20), c.root), (e: Error & { code?: string }) => {
      assert.match(e.message, /^layer rejected: bad gzip data: unexpected end of file$/);
      assert.equal(e.code, 'INVALID_ARGUMENT');
      return true;
    });
    assertOutsideUntouched(c);
  });

  it('rejects a truncated tar, garbage and empty input', async () => {
    const tar = tarArchive([{ path: 'big', data: Buffer.alloc(100_000, 1) }]);
    let c = fresh();
    await assert.rejects(extract(tar.subarray(0, 50_000), c.root), /^Error: layer rejected: bad tar: Truncated input/);
    c = fresh();
    await assert.rejects(extract(Buffer.alloc(4096, 0x41), c.root), /^Error: layer rejected: bad tar: /);
    c = fresh();
    await assert.rejects(extractLayer(Readable.from([]), c.root, { shift }), /layer rejected: empty input is not a tar archive/);
    c = fresh();
    const bad = tarArchive([{ path: 'f', data: 'x' }]);
    bad[148] = 0x37; // break the checksum
    await assert.rejects(extract(bad, c.root), /layer rejected: bad tar: .*checksum/);
  });

  it('cuts pax values at a NUL byte (node-tar) and still checks the result', async () => {
    const c = fresh();
    await extract(tarArchive([{ path: 'f', data: 'x', pax: { path: 'ok/evil\0/../../../outside/x' } }]), c.root);
    assert.equal(readFileSync(join(c.root, 'ok/evil'), 'utf8'), 'x');
    assertOutsideUntouched(c);
  });

  it('keeps error messages on one line whatever the entry name', async () => {
    await assertRejected([{ path: '../evil\nname', data: 'x' }], /^layer rejected: entry "..\/evil\\nname" escapes the root$/);
  });

  it('rejects an entry that would replace the root, or a file used as a directory', async () => {
    await assertRejected([{ path: './', type: 'symlink', linkpath: '/' }], /would replace the root/);
    await assertRejected([{ path: 'a', data: 'x' }, { path: 'a/b', data: 'y' }], /parent "a" is not a directory/);
  });
});

describe('extractLayer: ownership, modes, formats', { skip: !isRoot && 'needs root (lchown into the subordinate range)' }, () => {
  it('shifts ownership into the subordinate range (files, dirs, symlinks, implicit parents)', async () => {
    const c = fresh();
    await extract(tarArchive([
      { path: 'home/user/', type: 'dir', uid: 1000, gid: 1000 },
      { path: 'home/user/f', data: 'x', uid: 1000, gid: 50 },
      { path: 'link', type: 'symlink', linkpath: '/nowhere', uid: 7, gid: 8 },
      { path: 'nobody', data: '', uid: 65534, gid: 65534 },
    ]), c.root);
    const own = (p: string) => {
      const st = lstatSync(join(c.root, p));
      return [st.uid, st.gid];
    };
    assert.deepEqual(own(''), [100000, 100000]);
    assert.deepEqual(own('home'), [100000, 100000]);
    assert.deepEqual(own('home/user'), [101000, 101000]);
    assert.deepEqual(own('home/user/f'), [101000, 100050]);
    assert.deepEqual(own('link'), [100007, 100008]);
    assert.deepEqual(own('nobody'), [165534, 165534]);
  });

  it('applies modes exactly (setuid, setgid, sticky, no umask) and read-only dirs after their contents', async () => {
    const c = fresh();
    const old = process.umask(0o077);
    try {
      await extract(tarArchive([
        { path: 'ro/', type: 'dir', mode: 0o444, mtime: 1_000_000 },
        { path: 'ro/sub/', type: 'dir', mode: 0o555, mtime: 2_000_000 },
        { path: 'ro/sub/file', data: 'data', mode: 0o444, mtime: 3_000_000, uid: 1 },
        { path: 'suid', data: '#!', mode: 0o4755, uid: 0 },
        { path: 'sgid', data: '#!', mode: 0o2711, uid: 5, gid: 6 },
        { path: 'tmp/', type: 'dir', mode: 0o1777 },
        { path: 'open', data: '', mode: 0o666 },
      ]), c.root);
    } finally {
      process.umask(old);
    }
    const mode = (p: string) => lstatSync(join(c.root, p)).mode & 0o7777;
    assert.equal(mode('ro'), 0o444);
    assert.equal(mode('ro/sub'), 0o555);
    assert.equal(mode('ro/sub/file'), 0o444);
    assert.equal(mode('suid'), 0o4755);
    assert.equal(mode('sgid'), 0o2711);
    assert.equal(mode('tmp'), 0o1777);
    assert.equal(mode('open'), 0o666);
    assert.equal(mode(''), 0o755);
    assert.equal(readFileSync(join(c.root, 'ro/sub/file'), 'utf8'), 'data');
    assert.equal(lstatSync(join(c.root, 'ro')).mtimeMs, 1_000_000_000);
    assert.equal(lstatSync(join(c.root, 'ro/sub')).mtimeMs, 2_000_000_000);
    assert.equal(lstatSync(join(c.root, 'ro/sub/file')).mtimeMs, 3_000_000_000);
  });

  it('applies the metadata of a "./" entry to the root', async () => {
    const c = fresh();
    await extract(tarArchive([{ path: './', type: 'dir', mode: 0o700, uid: 3, mtime: 5 }, { path: './f', data: 'x' }]), c.root);
    const st = lstatSync(c.root);
    assert.equal(st.mode & 0o7777, 0o700);
    assert.equal(st.uid, 100003);
    assert.equal(st.mtimeMs, 5000);
  });

  it('reads pax and GNU long names, gzip, and any chunking identically', async () => {
    const big = Buffer.alloc(3 * 1024 * 1024 + 17);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
    const entries: TarEntrySpec[] = [
      { path: 'p'.repeat(99) + '/' + 'q'.repeat(120), data: 'pax' },
      { path: 'g'.repeat(130), data: 'gnu', gnuLongNames: true },
      { path: 'u'.repeat(60) + '/' + 'v'.repeat(90), data: 'ustar prefix' },
      { path: 'big', data: big },
      { path: 'empty', data: '' },
      { path: 'pax-owner', data: 'x', pax: { uid: '4242', gid: '4343', mtime: '1234567890.5' } },
      { path: 'h', type: 'link', linkpath: 'big' },
    ];
    const tar = Buffer.concat([tarArchive(entries), Buffer.alloc(10240)]); // trailing padding like GNU tar's records
    const digest = 'sha256:' + createHash('sha256').update(tar).digest('hex');
    for (const [input, size] of [[tar, 1], [tar, 511], [tar, 512], [tar, 100_000], [gzipSync(tar), 3], [gzipSync(tar), 65536]] as [Buffer, number][]) {
      if (size === 1 && input === tar) {
        // byte-at-a-time is slow for 3 MiB: use a smaller archive for that case
        const small = tarArchive(entries.filter((e) => e.path !== 'big' && e.path !== 'h'));
        const c = fresh();
        const r = await extract(small, c.root, 1);
        assert.equal(r.entries, 5);
        assert.equal(readFileSync(join(c.root, 'g'.repeat(130)), 'utf8'), 'gnu');
        continue;
      }
      const c = fresh();
      const r = await extract(input, c.root, size);
      assert.equal(r.diffId, digest);
      assert.equal(r.compressed, input !== tar);
      assert.equal(r.tarSize, tar.length);
      assert.equal(r.inputSize, input.length);
      assert.equal(r.size, 3 + 3 + 12 + big.length + 1);
      assert.equal(r.entries, 7);
      assert.equal(readFileSync(join(c.root, 'p'.repeat(99), 'q'.repeat(120)), 'utf8'), 'pax');
      assert.equal(readFileSync(join(c.root, 'g'.repeat(130)), 'utf8'), 'gnu');
      assert.equal(readFileSync(join(c.root, 'u'.repeat(60), 'v'.repeat(90)), 'utf8'), 'ustar prefix');
      assert.ok(readFileSync(join(c.root, 'big')).equals(big));
      assert.equal(lstatSync(join(c.root, 'h')).ino, lstatSync(join(c.root, 'big')).ino);
      const po = lstatSync(join(c.root, 'pax-owner'));
      assert.deepEqual([po.uid, po.gid, po.mtimeMs], [104242, 104343, 1234567890500]);
    }
  });

  it('accepts an empty layer (only the end-of-archive marker)', async () => {
    const c = fresh();
    const r = await extract(tarEnd(), c.root);
    assert.equal(r.entries, 0);
    assert.equal(r.diffId, 'sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef');
    assert.deepEqual(readdirSync(c.root), []);
  });

  it('collects OCI whiteouts instead of writing them', async () => {
    const c = fresh();
    const r = await extract(tarArchive([
      { path: 'etc/', type: 'dir' },
      { path: 'etc/.wh.motd', data: '' },
      { path: 'var/lib/.wh..wh..opq', data: '' },
      { path: '.wh..wh.plnk/', type: 'dir' },
    ]), c.root);
    assert.deepEqual(r.whiteouts, [{ path: 'etc/motd', kind: 'whiteout' }, { path: 'var/lib', kind: 'opaque' }]);
    assert.deepEqual(readdirSync(join(c.root, 'etc')), []);
    assert.deepEqual(readdirSync(join(c.root, 'var/lib')), []);
    assert.equal(existsSync(join(c.root, '.wh..wh.plnk')), false);
    assert.deepEqual(r.warnings, ['skipped AUFS metadata ".wh..wh.plnk/"']);
  });

  it('replaces entries like Docker: dir over dir merges, anything else replaces', async () => {
    const c = fresh();
    await extract(tarArchive([
      { path: 'd/', type: 'dir', mode: 0o700 },
      { path: 'd/keep', data: 'k' },
      { path: 'd/', type: 'dir', mode: 0o750 },
      { path: 'x/', type: 'dir' },
      { path: 'x/inner', data: 'i' },
      { path: 'x', data: 'now a file' },
      { path: 'y', data: 'file' },
      { path: 'y/', type: 'dir', mode: 0o711 },
    ]), c.root);
    assert.equal(readFileSync(join(c.root, 'd/keep'), 'utf8'), 'k');
    assert.equal(lstatSync(join(c.root, 'd')).mode & 0o7777, 0o750);
    assert.equal(readFileSync(join(c.root, 'x'), 'utf8'), 'now a file');
    assert.ok(lstatSync(join(c.root, 'y')).isDirectory());
    assert.equal(lstatSync(join(c.root, 'y')).mode & 0o7777, 0o711);
  });

  it('stops a gzip bomb at maxSize: refused early, no file left open, nothing outside', async () => {
    // 1 GiB of zeros from 1 MiB of gzip (concatenated members, each 1 MiB of zeros): in one
    // file, and after the end-of-archive marker (only hashed, never parsed).
    const mib = gzipSync(Buffer.alloc(1 << 20), { level: 9 });
    const zeros = Array.from({ length: 1024 }, () => mib);
    const inFile = [gzipSync(tarEntry({ path: 'big', size: 2 ** 30 })), ...zeros];
    const afterEnd = [gzipSync(tarArchive([{ path: 'a', data: 'a' }])), ...zeros];
    for (const bomb of [inFile, afterEnd]) {
      const total = bomb.reduce((n, b) => n + b.length, 0);
      const c = fresh();
      let read = 0;
      await assert.rejects(
        extractLayer(Readable.from(bomb), c.root, { shift: SHIFT, maxSize: 16 << 20, onProgress: (b) => (read = b) }),
        (e: Error & { code?: string }) => {
          assert.equal(e.code, 'RESOURCE_EXHAUSTED');
          assert.equal(e.message, "layer rejected: it unpacks to more than 16 MiB, the daemon's limit per layer (tdockd --max-layer-size)");
          return true;
        },
      );
      // What the streams had taken in before the limit was seen, and no more.
      assert.ok(read < total / 10, `read ${read} of ${total} bytes before stopping`);
      const open = readdirSync('/proc/self/fd').map((fd) => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`);
        } catch {
          return '';
        }
      });
      assert.deepEqual(open.filter((l) => l.startsWith(c.dir)), [], 'a file of the layer is still open');
      assertOutsideUntouched(c);
    }
    // At the limit exactly: accepted.
    const tar = tarArchive([{ path: 'f', data: Buffer.alloc(4096) }]);
    const ok = await extractLayer(chunks(tar, 1024), fresh().root, { shift: SHIFT, maxSize: tar.length });
    assert.equal(ok.tarSize, tar.length);
  });

  it('reports progress and accepts a raw tarEntry stream', async () => {
    const c = fresh();
    const tar = Buffer.concat([tarEntry({ path: 'a', data: 'abc' }), tarEnd()]);
    const seen: number[] = [];
    await extractLayer(chunks(tar, 100), c.root, { shift: SHIFT, onProgress: (b) => seen.push(b) });
    assert.equal(seen.at(-1), tar.length);
    assert.ok(seen.length > 1);
  });
});
