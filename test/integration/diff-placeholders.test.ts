// The empty files the runtime binds /etc/hostname, /etc/hosts and /etc/resolv.conf over
// are not the container's changes: `docker diff` of a container that changed nothing is
// empty (Docker keeps them in an init layer), and `commit` does not bake them in.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { suiteDaemon } from '../helpers/daemon.ts';

describe('diff and commit leave out the runtime\'s /etc placeholders', () => {
  const d = suiteDaemon();

  test('a container that changed nothing has no diff, running or stopped; a real change still shows', async () => {
    const c = (await d.ok(['run', '-d', 'busybox', 'sleep', '1000'])).trim();
    try {
      assert.equal(await d.ok(['diff', c]), '');
      await d.ok(['stop', '-t', '0', c]);
      assert.equal(await d.ok(['diff', c]), '');
    } finally {
      await d.cli(['rm', '-f', c]);
    }
    const c2 = (await d.ok(['run', '-d', 'busybox', 'sh', '-c', 'echo x > /etc/mine; sleep 1000'])).trim();
    try {
      for (let i = 0; i < 100 && !(await d.ok(['diff', c2])).includes('/etc/mine'); i++) await new Promise((r) => setTimeout(r, 50));
      assert.equal(await d.ok(['diff', c2]), 'C /etc\nA /etc/mine\n');
    } finally {
      await d.cli(['rm', '-f', c2]);
    }
  });

  test('commit: the new layer has the container\'s files, not the placeholders', async () => {
    const id = 'placeholder-commit';
    await d.ok(['run', '--name', id, 'busybox', 'sh', '-c', 'echo y > /added']);
    try {
      await d.ok(['commit', id, 'placeholder-test:1']);
      const fresh = (await d.ok(['create', 'placeholder-test:1'])).trim();
      try {
        const r = spawnSync('bash', ['-c', `bin/tdock export ${fresh} | tar t`], { env: { ...process.env, TDOCK_HOST: d.host }, encoding: 'utf8' });
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stdout, /^added$/m);
        assert.doesNotMatch(r.stdout, /etc\/(hostname|hosts|resolv\.conf)/);
        assert.equal(await d.ok(['diff', fresh]), '');
      } finally {
        await d.cli(['rm', '-f', fresh]);
      }
    } finally {
      await d.cli(['rm', '-f', id]);
      await d.cli(['rmi', 'placeholder-test:1']);
    }
  });
});
