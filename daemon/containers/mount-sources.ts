// The host side of a container's mounts: bind sources checked (create) or made
// (start, -v), the warning for a bind that cannot be idmapped, and the shim's mounts.
import { chownSync, existsSync, lstatSync, mkdirSync, readlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { invalid, wrongState } from '../errors.ts';
import { notIdmappable, notIdmappableBelow } from '../runtime/idmapped.ts';
import { shimMounts, type MountPoint } from './mounts.ts';
import type { BindMount } from './shim-config.ts';
import type { EngineContext } from './types.ts';

function missingBind(p: MountPoint) {
  return `invalid mount config for type "bind": bind source path does not exist: ${p.source}`;
}

/** Docker refuses `--mount type=bind` of a missing source at create; `-v` creates it at start. */
export function checkBindSources(points: readonly MountPoint[]): void {
  for (const p of points) if (p.type === 'bind' && !p.createSource && !existsSync(p.source)) throw invalid(missingBind(p));
}

/** The nearest existing directory: where a missing -v source will be made. */
function nearest(path: string): string {
  let p = path;
  while (!existsSync(p) && p !== '/') p = dirname(p);
  return p;
}

/** Whether a bind or volume is mounted idmapped (shim "idmap"). */
export function idmapOf(p: MountPoint, ctx: EngineContext): boolean {
  if (ctx.o.rootless) return false;
  if (p.type === 'volume') return ctx.volumeIdmap;
  return notIdmappable(nearest(p.source)) === undefined;
}

/** One warning per bind whose file system cannot be idmapped (it is bound plain). */
export function createWarnings(points: readonly MountPoint[], ctx: EngineContext): string[] {
  const out: string[] = [];
  for (const p of points) {
    if (p.type !== 'bind') continue;
    if (ctx.o.rootless) {
      // The user's own files are not mapped into the container's user namespace (its
      // root is the user's first subordinate id, never the user): never a silent surprise.
      out.push(`rootless: ${p.source} is bound without id mapping: files show their owners shifted into the container's range (yours as nobody), and the container's root (your first subordinate uid) writes only where others may`);
      continue;
    }
    const type = notIdmappable(nearest(p.source));
    if (type !== undefined) {
      out.push(`the file system of ${p.source} (type ${type}) cannot be idmapped: it is bound without id mapping, so files show the host's owners shifted into the container's range (nobody for most)`);
      continue;
    }
    const below = notIdmappableBelow(p.source);
    if (below.length) {
      const named = below.slice(0, 3).map(([at, t]) => `${at}: ${t}`).join(', ') + (below.length > 3 ? `, and ${below.length - 3} more` : '');
      out.push(`mounts under ${p.source} cannot be idmapped (${named}): their files show the host's owners shifted into the container's range (nobody for most)`);
    }
  }
  return out;
}

/** mkdir -p of a -v source, or Docker's one line saying why not (a dangling symlink: where it points). */
function makeSource(source: string): void {
  try {
    mkdirSync(source, { recursive: true, mode: 0o755 });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    let why = `${err.code ?? 'error'}: ${err.syscall ?? 'mkdir'} ${err.path ?? source}`;
    try {
      if (lstatSync(source).isSymbolicLink()) why = `it is a symlink to '${readlinkSync(source)}', which does not exist`;
    } catch { /* the reason above stands */ }
    throw new Error(`error while creating mount source path '${source}': ${why}`);
  }
}

/**
 * At start: -v sources made (mkdir -p, like Docker), the rest checked again (a source
 * removed since create, a volume's data gone), and the shim's mounts for them.
 */
export function prepareMounts(points: readonly MountPoint[], ctx: EngineContext): BindMount[] {
  for (const p of points) {
    if (p.type === 'bind') {
      if (p.createSource && !existsSync(p.source)) {
        makeSource(p.source);
        // Made for the container: its root owns it, as Docker's root-owned one is the
        // container root's (bound plain, that root is the range's first id on the host).
        if (!idmapOf(p, ctx)) chownSync(p.source, ctx.o.idMaps.uid.start, ctx.o.idMaps.gid.start);
      }
      else if (!existsSync(p.source)) throw invalid(missingBind(p));
    } else if (p.type === 'volume' && !existsSync(p.source)) {
      throw wrongState(`volume ${p.name}: its data directory ${p.source} is missing`);
    }
  }
  return shimMounts(points, (p) => idmapOf(p, ctx));
}
