// `exec -u NAME` resolves the name in the container's own /etc/passwd and /etc/group
// (as they are now, not as the image had them), and never through a symlink out of
// the container's root.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { suiteDaemon } from '../helpers/daemon.ts';

describe('exec -u NAME', () => {
  const d = suiteDaemon();

  test('a user and a group added in the running container work with exec -u', async () => {
    const id = (await d.ok(['run', '-d', 'busybox', 'sleep', '1000'])).trim();
    try {
      // What adduser/addgroup do (the busybox image has neither applet).
      await d.ok(['exec', id, 'sh', '-c', 'echo crew:x:4321: >> /etc/group && echo bob:x:1234:4321::/home/bob:/bin/sh >> /etc/passwd']);
      assert.equal(await d.ok(['exec', '-u', 'bob', id, 'sh', '-c', 'echo $(id -u) $(id -g) $HOME']), '1234 4321 /home/bob\n');
      assert.equal(await d.ok(['exec', '-u', 'bob:crew', id, 'id', '-g']), '4321\n');
      assert.equal(await d.ok(['exec', '-u', '0:crew', id, 'id', '-g']), '4321\n');
    } finally {
      await d.cli(['rm', '-f', id]);
    }
  });

  test('a /etc/passwd that is a symlink out of the container is not followed to the host\'s', async () => {
    // The host has a `tdock` user; busybox's /etc/passwd does not.
    assert.match(readFileSync('/etc/passwd', 'utf8'), /^tdock:/m);
    const id = (await d.ok(['run', '-d', 'busybox', 'sleep', '1000'])).trim();
    try {
      await d.ok(['exec', id, 'sh', '-c', 'rm /etc/passwd && ln -s ../../../../../../../etc/passwd /etc/passwd']);
      const r = await d.cli(['exec', '-u', 'tdock', id, 'id', '-u']);
      assert.notEqual(r.code, 0, 'the host user was not found');
      assert.match(r.stderr, /unable to find user tdock/);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      // Absolute: read from the host, /etc/passwd would be the host's own.
      await d.ok(['exec', id, 'sh', '-c', 'rm /etc/passwd && ln -s /etc/passwd /etc/passwd']);
      assert.match((await d.cli(['exec', '-u', 'tdock', id, 'id', '-u'])).stderr, /unable to find user tdock/);
      // /etc/group too: a named group is not looked up in the host's.
      await d.ok(['exec', id, 'sh', '-c', 'rm /etc/group && ln -s /etc/group /etc/group']);
      assert.match((await d.cli(['exec', '-u', '0:tdock', id, 'id', '-g'])).stderr, /unable to find group tdock/);
    } finally {
      await d.cli(['rm', '-f', id]);
    }
  });
});
