// Registry pulls through the real CLI and daemon: tdock login against a registry with
// token auth, pull of a 3-layer image with a whiteout and an opaque directory, run of
// it right after, image inspect, rmi and image prune.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { tarArchive } from '../../images/tar-writer.ts';
import { findBusybox } from '../../images/busybox.ts';
import { TestDaemon } from '../helpers/daemon.ts';
import { haveRegistry, Pusher, pushImage, startRegistry, startTokenService } from './registry-harness.ts';
import type { RegistryProcess, TokenService } from './registry-harness.ts';

let haveOpenssl = true;
try {
  execFileSync('openssl', ['version'], { stdio: 'ignore' });
} catch {
  haveOpenssl = false;
}
const skip = !haveRegistry ? 'docker-registry is not installed' : !haveOpenssl ? 'openssl is not installed' : false;

describe('tdock login / pull / run / prune against a real registry', { skip }, () => {
  const d = new TestDaemon();
  let scratch = '';
  let reg: RegistryProcess;
  let tokens: TokenService;

  before(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'tdk-regcli-'));
    tokens = await startTokenService(scratch, { alice: 's3cret' });
    reg = await startRegistry(join(scratch, 'registry'), tokens.auth);
    const p = new Pusher(reg.base, { username: 'alice', password: 's3cret' });
    const bb = readFileSync(findBusybox());
    await pushImage(p, 'private/app', 'v1', [
      { tar: tarArchive([
        { path: 'bin/', type: 'dir', mode: 0o755 },
        { path: 'bin/busybox', data: bb, mode: 0o755 },
        { path: 'bin/sh', type: 'symlink', linkpath: 'busybox' },
        { path: 'bin/ls', type: 'symlink', linkpath: 'busybox' },
        { path: 'bin/cat', type: 'symlink', linkpath: 'busybox' },
        { path: 'etc/', type: 'dir', mode: 0o755 },
        { path: 'etc/gone', data: 'deleted by layer 2\n' },
        { path: 'data/', type: 'dir', mode: 0o755 },
        { path: 'data/old', data: 'hidden by the opaque dir\n' },
      ]) },
      { tar: tarArchive([{ path: 'etc/.wh.gone', data: '' }, { path: 'data/', type: 'dir', mode: 0o755 }, { path: 'data/.wh..wh..opq', data: '' }, { path: 'data/new', data: 'new\n' }]), compression: 'none' },
      { tar: tarArchive([{ path: 'etc/motd', data: 'three layers\n' }]) },
    ], { config: { Cmd: ['/bin/cat', '/etc/motd'], Env: ['FROM_IMAGE=yes'], WorkingDir: '/data', ExposedPorts: { '80/tcp': {} } } });
    await d.start();
  });
  after(async () => {
    await d.cleanup();
    await reg?.stop();
    await tokens?.stop();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  test('an anonymous pull of a private repository is refused in one line', async () => {
    const r = await d.cli(['pull', `${reg.host}/private/app:v1`]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /unauthorized/);
    assert.equal(r.stderr.trim().split('\n').length, 1);
  });

  test('login, pull, run right after, inspect, logout', async () => {
    const bad = await d.cli(['login', '-u', 'alice', '--password-stdin', reg.host], { input: 'wrong\n' });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /unauthorized/);
    assert.match(await d.ok(['login', '-u', 'alice', '--password-stdin', reg.host], { input: 's3cret\n' }), /Login Succeeded/);
    const pull = await d.ok(['pull', `${reg.host}/private/app:v1`]);
    assert.match(pull, /Pull complete/);
    assert.match(pull, /Digest: sha256:/);
    const ref = `${reg.host}/private/app:v1`;
    assert.equal(await d.ok(['run', '--rm', ref]), 'three layers\n');
    // Whiteout and opaque directory applied; image config used.
    const out = await d.ok(['run', '--rm', ref, 'sh', '-c', 'ls /etc; ls /data; pwd; echo $FROM_IMAGE']);
    // (hostname, hosts and resolv.conf are the daemon's bind mounts)
    assert.deepEqual(out.trim().split('\n'), ['hostname', 'hosts', 'motd', 'resolv.conf', 'new', '/data', 'yes']);
    const info = JSON.parse(await d.ok(['image', 'inspect', ref]))[0];
    assert.deepEqual(info.Config.ExposedPorts, { '80/tcp': {} });
    assert.equal(info.RootFS.Layers.length, 3);
    assert.match(await d.ok(['logout', reg.host]), /Removing login credentials/);
    await d.ok(['rmi', ref]);
    assert.match(await d.ok(['image', 'prune', '-f']), /Total reclaimed space/);
  });
});
