// Breakout: the runtime's own binary as a container sees it (CVE-2019-5736).
//
// A container's processes start as copies of the shim (init is cloned from the
// monitor, the command and an exec'd process are forked before they exec), so
// `--entrypoint /proc/self/exe` runs the runtime's binary in the container, and
// /proc/<pid>/exe of that process then names it. It must be a sealed copy, never the
// host's file: read-only, not the same inode, and writable by nobody, host root
// included. Covered for the container's command, for an exec forked by the
// container's monitor (EXEC) and for one run by `tdock-shim exec` (the daemon's
// fallback when the monitor cannot fork).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, constants, fstatSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, realpathSync, statSync, writeSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { REPO, TDOCK, suiteDaemon, until, type TestDaemon } from '../../helpers/daemon.ts';

const SHIM = join(REPO, 'shim', 'tdock-shim');
// Not in every Node's fs.constants; the same number on x86_64 and aarch64.
const O_PATH = (constants as Record<string, number>).O_PATH ?? 0o10000000;

const identity = (st: Stats) => `${st.dev}:${st.ino}`;
// Taken when asked: a rebuild replaces the file (and its inode).
const hostShim = () => ({ paths: [SHIM, realpathSync(SHIM)], id: identity(statSync(SHIM)) });

interface Proc { hostPid: number; pid: number; ppid: number }

/** The process in init's pid namespace whose argv starts with argv (host pid, pid inside, parent's host pid). */
function findInContainer(initPid: number, argv: string[]): Proc | undefined {
  const ns = readlinkSync(`/proc/${initPid}/ns/pid`);
  const want = argv.join('\0') + '\0';
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readlinkSync(`/proc/${d}/ns/pid`) !== ns) continue;
      if (!readFileSync(`/proc/${d}/cmdline`, 'utf8').startsWith(want)) continue;
      const status = readFileSync(`/proc/${d}/status`, 'utf8');
      const nspid = /^NSpid:\s+(.*)$/m.exec(status)![1].trim().split(/\s+/);
      return { hostPid: Number(d), pid: Number(nspid[nspid.length - 1]), ppid: Number(/^PPid:\s+(\d+)/m.exec(status)![1]) };
    } catch {
      /* gone meanwhile */
    }
  }
  return undefined;
}

const ppidOf = (pid: number) => Number(/^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);

const SHIM_ARGV = ['/proc/self/exe', 'whiteouts', '/tmp'];

/** `tdock exec -i ...` with its stdin held open (the exec'd whiteouts reads it); kill it when done. */
function execHeld(d: TestDaemon, id: string): ChildProcess {
  const p = spawn(TDOCK, ['exec', '-i', id, ...SHIM_ARGV], { env: { ...process.env, TDOCK_HOST: d.host }, stdio: ['pipe', 'ignore', 'pipe'] });
  p.on('error', () => {});
  return p;
}

/**
 * What a process of the container and host root can do with /proc/<pid>/exe of p, a
 * process that runs the shim. Returns an O_PATH descriptor of that file (the way the
 * original exploit kept it), for checkWriteAfterExit.
 */
