// Which daemon to talk to: -H/--host, else $TDOCK_HOST, else the default socket
// (rootful /run/tdock/tdock.sock; rootless $XDG_RUNTIME_DIR/tdock/tdock.sock).
// Light on purpose (no grpc): error messages need the host even for --help paths.

import { existsSync } from 'node:fs';

export const ROOTFUL_HOST = 'unix:///run/tdock/tdock.sock';

export function defaultHost(env: NodeJS.ProcessEnv = process.env, uid: number = process.getuid?.() ?? 0): string {
  // Where a rootless tdockd of this user listens (daemon/options.ts); without
  // XDG_RUNTIME_DIR (su, cron) its fallback /run/user/UID when a daemon is there.
  if (uid !== 0 && env.XDG_RUNTIME_DIR) return `unix://${env.XDG_RUNTIME_DIR.replace(/\/+$/, '')}/tdock/tdock.sock`;
  if (uid !== 0 && existsSync(`/run/user/${uid}/tdock/tdock.sock`)) return `unix:///run/user/${uid}/tdock/tdock.sock`;
  return ROOTFUL_HOST;
}

/** Normalizes what a user may write: unix:///p, unix:/p, /p, tcp://h:p, h:p. */
export function normalizeHost(h: string): string {
  const s = h.trim();
  if (s.startsWith('/')) return `unix://${s}`;
  if (s.startsWith('unix:') && !s.startsWith('unix://')) return `unix://${s.slice(5)}`;
  return s;
}

export function resolveHost(flag?: string, env: NodeJS.ProcessEnv = process.env, uid?: number): string {
  if (flag) return normalizeHost(flag);
  if (env.TDOCK_HOST) return normalizeHost(env.TDOCK_HOST);
  return defaultHost(env, uid);
}

/** The unix socket path of a host, or undefined for TCP. */
export function socketPath(host: string): string | undefined {
  if (host.startsWith('unix://')) return host.slice('unix://'.length);
  return undefined;
}

/** What grpc-js wants: unix:///abs/path stays, tcp://h:p becomes h:p. */
export function grpcTarget(host: string): string {
  if (host.startsWith('tcp://')) return host.slice('tcp://'.length);
  return host;
}
