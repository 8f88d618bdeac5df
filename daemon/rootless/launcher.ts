// The rootless launcher (as rootlesskit does): tdockd started by a plain user re-runs
// itself through util-linux `unshare`, which maps the user to root and the user's
// subordinate ranges to 1..65536 with newuidmap/newgidmap, in a new user, mount and
// network namespace. There the daemon is root, so the rootful code (bridge, veth,
// IPAM, nftables, chown of layers) runs unchanged, and its names cannot meet another
// daemon's. This process stays outside, in the host's network namespace: it starts the
// user-mode network (slirp4netns) that gives that namespace egress and forwards the
// published ports from the host, as the inner daemon asks over fd 3.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { connect } from 'node:net';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { userServiceCgroup } from '../cgroups/delegation.ts';
import { moveSelfToLeaf, parseMountinfo } from '../cgroups/index.ts';
import { join } from 'node:path';
import { userInfo } from 'node:os';
import { checkIdHelpers, checkTun, findProgram, subordinateRanges, ROOTLESS_IDS, type HostRanges } from './preflight.ts';
import type { ChildRequest, LauncherHello, LauncherReply } from './protocol.ts';
import { hold, inUseMessage } from '../network/ports.ts';
import type { HostBinding } from '../../lib/ports.ts';
import type { ErrorCode } from '../../lib/errors.ts';

export interface LaunchOptions {
  execRoot: string;
  /** the daemon's own argv (node, script, args) to run inside */
  argv: string[];
  log: (m: string) => void;
}

/** The host's lowest port a plain user may bind (per network namespace; the daemon's own has its default). */
function unprivilegedPortStart(): number {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8').trim());
  } catch {
    return 1024;
  }
}

/** One request to slirp4netns's API socket (one JSON object each way per connection). */
export function slirpCall(sock: string, req: object): Promise<any> {
  return new Promise((resolve, reject) => {
    const c = connect(sock);
    let buf = '';
    c.setEncoding('utf8');
    c.on('connect', () => c.end(JSON.stringify(req)));
    c.on('data', (d: string) => (buf += d));
    c.on('error', reject);
    c.on('close', () => {
      try {
        const r = JSON.parse(buf);
        if (r.error) reject(new Error(r.error.desc ?? JSON.stringify(r.error)));
        else resolve(r.return);
      } catch {
        reject(new Error(`slirp4netns API: unexpected answer ${JSON.stringify(buf)}`));
      }
    });
  });
}

/**
 * slirp4netns says only "slirp_add_hostfwd failed": binding the port here (briefly)
 * finds the host's reason, worded as the rootful daemon words it.
 */
async function whyNotPublished(hostIp: string, port: number, proto: 'tcp' | 'udp', slirpSays: string): Promise<{ error: string; code: ErrorCode }> {
  const b: HostBinding = { hostIp, hostPort: port, protocol: proto };
  try {
    (await hold(hostIp, port, proto)).close();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') return { code: 'ALREADY_EXISTS', error: inUseMessage(b, 'by a host process') };
    if (code === 'EADDRNOTAVAIL') return { code: 'INVALID_ARGUMENT', error: `cannot publish on ${hostIp}: it is not an address of this host` };
    if (code === 'EACCES') return { code: 'FAILED_PRECONDITION', error: `cannot bind host port ${port}/${proto} on ${hostIp}: permission denied` };
  }
  return { code: 'INTERNAL', error: `cannot publish ${hostIp}:${port}/${proto} on the host: ${slirpSays}` };
}

/** slirp4netns processes this launcher ended itself (their exit is not logged). */
const stoppedByUs = new WeakSet<ChildProcess>();

