// The daemon's side of rootless mode, inside the namespaces the launcher made: the
// channel to the launcher, the id maps the containers get, and the published ports that
// the launcher forwards from the host.
import { Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import type { IdMaps } from '../runtime/idmap.ts';
import type { NetworkHooks, NetworkedContainer } from '../network/hooks.ts';
import type { PortSpec } from '../../lib/ports.ts';
import { EngineError } from '../errors.ts';
import type { ChildRequest, LauncherHello, LauncherReply } from './protocol.ts';

export function inRootlessNamespace(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.TDOCK_ROOTLESS_NS === '1';
}

/** The ids the launcher mapped for containers: 1..65536 here (the user's subordinate ranges outside). */
export function containerIdMaps(): IdMaps {
  const range = (file: string) => {
    const line = readFileSync(file, 'utf8').split('\n').map((l) => l.trim().split(/\s+/).map(Number)).find((f) => f[0] === 1);
    if (!line) throw new Error(`rootless: ${file} maps no id 1 (the launcher maps the subordinate range there)`);
    return { start: 1, size: line[2]! };
  };
  return { uid: range('/proc/self/uid_map'), gid: range('/proc/self/gid_map') };
}

export type Hello = Extract<LauncherHello, { error?: undefined }>;

export class Launcher {
  private readonly sock: Socket;
  private next = 1;
  private readonly waiting = new Map<number, (r: LauncherReply) => void>();
  readonly hello: Hello;
  /** Called once the launcher hung up (killed: slirp4netns went with it). */
  gone?: () => void;

  private constructor(sock: Socket, hello: Hello) {
    this.sock = sock;
    this.hello = hello;
  }

  /** Says hello on fd 3 and waits for the launcher to have set up the network. */
  static async connect(): Promise<Launcher> {
    const sock = new Socket({ fd: 3, readable: true, writable: true });
    const lines = createInterface({ input: sock });
    const it = lines[Symbol.asyncIterator]();
    sock.write(`${JSON.stringify({ op: 'hello' } satisfies ChildRequest)}\n`);
    const first = await it.next();
    if (first.done) throw new Error('rootless: the launcher hung up');
    const hello = JSON.parse(first.value) as LauncherHello;
    if (hello.error !== undefined) throw new Error(hello.error);
    const l = new Launcher(sock, hello);
    void (async () => {
      for (let r = await it.next(); !r.done; r = await it.next()) {
        const m = JSON.parse(r.value) as LauncherReply;
        l.waiting.get(m.id)?.(m);
        l.waiting.delete(m.id);
      }
      for (const [id, w] of l.waiting) w({ id, error: 'the rootless launcher is gone' });
      l.waiting.clear();
      l.gone?.();
    })().catch(() => l.gone?.());
    sock.unref();
    return l;
  }

  call(req: Omit<Extract<ChildRequest, { op: 'publish' | 'unpublish' }>, 'id'>): Promise<void> {
    return this.request(req).then(() => {});
  }

  /** A port free on the host's `hostIp` now (the launcher binds port 0 there and lets it go). */
  async freePort(proto: 'tcp' | 'udp', hostIp: string): Promise<number> {
    const r = await this.request({ op: 'freeport', proto, hostIp });
    return r.port ?? 0;
  }

  private request(req: Omit<Extract<ChildRequest, { id: number }>, 'id'>): Promise<Extract<LauncherReply, { ok: true }>> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      // Never UNAVAILABLE: the CLI reads that as "the daemon is not running".
      this.waiting.set(id, (r) => (r.error !== undefined ? reject(new EngineError(r.code ?? 'INTERNAL', r.error)) : resolve(r)));
      this.sock.write(`${JSON.stringify({ ...req, id })}\n`);
    });
  }
}

/** A new network namespace has its loopback down. */
export function loopbackUp(): void {
  execFileSync('ip', ['link', 'set', 'lo', 'up']);
}

/**
 * The bridge network of the daemon's namespace, with each published port also
 * forwarded from the host by the launcher. Inside, every port is published on all
 * addresses (connections arrive on the user-mode network's interface); the address
 * the user asked for is where the launcher binds on the host.
 */
