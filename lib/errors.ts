// Errors that carry the gRPC status they map to, so handlers stay thin and the CLI
// can print the message as is. In lib/ (see lib/ports.ts) because images/ throws them
// as much as daemon/ does, and images/ must not depend on the daemon; the daemon's
// api/status.ts is what turns them into status codes.
export type ErrorCode =
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'INVALID_ARGUMENT'
  | 'FAILED_PRECONDITION'
  | 'RESOURCE_EXHAUSTED'
  | 'UNAVAILABLE'
  | 'INTERNAL';

export class EngineError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

export const notFound = (msg: string) => new EngineError('NOT_FOUND', msg);
export const conflict = (msg: string) => new EngineError('ALREADY_EXISTS', msg);
export const invalid = (msg: string) => new EngineError('INVALID_ARGUMENT', msg);
export const wrongState = (msg: string) => new EngineError('FAILED_PRECONDITION', msg);

/** The one-line message of any thrown value. */
export function messageOf(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  // One line, but all of it: a cause after a newline is often the part that matters.
  return msg.replace(/\s*\n\s*/g, ' ').trim();
}

/** A full disk, whichever layer saw it (a write, SQLite, a message from a child). */
export function isNoSpace(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  return code === 'ENOSPC' || code === 'SQLITE_FULL' || /database or disk is full|no space left on device/i.test(messageOf(e));
}
