// The daemon under systemd: readiness and status (sd_notify) and socket activation.
// Both are no-ops outside systemd (no $NOTIFY_SOCKET, no $LISTEN_FDS for us).
import { execFile } from 'node:child_process';

/**
 * Sends sd_notify assignments (READY=1, STATUS=..., STOPPING=1) to $NOTIFY_SOCKET.
 * Node has no AF_UNIX datagram sockets: `tdock-shim notify` sends them and waits for
 * the manager to have taken them (PROTOCOL.md). The unit says NotifyAccess=all, since
 * the sender is our child. Resolves when sent; never rejects (the daemon works on).
 */
export function notify(shim: string, log: (msg: string) => void, ...state: string[]): Promise<void> {
  if (!process.env.NOTIFY_SOCKET) return Promise.resolve();
  return new Promise((resolve) => {
    execFile(shim, ['notify', ...state], { timeout: 10_000 }, (err, _out, stderr) => {
      if (err) log(`sd_notify ${state.join(' ')}: ${stderr.trim() || err.message}`);
      resolve();
    });
  });
}

/**
 * The listening socket systemd passed us (socket activation: $LISTEN_PID is our pid,
 * $LISTEN_FDS counts the fds from 3 on), or undefined. The variables are removed so
 * that nothing we start inherits them.
 */
export function inheritedListener(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const pid = Number(env.LISTEN_PID);
  const count = Number(env.LISTEN_FDS);
  delete env.LISTEN_PID;
  delete env.LISTEN_FDS;
  delete env.LISTEN_FDNAMES;
  if (pid !== process.pid || !(count >= 1)) return undefined;
  if (count > 1) throw new Error(`socket activation passed ${count} sockets; tdockd listens on one (tdockd.socket has one ListenStream)`);
  return 3;
}