export class RootlessPorts implements NetworkHooks {
  private readonly inner: NetworkHooks;
  private readonly launcher: Launcher;
  private readonly forwarded = new Map<string, PortSpec[]>();

  constructor(inner: NetworkHooks, launcher: Launcher) {
    this.inner = inner;
    this.launcher = launcher;
  }

  private anyAddress(c: NetworkedContainer): NetworkedContainer {
    return { ...c, spec: { ...c.spec, ports: c.spec.ports.map((p) => ({ ...p, hostIp: '0.0.0.0' })) } };
  }

  async prepare(c: NetworkedContainer, bundleDir: string): Promise<import('../network/files.ts').Mount[]> {
    const start = this.launcher.hello.portStart;
    for (const p of c.spec.ports) {
      if (p.hostPort !== 0 && p.hostPort < start) {
        throw new EngineError('INVALID_ARGUMENT', `cannot publish port ${p.hostPort} rootless: ports below ${start} need root (sysctl net.ipv4.ip_unprivileged_port_start=${start}); publish ${p.hostPort + 8000 <= 65535 ? p.hostPort + 8000 : 'a higher port'} or lower the sysctl as root`);
      }
    }
    // -p 80: a port free inside the daemon's namespace (all are) may be taken on the host,
    // where it is forwarded from: the launcher picks it there, then it is an explicit one.
    const ports: PortSpec[] = [];
    for (const p of c.spec.ports) ports.push(p.hostPort === 0 ? { ...p, hostPort: await this.launcher.freePort(p.protocol as 'tcp' | 'udp', p.hostIp || '0.0.0.0') } : p);
    c = { ...c, spec: { ...c.spec, ports } };
    const mounts = await this.inner.prepare(this.anyAddress(c), bundleDir);
    const bound = this.inner.ports(this.anyAddress(c)).map((b) => ({ ...b, hostIp: c.spec.ports.find((p) => p.containerPort === b.containerPort && p.protocol === b.protocol)?.hostIp ?? '0.0.0.0' }));
    const done: PortSpec[] = [];
    try {
      for (const p of bound) {
        await this.launcher.call({ op: 'publish', proto: p.protocol as 'tcp' | 'udp', hostIp: p.hostIp, hostPort: p.hostPort });
        done.push(p);
      }
    } catch (e) {
      for (const p of done) await this.launcher.call({ op: 'unpublish', proto: p.protocol as 'tcp' | 'udp', hostIp: p.hostIp, hostPort: p.hostPort }).catch(() => {});
      await this.inner.detach(this.anyAddress(c));
      throw e;
    }
    this.forwarded.set(c.id, done);
    return mounts;
  }

  attach(c: NetworkedContainer, netns: string): Promise<void> {
    return this.inner.attach(this.anyAddress(c), netns);
  }

  async detach(c: NetworkedContainer): Promise<void> {
    const done = this.forwarded.get(c.id) ?? [];
    this.forwarded.delete(c.id);
    for (const p of done) await this.launcher.call({ op: 'unpublish', proto: p.protocol as 'tcp' | 'udp', hostIp: p.hostIp, hostPort: p.hostPort }).catch(() => {});
    await this.inner.detach(this.anyAddress(c));
  }

  ports(c: NetworkedContainer): PortSpec[] {
    return this.forwarded.get(c.id) ?? this.inner.ports(this.anyAddress(c));
  }

  inspect(c: NetworkedContainer): Record<string, unknown> {
    return this.inner.inspect(c);
  }
}

/**
 * /sys is the host's, showing the host's interfaces: mount a sysfs of this network
 * namespace over it (the mount namespace is the daemon's own), keeping the cgroup
 * mounts under it (moved aside and back).
 */
export function ownSysfs(scratch: string): void {
  const aside = `${scratch}/.cgroup-aside`;
  execFileSync('mkdir', ['-p', aside]);
  execFileSync('mount', ['-n', '--rbind', '/sys/fs/cgroup', aside]);
  execFileSync('mount', ['-n', '-t', 'sysfs', '-o', 'nosuid,nodev,noexec', 'sysfs', '/sys']);
  execFileSync('mount', ['-n', '--move', aside, '/sys/fs/cgroup']);
  execFileSync('rmdir', [aside]);
}
