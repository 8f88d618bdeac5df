// Go templates (--format), docker ps filters and list formatting, --env-file/--label-file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyFormat } from '../../cli/inspect-util.ts';
import { CliError, UsageError } from '../../cli/errors.ts';
import { buildCreateRequest } from '../../cli/create-flags.ts';
import { GO_TYPE, parseTemplate, TemplateError } from '../../cli/render/template.ts';
import { renderList, tabwrite } from '../../cli/render/list-format.ts';
import { containerContext, PS_HEADERS, sizeText } from '../../cli/render/ps-context.ts';
import { parseFilters, selectContainers } from '../../cli/ps-filter.ts';
import { labelList, parseKvFile } from '../../cli/parse/kv-file.ts';
import { deletedImages } from '../../cli/commands/image/prune.ts';
import type { ContainerSummary, ImageSummary } from '../../proto/api.ts';
import { parseImageFilters, selectImages } from '../../cli/image-filter.ts';
import { IMAGE_HEADERS, IMAGE_TABLE_DIGESTS, imageContext } from '../../cli/render/image-context.ts';

const doc = { Name: '/web', State: { Status: 'running', Pid: 42 }, Config: { Env: ['A=1', 'B=2'], Labels: { a: 'x', b: 'y' }, Cmd: null } };

function failure(fn: () => unknown): CliError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof CliError, String(e));
    return e;
  }
  assert.fail('expected an error');
}

test('template: a template that does not parse is "template parsing error" exit 125', () => {
  for (const [t, msg] of [
    ['{{', 'template parsing error: template: :1: unclosed action'],
    ['{{.Foo', 'template parsing error: template: :1: unclosed action'],
    ['{{nosuch .}}', 'template parsing error: template: :1: function "nosuch" not defined'],
    ['{{if .A}}x', 'template parsing error: template: :1: unexpected EOF'],
    ['{{end}}', 'template parsing error: template: :1: unexpected {{end}}'],
    ['{{define "x"}}{{end}}', 'template parsing error: template: :1: unsupported template action {{define}}'],
  ] as const) {
    const e = failure(() => applyFormat(t, doc));
    assert.equal(e.message, msg, t);
    assert.equal(e.exitCode, 125);
  }
});

test('template: a missing map key is <no value>, a missing struct field an error like Go', () => {
  assert.equal(applyFormat('{{.Nope}}', doc), '<no value>');
  assert.equal(applyFormat('{{.Config.Nope}}', doc), '<no value>');
  assert.equal(applyFormat('{{.Config.Cmd}}', doc), '<nil>');
  const s = { ID: 'abc' };
  Object.defineProperty(s, GO_TYPE, { value: '*formatter.ContainerContext' });
  assert.equal(failure(() => applyFormat('{{.ID}} {{.Foo}}', s)).message,
    'template parsing error: template: :1:10: executing "" at <.Foo>: can\'t evaluate field Foo in type *formatter.ContainerContext');
  assert.match(failure(() => applyFormat('{{.Nope.X}}', doc)).message, /nil pointer evaluating interface \{\}\.X/);
});

test('template: docker/cli functions and Go builtins', () => {
  const cases: [string, string][] = [
    ['{{json .Config.Env}}', '["A=1","B=2"]'],
    ['{{json .State}}', '{"Status":"running","Pid":42}'],
    ['{{join .Config.Env ","}}', 'A=1,B=2'],
    ['{{.Name | upper}} {{lower "AbC"}} {{title "hello world"}}', '/WEB abc Hello World'],
    ['{{split "a:b:c" ":"}}', '[a b c]'],
    ['{{index (split "a:b:c" ":") 1}}', 'b'],
    ['{{truncate .Name 3}}|{{pad .Name 1 2}}|', '/we| /web  |'],
    ['{{println .Name}}', '/web\n'],
    ['{{.Config.Env}} {{.Config.Labels}}', '[A=1 B=2] map[a:x b:y]'],
    ['{{len .Config.Env}} {{printf "%s:%d" .Name 7}}', '2 /web:7'],
    ['{{index .Config.Labels "b"}}', 'y'],
    ['{{- "a" -}}   {{"b"}}', 'ab'],
    ['{{/* a comment */}}x', 'x'],
    ['{{$n := .Name}}{{$n}}', '/web'],
  ];
  for (const [t, want] of cases) assert.equal(applyFormat(t, doc), want, t);
});