/** Starts slirp4netns for the namespace of `pid`; resolves once it configured tap0. */
function startSlirp(pid: number, apiSocket: string, log: (m: string) => void): Promise<ChildProcess> {
  const bin = findProgram('slirp4netns', 'slirp4netns');
  rmSync(apiSocket, { force: true });
  // --disable-host-loopback: 10.0.2.2 must not lead to the host's 127.0.0.1 (containers
  // never reach host loopback services). The exit fd (4) ends it when we go.
  const p = spawn(bin, ['--configure', '--mtu=65520', '--disable-host-loopback', '--enable-sandbox', '--enable-seccomp',
    '--api-socket', apiSocket, '--ready-fd', '3', '--exit-fd', '4', String(pid), 'tap0'],
  { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
  let err = '';
  p.stderr!.setEncoding('utf8');
  p.stderr!.on('data', (d: string) => (err += d));
  return new Promise((resolve, reject) => {
    const ready = p.stdio[3] as NodeJS.ReadableStream;
    ready.once('data', () => resolve(p));
    p.once('exit', (code) => reject(new Error(`rootless: slirp4netns exited (${code}) before it was ready: ${err.trim().split('\n').pop() ?? ''}`)));
    p.once('error', (e) => reject(new Error(`rootless: cannot start slirp4netns: ${e.message}`)));
  }).then(() => {
    p.removeAllListeners('exit');
    // Only an exit nobody asked for is news (at the daemon's end we stop it: a refusal stays one line).
    p.once('exit', (code, signal) => {
      if (!stoppedByUs.has(p)) log(`slirp4netns exited (${code ?? signal}): ${err.trim().split('\n').pop() ?? ''}`);
    });
    return p;
  });
}

/** Never returns: the launcher lives as long as the daemon inside and ends with its status. */
export async function launchRootless(o: LaunchOptions): Promise<never> {
  const user = userInfo().username;
  const uid = process.getuid!();
  const ranges: HostRanges = subordinateRanges(user, uid);
  checkIdHelpers();
  checkTun(user);
  findProgram('slirp4netns', 'slirp4netns');
  const unshare = findProgram('unshare', 'util-linux');
  // Under `systemctl --user` with Delegate=yes: the launcher and everything it starts
  // go to <service>/daemon (cgroup v2 allows no processes beside the containers' groups);
  // the daemon puts containers below <service>/containers.
  const service = userServiceCgroup(readFileSync('/proc/self/cgroup', 'utf8'), process.env);
  const v2 = parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8')).v2;
  if (service && v2 && existsSync(join(v2, 'cgroup.subtree_control'))) {
    try {
      o.log(`systemd user service: moved the launcher to ${moveSelfToLeaf(v2, service)}`);
    } catch (e) {
      o.log(`systemd user service: cannot move to ${service}/daemon (${(e as Error).message}): containers run without limits`);
    }
  }
  const [node, ...rest] = o.argv;
  const child = spawn(unshare, [
    `--map-user=0`, `--map-group=0`,
    `--map-users=${ranges.uid.start},1,${ROOTLESS_IDS}`, `--map-groups=${ranges.gid.start},1,${ROOTLESS_IDS}`,
    '--mount', '--net', '--propagation', 'private', '--', node!, ...rest,
  ], { stdio: ['ignore', 'inherit', 'inherit', 'pipe'], env: { ...process.env, TDOCK_ROOTLESS_NS: '1', TDOCK_ROOTLESS_UID: String(uid), ...(service ? { TDOCK_USER_SERVICE: service } : {}) } });
  const chan = child.stdio[3] as import('node:net').Socket;
  const send = (m: LauncherHello | LauncherReply) => chan.write(`${JSON.stringify(m)}\n`);
  let slirp: ChildProcess | undefined;
  const apiSocket = join(o.execRoot, 'slirp4netns.sock');
  const forwards = new Map<string, number>();
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, () => child.kill(sig));
  child.on('exit', async (code, signal) => {
    // slirp4netns goes before we do: nothing of the daemon outlives its launcher.
    if (slirp && slirp.exitCode === null && slirp.signalCode === null) {
      const gone = new Promise((r) => slirp!.once('exit', r));
      stoppedByUs.add(slirp);
      slirp.kill('SIGTERM');
      const t = setTimeout(() => slirp!.kill('SIGKILL'), 2000);
      await gone;
      clearTimeout(t);
    }
    rmSync(apiSocket, { force: true });
    process.exit(code ?? 128 + (signal === 'SIGKILL' ? 9 : 15));
  });
  child.on('error', (e) => {
    o.log(`rootless: cannot start ${unshare}: ${e.message}`);
    process.exit(1);
  });
  const lines = createInterface({ input: chan });
  for await (const line of lines) {
    let req: ChildRequest;
    try {
      req = JSON.parse(line) as ChildRequest;
    } catch {
      continue;
    }
    if (req.op === 'hello') {
      // The namespaces exist now (the daemon inside runs): give them a network.
      try {
        slirp = await startSlirp(child.pid!, apiSocket, o.log);
        send({ op: 'hello', driver: 'slirp4netns', portStart: unprivilegedPortStart(), user, uid, ranges });
      } catch (e) {
        send({ op: 'hello', error: (e as Error).message });
      }
    } else if (req.op === 'publish') {
      const key = `${req.proto}/${req.hostIp}/${req.hostPort}`;
      try {
        const r = await slirpCall(apiSocket, { execute: 'add_hostfwd', arguments: { proto: req.proto, host_addr: req.hostIp || '0.0.0.0', host_port: req.hostPort, guest_port: req.hostPort } });
        forwards.set(key, r.id);
        send({ id: req.id, ok: true });
      } catch (e) {
        send({ id: req.id, ...(await whyNotPublished(req.hostIp || '0.0.0.0', req.hostPort, req.proto, (e as Error).message)) });
      }
    } else if (req.op === 'freeport') {
      try {
        const h = await hold(req.hostIp || '0.0.0.0', 0, req.proto);
        h.close();
        send({ id: req.id, ok: true, port: h.port });
      } catch (e) {
        send({ id: req.id, ...(await whyNotPublished(req.hostIp || '0.0.0.0', 0, req.proto, (e as Error).message)) });
      }
    } else if (req.op === 'unpublish') {
      const key = `${req.proto}/${req.hostIp}/${req.hostPort}`;
      const fwd = forwards.get(key);
      forwards.delete(key);
      if (fwd !== undefined) await slirpCall(apiSocket, { execute: 'remove_hostfwd', arguments: { id: fwd } }).catch(() => {});
      send({ id: req.id, ok: true });
    }
  }
  // The channel closed: the daemon is going; its exit ends us (above).
  return new Promise<never>(() => {});
}
