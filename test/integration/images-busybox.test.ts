// Integration: the imported busybox rootfs runs (chroot as root), and a throughput
// measurement of layer extraction (reported as a diagnostic, not asserted).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createReadStream, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { openDb } from '../../daemon/store/db.ts';
import { ensureBusybox, findBusybox } from '../../images/busybox.ts';
import { ImageStore } from '../../images/store.ts';
import { extractLayer } from '../../images/tar-extract.ts';
import { tarEntry, tarEnd } from '../../images/tar-writer.ts';

const isRoot = process.getuid?.() === 0;
let haveBusybox = true;
try {
  findBusybox();
} catch {
  haveBusybox = false;
}
const SHIFT = { uid: 100000, gid: 100000, size: 65536 };

let scratch = '';
before(() => {
  scratch = mkdtempSync(join(tmpdir(), 'tdock-images-integ-'));
});
after(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe('images (integration)', { skip: (!isRoot && 'needs root') || (!haveBusybox && 'needs busybox-static') }, () => {
  it('the imported busybox rootfs runs sh, ls and id under chroot', async () => {
    const root = join(scratch, 'store');
    mkdirSync(root);
    const db = openDb(join(root, 'tdock.db'));
    try {
      const store = new ImageStore(db, root, SHIFT);
      const img = await ensureBusybox(store);
      const [dir] = store.layerDirs(img.id);
      const out = execFileSync('chroot', [dir!, '/bin/sh', '-c', 'ls /bin/sh /usr/bin/env && id -un && echo ok'], {
        env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
      }).toString();
      assert.match(out, /\/bin\/sh\n\/usr\/bin\/env\nroot\nok\n$/);
    } finally {
      db.close();
    }
  });

  it('throughput: extract a ~50 MB layer (plain and gzip)', async (t) => {
    const tarPath = join(scratch, 'big.tar');
    const fd = openSync(tarPath, 'w');
    const block = Buffer.alloc(1 << 20);
    for (let i = 0; i < block.length; i++) block[i] = (i * 7919) % 251;
    let files = 0;
    for (let i = 0; i < 40; i++, files++) writeSync(fd, tarEntry({ path: `big/f${i}`, data: block, mtime: 1 }));
    const small = block.subarray(0, 4096);
    for (let d = 0; d < 25; d++) {
      writeSync(fd, tarEntry({ path: `small/d${d}/`, type: 'dir', mtime: 1 }));
      for (let i = 0; i < 100; i++, files++) writeSync(fd, tarEntry({ path: `small/d${d}/f${i}`, data: small, mtime: 1 }));
    }
    writeSync(fd, tarEnd());
    closeSync(fd);
    const bytes = statSync(tarPath).size;
    const gzPath = tarPath + '.gz';
    writeFileSync(gzPath, gzipSync(execFileSync('cat', [tarPath], { maxBuffer: 1 << 30 }), { level: 1 }));
    for (const [label, p] of [['plain', tarPath], ['gzip', gzPath]] as const) {
      const target = join(scratch, `x-${label}`);
      mkdirSync(target);
      const t0 = performance.now();
      const r = await extractLayer(createReadStream(p), target, { shift: SHIFT });
      const secs = (performance.now() - t0) / 1000;
      assert.equal(r.tarSize, bytes);
      const mb = bytes / 1e6;
      t.diagnostic(`${label}: ${mb.toFixed(1)} MB tar (${files} files, 40 x 1 MiB + 2500 x 4 KiB) in ${secs.toFixed(2)} s = ${(mb / secs).toFixed(0)} MB/s, ${(files / secs).toFixed(0)} files/s`);
      rmSync(target, { recursive: true, force: true });
    }
  });
});
