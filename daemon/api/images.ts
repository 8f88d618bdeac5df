// Thin handlers for the Images service.
import type * as grpc from '@grpc/grpc-js';
import { PassThrough } from 'node:stream';
import type { ImageService } from '../images.ts';
import type {
  ImagePruneRequest, ImagePruneResponse, LoadChunk, LoginRequest, PushRequest, SaveChunk, SaveRequest, LoginResponse, LogoutRequest,
  Empty, ImageListResponse, ImageRef, ImageRemoveRequest, ImageRemoveResponse, ImportChunk, InspectResponse, PullProgress, PullRequest,
} from '../../proto/api.ts';
import { failStream, unary } from './status.ts';
import { invalid } from '../errors.ts';

/** How long an import's end waits for a cancel that may follow it (they come ~1 ms apart). */
const END_GRACE_MS = 100;

export function imageHandlers(images: ImageService): grpc.UntypedServiceImplementation {
  return {
    List: unary<Empty, ImageListResponse>(async () => ({ images: images.list() })),
    Inspect: unary<ImageRef, InspectResponse>(async (r) => ({ json: JSON.stringify(images.inspect(r.ref)) })),
    Remove: unary<ImageRemoveRequest, ImageRemoveResponse>(async (r) => images.remove(r.ref, r.force)),

    Prune: unary<ImagePruneRequest, ImagePruneResponse>(async (req) => {
      const r = await images.prune(req.all === true);
      return { deleted: r.deleted, reclaimed: r.reclaimed, untagged: [...r.untagged].map(([id, refs]) => ({ id, refs })) };
    }),
    Login: unary<LoginRequest, LoginResponse>(async (r) => images.login(r.server || 'docker.io', r.username, r.password)),
    Logout: unary<LogoutRequest, LoginResponse>(async (r) => images.logout(r.server || 'docker.io')),

    // Ctrl-C in the CLI cancels the call: the pull stops and keeps no partial layer.
    Pull: (call: grpc.ServerWritableStream<PullRequest, PullProgress>) => {
      const ac = new AbortController();
      call.on('cancelled', () => ac.abort());
      const { ref, platform, allTags } = call.request;
      const opts = { ...(platform ? { platform } : {}), signal: ac.signal };
      (allTags ? images.pullAllTags(ref, (p) => call.write(p), opts) : images.pull(ref, (p) => call.write(p), opts))
        .then((img) => {
          call.write({ id: '', status: 'Pull complete', current: 0, total: 0, imageId: img.id });
          call.end();
        })
        .catch((e) => failStream(call, e));
    },

    // Ctrl-C in the CLI cancels the call: the push stops (a registry drops unfinished uploads).
    Push: (call: grpc.ServerWritableStream<PushRequest, PullProgress>) => {
      const ac = new AbortController();
      call.on('cancelled', () => ac.abort());
      images
        .push(call.request.ref, (p) => call.write(p), { allTags: call.request.allTags, signal: ac.signal })
        .then(() => call.end())
        .catch((e) => failStream(call, e));
    },

    // The archive streams out as it is made; a cancelled call stops the generator.
    Save: (call: grpc.ServerWritableStream<SaveRequest, SaveChunk>) => {
      let cancelled = false;
      call.on('cancelled', () => {
        cancelled = true;
      });
      (async () => {
        const gen = images.save(call.request.refs);
        try {
          for await (const data of gen) {
            if (cancelled) return;
            if (!call.write({ data })) {
              // a client gone while we wait never drains: the cancel ends the wait too
              await new Promise<void>((r) => {
                call.once('drain', () => r());
                call.once('cancelled', () => r());
              });
            }
          }
          call.end();
        } finally {
          await gen.return(undefined);
        }
      })().catch((e) => failStream(call, e));
    },

    // The archive's bytes come in; "Loaded image: ..." lines go out. As for Import, an end
    // counts only when no cancel follows it, so a cancelled load records nothing.
    Load: (call: grpc.ServerDuplexStream<LoadChunk, PullProgress>) => {
      const body = new PassThrough({ highWaterMark: 1 << 20 });
      body.on('error', () => {});
      images
        .load(body, (p) => call.write(p))
        .then(() => call.end())
        .catch((e) => failStream(call, e));
      call.on('data', (msg: LoadChunk) => {
        if (msg.data && msg.data.length > 0 && !body.write(msg.data)) {
          call.pause();
          body.once('drain', () => call.resume());
        }
      });
      call.on('end', () => {
        const t = setTimeout(() => {
          if (!call.cancelled) body.end();
        }, END_GRACE_MS);
        call.once('cancelled', () => clearTimeout(t));
      });
      call.on('cancelled', () => body.destroy(new Error('load cancelled by the client')));
    },

    // First message names the image, then the tarball's bytes follow (Docker's import).
    Import: (call: grpc.ServerDuplexStream<ImportChunk, PullProgress>) => {
      let body: PassThrough | undefined;
      let byUrl = false;
      // Counted here: a 'data' listener on the body would drain it before the unpacker reads.
      let received = 0;
      let failed = false;
      const fail = (e: unknown) => {
        if (failed) return;
        failed = true;
        body?.destroy();
        failStream(call, e);
      };
      call.on('data', (msg: ImportChunk) => {
        if (failed) return;
        if ('start' in msg && msg.start && !body) {
          const start = msg.start;
          if (start.url) {
            byUrl = true;
            const ac = new AbortController();
            call.on('cancelled', () => ac.abort());
            images
              .importUrl(start.url, start.name, { sha256: start.sha256 || undefined, signal: ac.signal, changes: start.changes ?? [], message: start.message ?? '' }, (p) => call.write(p))
              .then((img) => {
                call.write({ id: '', status: 'Imported', current: 0, total: 0, imageId: img.id });
                call.end();
              })
              .catch(fail);
            return;
          }
          body = new PassThrough({ highWaterMark: 1 << 20 });
          // The unpacker reads the body only after preparing its directory: until then a
          // cancel's destroy(err) would find no 'error' listener and crash the daemon. The
          // unpacker still sees the error (its iteration throws it), so the import rejects.
          body.on('error', () => {});
          images
            .importTar(body, start.name, { sha256: start.sha256 || undefined, changes: start.changes ?? [], message: start.message ?? '' })
            .then((img) => {
              call.write({ id: '', status: 'Imported', current: received, total: received, imageId: img.id });
              call.end();
            })
            .catch(fail);
        } else if ('data' in msg && msg.data && body) {
          received += msg.data.length;
          // Respect backpressure: pause the gRPC stream while the unpacker catches up.
          if (!body.write(msg.data)) {
            call.pause();
            body.once('drain', () => call.resume());
          }
        } else if (!body && !byUrl) {
          fail(invalid('the first import message must name the image'));
        }
      });
      // A client's cancel reaches this call as a half-close first (grpc-js closes the
      // sending side, then resets the stream), then as 'cancelled' a moment later: an end
      // completes the body only once no cancel followed it, or a cancelled import whose
      // bytes so far happen to form a tar would be committed.
      call.on('end', () => {
        const t = setTimeout(() => {
          if (!call.cancelled) body?.end();
        }, END_GRACE_MS);
        call.once('cancelled', () => clearTimeout(t));
      });
      call.on('cancelled', () => body?.destroy(new Error('import cancelled by the client')));
    },
  };
}
