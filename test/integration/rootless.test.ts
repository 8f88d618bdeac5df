// Rootless: tdockd started by a plain user (one the test creates, with its own
// subordinate ranges), the CLI as that user finding it by its default socket. Run,
// exec, logs, stop, rm; every namespace its own; the uid map on the user's range; a
// published port from the host's 127.0.0.1; egress to an outside host (a network
// namespace of the test's, joined to the host by a veth); limits or the warning; the
// one-line refusals; two users' daemons and a rootful one side by side; nothing left.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, spawn } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, chownSync, rmdirSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { RootlessUser } from '../helpers/rootless.ts';
import { tarArchive } from '../../images/tar-writer.ts';
import { findBusybox } from '../../images/busybox.ts';
import { TDOCK, TestDaemon, until } from '../helpers/daemon.ts';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function get(url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
  return (await res.text()).trim();
}

function sh(cmd: string[]): string {
  const r = spawnSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

const NS = ['user', 'mnt', 'net', 'pid', 'uts', 'ipc', 'cgroup'];
const tag = `tdrl${process.pid % 100000}`;

describe('rootless daemon', () => {
  const alice = new RootlessUser();
  const bob = new RootlessUser();
  // The outside host: a network namespace joined to the host by a veth pair.
  const outNs = `${tag}o`;
  const hostIf = `${tag}h`;
  const nsIf = `${tag}n`;
  const a = 10 + (process.pid % 200);
  const outside = { host: `172.31.${a}.1`, peer: `172.31.${a}.2` };
  let outServer: ReturnType<typeof spawn> | undefined;
  const www = mkdtempSync('/tmp/tdrl-www-');
  const tunMode = existsSync('/dev/net/tun') ? statSync('/dev/net/tun').mode & 0o777 : 0;
  // A v1 (or v2) subtree delegated to bob: chowned to him in every hierarchy.
  // Its own top-level group (not below the shared tdock-test, whose cpuset other
  // tests' daemons make and remove): a cpuset child can only take its parent's cpus.
  const delegated = `${tag}-bob`;
  const cgroupDirs = () => readdirSync('/sys/fs/cgroup').map((h) => join('/sys/fs/cgroup', h, delegated)).filter((d) => existsSync(d));

  before(async () => {
    alice.create().grant();
    bob.create();
    sh(['ip', 'netns', 'add', outNs]);
    sh(['ip', 'link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf, 'netns', outNs]);
    sh(['ip', 'addr', 'add', `${outside.host}/30`, 'dev', hostIf]);
    sh(['ip', 'link', 'set', hostIf, 'up']);
    sh(['ip', '-n', outNs, 'addr', 'add', `${outside.peer}/30`, 'dev', nsIf]);
    sh(['ip', '-n', outNs, 'link', 'set', nsIf, 'up']);
    sh(['ip', '-n', outNs, 'link', 'set', 'lo', 'up']);
    mkdirSync(join(www, 'd'));
    spawnSync('sh', ['-c', `echo outside-says-hi > ${www}/d/index.html`]);
    outServer = spawn('ip', ['netns', 'exec', outNs, 'busybox', 'httpd', '-f', '-p', `${outside.peer}:8099`, '-h', join(www, 'd')], { stdio: 'ignore' });
  });

  after(async () => {
    await alice.remove();
    await bob.remove();
    outServer?.kill('SIGKILL');
    spawnSync('ip', ['link', 'del', hostIf], { stdio: 'ignore' });
    spawnSync('ip', ['netns', 'del', outNs], { stdio: 'ignore' });
    rmSync(www, { recursive: true, force: true });
    for (const d of cgroupDirs().sort((x, y) => y.length - x.length)) {
      for (const sub of readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory())) rmdirSync(join(d, sub.name));
      rmdirSync(d);
    }
  });

  test('refusals name the fix: no subordinate range, too few ids, newuidmap missing or not setuid', async () => {
    let r = await bob.daemonOnce();
    assert.notEqual(r.code, 0);
    assert.match(r.stderr.trim(), new RegExp(`^tdockd: rootless: no entry for user ${bob.name} in /etc/subuid; as root: usermod --add-subuids \\S+ --add-subgids \\S+ ${bob.name}`));
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    bob.grant(1000);
    r = await bob.daemonOnce();
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, new RegExp(`user ${bob.name} has 1000 subordinate uids in /etc/subuid .*tdock needs 65536; as root: usermod`));
    bob.grant();
    // PATH without newuidmap; then one with a copy that is not setuid.
    const bin = mkdtempSync('/tmp/tdrl-bin-');
    chmodSync(bin, 0o755);
    try {
      symlinkSync('/usr/bin/readlink', join(bin, 'readlink')); // bin/tdockd's
      r = await bob.daemonOnce([], { PATH: bin });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr.trim(), /^tdockd: rootless: newuidmap not found in PATH; install it: apt-get install uidmap/);
      for (const t of ['newuidmap', 'newgidmap']) copyFileSync(`/usr/bin/${t}`, join(bin, t));
      for (const t of ['newuidmap', 'newgidmap']) chmodSync(join(bin, t), 0o755);
      r = await bob.daemonOnce([], { PATH: bin });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr.trim(), new RegExp(`^tdockd: rootless: ${bin}/newuidmap is not setuid root \\(mode 755\\); as root: chmod u\\+s ${bin}/newuidmap`));
      // slirp4netns missing: everything else there
      for (const t of ['newuidmap', 'newgidmap']) rmSync(join(bin, t));
      for (const t of ['newuidmap', 'newgidmap', 'unshare', 'getcap']) if (existsSync(`/usr/bin/${t}`)) symlinkSync(`/usr/bin/${t}`, join(bin, t));
      if (tunMode & 0o006) {
        r = await bob.daemonOnce([], { PATH: bin });
        assert.notEqual(r.code, 0);
        assert.match(r.stderr.trim(), /^tdockd: rootless: slirp4netns not found in PATH \(the rootless network needs it\); install it: apt-get install slirp4netns/);
      }
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
    // A home the containers' root cannot search: named with the host's ids (not the namespace's 0 and 1).
    if (tunMode & 0o006) {
      chmodSync(bob.home, 0o700);
      try {
        r = await bob.daemonOnce();
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, new RegExp(`the containers' root \\(uid ${bob.start}\\) cannot traverse ${bob.home} \\(mode 0700, owner ${bob.uid}\\): run "chmod o\\+x ${bob.home}"`), r.stderr);
        assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      } finally {
        chmodSync(bob.home, 0o755);
      }
    }
    assert.deepEqual(bob.processes(), []);
  });

  test('/dev/net/tun not accessible to the user: refused with the chmod that fixes it', async (t) => {
    // The device is the machine's: only when it is closed to users already (set-up opens it).
    if (tunMode & 0o006) {
      // Same check, on a device node of our own with the mode this machine had.
      const dir = mkdtempSync('/tmp/tdrl-tun-');
      chmodSync(dir, 0o755);
      try {
        sh(['mknod', '-m', '0600', join(dir, 'tun'), 'c', '10', '200']);
        const r = await alice.run([process.execPath, '--input-type=module', '-e',
          `import { checkTun } from '${join(import.meta.dirname, '../../daemon/rootless/preflight.ts')}'; try { checkTun('${alice.name}', '${join(dir, 'tun')}'); } catch (e) { console.log(e.message); }`]);
        assert.equal(r.stdout.trim(), `rootless: ${join(dir, 'tun')} is not accessible to ${alice.name} (mode 0600); as root: chmod 0666 ${join(dir, 'tun')} (most distributions ship it 0666)`, r.stderr);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
      return;
    }
    const r = await alice.daemonOnce();
    assert.notEqual(r.code, 0);
    assert.match(r.stderr.trim(), /^tdockd: rootless: \/dev\/net\/tun is not accessible to \S+ \(mode 0600\); as root: chmod 0666 \/dev\/net\/tun/);
    t.diagnostic('/dev/net/tun is 0600 here: run npm run setup (it makes it 0666); the rest of this suite needs it');
  });

  test('as a plain user: data and socket in the XDG dirs, info says rootless, run/exec/logs/stop/rm', async () => {
    assert.ok(tunMode & 0o006, '/dev/net/tun must be open to users (npm run setup makes it 0666)');
    await alice.startDaemon();
    assert.equal((alice.log.match(/no delegated cgroup/g) ?? []).length, 1, alice.log);
    const sock = join(alice.runtime, 'tdock/tdock.sock');
    const st = statSync(sock);
    assert.equal(st.mode & 0o777, 0o600);
    assert.equal(st.uid, alice.uid);
    assert.ok(existsSync(join(alice.dataDir, 'tdock.db')));
    const info = JSON.parse(await alice.ok(['info', '--json']));
    assert.equal(info.Rootless, true);
    assert.deepEqual(info.IDMappings, { Uid: { Start: alice.start, Size: 65536 }, Gid: { Start: alice.start, Size: 65536 } });
    assert.equal(info.RootlessNetwork, 'slirp4netns');
    assert.equal(info.LimitsEnforced, false);

    assert.equal((await alice.ok(['run', '--rm', 'busybox', 'id', '-u'])).trim(), '0');
    const id = (await alice.ok(['run', '-d', '--name', 'web', 'busybox', 'sh', '-c', 'echo started; exec sleep 1000'])).trim();
    assert.equal((await alice.ok(['exec', 'web', 'sh', '-c', 'echo $((6*7))'])).trim(), '42');
    // exec -it from the user's terminal (script gives it one of 30x100): a pty of the container's, its size.
    // The command waits for a line typed once its output is on the screen (a tty exec's output
    // that races its exit can be lost: see the todo test in shim-exec.test.ts).
    const [bin, ...args] = alice.as(['script', '-qec', `stty rows 30 cols 100; ${TDOCK} exec -it web sh -c 'tty; stty size; read x; exit 4'; echo cli=$?`, '/dev/null']);
    const term = spawn(bin!, args, { cwd: '/', stdio: ['pipe', 'pipe', 'pipe'] });
    let screen = '';
    term.stdout!.setEncoding('utf8').on('data', (d: string) => (screen += d));
    const ended = new Promise((r) => term.once('close', r));
    await until('the exec output', () => /30 100/.test(screen), 20000);
    term.stdin!.end('q\r');
    await ended;
    screen = screen.replaceAll('\r', '');
    assert.match(screen, /^\/dev\/pts\/\d+$/m, screen);
    assert.match(screen, /^30 100$/m, screen);
    assert.match(screen, /^cli=4$/m, screen);
    assert.equal(await until('the log', async () => (await alice.ok(['logs', 'web'])).includes('started') && 'yes'), 'yes');
    const pid = Number((await alice.ok(['inspect', '-f', '{{.State.Pid}}', 'web'])).trim());
    for (const ns of NS) assert.notEqual(readlinkSync(`/proc/${pid}/ns/${ns}`), readlinkSync(`/proc/self/ns/${ns}`), `${ns} namespace`);
    // Seen from the host: container root is the first id of the user's range.
    assert.deepEqual(readFileSync(`/proc/${pid}/uid_map`, 'utf8').trim().split(/\s+/).map(Number), [0, alice.start, 65536]);
    assert.deepEqual(readFileSync(`/proc/${pid}/gid_map`, 'utf8').trim().split(/\s+/).map(Number), [0, alice.start, 65536]);
    assert.equal(Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]), alice.start);
    await alice.ok(['stop', '-t', '1', 'web']);
    assert.match(await alice.ok(['ps', '-a']), /Exited .* web\s*$/m);
    await alice.ok(['rm', id]);
    assert.equal((await alice.ok(['ps', '-aq'])).trim(), '');
  });

  test('published port from the host 127.0.0.1; a port below the sysctl is refused naming it', async () => {
    const port = await freePort();
    const web = (await alice.ok(['run', '-d', '-p', `${port}:80`, 'busybox', 'sh', '-c', 'mkdir -p /www && echo rootless-web > /www/index.html && exec httpd -f -p 80 -h /www'])).trim();
    try {
      assert.equal(await until('the page on 127.0.0.1', () => get(`http://127.0.0.1:${port}/`).catch(() => '')), 'rootless-web');
      assert.equal((await alice.ok(['port', web])).trim(), `80/tcp -> 0.0.0.0:${port}`);
      // and at the host's other addresses
      assert.equal(await get(`http://${outside.host}:${port}/`), 'rootless-web');
      // restart: the forward goes and comes back on the same host port
      await alice.ok(['restart', '-t', '0', web]);
      assert.equal(await until('the page after restart', () => get(`http://127.0.0.1:${port}/`).catch(() => '')), 'rootless-web');
      // -p 80: a host port picked free on the host (by the launcher)
      const rnd = (await alice.ok(['run', '-d', '-p', '127.0.0.1::80', 'busybox', 'sh', '-c', 'mkdir /www && echo random > /www/index.html && exec httpd -f -p 80 -h /www'])).trim();
      const hp = Number(/^80\/tcp -> 127\.0\.0\.1:(\d+)$/m.exec(await alice.ok(['port', rnd]))?.[1]);
      assert.ok(hp > 0);
      assert.equal(await until('the random port', () => get(`http://127.0.0.1:${hp}/`).catch(() => '')), 'random');
      await alice.ok(['rm', '-f', rnd]);
    } finally {
      await alice.ok(['rm', '-f', web]);
    }
    // Gone from the host with the container.
    await assert.rejects(get(`http://127.0.0.1:${port}/`));
    // A host port a host process holds: the one line rootful gives, code 125 (not "is tdockd running?").
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, '0.0.0.0', () => r()));
    const held = (busy.address() as { port: number }).port;
    try {
      const r = await alice.cli(['run', '-d', '--name', 'busy', '-p', `${held}:80`, 'busybox', 'sleep', '1000']);
      assert.equal(r.code, 125, r.stderr);
      assert.equal(r.stderr.trim(), `Error: port ${held}/tcp on 0.0.0.0 is already in use (by a host process): choose another host port`);
      await alice.ok(['rm', '-f', 'busy']);
    } finally {
      busy.close();
    }
    const start = Number(readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8'));
    if (start > 1) {
      const r = await alice.cli(['run', '--rm', '-p', `${start - 1}:80`, 'busybox', 'true']);
      assert.equal(r.code, 125);
      assert.match(r.stderr.trim(), new RegExp(`^Error: cannot publish port ${start - 1} rootless: ports below ${start} need root \\(sysctl net\\.ipv4\\.ip_unprivileged_port_start=${start}\\)`));
      assert.equal(r.stderr.trim().split('\n').length, 1);
    }
    assert.equal((await alice.ok(['ps', '-aq'])).trim(), '');
  });

  test('egress to an outside host; container to container', async () => {
    assert.equal((await alice.ok(['run', '--rm', 'busybox', 'wget', '-qO-', `http://${outside.peer}:8099/`])).trim(), 'outside-says-hi');
    const srv = (await alice.ok(['run', '-d', 'busybox', 'sh', '-c', 'mkdir /w && echo neighbour > /w/index.html && exec httpd -f -p 80 -h /w'])).trim();
    try {
      const ip = (await alice.ok(['inspect', '-f', '{{.NetworkSettings.IPAddress}}', srv])).trim();
      assert.equal(await until('the neighbour', async () => {
        const r = await alice.cli(['run', '--rm', 'busybox', 'wget', '-qO-', `http://${ip}/`]);
        return r.code === 0 && r.stdout.trim();
      }), 'neighbour');
    } finally {
      await alice.ok(['rm', '-f', srv]);
    }
  });

  test('named volume: container root writes, data kept on the user\'s range; binds: one warning, a made source writable', async () => {
    let r = await alice.cli(['run', '--rm', '-v', 'rlvol:/data', 'busybox', 'sh', '-c', 'echo kept > /data/f && stat -c "%u:%g" /data /data/f']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '0:0\n0:0\n');
    const data = join(alice.dataDir, 'volumes/rlvol/_data');
    // On the host: the container's root is the user's first subordinate id.
    assert.equal(statSync(join(data, 'f')).uid, alice.start);
    assert.equal((await alice.ok(['run', '--rm', '-v', 'rlvol:/data:ro', 'busybox', 'cat', '/data/f'])).trim(), 'kept');
    await alice.ok(['volume', 'rm', 'rlvol']);
    assert.ok(!existsSync(join(alice.dataDir, 'volumes/rlvol')));
    // Copy-up keeps the image's owners (uid 70: the range's 71st id on the host), and uid 70 writes.
    const img = join(alice.runtime, 'pg.tar');
    writeFileSync(img, tarArchive([
      { path: 'bin/', type: 'dir', mode: 0o755 },
      { path: 'bin/busybox', data: readFileSync(findBusybox()), mode: 0o755 },
      { path: 'bin/sh', type: 'symlink', linkpath: 'busybox' },
      { path: 'var/', type: 'dir', mode: 0o755 },
      { path: 'var/pg/', type: 'dir', mode: 0o700, uid: 70, gid: 70 },
      { path: 'var/pg/PG_VERSION', data: '16\n', mode: 0o600, uid: 70, gid: 70 },
    ]));
    chownSync(img, alice.uid, alice.gid);
    await alice.ok(['import', img, 'pg:1']);
    r = await alice.cli(['run', '--rm', '-u', '70:70', '-v', 'pgdata:/var/pg', 'pg:1', 'sh', '-c', 'cat /var/pg/PG_VERSION; echo row > /var/pg/2 && stat -c "%u:%g %a" /var/pg /var/pg/2']);
    assert.equal(r.stdout, '16\n70:70 700\n70:70 644\n', r.stderr);
    const pg = join(alice.dataDir, 'volumes/pgdata/_data');
    assert.equal(`${statSync(pg).uid} ${statSync(join(pg, '2')).uid}`, `${alice.start + 70} ${alice.start + 70}`);
    await alice.ok(['volume', 'rm', 'pgdata']);
    await alice.ok(['rmi', 'pg:1']);
    rmSync(img);
    // A bind of the user's own directory: bound plain (no idmapped mounts rootless), said once.
    const src = join(alice.home, 'src');
    alice.runSync(['sh', '-c', `mkdir ${src} && echo mine > ${src}/f`]);
    r = await alice.cli(['run', '--rm', '-v', `${src}:/src`, 'busybox', 'sh', '-c', 'cat /src/f; stat -c %u /src/f']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'mine\n65534\n');
    assert.match(r.stderr.trim(), new RegExp(`^WARNING: rootless: ${src} is bound without id mapping: files show their owners shifted into the container's range \\(yours as nobody\\)`));
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    // A -v source tdock makes belongs to the container's root, as rootful (there: root).
    const made = join(alice.home, 'made/here');
    r = await alice.cli(['run', '--rm', '-v', `${made}:/m`, 'busybox', 'sh', '-c', 'echo w > /m/x && stat -c %u /m']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '0\n');
    assert.equal(statSync(made).uid, alice.start);
    // --read-only with a tmpfs: as rootful
    r = await alice.cli(['run', '--rm', '--read-only', '--tmpfs', '/t', 'busybox', 'sh', '-c', 'touch /x 2>/dev/null || echo ro; touch /t/y && stat -c %u /t/y']);
    assert.equal(r.stdout, 'ro\n0\n', r.stderr);
  });

  test('events, a healthcheck, system df, save and load: as rootful', async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    const c = (await alice.ok(['run', '-d', '--name', 'hc', '--health-cmd', 'test -e /tmp/ok', '--health-interval', '1s', '--health-retries', '1', 'busybox', 'sh', '-c', 'touch /tmp/ok; dd if=/dev/zero of=/big bs=1k count=300 2>/dev/null; exec sleep 1000'])).trim();
    try {
      assert.equal(await until('healthy', async () => (await alice.ok(['inspect', '-f', '{{.State.Health.Status}}', c])).trim() === 'healthy' && 'yes'), 'yes');
      // the 300 kB it wrote (its upper dir, owned by the user's range, measured by the daemon)
      const df = await alice.ok(['system', 'df']);
      assert.match(df, /^Containers\s+1\s+1\s+3\d\d(\.\d)?kB/m, df);
    } finally {
      await alice.ok(['rm', '-f', c]);
    }
    const ev = await alice.ok(['events', '--since', String(since), '--until', String(Math.floor(Date.now() / 1000) + 1), '--filter', `container=${c}`, '--format', '{{.Action}}']);
    for (const a of ['create', 'start', 'health_status: healthy', 'kill', 'die', 'destroy']) assert.ok(ev.split('\n').includes(a), `${a} in ${ev}`);
    const tar = join(alice.runtime, 'bb.tar');
    await alice.ok(['save', '-o', tar, 'busybox']);
    assert.equal(statSync(tar).uid, alice.uid);
    await alice.ok(['rmi', 'busybox']);
    assert.match(await alice.ok(['load', '-i', tar]), /^Loaded image: busybox:latest$/m);
    assert.equal((await alice.ok(['run', '--rm', 'busybox', 'echo', 'loaded'])).trim(), 'loaded');
    rmSync(tar);
  });

  test('no delegated cgroup: run -m warns in one line and runs; with a delegated subtree the limit is set', async () => {
    const r = await alice.cli(['run', '--rm', '-m', '64m', 'busybox', 'echo', 'ran']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'ran');
    assert.equal(r.stderr.trim(), `WARNING: memory limit not enforced: no delegated cgroup for user ${alice.name}`);
    // bob gets a subtree of every hierarchy chowned to him: limits apply, no warning.
    const procs: string[] = [];
    for (const h of readdirSync('/sys/fs/cgroup')) {
      const base = join('/sys/fs/cgroup', h);
      if (!existsSync(join(base, 'cgroup.procs'))) continue;
      const dir = join(base, delegated);
      mkdirSync(dir, { recursive: true });
      if (h.includes('cpuset')) {
        for (const f of ['cpuset.cpus', 'cpuset.mems']) {
          spawnSync('sh', ['-c', `cat ${base}/${f} > ${dir}/${f}`]);
        }
      }
      chownSync(dir, bob.uid, bob.gid);
      for (const f of readdirSync(dir)) if (f === 'cgroup.procs' || f === 'tasks') chownSync(join(dir, f), bob.uid, bob.gid);
      procs.push(join(dir, 'cgroup.procs'));
    }
    await bob.startDaemon(['--cgroup-parent', delegated], procs);
    assert.doesNotMatch(bob.log, /no delegated cgroup/);
    const info = JSON.parse(await bob.ok(['info', '--json']));
    assert.equal(info.LimitsEnforced, true);
    const id = (await bob.ok(['run', '-d', '-m', '64m', 'busybox', 'sleep', '1000'])).trim();
    try {
      const mem = ['/sys/fs/cgroup/memory', '/sys/fs/cgroup'].map((m) => join(m, delegated, id)).find((d) => existsSync(d));
      assert.ok(mem, 'the container has a memory cgroup in the delegated subtree');
      const limit = existsSync(join(mem!, 'memory.limit_in_bytes')) ? 'memory.limit_in_bytes' : 'memory.max';
      assert.equal(readFileSync(join(mem!, limit), 'utf8').trim(), String(64 * 1024 * 1024));
    } finally {
      await bob.ok(['rm', '-f', id]);
    }
  });

  test('two users and a rootful daemon side by side, each with its own bridge "tdock0"-style names', async (t) => {
    const root = new TestDaemon();
    try {
      await root.start();
      const pa = await freePort();
      const pb = await freePort();
      let ca = '';
      let cb = '';
      t.after(async () => {
        for (const [u, c] of [[alice, ca], [bob, cb]] as const) if (c) await u.cli(['rm', '-f', c]);
      });
      ca = (await alice.ok(['run', '-d', '-p', `${pa}:80`, 'busybox', 'sh', '-c', 'mkdir /w && echo alice > /w/index.html && exec httpd -f -p 80 -h /w'])).trim();
      cb = (await bob.ok(['run', '-d', '-p', `${pb}:80`, 'busybox', 'sh', '-c', 'mkdir /w && echo bob > /w/index.html && exec httpd -f -p 80 -h /w'])).trim();
      assert.equal(await until('alice', () => get(`http://127.0.0.1:${pa}/`).catch(() => '')), 'alice');
      assert.equal(await until('bob', () => get(`http://127.0.0.1:${pb}/`).catch(() => '')), 'bob');
      assert.equal((await root.ok(['run', '--rm', 'busybox', 'echo', 'root'])).trim(), 'root');
      // Each sees only its own containers.
      assert.deepEqual((await alice.ok(['ps', '-q', '--no-trunc'])).trim().split('\n'), [ca]);
      assert.deepEqual((await bob.ok(['ps', '-q', '--no-trunc'])).trim().split('\n'), [cb]);
      await alice.ok(['rm', '-f', ca]);
      await bob.ok(['rm', '-f', cb]);
    } finally {
      await root.cleanup();
    }
  });

  test('stopped (or its launcher killed), nothing is left: processes, namespaces, mounts; then the users go', async () => {
    // bob's launcher is killed with a container running: the daemon inside stops it and goes.
    const kept = (await bob.ok(['run', '-d', '--restart', 'unless-stopped', 'busybox', 'sleep', '1000'])).trim();
    const exited = new Promise((r) => bob.daemon!.once('exit', r));
    bob.daemon!.kill('SIGKILL');
    await exited;
    await until('bob\'s daemon, container and slirp4netns to go', () => bob.processes().length === 0, 20000);
    assert.match(bob.log, /the rootless launcher exited: shutting down/);
    // Its next daemon starts it again: the launcher's death was no stop by the user.
    await bob.startDaemon();
    assert.equal((await bob.ok(['inspect', '-f', '{{.State.Status}}', kept])).trim(), 'running', bob.log);
    // A new daemon of alice's (new namespaces, same mapping) uses what the last one stored;
    // containers it stopped at its SIGTERM (rootless: they cannot outlive it) were not
    // stopped by the user, so --restart unless-stopped and always bring them back.
    const us = (await alice.ok(['run', '-d', '--restart', 'unless-stopped', 'busybox', 'sleep', '1000'])).trim();
    const al = (await alice.ok(['run', '-d', '--restart', 'always', 'busybox', 'sleep', '1000'])).trim();
    const down = (await alice.ok(['run', '-d', '--restart', 'unless-stopped', 'busybox', 'sleep', '1000'])).trim();
    await alice.ok(['stop', '-t', '0', down]);
    // The user unit's reload (ExecReload: SIGHUP to the launcher) leaves it all running.
    alice.daemon!.kill('SIGHUP');
    await until('the SIGHUP logged', () => alice.log.includes('SIGHUP'));
    assert.equal((await alice.ok(['inspect', '-f', '{{.State.Status}}', us])).trim(), 'running', alice.log);
    await alice.stopDaemon();
    await alice.startDaemon();
    for (const c of [us, al]) assert.equal((await alice.ok(['inspect', '-f', '{{.State.Status}}', c])).trim(), 'running', alice.log);
    assert.equal((await alice.ok(['inspect', '-f', '{{.State.Status}}', down])).trim(), 'exited');
    assert.equal((await alice.ok(['run', '--rm', 'busybox', 'echo', 'again'])).trim(), 'again');
    for (const u of [alice, bob]) {
      await u.stopDaemon();
      if (u === alice) assert.equal(u.daemon?.exitCode, 0, u.log);
      assert.deepEqual(u.processes(), [], `processes of ${u.name}`);
      assert.deepEqual(u.mounts(), []);
      assert.ok(!existsSync(join(u.runtime, 'tdock/tdock.sock')));
    }
    // slirp4netns and the daemon's namespaces went with the processes (a namespace lives
    // only while a process or mount holds it; no process of the users is left above).
    await alice.remove();
    await bob.remove();
    assert.ok(!alice.exists() && !bob.exists());
    for (const f of ['/etc/subuid', '/etc/subgid']) assert.doesNotMatch(readFileSync(f, 'utf8'), new RegExp(`^(${alice.name}|${bob.name}):`, 'm'));
  });
});
