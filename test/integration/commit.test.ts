// commit -> run sees the files; deletions (whiteouts) and opaque directories stay;
// the container's config and -c changes; history; tag and rmi of one tag; import -c/-m;
// diff and export.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { suiteDaemon } from '../helpers/daemon.ts';
import { tarArchive } from '../../images/tar-writer.ts';
import { findBusybox } from '../../images/busybox.ts';

describe('tdock commit, tag, history, diff, export, import -c/-m', () => {
  const d = suiteDaemon();
  let dir = '';
  let c = '';
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tdk-commit-'));
    // a change of every kind: added file and dir, changed file, deleted file, deleted dir,
    // an opaque dir (removed and made again), a file owned by a non-root user
    c = (await d.ok(['run', '--name', 'tdk-commit-src', '-e', 'FOO=bar', '-w', '/srv', 'busybox', 'sh', '-c',
      'mkdir -p /srv/new && echo added > /srv/new/a.txt && echo changed >> /etc/passwd && rm /etc/group && rm -r /home; ' +
      'mkdir -p /var/op && echo keep > /var/op/k; chown 1000:1001 /srv/new/a.txt; true'])).trim();
    c = 'tdk-commit-src';
  });
  after(async () => {
    await d.cli(['rm', '-f', c]);
    rmSync(dir, { recursive: true, force: true });
  });

  test('diff lists A/C/D lines from the upper layer, sorted by path', async () => {
    const lines = (await d.ok(['diff', c])).trim().split('\n');
    for (const want of ['C /etc', 'C /etc/passwd', 'D /etc/group', 'D /home', 'A /srv', 'A /srv/new', 'A /srv/new/a.txt']) {
      assert.ok(lines.includes(want), `${want} in:\n${lines.join('\n')}`);
    }
    assert.deepEqual([...lines].sort((a, b) => (a.slice(2) < b.slice(2) ? -1 : 1)), lines);
  });

  test('commit makes an image whose containers see the files, the deletions and the owners', async () => {
    const id = (await d.ok(['commit', '-m', 'my change', '-a', 'Tester <t@example.org>', c, 'committed:v1'])).trim();
    assert.match(id, /^sha256:[0-9a-f]{64}$/);
    const out = await d.ok(['run', '--rm', 'committed:v1', 'sh', '-c',
      'cat /srv/new/a.txt; tail -1 /etc/passwd; [ -e /etc/group ] && echo group-back; [ -e /home ] && echo home-back; stat -c %u:%g /srv/new/a.txt; pwd; echo $FOO']);
    assert.equal(out, 'added\nchanged\n1000:1001\n/srv\nbar\n');
    const img = JSON.parse(await d.ok(['image', 'inspect', 'committed:v1']))[0];
    assert.equal(img.Id, id);
    assert.equal(img.RootFS.Layers.length, 2);
    // the runtime's HOSTNAME is the container's, not the image's (Docker's Config.Env has none)
    assert.deepEqual(img.Config.Env.filter((e: string) => e.startsWith('HOSTNAME=')), []);
    assert.ok(img.Config.Env.includes('FOO=bar'));
  });

  test('a committed image can be saved and loaded elsewhere (its new layer keeps its tar); commit and tag are events', async () => {
    const since = String(Date.now() / 1000 - 1);
    const id = (await d.ok(['commit', c, 'committed:saved'])).trim();
    await d.ok(['tag', 'committed:saved', 'committed:retagged']);
    const archive = join(dir, 'saved.tar');
    await d.ok(['save', '-o', archive, 'committed:saved']);
    const list = spawnSync('tar', ['-tf', archive], { encoding: 'utf8' });
    assert.equal(list.status, 0, list.stderr);
    assert.match(list.stdout, /^manifest\.json$/m);
    await d.ok(['rmi', 'committed:saved', 'committed:retagged']);
    assert.match(await d.ok(['load', '-i', archive]), /Loaded image: committed:saved/);
    assert.equal(JSON.parse(await d.ok(['image', 'inspect', 'committed:saved']))[0].Id, id, 'the same image id after the round trip');
    assert.equal(await d.ok(['run', '--rm', 'committed:saved', 'cat', '/srv/new/a.txt']), 'added\n');
    const events = await d.ok(['events', '--since', since, '--until', String(Date.now() / 1000), '--filter', 'event=commit', '--filter', 'event=tag']);
    assert.match(events, new RegExp(`container commit [0-9a-f]{64} \\(.*imageID=${id}.*name=tdk-commit-src`));
    assert.match(events, new RegExp(`image tag ${id} \\(name=committed:saved\\)`));
    assert.match(events, new RegExp(`image tag ${id} \\(name=committed:retagged\\)`));
  });

  test('an opaque directory hides what the image had below it', async () => {
    const base = (await d.ok(['run', '-d', 'busybox', 'sh', '-c', 'mkdir -p /opq/old && echo a > /opq/a && touch /ready; sleep 1000'])).trim();
    const c2 = 'tdk-commit-opq';
    try {
      for (let i = 0; i < 100 && (await d.cli(['exec', base, 'test', '-e', '/ready'])).code !== 0; i++) await new Promise((r) => setTimeout(r, 50));
      await d.ok(['commit', base, 'committed:opq-base']);
      await d.ok(['run', '--name', c2, 'committed:opq-base', 'sh', '-c', 'rm -rf /opq && mkdir /opq && echo only > /opq/only']);
      assert.match(await d.ok(['diff', c2]), /^C \/opq$/m);
      await d.ok(['commit', c2, 'committed:opaque']);
      assert.equal(await d.ok(['run', '--rm', 'committed:opaque', 'ls', '/opq']), 'only\n');
    } finally {
      await d.cli(['rm', '-f', base, c2]);
    }
  });

  test('commit -c sets the config; history shows the layers, newest first, with the message', async () => {
    await d.ok(['commit', '-c', 'CMD ["echo", "from-cmd"]', '-c', 'ENV ADDED=1', c, 'committed:v2']);
    assert.equal(await d.ok(['run', '--rm', 'committed:v2']), 'from-cmd\n');
    assert.equal(await d.ok(['run', '--rm', 'committed:v2', 'sh', '-c', 'echo $ADDED$FOO']), '1bar\n');
    const h = (await d.ok(['history', 'committed:v1'])).trim().split('\n');
    assert.match(h[0]!, /^IMAGE\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT$/);
    assert.equal(h.length, 3, h.join('\n'));
    assert.match(h[1]!, /^[0-9a-f]{12}\s.*sh -c mkdir.*my change$/);
    assert.match(h[2]!, /^<missing>\s/);
    const q = (await d.ok(['history', '-q', '--no-trunc', 'committed:v1'])).trim().split('\n');
    assert.match(q[0]!, /^sha256:[0-9a-f]{64}$/);
    const f = (await d.ok(['history', '--format', '{{.ID}}|{{.Comment}}', 'committed:v1'])).trim().split('\n');
    assert.match(f[0]!, /^[0-9a-f]{12}\|my change$/);
  });

  test('tag adds a name; rmi of one of several tags only untags', async () => {
    await d.ok(['tag', 'committed:v1', 'other/name:t1']);
    const a = JSON.parse(await d.ok(['image', 'inspect', 'other/name:t1']))[0];
    const b = JSON.parse(await d.ok(['image', 'inspect', 'committed:v1']))[0];
    assert.equal(a.Id, b.Id);
    assert.equal(await d.ok(['rmi', 'other/name:t1']), 'Untagged: other/name:t1\n');
    assert.equal(JSON.parse(await d.ok(['image', 'inspect', 'committed:v1']))[0].Id, b.Id);
    const r = await d.cli(['tag', 'no-such-image', 'x:y']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /No such image: no-such-image/);
  });

  test('export writes the merged filesystem as a tar; a terminal is refused', async () => {
    const out = join(dir, 'rootfs.tar');
    await d.ok(['export', '-o', out, c]);
    const list = spawnSync('tar', ['tf', out], { encoding: 'utf8' }).stdout.split('\n');
    assert.ok(list.includes('srv/new/a.txt'), 'the added file');
    assert.ok(list.includes('bin/busybox'), 'the image\'s files');
    assert.ok(!list.includes('etc/group'), 'a deleted file');
    const passwd = spawnSync('tar', ['xOf', out, 'etc/passwd'], { encoding: 'utf8' }).stdout;
    assert.match(passwd, /changed\n$/);
    const redirected = spawnSync('bash', ['-c', `bin/tdock export ${c} > ${join(dir, 'redirected.tar')}`], { env: { ...process.env, TDOCK_HOST: d.host }, encoding: 'utf8' });
    assert.equal(redirected.status, 0, redirected.stderr);
    assert.deepEqual(spawnSync('tar', ['tf', join(dir, 'redirected.tar')], { encoding: 'utf8' }).stdout.split('\n'), list);
    const tty = spawnSync('script', ['-qec', `bin/tdock export ${c}`, '/dev/null'], { env: { ...process.env, TDOCK_HOST: d.host }, encoding: 'utf8' });
    assert.match(tty.stdout, /cowardly refusing to save to a terminal\. Use the -o flag or redirect/);
  });

  test('import -c/-m: config changes and the history comment; an untagged import', async () => {
    const bb = readFileSync(findBusybox());
    const tar = tarArchive([{ path: 'bin/', type: 'dir' }, { path: 'bin/busybox', data: bb, mode: 0o755 }, { path: 'bin/sh', type: 'symlink', linkpath: 'busybox' }]);
    const id = (await d.ok(['import', '-c', 'CMD ["/bin/busybox", "echo", "imported-cmd"]', '-m', 'an import', '-', 'imported:x'], { input: tar })).trim();
    assert.match(id, /^sha256:/);
    assert.equal(await d.ok(['run', '--rm', 'imported:x']), 'imported-cmd\n');
    const h = (await d.ok(['history', 'imported:x'])).trim().split('\n');
    assert.match(h[1]!, /an import$/);
    writeFileSync(join(dir, 'img.tar'), tar);
    const bad = await d.cli(['import', '-c', 'FROBNICATE x', join(dir, 'img.tar'), 'imported:y']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /FROBNICATE is not a valid change command/);
    const untagged = (await d.ok(['import', '-'], { input: tar })).trim();
    assert.match(untagged, /^sha256:/);
  });
});
