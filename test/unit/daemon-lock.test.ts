// One daemon per root (daemon/lock.ts): a lock that someone only reads for a moment is
// waited for, not taken as another daemon. Two daemons started at the same instant both
// read the lock file first (each then holds SQLite's shared lock); with no wait at all
// each one's write found the other's shared lock, and both refused to start.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { lockDir } from '../../daemon/lock.ts';

const node = process.execPath;
const lockModule = new URL('../../daemon/lock.ts', import.meta.url).pathname;

/**
 * Runs lockDir(dir) in a process of its own (SQLite's file locks are per process):
 * resolves with "won" or the refusal; `answered` as soon as it has said which.
 */
function tryLock(dir: string, holdMs: number, answered: () => void = () => {}, signal?: AbortSignal): Promise<string> {
  const code = `import { lockDir } from ${JSON.stringify(lockModule)};
try { lockDir(${JSON.stringify(dir)}, '--root'); console.log('won'); setTimeout(() => {}, ${holdMs}); }
catch (e) { console.log(e.message); }`;
  const p = spawn(node, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'], ...(signal ? { signal } : {}) });
  p.on('error', () => {}); // the abort that ends a holder
  let out = '';
  p.stdout.setEncoding('utf8').on('data', (s: string) => {
    out += s;
    if (out.includes('\n')) answered();
  });
  return new Promise((resolve) => p.on('exit', () => resolve(out.trim())));
}

test('a reader holding the lock file for a moment delays a daemon, it does not refuse it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tdock-lock-'));
  try {
    lockDir(dir, '--root').release(); // the file and its table exist, as after a first run
    const reader = new Database(join(dir, 'tdockd.lock'));
    reader.exec('BEGIN');
    reader.prepare('SELECT count(*) FROM holder').get(); // SQLite's shared lock, held
    const result = tryLock(dir, 0);
    setTimeout(() => reader.exec('COMMIT'), 200);
    assert.equal(await result, 'won');
    reader.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('while a daemon holds it, another refuses with one line naming the root', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tdock-lock-'));
  try {
    let holding!: () => void;
    const held = new Promise<void>((r) => (holding = r));
    const stop = new AbortController();
    const first = tryLock(dir, 60_000, holding, stop.signal);
    await held;
    const second = await tryLock(dir, 0);
    stop.abort();
    assert.match(second, new RegExp(`^another tdockd \\(pid \\d+\\) already uses --root ${dir}: stop it first`));
    assert.equal(await first, 'won');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
