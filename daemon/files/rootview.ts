// The merged view of a container's root filesystem, held open as a directory fd for
// the file verbs (cp, export). A running container's overlay is its init's root,
// /proc/<init pid>/root (checked to be that init by its start time before and after,
// and to be an overlayfs); what the container mounted over it (/proc, /sys, /dev,
// volumes) is below it: the walkers never enter procfs, sysfs or cgroupfs
// (lib/files/tar-out.ts, tar-in.ts), and export stays on the overlay. A stopped container's overlay is
// mounted by `tdock-shim rootfs-hold` in a mount namespace of its own for the time of
// the call (nothing is mounted on the host, and the mount dies with that process),
// while a start of the container waits (holds.ts). Either way the fd is checked to be
// an overlayfs before anything is read or written through it.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { createInterface } from 'node:readline';
import { EngineError } from '../errors.ts';
import type { FileTarget } from '../containers/engine.ts';
import { heldUntil, hold } from './holds.ts';
import { startTime } from '../runtime/procfs.ts';
import { at, openRoot } from '../../lib/files/inroot.ts';

const OVERLAYFS_SUPER_MAGIC = 0x794c7630;

export interface RootViewEnv { shim: string; rootless: boolean }

function openOverlay(path: string, what: string): number {
  const fd = openRoot(path);
  const type = fs.statfsSync(at(fd)).type;
  if (type !== OVERLAYFS_SUPER_MAGIC) {
    fs.closeSync(fd);
    throw new EngineError('FAILED_PRECONDITION', `${what}: the container's root filesystem is not mounted; try again`);
  }
  return fd;
}

/**
 * Runs fn with an fd on the container's merged root directory. `target` is asked again
 * after every wait: the container may have started or stopped meanwhile.
 */
export async function withMergedRoot<T>(target: () => FileTarget, env: RootViewEnv, fn: (rootFd: number) => Promise<T>): Promise<T> {
  let t = target();
  // One hold at a time per container: two overlays must never share an upper dir.
  for (let held = heldUntil(t.c.id); !t.live && held; held = heldUntil(t.c.id)) {
    await held;
    t = target();
  }
  if (t.live) {
    const gone = () => new EngineError('FAILED_PRECONDITION', `container ${t.c.name} is not running (it is starting or stopped meanwhile); try again`);
    if (!t.c.pid || !t.initStartTime || startTime(t.c.pid) !== t.initStartTime) throw gone();
    let fd: number;
    try {
      fd = openOverlay(`/proc/${t.c.pid}/root`, t.c.name);
    } catch (e) {
      if (e instanceof EngineError) throw e;
      throw gone();
    }
    if (startTime(t.c.pid) !== t.initStartTime) {
      fs.closeSync(fd);
      throw gone();
    }
    try {
      return await fn(fd);
    } finally {
      fs.closeSync(fd);
    }
  }
  // Same tick as the last state check (target()): a start now waits for us.
  const release = hold(t.c.id);
  try {
    const args = ['rootfs-hold', ...(env.rootless ? ['--userxattr'] : []), '--upper', t.upper, '--work', t.work, '--target', t.rootfs, ...t.lower];
    const child = spawn(env.shim, args, { stdio: ['pipe', 'pipe', 'inherit'] });
    const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
    child.on('error', () => {});
    try {
      const line = await new Promise<string>((resolve) => {
        const rl = createInterface({ input: child.stdout! });
        rl.once('line', (l) => {
          rl.close();
          resolve(l);
        });
        child.once('close', () => resolve(''));
        child.once('error', (e) => resolve(`error: cannot run ${env.shim}: ${e.message}`));
      });
      if (line !== 'ready') {
        throw new EngineError('INTERNAL', `mounting the root filesystem of ${t.c.name}: ${line.replace(/^error: /, '') || 'tdock-shim rootfs-hold exited'}`);
      }
      const fd = openOverlay(`/proc/${child.pid}/root${t.rootfs}`, t.c.name);
      try {
        return await fn(fd);
      } finally {
        fs.closeSync(fd);
      }
    } finally {
      child.stdin!.end();
      await exited;
    }
  } finally {
    release();
  }
}
