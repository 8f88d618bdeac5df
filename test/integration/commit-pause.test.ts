// commit -p (the default) freezes the running container for the time of the commit, as
// Docker does (pause and unpause events around it); --pause=false does not; the container
// runs on afterwards either way.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { suiteDaemon } from '../helpers/daemon.ts';

describe('tdock commit -p', () => {
  const d = suiteDaemon();

  test('a running container is paused while it is committed, and runs on', async () => {
    const c = (await d.ok(['run', '-d', 'busybox', 'sh', '-c', 'i=0; while :; do i=$((i+1)); echo $i > /counter; done'])).trim();
    try {
      const since = String(Date.now() / 1000 - 1);
      await d.ok(['commit', c, 'paused-commit:1']);
      const events = await d.ok(['events', '--since', since, '--until', String(Date.now() / 1000 + 1), '--filter', `container=${c}`, '--format', '{{.Action}}']);
      assert.deepEqual(events.trim().split('\n').filter((a) => ['pause', 'unpause', 'commit'].includes(a)), ['pause', 'commit', 'unpause']); // Docker's order: the unpause is deferred
      // thawed: the writer goes on
      const a = (await d.ok(['exec', c, 'cat', '/counter'])).trim();
      let b = a;
      for (let i = 0; i < 200 && b === a; i++) b = (await d.ok(['exec', c, 'cat', '/counter'])).trim();
      assert.notEqual(b, a);
      assert.equal(JSON.parse(await d.ok(['inspect', c]))[0].State.Paused, false);
      const since2 = String(Date.now() / 1000 - 0.01);
      await d.ok(['commit', '--pause=false', c, 'paused-commit:2']);
      const events2 = await d.ok(['events', '--since', since2, '--until', String(Date.now() / 1000 + 1), '--filter', `container=${c}`, '--filter', 'event=pause', '--format', '{{.Action}}']);
      assert.equal(events2.trim(), '');
    } finally {
      await d.cli(['rm', '-f', c]);
      await d.cli(['rmi', 'paused-commit:1', 'paused-commit:2']);
    }
  });
});
