// Breakout: the runtime's own binary as a container sees it (CVE-2019-5736).
//
// A container's processes start as copies of the shim (init is cloned from the
// monitor, the command and an exec'd process are forked before they exec), so
// `--entrypoint /proc/self/exe` runs the runtime's binary in the container, and
// /proc/<pid>/exe of that process then names it. It must be a sealed copy, never the
// host's file: read-only, not the same inode, and writable by nobody, host root
// included. Covered for the container's command, for an exec forked by the
// container's monitor (EXEC), for one run by `tdock-shim exec` (the daemon's
// fallback when the monitor cannot fork), and for the shim's own fallback when its
// read-only overlay cannot be made (a sealed memfd).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { chmodSync, chownSync, closeSync, constants, copyFileSync, fstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, realpathSync, rmSync, statSync, writeFileSync, writeSync, type Stats } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeFrame, Frame } from '../../../daemon/runtime/frames.ts';
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

describe('the sealed memfd, when a read-only overlay of the binary cannot be made', () => {
  test('a shim on an overlay stacked twice (no room for a third) runs from a sealed memfd', async () => {
    // Only files and mounts made here; the mounts live in a private mount namespace and
    // vanish with its processes.
    const dir = mkdtempSync(join(tmpdir(), 'tdock-exetest-'));
    chmodSync(dir, 0o711); // the container's root (host uid 100000) walks down to its rootfs
    let monitor: ChildProcess | undefined;
    let sock: Socket | undefined;
    let pidNs = '';
    let fd = -1;
    try {
      const map = [{ containerId: 0, hostId: 100000, size: 65536 }];
      // The command is the shim itself: the image needs only mount points.
      for (const d of ['lower/proc', 'lower/sys', 'lower/dev', 'lower/tmp', 'rootfs', 'upper', 'work', 'a', 'a2', 'b2', 'ma', 'mb']) {
        mkdirSync(join(dir, d), { recursive: true });
      }
      chownSync(join(dir, 'upper'), 100000, 100000);
      copyFileSync(SHIM, join(dir, 'a', 'tdock-shim'));
      const socket = join(dir, 'm.sock');
      writeFileSync(join(dir, 'config.json'), JSON.stringify({
        rootfs: join(dir, 'rootfs'), overlay: { lower: [join(dir, 'lower')], upper: join(dir, 'upper'), work: join(dir, 'work') },
        args: SHIM_ARGV, openStdin: true, uidMap: map, gidMap: map,
        socket, logPath: join(dir, 'log'), exitPath: join(dir, 'exit.json'),
      }));
      // overlayfs stacks at most two deep: the shim's own overlay of mb would be a third.
      const script = `mount -t overlay o -o lowerdir=${dir}/a:${dir}/a2 ${dir}/ma && ` +
        `mount -t overlay o -o lowerdir=${dir}/ma:${dir}/b2 ${dir}/mb && exec ${dir}/mb/tdock-shim monitor ${dir}`;
      const m = spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      monitor = m;
      const line = await new Promise<string>((resolve) => {
        const timer = setTimeout(() => resolve('(no answer within 20 s)'), 20000);
        m.on('exit', () => clearTimeout(timer));
        let out = '';
        m.stdout!.on('data', (d: Buffer) => {
          out += d;
          if (out.includes('\n')) resolve(out.split('\n')[0]!);
        });
        m.on('exit', () => resolve(out));
        m.stderr!.resume();
      });
      const initPid = Number(/^ok (\d+) \d+$/.exec(line)?.[1]);
      assert.ok(initPid > 0, `monitor said: ${line}`);
      pidNs = readlinkSync(`/proc/${initPid}/ns/pid`);
      const s = connect(socket);
      sock = s;
      s.on('connect', () => s.write(encodeFrame(Frame.START)));
      s.on('error', () => {});
      s.resume();
      const p = await until('the command running the shim', () => findInContainer(initPid, SHIM_ARGV));
      assert.match(readlinkSync(`/proc/${p.hostPid}/exe`), /^\/memfd:tdock-shim/, 'the fallback ran');
      fd = openSync(`/proc/${p.hostPid}/exe`, O_PATH);
      const copy = identity(fstatSync(fd));
      for (const f of [SHIM, join(dir, 'a', 'tdock-shim')]) assert.notEqual(copy, identity(statSync(f)), `the command runs ${f}`);
      assert.throws(() => closeSync(openSync(`/proc/self/fd/${fd}`, constants.O_WRONLY)),
        (e: NodeJS.ErrnoException) => e.code === 'ETXTBSY', 'host root could open the running copy for writing');
    } catch (e) {
      if (fd >= 0) closeSync(fd);
      fd = -1;
      throw e;
    } finally {
      sock?.destroy();
      // Init dies with its monitor (parent death signal), the command with init.
      if (monitor?.pid && monitor.exitCode === null && monitor.signalCode === null) process.kill(monitor.pid, 'SIGKILL');
      if (pidNs) {
        await until('the container\'s processes gone', () => !readdirSync('/proc').some((d) => {
          try {
            return /^\d+$/.test(d) && readlinkSync(`/proc/${d}/ns/pid`) === pidNs;
          } catch {
            return false;
          }
        }));
      }
      rmSync(dir, { recursive: true, force: true });
    }
    await checkWriteAfterExit(fd);
  });
});
