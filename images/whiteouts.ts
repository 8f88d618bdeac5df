// Turns the OCI whiteouts of an extracted layer into overlayfs whiteouts with the shim:
//
//   tdock-shim whiteouts LAYER_DIR --uid N --gid N
//
// stdin: NUL-terminated records, `w<relpath>` = create the character device 0:0 at relpath
// (the overlayfs whiteout for a deleted path), `o<relpath>` = set the xattr
// trusted.overlay.opaque=y on the directory relpath ("." = the layer root). The shim exits
// 0 silently, or 1 with one error line on stderr. It runs as root (mknod and trusted.*
// xattrs need CAP_MKNOD / CAP_SYS_ADMIN); --uid/--gid own the new device nodes (the
// shifted container root).
import { spawn } from 'node:child_process';
import { EngineError } from '../lib/errors.ts';
import type { IdShift, Whiteout } from './tar-extract.ts';
import type { WhiteoutApplier } from './store.ts';

/** The stdin records for the shim. */
export function whiteoutRecords(whiteouts: Whiteout[]): Buffer {
  const parts: Buffer[] = [];
  for (const w of whiteouts) {
    const rel = w.path === '' ? '.' : w.path;
    if (rel.includes('\0')) throw new EngineError('INVALID_ARGUMENT', `layer rejected: whiteout path contains a NUL byte`);
    parts.push(Buffer.from((w.kind === 'opaque' ? 'o' : 'w') + rel + '\0'));
  }
  return Buffer.concat(parts);
}

/** Runs `shim whiteouts DIR` once for a layer. */
export function applyWithShim(shim: string, dir: string, whiteouts: Whiteout[], owner: { uid: number; gid: number }, userxattr = false): Promise<void> {
  const input = whiteoutRecords(whiteouts);
  return new Promise((resolve, reject) => {
    const args = ['whiteouts', dir, '--uid', String(owner.uid), '--gid', String(owner.gid), ...(userxattr ? ['--userxattr'] : [])];
    const child = spawn(shim, args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      if (err.length < 4096) err += d;
    });
    child.on('error', (e) => reject(new EngineError('INTERNAL', `applying whiteouts: cannot run ${shim}: ${e.message}`)));
    child.on('close', (code, signal) => {
      if (code === 0) return resolve();
      const line = err.trim().split('\n').pop() ?? '';
      reject(new EngineError('INTERNAL', `applying whiteouts in ${dir}: tdock-shim ${signal ? `killed by ${signal}` : `exited ${code}`}${line ? `: ${line}` : ''}`));
    });
    child.stdin.on('error', () => {}); // an early exit is reported by 'close'
    child.stdin.end(input);
  });
}

/** A WhiteoutApplier for the store that uses the shim; new nodes belong to container root. */
/** `userxattr`: opaque dirs marked for an overlay mounted with userxattr (rootless). */
export function shimWhiteoutApplier(shim: string, shift: IdShift, userxattr = false): WhiteoutApplier {
  return (dir, whiteouts) => applyWithShim(shim, dir, whiteouts, { uid: shift.uid, gid: shift.gid }, userxattr);
}
