// The daemon's state: one SQLite file (WAL) under --root, schema versioned with
// PRAGMA user_version. Migrations only ever append; never edit a shipped one.
import Database from 'better-sqlite3';

export type Db = Database.Database;

const MIGRATIONS: string[] = [
  // 1: images, layers, containers
  `
  CREATE TABLE layers (
    diff_id  TEXT PRIMARY KEY,          -- sha256:<hex> of the uncompressed layer tar
    dir      TEXT NOT NULL UNIQUE,      -- absolute path of the unpacked, id-shifted tree
    size     INTEGER NOT NULL,          -- bytes of file data unpacked
    created  INTEGER NOT NULL           -- unix ms
  );
  CREATE TABLE images (
    id       TEXT PRIMARY KEY,          -- sha256:<hex> of the config JSON
    config   TEXT NOT NULL,             -- OCI image config JSON
    size     INTEGER NOT NULL,
    created  INTEGER NOT NULL           -- unix ms
  );
  CREATE TABLE image_layers (
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    idx      INTEGER NOT NULL,          -- 0 = bottom layer
    diff_id  TEXT NOT NULL REFERENCES layers(diff_id),
    PRIMARY KEY (image_id, idx)
  );
  CREATE TABLE tags (
    repository TEXT NOT NULL,
    tag        TEXT NOT NULL,
    image_id   TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    PRIMARY KEY (repository, tag)
  );
  CREATE TABLE containers (
    id         TEXT PRIMARY KEY,        -- 64 hex
    name       TEXT NOT NULL UNIQUE,
    image_id   TEXT NOT NULL,
    image_ref  TEXT NOT NULL,           -- what the user typed
    spec       TEXT NOT NULL,           -- JSON: the resolved container spec
    state      TEXT NOT NULL,           -- created|running|paused|restarting|exited|dead
    pid        INTEGER NOT NULL DEFAULT 0,
    exit_code  INTEGER NOT NULL DEFAULT 0,
    oom_killed INTEGER NOT NULL DEFAULT 0,
    error      TEXT NOT NULL DEFAULT '',
    created    INTEGER NOT NULL,        -- unix ms
    started    INTEGER NOT NULL DEFAULT 0,
    finished   INTEGER NOT NULL DEFAULT 0
  );
  `,
  // 2: network: IPv4 leases and published host ports (daemon/network/)
  `
  CREATE TABLE net_leases (
    network      TEXT NOT NULL,         -- bridge name
    addr         INTEGER NOT NULL,      -- IPv4 address as an unsigned 32-bit integer
    container_id TEXT NOT NULL UNIQUE REFERENCES containers(id) ON DELETE CASCADE,
    created      INTEGER NOT NULL,      -- unix ms
    PRIMARY KEY (network, addr)
  );
  CREATE TABLE net_ports (
    container_id   TEXT NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
    host_ip        TEXT NOT NULL,       -- 0.0.0.0 = every host address
    host_port      INTEGER NOT NULL,    -- as bound (a requested 0 is resolved)
    protocol       TEXT NOT NULL,       -- tcp|udp
    container_port INTEGER NOT NULL,
    PRIMARY KEY (protocol, host_port, host_ip)
  );
  CREATE INDEX net_ports_container ON net_ports(container_id);
  `,
  // 3: images pulled from registries: the manifest digests they were pulled by (RepoDigests)
  `
  CREATE TABLE repo_digests (
    repository TEXT NOT NULL,           -- familiar name, as in tags
    digest     TEXT NOT NULL,           -- sha256:<hex> of the manifest
    image_id   TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    PRIMARY KEY (repository, digest)
  );
  CREATE INDEX repo_digests_image ON repo_digests(image_id);
  `,
  // 4: restart policies (daemon/containers/restart-policy.ts): Docker's RestartCount, and
  // whether the user stopped the container (unless-stopped keeps it stopped across a restart)
  `
  ALTER TABLE containers ADD COLUMN restart_count INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE containers ADD COLUMN manually_stopped INTEGER NOT NULL DEFAULT 0;
  `,
  // 5: init's start time (field 22 of /proc/PID/stat, from the monitor's `ok`) beside its
  // pid: a restarted daemon tells the container's init from a process that reused the pid
  `
  ALTER TABLE containers ADD COLUMN init_start_time TEXT NOT NULL DEFAULT '';
  `,
  // 6: the events journal (daemon/events/journal.ts): the last events, so `events --since`
  // works after a daemon restart; bounded, the oldest pruned on insert
  `
  CREATE TABLE events (
    seq        INTEGER PRIMARY KEY,     -- order of emission
    time_ns    INTEGER NOT NULL,        -- unix ns
    type       TEXT NOT NULL,           -- container|image
    action     TEXT NOT NULL,           -- create|start|die|...|health_status: healthy
    actor      TEXT NOT NULL,           -- container id, image id or reference
    attributes TEXT NOT NULL            -- JSON object of strings
  );
  `,
  // 7: named and anonymous volumes (daemon/volumes/), and which containers use them:
  // a volume in use cannot be deleted (the foreign key), a removed container frees it.
  `
  CREATE TABLE volumes (
    name      TEXT PRIMARY KEY,
    created   INTEGER NOT NULL,         -- unix ms
    labels    TEXT NOT NULL,            -- JSON object
    anonymous INTEGER NOT NULL DEFAULT 0
  );
  CREATE TABLE container_volumes (
    container_id TEXT NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
    volume       TEXT NOT NULL REFERENCES volumes(name),
    PRIMARY KEY (container_id, volume)
  );
  CREATE INDEX container_volumes_volume ON container_volumes(volume);
  `,
];

