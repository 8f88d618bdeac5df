// tdock cp both ways, running and stopped containers, Docker's naming rules, tar
// streams on stdin/stdout, -a and -L, and the owners files get inside the container.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync, chownSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { suiteDaemon } from '../helpers/daemon.ts';
import { tarArchive } from '../../images/tar-writer.ts';

describe('tdock cp', () => {
  const d = suiteDaemon();
  let dir = '';
  let running = '';
  let stopped = '';
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tdk-cp-'));
    running = (await d.ok(['run', '-d', 'busybox', 'sh', '-c', 'mkdir -p /data/sub && echo hello > /data/a.txt && echo deep > /data/sub/b.txt && ln -s a.txt /data/link && touch /ready && sleep 1000'])).trim();
    for (let i = 0; i < 200; i++) {
      if ((await d.cli(['exec', running, 'test', '-e', '/ready'])).code === 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    stopped = (await d.ok(['create', 'busybox', 'sh', '-c', 'mkdir -p /srv/x && echo stopped > /srv/x/f && echo id: $(id -u)'])).trim();
    await d.ok(['start', '-a', stopped]);
  });
  after(async () => {
    rmSync(dir, { recursive: true, force: true });
  });

  const sh = async (c: string, cmd: string) => (await d.ok(['exec', c, 'sh', '-c', cmd])).trim();

  test('a file out of a running container to a new path, into an existing dir, over an existing file', async () => {
    await d.ok(['cp', `${running}:/data/a.txt`, join(dir, 'new.txt')]);
    assert.equal(readFileSync(join(dir, 'new.txt'), 'utf8'), 'hello\n');
    mkdirSync(join(dir, 'into'));
    await d.ok(['cp', `${running}:/data/a.txt`, join(dir, 'into')]);
    assert.equal(readFileSync(join(dir, 'into', 'a.txt'), 'utf8'), 'hello\n');
    writeFileSync(join(dir, 'over.txt'), 'old old old');
    await d.ok(['cp', `${running}:/data/a.txt`, join(dir, 'over.txt')]);
    assert.equal(readFileSync(join(dir, 'over.txt'), 'utf8'), 'hello\n');
    const r = await d.cli(['cp', `${running}:/data/a.txt`, join(dir, 'missing') + '/']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /does not exist/);
  });

  test('directories out: to a new path, into an existing dir, contents only with /.', async () => {
    await d.ok(['cp', `${running}:/data`, join(dir, 'd1')]);
    assert.equal(readFileSync(join(dir, 'd1', 'sub', 'b.txt'), 'utf8'), 'deep\n');
    assert.equal(readlinkSync(join(dir, 'd1', 'link')), 'a.txt');
    mkdirSync(join(dir, 'd2'));
    await d.ok(['cp', `${running}:/data`, join(dir, 'd2')]);
    assert.ok(existsSync(join(dir, 'd2', 'data', 'a.txt')));
    mkdirSync(join(dir, 'd3'));
    await d.ok(['cp', `${running}:/data/.`, join(dir, 'd3')]);
    assert.ok(existsSync(join(dir, 'd3', 'a.txt')));
    assert.ok(!existsSync(join(dir, 'd3', 'data')));
    writeFileSync(join(dir, 'afile'), 'x');
    const r = await d.cli(['cp', `${running}:/data`, join(dir, 'afile')]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /cannot copy a directory to a file/);
  });

  test('-L follows a symlink source; without it the link itself is copied', async () => {
    await d.ok(['cp', `${running}:/data/link`, join(dir, 'l1')]);
    assert.ok(lstatSync(join(dir, 'l1')).isSymbolicLink());
    await d.ok(['cp', '-L', `${running}:/data/link`, join(dir, 'l2')]);
    assert.equal(readFileSync(join(dir, 'l2'), 'utf8'), 'hello\n');
  });

  test('files copied in belong to container root; with -a they keep their ids inside the container', async () => {
    mkdirSync(join(dir, 'src', 'inner'), { recursive: true });
    writeFileSync(join(dir, 'src', 'f1'), 'one');
    writeFileSync(join(dir, 'src', 'inner', 'f2'), 'two');
    chownSync(join(dir, 'src', 'f1'), 1234, 4321);
    await d.ok(['cp', join(dir, 'src'), `${running}:/tmp/`]);
    assert.equal(await sh(running, 'cat /tmp/src/f1 /tmp/src/inner/f2'), 'onetwo');
    assert.equal(await sh(running, 'stat -c %u:%g /tmp/src/f1 /tmp/src/inner/f2 /tmp/src | sort -u'), '0:0');
    await d.ok(['cp', '-a', join(dir, 'src', 'f1'), `${running}:/tmp/f1a`]);
    assert.equal(await sh(running, 'stat -c %u:%g /tmp/f1a'), '1234:4321');
    // and on the host, the file belongs to the container's mapped range
    const upper = join(d.root, 'containers', (await d.inspect(running)).Id, 'upper', 'tmp', 'f1a');
    assert.equal(lstatSync(upper).uid, 100000 + 1234);
  });

  test('a file into a new name, contents of a dir with /., and a missing parent fails with one line', async () => {
    writeFileSync(join(dir, 'single'), 'single');
    await d.ok(['cp', join(dir, 'single'), `${running}:/renamed`]);
    assert.equal(await sh(running, 'cat /renamed'), 'single');
    await d.ok(['exec', running, 'mkdir', '/dest']);
    await d.ok(['cp', join(dir, 'src') + '/.', `${running}:/dest`]);
    assert.equal(await sh(running, 'ls /dest | tr "\\n" " "'), 'f1 inner');
    const r = await d.cli(['cp', join(dir, 'single'), `${running}:/no/such/dir/x`]);
    assert.notEqual(r.code, 0);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  });

  test('stopped containers: copy out and in, and the next start sees the file', async () => {
    await d.ok(['cp', `${stopped}:/srv/x/f`, join(dir, 'fromstopped')]);
    assert.equal(readFileSync(join(dir, 'fromstopped'), 'utf8'), 'stopped\n');
    await d.ok(['cp', join(dir, 'single'), `${stopped}:/srv/x/added`]);
    const out = await d.ok(['start', '-a', stopped]);
    assert.match(out, /id: 0/);
    const c2 = (await d.ok(['run', '-d', 'busybox', 'sleep', '1000'])).trim();
    try {
      // the committed-free way to read it: cp back out after the start
      await d.ok(['cp', `${stopped}:/srv/x/added`, join(dir, 'added-back')]);
      assert.equal(readFileSync(join(dir, 'added-back'), 'utf8'), 'single');
    } finally {
      await d.ok(['rm', '-f', c2]);
    }
    // nothing stays mounted on the host
    assert.doesNotMatch(readFileSync('/proc/self/mountinfo', 'utf8'), new RegExp(d.root.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  });

  test('concurrent copies into a stopped container take turns and all land', async () => {
    const s = (await d.ok(['create', 'busybox', 'cat', '/c1', '/c2', '/c3'])).trim();
    try {
      await Promise.all([1, 2, 3].map((i) => d.ok(['cp', join(dir, 'single'), `${s}:/c${i}`])));
      assert.equal(await d.ok(['start', '-a', s]), 'singlesinglesingle');
    } finally {
      await d.cli(['rm', '-f', s]);
    }
  });

  test('a client that goes away mid-copy lets go of a stopped container (it starts again)', async () => {
    const s = (await d.ok(['create', 'busybox', 'echo', 'started'])).trim();
    try {
      const big = tarArchive([{ path: 'big', data: Buffer.alloc(32 << 20, 1) }]);
      await d.ok(['cp', '-', `${s}:/`], { input: big });
      // out: the reader stops after 1 kB (SIGPIPE)
      const r = spawnSync('bash', ['-c', `bin/tdock cp ${s}:/big - | head -c 1000 > /dev/null`], { env: { ...process.env, TDOCK_HOST: d.host }, encoding: 'utf8', timeout: 30000 });
      assert.equal(r.status, 0, r.stderr);
      // in: the client is killed while it sends
      const slow = spawnSync('bash', ['-c', `(head -c 1024 /dev/zero; sleep 4) | timeout -s KILL 2 bin/tdock cp - ${s}:/; true`], { env: { ...process.env, TDOCK_HOST: d.host }, timeout: 30000 });
      assert.equal(slow.status, 0);
      assert.equal(await d.ok(['start', '-a', s], { timeout: 20000 }), 'started\n');
    } finally {
      await d.cli(['rm', '-f', s]);
    }
  });

  test('- streams a tar: out to stdout, in from stdin', async () => {
    const r = spawnSync('bash', ['-c', `bin/tdock cp ${running}:/data - > ${join(dir, 'out.tar')}`], { env: { ...process.env, TDOCK_HOST: d.host }, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const list = spawnSync('tar', ['tf', join(dir, 'out.tar')], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).sort();
    assert.deepEqual(list, ['data/', 'data/a.txt', 'data/link', 'data/sub/', 'data/sub/b.txt']);
    const tar = tarArchive([{ path: 'streamed/', type: 'dir' }, { path: 'streamed/s.txt', data: 'from stdin' }]);
    await d.ok(['cp', '-', `${running}:/tmp`], { input: tar });
    assert.equal(await sh(running, 'cat /tmp/streamed/s.txt'), 'from stdin');
    const bad = tarArchive([{ path: '../../escape.txt', data: 'x' }]);
    const e = await d.cli(['cp', '-', `${running}:/tmp`], { input: bad });
    assert.notEqual(e.code, 0);
    assert.match(e.stderr, /escapes the destination/);
  });

  test('copying between containers or between host paths is refused', async () => {
    let r = await d.cli(['cp', `${running}:/a`, `${running}:/b`]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /between containers is not supported/);
    r = await d.cli(['cp', join(dir, 'a'), join(dir, 'b')]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /at least one container/);
  });

  test('cleanup', async () => {
    await d.ok(['rm', '-f', running, stopped]);
  });
});
