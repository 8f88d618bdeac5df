// The messages between the rootless launcher (host side) and the daemon in its
// namespace: JSON lines over the socket pair at the daemon's fd 3.
import type { HostRanges } from './preflight.ts';
import type { ErrorCode } from '../../lib/errors.ts';

export type ChildRequest =
  | { op: 'hello' }
  | { op: 'publish' | 'unpublish'; id: number; proto: 'tcp' | 'udp'; hostIp: string; hostPort: number }
  /** a port free on the host (-p 80: the daemon's own namespace has every port free) */
  | { op: 'freeport'; id: number; proto: 'tcp' | 'udp'; hostIp: string };

export type LauncherHello =
  | { op: 'hello'; driver: string; portStart: number; user: string; uid: number; ranges: HostRanges; error?: undefined }
  | { op: 'hello'; error: string };

/** `code`: the status the daemon answers with (a host port in use is ALREADY_EXISTS, as rootful). */
export type LauncherReply = { id: number; ok: true; port?: number; error?: undefined } | { id: number; error: string; code?: ErrorCode; ok?: undefined };
