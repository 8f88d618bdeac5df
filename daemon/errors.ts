// Engine errors carry the gRPC status they map to, so handlers stay thin and the
// CLI can print the message as is.
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
