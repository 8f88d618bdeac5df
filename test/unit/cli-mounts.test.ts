// -v, --mount and --tmpfs in Docker's grammar (cli/parse/mounts.ts), and the daemon's
// own check of what arrives (daemon/containers/mounts.ts): pure, no root.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMountFlag, parseMountFlags, parseTmpfsFlag, parseVolumeFlag } from '../../cli/parse/mounts.ts';
import { ValueError } from '../../cli/parse/bytes.ts';
import { buildCreateRequest } from '../../cli/create-flags.ts';
import { UsageError } from '../../cli/errors.ts';
import { checkMounts, shimMounts, type MountInput } from '../../daemon/containers/mounts.ts';
import { hostConfigMounts, mountsView } from '../../daemon/api/mounts-view.ts';
import { notIdmappableBelow } from '../../daemon/runtime/idmapped.ts';
import type { ContainerSpec } from '../../daemon/containers/spec.ts';

test('-v: anonymous, named, bind; modes; relative host paths from the working directory', () => {
  assert.deepEqual(
    { ...parseVolumeFlag('/data') },
    { type: 'volume', source: '', target: '/data', readOnly: false, createSource: false, noCopy: false, tmpfsSize: 0, tmpfsMode: 0, tmpfsOptions: [], origin: 'volume', spec: '/data', mode: '' },
  );
  const named = parseVolumeFlag('pg:/var/lib/pg:ro,nocopy');
  assert.equal(named.type, 'volume');
  assert.equal(named.source, 'pg');
  assert.equal(named.readOnly, true);
  assert.equal(named.noCopy, true);
  assert.equal(named.mode, 'ro,nocopy');
  const bind = parseVolumeFlag('/h/src:/src:rw');
  assert.equal(bind.type, 'bind');
  assert.equal(bind.createSource, true);
  assert.equal(bind.readOnly, false);
  assert.equal(parseVolumeFlag('./proj:/p', '/home/me').source, '/home/me/proj');
  assert.equal(parseVolumeFlag('.:/p', '/home/me').source, '/home/me');
  // ".." is cleaned away as Docker cleans paths (path.Clean), not refused
  assert.equal(parseVolumeFlag('/srv/../etc:/a/../b').target, '/a/../b');
  assert.throws(() => parseMountFlags({ volume: ['/h:/a/../b', '/h2:/b'] }), /Duplicate mount point/);
  assert.throws(() => parseVolumeFlag('/h:/x/..'), /destination can't be '\/'/);
});

test('-v: bad specs name the spec', () => {
  const bad: [string, RegExp][] = [
    ['', /invalid volume specification: ''/],
    ['a:b:c:d', /too many colons/],
    ['/h:', /invalid volume specification/],
    [':/x', /invalid volume specification/],
    ['rel', /invalid mount path: 'rel' mount path must be absolute/],
    ['/h:/', /destination can't be '\/'/],
    ['/h:/x:rw,ro', /invalid mode: rw,ro/],
    ['/h:/x:bogus', /invalid mode: bogus/],
    ['/h:/x:nocopy', /nocopy is for volumes/],
    ['a:/x', /"a" includes invalid characters for a local volume name/],
    ['we!rd:/x', /"we!rd" includes invalid characters/],
    // Docker's: a destination and a mode is not a volume; one mode of each kind
    ['/x:ro', /^invalid volume specification: '\/x:ro'$/],
    ['/h:/x:z,Z', /invalid mode: z,Z/],
    ['vol:/x:nocopy,nocopy', /invalid mode: nocopy,nocopy/],
    ['/h:/x:shared,rslave', /invalid mode: shared,rslave/],
  ];
  for (const [spec, msg] of bad) assert.throws(() => parseVolumeFlag(spec), (e: Error) => e instanceof ValueError && msg.test(e.message), spec);
});

test('--mount: keys and aliases, booleans, tmpfs options; Docker\'s errors', () => {
  const b = parseMountFlag('type=bind,src=/h,dst=/c,ro');
  assert.deepEqual([b.type, b.source, b.target, b.readOnly, b.createSource], ['bind', '/h', '/c', true, false]);
  // one CSV record as docker/cli reads it: a quoted field keeps its commas
  assert.equal(parseMountFlag('type=bind,"src=/a,b",dst=/c').source, '/a,b');
  assert.equal(parseMountFlag('type=bind,"src=/say ""hi""",dst=/c').source, '/say "hi"');
  assert.throws(() => parseMountFlag('type=bind,src=/a"b,dst=/c'), /bare " in non-quoted-field/);
  assert.throws(() => parseMountFlag('type=bind,"src=/a,dst=/c'), /extraneous or missing " in quoted-field/);
  // docker/cli: a bind source "." or "./x" is taken from the working directory
  assert.equal(parseMountFlag('type=bind,src=.,dst=/c', '/home/me').source, '/home/me');
  assert.equal(parseMountFlag('type=bind,src=./proj,dst=/c', '/home/me').source, '/home/me/proj');
  assert.equal(parseMountFlags({ mount: ['type=bind,src=./p,dst=/c'] }, '/w')[0]!.source, '/w/p');
  const b2 = parseMountFlag('type=bind,source=/h,destination=/c,readonly=false,bind-propagation=rprivate');
  assert.equal(b2.readOnly, false);
  const v = parseMountFlag('target=/d,volume-nocopy');
  assert.deepEqual([v.type, v.source, v.noCopy], ['volume', '', true]);
  const t = parseMountFlag('type=tmpfs,target=/t,tmpfs-size=64m,tmpfs-mode=0700');
  assert.deepEqual([t.tmpfsSize, t.tmpfsMode], [64 << 20, 0o700]);
  const bad: [string, RegExp][] = [
    ['type=bind,target=/x', /field Source must not be empty/],
    ['type=volume,target=/x,readonly', /invalid mount config for type "volume": must not set ReadOnly mode when using anonymous volumes/],
    ['type=bind,src=rel,target=/x', /invalid mount path: 'rel'/],
    ['type=nfs,target=/x', /invalid mount type "nfs"/],
    ['src=v', /target is required/],
    ['type=volume,src=v,dst=/x,bogus=1', /unexpected key 'bogus' in 'bogus=1'/],
    ['type=volume,src', /invalid field 'src' must be a key=value pair/],
    ['type=bind,src=/h,dst=/x,tmpfs-size=1m', /cannot mix 'tmpfs-\*' options with mount type 'bind'/],
    ['type=tmpfs,dst=/x,volume-nocopy', /cannot mix 'volume-\*' options with mount type 'tmpfs'/],
    ['type=tmpfs,src=x,dst=/x', /source must not be specified/],
    ['type=tmpfs,dst=/x,tmpfs-size=big', /invalid size "big"/],
    ['type=tmpfs,dst=/x,tmpfs-mode=999', /invalid mode "999"/],
    ['type=bind,src=/h,dst=/x,readonly=maybe', /invalid value for readonly: maybe/],
    ['type=volume,src=v,dst=/', /destination can't be '\/'/],
  ];
  for (const [spec, msg] of bad) assert.throws(() => parseMountFlag(spec), (e: Error) => e instanceof ValueError && msg.test(e.message), spec);
});

test('--tmpfs: size, mode, flags; unknown options refused', () => {
  const t = parseTmpfsFlag('/run:size=64k,mode=1777,exec,ro');
  assert.deepEqual([t.target, t.tmpfsSize, t.tmpfsMode, t.tmpfsOptions, t.readOnly], ['/run', 64 << 10, 0o1777, ['exec'], true]);
  assert.equal(parseTmpfsFlag('/t').tmpfsSize, 0);
  // Docker's --tmpfs also takes uid=, gid=, nr_inodes= (moby's ParseTmpfsOptions)
  assert.deepEqual(parseTmpfsFlag('/t:uid=1000,gid=1000,nr_inodes=1k').tmpfsOptions, ['uid=1000', 'gid=1000', 'nr_inodes=1k']);
  assert.throws(() => parseTmpfsFlag('/t:uid=x'), /unknown option "uid=x"/);
  assert.throws(() => parseTmpfsFlag('/t:uid=70000'), /uid=70000: outside the container's ids \(0-65535\)/);
  assert.throws(() => parseTmpfsFlag('/t:mpol=x'), /unknown option "mpol=x"/);
  assert.throws(() => parseTmpfsFlag('/t:size=-1'), /invalid size/);
  assert.throws(() => parseTmpfsFlag('t'), /must be absolute/);
});

test('one container path once, whichever flags and spellings', () => {
  assert.throws(() => parseMountFlags({ volume: ['/a'], tmpfs: ['/a/'] }), /Duplicate mount point: \/a/);
  assert.throws(() => parseMountFlags({ volume: ['v1:/x//y'], mount: ['src=v2,dst=/x/y'] }), /Duplicate mount point/);
  assert.equal(parseMountFlags({ volume: ['/a'], mount: ['dst=/b'], tmpfs: ['/c'] }).length, 3);
});

test('run/create: mount flags reach the request; a bad one is a usage error (exit 125)', () => {
  const req = buildCreateRequest({ volume: ['/h:/c'], tmpfs: ['/t'], 'read-only': true }, 'busybox', [], {}, '/');
  assert.equal(req.mounts.length, 2);
  assert.equal(req.readOnly, true);
  assert.throws(() => buildCreateRequest({ mount: ['type=bind,dst=/x'] }, 'busybox', [], {}), (e: Error) => e instanceof UsageError && /Source must not be empty/.test(e.message));
});

const input = (over: Partial<MountInput>): MountInput => ({
  type: 'bind', source: '/h', target: '/c', readOnly: false, createSource: true, noCopy: false, tmpfsSize: 0, tmpfsMode: 0,
  tmpfsOptions: [], origin: 'volume', spec: '/h:/c', mode: '', ...over,
});

test('the daemon checks mounts again: paths, names, types, runtime paths, duplicates, NUL, counts', () => {
  const bad: [Partial<MountInput>, RegExp][] = [
    [{ target: 'c' }, /mount path must be absolute/],
    [{ target: '/a/..' }, /destination can't be '\/'/],
    [{ type: 'volume', source: '', readOnly: true }, /must not set ReadOnly mode when using anonymous volumes/],
    [{ target: '/./' }, /destination can't be '\/'/],
    [{ target: '/dev/shm' }, /mounted by the runtime itself/],
    [{ source: 'rel' }, /invalid mount path: 'rel'/],
    [{ type: 'nfs' }, /unknown type "nfs"/],
    [{ type: 'volume', source: 'b@d' }, /includes invalid characters/],
    [{ type: 'tmpfs', source: 'x' }, /source must not be specified/],
    [{ type: 'tmpfs', source: '', tmpfsMode: 0o10000 }, /invalid tmpfs mode/],
    [{ type: 'tmpfs', source: '', tmpfsOptions: ['uid=-1'] }, /unknown tmpfs option "uid=-1"/],
    [{ type: 'tmpfs', source: '', tmpfsOptions: ['gid=65536'] }, /unknown tmpfs option "gid=65536"/],
    [{ type: 'tmpfs', source: '', tmpfsOptions: ['huge=always'] }, /unknown tmpfs option "huge=always"/],
    [{ source: '/h\0x' }, /NUL byte/],
    [{ noCopy: true }, /nocopy is for volumes/],
  ];
  for (const [over, msg] of bad) assert.throws(() => checkMounts([input(over)], () => 'n'), msg, JSON.stringify(over));
  assert.throws(() => checkMounts([input({}), input({ target: '/c/' })], () => 'n'), /Duplicate mount point: \/c/);
  assert.throws(() => checkMounts(Array.from({ length: 129 }, (_, i) => input({ target: `/m${i}` })), () => 'n'), /too many mounts: 129/);
  // Docker cleans ".." (path.Clean): /a/../b is /b, and twice /b is a duplicate
  const [cleaned] = checkMounts([input({ source: '/srv/../etc/', target: '/a/../../b/./' })], () => 'n');
  assert.equal(cleaned!.source, '/etc');
  assert.equal(cleaned!.destination, '/b');
  assert.throws(() => checkMounts([input({ target: '/a/../b' }), input({ target: '/b' })], () => 'n'), /Duplicate mount point: \/b/);
  const [anon] = checkMounts([input({ type: 'volume', source: '' })], () => 'a'.repeat(64));
  assert.equal(anon!.name, 'a'.repeat(64));
  assert.equal(anon!.anonymous, true);
  assert.equal(anon!.mode, '', 'Docker gives "z" to named -v volumes only');
  assert.equal(checkMounts([input({ type: 'volume', source: 'named' })], () => 'n')[0]!.mode, 'z');
});

test('the shim\'s mounts: rbind, idmap where possible, copy-up for volumes, tmpfs with Docker\'s defaults', () => {
  const points = checkMounts([
    input({ readOnly: true }),
    input({ type: 'volume', source: 'vv', target: '/v' }),
    input({ type: 'volume', source: 'ww', target: '/w', noCopy: true }),
    input({ type: 'tmpfs', source: '', target: '/t', tmpfsSize: 1024, tmpfsOptions: ['exec'] }),
  ], () => 'n');
  points[1]!.source = '/root/volumes/v/_data';
  const m = shimMounts(points, (p) => p.type === 'bind');
  assert.deepEqual(m[0], { source: '/h', destination: '/c', options: ['rbind', 'ro', 'idmap'] });
  assert.deepEqual(m[1], { source: '/root/volumes/v/_data', destination: '/v', options: ['rbind', 'copyup'] });
  assert.deepEqual(m[2]!.options, ['rbind']);
  assert.deepEqual(m[3], { type: 'tmpfs', source: 'tmpfs', destination: '/t', options: ['nosuid', 'nodev', 'size=1024', 'mode=1777'] });
});

test('inspect: Mounts and HostConfig in Docker\'s shapes', () => {
  const spec = {
    mounts: checkMounts([
      input({ spec: '/h:/c:ro', mode: 'ro', readOnly: true }),
      input({ type: 'volume', source: '', target: '/anon', spec: '/anon' }),
      input({ type: 'tmpfs', source: '', target: '/t', origin: 'tmpfs', spec: '/t:size=1m', tmpfsSize: 1 << 20 }),
      input({ type: 'volume', source: 'vv', target: '/m', origin: 'mount', spec: 'src=vv,dst=/m', readOnly: true }),
    ], () => 'z'.repeat(64)),
    readonlyRootfs: true,
  } as unknown as ContainerSpec;
  assert.deepEqual(mountsView(spec)[0], { Type: 'bind', Source: '/h', Destination: '/c', Mode: 'ro', RW: false, Propagation: 'rprivate' });
  assert.deepEqual(mountsView(spec).map((m) => m.Destination), ['/c', '/anon', '/m'], '--tmpfs is not in Mounts (Docker)');
  assert.deepEqual(hostConfigMounts(spec), {
    Binds: ['/h:/c:ro'],
    Mounts: [{ Type: 'volume', Source: 'vv', Target: '/m', ReadOnly: true }],
    Tmpfs: { '/t': 'size=1m' },
    ReadonlyRootfs: true,
  });
  assert.deepEqual(hostConfigMounts({} as ContainerSpec), { Binds: null, Tmpfs: null, ReadonlyRootfs: false });
});

test('mounts below a bind that cannot be idmapped: from mountinfo, escaped paths, not the source itself nor its siblings', () => {
  const info = [
    '22 1 254:0 / / rw,relatime - ext4 /dev/vda rw',
    '30 22 0:40 / /srv/a rw - ext4 /dev/vdb rw',
    '31 30 0:41 / /srv/a/my\\040ram rw - ramfs ramfs rw',
    '32 30 0:42 / /srv/a/nfs rw - nfs4 host:/x rw',
    '33 30 0:43 / /srv/a/t rw - tmpfs tmpfs rw',
    '34 22 0:44 / /srv/ab rw - ramfs ramfs rw',
  ].join('\n');
  assert.deepEqual(notIdmappableBelow('/srv/a', info), [['/srv/a/my ram', 'ramfs'], ['/srv/a/nfs', 'nfs4']]);
  assert.deepEqual(notIdmappableBelow('/srv/a/t', info), []);
});
