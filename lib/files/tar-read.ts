// A small streaming tar reader for the archives clients send (cp into a container):
// ustar and GNU headers, pax extended headers (path, linkpath, uid, gid, size, mtime),
// GNU long names ('L'/'K'). Each entry's body must be consumed (or skipped) before the
// next entry is asked for. Plain tar only: `docker cp -` takes no compression either.
import { EngineError } from '../errors.ts';

export interface TarHeader {
  path: string;
  /** '0' file, '1' hardlink, '2' symlink, '3' char, '4' block, '5' dir, '6' fifo */
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkpath: string;
}

const BLOCK = 512;
const MAX_META = 1 << 20;

function bad(msg: string): EngineError {
  return new EngineError('INVALID_ARGUMENT', `bad tar archive: ${msg}`);
}

class ByteReader {
  private readonly it: AsyncIterator<Buffer>;
  private buf: Buffer = Buffer.alloc(0);
  private done = false;
  constructor(src: AsyncIterable<Buffer | string> | Iterable<Buffer | string>) {
    const inner = Symbol.asyncIterator in src
      ? (src as AsyncIterable<Buffer | string>)[Symbol.asyncIterator]()
      : (async function* () { yield* src as Iterable<Buffer | string>; })();
    this.it = {
      next: async () => {
        const r = await inner.next();
        if (r.done) return r;
        return { done: false, value: typeof r.value === 'string' ? Buffer.from(r.value) : r.value };
      },
    };
  }
  private async fill(n: number): Promise<boolean> {
    while (this.buf.length < n && !this.done) {
      const r = await this.it.next();
      if (r.done) this.done = true;
      else this.buf = this.buf.length ? Buffer.concat([this.buf, r.value]) : r.value;
    }
    return this.buf.length >= n;
  }
  async exactly(n: number): Promise<Buffer | undefined> {
    if (!(await this.fill(n))) return undefined;
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }
  /** Up to `max` bytes (at least 1), or undefined at the end. */
  async some(max: number): Promise<Buffer | undefined> {
    if (!(await this.fill(1))) return undefined;
    const n = Math.min(max, this.buf.length);
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }
}

function cstr(b: Buffer, off: number, len: number): string {
  const s = b.subarray(off, off + len);
  const z = s.indexOf(0);
  return (z < 0 ? s : s.subarray(0, z)).toString('utf8');
}

function num(b: Buffer, off: number, len: number): number {
  // base-256 (GNU) for large values
  if (b[off]! & 0x80) {
    let v = 0;
    for (let i = off + 1; i < off + len; i++) v = v * 256 + b[i]!;
    return v;
  }
  const s = cstr(b, off, len).trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw bad(`invalid number field "${s}"`);
  return parseInt(s, 8);
}

function checksumOk(h: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
  try {
    return sum === num(h, 148, 8);
  } catch {
    return false;
  }
}

function parsePax(body: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let off = 0;
  while (off < body.length) {
    const sp = body.indexOf(0x20, off);
    if (sp < 0) break;
    const len = parseInt(body.subarray(off, sp).toString('ascii'), 10);
    if (!Number.isInteger(len) || len <= 0 || off + len > body.length) throw bad('invalid pax record');
    const rec = body.subarray(sp + 1, off + len - 1).toString('utf8');
    const eq = rec.indexOf('=');
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    off += len;
  }
  return out;
}

export interface TarEntry {
  header: TarHeader;
  /** the entry's data; must be read to its end (or skip() called) before the next entry */
  body(): AsyncGenerator<Buffer>;
  skip(): Promise<void>;
}

/** Yields the entries of a tar stream in order. */
export async function* readTar(src: AsyncIterable<Buffer | string> | Iterable<Buffer | string>): AsyncGenerator<TarEntry> {
  const r = new ByteReader(src);
  let pax: Record<string, string> = {};
  let global: Record<string, string> = {};
  let longName: string | undefined;
  let longLink: string | undefined;
  let first = true;
  for (;;) {
    const h = await r.exactly(BLOCK);
    if (!h) {
      if (first) throw bad('empty input (expected a tar stream)');
      return; // a tar without its end marker: take what is there, like GNU tar
    }
    if (h.every((x) => x === 0)) return;
    if (!checksumOk(h)) throw bad(first ? 'not a tar stream (header checksum mismatch)' : 'header checksum mismatch');
    first = false;
    const type = String.fromCharCode(h[156]!) === '\0' ? '0' : String.fromCharCode(h[156]!);
    let size = num(h, 124, 12);
    const padded = Math.ceil(size / BLOCK) * BLOCK;
    if (type === 'x' || type === 'g' || type === 'L' || type === 'K') {
      if (size > MAX_META) throw bad('extended header too large');
      const body = await r.exactly(padded);
      if (!body) throw bad('truncated');
      const data = body.subarray(0, size);
      if (type === 'x') pax = { ...pax, ...parsePax(data) };
      else if (type === 'g') global = { ...global, ...parsePax(data) };
      else if (type === 'L') longName = cstr(data, 0, data.length);
      else longLink = cstr(data, 0, data.length);
      continue;
    }
    const meta = { ...global, ...pax };
    const magic = h.subarray(257, 263).toString('latin1');
    const prefix = magic.startsWith('ustar') ? cstr(h, 345, 155) : '';
    let path = meta['path'] ?? longName ?? (prefix ? `${prefix}/${cstr(h, 0, 100)}` : cstr(h, 0, 100));
    const linkpath = meta['linkpath'] ?? longLink ?? cstr(h, 157, 100);
    if (meta['size'] !== undefined) size = Number(meta['size']);
    const header: TarHeader = {
      path,
      type: type === '7' ? '0' : type,
      mode: num(h, 100, 8) & 0o7777,
      uid: meta['uid'] !== undefined ? Number(meta['uid']) : num(h, 108, 8),
      gid: meta['gid'] !== undefined ? Number(meta['gid']) : num(h, 116, 8),
      size: type === '5' || type === '1' || type === '2' ? 0 : size,
      mtime: meta['mtime'] !== undefined ? Math.floor(Number(meta['mtime'])) : num(h, 136, 12),
      linkpath,
    };
    if (path.endsWith('/') && header.type === '0') header.type = '5';
    path = header.path;
    pax = {};
    longName = undefined;
    longLink = undefined;
    const dataLen = type === '5' || type === '1' || type === '2' ? 0 : size;
    const total = Math.ceil(dataLen / BLOCK) * BLOCK;
    let left = dataLen;
    let padLeft = total - dataLen;
    let consumed = false;
    async function* body(): AsyncGenerator<Buffer> {
      consumed = true;
      while (left > 0) {
        const b = await r.some(left);
        if (!b) throw bad(`truncated in ${path}`);
        left -= b.length;
        yield b;
      }
      if (padLeft > 0) {
        if (!(await r.exactly(padLeft))) throw bad(`truncated in ${path}`);
        padLeft = 0;
      }
    }
    const skip = async () => {
      for await (const _ of body()) { /* drain */ }
    };
    yield { header, body, skip };
    if (!consumed || left > 0 || padLeft > 0) await skip();
  }
}
