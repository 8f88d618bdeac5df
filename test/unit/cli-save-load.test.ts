// save/load/push in the CLI, in this process: the refusals that come before any daemon
// call (a terminal as the archive's destination or source), and the flags as parsed.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config } from '@oclif/core/config';
import { loadCliConfig, runCommand, type CommandName } from './cli-in-process.ts';

let config: Config;
let scratch: string;


async function tdock(name: CommandName, argv: string[], opts: { ttyOut?: boolean; ttyIn?: boolean } = {}) {
  // nothing listens here: a command that got as far as the daemon would say so
  return runCommand(config, name, argv, { host: `unix://${join(scratch, 'none.sock')}`, ttyOut: opts.ttyOut ?? false, ttyIn: opts.ttyIn ?? false });
}

before(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'tdock-cli-saveload-'));
  config = await loadCliConfig();
});
after(() => rmSync(scratch, { recursive: true, force: true }));

test('save refuses a terminal as stdout, like docker', async () => {
  const r = await tdock('save', ['busybox'], { ttyOut: true });
  assert.deepEqual([r.code, r.stdout, r.stderr], [1, '', 'Error: cowardly refusing to save to a terminal. Use the -o flag or redirect\n']);
});

test('save needs an image; with -o a terminal is fine (it goes on to the daemon)', async () => {
  const r = await tdock('save', []);
  assert.equal(r.code, 125);
  assert.match(r.stderr, /"save" requires at least 1 argument/);
  const o = await tdock('save', ['-o', join(scratch, 'x.tar'), 'busybox'], { ttyOut: true });
  assert.equal(o.code, 1);
  assert.match(o.stderr, /Cannot connect to the tdock daemon/);
  assert.deepEqual(readdirSync(scratch), [], 'no output file, no temporary file');
});

test('load refuses a terminal as stdin, and a missing -i file, before any daemon call', async () => {
  const r = await tdock('load', [], { ttyIn: true });
  assert.deepEqual([r.code, r.stderr], [1, 'Error: requested load from stdin, but stdin is empty\n']);
  const f = await tdock('load', ['-i', join(scratch, 'nope.tar')]);
  assert.equal(f.code, 1);
  assert.match(f.stderr, /open .*nope\.tar: no such file or directory/);
});