/** SQLite's PRAGMA auto_vacuum value for INCREMENTAL. */
const AUTO_VACUUM_INCREMENTAL = 2;
/** A WAL file is cut back to this after a checkpoint (it would keep its largest size otherwise). */
const WAL_SIZE_LIMIT = 4 << 20;
/** Free pages (4 KiB each) worth giving back: below this, later inserts reuse them. */
const RECLAIM_PAGES = 256;

export function openDb(path: string): Db {
  const db = new Database(path);
  try {
    // Freed pages can be given back to the file system (reclaim()). Only takes effect on a
    // file without tables yet; an older file is converted by one VACUUM below. Set only
    // when it differs: setting it writes, and the daemon must start on a full disk.
    if (db.pragma('auto_vacuum', { simple: true }) !== AUTO_VACUUM_INCREMENTAL) db.pragma(`auto_vacuum = ${AUTO_VACUUM_INCREMENTAL}`);
    db.pragma('journal_mode = WAL');
    db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT}`);
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    migrate(db);
  } catch (e) {
    db.close();
    throw e;
  }
  if (db.pragma('auto_vacuum', { simple: true }) !== AUTO_VACUUM_INCREMENTAL) {
    // A database made before auto_vacuum was set: rewritten once (it is small). It
    // needs room for a copy: on a full disk it waits for a later start.
    try {
      db.exec('VACUUM');
    } catch {
      /* next time */
    }
  }
  return db;
}

/**
 * Gives the pages of deleted rows back to the file system: without it the file keeps
 * the size of its largest day forever (a container's spec can be a MiB). Cheap when
 * little was freed, so call it after every delete of rows that can be large.
 */
export function reclaim(db: Db): void {
  if ((db.pragma('freelist_count', { simple: true }) as number) < RECLAIM_PAGES) return;
  db.pragma('incremental_vacuum');
  // The file shrinks when the WAL is written back into it; TRUNCATE also empties the WAL.
  db.pragma('wal_checkpoint(TRUNCATE)');
}

export function migrate(db: Db): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new Error(`database schema version ${current} is newer than this tdockd (${MIGRATIONS.length}); upgrade tdock`);
  }
  for (let v = current; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}
