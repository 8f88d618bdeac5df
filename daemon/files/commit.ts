// `tdock commit`, `tag`, `history`: images made from containers.
//
// commit: the container's upper dir becomes one new layer on top of its image's. The
// tar of the upper dir is made the way the daemon reads any container dir (no symlink
// followed, lib/files/tar-out.ts), with the overlay's whiteouts (char 0:0) written as
// OCI `.wh.NAME` entries, opaque directories followed by `.wh..wh..opq`, and owners
// shifted back from the container's range to image ids; it is streamed straight into the
// store's unpacker (which shifts them forward again, computes the diff_id and turns
// the OCI whiteouts back into overlay ones), so the new layer is made exactly like a
// pulled one. The config is the container's (Cmd, Entrypoint, Env, WorkingDir, User,
// StopSignal over the image's), then `-c` changes; history gets one entry per layer.
import { closeSync } from 'node:fs';
import { Readable } from 'node:stream';
import type { Engine, FileTarget } from '../containers/engine.ts';
import { blobOf, type ImageConfig, type ImageRecord, type ImageStore, type OciImageConfig, type StagedLayer } from '../../images/store.ts';
import { NO_EVENTS, type EventSink } from '../events/types.ts';
import { familiarRef } from '../images.ts';
import { parseRef } from '../../images/reference.ts';
import { applyChanges } from '../../images/changes.ts';
import { EngineError } from '../errors.ts';
import { openRoot } from '../../lib/files/inroot.ts';
import { tarOf } from '../../lib/files/tar-out.ts';
import { isRuntimePlaceholder, isWhiteout, opaqueDirs } from './changes.ts';
import type { RootViewEnv } from './rootview.ts';
import type { IdShift } from '../../images/tar-extract.ts';

export interface HistoryEntry {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

type ConfigDoc = OciImageConfig & { history?: HistoryEntry[]; author?: string; comment?: string; container?: string };

export interface CommitOptions {
  ref: string;
  changes: string[];
  message: string;
  author: string;
  /** commit -p: freeze a running container while its changes are read */
  pause?: boolean;
}

export interface HistoryRow { id: string; created: number; createdBy: string; size: number; comment: string }

/** The history of an image as recorded, or one entry per layer for an image without any. */
function historyOf(doc: ConfigDoc, layers: number): HistoryEntry[] {
  if (doc.history && doc.history.filter((h) => !h.empty_layer).length === layers) return doc.history;
  return Array.from({ length: layers }, () => ({ created: doc.created, created_by: '' }));
}

export class CommitService {
  private readonly engine: Engine;
  private readonly store: ImageStore;
  private readonly env: RootViewEnv;
  private readonly shift: IdShift;

  /** refuses to make something new on a nearly full disk (daemon/store/space.ts) */
  private readonly checkRoom: (what: string) => void;
  private readonly events: EventSink;

  constructor(engine: Engine, store: ImageStore, env: RootViewEnv, shift: IdShift, checkRoom: (what: string) => void = () => {}, events: EventSink = NO_EVENTS) {
    this.events = events;
    this.checkRoom = checkRoom;
    this.engine = engine;
    this.store = store;
    this.env = env;
    this.shift = shift;
  }

  async commit(container: string, o: CommitOptions): Promise<string> {
    const tag = o.ref ? parseRef(o.ref) : undefined;
    if (tag?.digest !== undefined) throw new EngineError('INVALID_ARGUMENT', `cannot commit to a digest reference "${o.ref}"`);
    const t = this.engine.fileTarget(container);
    this.checkRoom('commit a container');
    if (t.c.state === 'dead') throw new EngineError('FAILED_PRECONDITION', `container ${t.c.name} is being removed`);
    const image = this.store.record(t.c.imageId);
    if (!image) throw new EngineError('NOT_FOUND', `the image of container ${t.c.name} is gone`);
    const spec = t.c.spec;
    const base: ImageConfig = { ...image.config.config };
    const fromContainer: ImageConfig = {
      ...base,
      Env: imageEnv(spec, base),
      Cmd: spec.cmd,
      WorkingDir: spec.cwd || base.WorkingDir || '',
      ...(spec.user ? { User: spec.user } : {}),
      ...(spec.stopSignal ? { StopSignal: spec.stopSignal } : {}),
    };
    if (spec.entrypoint.length) fromContainer.Entrypoint = spec.entrypoint;
    else delete fromContainer.Entrypoint;
    if (!fromContainer.WorkingDir) delete fromContainer.WorkingDir;
    const config = applyChanges(fromContainer, o.changes);
    const thaw = o.pause ? await this.engine.pauseForCommit(t.c.id) : undefined;
    try {
      return await this.commitLayer(t, image, config, o, tag);
    } finally {
      await thaw?.();
    }
  }

