// Thin handlers for the Files (cp, diff, export) and Commits (commit, tag, history) services.
import type * as grpc from '@grpc/grpc-js';
import type { FileService, TarStream } from '../files/service.ts';
import type { CommitService } from '../files/commit.ts';
import type {
  CommitRequest, CommitResponse, ContainerRef, CopyFromRequest, CopyToChunk, CopyToResponse, DataChunk, DiffResponse,
  Empty, HistoryResponse, ImageRef, PathStat, PathStatRequest, TagRequest,
} from '../../proto/api.ts';
import { failStream, toStatus, unary } from './status.ts';
import { invalid } from '../errors.ts';

/** Writes a tar stream to a server stream with backpressure; a cancelled call stops the producer. */
function pump(call: grpc.ServerWritableStream<unknown, DataChunk>, make: () => TarStream): void {
  let gen: TarStream;
  try {
    gen = make();
  } catch (e) {
    failStream(call, e);
    return;
  }
  // A client gone mid-stream: stop waiting for a drain that never comes; leaving the
  // loop ends the generator, which lets go of the container's root (and its hold).
  let wakeDrain: (() => void) | undefined;
  call.on('cancelled', () => wakeDrain?.());
  (async () => {
    let batch: Buffer[] = [];
    let size = 0;
    const flush = async () => {
      if (!size) return;
      const data = Buffer.concat(batch);
      batch = [];
      size = 0;
      if (!call.write({ data }) && !call.cancelled) {
        await new Promise<void>((r) => {
          wakeDrain = r;
          call.once('drain', () => r());
        });
        wakeDrain = undefined;
      }
    };
    for await (const chunk of gen) {
      if (call.cancelled) return;
      batch.push(chunk);
      size += chunk.length;
      if (size >= 256 * 1024) await flush();
      if (call.cancelled) return;
    }
    await flush();
    if (!call.cancelled) call.end();
  })().catch((e) => failStream(call, e));
}

export function fileHandlers(files: FileService): grpc.UntypedServiceImplementation {
  return {
    StatPath: unary<PathStatRequest, PathStat>(async (r) => files.statPath(r.container, r.path, r.followLink)),
    CopyFrom: (call: grpc.ServerWritableStream<CopyFromRequest, DataChunk>) => {
      const r = call.request;
      pump(call as never, () => files.copyFrom(r.container, r.path, r.followLink, r.rootName));
    },
    Export: (call: grpc.ServerWritableStream<ContainerRef, DataChunk>) => {
      pump(call as never, () => files.export(call.request.id));
    },
    Diff: unary<ContainerRef, DiffResponse>(async (r) => ({ changes: await files.diff(r.id) })),

    // First message names the container and directory, then the tar's bytes follow.
    CopyTo: (call: grpc.ServerReadableStream<CopyToChunk, CopyToResponse>, callback: grpc.sendUnaryData<CopyToResponse>) => {
      let answered = false;
      const answer = (err: unknown, res?: CopyToResponse) => {
        if (answered) return;
        answered = true;
        if (err) callback(toStatus(err) as grpc.ServiceError);
        else callback(null, res);
      };
      (async () => {
        const it = (call as AsyncIterable<CopyToChunk>)[Symbol.asyncIterator]();
        const first = await it.next();
        const start = first.done ? undefined : first.value.start;
        if (!start) throw invalid('the first copy message must name the container and directory');
        const src = (async function* () {
          for (;;) {
            const n = await it.next();
            if (n.done) return;
            if (n.value.data) yield n.value.data;
          }
        })();
        const res = await files.copyTo(start.container, start.dir, start.archive, src);
        answer(null, { entries: res.entries, skipped: res.skipped, skippedNames: res.skippedNames });
      })().catch((e) => answer(e));
      call.on('cancelled', () => {
        answer(new Error('copy cancelled by the client'));
        // ends the extraction's read of the stream (it lets go of the container's root)
        call.destroy(new Error('copy cancelled by the client'));
      });
    },
  };
}

export function commitHandlers(commits: CommitService): grpc.UntypedServiceImplementation {
  return {
    Commit: unary<CommitRequest, CommitResponse>(async (r) => ({
      id: await commits.commit(r.container, { ref: r.ref, changes: r.changes ?? [], message: r.message, author: r.author, pause: r.pause }),
    })),
    Tag: unary<TagRequest, Empty>(async (r) => {
      commits.tag(r.source, r.target);
      return {};
    }),
    History: unary<ImageRef, HistoryResponse>(async (r) => ({ entries: commits.history(r.ref) })),
  };
}
