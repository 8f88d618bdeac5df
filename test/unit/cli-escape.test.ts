// What a container or an image controls is printed with its control characters
// escaped (cli/render/escape.ts): tables (top, ps), inspect (JSON and --format), and
// error lines. Logs stay raw.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Config } from '@oclif/core/config';
import { visible, visibleJson } from '../../cli/render/escape.ts';
import { renderTable } from '../../cli/render/table.ts';
import { applyFormat } from '../../cli/inspect-util.ts';
import { renderInspect } from '../../cli/render/inspect.ts';
import { psRows } from '../../cli/commands/ps.ts';
import { describeError, Code } from '../../cli/errors.ts';
import { loadCliConfig, runCommand, type CommandName } from './cli-in-process.ts';
import { startFakeDaemon, type FakeDaemon } from './cli-fake-daemon.ts';

// Set a window title, clear the screen, a C1 CSI, DEL, a right-to-left override, a forged row.
const EVIL = 'sleep\x1b]0;pwned\x07 \x1b[2J\u009b31m\x7f \u202eexe.txt\nroot  4243  fake';
const SHOWN = 'sleep\\x1b]0;pwned\\x07 \\x1b[2J\\x9b31m\\x7f \\u202eexe.txt\\nroot  4243  fake';
/** Any byte that makes a terminal do something rather than show a character. */
const RAW = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

test('visible: every control character as an escape, everything else as it is', () => {
  assert.equal(visible(EVIL), SHOWN);
  assert.equal(visible('tab\there\r\0'), 'tab\\there\\r\\x00');
  assert.equal(visible('plain: äöü 日本 emoji 👍🏽 \\x1b stays'), 'plain: äöü 日本 emoji 👍🏽 \\x1b stays');
  assert.equal(visible(visible(EVIL)), SHOWN, 'escaping twice changes nothing');
  // JSON: the same value, with what JSON.stringify leaves raw escaped too.
  const json = JSON.stringify({ cmd: EVIL });
  assert.match(json, RAW);
  assert.doesNotMatch(visibleJson(json), RAW);
  assert.deepEqual(JSON.parse(visibleJson(json)), { cmd: EVIL });
});

test('tables, inspect and error lines never carry a raw control character', () => {
  const table = renderTable([['PID', 'CMD'], ['4242', EVIL]]);
  assert.doesNotMatch(table, RAW);
  assert.equal(table.split('\n').length, 3, 'no forged row');
  assert.equal(table, `PID       CMD\n4242      ${SHOWN}\n`);
  const ps = renderTable(psRows([{ id: 'a'.repeat(64), name: 'web', image: 'busybox', command: EVIL, created: 0, state: 'running', status: 'Up', ports: [], pid: 1, exitCode: 0, oomKilled: false, labels: [], networks: [], mounts: [], imageId: '', createdMs: 0 }], true));
  assert.doesNotMatch(ps, RAW);
  const doc = { Config: { Cmd: [EVIL], WorkingDir: EVIL }, State: { Error: EVIL } };
  assert.doesNotMatch(renderInspect([doc], undefined), RAW);
  assert.deepEqual(JSON.parse(renderInspect([doc], undefined)), [doc]);
  assert.equal(applyFormat('{{.Config.WorkingDir}}', doc), SHOWN);
  assert.doesNotMatch(applyFormat('{{.Config.Cmd}} {{json .State}}', doc), RAW);
  const g = Object.assign(new Error(EVIL), { code: Code.UNKNOWN, details: `exec: "${EVIL}": not found`, metadata: {} });
  assert.doesNotMatch(describeError(g, 'unix:///x').line, RAW);
});

// Through the commands themselves, against the fake daemon.
let daemon: FakeDaemon;
let config: Config;
before(async () => {
  daemon = await startFakeDaemon();
  config = await loadCliConfig();
});
after(async () => {
  await daemon?.close();
});

async function tdock(name: CommandName, argv: string[]): Promise<{ stdout: string; stderr: string }> {
  return runCommand(config, name, argv, { host: daemon.host });
}

test('top, ps, inspect and a failed start show the container\'s words escaped; logs stay raw', async () => {
  await tdock('run', ['-d', '--name', 'evil', 'alpine', 'top', EVIL]);
  const top = await tdock('top', ['evil']);
  assert.equal(top.stdout, `PID                 USER                CMD\n4242                root                ${SHOWN}\n`);
  for (const out of [(await tdock('ps', [])).stdout, (await tdock('ps', ['--no-trunc'])).stdout, (await tdock('inspect', ['evil'])).stdout]) {
    assert.doesNotMatch(out, RAW, out);
  }
  const run = await tdock('run', ['alpine', 'missing-as', EVIL]);
  assert.doesNotMatch(run.stderr, RAW, run.stderr);
  assert.equal(run.stderr.split('\n').length, 2, run.stderr);
  await tdock('run', ['--name', 'says', 'alpine', 'echo', EVIL]);
  assert.equal((await tdock('logs', ['says'])).stdout, `${EVIL}\n`);
  await tdock('kill', ['evil']);
});
