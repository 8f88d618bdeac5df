// What a container changed: its overlay upper dir compared with the image's layers
// (`tdock diff`), and the opaque directories the shim finds in it (`commit`).
//
// Docker's rules: an overlay whiteout (char device 0:0) is a deletion (D); a path the
// image has is changed (C) - directories too, when something below them changed, since
// overlayfs copies them up; anything else is added (A). An opaque directory the image
// has is C, and what the image had below it is D. Sorted by path, as `docker diff`.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { EngineError } from '../errors.ts';
import { at, openDirAt, openRoot } from '../../lib/files/inroot.ts';

export interface Change { kind: 'A' | 'C' | 'D'; path: string }

export function isWhiteout(st: fs.Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

function lstatOr(p: string): fs.Stats | undefined {
  try {
    return fs.lstatSync(p);
  } catch {
    return undefined;
  }
}

/**
 * Whether the image (its layer dirs, top first) has `rel`. Layers are walked one
 * component at a time with lstat, never through a symlink; a whiteout or a
 * non-directory on the way hides the layers below.
 */
export function imageHas(lowers: readonly string[], rel: string): boolean {
  const parts = rel.split('/').filter(Boolean);
  for (const layer of lowers) {
    let cur = layer;
    let hidden = false;
    let missing = false;
    for (let i = 0; i < parts.length; i++) {
      cur = join(cur, parts[i]!);
      const st = lstatOr(cur);
      if (!st) {
        missing = true;
        break;
      }
      if (isWhiteout(st)) {
        hidden = true;
        break;
      }
      if (i === parts.length - 1) return true;
      if (!st.isDirectory()) {
        hidden = true;
        break;
      }
    }
    if (hidden) return false;
    if (!missing && parts.length === 0) return true;
  }
  return false;
}

/** The names the image has in directory `rel` (union of the layers, whiteouts applied; opacity of lower layers not read). */
function imageNames(lowers: readonly string[], rel: string): string[] {
  const names = new Set<string>();
  const gone = new Set<string>();
  for (const layer of lowers) {
    let dir: string[] = [];
    try {
      const p = join(layer, rel);
      const st = fs.lstatSync(p);
      if (!st.isDirectory()) break;
      dir = fs.readdirSync(p);
    } catch {
      continue;
    }
    for (const n of dir) {
      if (names.has(n) || gone.has(n)) continue;
      const st = lstatOr(join(layer, rel, n));
      if (st && isWhiteout(st)) gone.add(n);
      else names.add(n);
    }
  }
  return [...names];
}

/** Directories of the upper dir that overlayfs marks opaque, relative ("" = the root). */
export function opaqueDirs(shim: string, upper: string, rootless: boolean): Promise<Set<string>> {
  return new Promise((resolve, reject) => {
    const child = spawn(shim, ['opaque-dirs', ...(rootless ? ['--userxattr'] : []), upper], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (e) => reject(new EngineError('INTERNAL', `listing opaque directories: cannot run ${shim}: ${e.message}`)));
    child.on('close', (code) => {
      if (code !== 0) return reject(new EngineError('INTERNAL', `listing opaque directories of ${upper}: ${err.trim().split('\n').pop() ?? `exit ${code}`}`));
      const names = Buffer.concat(out).toString('utf8').split('\0').filter(Boolean);
      resolve(new Set(names.map((n) => (n === '.' ? '' : n))));
    });
  });
}

// The empty files the runtime binds /etc/hostname, /etc/hosts and /etc/resolv.conf
// over (made in the upper dir when the image lacks them). Docker keeps them in an init
// layer below the container's, so they are never its changes: not in diff, not in commit.
const PLACEHOLDERS = new Set(['etc/hostname', 'etc/hosts', 'etc/resolv.conf']);

/** `rel`: relative to the upper dir, without a leading "/" or "./". */
export function isRuntimePlaceholder(rel: string, st: fs.Stats): boolean {
  return PLACEHOLDERS.has(rel.replace(/^\.\//, '')) && st.isFile() && st.size === 0;
}

/** Whether upper dir `st` has the owner and mode of the image's `rel` (overlayfs copied it up unchanged). */
function sameAsImage(lowers: readonly string[], rel: string, st: fs.Stats): boolean {
  for (const layer of lowers) {
    const img = lstatOr(join(layer, rel));
    if (!img) continue;
    return img.isDirectory() && img.mode === st.mode && img.uid === st.uid && img.gid === st.gid;
  }
  return false;
}

/** `docker diff`: the changes in the upper dir, sorted by path. */
export function upperChanges(upper: string, lowers: readonly string[], opaque: ReadonlySet<string>): Change[] {
  const out: Change[] = [];
  const root = openRoot(upper);
  const walk = (fd: number, rel: string, added: boolean) => {
    for (const name of fs.readdirSync(at(fd))) {
      const r = rel ? `${rel}/${name}` : name;
      let st: fs.Stats;
      try {
        st = fs.lstatSync(at(fd, name));
      } catch {
        continue; // gone meanwhile
      }
      if (isWhiteout(st)) {
        out.push({ kind: 'D', path: '/' + r });
        continue;
      }
      if (isRuntimePlaceholder(r, st)) {
        placeholders++;
        continue;
      }
      const inImage = !added && imageHas(lowers, r);
      const at0 = out.length;
      const before = placeholders;
      out.push({ kind: inImage ? 'C' : 'A', path: '/' + r });
      if (!st.isDirectory()) continue;
      const isOpaque = opaque.has(r);
      if (inImage && isOpaque) {
        const have = new Set(fs.readdirSync(at(fd, name)));
        for (const n of imageNames(lowers, r)) if (!have.has(n)) out.push({ kind: 'D', path: `/${r}/${n}` });
      }
      let sub: number;
      try {
        sub = openDirAt(fd, name);
      } catch {
        continue;
      }
      try {
        walk(sub, r, !inImage || isOpaque);
      } finally {
        fs.closeSync(sub);
      }
      // copied up only because the runtime made its placeholders in it
      if (inImage && !isOpaque && placeholders > before && out.length === at0 + 1 && sameAsImage(lowers, r, st)) out.pop();
    }
  };
  let placeholders = 0;
  try {
    walk(root, '', false);
  } finally {
    fs.closeSync(root);
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
