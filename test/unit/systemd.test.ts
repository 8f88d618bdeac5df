// The unit file must pass systemd's own checker (no systemd runs as PID 1 here).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';

const repo = join(import.meta.dirname, '..', '..');

test('systemd/tdockd.service and tdockd.socket pass systemd-analyze verify; notify, socket activation, containers kept on stop', { skip: !existsSync('/usr/bin/systemd-analyze') && 'systemd-analyze not installed' }, () => {
  const unit = readFileSync(join(repo, 'systemd', 'tdockd.service'), 'utf8');
  assert.match(unit, /^KillMode=process$/m);
  assert.match(unit, /^Delegate=yes$/m);
  assert.match(unit, /^Type=notify$/m);
  assert.match(unit, /^NotifyAccess=all$/m);
  const socket = readFileSync(join(repo, 'systemd', 'tdockd.socket'), 'utf8');
  assert.match(socket, /^ListenStream=\/run\/tdock\/tdock\.sock$/m);
  assert.match(socket, /^SocketMode=0660$/m);
  assert.match(socket, /^SocketGroup=tdock$/m);
  const dir = mkdtempSync(join(tmpdir(), 'tdock-unit-'));
  try {
    // Point ExecStart at this checkout's daemon so verify checks a real executable.
    writeFileSync(join(dir, 'tdockd.service'), unit.replace('/usr/local/bin/tdockd', join(repo, 'bin', 'tdockd')));
    writeFileSync(join(dir, 'tdockd.socket'), socket);
    const r = spawnSync('systemd-analyze', ['verify', join(dir, 'tdockd.service'), join(dir, 'tdockd.socket')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('systemd/user/tdockd.service (rootless) passes systemd-analyze --user verify; notify from the daemon inside the launcher, mixed kill', { skip: !existsSync('/usr/bin/systemd-analyze') && 'systemd-analyze not installed' }, () => {
  const unit = readFileSync(join(repo, 'systemd', 'user', 'tdockd.service'), 'utf8');
  assert.match(unit, /^Type=notify$/m);
  assert.match(unit, /^NotifyAccess=all$/m);
  assert.match(unit, /^KillMode=mixed$/m);
  assert.match(unit, /^WantedBy=default\.target$/m);
  const dir = mkdtempSync(join(tmpdir(), 'tdock-user-unit-'));
  try {
    writeFileSync(join(dir, 'tdockd.service'), unit.replace('/usr/local/bin/tdockd', join(repo, 'bin', 'tdockd')));
    // a user manager's runtime dir of our own (none runs here)
    const rt = join(dir, 'rt');
    mkdirSync(rt);
    const r = spawnSync('systemd-analyze', ['--user', 'verify', join(dir, 'tdockd.service')], { encoding: 'utf8', env: { ...process.env, XDG_RUNTIME_DIR: rt } });
    assert.equal(r.status, 0, r.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
