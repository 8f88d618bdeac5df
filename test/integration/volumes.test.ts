// Named and anonymous volumes (issue 14): data outlives its container, a new volume is
// filled from the image (content and owners, so a non-root database user can write),
// a volume in use cannot be removed, rm -v and --rm take anonymous volumes, and the
// volume commands speak Docker's words and shapes.
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { chownSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { suiteDaemon } from '../helpers/daemon.ts';
import { tarArchive } from '../../images/tar-writer.ts';
import { findBusybox } from '../../images/busybox.ts';

/** busybox plus a PostgreSQL-like data directory owned by uid 70, mode 0700. */
function pgImage(): Buffer {
  return tarArchive([
    { path: 'bin/', type: 'dir', mode: 0o755 },
    { path: 'bin/busybox', data: readFileSync(findBusybox()), mode: 0o755 },
    { path: 'bin/sh', type: 'symlink', linkpath: 'busybox' },
    { path: 'etc/', type: 'dir', mode: 0o755 },
    { path: 'etc/passwd', data: 'root:x:0:0:root:/root:/bin/sh\npostgres:x:70:70:pg:/var/lib/pg:/bin/sh\n' },
    { path: 'etc/group', data: 'root:x:0:\npostgres:x:70:\n' },
    { path: 'var/', type: 'dir', mode: 0o755 },
    { path: 'var/lib/', type: 'dir', mode: 0o755 },
    { path: 'var/lib/pg/', type: 'dir', mode: 0o700, uid: 70, gid: 70 },
    { path: 'var/lib/pg/PG_VERSION', data: '16\n', mode: 0o600, uid: 70, gid: 70 },
    { path: 'var/lib/pg/base/', type: 'dir', mode: 0o700, uid: 70, gid: 70 },
    { path: 'var/lib/pg/base/1', data: 'x', mode: 0o600, uid: 70, gid: 70 },
    { path: 'var/lib/pg/current', type: 'symlink', linkpath: 'base/1', uid: 70, gid: 70 },
  ]);
}

describe('volumes', () => {
  const d = suiteDaemon();
  const vdir = (name: string) => join(d.root, 'volumes', name, '_data');
  before(async () => {
    await d.ok(['import', '-', 'pg:1'], { input: pgImage() });
  });

  test('data in a named volume outlives the container; on disk it keeps the container\'s ids', async () => {
    await d.ok(['run', '--rm', '-v', 'keep:/data', 'busybox', 'sh', '-c', 'echo hello > /data/f; mkdir /data/d; chown 33:33 /data/d']);
    assert.equal(await d.ok(['run', '--rm', '-v', 'keep:/data', 'busybox', 'sh', '-c', 'cat /data/f; stat -c %u /data/d']), 'hello\n33\n');
    assert.equal(statSync(join(vdir('keep'), 'f')).uid, 0);
    assert.equal(statSync(join(vdir('keep'), 'd')).uid, 33);
    // --mount's spelling of the same volume, read-only
    const r = await d.cli(['run', '--rm', '--mount', 'source=keep,target=/data,readonly', 'busybox', 'sh', '-c', 'cat /data/f; echo x > /data/g']);
    assert.equal(r.stdout, 'hello\n');
    assert.match(r.stderr, /Read-only file system/);
    await d.ok(['volume', 'rm', 'keep']);
    assert.equal(existsSync(join(d.root, 'volumes', 'keep')), false);
  });

  test('copy-up: a new volume gets the image directory\'s content and owners; uid 70 can write', async () => {
    const out = await d.ok(['run', '--rm', '-u', 'postgres', '-v', 'pgdata:/var/lib/pg', 'pg:1', 'sh', '-c',
      'cat /var/lib/pg/PG_VERSION; stat -c "%u:%g %a" /var/lib/pg /var/lib/pg/base/1; readlink /var/lib/pg/current; echo row > /var/lib/pg/base/2 && echo wrote']);
    assert.equal(out, '16\n70:70 700\n70:70 600\nbase/1\nwrote\n');
    const st = statSync(vdir('pgdata'));
    assert.equal(`${st.uid}:${st.gid} ${(st.mode & 0o7777).toString(8)}`, '70:70 700');
    assert.equal(statSync(join(vdir('pgdata'), 'base/2')).uid, 70);
    // a volume with data is never filled again
    await d.ok(['run', '--rm', '-v', 'pgdata:/var/lib/pg', 'pg:1', 'sh', '-c', 'rm /var/lib/pg/PG_VERSION']);
    assert.equal(await d.ok(['run', '--rm', '-v', 'pgdata:/var/lib/pg', 'pg:1', 'sh', '-c', 'ls /var/lib/pg']), 'base\ncurrent\n');
    // nocopy: nothing copied
    assert.equal(await d.ok(['run', '--rm', '-v', 'empty:/var/lib/pg:nocopy', 'pg:1', 'sh', '-c', 'ls -A /var/lib/pg']), '');
    await d.ok(['volume', 'rm', 'pgdata', 'empty']);
  });

  test('copy-up keeps hard links, set-id bits and extended attributes (Docker copies with them)', async () => {
    // The image's /srv: two names of one file (setuid), a setgid directory of uid 70.
    await d.ok(['import', '-', 'links:1'], { input: tarArchive([
      { path: 'bin/', type: 'dir', mode: 0o755 },
      { path: 'bin/busybox', data: readFileSync(findBusybox()), mode: 0o755 },
      { path: 'bin/sh', type: 'symlink', linkpath: 'busybox' },
      { path: 'srv/', type: 'dir', mode: 0o755 },
      { path: 'srv/a', data: 'one\n', mode: 0o4755 },
      { path: 'srv/b', type: 'link', linkpath: 'srv/a' },
      { path: 'srv/g/', type: 'dir', mode: 0o2770, uid: 70, gid: 70 },
    ]) });
    const id = (await d.ok(['create', '-v', 'links:/srv', 'links:1', 'sh', '-c',
      'stat -c "%n %h %a %u:%g" /srv/a /srv/b /srv/g; [ /srv/a -ef /srv/b ] && echo same'])).trim();
    // An extended attribute on an image file (layers here carry none): set in the container's upper dir.
    const upper = join(d.root, 'containers', id, 'upper');
    mkdirSync(join(upper, 'srv'), { recursive: true });
    writeFileSync(join(upper, 'srv', 'x'), 'x');
    const lower = statSync(upper).uid; // the container's root on the host
    chownSync(join(upper, 'srv', 'x'), lower, lower);
    execFileSync('python3', ['-c', 'import os,sys; os.setxattr(sys.argv[1], "user.qa", b"kept")', join(upper, 'srv', 'x')]);
    assert.equal(await d.ok(['start', '-a', id]), '/srv/a 2 4755 0:0\n/srv/b 2 4755 0:0\n/srv/g 2 2770 70:70\nsame\n');
    assert.equal(statSync(join(vdir('links'), 'a')).ino, statSync(join(vdir('links'), 'b')).ino);
    assert.equal(execFileSync('python3', ['-c', 'import os,sys; print(os.getxattr(sys.argv[1], "user.qa").decode())', join(vdir('links'), 'x')], { encoding: 'utf8' }), 'kept\n');
    await d.ok(['rm', id]);
    await d.ok(['volume', 'rm', 'links']);
  });

  test('two containers started at once on one new volume: one copy-up, both see all of it', async () => {
    const files = Array.from({ length: 3000 }, (_, i) => ({ path: `data/f${i}`, data: `${i}\n` }));
    await d.ok(['import', '-', 'many:1'], { input: tarArchive([
      { path: 'bin/', type: 'dir', mode: 0o755 },
      { path: 'bin/busybox', data: readFileSync(findBusybox()), mode: 0o755 },
      { path: 'bin/sh', type: 'symlink', linkpath: 'busybox' },
      { path: 'data/', type: 'dir', mode: 0o755 },
      ...files,
    ]) });
    for (let round = 0; round < 3; round++) {
      const vol = `race${round}`;
      const ids: string[] = [];
      for (let i = 0; i < 2; i++) ids.push((await d.ok(['create', '-v', `${vol}:/data`, 'many:1', '/bin/busybox', 'sh', '-c', 'ls /data | /bin/busybox wc -l'])).trim());
      const runs = await Promise.all(ids.map((id) => d.cli(['start', '-a', id])));
      for (const r of runs) {
        assert.equal(r.code, 0, `round ${round}: ${r.stderr}`);
        assert.equal(r.stdout.trim(), '3000', `round ${round}: a start saw the volume half filled`);
      }
      await d.ok(['rm', ...ids]);
      await d.ok(['volume', 'rm', vol]);
    }
  });

  test('volume rm is refused while a container uses the volume, with Docker\'s message', async () => {
    const id = (await d.ok(['create', '-v', 'busy:/b', 'busybox', 'true'])).trim();
    for (const flags of [[], ['-f']]) {
      const r = await d.cli(['volume', 'rm', ...flags, 'busy']);
      assert.equal(r.code, 1);
      assert.equal(r.stderr.trim(), `Error: remove busy: volume is in use - [${id}]`);
    }
    assert.ok(existsSync(vdir('busy')));
    await d.ok(['rm', id]);
    assert.equal(await d.ok(['volume', 'rm', 'busy']), 'busy\n');
    const r = await d.cli(['volume', 'rm', 'busy']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim(), 'Error: get busy: no such volume');
    assert.equal((await d.cli(['volume', 'rm', '-f', 'busy'])).code, 0);
  });

  test('anonymous volumes: kept by rm, removed by rm -v and by --rm; named ones stay', async () => {
    const id = (await d.ok(['create', '-v', '/anon', '-v', 'named:/named', 'busybox', 'true'])).trim();
    const anon = (await d.inspect(id)).Mounts.find((m: { Destination: string }) => m.Destination === '/anon').Name as string;
    await d.ok(['start', '-a', id]);
    await d.ok(['rm', id]);
    assert.ok(existsSync(vdir(anon)), 'rm without -v keeps it');
    await d.ok(['volume', 'rm', anon]);

    const id2 = (await d.ok(['create', '-v', '/anon', '-v', 'named:/named', 'busybox', 'true'])).trim();
    const anon2 = (await d.inspect(id2)).Mounts.find((m: { Destination: string }) => m.Destination === '/anon').Name as string;
    await d.ok(['rm', '-v', id2]);
    assert.equal(existsSync(join(d.root, 'volumes', anon2)), false, 'rm -v removes it');

    const before = new Set(readdirSync(join(d.root, 'volumes')));
    await d.ok(['run', '--rm', '-v', '/anon', '--mount', 'type=volume,dst=/anon2', 'busybox', 'sh', '-c', 'echo x > /anon/f']);
    assert.deepEqual(readdirSync(join(d.root, 'volumes')).filter((v) => !before.has(v)), [], '--rm removes them');
    assert.equal(await d.ok(['volume', 'ls', '-q']), 'named\n');
    await d.ok(['volume', 'rm', 'named']);
    assert.deepEqual(d.leftovers(), []);
  });

  test('restart (by hand or by policy) keeps the same anonymous volume and its data', async () => {
    const id = (await d.ok(['run', '-d', '-v', '/anon', 'busybox', 'sleep', '1000'])).trim();
    const name = (await d.inspect(id)).Mounts[0].Name as string;
    await d.ok(['exec', id, 'sh', '-c', 'echo kept > /anon/f']);
    await d.ok(['restart', '-t', '0', id]);
    assert.equal(await d.ok(['exec', id, 'cat', '/anon/f']), 'kept\n');
    assert.equal((await d.inspect(id)).Mounts[0].Name, name);
    await d.ok(['rm', '-f', '-v', id]);
    // on-failure: each run appends to the same volume
    const p = (await d.ok(['run', '-d', '--restart', 'on-failure:2', '-v', '/log', 'busybox', 'sh', '-c', 'echo run >> /log/runs; exit 3'])).trim();
    const pname = (await d.inspect(p)).Mounts[0].Name as string;
    // by condition: the policy's last run has exited (RestartCount 2, not restarting)
    for (let i = 0; i < 600; i++) {
      const st = await d.inspect(p);
      if (st.RestartCount === 2 && st.State.Status === 'exited') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(readFileSync(join(vdir(pname), 'runs'), 'utf8'), 'run\nrun\nrun\n');
    await d.ok(['rm', '-f', '-v', p]);
    assert.equal(existsSync(vdir(pname)), false);
  });

  test('volume create/ls/inspect/prune: Docker\'s shapes, filters and prompt', async () => {
    assert.equal(await d.ok(['volume', 'create', '--label', 'app=web', '--label', 'tier', 'v1']), 'v1\n');
    assert.equal(await d.ok(['volume', 'create', 'v1']), 'v1\n', 'create is idempotent');
    const random = (await d.ok(['volume', 'create'])).trim();
    assert.match(random, /^[0-9a-f]{64}$/);
    const [doc] = JSON.parse(await d.ok(['volume', 'inspect', 'v1']));
    assert.deepEqual(Object.keys(doc).sort(), ['CreatedAt', 'Driver', 'Labels', 'Mountpoint', 'Name', 'Options', 'Scope']);
    assert.equal(doc.Driver, 'local');
    assert.equal(doc.Scope, 'local');
    assert.equal(doc.Mountpoint, vdir('v1'));
    assert.deepEqual(doc.Labels, { app: 'web', tier: '' });
    assert.match(doc.CreatedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(await d.ok(['volume', 'inspect', '-f', '{{.Name}} {{.Driver}}', 'v1']), 'v1 local\n');
    const missing = await d.cli(['volume', 'inspect', 'nope']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no such volume/);

    const id = (await d.ok(['create', '-v', 'v1:/v', 'busybox', 'true'])).trim();
    assert.match(await d.ok(['volume', 'ls']), /^DRIVER\s+VOLUME NAME\nlocal\s+[0-9a-f]{64}\nlocal\s+v1\n$/);
    assert.equal(await d.ok(['volume', 'ls', '-q', '--filter', 'label=app=web']), 'v1\n');
    assert.equal(await d.ok(['volume', 'ls', '-q', '--filter', 'label=tier']), 'v1\n');
    assert.equal(await d.ok(['volume', 'ls', '-q', '-f', 'dangling=true']), `${random}\n`);
    assert.equal(await d.ok(['volume', 'ls', '-q', '-f', 'dangling=false']), 'v1\n');
    assert.equal(await d.ok(['volume', 'ls', '-q', '-f', 'name=v']), 'v1\n');
    const bad = await d.cli(['volume', 'ls', '-f', 'colour=red']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /invalid filter 'colour'/);
    const badName = await d.cli(['volume', 'create', 'no/slash']);
    assert.notEqual(badName.code, 0);
    assert.match(badName.stderr, /"no\/slash" includes invalid characters for a local volume name/);

    // prune asks; "no" (or no answer) removes nothing
    const asked = await d.cli(['volume', 'prune'], { input: 'n\n' });
    assert.equal(asked.code, 0);
    assert.match(asked.stderr, /WARNING! This will remove anonymous local volumes not used by at least one container\.\nAre you sure you want to continue\? \[y\/N\] /);
    assert.equal(asked.stdout, '');
    // without -a only anonymous volumes go: a named unused one stays
    await d.ok(['volume', 'create', 'unused']);
    await d.ok(['run', '-v', '/a', '--name', 'keeper', 'busybox', 'true']);
    const anon = (await d.inspect('keeper')).Mounts[0].Name as string;
    await d.ok(['rm', 'keeper']);
    const pruned = await d.ok(['volume', 'prune', '-f']);
    assert.equal(pruned, `Deleted Volumes:\n${anon}\n\nTotal reclaimed space: 0B\n`);
    const all = await d.ok(['volume', 'prune', '-a'], { input: 'y\n' });
    assert.match(all, /^Deleted Volumes:\n/);
    assert.match(all, new RegExp(`^${random}$`, 'm'));
    assert.match(all, /^unused$/m);
    assert.doesNotMatch(all, /^v1$/m, 'a used volume is never pruned');
    await d.ok(['rm', id]);
    await d.ok(['volume', 'rm', 'v1']);
    assert.deepEqual(d.leftovers(), []);
  });

  test('a bad mount or a failed create takes back the volumes it made', async () => {
    const r = await d.cli(['run', '--rm', '-v', 'fresh:/f', '--mount', `type=bind,src=${join(d.base, 'absent')},dst=/x`, 'busybox', 'true']);
    assert.equal(r.code, 125);
    const r2 = await d.cli(['create', '-v', 'fresh2:/f', '-u', 'nosuchuser', 'busybox', 'true']);
    assert.equal(r2.code, 125, r2.stderr);
    assert.equal(await d.ok(['volume', 'ls', '-q']), '');
    assert.deepEqual(d.leftovers(), []);
  });
});
