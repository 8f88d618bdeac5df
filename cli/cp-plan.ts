// Docker's `cp` naming rules, the same both ways (docker/cli's cp reference):
// a file copied to a directory keeps its name, to a missing or existing file path takes
// that name; a directory copied to a missing path becomes that path, to an existing
// directory goes inside it, or only its contents do when the source ends in "/.".
import { CliError } from './errors.ts';

export interface CpSource {
  isDir: boolean;
  /** base name of the source */
  name: string;
  /** the source path ends with "/." */
  contentsOnly: boolean;
}

export interface CpDest {
  path: string;
  exists: boolean;
  isDir: boolean;
}

export interface CpPlan {
  /** the existing directory to extract into */
  dir: string;
  /** the name of the archive's top entry there ("" = the source directory's contents) */
  rootName: string;
}

function dirname(p: string): string {
  const t = p.replace(/\/+$/, '');
  const i = t.lastIndexOf('/');
  if (i < 0) return '.';
  return i === 0 ? '/' : t.slice(0, i);
}

function basename(p: string): string {
  const t = p.replace(/\/+$/, '');
  return t.slice(t.lastIndexOf('/') + 1);
}

/** Splits "CONTAINER:PATH" from a local path (a path starting with "/" or "." is always local, as in Docker). */
export function splitCpArg(arg: string): { container?: string; path: string } {
  if (arg.startsWith('/') || arg.startsWith('.')) return { path: arg };
  const i = arg.indexOf(':');
  if (i <= 0) return { path: arg };
  return { container: arg.slice(0, i), path: arg.slice(i + 1) };
}

/** Whether a source path asks for a directory's contents ("dir/."), and the path without that suffix. */
export function contentsOnly(path: string): { path: string; contentsOnly: boolean } {
  if (path === '.' || path.endsWith('/.')) return { path: path === '.' ? '.' : path.slice(0, -2) || '/', contentsOnly: true };
  return { path, contentsOnly: false };
}

export function cpPlan(src: CpSource, dest: CpDest): CpPlan {
  const trailingSlash = dest.path.endsWith('/') || dest.path.endsWith('/.');
  if (!src.isDir) {
    if (dest.exists && dest.isDir) return { dir: dest.path, rootName: src.name };
    if (trailingSlash) {
      if (dest.exists) throw new CliError(`destination "${dest.path}" must be a directory`);
      throw new CliError(`destination directory "${dest.path}" does not exist`);
    }
    return { dir: dirname(dest.path), rootName: basename(dest.path) };
  }
  if (dest.exists && !dest.isDir) throw new CliError(`cannot copy a directory to a file: "${dest.path}" is a file`);
  if (dest.exists) return { dir: dest.path, rootName: src.contentsOnly ? '' : src.name };
  return { dir: dirname(dest.path), rootName: basename(dest.path) };
}