test('template: if/else, range (with variables and else), with', () => {
  assert.equal(applyFormat('{{if eq .State.Status "running"}}up{{else}}down{{end}}', doc), 'up');
  assert.equal(applyFormat('{{if .Nope}}a{{else if .Name}}b{{else}}c{{end}}', doc), 'b');
  assert.equal(applyFormat('{{range .Config.Env}}[{{.}}]{{end}}', doc), '[A=1][B=2]');
  assert.equal(applyFormat('{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}', doc), 'a=x;b=y;');
  assert.equal(applyFormat('{{range .Nope}}x{{else}}empty{{end}}', doc), 'empty');
  assert.equal(applyFormat('{{with .State}}{{.Pid}}{{end}}{{with .Nope}}no{{end}}', doc), '42');
  assert.equal(applyFormat('{{range $i, $e := .Config.Env}}{{$i}}{{$.Name}}{{end}}', doc), '0/web1/web');
});

test('template: what data holds is escaped, the template\'s own text is not', () => {
  const evil = { Name: 'a\x1b[2Jb' };
  assert.equal(applyFormat('{{.Name}}\n', evil), 'a\\x1b[2Jb\n');
  assert.equal(applyFormat('{{println .Name}}', evil), 'a\\x1b[2Jb\n');
  assert.ok(parseTemplate('{{.A}}'));
  assert.throws(() => parseTemplate('{{.A'), TemplateError);
});

function summary(over: Partial<ContainerSummary>): ContainerSummary {
  return {
    id: 'a'.repeat(64), name: 'web', image: 'busybox', command: 'sleep 100', created: 1000, state: 'running', status: 'Up 2 seconds',
    ports: [], pid: 1, exitCode: 0, oomKilled: false, labels: [], networks: ['bridge'], mounts: [], imageId: 'sha256:' + 'f'.repeat(64), createdMs: 0, ...over,
  };
}

const LIST = [
  summary({ id: '1'.repeat(64), name: 'one', created: 100, labels: ['app=web', 'tier=front'], ports: [{ hostIp: '', hostPort: 8080, containerPort: 80, protocol: 'tcp' }] }),
  summary({ id: '2'.repeat(64), name: 'two', created: 200, state: 'exited', status: 'Exited (3) 1 second ago', exitCode: 3, labels: ['app=db'] }),
  summary({ id: '3'.repeat(64), name: 'three', created: 300, status: 'Up 1 second (healthy)', image: 'other:1', imageId: 'sha256:' + 'e'.repeat(64), mounts: ['vol1'] }),
  summary({ id: '4'.repeat(64), name: 'four', created: 400, state: 'created', status: 'Created' }),
];

const names = (f: string[], opts: { all?: boolean; last?: number } = {}) =>
  selectContainers(LIST, { all: opts.all ?? false, last: opts.last ?? 0, filters: parseFilters(f) }).map((c) => c.name);

test('ps filters: docker keys, OR within a key, AND across keys, newest first', () => {
  assert.deepEqual(names([]), ['three', 'one']);
  assert.deepEqual(names([], { all: true }), ['four', 'three', 'two', 'one']);
  assert.deepEqual(names(['label=app'], { all: true }), ['two', 'one']);
  assert.deepEqual(names(['label=app=web']), ['one']);
  assert.deepEqual(names(['label=app', 'label=tier=front'], { all: true }), ['one'], 'every label must match');
  assert.deepEqual(names(['name=one', 'name=thr']), ['three', 'one'], 'names are alternatives');
  assert.deepEqual(names(['name=^/t']), ['three'], 'names match as /NAME, regular expressions');
  assert.deepEqual(names(['status=exited']), ['two'], 'a status filter lists stopped ones without -a');
  assert.deepEqual(names(['status=running', 'status=created']), ['four', 'three', 'one']);
  assert.deepEqual(names(['exited=3'], { all: true }), ['two']);
  assert.deepEqual(names(['exited=0'], { all: true }), []);
  assert.deepEqual(names(['health=healthy']), ['three']);
  assert.deepEqual(names(['health=none']), ['one']);
  assert.deepEqual(names(['ancestor=busybox:latest'], { all: true }), ['four', 'two', 'one']);
  assert.deepEqual(names(['ancestor=eeeeeeee']), ['three']);
  assert.deepEqual(names(['before=three'], { all: true }), ['two', 'one']);
  assert.deepEqual(names(['since=two'], { all: true }), ['four', 'three']);
  assert.deepEqual(names(['volume=vol1']), ['three']);
  assert.deepEqual(names(['publish=80']), ['one']);
  assert.deepEqual(names(['publish=80/udp']), []);
  assert.deepEqual(names(['publish=70-90/tcp']), ['one']);
  assert.deepEqual(names(['id=' + '1'.repeat(5)]), ['one']);
  assert.deepEqual(names(['network=bridge', 'label=app=web']), ['one']);
  assert.deepEqual(names([], { last: 2 }), ['four', 'three'], '-n includes every state');
  assert.deepEqual(names(['status=running'], { last: 1 }), ['three']);
});

