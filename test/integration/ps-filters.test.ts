// docker ps --filter/--format/-n/-l/-s, run --label/--label-file/--env-file,
// --stop-signal/--stop-timeout, and --format template errors, against a real daemon.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suiteDaemon } from '../helpers/daemon.ts';

describe('ps filters and formats, labels, stop options', () => {
  const d = suiteDaemon();
  const dir = mkdtempSync(join(tmpdir(), 'tdock-psf-'));
  let web = '';
  let db = '';
  let done = '';

  test('labels from --label and --label-file reach inspect, ps filters and --format', async () => {
    const lf = join(dir, 'labels');
    writeFileSync(lf, '# tier of the app\ntier=front\nowner=ops\n');
    web = (await d.ok(['run', '-d', '--name', 'psf-web', '-l', 'app=web', '--label-file', lf, 'busybox', 'sleep', '1000'])).trim();
    db = (await d.ok(['run', '-d', '--name', 'psf-db', '--label', 'app=db', 'busybox', 'sleep', '1000'])).trim();
    done = (await d.ok(['run', '-d', '--name', 'psf-done', '--label', 'app=job', 'busybox', 'sh', '-c', 'exit 3'])).trim();
    assert.equal((await d.ok(['wait', done])).trim(), '3');
    assert.deepEqual((await d.inspect(web)).Config.Labels, { app: 'web', owner: 'ops', tier: 'front' });

    const names = async (...args: string[]) => (await d.ok(['ps', '--format', '{{.Names}}', ...args])).trim().split('\n').filter(Boolean);
    assert.deepEqual(await names('--filter', 'label=app=web'), ['psf-web']);
    assert.deepEqual(await names('-f', 'label=app', '-f', 'label=tier'), ['psf-web']);
    assert.deepEqual(await names('--filter', 'name=psf-', '--filter', 'status=running'), ['psf-db', 'psf-web']);
    assert.deepEqual(await names('--filter', 'status=exited'), ['psf-done'], 'a status filter lists stopped containers without -a');
    assert.deepEqual(await names('-a', '--filter', 'exited=3'), ['psf-done']);
    assert.deepEqual(await names('-a', '--filter', 'exited=0'), []);
    assert.deepEqual(await names('--filter', 'ancestor=busybox'), ['psf-db', 'psf-web']);
    assert.deepEqual(await names('-a', '--filter', `since=${web.slice(0, 12)}`), ['psf-done', 'psf-db']);
    assert.deepEqual(await names('-a', '--filter', 'before=psf-db'), ['psf-web']);
    assert.deepEqual(await names('--filter', `id=${db.slice(0, 12)}`), ['psf-db']);
    assert.deepEqual(await names('--filter', 'health=none', '--filter', 'label=app=db'), ['psf-db']);
    assert.deepEqual(await names('-n', '2'), ['psf-done', 'psf-db'], '-n counts every state');
    assert.deepEqual(await names('-l'), ['psf-done']);
    assert.equal(await d.ok(['ps', '-q', '--filter', 'label=app=db']), `${db.slice(0, 12)}\n`);

    assert.equal(await d.ok(['ps', '--filter', 'label=app=web', '--format', '{{.Label "tier"}} {{.Labels}} {{.State}} {{.Networks}}']),
      'front app=web,owner=ops,tier=front running bridge\n');
    const table = await d.ok(['ps', '--filter', 'label=app=web', '--format', 'table {{.ID}}\\t{{.Names}}\\t{{.Label "app"}}']);
    assert.equal(table, `CONTAINER ID   NAMES     LABEL\n${web.slice(0, 12)}   psf-web   web\n`);
    const json = JSON.parse(await d.ok(['ps', '--filter', 'label=app=web', '--format', 'json']));
    assert.equal(json.ID, web.slice(0, 12));
    assert.equal(json.Names, 'psf-web');
    assert.equal(json.Command, '"sleep 1000"');
    assert.equal(json.State, 'running');
    assert.match(json.Size, /^\d+(\.\d+)?k?B \(virtual [\d.]+[kM]B\)$/);
    const sized = await d.ok(['ps', '-s', '--filter', 'label=app=db']);
    assert.match(sized.split('\n')[0]!, /^CONTAINER ID +IMAGE +COMMAND +CREATED +STATUS +PORTS +NAMES +SIZE$/);
    assert.match(sized.split('\n')[1]!, / psf-db +\d+(\.\d+)?k?B \(virtual [\d.]+[kM]B\)$/);
  });

  test('ps: bad filters and templates fail with docker\'s message, exit 125', async () => {
    const bad = async (args: string[], msg: RegExp) => {
      const r = await d.cli(args);
      assert.equal(r.code, 125, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, msg);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.equal(r.stdout, '');
    };
    await bad(['ps', '--filter', 'x=1'], /invalid filter 'x'/);
    await bad(['ps', '--filter', 'status=sleepy'], /invalid filter 'status=sleepy'/);
    await bad(['ps', '--format', '{{.Names'], /template parsing error: template: :1: unclosed action/);
    await bad(['ps', '--format', '{{.Nope}}'], /template parsing error: .*can't evaluate field Nope in type \*formatter.ContainerContext/);
    await bad(['inspect', '-f', '{{', web], /template parsing error: template: :1: unclosed action/);
    await bad(['inspect', '-f', '{{nosuch .Id}}', web], /function "nosuch" not defined/);
    assert.equal(await d.ok(['inspect', '-f', '{{.Nope}} {{.Config.Labels.app}} {{index .Config.Labels "tier"}}', web]), '<no value> web front\n');
    assert.equal(await d.ok(['inspect', '-f', '{{range $k, $v := .Config.Labels}}{{$k}}={{$v}} {{end}}', web]), 'app=web owner=ops tier=front \n');
  });

  test('--env-file: docker\'s format, -e after it wins', async () => {
    const ef = join(dir, 'env');
    writeFileSync(ef, '# comment\nFROM_FILE=1\nBOTH=file\nPSF_PASSED\n');
    const out = await d.ok(['run', '--rm', '--env-file', ef, '-e', 'BOTH=flag', 'busybox', 'sh', '-c', 'echo $FROM_FILE $BOTH $PSF_PASSED'], { env: { ...process.env, PSF_PASSED: 'ours' } });
    assert.equal(out, '1 flag ours\n');
    const r = await d.cli(['run', '--rm', '--env-file', join(dir, 'missing'), 'busybox', 'true']);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /--env-file: cannot read .*missing: ENOENT/);
  });

  test('images: --filter, --format, --digests', async () => {
    const id = JSON.parse(await d.ok(['image', 'inspect', 'busybox']))[0].Id as string;
    assert.equal(await d.ok(['images', '--filter', 'reference=busy*', '--format', '{{.Repository}}:{{.Tag}} {{.ID}} {{.Digest}}']), `busybox:latest ${id.slice(7, 19)} <none>\n`);
    assert.equal(await d.ok(['images', '--filter', 'dangling=true', '-q']), '');
    assert.equal(await d.ok(['images', '--filter', 'label=nosuch', '-q']), '');
    assert.equal(await d.ok(['images', 'busybox', '-q']), `${id.slice(7, 19)}\n`);
    assert.match((await d.ok(['images', '--digests'])).split('\n')[0]!, /^REPOSITORY +TAG +DIGEST +IMAGE ID +CREATED +SIZE$/);
    assert.equal(JSON.parse(await d.ok(['images', '--format', 'json'])).ID, id.slice(7, 19));
    const r = await d.cli(['images', '--filter', 'dangling=maybe']);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /invalid filter 'dangling=maybe'/);
  });

  test('--stop-signal and --stop-timeout: inspect shows them, stop without -t uses them', async () => {
    const id = (await d.ok(['run', '-d', '--stop-signal', 'SIGUSR1', '--stop-timeout', '1', 'busybox', 'sh', '-c', 'trap "" USR1 TERM; while :; do sleep 1; done'])).trim();
    const doc = await d.inspect(id);
    assert.equal(doc.Config.StopSignal, 'SIGUSR1');
    assert.equal(doc.Config.StopTimeout, 1);
    const t0 = Date.now();
    await d.ok(['stop', id]);
    // It ignores its stop signal: only the kill after --stop-timeout ends it (137), well before the default 10 s.
    assert.ok(Date.now() - t0 < 8000, `stop took ${Date.now() - t0} ms`);
    assert.equal((await d.inspect(id)).State.ExitCode, 137);
    // restart without -t: the same bound
    await d.ok(['start', id]);
    const t1 = Date.now();
    await d.ok(['restart', id]);
    assert.ok(Date.now() - t1 < 8000, `restart took ${Date.now() - t1} ms`);
    assert.equal((await d.inspect(id)).State.Running, true);
    await d.ok(['rm', '-f', id]);
    const r = await d.cli(['run', '-d', '--stop-signal', 'NOPE', 'busybox', 'true']);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /invalid signal "NOPE"/);
    assert.equal((await d.ok(['ps', '-a', '-q'])).trim().split('\n').length, 3, 'the refused one left no container');
    rmSync(dir, { recursive: true, force: true });
  });
});
