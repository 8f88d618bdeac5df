import { mkdirSync, rmdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export function readTrim(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return '';
  }
}

export function readNumber(path: string): number {
  const v = readTrim(path);
  const n = Number(v);
  return v === '' || !Number.isFinite(n) ? 0 : n;
}

export function write(path: string, value: string): void {
  try {
    writeFileSync(path, value);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new Error(`cgroup: cannot write "${value}" to ${path}: ${err.code ?? err.message}`);
  }
}

/** mkdir -p, returning the directories it created (so only those get removed later). */
export function mkdirp(path: string): void {
  if (!existsSync(path)) mkdirSync(path, { recursive: true });
}

/** rmdir that waits for the last tasks of a dying container to leave. */
export async function rmdirPatiently(path: string, attempts = 200): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      rmdirSync(path);
      return;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY' || i >= attempts) throw new Error(`cgroup: cannot remove ${path}: ${code}`);
      await sleep(i < 20 ? 1 : 10);
    }
  }
}

export function tryRmdir(path: string): void {
  try {
    rmdirSync(path);
  } catch {
    /* not empty or not ours: leave it */
  }
}

/**
 * Removes the (empty) group that holds the containers, and those of its ancestors this
 * process created; never a group someone else made (e.g. a systemd service's own).
 */
export function removeOwnParent(mountpoint: string, parent: string, made: ReadonlySet<string>): void {
  const parts = parent.split('/');
  for (let i = parts.length; i > 0; i--) {
    const dir = join(mountpoint, ...parts.slice(0, i));
    if (i === parts.length || made.has(dir)) tryRmdir(dir);
    else break;
  }
}

/** Polls `done` every 10 ms for up to 5 s: a freezer reports FROZEN once every task stopped. */
export async function waitFor(done: () => boolean): Promise<boolean> {
  for (let i = 0; i < 500; i++) {
    if (done()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return done();
}