  private async commitLayer(t: FileTarget, image: ImageRecord, config: ImageConfig, o: CommitOptions, tag: ReturnType<typeof parseRef> | undefined): Promise<string> {

    const opaque = await opaqueDirs(this.env.shim, t.upper, this.env.rootless);
    const tmp = await this.store.stagingDir();
    try {
      const upper = openRoot(t.upper);
      let res;
      try {
        const tar = tarOf(upper, '.', '', { shift: this.shift, whiteout: isWhiteout, opaque, skip: isRuntimePlaceholder });
        res = await this.store.unpackLayer(Readable.from(tar), tmp);
      } finally {
        // (unpackLayer has read the whole stream by the time it resolves or rejects)
        closeSync(upper);
      }
      const left = this.store.hasLayer(res.diffId) ? [] : await this.store.applyWhiteouts(tmp, res.whiteouts);
      const parent = image.config as ConfigDoc;
      const created = new Date().toISOString();
      const doc: ConfigDoc & Record<string, unknown> = {
        created,
        architecture: parent.architecture,
        os: parent.os,
        ...(o.author ? { author: o.author } : {}),
        ...(o.message ? { comment: o.message } : {}),
        container: t.c.id,
        config,
        rootfs: { type: 'layers', diff_ids: [...image.layers, res.diffId] },
        history: [
          ...historyOf(parent, image.layers.length),
          {
            created,
            created_by: t.c.spec.args.join(' '),
            ...(o.author ? { author: o.author } : {}),
            ...(o.message ? { comment: o.message } : {}),
          },
        ],
      };
      // blob: the layer's tar as unpackLayer kept it, so the image can be saved and pushed
      const layers: StagedLayer[] = [...image.layers.map((d) => ({ diffId: d })), { diffId: res.diffId, tmp, size: res.size, whiteouts: left, blob: blobOf(res) }];
      const id = this.store.commitImage(layers, JSON.stringify(doc), tag ? { tag: { repository: tag.repository, tag: tag.tag ?? 'latest' } } : {});
      // Docker's: the container's commit event, then the new tag's
      this.events.emit('container', 'commit', t.c.id, { comment: o.message, image: t.c.imageRef, imageID: id, name: t.c.name });
      if (o.ref) this.events.emit('image', 'tag', id, { name: familiarRef(o.ref) });
      return id;
    } finally {
      await this.store.dropStaging(tmp);
    }
  }

  tag(source: string, target: string): void {
    this.store.tag(source, target);
    const id = this.store.resolve(target)?.id;
    if (id) this.events.emit('image', 'tag', id, { name: familiarRef(target) });
  }

  /** `docker history`: newest first; only the top entry carries the image id, like an image pulled from a registry. */
  history(ref: string): HistoryRow[] {
    const rec = this.store.resolve(ref);
    if (!rec) throw new EngineError('NOT_FOUND', `No such image: ${ref}`);
    const doc = rec.config as ConfigDoc;
    const entries = historyOf(doc, rec.layers.length);
    const sizeOf = this.store.db.prepare('SELECT size FROM layers WHERE diff_id = ?');
    const rows: HistoryRow[] = [];
    let layer = 0;
    for (const h of entries) {
      let size = 0;
      if (!h.empty_layer) {
        const d = rec.layers[layer++];
        size = d ? ((sizeOf.get(d) as { size: number } | undefined)?.size ?? 0) : 0;
      }
      rows.push({ id: '<missing>', created: Date.parse(h.created ?? doc.created) || rec.created, createdBy: h.created_by ?? '', size, comment: h.comment ?? '' });
    }
    rows.reverse();
    if (rows[0]) rows[0].id = rec.id;
    return rows;
  }
}

/**
 * The container's Env without what the runtime added to it (HOSTNAME, and TERM for -t):
 * Docker adds those at start, they are the container's, never the committed image's.
 */
function imageEnv(spec: { env: string[]; hostname: string; tty: boolean }, base: ImageConfig): string[] {
  const fromImage = new Set(base.Env ?? []);
  const runtime = new Set([`HOSTNAME=${spec.hostname}`, ...(spec.tty ? ['TERM=xterm'] : [])]);
  return spec.env.filter((e) => fromImage.has(e) || !runtime.has(e));
}
