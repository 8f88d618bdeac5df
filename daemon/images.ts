// The daemon's view of images: the store plus the pull policy. Until registry pulls
// land, the only image that can be pulled is the embedded busybox, built from the
// host's static busybox without any network.
import type { Readable } from 'node:stream';
import { ImageStore } from '../images/store.ts';
import { ensureBusybox } from '../images/busybox.ts';
import { parseRef } from '../images/reference.ts';
import { EngineError, notFound } from './errors.ts';
import type { ImageSource } from './containers/engine.ts';
import type { ImageConfigLike } from './containers/spec.ts';
import type { ImageSummary, PullProgress } from '../proto/api.ts';

export class ImageService implements ImageSource {
  readonly store: ImageStore;
  private readonly inUse: (imageId: string) => boolean;
  private busybox?: Promise<{ id: string }>;

  constructor(store: ImageStore, inUse: (imageId: string) => boolean) {
    this.store = store;
    this.inUse = inUse;
  }

  private isEmbedded(ref: string): boolean {
    try {
      const r = parseRef(ref);
      return r.repository === 'busybox' && r.tag === 'latest';
    } catch {
      return false;
    }
  }

  async pull(ref: string, progress: (p: PullProgress) => void = () => {}): Promise<{ id: string }> {
    const parsed = (() => {
      try {
        return parseRef(ref);
      } catch (e) {
        throw new EngineError('INVALID_ARGUMENT', (e as Error).message);
      }
    })();
    if (!this.isEmbedded(ref)) {
      throw notFound(`cannot pull ${parsed.repository}:${parsed.tag}: only the embedded busybox can be pulled so far; import a rootfs tarball with "tdock import FILE NAME[:TAG]"`);
    }
    progress({ id: 'busybox', status: 'Building from the host\'s static busybox', current: 0, total: 0, imageId: '' });
    // Concurrent runs of a missing busybox build it once.
    const pending = (this.busybox ??= ensureBusybox(this.store).finally(() => {
      this.busybox = undefined;
    }));
    return pending;
  }

  async ensure(ref: string): Promise<{ id: string; config: ImageConfigLike }> {
    let img = this.resolve(ref);
    if (!img) {
      if (!this.isEmbedded(ref)) throw notFound(`No such image: ${ref}; pull it or import a rootfs tarball with "tdock import FILE NAME[:TAG]"`);
      await this.pull(ref);
      img = this.resolve(ref);
      if (!img) throw notFound(`No such image: ${ref}`);
    }
    return { id: img.id, config: this.store.config(img.id)?.config ?? {} };
  }

  private resolve(ref: string) {
    try {
      return this.store.resolve(ref);
    } catch (e) {
      throw new EngineError('INVALID_ARGUMENT', (e as Error).message);
    }
  }

  layerDirs(imageId: string): string[] {
    return this.store.layerDirs(imageId);
  }

  importTar(body: Readable, name: string, opts: { sha256?: string }) {
    return this.store.importTar(body, name, opts);
  }

  list(): ImageSummary[] {
    return this.store.list().map((i) => ({ id: i.id, repository: i.repository, tag: i.tag, created: Math.floor(i.created / 1000), size: i.size }));
  }

  inspect(ref: string): unknown {
    const r = this.store.inspect(ref);
    if (!r) throw notFound(`No such image: ${ref}`);
    return r;
  }

  remove(ref: string, force: boolean) {
    return this.store.remove(ref, { force, inUse: this.inUse });
  }
}
