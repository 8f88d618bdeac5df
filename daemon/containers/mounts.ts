// A container's mounts (-v, --mount, --tmpfs): checked at create (pure: the API's
// MountSpecs -> the spec's MountPoints), and turned into the shim's mounts at start.
// The CLI parses Docker's grammar (cli/parse/mounts.ts); the daemon trusts none of it.
import type { MountSpec } from '../../proto/api.ts';
import { invalid } from '../errors.ts';
import { VOLUME_NAME, volumeNameError } from '../../lib/volume-name.ts';
import type { BindMount } from './shim-config.ts';

export type MountKind = 'bind' | 'volume' | 'tmpfs';

/** One mount as the spec keeps it (stored in SQLite with the container). */
export interface MountPoint {
  type: MountKind;
  /** volume: its name (an anonymous one gets a random name at create) */
  name: string;
  /** bind: the host path; volume: its _data directory (filled at create); tmpfs: "" */
  source: string;
  destination: string;
  rw: boolean;
  /** -v's mode as given ("z" for a named -v volume without one, like Docker) */
  mode: string;
  createSource: boolean;
  noCopy: boolean;
  anonymous: boolean;
  tmpfsSize: number;
  tmpfsMode: number;
  tmpfsOptions: string[];
  origin: 'volume' | 'mount' | 'tmpfs';
  spec: string;
}

/** What the API gives: one -v, --mount or --tmpfs as the CLI parsed it (proto MountSpec). */
export type MountInput = MountSpec;

