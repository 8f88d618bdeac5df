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
];

export function openDb(path: string): Db {
  const db = new Database(path);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    migrate(db);
  } catch (e) {
    db.close();
    throw e;
  }
  return db;
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
