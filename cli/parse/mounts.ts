// -v/--volume, --mount and --tmpfs of `run`/`create`, in Docker's grammar, parsed into
// the structured mounts of a CreateRequest. Pure: no file system, no daemon; a bad
// spec is a ValueError naming the spec (the CLI exits 125 before anything is made).
import { isAbsolute, posix, resolve } from 'node:path';
import type { MountSpec } from '../../proto/api.ts';
import { parseBytes, ValueError } from './bytes.ts';
import { VOLUME_NAME, volumeNameError } from '../../lib/volume-name.ts';

export type MountType = 'bind' | 'volume' | 'tmpfs';

/** One mount as the CLI sends it: proto's MountSpec, its kind and origin narrowed. */
export type MountRequest = Omit<MountSpec, 'type' | 'origin'> & {
  type: MountType;
  /** which flag made it: "volume" (-v), "mount" (--mount), "tmpfs" (--tmpfs) */
  origin: 'volume' | 'mount' | 'tmpfs';
};


/** -v's modes by kind: at most one of each kind (Docker's rule). */
const V_MODE_KIND: Record<string, string> = {
  ro: 'rw', rw: 'rw', z: 'label', Z: 'label', nocopy: 'copy',
  private: 'propagation', rprivate: 'propagation', shared: 'propagation', rshared: 'propagation', slave: 'propagation', rslave: 'propagation',
  consistent: 'consistency', cached: 'consistency', delegated: 'consistency',
};

/** Whether every comma-separated field is a mode, none of a kind twice. */
function validMode(mode: string): boolean {
  const kinds = new Set<string>();
  for (const x of mode.split(',')) {
    const kind = Object.hasOwn(V_MODE_KIND, x) ? V_MODE_KIND[x]! : undefined;
    if (!kind || kinds.has(kind)) return false;
    kinds.add(kind);
  }
  return true;
}
/** Mount flags --tmpfs takes besides size= and mode=. */
const TMPFS_FLAGS = new Set(['ro', 'rw', 'exec', 'noexec', 'suid', 'nosuid', 'dev', 'nodev', 'atime', 'noatime', 'relatime', 'strictatime', 'nodiratime']);

function base(origin: MountRequest['origin'], spec: string): MountRequest {
  return { type: 'volume', source: '', target: '', readOnly: false, createSource: false, noCopy: false, tmpfsSize: 0, tmpfsMode: 0, tmpfsOptions: [], origin, spec, mode: '' };
}

function checkTarget(target: string, spec: string, type: MountType): void {
  if (target === '') throw new ValueError(`invalid volume specification: '${spec}': the container path is empty`);
  if (!target.startsWith('/')) {
    throw new ValueError(`invalid volume specification: '${spec}': invalid mount config for type "${type}": invalid mount path: '${target}' mount path must be absolute`);
  }
  if (normalTarget(target) === '/') {
    throw new ValueError(`invalid volume specification: '${spec}': invalid mount config for type "${type}": invalid specification: destination can't be '/'`);
  }
  if (target.includes('\0')) throw new ValueError(`invalid volume specification: '${spec}': it contains a NUL byte`);
}

/** A host path as given to -v: "./x" and "." are taken from the working directory (Docker's CLI does the same). */
function hostPath(p: string, cwd: string): string {
  return p.startsWith('.') ? resolve(cwd, p) : p;
}

/**
 * -v/--volume: `CTR` (anonymous volume), `NAME:CTR[:MODE]` (named volume) or
 * `HOST:CTR[:MODE]` (bind; HOST absolute or starting with "."). MODE: comma-separated
 * ro|rw, z|Z, nocopy, a propagation mode.
 */
export function parseVolumeFlag(spec: string, cwd = '/'): MountRequest {
  const m = base('volume', spec);
  const parts = spec.split(':');
  if (spec === '' || parts.some((p) => p === '') && parts.length > 1) throw new ValueError(`invalid volume specification: '${spec}'`);
  if (parts.length > 3) throw new ValueError(`invalid volume specification: '${spec}': too many colons`);
  if (parts.length === 1) {
    checkTarget(spec, spec, 'volume');
    m.target = spec;
    return m;
  }
  const [src, target, mode = ''] = parts as [string, string, string?];
  // "/data:ro": a destination with a mode is no volume (Docker's error, not a guess at what was meant)
  if (parts.length === 2 && validMode(target)) throw new ValueError(`invalid volume specification: '${spec}'`);
  if (mode) {
    const modes = mode.split(',');
    if (!validMode(mode)) throw new ValueError(`invalid volume specification: '${spec}': invalid mode: ${mode}`);
    m.readOnly = modes.includes('ro');
    m.noCopy = modes.includes('nocopy');
    m.mode = mode;
  }
  const isPath = src.startsWith('/') || src.startsWith('.');
  m.type = isPath ? 'bind' : 'volume';
  checkTarget(target, spec, m.type);
  if (isPath) {
    if (m.noCopy) throw new ValueError(`invalid volume specification: '${spec}': nocopy is for volumes, not bind mounts`);
    m.source = hostPath(src, cwd);
    m.createSource = true;
  } else {
    if (!VOLUME_NAME.test(src)) throw new ValueError(`create ${src}: ${volumeNameError(src)}`);
    m.source = src;
  }
  m.target = target;
  return m;
}

