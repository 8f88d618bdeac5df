// info, system df, system prune, container prune (issue 13) against a real daemon.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpus, release, totalmem } from 'node:os';
import { suiteDaemon } from '../helpers/daemon.ts';

describe('info, system df, prune', () => {
  const d = suiteDaemon();
  let running = '';
  let exited = '';

  test('info: Docker\'s document and sections, counts of containers and images', async () => {
    running = (await d.ok(['run', '-d', 'busybox', 'sleep', '1000'])).trim();
    // 1 MiB in its writable layer and a line in its log
    exited = (await d.ok(['run', '-d', 'busybox', 'sh', '-c', 'dd if=/dev/zero of=/big bs=1024 count=1024 2>/dev/null; echo written'])).trim();
    assert.equal((await d.ok(['wait', exited])).trim(), '0');

    const doc = JSON.parse(await d.ok(['info', '--format', '{{json .}}']));
    assert.deepEqual(
      [doc.Containers, doc.ContainersRunning, doc.ContainersPaused, doc.ContainersStopped, doc.Images],
      [2, 1, 0, 1, 1],
    );
    assert.equal(doc.Driver, 'overlay2');
    assert.equal(doc.DockerRootDir, d.root);
    assert.equal(doc.LoggingDriver, 'local');
    assert.deepEqual(doc.LogConfig, { Type: 'local', Config: { 'max-size': '20m', 'max-file': '5' } });
    assert.equal(doc.CgroupDriver, 'cgroupfs');
    assert.match(doc.CgroupVersion, /^[12]$/);
    assert.equal(doc.FirewallBackend.Driver, 'nftables');
    assert.equal(doc.Network.Bridge, d.bridge);
    assert.equal(doc.Network.Subnet, d.subnet);
    assert.equal(doc.KernelVersion, release());
    assert.equal(doc.OSType, 'linux');
    assert.equal(doc.NCPU, cpus().length);
    assert.equal(doc.MemTotal, totalmem());
    assert.equal(doc.Rootless, false);
    assert.ok(doc.SecurityOptions.includes('name=seccomp,profile=default'), doc.SecurityOptions);
    assert.ok(doc.SecurityOptions.includes('name=userns'));
    assert.ok(doc.SecurityOptions.includes('name=no-new-privileges'));
    assert.ok(doc.IDMappings.Uid.Size > 0);
    assert.equal(doc.LiveRestoreEnabled, true);
    assert.ok(doc.RegistryConfig.IndexConfigs['docker.io']);
    assert.equal(doc.ClientInfo.Context, 'default');
    assert.match(doc.ID, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);

    assert.equal(await d.ok(['info', '--format', '{{.ServerVersion}}']), `${doc.ServerVersion}\n`);
    const text = await d.ok(['info']);
    assert.match(text, /^Client:\n Version: +\S+\n Context: +default\n Debug Mode: false\n\nServer:\n Containers: 2\n {2}Running: 1\n {2}Paused: 0\n {2}Stopped: 1\n Images: 1\n/);
    assert.match(text, /\n Storage Driver: overlay2\n {2}Backing Filesystem: \S+\n/);
    assert.match(text, /\n Security Options:\n {2}seccomp\n {3}Profile: default\n/);
    assert.match(text, /\n Rootless: no\n/);
    assert.match(text, new RegExp(`\\n Firewall Backend: nftables\\n[^]*\\n  Bridge: ${d.bridge}\\n`));
  });

  test('system df: the four rows with real sizes; -v lists each object', async () => {
    const df = await d.ok(['system', 'df']);
    const rows = df.trimEnd().split('\n').map((l) => l.split(/ {2,}/));
    assert.deepEqual(rows[0], ['TYPE', 'TOTAL', 'ACTIVE', 'SIZE', 'RECLAIMABLE']);
    assert.deepEqual(rows.slice(1).map((r) => r.slice(0, 3)), [['Images', '1', '1'], ['Containers', '2', '1'], ['Local Volumes', '0', '0'], ['Build Cache', '0', '0']]);
    assert.match(rows[1]![3]!, /^[\d.]+[kM]B$/, 'busybox has a size');
    assert.equal(rows[1]![4], '0B (0%)', 'an image in use is not reclaimable');
    // the exited container's 1 MiB + its log, nothing from the running one's rootfs files
    assert.match(rows[2]![3]!, /^1\.049MB$/);
    assert.match(rows[2]![4]!, /^1\.049MB \((9\d|100)%\)$/);
    assert.deepEqual(rows.slice(3).map((r) => r.slice(3)), [['0B', '0B'], ['0B', '0B']]);

    const json = (await d.ok(['system', 'df', '--format', '{{json .}}'])).trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(json.map((r) => [r.Type, r.TotalCount, r.Active]), [['Images', '1', '1'], ['Containers', '2', '1'], ['Local Volumes', '0', '0'], ['Build Cache', '0', '0']]);
    assert.equal(await d.ok(['system', 'df', '--format', '{{.Type}}={{.Size}}']), `Images=${rows[1]![3]}\nContainers=${rows[2]![3]}\nLocal Volumes=0B\nBuild Cache=0B\n`);

    const v = await d.ok(['system', 'df', '-v']);
    assert.match(v, /^Images space usage:\n\nREPOSITORY +TAG +IMAGE ID +CREATED +SIZE +SHARED SIZE +UNIQUE SIZE +CONTAINERS\nbusybox +latest +\w{12} +.+ +2\n/);
    assert.match(v, new RegExp(`\\n${exited.slice(0, 12)} +busybox +"sh -c 'dd if=/dev/z…" +0 +1\\.049MB +.* ago +Exited \\(0\\)`));
    assert.match(v, /\nLocal Volumes space usage:\n\nVOLUME NAME +LINKS +SIZE\n\nBuild cache usage: 0B\n/);
  });

  test('system prune: Docker\'s prompt, "n" keeps everything (exit 1); container prune -> removes the stopped one', async () => {
    const no = await d.cli(['system', 'prune'], { input: 'n\n' });
    assert.equal(no.code, 1);
    assert.equal(no.stdout, 'WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n  - all dangling images\n  - unused build cache\n\nAre you sure you want to continue? [y/N] \n');
    assert.equal(no.stderr, 'Error: system prune has been cancelled\n');
    assert.equal((await d.ok(['ps', '-aq'])).trim().split('\n').length, 2);

    const yes = await d.cli(['container', 'prune'], { input: 'y\n' });
    assert.equal(yes.code, 0, yes.stderr);
    assert.match(yes.stdout, new RegExp(`^WARNING! This will remove all stopped containers\\.\\nAre you sure you want to continue\\? \\[y/N\\] Deleted Containers:\\n${exited}\\n\\nTotal reclaimed space: 1\\.05MB\\n$`));
    assert.equal((await d.ok(['ps', '-aq', '--no-trunc'])).trim(), running);
  });

  test('system prune -f keeps tagged images; -a -f removes the images no container uses', async () => {
    const stopped = (await d.ok(['create', 'busybox', 'true'])).trim();
    const f = await d.ok(['system', 'prune', '-f']);
    assert.equal(f, `Deleted Containers:\n${stopped}\n\nTotal reclaimed space: 0B\n`);
    assert.match(await d.ok(['images', '-q']), /^\w{12}\n$/);

    // in use by the running container: kept even with -a
    assert.equal(await d.ok(['system', 'prune', '-a', '-f', '--volumes']), 'Total reclaimed space: 0B\n');
    await d.ok(['rm', '-f', running]);
    const id = JSON.parse(await d.ok(['image', 'inspect', 'busybox']))[0].Id;
    const no = await d.cli(['image', 'prune', '-a'], { input: 'no\n' });
    assert.deepEqual(no, {
      code: 1, stdout: 'WARNING! This will remove all images without at least one container associated to them.\nAre you sure you want to continue? [y/N] \n',
      stderr: 'Error: image prune has been cancelled\n',
    });
    const t0 = Math.floor(Date.now() / 1000) - 1;
    const all = await d.ok(['system', 'prune', '-a', '-f']);
    // Docker's: the references an image loses ("untagged: REF") before its "deleted: ID"
    assert.match(all, new RegExp(`^Deleted Images:\\nuntagged: busybox:latest\\ndeleted: ${id}\\n\\nTotal reclaimed space: [\\d.]+[kM]B\\n$`));
    const ev = await d.ok(['events', '--since', String(t0), '--until', String(Math.floor(Date.now() / 1000) + 1), '--filter', 'type=image', '--format', '{{.Action}} {{.Actor.ID}}']);
    assert.equal(ev, `untag ${id}\ndelete ${id}\n`);
    assert.equal(await d.ok(['images', '-q']), '');
    const df = await d.ok(['system', 'df']);
    assert.match(df, /\nImages +0 +0 +0B +0B\nContainers +0 +0 +0B +0B\n/);
    assert.deepEqual(d.leftovers(), []);
  });
});

