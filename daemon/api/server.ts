// The gRPC server on the daemon's unix socket.
import * as grpc from '@grpc/grpc-js';
import { chmodSync, chownSync, existsSync, mkdirSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { connect, createServer, type Socket } from 'node:net';
import { loadApi } from '../../proto/api.ts';

/**
 * The largest message a client may send. A request is read whole into memory before
 * its handler runs, and the CLI never needs more than a few MB: what a create can hold
 * is bounded further by field (containers/bounds.ts); streams carry their data in
 * chunks (import: 256 KiB, stdin: what one read gives). Larger ones are refused with
 * RESOURCE_EXHAUSTED as soon as their length prefix arrives, before any is buffered.
 */
export const MAX_REQUEST_BYTES = 4 << 20;

/** Longer than any shutdown waits (main.ts exits first): connections are closed gracefully only. */
const INJECTED_DRAIN_MS = 24 * 3600_000;

export interface Services {
  containers: grpc.UntypedServiceImplementation;
  images: grpc.UntypedServiceImplementation;
  system: grpc.UntypedServiceImplementation;
  volumes: grpc.UntypedServiceImplementation;
  /** cp, diff, export (daemon/api/files.ts) */
  files?: grpc.UntypedServiceImplementation;
  /** commit, tag, history */
  commits?: grpc.UntypedServiceImplementation;
}

function socketAlive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export interface Serving {
  server: grpc.Server;
  /** Stops accepting connections, then lets in-flight calls finish. */
  shutdown(done: () => void): void;
}

/**
 * Serves on the listening socket systemd passed (socket activation: its mode and group
 * are the .socket unit's), or else binds `socketPath` (0660, group `tdock` when it
 * exists; 0600 rootless), refusing a live socket.
 */
export async function serve(socketPath: string, services: Services, group?: number, inheritedFd?: number): Promise<Serving> {
  const server = makeServer(services);
  if (inheritedFd !== undefined) {
    // grpc-js takes connections accepted elsewhere (its own bind cannot adopt an fd).
    const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    // grpc-js's shutdown does not wait for injected connections: we do, so the last
    // answers are written before the daemon exits.
    const sockets = new Set<Socket>();
    const listener = createServer((sock) => {
      sockets.add(sock);
      sock.once('close', () => sockets.delete(sock));
      injector.injectConnection(sock);
    });
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen({ fd: inheritedFd }, () => resolve());
    });
    return {
      server,
      shutdown: (done) => {
        listener.close();
        // GOAWAY on every connection; the calls in progress go on. (drain's forced close
        // after its grace never comes: main.ts bounds the wait and exits first.)
        injector.drain(INJECTED_DRAIN_MS);
        server.tryShutdown(() => {});
        const check = () => {
          if (sockets.size === 0) done();
        };
        for (const sock of sockets) sock.once('close', check);
        check();
      },
    };
  }
  await bindSocket(server, socketPath, group);
  return { server, shutdown: (done) => server.tryShutdown(() => done()) };
}

function makeServer(services: Services): grpc.Server {
  const api = loadApi();
  const server = new grpc.Server({ 'grpc.max_receive_message_length': MAX_REQUEST_BYTES });
  server.addService(api.Containers.service, services.containers);
  server.addService(api.Images.service, services.images);
  server.addService(api.System.service, services.system);
  server.addService(api.Volumes.service, services.volumes);
  if (services.files) server.addService(api.Files.service, services.files);
  if (services.commits) server.addService(api.Commits.service, services.commits);
  return server;
}

async function bindSocket(server: grpc.Server, socketPath: string, group?: number): Promise<void> {
  mkdirSync(dirname(socketPath), { recursive: true, mode: 0o711 });
  if (existsSync(socketPath)) {
    if (await socketAlive(socketPath)) throw new Error(`another tdockd is already listening on ${socketPath}`);
    unlinkSync(socketPath);
  }
  // The socket is created with the umask's permissions: restrictive ones from the start,
  // so nobody can connect in the moment between the bind and the chmod below.
  const previous = process.umask(group !== undefined ? 0o117 : 0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.bindAsync(`unix://${socketPath}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve()));
    });
  } finally {
    process.umask(previous);
  }
  if (group !== undefined) {
    // The owner stays the daemon's (root, as only a rootful daemon passes a group).
    chownSync(socketPath, -1, group);
    chmodSync(socketPath, 0o660);
  } else {
    chmodSync(socketPath, 0o600);
  }
}