function boolValue(v: string | undefined, key: string, spec: string): boolean {
  if (v === undefined) return true;
  const s = v.toLowerCase();
  if (['1', 't', 'true'].includes(s)) return true;
  if (['0', 'f', 'false'].includes(s)) return false;
  throw new ValueError(`invalid argument "${spec}" for "--mount" flag: invalid value for ${key}: ${v}`);
}

/** Docker's --mount tmpfs-mode: octal permission bits. */
function modeValue(v: string, what: string): number {
  if (!/^0?[0-7]{1,4}$/.test(v)) throw new ValueError(`${what}: invalid mode ${JSON.stringify(v)}: expected octal permission bits such as 1777 or 0700`);
  return parseInt(v, 8);
}

function sizeValue(v: string, what: string): number {
  const n = parseBytes(v);
  if (n === undefined || !Number.isSafeInteger(n) || n <= 0) throw new ValueError(`${what}: invalid size ${JSON.stringify(v)}: expected a size such as 64m or a number of bytes`);
  return n;
}

/** One CSV record's fields (RFC 4180, Go's encoding/csv rules): a quote only opens a field or doubles inside one. */
function csvFields(text: string, bad: (why: string) => ValueError): string[] {
  const out: string[] = [];
  let i = 0;
  for (;;) {
    let field = '';
    if (text[i] === '"') {
      i++;
      for (;;) {
        const q = text.indexOf('"', i);
        if (q < 0) throw bad('extraneous or missing " in quoted-field');
        field += text.slice(i, q);
        i = q + 1;
        if (text[i] !== '"') break;
        field += '"';
        i++;
      }
      if (i < text.length && text[i] !== ',') throw bad('extraneous or missing " in quoted-field');
    } else {
      const comma = text.indexOf(',', i);
      field = text.slice(i, comma < 0 ? text.length : comma);
      if (field.includes('"')) throw bad('bare " in non-quoted-field');
      i = comma < 0 ? text.length : comma;
    }
    out.push(field);
    if (i >= text.length) return out;
    i++; // the comma
  }
}

/**
 * --mount: comma-separated key=value fields. type=bind|volume|tmpfs (default volume),
 * source|src, target|destination|dst, readonly|ro[=BOOL], volume-nocopy[=BOOL],
 * bind-propagation, consistency, tmpfs-size, tmpfs-mode. One CSV record, as docker/cli
 * reads it: "src=/a,b" in double quotes keeps its comma, "" is a quote inside them.
 */
export function parseMountFlag(spec: string, cwd = '/'): MountRequest {
  const m = base('mount', spec);
  const bad = (why: string) => new ValueError(`invalid argument "${spec}" for "--mount" flag: ${why}`);
  let type: string | undefined;
  let tmpfsSet = false;
  let volumeSet = false;
  let bindSet = false;
  for (const field of csvFields(spec, bad)) {
    if (field === '') continue;
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
    const value = eq < 0 ? undefined : field.slice(eq + 1);
    const need = () => {
      if (value === undefined) throw bad(`invalid field '${field}' must be a key=value pair`);
      return value;
    };
    switch (key) {
      case 'type': type = need(); break;
      // docker/cli takes "." and "./x" from the working directory (other relative paths stay refused)
      case 'source': case 'src': m.source = need(); if (m.source === '.' || m.source.startsWith('./')) m.source = resolve(cwd, m.source); break;
      case 'target': case 'destination': case 'dst': m.target = need(); break;
      case 'readonly': case 'ro': m.readOnly = boolValue(value, key, spec); break;
      case 'volume-nocopy': m.noCopy = boolValue(value, key, spec); volumeSet = true; break;
      case 'bind-propagation':
        if (!['private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave'].includes(need())) throw bad(`invalid bind-propagation: ${value}`);
        bindSet = true;
        break;
      case 'consistency': need(); break;
      case 'tmpfs-size': m.tmpfsSize = sizeValue(need(), `invalid argument "${spec}" for "--mount" flag`); tmpfsSet = true; break;
      case 'tmpfs-mode': m.tmpfsMode = modeValue(need(), `invalid argument "${spec}" for "--mount" flag`); tmpfsSet = true; break;
      default:
        if (value === undefined) throw bad(`invalid field '${field}' must be a key=value pair`);
        throw bad(`unexpected key '${key}' in '${field}'`);
    }
  }
  type ??= 'volume';
  if (type !== 'bind' && type !== 'volume' && type !== 'tmpfs') throw bad(`invalid mount type "${type}": use bind, volume or tmpfs`);
  m.type = type;
  if (m.target === '') throw bad('target is required');
  if (tmpfsSet && type !== 'tmpfs') throw bad(`cannot mix 'tmpfs-*' options with mount type '${type}'`);
  if (volumeSet && type !== 'volume') throw bad(`cannot mix 'volume-*' options with mount type '${type}'`);
  if (bindSet && type !== 'bind') throw bad(`cannot mix 'bind-*' options with mount type '${type}'`);
  checkTarget(m.target, spec, type);
  if (type === 'bind') {
    if (m.source === '') throw bad(`invalid mount config for type "bind": field Source must not be empty`);
    if (!isAbsolute(m.source)) throw bad(`invalid mount config for type "bind": invalid mount path: '${m.source}' mount path must be absolute`);
  } else if (type === 'volume') {
    if (m.source !== '' && !VOLUME_NAME.test(m.source)) throw bad(volumeNameError(m.source));
    if (m.source === '' && m.readOnly) throw bad('invalid mount config for type "volume": must not set ReadOnly mode when using anonymous volumes');
  } else if (m.source !== '') {
    throw bad(`invalid mount config for type "tmpfs": source must not be specified`);
  }
  return m;
}