test('ps filters: docker\'s errors for a bad key or value (exit 125)', () => {
  const err = (f: string[]) => failure(() => names(f));
  assert.equal(err(['x=1']).message, "invalid filter 'x'");
  assert.equal(err(['x=1']).exitCode, 125);
  assert.equal(err(['nokey']).message, 'bad format of filter (expected name=value)');
  assert.equal(err(['status=sleeping']).message, "invalid filter 'status=sleeping'");
  assert.equal(err(['health=good']).message, 'Unrecognised filter value for health: good');
  assert.equal(err(['before=nosuch']).message, 'No such container: nosuch');
});

test('ps --format: ContainerContext fields, Label, json, table with headers', () => {
  const c = containerContext(LIST[0]!, true, undefined, 110_000);
  const one = (f: string) => renderList(f, [c], PS_HEADERS);
  assert.equal(one('{{.ID}} {{.Names}} {{.Image}} {{.Command}} {{.State}}'), '111111111111 one busybox "sleep 100" running\n');
  assert.equal(one('{{.Labels}}|{{.Label "tier"}}|{{.Label "nope"}}|{{.Networks}}|{{.Ports}}|{{.Size}}'), 'app=web,tier=front|front||bridge|0.0.0.0:8080->80/tcp|0B\n');
  assert.equal(one('{{.RunningFor}}'), '10 seconds ago\n');
  assert.match(one('{{.CreatedAt}}'), /^1970-01-01 \d\d:01:40 [+-]\d{4} \S+\n$/);
  const json = JSON.parse(one('json')) as Record<string, string>;
  assert.deepEqual(Object.keys(json), ['Command', 'CreatedAt', 'ID', 'Image', 'Labels', 'LocalVolumes', 'Mounts', 'Names', 'Networks', 'Ports', 'RunningFor', 'Size', 'State', 'Status']);
  assert.equal(one('{{json .}}'), one('json'));
  assert.equal(one('table {{.ID}}\\t{{.Names}}\\t{{.Label "app"}}'), 'CONTAINER ID   NAMES     LABEL\n111111111111   one       web\n');
  assert.equal(renderList('table {{.Names}}', [], PS_HEADERS), 'NAMES\n', 'a table prints its header with no rows');
  assert.match(failure(() => one('{{.Nope}}')).message, /can't evaluate field Nope in type \*formatter.ContainerContext/);
  assert.equal(sizeText({ rw: 0, virtual: 1_980_000 }), '0B (virtual 1.98MB)');
});

test('tabwrite: docker\'s columns (min width 10, padding 3), text after the last tab unaligned', () => {
  assert.equal(tabwrite('A\tBB\tC\nxxxxxxxxxxxx\ty\tz\n'), 'A              BB        C\nxxxxxxxxxxxx   y         z\n');
});

test('--env-file and --label-file: docker\'s file format', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tdock-kv-'));
  try {
    const f = join(dir, 'env');
    writeFileSync(f, '# comment\n\n  A=1\nB=x=y\nPASSED\nUNSET\nEMPTY=\n');
    assert.deepEqual(parseKvFile(f, '--env-file', (k) => (k === 'PASSED' ? 'ours' : undefined)), ['A=1', 'B=x=y', 'PASSED=ours', 'EMPTY=']);
    writeFileSync(f, 'a=1\nflag\nb=2\n');
    assert.deepEqual(labelList([f], ['b=3', 'c']), ['a=1', 'b=3', 'c=', 'flag=']);
    writeFileSync(f, 'BAD KEY=1\n');
    assert.throws(() => parseKvFile(f, '--env-file'), /variable 'BAD KEY' contains whitespaces/);
    writeFileSync(f, '=1\n');
    assert.throws(() => parseKvFile(f, '--env-file'), /no variable name on line 1/);
    assert.throws(() => parseKvFile(join(dir, 'missing'), '--env-file'), /--env-file: cannot read .*missing: ENOENT/);
    // through run/create's flags: a usage error (exit 125) naming the flag
    assert.throws(() => buildCreateRequest({ 'env-file': [join(dir, 'missing')] }, 'busybox', []), (e) => e instanceof UsageError && /--env-file/.test(e.message));
    writeFileSync(f, 'FROMFILE=1\nX=file\n');
    const req = buildCreateRequest({ 'env-file': [f], env: ['X=flag'], label: ['a=b'], 'stop-signal': 'SIGINT', 'stop-timeout': 3 }, 'busybox', []);
    assert.deepEqual(req.env, ['FROMFILE=1', 'X=file', 'X=flag']);
    assert.deepEqual([req.labels, req.stopSignal, req.stopTimeout, req.stopTimeoutSet], [['a=b'], 'SIGINT', 3, true]);
    assert.throws(() => buildCreateRequest({ 'stop-timeout': -2 }, 'busybox', []), UsageError);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('images filters and --format: docker\'s keys, patterns and imageContext', () => {
  const img = (id: string, repository: string, tag: string, created: number, labels: string[] = [], digest = ''): ImageSummary =>
    ({ id: `sha256:${id.repeat(64)}`, repository, tag, created, size: 1_980_000, digest, labels });
  const list = [img('c', 'busybox', 'latest', 300, ['v=1']), img('c', 'reg:5000/team/app', '2', 300, ['v=1'], 'sha256:' + 'd'.repeat(64)), img('b', '<none>', '<none>', 200), img('a', 'alpine', '3', 100)];
  const pick = (...f: string[]) => selectImages(list, parseImageFilters(f)).map((i) => `${i.repository}:${i.tag}`);
  assert.deepEqual(pick('dangling=true'), ['<none>:<none>']);
  assert.deepEqual(pick('dangling=false'), ['busybox:latest', 'reg:5000/team/app:2', 'alpine:3']);
  assert.deepEqual(pick('reference=busy*'), ['busybox:latest']);
  assert.deepEqual(pick('reference=*:3', 'reference=busybox'), ['busybox:latest', 'alpine:3'], 'references are alternatives');
  assert.deepEqual(pick('reference=reg:5000/team/*'), ['reg:5000/team/app:2']);
  assert.deepEqual(pick('reference=app'), [], '* and names do not cross "/"');
  assert.deepEqual(pick('before=busybox'), ['<none>:<none>', 'alpine:3']);
  assert.deepEqual(pick('since=alpine:3'), ['busybox:latest', 'reg:5000/team/app:2', '<none>:<none>']);
  assert.deepEqual(pick('label=v=1', 'dangling=false'), ['busybox:latest', 'reg:5000/team/app:2']);
  assert.equal(failure(() => pick('dangling=maybe')).message, "invalid filter 'dangling=maybe'");
  assert.equal(failure(() => pick('until=1h')).message, "invalid filter 'until'");
  assert.equal(failure(() => pick('before=nosuch')).message, 'No such image: nosuch');
  const ctx = list.map((i) => imageContext(i, true, 400_000));
  assert.equal(renderList(IMAGE_TABLE_DIGESTS, ctx.slice(1, 2), IMAGE_HEADERS),
    `REPOSITORY          TAG       DIGEST                                                                    IMAGE ID       CREATED              SIZE\nreg:5000/team/app   2         sha256:${'d'.repeat(64)}   ${'c'.repeat(12)}   About a minute ago   1.98MB\n`);
  assert.equal(renderList('{{.Repository}}:{{.Tag}} {{.Digest}} {{.ID}}', ctx.slice(0, 1), IMAGE_HEADERS), `busybox:latest <none> ${'c'.repeat(12)}\n`);
  assert.deepEqual(Object.keys(JSON.parse(renderList('json', ctx.slice(0, 1), IMAGE_HEADERS)) as object),
    ['Containers', 'CreatedAt', 'CreatedSince', 'Digest', 'ID', 'Repository', 'SharedSize', 'Size', 'Tag', 'UniqueSize', 'VirtualSize']);
  assert.match(failure(() => renderList('{{.Names}}', ctx.slice(0, 1), IMAGE_HEADERS)).message, /can't evaluate field Names in type \*formatter.imageContext/);
});

test('image prune output: "untagged: REF" lines before each "deleted: ID", as Docker', () => {
  assert.equal(deletedImages(['sha256:a', 'sha256:b'], [{ id: 'sha256:a', refs: ['busybox:latest', 'busybox@sha256:d'] }]),
    'Deleted Images:\nuntagged: busybox:latest\nuntagged: busybox@sha256:d\ndeleted: sha256:a\ndeleted: sha256:b\n\n');
  assert.equal(deletedImages([]), '');
});
