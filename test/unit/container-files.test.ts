// readInRoot: a container's small files (etc/passwd) read from a directory fd of its
// root, never through a symlink, wherever it points. No root needed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, constants, mkdirSync, mkdtempSync, openSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readInRoot, resolveContainerUser } from '../../daemon/containers/image-files.ts';

test('readInRoot reads regular files inside the root and follows no symlink, in or out of it', () => {
  const base = mkdtempSync(join(tmpdir(), 'tdock-unit-root-'));
  const root = join(base, 'root');
  const outside = join(base, 'outside');
  try {
    mkdirSync(join(root, 'etc'), { recursive: true });
    mkdirSync(outside);
    writeFileSync(join(outside, 'passwd'), 'host:x:1:1::/:/bin/sh\n');
    writeFileSync(join(root, 'etc', 'passwd'), 'bob:x:1234:4321::/home/bob:/bin/sh\n');
    writeFileSync(join(root, 'etc', 'group'), 'crew:x:4321:\n');
    symlinkSync(join(outside, 'passwd'), join(root, 'etc', 'abs'));
    symlinkSync('../../outside/passwd', join(root, 'etc', 'rel'));
    symlinkSync('passwd', join(root, 'etc', 'inside'));
    symlinkSync(outside, join(root, 'linkdir'));
    execFileSync('mkfifo', [join(root, 'etc', 'fifo')]);
    const fd = openSync(root, constants.O_RDONLY | constants.O_DIRECTORY);
    try {
      assert.equal(readInRoot(fd, 'etc/passwd'), 'bob:x:1234:4321::/home/bob:/bin/sh\n');
      for (const rel of ['etc/abs', 'etc/rel', 'etc/inside', 'linkdir/passwd', 'etc/fifo', 'etc', 'etc/none', '../outside/passwd', 'etc/../etc/passwd']) {
        assert.equal(readInRoot(fd, rel), '', rel);
      }
      assert.equal(readInRoot(fd, 'etc/passwd', 10), '', 'over the size limit');
      assert.deepEqual(resolveContainerUser(fd, 'bob:crew'), { ids: { uid: 1234, gid: 4321, additionalGids: [] }, home: '/home/bob' });
      assert.throws(() => resolveContainerUser(fd, 'host'), /unable to find user host: no matching entries in passwd file/);
    } finally {
      closeSync(fd);
    }
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});
