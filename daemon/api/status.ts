// Maps engine errors onto gRPC statuses with one-line messages.
import * as grpc from '@grpc/grpc-js';
import { EngineError, messageOf } from '../errors.ts';

const CODES: Record<string, grpc.status> = {
  NOT_FOUND: grpc.status.NOT_FOUND,
  ALREADY_EXISTS: grpc.status.ALREADY_EXISTS,
  INVALID_ARGUMENT: grpc.status.INVALID_ARGUMENT,
  FAILED_PRECONDITION: grpc.status.FAILED_PRECONDITION,
  RESOURCE_EXHAUSTED: grpc.status.RESOURCE_EXHAUSTED,
  UNAVAILABLE: grpc.status.UNAVAILABLE,
  INTERNAL: grpc.status.INTERNAL,
};

let explain: (err: unknown) => unknown = (err) => err;

/** How the daemon turns low-level failures into what the user should read (a full disk: daemon/store/space.ts). */
export function setErrorExplainer(fn: (err: unknown) => unknown): void {
  explain = fn;
}

export function toStatus(error: unknown): Partial<grpc.StatusObject> {
  const err = explain(error);
  const code = err instanceof EngineError || (err as { code?: unknown })?.code !== undefined
    ? CODES[String((err as { code: unknown }).code)] ?? grpc.status.UNKNOWN
    : grpc.status.UNKNOWN;
  return { code, details: clip(messageOf(err)) };
}

/** Messages may quote what a client sent; the status line stays short whatever it was. */
export const MAX_MESSAGE = 1024;

function clip(msg: string): string {
  return msg.length <= MAX_MESSAGE ? msg : `${msg.slice(0, MAX_MESSAGE - 1)}…`;
}

type Unary<Req, Res> = (req: Req, call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res>;

/** Wraps an async handler into grpc-js's callback style. */
export function unary<Req, Res>(fn: Unary<Req, Res>): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    fn(call.request, call).then(
      (res) => callback(null, res),
      (err) => callback(toStatus(err) as grpc.ServiceError),
    );
  };
}

/**
 * Ends a streaming call with an error status. (grpc-js sends no status for
 * destroy(err): the client would wait forever; emitting 'error' sends it.)
 */
export function failStream(call: { emit(event: 'error', err: unknown): boolean }, err: unknown): void {
  call.emit('error', Object.assign(new Error(messageOf(err)), toStatus(err)));
}
