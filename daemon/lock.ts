// One daemon per --root and per --exec-root. A pid file alone is read-check-write:
// two daemons started at once both pass it and then fight over the bridge, the
// firewall table and the database. This takes an exclusive lock the kernel holds
// for the process (SQLite's, an fcntl lock on LOCK_FILE, released when the process
// dies however it dies) before any of that is touched.
import Database from 'better-sqlite3';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EngineError } from './errors.ts';

export interface DaemonLock {
  release(): void;
}

/** Locks `dir` (what: "--root" or "--exec-root" for the message) or throws naming the other daemon. */
export function lockDir(dir: string, what: string): DaemonLock {
  // A wait, not an instant refusal: two daemons started at once each read the file
  // first (and keep SQLite's shared lock); the one whose write must wait for the other's
  // shared lock to go needs a moment (SQLite answers the other at once, it deadlocks
  // otherwise); without any wait both refused. A daemon that holds it is never waited out.
  const db = new Database(join(dir, 'tdockd.lock'), { timeout: 1000 });
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    // No journal file: a restart on a full disk must still get its lock (the
    // table's page exists from the last run and is rewritten in place).
    db.pragma('journal_mode = MEMORY');
    // The first write takes the exclusive lock; in this mode it is never given back.
    db.exec('CREATE TABLE IF NOT EXISTS holder (pid INTEGER); DELETE FROM holder;');
    db.prepare('INSERT INTO holder (pid) VALUES (?)').run(process.pid);
  } catch (e) {
    db.close();
    if ((e as { code?: string }).code === 'SQLITE_BUSY' || /locked|busy/i.test((e as Error).message)) {
      let pid = '';
      try {
        pid = ` (pid ${Number(readFileSync(join(dir, 'tdockd.pid'), 'utf8'))})`;
      } catch {
        /* not written yet */
      }
      throw new EngineError('FAILED_PRECONDITION', `another tdockd${pid} already uses ${what} ${dir}: stop it first, or give this one its own ${what}`);
    }
    throw e;
  }
  try {
    writeFileSync(join(dir, 'tdockd.pid'), `${process.pid}\n`);
  } catch {
    // for people and the message above only (a full disk must not stop the daemon)
  }
  return { release: () => db.close() };
}
