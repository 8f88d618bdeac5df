// Local volumes: a directory ROOT/volumes/NAME/_data each and a row in the volumes
// table; container_volumes says which containers use which (a volume in use cannot be
// removed: the foreign key refuses, and a removed container's rows go with it).
//
// Ownership: volume data is stored with the container's own ids (uid 0 on disk is the
// container's root), as Docker stores it, and mounted idmapped into the user-namespaced
// container (shim: MOUNT_ATTR_IDMAP with the container's user namespace). Where the
// daemon's root cannot take idmapped mounts (or rootless), _data is instead owned by
// the mapped root (the subordinate range's first id) and bound plain.
import { randomBytes } from 'node:crypto';
import { chownSync, lstatSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Db } from '../store/db.ts';
import { invalid, notFound, wrongState } from '../errors.ts';
import { removeTree } from '../containers/bundle.ts';
import { lockDown } from '../runtime/idmap.ts';
import { VOLUME_NAME, volumeNameError } from '../../lib/volume-name.ts';

export interface VolumeRow {
  name: string;
  created: number;
  labels: Record<string, string>;
  anonymous: boolean;
}

/** Docker's label on the volumes it makes for `-v /path` (prune without -a takes only these). */
export const ANONYMOUS_LABEL = 'com.docker.volume.anonymous';

interface Raw { name: string; created: number; labels: string; anonymous: number }
const fromRaw = (r: Raw): VolumeRow => ({ name: r.name, created: r.created, labels: JSON.parse(r.labels) as Record<string, string>, anonymous: r.anonymous === 1 });

export interface VolumeStoreOptions {
  /** the containers' root gid: volume directories are 0710 root:<it> (undefined: rootless, 0700) */
  rootGid?: number;
  /** owner of a new _data when volumes are not mounted idmapped (the mapped root) */
  plainOwner?: { uid: number; gid: number };
}

export class VolumeStore {
  readonly dir: string;
  private readonly db: Db;
  private readonly o: VolumeStoreOptions;
  private readonly stmts;

  constructor(db: Db, root: string, o: VolumeStoreOptions) {
    this.db = db;
    this.o = o;
    this.dir = join(root, 'volumes');
    mkdirSync(this.dir, { recursive: true, mode: 0o710 });
    lockDown(this.dir, o.rootGid);
    this.stmts = {
      get: db.prepare('SELECT * FROM volumes WHERE name = ?'),
      all: db.prepare('SELECT * FROM volumes ORDER BY name'),
      insert: db.prepare('INSERT INTO volumes (name, created, labels, anonymous) VALUES (?, ?, ?, ?)'),
      remove: db.prepare('DELETE FROM volumes WHERE name = ?'),
      users: db.prepare('SELECT container_id FROM container_volumes WHERE volume = ? ORDER BY container_id'),
      use: db.prepare('INSERT OR IGNORE INTO container_volumes (container_id, volume) VALUES (?, ?)'),
    };
  }

  mountpoint(name: string): string { return join(this.dir, name, '_data'); }

  get(name: string): VolumeRow | undefined {
    const r = this.stmts.get.get(name) as Raw | undefined;
    return r && fromRaw(r);
  }

  find(name: string): VolumeRow {
    const v = this.get(name);
    if (!v) throw notFound(`get ${name}: no such volume`);
    return v;
  }

  list(): VolumeRow[] { return (this.stmts.all.all() as Raw[]).map(fromRaw); }

  /** Ids of the containers (any state) that use the volume. */
  users(name: string): string[] { return (this.stmts.users.all(name) as { container_id: string }[]).map((r) => r.container_id); }

