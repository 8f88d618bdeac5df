// Files read from an image's layers without mounting them (etc/passwd, etc/group),
// and the user lookup built on them.
import { lstatSync, readFileSync, openSync, closeSync, constants as fsConstants } from 'node:fs';
import { join } from 'node:path';
import { homeOf, resolveUser } from './spec.ts';

/**
 * Reads LAYER/REL if it is a regular file reached without any symlink; undefined when
 * this layer does not have it, '' when the layer hides it (whiteout) or it is unsafe.
 */
export function readLayerFile(layer: string, rel: string, maxBytes = 1 << 20): string | undefined {
  let cur = layer;
  const parts = rel.split('/').filter(Boolean);
  for (let i = 0; i < parts.length; i++) {
    cur = join(cur, parts[i]!);
    let st;
    try {
      st = lstatSync(cur);
    } catch {
      return undefined;
    }
    const last = i === parts.length - 1;
    if (st.isCharacterDevice()) return ''; // an overlay whiteout: deleted in this layer
    if (st.isSymbolicLink()) return '';
    if (!last && !st.isDirectory()) return undefined;
    if (last) {
      if (!st.isFile() || st.size > maxBytes) return '';
      const fd = openSync(cur, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
      try {
        return readFileSync(fd, 'utf8').slice(0, maxBytes);
      } finally {
        closeSync(fd);
      }
    }
  }
  return undefined;
}

/**
 * A small text file of the image (etc/passwd), read as the top-most layer has it.
 * The layers are the image author's: never follow a symlink out of them, never open
 * a FIFO or a device, never read more than 1 MiB.
 */
export function imageFile(layers: readonly string[], path: string): string {
  for (const dir of layers) {
    const found = readLayerFile(dir, path);
    if (found !== undefined) return found;
  }
  return '';
}

/** The user's ids, and its home for HOME (read from the same /etc/passwd). */
export function resolveImageUser(layers: readonly string[], user: string) {
  const passwd = imageFile(layers, 'etc/passwd');
  const ids = !user || /^\d+(:\d+)?$/.test(user)
    ? resolveUser(user, passwd, '')
    : resolveUser(user, passwd, imageFile(layers, 'etc/group'));
  return { ids, home: homeOf(user, ids.uid, passwd) };
}
