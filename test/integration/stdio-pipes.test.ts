// The container's stdio pipes can be opened again by path: /dev/stdout, /dev/stderr
// and /dev/stdin are /proc/self/fd/N, and opening those checks the pipe's owner and
// mode like any file. Official nginx and httpd images link their logs there
// (issue 8, item 4). The pipes belong to the container's root, and to the command's
// user when it runs as another one (as runc does); so does a pty. -t works without a
// terminal on the CLI's side; typing into one is tty.test.ts's job (tmux).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { suiteDaemon } from '../helpers/daemon.ts';

const WRITE = 'echo x > /dev/stdout; echo y > /dev/stderr';
const READ = 'cat /dev/stdin';

describe('stdio pipes reopened through /dev/stdout, /dev/stderr, /dev/stdin', () => {
  const d = suiteDaemon();

  for (const user of [[], ['--user', '1000']]) {
    const who = user.length ? ' --user 1000' : '';

    test(`run${who}: echo > /dev/stdout and /dev/stderr`, async () => {
      const r = await d.cli(['run', '--rm', ...user, 'busybox', 'sh', '-c', WRITE]);
      assert.deepEqual(r, { code: 0, stdout: 'x\n', stderr: 'y\n' });
    });

    test(`run -i${who}: cat /dev/stdin`, async () => {
      const r = await d.cli(['run', '-i', '--rm', ...user, 'busybox', 'sh', '-c', READ], { input: 'in 1\nin 2\n' });
      assert.deepEqual(r, { code: 0, stdout: 'in 1\nin 2\n', stderr: '' });
    });

    test(`run -t${who}: echo > /dev/stdout and /dev/stderr on the pty`, async () => {
      const r = await d.cli(['run', '-t', '--rm', ...user, 'busybox', 'sh', '-c', WRITE]);
      assert.deepEqual(r, { code: 0, stdout: 'x\r\ny\r\n', stderr: '' });
    });

    test(`exec${who}: the same through /dev/stdout, /dev/stderr and /dev/stdin`, async () => {
      const id = (await d.ok(['run', '-d', 'busybox', 'sleep', '1000'])).trim();
      try {
        const w = await d.cli(['exec', ...user, id, 'sh', '-c', WRITE]);
        assert.deepEqual(w, { code: 0, stdout: 'x\n', stderr: 'y\n' });
        const r = await d.cli(['exec', '-i', ...user, id, 'sh', '-c', READ], { input: 'in 1\nin 2\n' });
        assert.deepEqual(r, { code: 0, stdout: 'in 1\nin 2\n', stderr: '' });
        const t = await d.cli(['exec', '-t', ...user, id, 'sh', '-c', WRITE]);
        assert.deepEqual(t, { code: 0, stdout: 'x\r\ny\r\n', stderr: '' });
        // The user is the one asked for, and its pipes are its own, nobody else's.
        const who = await d.ok(['exec', ...user, id, 'sh', '-c', 'id -u; stat -L -c "%u %a" /dev/stdout']);
        const uid = user.length ? '1000' : '0';
        assert.equal(who, `${uid}\n${uid} 600\n`);
      } finally {
        await d.ok(['rm', '-f', id]);
      }
    });
  }

  test('run --user 1000: the pipes are the user\'s, mode 0600', async () => {
    const out = await d.ok(['run', '--rm', '--user', '1000', 'busybox', 'sh', '-c', 'stat -L -c "%u %a" /dev/stdout /dev/stderr']);
    assert.equal(out, '1000 600\n1000 600\n');
  });
});