async function checkSealed(d: TestDaemon, id: string, p: Proc): Promise<number> {
  const host = hostShim();
  // From inside, one command per exec (no fork: the container may be at its pids limit).
  const link = (await d.ok(['exec', id, 'readlink', `/proc/${p.pid}/exe`])).trim();
  assert.ok(!host.paths.includes(link), `/proc/${p.pid}/exe names the host's binary: ${link}`);
  const inside = (await d.ok(['exec', id, 'stat', '-L', '-c', '%d:%i', `/proc/${p.pid}/exe`])).trim();
  assert.notEqual(inside, host.id, `/proc/${p.pid}/exe is the host's tdock-shim (${link}, dev:ino ${inside})`);
  // Init is not dumpable: its exe must be out of reach, or else not the host's file either.
  const init = await d.cli(['exec', id, 'stat', '-L', '-c', '%d:%i', '/proc/1/exe']);
  if (init.code === 0) assert.notEqual(init.stdout.trim(), host.id, '/proc/1/exe is the host\'s tdock-shim');
  else assert.match(init.stderr, /Permission denied/);

  // From the host, as root (no permission bit stops it): not the file, and no write.
  assert.ok(!host.paths.includes(readlinkSync(`/proc/${p.hostPid}/exe`)));
  const fd = openSync(`/proc/${p.hostPid}/exe`, O_PATH);
  try {
    assert.notEqual(identity(fstatSync(fd)), host.id, 'the process runs the host\'s tdock-shim');
    assert.throws(() => closeSync(openSync(`/proc/self/fd/${fd}`, constants.O_WRONLY)),
      (e: NodeJS.ErrnoException) => ['EROFS', 'ETXTBSY', 'EPERM'].includes(e.code ?? ''),
      'host root could open the running copy for writing');
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  return fd;
}

/**
 * Once nothing executes the copy any more (no ETXTBSY to hide behind), it must still
 * refuse writes: a read-only overlay (EROFS) or a sealed memfd (EPERM on write). The
 * probe writes back the byte that is there, so even a failing test changes nothing.
 */
async function checkWriteAfterExit(fd: number): Promise<void> {
  try {
    const id = identity(fstatSync(fd));
    await until('no process running the copy', () => !readdirSync('/proc').some((d) => {
      try {
        return /^\d+$/.test(d) && identity(statSync(`/proc/${d}/exe`)) === id;
      } catch {
        return false;
      }
    }));
    let w: number;
    try {
      w = openSync(`/proc/self/fd/${fd}`, constants.O_RDWR);
    } catch (e) {
      assert.ok(['EROFS', 'EPERM'].includes((e as NodeJS.ErrnoException).code ?? ''), `open for writing: ${(e as Error).message}`);
      return;
    }
    try {
      const byte = Buffer.alloc(1);
      readSync(w, byte, 0, 1, 0);
      assert.throws(() => writeSync(w, byte, 0, 1, 0), (e: NodeJS.ErrnoException) => e.code === 'EPERM',
        'host root wrote to the copy of the shim');
    } finally {
      closeSync(w);
    }
  } finally {
    closeSync(fd);
  }
}

describe('the shim binary inside a container is a sealed copy (CVE-2019-5736)', () => {
  const d = suiteDaemon();

  test('the command re-executing /proc/self/exe runs a sealed copy', async () => {
    const id = (await d.ok(['run', '-d', '-i', '--entrypoint', '/proc/self/exe', 'busybox', 'whiteouts', '/tmp'])).trim();
    let fd = -1;
    try {
      const initPid = (await d.inspect(id)).State.Pid as number;
      const p = await until('the command running the shim', () => findInContainer(initPid, SHIM_ARGV));
      assert.equal(p.pid, 2);
      fd = await checkSealed(d, id, p);
    } finally {
      await d.ok(['rm', '-f', id]);
    }
    await checkWriteAfterExit(fd);
  });

  test('an exec forked by the container\'s monitor (EXEC) runs a sealed copy', async () => {
    const id = (await d.ok(['run', '-d', 'busybox', 'sleep', '1000'])).trim();
    let cli: ChildProcess | undefined;
    let fd = -1;
    try {
      const initPid = (await d.inspect(id)).State.Pid as number;
      cli = execHeld(d, id);
      const p = await until('the exec running the shim', () => findInContainer(initPid, SHIM_ARGV));
      // Its exec-monitor is the container's monitor's child: the EXEC path.
      assert.equal(ppidOf(p.ppid), ppidOf(initPid));
      fd = await checkSealed(d, id, p);
    } finally {
      cli?.kill('SIGKILL');
      await d.ok(['rm', '-f', id]);
    }
    await checkWriteAfterExit(fd);
  });

  test('an exec run by `tdock-shim exec` (the monitor at its pids limit) runs a sealed copy', async () => {
    // The monitor, init and sleep: 3 of 3, so the monitor cannot fork and the daemon runs the verb.
    const id = (await d.ok(['run', '-d', '--pids-limit', '3', 'busybox', 'sleep', '1000'])).trim();
    let cli: ChildProcess | undefined;
    let fd = -1;
    try {
      const initPid = (await d.inspect(id)).State.Pid as number;
      cli = execHeld(d, id);
      const p = await until('the exec running the shim', () => findInContainer(initPid, SHIM_ARGV));
      assert.notEqual(ppidOf(p.ppid), ppidOf(initPid), 'the exec-monitor was forked by the container\'s monitor');
      assert.equal(ppidOf(p.ppid), d.proc!.pid, 'the daemon ran `tdock-shim exec`');
      fd = await checkSealed(d, id, p);
    } finally {
      cli?.kill('SIGKILL');
      await d.ok(['rm', '-f', id]);
    }
    await checkWriteAfterExit(fd);
  });
});
