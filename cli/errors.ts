// Every failure the CLI reports is ONE line on stderr plus an exit code.
// Style: "Error: <message>" (the daemon's status message as is), except the
// connection failures, which read like Docker's:
//   Cannot connect to the tdock daemon at unix:///run/tdock/tdock.sock: is tdockd running?
//   permission denied while connecting to the tdock daemon at unix:///...: add the user to group tdock
//   Error: the connection to the tdock daemon at unix:///... was lost (...)
// Exit codes: 1 for errors, 125 for usage errors and for failures of run/create
// before the container runs (Docker's rule), the container's code otherwise.
// Connection failures exit 1 from every command, run and create included (Docker too),
// except a socket the user may not use: 125 from every command (issue 13), as it is
// tdock's own refusal, not a failure of the command or of the daemon.
// No grpc import here: this module is loaded by every command, even --help.
import { visible } from './render/escape.ts';

export const EXIT_ERROR = 1;
export const EXIT_USAGE = 125;

/** gRPC status codes used here (from @grpc/grpc-js's Status enum). */
export const Code = {
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
} as const;

/** An error that has already been phrased for the user. */
export class CliError extends Error {
  exitCode: number;
  constructor(message: string, exitCode: number = EXIT_ERROR) {
    super(message);
    this.exitCode = exitCode;
  }
}

/** A bad flag or argument: exit 125 like Docker. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, EXIT_USAGE);
  }
}

export interface GrpcLikeError {
  code: number;
  details: string;
  message: string;
}

export function isGrpcError(e: unknown): e is GrpcLikeError {
  return (
    typeof e === 'object' && e !== null && typeof (e as GrpcLikeError).code === 'number' &&
    typeof (e as GrpcLikeError).details === 'string' && 'metadata' in e
  );
}

/** The daemon could not be reached, or the connection to it broke: exit 1 from every command (125 if not allowed). */
export class ConnectionError extends CliError {}

/** The socket's mode/group refuses this user (only root and group tdock may use it). */
export const EXIT_PERMISSION = EXIT_USAGE;

export function cannotConnect(host: string): string {
  return `Cannot connect to the tdock daemon at ${host}: is tdockd running?`;
}

export function permissionDenied(host: string): string {
  return `permission denied while connecting to the tdock daemon at ${host}: add the user to group tdock`;
}

export function connectionLost(host: string): string {
  return `Error: the connection to the tdock daemon at ${host} was lost (tdockd stopped or crashed during the call)`;
}

/**
 * What an UNAVAILABLE status means for the user. grpc-js says "No connection
 * established. Last error: ... connect EACCES ..." when the socket's mode refuses us,
 * and "Connection dropped" (or the ECONNRESET/EPIPE behind it) when a connection that
 * worked broke under a call: the daemon was there, "is tdockd running?" would mislead.
 */
function unavailable(details: string, host: string): { line: string; code: number } {
  if (/\b(EACCES|EPERM)\b/.test(details)) return { line: permissionDenied(host), code: EXIT_PERMISSION };
  // The daemon's own words when it stops on purpose (daemon/api/inflight.ts).
  if (details.startsWith('tdockd is shutting down')) return { line: prefixed(details), code: EXIT_ERROR };
  if (/Connection dropped|\b(ECONNRESET|EPIPE)\b/.test(details)) return { line: connectionLost(host), code: EXIT_ERROR };
  return { line: cannotConnect(host), code: EXIT_ERROR };
}

function prefixed(msg: string): string {
  // Messages can quote a container's or an image's words (a command that failed to start).
  const line = visible(msg.replace(/\s*\n\s*/g, ' ').trim());
  return /^error\b/i.test(line) ? line : `Error: ${line}`;
}

/** True when `e` means the daemon is out of reach (no use trying the next argument). */
export function isConnectionError(e: unknown): boolean {
  return e instanceof ConnectionError || (isGrpcError(e) && e.code === Code.UNAVAILABLE);
}

/** One line for any error; `host` names the daemon in the connection messages. */
export function describeError(e: unknown, host: string): { line: string; code: number } {
  if (e instanceof ConnectionError) return { line: e.message, code: e.exitCode };
  if (e instanceof CliError) return { line: prefixed(e.message), code: e.exitCode };
  if (isGrpcError(e)) {
    if (e.code === Code.UNAVAILABLE) return unavailable(e.details, host);
    if (e.code === Code.DEADLINE_EXCEEDED) {
      return { line: `Error: the tdock daemon at ${host} did not answer in time`, code: EXIT_ERROR };
    }
    const tooLarge = e.code === Code.RESOURCE_EXHAUSTED ? /Received message larger than max \((\d+) vs\.? (\d+)\)/.exec(e.details) : null;
    if (tooLarge) {
      // grpc-js's own words name no field: say what it means for the command line.
      const mib = (n: string) => `${(Number(n) / (1 << 20)).toFixed(1)} MiB`;
      return { line: `Error: request too large for the daemon (${mib(tooLarge[1]!)}, at most ${mib(tooLarge[2]!)}): shorten the command, environment or other values`, code: EXIT_ERROR };
    }
    if (e.code === Code.UNIMPLEMENTED) {
      return { line: prefixed(`the tdock daemon does not support this: ${e.details}`), code: EXIT_ERROR };
    }
    return { line: prefixed(e.details || e.message), code: EXIT_ERROR };
  }
  if (e instanceof Error) {
    const oclif = (e as Error & { oclif?: { exit?: number } }).oclif;
    // oclif's parser errors (unknown flag, missing value, ...) are usage errors
    if (oclif && (e as Error & { code?: unknown }).code !== 'EEXIT') {
      const lines = e.message.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !/^See more help/.test(l));
      let first = lines[0] ?? e.message;
      // "Missing 1 required arg:\ncontainer  container name or id" -> "... arg: container"
      if (first.endsWith(':') && lines[1]) first = `${first} ${lines[1].split(/\s+/)[0]}`;
      // "Parsing --time\nExpected an integer but received: x": the flag is on the first
      // line, what was wrong on the second; say both in the project's words.
      const parsing = /^Parsing (-\S+)$/.exec(first);
      if (parsing && lines[1]) {
        const got = /^Expected (.*) but received: (.*)$/.exec(lines[1]);
        first = got ? `invalid value "${got[2]}" for ${parsing[1]}: expected ${got[1]}` : `${first}: ${lines[1]}`;
      }
      return { line: prefixed(first.replace(/^Nonexistent flags?:/, 'unknown flag:')), code: EXIT_USAGE };
    }
    return { line: prefixed(e.message), code: EXIT_ERROR };
  }
  return { line: prefixed(String(e)), code: EXIT_ERROR };
}
