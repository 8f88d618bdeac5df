// tdock events (issue 13): container and image events in Docker's line and JSON formats,
// filters, --since/--until from the journal (also after a daemon restart), and a live
// stream that Ctrl-C ends with 0.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { suiteDaemon, TDOCK } from '../helpers/daemon.ts';
import { tarArchive } from '../../images/tar-writer.ts';

/** Now as Unix "SECONDS.NANOS" (the forms --since/--until take). */
const nowArg = () => (Date.now() / 1000).toFixed(3);

const LINE = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z) (container|image) (.+?) (\S+)(?: \((.*)\))?$/;

function parse(out: string) {
  return out.trim().split('\n').filter(Boolean).map((l) => {
    const m = LINE.exec(l);
    assert.ok(m, `not an event line: ${l}`);
    const attrs: Record<string, string> = {};
    for (const kv of (m[5] ?? '').split(', ').filter(Boolean)) attrs[kv.slice(0, kv.indexOf('='))] = kv.slice(kv.indexOf('=') + 1);
    return { time: m[1]!, type: m[2]!, action: m[3]!, id: m[4]!, attrs, line: l };
  });
}

describe('tdock events', () => {
  const d = suiteDaemon();

  test('a container run shows create, start, die (exit code), destroy in order with image and name', async () => {
    const since = nowArg();
    await d.ok(['pull', 'busybox']);
    const id = (await d.ok(['run', '-d', '--name', 'ev-one', 'busybox', 'sh', '-c', 'exit 3'])).trim();
    assert.equal((await d.ok(['wait', id])).trim(), '3');
    await d.ok(['rm', id]);
    const events = parse(await d.ok(['events', '--since', since, '--until', nowArg()]));
    // The first use of busybox in this daemon builds it: a pull, named as Docker names it.
    assert.deepEqual(events.filter((e) => e.type === 'image').map((e) => `${e.action} ${e.id} ${e.attrs.name}`), ['pull busybox:latest busybox:latest']);
    const mine = events.filter((e) => e.id === id);
    assert.deepEqual(mine.map((e) => e.action), ['create', 'start', 'die', 'destroy']);
    for (const e of mine) {
      assert.equal(e.type, 'container');
      assert.equal(e.attrs.image, 'busybox');
      assert.equal(e.attrs.name, 'ev-one');
    }
    assert.equal(mine[2]!.attrs.exitCode, '3');
    // Attributes in key order, like Docker's.
    assert.match(mine[2]!.line, /\(execDuration=\d+, exitCode=3, image=busybox, name=ev-one\)$/);
    // Times increase with the order.
    const times = mine.map((e) => e.time);
    assert.deepEqual([...times].sort(), times);
  });

  test('stop shows kill (signal 15), die, stop; kill shows its signal; rm -f of a running one kills with 9', async () => {
    const since = nowArg();
    const a = (await d.ok(['run', '-d', '--name', 'ev-stop', 'busybox', 'sleep', '1000'])).trim();
    await d.ok(['stop', '-t', '5', a]);
    const b = (await d.ok(['run', '-d', '--name', 'ev-kill', 'busybox', 'sleep', '1000'])).trim();
    await d.ok(['kill', '-s', 'WINCH', b]); // ignored by sleep: it keeps running
    await d.ok(['rm', '-f', b]);
    await d.ok(['rm', a]);
    const events = parse(await d.ok(['events', '--since', since, '--until', nowArg()]));
    const ofA = events.filter((e) => e.id === a);
    assert.deepEqual(ofA.map((e) => e.action), ['create', 'start', 'kill', 'die', 'stop', 'destroy']);
    assert.equal(ofA[2]!.attrs.signal, '15');
    assert.equal(ofA[3]!.attrs.exitCode, '143');
    const ofB = events.filter((e) => e.id === b);
    assert.deepEqual(ofB.map((e) => e.action), ['create', 'start', 'kill', 'kill', 'die', 'destroy']);
    assert.deepEqual(ofB.filter((e) => e.action === 'kill').map((e) => e.attrs.signal), ['28', '9']);
  });

  test('exec shows exec_create and exec_start with the command, then exec_die with its exit code', async () => {
    const id = (await d.ok(['run', '-d', '--name', 'ev-exec', 'busybox', 'sleep', '1000'])).trim();
    try {
      const since = nowArg();
      const r = await d.cli(['exec', id, 'sh', '-c', 'exit 4']);
      assert.equal(r.code, 4);
      const events = parse(await d.ok(['events', '--since', since, '--until', nowArg(), '--filter', 'container=ev-exec']));
      assert.deepEqual(events.map((e) => e.action), ['exec_create: sh -c exit 4', 'exec_start: sh -c exit 4', 'exec_die']);
      const execID = events[0]!.attrs.execID!;
      assert.match(execID, /^[0-9a-f]{64}$/);
      assert.ok(events.every((e) => e.attrs.execID === execID));
      assert.equal(events[2]!.attrs.exitCode, '4');
      const started = await d.ok(['events', '--since', since, '--until', nowArg(), '--filter', 'event=exec_start', '--format', '{{.Action}}']);
      assert.equal(started, 'exec_start: sh -c exit 4\n');
    } finally {
      await d.ok(['rm', '-f', id]);
    }
  });

  test('an OOM-killed container shows oom before die', async () => {
    const since = nowArg();
    const r = await d.cli(['run', '--name', 'ev-oom', '-m', '50m', 'busybox', 'dd', 'if=/dev/zero', 'of=/dev/null', 'bs=100M', 'count=1']);
    assert.equal(r.code, 137, r.stderr);
    const events = parse(await d.ok(['events', '--since', since, '--until', nowArg(), '--filter', 'container=ev-oom']));
    assert.deepEqual(events.map((e) => e.action), ['create', 'attach', 'start', 'oom', 'die']);
    assert.equal(events[4]!.attrs.exitCode, '137');
    await d.ok(['rm', 'ev-oom']);
  });

  test('filters: type, event, container (name or id prefix), image; the same key twice is OR', async () => {
    const since = nowArg();
    const a = (await d.ok(['run', '--name', 'ev-fa', 'busybox', 'true'])).trim();
    const b = (await d.ok(['run', '--name', 'ev-fb', 'busybox', 'true'])).trim();
    void a;
    void b;
    const idA = (await d.inspect('ev-fa')).Id as string;
    const idB = (await d.inspect('ev-fb')).Id as string;
    const until = nowArg();
    const q = async (...f: string[]) => parse(await d.ok(['events', '--since', since, '--until', until, ...f.flatMap((x) => ['--filter', x])]));
    // An attached run: create, attach, start, die (Docker's order).
    assert.deepEqual((await q('container=ev-fa')).map((e) => `${e.id}:${e.action}`), [`${idA}:create`, `${idA}:attach`, `${idA}:start`, `${idA}:die`]);
    assert.deepEqual((await q(`container=${idB.slice(0, 12)}`)).map((e) => e.action), ['create', 'attach', 'start', 'die']);
    assert.deepEqual((await q('event=die')).map((e) => e.id), [idA, idB]);
    assert.deepEqual((await q('event=die', 'container=ev-fb')).map((e) => e.id), [idB]);
    assert.deepEqual((await q('event=create', 'event=die', 'container=ev-fa')).map((e) => e.action), ['create', 'die']);
    assert.equal((await q('type=image')).length, 0);
    assert.equal((await q('image=busybox')).length, 8);
    assert.equal((await q('image=alpine')).length, 0);
    await d.ok(['rm', idA, idB]);
  });

  test('image events: import and tag, then untag and delete at rmi', async () => {
    const since = nowArg();
    const tar = tarArchive([{ path: 'hello', data: 'hi\n' }]);
    await d.ok(['import', '-', 'evimg:v1'], { input: tar });
    const id = (await d.ok(['image', 'inspect', '--format', '{{.Id}}', 'evimg:v1'])).trim();
    await d.ok(['rmi', 'evimg:v1']);
    const events = parse(await d.ok(['events', '--since', since, '--until', nowArg(), '--filter', 'type=image']));
    assert.deepEqual(events.map((e) => `${e.action} ${e.id} ${e.attrs.name}`), [
      `import ${id} ${id}`,
      `tag ${id} evimg:v1`,
      `untag ${id} ${id}`,
      `delete ${id} ${id}`,
    ]);
    // An image filter names the image by its reference or id.
    assert.equal(parse(await d.ok(['events', '--since', since, '--until', nowArg(), '--filter', `image=${id}`])).length, 4);
  });

  test("--format '{{json .}}' prints Docker's event JSON; other templates work", async () => {
    const since = nowArg();
    const id = (await d.ok(['run', '-d', '--name', 'ev-json', 'busybox', 'true'])).trim();
    await d.ok(['wait', id]);
    const until = nowArg();
    const out = await d.ok(['events', '--since', since, '--until', until, '--filter', 'container=ev-json', '--format', '{{json .}}']);
    const lines = out.trim().split('\n');
    assert.equal(lines.length, 3);
    const first = JSON.parse(lines[0]!);
    assert.deepEqual(Object.keys(first), ['status', 'id', 'from', 'Type', 'Action', 'Actor', 'scope', 'time', 'timeNano']);
    assert.deepEqual({ ...first, time: 0, timeNano: 0 }, {
      status: 'create', id, from: 'busybox', Type: 'container', Action: 'create',
      Actor: { ID: id, Attributes: { image: 'busybox', name: 'ev-json' } }, scope: 'local', time: 0, timeNano: 0,
    });
    // timeNano with all its digits (a double would round them), and time its seconds.
    const nano = /"timeNano":(\d+)\}$/.exec(lines[0]!)![1]!;
    assert.equal(nano.length, 19);
    assert.equal(String(first.time), nano.slice(0, 10));
    assert.equal(JSON.parse(lines[2]!).Actor.Attributes.exitCode, '0');
    const tmpl = await d.ok(['events', '--since', since, '--until', until, '--filter', 'container=ev-json', '--format', '{{.Action}} {{.Actor.Attributes.name}}']);
    assert.equal(tmpl, 'create ev-json\nstart ev-json\ndie ev-json\n');
    await d.ok(['rm', id]);
  });

  test('--since sees the events from before a daemon restart', async () => {
    const since = nowArg();
    const id = (await d.ok(['create', '--name', 'ev-restart', 'busybox', 'true'])).trim();
    await d.stop();
    await d.start();
    const events = parse(await d.ok(['events', '--since', since, '--until', nowArg(), '--filter', 'container=ev-restart']));
    assert.deepEqual(events.map((e) => `${e.action} ${e.id}`), [`create ${id}`]);
    // Durations count back from now, like logs --since.
    assert.ok(parse(await d.ok(['events', '--since', '10m', '--until', '0s', '--filter', 'container=ev-restart'])).length === 1);
    await d.ok(['rm', id]);
  });

  test('without --until it streams live events until Ctrl-C, then exits 0', async () => {
    const p = spawn(TDOCK, ['events', '--filter', 'event=start'], { env: { ...process.env, TDOCK_HOST: d.host }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    p.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
    const exited = new Promise<number | null>((r) => p.on('close', (code) => r(code)));
    try {
      // Started until the stream shows it: the subscription may come after the first run.
      const deadline = Date.now() + 60_000;
      let id = '';
      while (!out.includes(' container start ')) {
        assert.ok(Date.now() < deadline, `no start event streamed: ${out} ${err}`);
        id = (await d.ok(['run', '--rm', '--name', 'ev-live', 'busybox', 'true'])).trim();
        await new Promise((r) => setTimeout(r, 200));
      }
      void id;
      assert.match(out, /^\S+ container start [0-9a-f]{64} \(image=busybox, name=ev-live\)\n/);
      assert.doesNotMatch(out, / die /);
    } finally {
      p.kill('SIGINT');
    }
    assert.equal(await exited, 0, err);
    assert.equal(err, '');
  });

  test('a daemon shutdown ends a live stream: one line, exit 1', async () => {
    const p = spawn(TDOCK, ['events'], { env: { ...process.env, TDOCK_HOST: d.host }, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    p.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
    const exited = new Promise<number | null>((r) => p.on('close', (code) => r(code)));
    // Subscribed once an event reaches it.
    let out = '';
    p.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    const deadline = Date.now() + 60_000;
    while (!out) {
      assert.ok(Date.now() < deadline, 'the stream never showed an event');
      await d.ok(['run', '--rm', 'busybox', 'true']);
      await new Promise((r) => setTimeout(r, 200));
    }
    await d.stop();
    assert.equal(await exited, 1);
    assert.match(err, /^Error: the connection to the tdock daemon at \S+ was lost \(tdockd stopped or crashed during the call\)\n$/);
    await d.start();
  });

  test('bad flags: one line, exit 125', async () => {
    for (const args of [['--filter', 'colour=red'], ['--filter', 'type=volume'], ['--filter', 'novalue'], ['--since', 'yesterday']]) {
      const r = await d.cli(['events', ...args, '--until', '0s']);
      assert.equal(r.code, 125, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1);
      assert.equal(r.stdout, '');
    }
  });
});