  /**
   * A new volume, or the existing one of that name (Docker's create is idempotent).
   * `made` says whether this call made it (so a failed create can take it back).
   */
  create(name: string, labels: Record<string, string>, anonymous = false): { volume: VolumeRow; made: boolean } {
    if (name === '') name = randomBytes(32).toString('hex');
    if (!VOLUME_NAME.test(name)) throw invalid(`create ${name}: ${volumeNameError(name)}`);
    for (const k of Object.keys(labels)) if (k === '' || k.includes('\0')) throw invalid(`create ${name}: invalid label "${k}"`);
    const old = this.get(name);
    if (old) return { volume: old, made: false };
    const volume: VolumeRow = { name, created: Date.now(), labels: anonymous ? { ...labels, [ANONYMOUS_LABEL]: '' } : labels, anonymous };
    const top = join(this.dir, name);
    try {
      mkdirSync(top, { mode: 0o710 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') removeTree(top); // left by a crash before its row
      else throw e;
      mkdirSync(top, { mode: 0o710 });
    }
    try {
      lockDown(top, this.o.rootGid);
      mkdirSync(join(top, '_data'), { mode: 0o755 });
      if (this.o.plainOwner) chownSync(join(top, '_data'), this.o.plainOwner.uid, this.o.plainOwner.gid);
      this.stmts.insert.run(name, volume.created, JSON.stringify(volume.labels), anonymous ? 1 : 0);
    } catch (e) {
      removeTree(top);
      throw e;
    }
    return { volume, made: true };
  }

  /** Records that a container uses these volumes (in the caller's transaction with its row). */
  use(containerId: string, names: readonly string[]): void {
    for (const n of names) this.stmts.use.run(containerId, n);
  }

  /** Docker's refusal: "remove NAME: volume is in use - [ID, ...]". force: a missing volume is no error. */
  remove(name: string, force = false): void {
    const v = this.get(name);
    if (!v) {
      if (force) return;
      throw notFound(`get ${name}: no such volume`);
    }
    const users = this.users(name);
    if (users.length) throw conflictInUse(name, users);
    this.drop(name);
  }

  /** The row first (so a crash leaves a directory, which create cleans), then the data. */
  private drop(name: string): void {
    try {
      this.stmts.remove.run(name);
    } catch (e) {
      if (/FOREIGN KEY/.test(String(e))) throw conflictInUse(name, this.users(name));
      throw e;
    }
    removeTree(join(this.dir, name));
  }

  /** After a container is gone (rm -v, --rm): its anonymous volumes that nobody else uses. */
  removeAnonymous(names: readonly string[]): void {
    for (const n of names) {
      const v = this.get(n);
      if (v?.anonymous && this.users(n).length === 0) this.drop(n);
    }
  }

  /** Unused volumes (anonymous ones only unless all), as Docker's `volume prune [-a]`. */
  prune(all: boolean): { deleted: string[]; reclaimed: number } {
    const deleted: string[] = [];
    let reclaimed = 0;
    for (const v of this.list()) {
      if (!all && !v.anonymous) continue;
      if (this.users(v.name).length) continue;
      const size = this.size(v.name);
      this.drop(v.name);
      deleted.push(v.name);
      reclaimed += size;
    }
    return { deleted, reclaimed };
  }

  /** Bytes the volume's data takes on disk (blocks; hard links counted once). For `system df` too. */
  size(name: string): number {
    const seen = new Set<string>();
    let total = 0;
    const walk = (dir: string) => {
      let entries: string[];
      try {
        entries = readdirSync(dir);
      } catch {
        return;
      }
      for (const e of entries) {
        const p = join(dir, e);
        let st;
        try {
          st = lstatSync(p, { bigint: false });
        } catch {
          continue;
        }
        if (st.nlink > 1) {
          const key = `${st.dev}:${st.ino}`;
          if (seen.has(key)) continue;
          seen.add(key);
        }
        total += st.blocks * 512;
        if (st.isDirectory()) walk(p);
      }
    };
    walk(this.mountpoint(name));
    return total;
  }

  /** Runs fn in one SQLite transaction (create: the container's row and its volume uses). */
  transaction<T>(fn: () => T): T { return this.db.transaction(fn)(); }
}

function conflictInUse(name: string, users: string[]) {
  return wrongState(`remove ${name}: volume is in use - [${users.join(', ')}]`);
}
