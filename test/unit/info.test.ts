// tdock info's counts, as Docker's daemon keeps them (its state counter): only a
// container whose State is "running" counts as running; one waiting out a restart
// back-off ("restarting") is stopped, as are created, exited and dead ones.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { infoDocument } from '../../daemon/info.ts';
import type { State } from '../../daemon/containers/repository.ts';

test('info: a restarting container counts as stopped (Docker\'s state counter), paused apart', () => {
  const root = mkdtempSync(join(tmpdir(), 'tdock-info-'));
  try {
    const states: State[] = ['running', 'restarting', 'paused', 'created', 'exited', 'dead'];
    const doc = infoDocument({
      id: 'x', version: '0', root, execRoot: root, socketPath: join(root, 's.sock'), rootless: false,
      idMaps: { uid: { start: 100000, size: 65536 }, gid: { start: 100000, size: 65536 } },
      cgroupVersion: 2, cgroupParent: 'p', logDefaults: { maxSize: 0, maxFile: 1 }, insecureRegistries: [],
      liveRestore: true, limitsEnforced: true, containerStates: () => states, imageCount: () => 0,
    });
    assert.deepEqual(
      [doc.Containers, doc.ContainersRunning, doc.ContainersPaused, doc.ContainersStopped],
      [6, 1, 1, 4],
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
