// The unit file must pass systemd's own checker (no systemd runs as PID 1 here).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';

const repo = join(import.meta.dirname, '..', '..');

test('systemd/tdockd.service passes systemd-analyze verify and keeps containers on stop', { skip: !existsSync('/usr/bin/systemd-analyze') && 'systemd-analyze not installed' }, () => {
  const unit = readFileSync(join(repo, 'systemd', 'tdockd.service'), 'utf8');
  assert.match(unit, /^KillMode=process$/m);
  assert.match(unit, /^Delegate=yes$/m);
  const dir = mkdtempSync(join(tmpdir(), 'tdock-unit-'));
  try {
    // Point ExecStart at this checkout's daemon so verify checks a real executable.
    writeFileSync(join(dir, 'tdockd.service'), unit.replace('/usr/local/bin/tdockd', join(repo, 'bin', 'tdockd')));
    const r = spawnSync('systemd-analyze', ['verify', join(dir, 'tdockd.service')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
