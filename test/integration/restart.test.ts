// tdock restart (issue 13): stop with the timeout, then start; a stopped one is started.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { suiteDaemon } from '../helpers/daemon.ts';

describe('tdock restart', () => {
  const d = suiteDaemon();

  test('a running container gets a new init; an exited one is started; an unknown one is an error', async () => {
    const id = (await d.ok(['run', '-d', 'busybox', 'sleep', '1000'])).trim();
    try {
      const before = (await d.inspect(id)).State.Pid;
      assert.equal((await d.ok(['restart', '-t', '1', id])).trim(), id);
      const after = await d.inspect(id);
      assert.equal(after.State.Status, 'running');
      assert.notEqual(after.State.Pid, before);
      await d.ok(['stop', '-t', '1', id]);
      await d.ok(['restart', id]);
      assert.equal((await d.inspect(id)).State.Status, 'running');
      const r = await d.cli(['restart', 'no-such-container']);
      assert.equal(r.code, 1);
      assert.equal(r.stderr, 'Error: No such container: no-such-container\n');
    } finally {
      await d.cli(['rm', '-f', id]);
    }
  });
});
