// A minimal, deterministic tar writer (ustar headers, pax or GNU records for long names).
// Used to build the busybox rootfs and, in tests, to craft any tarball (including hostile
// ones: the writer does not sanitize paths or link targets on purpose).

export type TarType = 'file' | 'dir' | 'symlink' | 'link' | 'char' | 'block' | 'fifo';

export interface TarEntrySpec {
  path: string;
  /** one of the names above, or a raw one-character typeflag */
  type?: TarType | string;
  mode?: number;
  uid?: number;
  gid?: number;
  uname?: string;
  gname?: string;
  /** seconds since the epoch */
  mtime?: number;
  linkpath?: string;
  data?: Buffer | string;
  devmajor?: number;
  devminor?: number;
  /** extra pax records for this entry */
  pax?: Record<string, string>;
  /** encode a long path / link path with GNU 'L'/'K' records instead of pax */
  gnuLongNames?: boolean;
  /** a file's size when its data (no `data`) is made separately, e.g. streamed: only the header is written */
  size?: number;
}

const TYPEFLAG: Record<TarType, string> = {
  file: '0', link: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6',
};

const BLOCK = 512;

function octal(buf: Buffer, off: number, len: number, value: number): void {
  const s = Math.max(0, Math.floor(value)).toString(8).padStart(len - 1, '0');
  if (s.length > len - 1) throw new Error(`tar field overflow: ${value} does not fit ${len - 1} octal digits`);
  buf.write(s, off, len - 1, 'ascii');
  buf[off + len - 1] = 0;
}

function str(buf: Buffer, off: number, len: number, value: string): void {
  const b = Buffer.from(value, 'utf8');
  if (b.length > len) throw new Error(`tar field overflow: "${value}" longer than ${len} bytes`);
  b.copy(buf, off);
}

function header(fields: {
  name: string; prefix?: string; mode: number; uid: number; gid: number; size: number; mtime: number;
  typeflag: string; linkname?: string; uname?: string; gname?: string; devmajor?: number; devminor?: number;
}): Buffer {
  const h = Buffer.alloc(BLOCK);
  str(h, 0, 100, fields.name);
  octal(h, 100, 8, fields.mode);
  octal(h, 108, 8, fields.uid);
  octal(h, 116, 8, fields.gid);
  octal(h, 124, 12, fields.size);
  octal(h, 136, 12, fields.mtime);
  h.write(fields.typeflag, 156, 1, 'latin1');
  str(h, 157, 100, fields.linkname ?? '');
  h.write('ustar\x0000', 257, 8, 'latin1');
  str(h, 265, 32, fields.uname ?? '');
  str(h, 297, 32, fields.gname ?? '');
  octal(h, 329, 8, fields.devmajor ?? 0);
  octal(h, 337, 8, fields.devminor ?? 0);
  str(h, 345, 155, fields.prefix ?? '');
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += h[i]!;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
  return h;
}

function pad(data: Buffer): Buffer {
  const rem = data.length % BLOCK;
  return rem === 0 ? data : Buffer.concat([data, Buffer.alloc(BLOCK - rem)]);
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(body) + 1;
  while (String(len).length + Buffer.byteLength(body) !== len) len = String(len).length + Buffer.byteLength(body);
  return `${len}${body}`;
}

/** Splits a path into ustar (prefix, name), or undefined when it does not fit. */
function ustarSplit(path: string): { prefix: string; name: string } | undefined {
  if (Buffer.byteLength(path) <= 100) return { prefix: '', name: path };
  for (let i = path.indexOf('/'); i >= 0; i = path.indexOf('/', i + 1)) {
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100 && name !== '') return { prefix, name };
  }
  return undefined;
}

/** The blocks of one entry: optional pax/GNU records, the header, the padded data. */
export function tarEntry(spec: TarEntrySpec): Buffer {
  const type = spec.type ?? 'file';
  const typeflag = type in TYPEFLAG ? TYPEFLAG[type as TarType] : type;
  if (typeflag.length !== 1) throw new Error(`bad tar type ${type}`);
  const data = spec.data === undefined ? Buffer.alloc(0) : Buffer.isBuffer(spec.data) ? spec.data : Buffer.from(spec.data);
  const mtime = spec.mtime ?? 0;
  const out: Buffer[] = [];
  const pax: Record<string, string> = { ...spec.pax };
  let name = spec.path;
  let prefix = '';
  let linkname = spec.linkpath ?? '';
  const split = ustarSplit(spec.path);
  if (spec.gnuLongNames && Buffer.byteLength(spec.path) > 100) {
    const b = Buffer.from(spec.path + '\0');
    out.push(header({ name: '././@LongLink', mode: 0, uid: 0, gid: 0, size: b.length, mtime: 0, typeflag: 'L' }), pad(b));
    name = spec.path.slice(0, 100);
  } else if (split) {
    ({ name, prefix } = split);
  } else {
    pax['path'] = spec.path;
    name = Buffer.from(spec.path).subarray(0, 100).toString('latin1');
  }
  if (Buffer.byteLength(linkname) > 100) {
    if (spec.gnuLongNames) {
      const b = Buffer.from(linkname + '\0');
      out.push(header({ name: '././@LongLink', mode: 0, uid: 0, gid: 0, size: b.length, mtime: 0, typeflag: 'K' }), pad(b));
    } else {
      pax['linkpath'] = linkname;
    }
    linkname = linkname.slice(0, 100);
  }
  const uid = spec.uid ?? 0;
  const gid = spec.gid ?? 0;
  const big = (n: number) => n > 0o7777777;
  if (big(uid)) pax['uid'] = String(uid);
  if (big(gid)) pax['gid'] = String(gid);
  const keys = Object.keys(pax).sort();
  if (keys.length > 0) {
    const body = Buffer.from(keys.map((k) => paxRecord(k, pax[k]!)).join(''));
    out.push(header({ name: 'PaxHeader', mode: 0o644, uid: 0, gid: 0, size: body.length, mtime, typeflag: 'x' }), pad(body));
  }
  out.push(header({
    name, prefix, mode: spec.mode ?? (typeflag === '5' ? 0o755 : typeflag === '2' ? 0o777 : 0o644),
    uid: big(uid) ? 0 : uid, gid: big(gid) ? 0 : gid, size: spec.size ?? data.length, mtime, typeflag, linkname,
    uname: spec.uname ?? '', gname: spec.gname ?? '', devmajor: spec.devmajor ?? 0, devminor: spec.devminor ?? 0,
  }));
  if (data.length > 0) out.push(pad(data));
  return Buffer.concat(out);
}

/** The end-of-archive marker: two zero blocks. */
export function tarEnd(): Buffer {
  return Buffer.alloc(2 * BLOCK);
}

/** A whole archive in memory (small archives only: tests and the busybox rootfs). */
export function tarArchive(entries: TarEntrySpec[]): Buffer {
  return Buffer.concat([...entries.map(tarEntry), tarEnd()]);
}
