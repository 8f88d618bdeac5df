// -v, --mount, --tmpfs and --read-only on run/create (issue 14): binds keep their host
// owners both ways (idmapped mounts), :ro and --read-only refuse writes, tmpfs limits
// hold, inspect shows Docker's shapes, and a bad spec exits 125 in one line leaving
// nothing behind.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chownSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { suiteDaemon } from '../helpers/daemon.ts';

describe('mounts on run and create', () => {
  const d = suiteDaemon();
  let host = '';
  before(() => {
    host = join(d.base, 'host');
    mkdirSync(host, { recursive: true });
  });
  after(() => rmSync(host, { recursive: true, force: true }));

  const nothingLeft = async (what: string) => {
    assert.equal((await d.ok(['ps', '-aq'])).trim(), '', `${what}: a container was left`);
    assert.equal((await d.ok(['volume', 'ls', '-q'])).trim(), '', `${what}: a volume was left`);
    assert.deepEqual(d.leftovers(), [], `${what}: leftovers`);
  };

  test('a bind shows host owners as they are and what container root writes is owned by host root (idmapped)', async () => {
    const src = join(host, 'own');
    mkdirSync(src);
    writeFileSync(join(src, 'rootfile'), 'r\n');
    writeFileSync(join(src, 'userfile'), 'u\n');
    chownSync(join(src, 'userfile'), 1000, 1000);
    mkdirSync(join(src, 'userdir'));
    chownSync(join(src, 'userdir'), 1000, 1000);
    const out = await d.ok(['run', '--rm', '-v', `${src}:/src`, 'busybox', 'sh', '-c',
      'stat -c "%u:%g %n" /src/rootfile /src/userfile; echo new > /src/byroot; mkdir /src/dirbyroot']);
    assert.equal(out, '0:0 /src/rootfile\n1000:1000 /src/userfile\n');
    for (const f of ['byroot', 'dirbyroot']) {
      const st = statSync(join(src, f));
      assert.equal(`${st.uid}:${st.gid}`, '0:0', `${f} is owned by host root`);
    }
    // a container user writes as itself
    await d.ok(['run', '--rm', '-u', '1000:1000', '-v', `${src}:/src`, 'busybox', 'sh', '-c', 'echo x > /src/userdir/f']);
    const st = statSync(join(src, 'userdir/f'));
    assert.equal(`${st.uid}:${st.gid}`, '1000:1000');
    // and a user cannot write where the host says it cannot
    const r = await d.cli(['run', '--rm', '-u', '1000', '-v', `${src}:/src`, 'busybox', 'sh', '-c', 'echo x > /src/nope']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Permission denied/);
    assert.equal(existsSync(join(src, 'nope')), false);
  });

  test('host owners nobody (65534) and outside the container\'s range show as nobody; container root cannot take the latter', async () => {
    const src = join(host, 'owners');
    mkdirSync(src);
    for (const [name, uid] of [['nobodyfile', 65534], ['farfile', 200000]] as const) {
      writeFileSync(join(src, name), `${name}\n`);
      chownSync(join(src, name), uid, uid);
    }
    const r = await d.cli(['run', '--rm', '-v', `${src}:/o`, 'busybox', 'sh', '-c',
      'stat -c "%u:%g %n" /o/nobodyfile /o/farfile; echo x >> /o/farfile || echo denied; chown 0 /o/farfile || echo nochown']);
    assert.match(r.stdout, /^65534:65534 \/o\/nobodyfile\n65534:65534 \/o\/farfile\ndenied\nnochown\n$/);
    assert.equal(readFileSync(join(src, 'farfile'), 'utf8'), 'farfile\n');
    assert.equal(statSync(join(src, 'farfile')).uid, 200000);
  });

  test('a file system that cannot be idmapped (ramfs): a plain bind and one warning', async () => {
    const ram = join(host, 'ramfs');
    mkdirSync(ram);
    assert.equal(spawnSync('mount', ['-t', 'ramfs', '-o', 'mode=755', 'tdock-test-ramfs', ram]).status, 0, 'mount a ramfs');
    try {
      writeFileSync(join(ram, 'f'), 'ram\n');
      const r = await d.cli(['run', '--rm', '-v', `${ram}:/r`, 'busybox', 'sh', '-c', 'cat /r/f; stat -c %u /r/f; echo w 2>/dev/null > /r/w || echo denied']);
      assert.equal(r.code, 0, r.stderr);
      // without id mapping host root is nobody inside, and container root may not write its directory
      assert.equal(r.stdout, 'ram\n65534\ndenied\n');
      const warnings = r.stderr.trim().split('\n');
      assert.equal(warnings.length, 1, r.stderr);
      assert.match(warnings[0]!, new RegExp(`^WARNING: the file system of ${ram} \\(type 0x858458f6\\) cannot be idmapped`));
      assert.equal(existsSync(join(ram, 'w')), false);
    } finally {
      spawnSync('umount', [ram]);
    }
  });

  test('a submount that cannot be idmapped: the bind stays idmapped above it, and one warning names it', async () => {
    const top = join(host, 'withsub');
    const ram = join(top, 'ram');
    mkdirSync(ram, { recursive: true });
    writeFileSync(join(top, 'mine'), 'm\n');
    chownSync(join(top, 'mine'), 1000, 1000);
    assert.equal(spawnSync('mount', ['-t', 'ramfs', '-o', 'mode=755', 'tdock-test-ramfs', ram]).status, 0, 'mount a ramfs');
    try {
      writeFileSync(join(ram, 'f'), 'ram\n');
      const r = await d.cli(['run', '--rm', '-v', `${top}:/w`, 'busybox', 'sh', '-c', 'stat -c %u /w/mine /w/ram/f; touch /w/new']);
      assert.equal(r.code, 0, r.stderr);
      // the top keeps host owners (1000 is 1000), the ramfs below shows host root as nobody
      assert.equal(r.stdout, '1000\n65534\n');
      assert.equal(statSync(join(top, 'new')).uid, 0, 'container root writes as host root above the submount');
      const warnings = r.stderr.trim().split('\n');
      assert.equal(warnings.length, 1, r.stderr);
      assert.match(warnings[0]!, new RegExp(`^WARNING: mounts under ${top} cannot be idmapped \\(${ram}: ramfs\\)`));
    } finally {
      spawnSync('umount', [ram]);
    }
  });

  test(':ro and readonly refuse writes; a file can be bound too', async () => {
    const src = join(host, 'ro');
    mkdirSync(src);
    writeFileSync(join(src, 'f'), 'data\n');
    for (const flags of [['-v', `${src}:/src:ro`], ['--mount', `type=bind,src=${src},dst=/src,readonly`]]) {
      const r = await d.cli(['run', '--rm', ...flags, 'busybox', 'sh', '-c', 'cat /src/f; echo x > /src/f']);
      assert.notEqual(r.code, 0, flags.join(' '));
      assert.equal(r.stdout, 'data\n');
      assert.match(r.stderr, /Read-only file system/);
    }
    assert.equal(readFileSync(join(src, 'f'), 'utf8'), 'data\n');
    assert.equal(await d.ok(['run', '--rm', '-v', `${join(src, 'f')}:/etc/motd:ro`, 'busybox', 'cat', '/etc/motd']), 'data\n');
  });

  test('-v makes a missing host directory; --mount type=bind refuses one with Docker\'s message', async () => {
    const missing = join(host, 'made/by/v');
    await d.ok(['run', '--rm', '-v', `${missing}:/m`, 'busybox', 'true']);
    assert.ok(statSync(missing).isDirectory());
    const gone = join(host, 'not-there');
    const r = await d.cli(['run', '--rm', '--mount', `type=bind,source=${gone},target=/m`, 'busybox', 'true']);
    assert.equal(r.code, 125);
    assert.equal(r.stderr.trim(), `Error: invalid mount config for type "bind": bind source path does not exist: ${gone}`);
    assert.equal(existsSync(gone), false);
    await nothingLeft('--mount of a missing source');
  });

  test('--read-only: the root refuses writes; tmpfs, /dev/shm and the /etc files stay writable', async () => {
    const out = await d.ok(['run', '--rm', '--read-only', '--tmpfs', '/tmp', 'busybox', 'sh', '-c',
      'touch /x 2>&1; echo t > /tmp/t && cat /tmp/t; echo s > /dev/shm/s && cat /dev/shm/s; echo "# x" >> /etc/hosts && echo hosts']);
    assert.match(out, /touch: \/x: Read-only file system/);
    assert.match(out, /^t$/m);
    assert.match(out, /^s$/m);
    assert.match(out, /^hosts$/m);
    // a missing -w directory is made before the root turns read-only (as Docker's runc does)
    assert.equal(await d.ok(['run', '--rm', '--read-only', '-w', '/new/dir', 'busybox', 'pwd']), '/new/dir\n');
    const doc = await d.inspect((await d.ok(['create', '--read-only', 'busybox', 'true'])).trim());
    assert.equal(doc.HostConfig.ReadonlyRootfs, true);
    await d.ok(['rm', doc.Id]);
  });

  test('--tmpfs and --mount type=tmpfs: size limit, mode, noexec by default', async () => {
    const r = await d.cli(['run', '--rm', '--tmpfs', '/t:size=1m,mode=700', 'busybox', 'sh', '-c',
      'stat -c %a /t; dd if=/dev/zero of=/t/f bs=1024 count=2048 2>&1; ls -l /t/f | awk "{print \\$5}"']);
    assert.match(r.stdout, /^700$/m);
    assert.match(r.stdout, /No space left on device/);
    const size = Number(r.stdout.trim().split('\n').pop());
    assert.ok(size <= 1 << 20, `at most 1 MiB written, got ${size}`);
    const m = await d.ok(['run', '--rm', '--mount', 'type=tmpfs,destination=/m,tmpfs-size=2m,tmpfs-mode=1770', 'busybox', 'sh', '-c',
      'stat -c %a /m; grep " /m " /proc/mounts; cp /bin/busybox /m/bb; /m/bb true 2>&1 || echo noexec']);
    assert.match(m, /^1770$/m);
    assert.match(m, /tmpfs \/m tmpfs rw,nosuid,nodev,noexec,.*size=2048k/);
    assert.match(m, /noexec$/m);
    // Docker's uid=/gid= of --tmpfs: the container's ids
    assert.equal(await d.ok(['run', '--rm', '--tmpfs', '/u:uid=1000,gid=1001,mode=700', 'busybox', 'stat', '-c', '%u:%g %a', '/u']), '1000:1001 700\n');
  });

  test('inspect: Mounts and HostConfig.Binds/Mounts/Tmpfs in Docker\'s shapes', async () => {
    const src = join(host, 'insp');
    mkdirSync(src);
    const id = (await d.ok(['create', '-v', `${src}:/b:ro`, '-v', 'inspvol:/v', '-v', '/anon',
      '--mount', 'type=tmpfs,dst=/mt,tmpfs-size=1m', '--tmpfs', '/run:size=64k', 'busybox', 'true'])).trim();
    const doc = await d.inspect(id);
    const byDest = Object.fromEntries((doc.Mounts as { Destination: string }[]).map((m) => [m.Destination, m as unknown])) as Record<string, unknown>;
    assert.deepEqual(byDest['/b'], { Type: 'bind', Source: src, Destination: '/b', Mode: 'ro', RW: false, Propagation: 'rprivate' });
    assert.deepEqual(byDest['/v'], {
      Type: 'volume', Name: 'inspvol', Source: join(d.root, 'volumes/inspvol/_data'), Destination: '/v', Driver: 'local', Mode: 'z', RW: true, Propagation: '',
    });
    const anon = byDest['/anon'] as { Name: string; Type: string };
    assert.equal(anon.Type, 'volume');
    assert.match(anon.Name, /^[0-9a-f]{64}$/);
    assert.equal((anon as unknown as { Mode: string }).Mode, '', 'Docker: an anonymous volume of -v has no mode ("z" is for named ones)');
    // Docker: --tmpfs is in HostConfig.Tmpfs only; --mount type=tmpfs is in Mounts too
    assert.equal(byDest['/run'], undefined);
    assert.deepEqual(byDest['/mt'], { Type: 'tmpfs', Source: '', Destination: '/mt', Mode: '', RW: true, Propagation: '' });
    assert.deepEqual(doc.HostConfig.Binds, [`${src}:/b:ro`, 'inspvol:/v']);
    assert.deepEqual(doc.HostConfig.Mounts, [{ Type: 'tmpfs', Target: '/mt', TmpfsOptions: { SizeBytes: 1 << 20 } }]);
    assert.deepEqual(doc.HostConfig.Tmpfs, { '/run': 'size=64k' });
    assert.equal(doc.HostConfig.ReadonlyRootfs, false);
    assert.deepEqual(doc.Config.Volumes, { '/anon': {} });
    await d.ok(['rm', '-v', id]);
    await d.ok(['volume', 'rm', 'inspvol']);
    await nothingLeft('inspect');
  });

  test('nested mounts: the parent first, whatever the order of the flags', async () => {
    const src = join(host, 'nested');
    mkdirSync(src);
    writeFileSync(join(src, 'inner'), 'inner\n');
    const out = await d.ok(['run', '--rm', '-v', `${src}:/data/sub`, '--tmpfs', '/data', 'busybox', 'sh', '-c', 'cat /data/sub/inner; grep -c " /data" /proc/mounts']);
    assert.equal(out, 'inner\n2\n');
  });

  test('a file bound over one of /proc\'s lxcfs files (/proc/meminfo, /proc/uptime) is allowed, as runc allows it', async () => {
    writeFileSync(join(host, 'meminfo'), 'MemTotal: 1024 kB\n');
    assert.equal(await d.ok(['run', '--rm', '-v', `${join(host, 'meminfo')}:/proc/meminfo:ro`, 'busybox', 'cat', '/proc/meminfo']), 'MemTotal: 1024 kB\n');
    const dir = await d.cli(['run', '--rm', '-v', `${host}:/proc/uptime`, 'busybox', 'true']);
    assert.equal(dir.code, 125);
    assert.match(dir.stderr, /"\/proc\/uptime" cannot be mounted because it is inside \/proc/);
    await nothingLeft('a directory over /proc/uptime');
  });

  test('-v of a dangling symlink: one line naming where it points, nothing made through it', async () => {
    const target = join(host, 'gone', 'deeper');
    symlinkSync(target, join(host, 'dangling'));
    const r = await d.cli(['run', '--rm', '-v', `${join(host, 'dangling')}:/x`, 'busybox', 'true']);
    assert.equal(r.code, 125, r.stderr);
    assert.match(r.stderr.trim(), /^Error: cannot start container [0-9a-f]{12}: error while creating/);
    assert.equal(r.stderr.trim().replace(/^Error: cannot start container [0-9a-f]{12}: /, ''), `error while creating mount source path '${join(host, 'dangling')}': it is a symlink to '${target}', which does not exist`);
    assert.equal(existsSync(join(host, 'gone')), false);
    await nothingLeft('dangling symlink');
  });

  test('a file over a directory or a directory over a file: one line saying so, nothing left', async () => {
    writeFileSync(join(host, 'plain'), 'p\n');
    const cases: [string, RegExp][] = [
      [`${join(host, 'plain')}:/etc`, /mount \/etc: a file cannot be mounted over a directory/],
      [`${host}:/etc/passwd`, /mount \/etc\/passwd: a directory cannot be mounted over a file/],
    ];
    for (const [spec, msg] of cases) {
      const r = await d.cli(['run', '--rm', '-v', spec, 'busybox', 'true']);
      assert.equal(r.code, 125, r.stderr);
      assert.match(r.stderr, msg);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      await nothingLeft(spec);
    }
  });

  test('bad specs: exit 125, one line naming the spec, nothing made', async () => {
    const cases: [string[], RegExp][] = [
      [['-v', 'a:b:c:d'], /invalid volume specification: 'a:b:c:d': too many colons/],
      [['-v', '/h:rel'], /invalid mount path: 'rel' mount path must be absolute/],
      [['-v', '/h:/'], /destination can't be '\/'/],
      [['-v', '/h:/x:rx'], /invalid mode: rx/],
      [['-v', 'b@d:/x'], /"b@d" includes invalid characters for a local volume name/],
      [['-v', 'v1:/x', '-v', 'v2:/x'], /Duplicate mount point: \/x/],
      [['--mount', 'type=bind,target=/x'], /field Source must not be empty/],
      [['--mount', 'type=nfs,target=/x'], /invalid mount type "nfs"/],
      [['--mount', 'type=volume,src=v,dst=/x,bogus=1'], /unexpected key 'bogus'/],
      [['--mount', 'type=bind,src=/tmp,dst=/x,tmpfs-size=1m'], /cannot mix 'tmpfs-\*' options with mount type 'bind'/],
      [['--mount', 'type=tmpfs,src=x,dst=/x'], /source must not be specified/],
      [['--mount', 'src=v'], /target is required/],
      [['--tmpfs', '/t:size=lots'], /invalid size "lots"/],
      [['--tmpfs', '/t:exotic'], /unknown option "exotic"/],
      [['--tmpfs', 'rel'], /mount path must be absolute/],
      [['-v', 'newvol:/proc'], /\/proc is mounted by the runtime itself/],
      // runc's rule: nothing is mounted inside /proc but a file over one of lxcfs's files
      [['--tmpfs', '/proc/sys'], /"\/proc\/sys" cannot be mounted because it is inside \/proc/],
      [['-v', '/tmp:/proc/sys/kernel'], /"\/proc\/sys\/kernel" cannot be mounted because it is inside \/proc/],
      [['-v', 'vol:/proc/meminfo'], /"\/proc\/meminfo" cannot be mounted because it is inside \/proc/],
    ];
    for (const [flags, msg] of cases) {
      const r = await d.cli(['run', '--rm', ...flags, 'busybox', 'true']);
      assert.equal(r.code, 125, `${flags.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, msg, flags.join(' '));
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      await nothingLeft(flags.join(' '));
    }
  });
});
