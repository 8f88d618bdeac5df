// The bridge network against a fake operating system (daemon/network/system.ts): the
// commands it would run and the /sys and /proc files it would touch are recorded, so
// what it does with a container's network namespace is checked without root. The
// real thing runs in test/integration/network*.test.ts.
import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { openDb, type Db } from '../../daemon/store/db.ts';
import { ContainerRepository, type ContainerRow } from '../../daemon/containers/repository.ts';
import type { ContainerSpec } from '../../daemon/containers/spec.ts';
import { BridgeNetwork } from '../../daemon/network/bridge.ts';
import type { NetSystem } from '../../daemon/network/system.ts';
import type { RunResult } from '../../daemon/network/exec.ts';

const BR = 'tdunit0';

/** Commands answered as on a host with nothing of ours yet; the rest of the OS is a few maps. */
class FakeNetSystem implements NetSystem {
  readonly ran: { argv: string[]; input?: string }[] = [];
  readonly files = new Map<string, string>();
  readonly written = new Map<string, string>();
  readonly inodes = new Map<string, number>();
  /** argv[0..1] joined → the answer (default: success, no output) */
  readonly answers = new Map<string, (argv: string[], input?: string) => RunResult>();

  async run(argv: string[], input?: string): Promise<RunResult> {
    this.ran.push({ argv, ...(input !== undefined ? { input } : {}) });
    const answer = this.answers.get(argv.slice(0, 2).join(' '));
    if (answer) return answer(argv, input);
    if (argv.join(' ') === `ip -j -4 addr show dev ${BR}`) return { stdout: '[]', stderr: '', code: 0 };
    if (argv.join(' ') === 'iptables -w -S FORWARD') return { stdout: '-P FORWARD ACCEPT\n', stderr: '', code: 0 };
    if (argv[0] === 'ip' && argv[1] === 'link' && argv[2] === 'add') this.files.set(`/sys/class/net/${BR}/ifindex`, '7');
    return { stdout: '', stderr: '', code: 0 };
  }
  read(path: string): string | undefined { return this.files.get(path); }
  write(path: string, data: string): void { this.written.set(path, data); }
  exists(path: string): boolean { return this.files.has(path); }
  list(): string[] { return []; }
  readlink(): string | undefined { return undefined; }
  ino(path: string): number { return this.inodes.get(path) ?? -1; }

  /** Every path and script a command was given, as one text (to look for what must never be there). */
  everything(): string { return this.ran.map((r) => `${r.argv.join(' ')}\n${r.input ?? ''}`).join('\n'); }
}

let dir = '';
let db: Db;
let repo: ContainerRepository;
let sys: FakeNetSystem;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tdock-unit-bridge-'));
  db = openDb(join(dir, 'tdock.db'));
  repo = new ContainerRepository(db);
  sys = new FakeNetSystem();
  sys.files.set('/proc/sys/net/ipv4/ip_forward', '1');
});

afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

function container(pid: number): ContainerRow {
  const id = randomBytes(32).toString('hex');
  const spec: ContainerSpec = {
    entrypoint: [], cmd: ['sh'], args: ['sh'], env: [], cwd: '/', user: '', hostname: id.slice(0, 12), tty: false,
    openStdin: false, autoRemove: false, network: 'bridge', ports: [], dns: [], resources: {}, stopSignal: 'SIGTERM',
  };
  repo.insert({ id, name: `c-${id.slice(0, 6)}`, imageId: 'sha256:test', imageRef: 'test', spec, created: Date.now() });
  return { ...repo.get(id)!, pid };
}

async function network(): Promise<BridgeNetwork> {
  return BridgeNetwork.create({
    db, bridge: BR, subnet: '10.231.0.0/16', table: 'tdock_unit', execRoot: dir, log: () => {}, running: () => [], sys,
  });
}

test('attach wires the netns through the monitor\'s bind, never through /proc/PID of init', async () => {
  const net = await network();
  // The row still says pid 4242, but init died and 4242 is another process now:
  // nothing the network runs may name it.
  const c = container(4242);
  await net.prepare(c, mkdtempSync(join(dir, 'bundle-')));
  const bind = join(dir, 'c', c.id.slice(0, 12), 'netns');
  sys.inodes.set(bind, 4026532999);
  sys.ran.length = 0;
  await net.attach(c, bind);
  const wiring = sys.ran.filter((r) => r.argv[0] === 'nsenter');
  assert.deepEqual(wiring.map((r) => r.argv), [['nsenter', `--net=${bind}`, 'ip', '-batch', '-']], 'one batch, inside the bind');
  assert.match(wiring[0]!.input!, /^link add td\w{10} netns \/proc\/\d+\/ns\/net /, 'the host end goes to the daemon\'s own netns');
  assert.ok(wiring[0]!.input!.includes(`/proc/${process.pid}/ns/net`));
  assert.doesNotMatch(sys.everything(), /\/proc\/4242\b/, 'init\'s pid is never used');
  await net.detach(c);
  await net.settled();
});

test('a bind that no longer holds the netns (the monitor ended it) fails the wiring and undoes it', async () => {
  const net = await network();
  const c = container(4242);
  await net.prepare(c, mkdtempSync(join(dir, 'bundle-')));
  const bind = join(dir, 'c', c.id.slice(0, 12), 'netns');
  // setns on a file that is no namespace: what nsenter says when the monitor unmounted it
  sys.answers.set(`nsenter --net=${bind}`, () => ({ stdout: '', stderr: `nsenter: reassociate to namespace 'ns/net' failed: Invalid argument\n`, code: 1 }));
  sys.ran.length = 0;
  await assert.rejects(net.attach(c, bind), (e: Error) => /cannot attach container/.test(e.message) && e.message.includes(bind));
  const after = sys.ran.map((r) => r.argv.join(' '));
  assert.ok(after.some((a) => a === 'ip -force -batch -'), 'the host end is deleted');
  assert.ok(sys.ran.some((r) => r.argv[0] === 'nft' && /delete element/.test(r.input ?? '')), 'its nft elements are removed');
  assert.doesNotMatch(sys.everything(), /\/proc\/4242\b/);
  await net.detach(c);
  await net.settled();
});

test('detach tells a live netns by the bind\'s inode: a live one loses its veth at once, a gone one is left to the kernel', async () => {
  const net = await network();
  for (const live of [true, false]) {
    const c = container(4242);
    await net.prepare(c, mkdtempSync(join(dir, 'bundle-')));
    const bind = join(dir, `netns-${live}`);
    sys.inodes.set(bind, 4026533000);
    await net.attach(c, bind);
    const veth = `td${c.id.slice(0, 10)}`;
    sys.files.set(`/sys/class/net/${veth}/ifindex`, '9');
    if (!live) sys.inodes.set(bind, 123); // the monitor unmounted it: a plain file now
    sys.ran.length = 0;
    let deleted = false;
    sys.answers.set('ip -force', (_argv, input) => {
      deleted = input === `link del ${veth}\n`;
      sys.files.delete(`/sys/class/net/${veth}/ifindex`);
      return { stdout: '', stderr: '', code: 0 };
    });
    await net.detach(c);
    assert.equal(deleted, live, live ? 'deleted before detach returns' : 'not deleted: the kernel takes it along');
    if (!live) sys.files.delete(`/sys/class/net/${veth}/ifindex`);
    await net.settled();
    sys.answers.delete('ip -force');
  }
});