/** Docker's key=value options of --tmpfs besides size and mode: uid=, gid= (the container's ids), nr_inodes=. */
function tmpfsValue(o: string, what: string): string {
  const [key, value = ''] = o.split('=', 2) as [string, string?];
  if (key === 'nr_inodes') {
    if (!/^[0-9]+[kmg]?$/.test(value)) throw new ValueError(`${what}: unknown option ${JSON.stringify(o)}: use size=, mode= or a mount flag (noexec, nosuid, nodev, ...)`);
    return o;
  }
  if (!/^[0-9]+$/.test(value)) throw new ValueError(`${what}: unknown option ${JSON.stringify(o)}: use size=, mode= or a mount flag (noexec, nosuid, nodev, ...)`);
  if (Number(value) > 65535) throw new ValueError(`${what}: ${o}: outside the container's ids (0-65535)`);
  return `${key}=${Number(value)}`;
}

/** --tmpfs PATH[:OPTIONS]: OPTIONS comma-separated size=, mode=, uid=, gid=, nr_inodes= and mount flags. */
export function parseTmpfsFlag(spec: string): MountRequest {
  const m = base('tmpfs', spec);
  m.type = 'tmpfs';
  const colon = spec.indexOf(':');
  m.target = colon < 0 ? spec : spec.slice(0, colon);
  checkTarget(m.target, spec, 'tmpfs');
  const what = `invalid value "${spec}" for --tmpfs`;
  if (colon >= 0) {
    for (const o of spec.slice(colon + 1).split(',')) {
      if (o === '') continue;
      if (o.startsWith('size=')) m.tmpfsSize = sizeValue(o.slice(5), what);
      else if (o.startsWith('mode=')) m.tmpfsMode = modeValue(o.slice(5), what);
      else if (/^(uid|gid|nr_inodes)=/.test(o)) m.tmpfsOptions.push(tmpfsValue(o, what));
      else if (TMPFS_FLAGS.has(o)) {
        if (o === 'ro') m.readOnly = true;
        else if (o === 'rw') m.readOnly = false;
        else m.tmpfsOptions.push(o);
      } else throw new ValueError(`${what}: unknown option ${JSON.stringify(o)}: use size=, mode= or a mount flag (noexec, nosuid, nodev, ...)`);
    }
  }
  return m;
}

/** All mount flags of one run/create; two mounts on one container path are refused (Docker's message). */
export function parseMountFlags(f: { volume?: string[]; mount?: string[]; tmpfs?: string[] }, cwd = '/'): MountRequest[] {
  const out = [
    ...(f.volume ?? []).map((s) => parseVolumeFlag(s, cwd)),
    ...(f.mount ?? []).map((s) => parseMountFlag(s, cwd)),
    ...(f.tmpfs ?? []).map(parseTmpfsFlag),
  ];
  const seen = new Set<string>();
  for (const m of out) {
    const t = normalTarget(m.target);
    if (seen.has(t)) throw new ValueError(`Duplicate mount point: ${m.target}`);
    seen.add(t);
  }
  return out;
}

/** "/a//b/", "/c/../a/b" -> "/a/b" (Docker's path.Clean): two spellings of one path are one mount point. */
export function normalTarget(p: string): string {
  return posix.normalize(`/${p}`).replace(/(.)\/+$/, '$1');
}
