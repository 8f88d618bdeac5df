// Files read from an image's layers without mounting them, or from a running
// container's root (etc/passwd, etc/group), and the user lookup built on them.
import { fstatSync, lstatSync, readFileSync, openSync, closeSync, constants as fsConstants } from 'node:fs';
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

/**
 * A small regular file under the directory `rootFd` (a container's root): each
 * component is opened on its own, relative to the one before (through its
 * /proc/self/fd link) and with O_NOFOLLOW, so no symlink is followed, neither out of
 * the root nor anywhere else, and nothing the container swaps in meanwhile changes
 * that. '' when it is missing, not a regular file, over `maxBytes`, or reached
 * through a symlink.
 */
export function readInRoot(rootFd: number, rel: string, maxBytes = 1 << 20): string {
  const opened: number[] = [];
  try {
    let dir = rootFd;
    const parts = rel.split('/').filter(Boolean);
    for (const [i, part] of parts.entries()) {
      if (part === '..' || part === '.') return '';
      const last = i === parts.length - 1;
      const flags = fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK | (last ? 0 : fsConstants.O_DIRECTORY);
      dir = openSync(`/proc/self/fd/${dir}/${part}`, flags);
      opened.push(dir);
    }
    const st = fstatSync(dir);
    if (!opened.length || !st.isFile() || st.size > maxBytes) return '';
    return readFileSync(dir, 'utf8').slice(0, maxBytes);
  } catch {
    return '';
  } finally {
    for (const fd of opened) closeSync(fd);
  }
}

/** The user's ids, and its home for HOME, from `read` (etc/passwd, etc/group of a root). */
export function resolveUserWith(read: (rel: string) => string, user: string) {
  const passwd = read('etc/passwd');
  const ids = !user || /^\d+(:\d+)?$/.test(user)
    ? resolveUser(user, passwd, '')
    : resolveUser(user, passwd, read('etc/group'));
  return { ids, home: homeOf(user, ids.uid, passwd) };
}

/** The user as the image has it (a container's first start: it has no root of its own yet). */
export function resolveImageUser(layers: readonly string[], user: string) {
  return resolveUserWith((rel) => imageFile(layers, rel), user);
}

/** The user as the running container has it now (exec -u): from init's root, opened by the caller. */
export function resolveContainerUser(rootFd: number, user: string) {
  return resolveUserWith((rel) => readInRoot(rootFd, rel), user);
}
