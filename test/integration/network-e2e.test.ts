// Networking through the real CLI and daemon: published ports, conflicts, IPAM
// exhaustion, network modes, and no leaks. (Reachability from an outside host and
// hairpin are covered at the module level in network.test.ts.)
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { TestDaemon, suiteDaemon, until } from '../helpers/daemon.ts';

const HTTPD = ['sh', '-c', 'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www'];

async function get(url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
  return (await res.text()).trim();
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

describe('bridge networking end to end', () => {
  const d = suiteDaemon();

  test('-p publishes on 127.0.0.1 and on the gateway address; ps, port and inspect show it', async () => {
    const port = await freePort();
    const id = (await d.ok(['run', '-d', '--hostname', 'web1', '-p', `${port}:80`, 'busybox', ...HTTPD])).trim();
    try {
      assert.equal(await until('the page on 127.0.0.1', () => get(`http://127.0.0.1:${port}/`).catch(() => '')), 'web1');
      const info = await d.inspect(id);
      const ns = info.NetworkSettings;
      assert.match(ns.IPAddress, /^10\./);
      assert.equal(ns.Ports['80/tcp'][0].HostPort, String(port));
      assert.match(ns.MacAddress, /^02:42:/);
      assert.equal(await get(`http://${ns.Gateway}:${port}/`), 'web1');
      assert.match(await d.ok(['ps']), new RegExp(`0\\.0\\.0\\.0:${port}->80/tcp`));
      assert.equal((await d.ok(['port', id])).trim(), `80/tcp -> 0.0.0.0:${port}`);
      // Another container reaches it by IP, and through the host's published port (hairpin).
      assert.equal((await d.ok(['run', '--rm', 'busybox', 'wget', '-qO-', `http://${ns.IPAddress}/`])).trim(), 'web1');
      assert.equal((await d.ok(['run', '--rm', 'busybox', 'wget', '-qO-', `http://${ns.Gateway}:${port}/`])).trim(), 'web1');
      // The container reaches itself through the published port.
      assert.equal((await d.ok(['exec', id, 'wget', '-qO-', `http://${ns.Gateway}:${port}/`])).trim(), 'web1');
    } finally {
      await d.ok(['rm', '-f', id]);
    }
  });

  test('-p CONTAINERPORT picks a free host port', async () => {
    const id = (await d.ok(['run', '-d', '-p', '80', 'busybox', ...HTTPD])).trim();
    try {
      const line = (await d.ok(['port', id])).trim();
      const m = /^80\/tcp -> 0\.0\.0\.0:(\d+)$/.exec(line);
      assert.ok(m, line);
      assert.equal(await until('the page', () => get(`http://127.0.0.1:${m![1]}/`).catch(() => '')), id.slice(0, 12));
    } finally {
      await d.ok(['rm', '-f', id]);
    }
  });

  test('a port published by another container or bound by a host process is refused; nothing half-made', async () => {
    const port = await freePort();
    const first = (await d.ok(['run', '-d', '-p', `${port}:80`, 'busybox', 'sleep', '1000'])).trim();
    try {
      const r = await d.cli(['run', '--rm', '-p', `${port}:80`, 'busybox', 'true']);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, new RegExp(`port ${port}/tcp .*already in use`));
      assert.equal(r.stderr.trim().split('\n').length, 1);
      assert.deepEqual((await d.ok(['ps', '-aq'])).trim().split('\n'), [first.slice(0, 12)]);
    } finally {
      await d.ok(['rm', '-f', first]);
    }
    const busy = await freePort();
    const server = createServer().listen(busy, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    try {
      const r = await d.cli(['run', '--rm', '-p', `127.0.0.1:${busy}:80`, 'busybox', 'true']);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /already in use \(by a host process\)/);
      assert.equal((await d.ok(['ps', '-aq'])).trim(), '');
    } finally {
      server.close();
    }
  });

  test('--network none has only loopback; --network host shares the host\'s interfaces', async () => {
    const none = await d.ok(['run', '--rm', '--network', 'none', 'busybox', 'ls', '/sys/class/net']);
    assert.deepEqual(none.trim().split(/\s+/), ['lo']);
    const host = await d.ok(['run', '--rm', '--network', 'host', 'busybox', 'ls', '/sys/class/net']);
    assert.ok(host.split(/\s+/).includes(d.bridge), host);
    const bridge = await d.ok(['run', '--rm', 'busybox', 'ls', '/sys/class/net']);
    assert.deepEqual(bridge.trim().split(/\s+/).sort(), ['eth0', 'lo']);
  });

  test('/etc/hosts, /etc/hostname and /etc/resolv.conf are written per container; --dns overrides', async () => {
    const out = await d.ok(['run', '--rm', '--name', 'named1', '--hostname', 'h1', '--dns', '198.51.100.53', 'busybox', 'sh', '-c', 'cat /etc/hostname /etc/hosts /etc/resolv.conf']);
    assert.match(out, /^h1$/m);
    assert.match(out, /^10\.\S+\s+h1 named1$/m);
    assert.match(out, /^nameserver 198\.51\.100\.53$/m);
  });

  test('50 run --rm -p leave no veth, rule, lease or port behind', async () => {
    const port = await freePort();
    for (let i = 0; i < 50; i++) {
      const r = await d.cli(['run', '--rm', '-p', `${port}:80`, 'busybox', 'true']);
      assert.equal(r.code, 0, r.stderr);
    }
    assert.deepEqual(d.leftovers(), []);
    const info = JSON.parse(await d.ok(['info', '--json']));
    assert.ok(info.Network, 'info shows the network');
    await until('veths gone', async () => {
      const { execFileSync } = await import('node:child_process');
      const links = execFileSync('ip', ['-o', 'link', 'show', 'master', d.bridge], { encoding: 'utf8' });
      const rules = execFileSync('nft', ['list', 'table', 'ip', d.bridge.replace(/[^a-zA-Z0-9_]/g, '_')], { encoding: 'utf8' });
      return links.trim() === '' && !rules.includes(`${port} :`);
    });
  });
});

describe('IPAM exhaustion', () => {
  test('a /29 runs out after 5 containers with a clear error, and recovers after rm', async () => {
    const d = new TestDaemon({ subnet: `10.${190 + (process.pid % 9)}.${process.pid % 250}.0/29` });
    try {
      await d.start();
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push((await d.ok(['run', '-d', 'busybox', 'sleep', '1000'])).trim());
      const r = await d.cli(['run', '--rm', 'busybox', 'true']);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /no free IP address in 10\.\d+\.\d+\.0\/29/);
      assert.equal(r.stderr.trim().split('\n').length, 1);
      await d.ok(['rm', '-f', ids.pop()!]);
      await until('the lease to come back', async () => (await d.cli(['run', '--rm', 'busybox', 'true'])).code === 0);
      for (const id of ids) await d.ok(['rm', '-f', id]);
      assert.deepEqual(d.leftovers(), []);
    } finally {
      await d.cleanup();
    }
  });
});