export const MAX_MOUNTS = 128;
const MAX_PATH = 4096;
const TMPFS_FLAGS = new Set(['exec', 'noexec', 'suid', 'nosuid', 'dev', 'nodev', 'atime', 'noatime', 'relatime', 'strictatime', 'nodiratime']);
/** Paths the runtime mounts itself: a user mount there would be hidden or hide them. */
const RESERVED = new Set(['/proc', '/sys', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue']);

/**
 * Inside /proc only these, and only a file bound over them (runc's list: what lxcfs
 * serves, so a container sees its own limits); the shim checks the file types and that
 * no symlink of the image led there.
 */
const PROC_FILES = new Set(['/proc/cpuinfo', '/proc/diskstats', '/proc/meminfo', '/proc/stat', '/proc/swaps', '/proc/uptime',
  '/proc/loadavg', '/proc/slabinfo', '/proc/net/dev', '/proc/sys/kernel/ns_last_pid']);

/** Docker's uid=/gid= (the container's ids: 0-65535 in its namespace) and nr_inodes= of --tmpfs. */
function tmpfsKeyValue(o: string): boolean {
  const id = /^(?:uid|gid)=([0-9]{1,5})$/.exec(o);
  if (id) return Number(id[1]) <= 65535;
  return /^nr_inodes=[0-9]{1,19}[kmg]?$/.test(o);
}

/** "/a//b/./", "/c/../a/b" -> "/a/b": Docker's path.Clean of an absolute path ("/.." is "/"). */
export function cleanPath(p: string): string {
  const out: string[] = [];
  for (const x of p.split('/')) {
    if (x === '' || x === '.') continue;
    if (x === '..') out.pop();
    else out.push(x);
  }
  return `/${out.join('/')}`;
}

/** The API's mounts as the spec's, or INVALID_ARGUMENT naming the bad one. Anonymous volumes get `newName()`. */
export function checkMounts(list: readonly MountInput[], newName: () => string): MountPoint[] {
  if (list.length > MAX_MOUNTS) throw invalid(`too many mounts: ${list.length}, at most ${MAX_MOUNTS} are allowed`);
  const seen = new Set<string>();
  return list.map((m) => {
    const spec = String(m.spec || m.target).slice(0, 300);
    const bad = (why: string) => invalid(`invalid mount "${spec}": ${why}`);
    for (const s of [m.source, m.target, m.spec, m.mode, ...m.tmpfsOptions]) {
      if (s.length > MAX_PATH) throw bad('longer than 4096 bytes');
      if (s.includes('\0')) throw bad('it contains a NUL byte');
    }
    if (m.type !== 'bind' && m.type !== 'volume' && m.type !== 'tmpfs') throw bad(`unknown type "${m.type}": use bind, volume or tmpfs`);
    if (!m.target.startsWith('/')) throw bad(`invalid mount path: '${m.target}' mount path must be absolute`);
    const destination = cleanPath(m.target);
    if (destination === '/') throw bad("invalid specification: destination can't be '/'");
    if (RESERVED.has(destination)) throw bad(`${destination} is mounted by the runtime itself`);
    if (destination.startsWith('/proc/') && !(m.type === 'bind' && PROC_FILES.has(destination))) {
      throw bad(`"${destination}" cannot be mounted because it is inside /proc`);
    }
    if (seen.has(destination)) throw invalid(`Duplicate mount point: ${destination}`);
    seen.add(destination);
    const origin = m.origin === 'volume' || m.origin === 'tmpfs' ? m.origin : 'mount';
    const p: MountPoint = {
      type: m.type, name: '', source: '', destination, rw: !m.readOnly, mode: m.mode, createSource: false, noCopy: m.noCopy,
      anonymous: false, tmpfsSize: 0, tmpfsMode: 0, tmpfsOptions: [], origin, spec: m.spec,
    };
    if (m.type === 'bind') {
      if (!m.source.startsWith('/')) throw bad(`invalid mount config for type "bind": invalid mount path: '${m.source}' mount path must be absolute`);
      p.source = cleanPath(m.source);
      p.createSource = m.createSource;
    } else if (m.type === 'volume') {
      if (m.source === '') {
        if (m.readOnly) throw bad('invalid mount config for type "volume": must not set ReadOnly mode when using anonymous volumes');
        p.name = newName();
        p.anonymous = true;
      } else {
        if (!VOLUME_NAME.test(m.source)) throw invalid(`create ${m.source}: ${volumeNameError(m.source)}`);
        p.name = m.source;
      }
      // Docker's "z" for a named volume of -v without a mode; an anonymous one keeps ""
      if (origin === 'volume' && p.mode === '' && !p.anonymous) p.mode = 'z';
    } else {
      if (m.source !== '') throw bad('invalid mount config for type "tmpfs": source must not be specified');
      if (!Number.isSafeInteger(m.tmpfsSize) || m.tmpfsSize < 0) throw bad(`invalid tmpfs size ${m.tmpfsSize}`);
      if (!Number.isInteger(m.tmpfsMode) || m.tmpfsMode < 0 || m.tmpfsMode > 0o7777) throw bad(`invalid tmpfs mode ${m.tmpfsMode.toString(8)}`);
      for (const o of m.tmpfsOptions) if (!TMPFS_FLAGS.has(o) && !tmpfsKeyValue(o)) throw bad(`unknown tmpfs option "${o}"`);
      p.tmpfsSize = m.tmpfsSize;
      p.tmpfsMode = m.tmpfsMode;
      p.tmpfsOptions = [...m.tmpfsOptions];
    }
    if (m.type !== 'volume' && m.noCopy) throw bad('nocopy is for volumes');
    return p;
  });
}

/**
 * The shim's mounts for a container's MountPoints, after the runtime's own (/etc
 * files). `idmap(p)`: whether this bind or volume is mounted idmapped (its file system
 * takes it, and the daemon is not rootless).
 *   bind:   rbind of the host path, "idmap" so host ids show as themselves inside
 *   volume: rbind of its _data, "copyup" unless nocopy (the image's directory fills a new, empty volume)
 *   tmpfs:  Docker's defaults nosuid,nodev,noexec unless --tmpfs gave exec/suid/dev
 */
export function shimMounts(points: readonly MountPoint[], idmap: (p: MountPoint) => boolean): BindMount[] {
  // Parents before children (Docker's order): -v /h:/data/sub after -v vol:/data, whichever was given first.
  const depth = (p: MountPoint) => p.destination.split('/').length;
  return [...points].sort((a, b) => depth(a) - depth(b)).map((p) => {
    if (p.type === 'tmpfs') {
      const flags = new Set(['nosuid', 'nodev', 'noexec']);
      for (const o of p.tmpfsOptions) {
        if (o === 'exec' || o === 'suid' || o === 'dev') flags.delete(`no${o}`);
        else flags.add(o);
      }
      const options = [...flags];
      if (!p.rw) options.push('ro');
      if (p.tmpfsSize) options.push(`size=${p.tmpfsSize}`);
      options.push(`mode=${(p.tmpfsMode || 0o1777).toString(8)}`);
      return { type: 'tmpfs', source: 'tmpfs', destination: p.destination, options };
    }
    const options = ['rbind'];
    if (!p.rw) options.push('ro');
    if (idmap(p)) options.push('idmap');
    if (p.type === 'volume' && !p.noCopy) options.push('copyup');
    return { source: p.source, destination: p.destination, options };
  });
}
