// save/load/push in the CLI, in this process: the refusals that come before any daemon
// call (a terminal as the archive's destination or source), and the flags as parsed.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { Config } from '@oclif/core/config';
import { setIo } from '../../cli/base.ts';
import { COMMANDS } from '../../cli/app.ts';

let config: Config;
let scratch: string;

class Capture extends Writable {
  chunks: Buffer[] = [];
  isTTY: boolean;
  constructor(tty: boolean) {
    super();
    this.isTTY = tty;
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.chunks.push(Buffer.from(chunk));
    cb();
  }
  get text(): string {
    return Buffer.concat(this.chunks).toString();
  }
}

async function tdock(name: keyof typeof COMMANDS, argv: string[], opts: { ttyOut?: boolean; ttyIn?: boolean } = {}) {
  const stdout = new Capture(opts.ttyOut ?? false);
  const stderr = new Capture(false);
  const stdin = Object.assign(Readable.from([]), { isTTY: opts.ttyIn ?? false });
  setIo({ stdout, stderr, stdin: stdin as never });
  const saved = process.env.TDOCK_HOST;
  // nothing listens here: a command that got as far as the daemon would say so
  process.env.TDOCK_HOST = `unix://${join(scratch, 'none.sock')}`;
  let code = 0;
  try {
    await COMMANDS[name].run(argv, config);
  } catch (e) {
    const err = e as Error & { code?: string; oclif?: { exit?: number } };
    if (err.code !== 'EEXIT') throw e;
    code = err.oclif?.exit ?? 1;
  } finally {
    setIo({});
    process.exitCode = undefined;
    if (saved === undefined) delete process.env.TDOCK_HOST;
    else process.env.TDOCK_HOST = saved;
  }
  return { code, stdout: stdout.text, stderr: stderr.text };
}

before(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'tdock-cli-saveload-'));
  const pjson = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
  pjson.oclif.commands = undefined;
  config = await Config.load({ root: new URL('../..', import.meta.url).pathname, pjson, userPlugins: false, devPlugins: false, ignoreManifest: true });
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
