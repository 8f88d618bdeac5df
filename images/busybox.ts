// A tiny busybox image built from the host's static busybox (Debian: busybox-static), so
// the walking skeleton runs containers without a registry. The tar is deterministic:
// sorted entries, owner root, every mtime (and the image's created time) set to the
// busybox binary's mtime, so the same host busybox always gives the same image id.
import { execFile } from 'node:child_process';
import { openSync, readSync, closeSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import type { ImageRecord, ImageStore } from './store.ts';
import { tarArchive } from './tar-writer.ts';
import type { TarEntrySpec } from './tar-writer.ts';

const CANDIDATES = ['/usr/bin/busybox', '/bin/busybox'];
export const BUSYBOX_REF = 'busybox:latest';
export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

const PASSWD = `root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
`;

const GROUP = `root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
lp:x:7:
mail:x:8:
kmem:x:9:
wheel:x:10:root
cdrom:x:11:
dialout:x:18:
floppy:x:19:
video:x:28:
audio:x:29:
tape:x:32:
www-data:x:33:
operator:x:37:
utmp:x:43:
plugdev:x:46:
staff:x:50:
lock:x:54:
netdev:x:82:
users:x:100:
nogroup:x:65534:
`;

const DIRS: Record<string, number> = {
  bin: 0o755, dev: 0o755, etc: 0o755, home: 0o755, proc: 0o555, root: 0o700, sbin: 0o755, sys: 0o555,
  tmp: 0o1777, usr: 0o755, 'usr/bin': 0o755, 'usr/sbin': 0o755, var: 0o755,
};

/** The host's busybox binary; throws with an install hint when missing or not static. */
export function findBusybox(candidates: string[] = CANDIDATES): string {
  for (const p of candidates) {
    let st;
    try {
      st = statSync(p);
    } catch {
      continue;
    }
    if (!st.isFile()) continue;
    if (hasInterpreter(p)) {
      throw new Error(`${p} is dynamically linked and cannot run in an empty rootfs; install busybox-static (apt-get install busybox-static)`);
    }
    return p;
  }
  throw new Error(`busybox not found (looked at ${candidates.join(', ')}); install busybox-static (apt-get install busybox-static)`);
}

/** True when the ELF file has a PT_INTERP program header (needs a dynamic loader). */
function hasInterpreter(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const h = Buffer.alloc(64);
    readSync(fd, h, 0, 64, 0);
    if (h.readUInt32BE(0) !== 0x7f454c46) return false;
    const is64 = h[4] === 2;
    const le = h[5] === 1;
    const u16 = (b: Buffer, o: number) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
    const u32 = (b: Buffer, o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
    const phoff = is64 ? Number(le ? h.readBigUInt64LE(32) : h.readBigUInt64BE(32)) : u32(h, 28);
    const phentsize = u16(h, is64 ? 54 : 42);
    const phnum = u16(h, is64 ? 56 : 44);
    const ph = Buffer.alloc(phentsize * phnum);
    readSync(fd, ph, 0, ph.length, phoff);
    for (let i = 0; i < phnum; i++) if (u32(ph, i * phentsize) === 3) return true;
    return false;
  } finally {
    closeSync(fd);
  }
}

/** The rootfs tar (uncompressed, about the size of the busybox binary). */
export async function buildBusyboxTar(binary: string = findBusybox()): Promise<Buffer> {
  const mtime = Math.floor(statSync(binary).mtimeMs / 1000);
  const { stdout } = await promisify(execFile)(binary, ['--list-full'], { maxBuffer: 1 << 20 });
  const applets = stdout.split('\n').map((l) => l.trim().replace(/^\/+/, '')).filter((l) => l !== '' && l !== 'bin/busybox');
  const entries = new Map<string, TarEntrySpec>();
  const dir = (p: string, mode = 0o755) => entries.set(p, { path: p + '/', type: 'dir', mode, mtime });
  for (const [p, mode] of Object.entries(DIRS)) dir(p, mode);
  for (const a of applets) {
    if (a.includes('..')) continue;
    const parts = a.split('/');
    for (let i = 1; i < parts.length; i++) {
      const d = parts.slice(0, i).join('/');
      if (!entries.has(d)) dir(d);
    }
    entries.set(a, { path: a, type: 'symlink', linkpath: '/bin/busybox', mode: 0o777, mtime });
  }
  entries.set('bin/busybox', { path: 'bin/busybox', mode: 0o755, mtime, data: await readFile(binary) });
  entries.set('etc/passwd', { path: 'etc/passwd', mode: 0o644, mtime, data: PASSWD });
  entries.set('etc/group', { path: 'etc/group', mode: 0o644, mtime, data: GROUP });
  // sort so that a directory precedes its contents and the order never depends on the host
  const sorted = [...entries.keys()].sort().map((k) => entries.get(k)!);
  return tarArchive(sorted);
}

/** Imports busybox:latest from the host busybox unless the store has it; returns the image. */
export async function ensureBusybox(store: ImageStore, binary?: string): Promise<ImageRecord> {
  const have = store.resolve(BUSYBOX_REF);
  if (have) return have;
  const bin = binary ?? findBusybox();
  const tar = await buildBusyboxTar(bin);
  return store.importTar(Readable.from([tar]), BUSYBOX_REF, {
    config: { Env: [DEFAULT_PATH], Cmd: ['sh'] },
    created: Math.floor(statSync(bin).mtimeMs / 1000) * 1000,
  });
}