describe('system df and system prune --volumes count volumes', () => {
  const d = suiteDaemon();

  test('df: volumes in use are active, unused ones reclaimable; prune --volumes takes unused anonymous ones only', async () => {
    // a named volume with 64 KiB in use by a stopped container, an unused named one,
    // and an anonymous one whose container is removed without -v
    const user = (await d.ok(['run', '-v', 'dfdata:/data', 'busybox', 'sh', '-c', 'dd if=/dev/zero of=/data/f bs=1024 count=64 2>/dev/null'])).trim();
    await d.ok(['volume', 'create', 'dfidle']);
    const anonUser = (await d.ok(['create', '-v', '/scratch', 'busybox', 'true'])).trim();
    const anon = JSON.parse(await d.ok(['inspect', anonUser]))[0].Mounts[0].Name as string;
    await d.ok(['rm', anonUser]);

    const df = await d.ok(['system', 'df']);
    const row = df.split('\n').find((l) => l.startsWith('Local Volumes'))!.split(/ {2,}/);
    assert.deepEqual(row.slice(0, 3), ['Local Volumes', '3', '1']);
    assert.match(row[3]!, /^6\d\.\d+kB$/, 'the 64 KiB written counts');
    assert.equal(row[4], '0B (0%)', 'only the volume in use holds data');
    const v = await d.ok(['system', 'df', '-v']);
    assert.match(v, /dfdata\s+1\s+6\d\.\d+kB/);
    assert.match(v, /dfidle\s+0\s+0B/);

    const out = await d.ok(['system', 'prune', '-f', '--volumes']);
    assert.match(out, new RegExp(`Deleted Volumes:\\n${anon}\\n`));
    const left = (await d.ok(['volume', 'ls', '-q'])).trim().split('\n').sort();
    assert.deepEqual(left, ['dfdata', 'dfidle'], 'named volumes stay (Docker: they need volume prune -a)');
    assert.ok(out.includes(user.slice(0, 12)) || out.includes(user), 'the stopped container went too');
  });
});
