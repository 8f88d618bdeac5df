import * as fs from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { Args, Flags } from '../oclif.ts';
import { io, TdockCommand } from '../base.ts';
import { CliError, UsageError } from '../errors.ts';
import { contentsOnly, cpPlan, splitCpArg } from '../cp-plan.ts';
import { openRoot } from '../../lib/files/inroot.ts';
import { tarOf } from '../../lib/files/tar-out.ts';
import { extractInto } from '../../lib/files/tar-in.ts';
import type { Daemon } from '../client.ts';
import type { CopyToChunk, CopyToResponse } from '../../proto/api.ts';

/** Host files keep their ids in the archive (the daemon maps them for -a). */
const HOST_IDS = { uid: 0, gid: 0, size: 2 ** 32 };
const CHUNK = 256 * 1024;

export default class Cp extends TdockCommand {
  static summary = 'Copy files/folders between a container and the local filesystem.';
  static usage = ['cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-', 'cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH'];
  static aliases = ['container:cp'];
  static description = 'Use "-" as the source to read a tar archive from stdin and extract it to a directory destination in a container. Use "-" as the destination to stream a tar archive of a container source to stdout.';
  static flags = {
    archive: Flags.boolean({ char: 'a', summary: 'Archive mode (copy all uid/gid information).' }),
    'follow-link': Flags.boolean({ char: 'L', summary: 'Always follow symbol link in SRC_PATH.' }),
    quiet: Flags.boolean({ char: 'q', summary: 'Suppress progress output during copy (there is none: accepted for Docker compatibility).' }),
  };
  static args = {
    src: Args.string({ description: 'CONTAINER:SRC_PATH, SRC_PATH or -', required: true, ignoreStdin: true }),
    dest: Args.string({ description: 'CONTAINER:DEST_PATH, DEST_PATH or -', required: true, ignoreStdin: true }),
  };

  async run(): Promise<void> {
    const { flags, args } = await this.parse(Cp);
    const src = args.src === '-' ? { path: '-' } : splitCpArg(args.src);
    const dest = args.dest === '-' ? { path: '-' } : splitCpArg(args.dest);
    if (src.container !== undefined && dest.container !== undefined) throw new UsageError('copying between containers is not supported');
    if (src.container === undefined && dest.container === undefined) throw new UsageError('must specify at least one container source');
    if ((src.container !== undefined && src.path === '') || (dest.container !== undefined && dest.path === '')) throw new UsageError('filepath can not be empty');
    const d = await this.daemon(flags.host);
    const res = src.container !== undefined
      ? await copyOut(d, src.container, src.path, dest.path, Boolean(flags['follow-link']))
      : await copyIn(d, src.path, dest.container!, dest.path, Boolean(flags['follow-link']), Boolean(flags.archive));
    const w = skippedWarning(res);
    if (w) this.printErr(w);
  }
}

/**
 * tdock makes no device nodes or FIFOs (Node has no mknod; in a user-namespaced container
 * they could not be opened anyway): never silently, one line names the first of them.
 */
export function skippedWarning(res: { skipped: number; skippedNames: string[] } | undefined): string | undefined {
  const n = Number(res?.skipped ?? 0);
  if (!res || n === 0) return undefined;
  const more = n > res.skippedNames.length ? ', ...' : '';
  return `WARNING: ${n} ${n === 1 ? 'device node or FIFO' : 'device nodes or FIFOs'} not copied (${res.skippedNames.join(', ')}${more}): tdock cp does not make them`;
}

type CopyResult = { skipped: number; skippedNames: string[] } | undefined;

async function copyOut(d: Daemon, container: string, srcPath: string, dest: string, follow: boolean): Promise<CopyResult> {
  const c = contentsOnly(srcPath);
  const st = await d.files.statPath({ container, path: c.path, followLink: follow });
  if (!st.exists) throw new CliError(`Could not find the file ${srcPath} in container ${container}`);
  if ((c.contentsOnly || srcPath.endsWith('/')) && !st.isDir) throw new CliError(`${srcPath}: not a directory`);
  if (dest === '-') {
    const call = d.files.copyFrom({ container, path: st.path, followLink: false, rootName: c.contentsOnly ? '' : st.name === '/' ? '.' : st.name });
    for await (const m of call as AsyncIterable<{ data: Buffer }>) {
      if (!io.stdout.write(m.data)) await new Promise<void>((r) => io.stdout.once('drain', () => r()));
    }
    return undefined;
  }
  let dst: fs.Stats | undefined;
  try {
    dst = fs.statSync(dest);
  } catch (e) {
    // "file/": Docker's lstat error, not "does not exist"
    if ((e as NodeJS.ErrnoException).code === 'ENOTDIR') throw new CliError(`destination "${dest}": not a directory`);
    dst = undefined;
  }
  const plan = cpPlan({ isDir: st.isDir, name: st.name, contentsOnly: c.contentsOnly }, { path: dest, exists: dst !== undefined, isDir: dst?.isDirectory() ?? false });
  let root: number;
  try {
    root = openRoot(resolve(plan.dir));
  } catch {
    throw new CliError(`destination directory "${plan.dir}" does not exist`);
  }
  try {
    const call = d.files.copyFrom({ container, path: st.path, followLink: false, rootName: plan.rootName });
    const data = (async function* () {
      for await (const m of call as AsyncIterable<{ data: Buffer }>) yield m.data;
    })();
    // Confined to the destination directory: a symlink the container put in the archive is
    // never followed out of it. Owners are the user's, as with Docker (no lchown).
    return await extractInto(root, '/', data, { shift: HOST_IDS, archive: false, chown: false });
  } finally {
    fs.closeSync(root);
  }
}

async function copyIn(d: Daemon, srcPath: string, container: string, destPath: string, follow: boolean, archive: boolean): Promise<CopyResult> {
  let dir: string;
  let tar: AsyncIterable<Buffer | string>;
  let hostRoot: number | undefined;
  if (srcPath === '-') {
    const st = await d.files.statPath({ container, path: destPath, followLink: true });
    if (!st.exists || !st.isDir) throw new CliError(`destination "${container}:${destPath}" must be a directory`);
    dir = st.path;
    tar = io.stdin as AsyncIterable<Buffer>;
  } else {
    const c = contentsOnly(srcPath);
    let abs = resolve(c.path);
    let hst: fs.Stats;
    try {
      hst = fs.lstatSync(abs);
      if (hst.isSymbolicLink() && (follow || c.contentsOnly || srcPath.endsWith('/'))) {
        abs = fs.realpathSync(abs);
        hst = fs.lstatSync(abs);
      }
    } catch {
      throw new CliError(`no such file or directory: ${srcPath}`);
    }
    if ((c.contentsOnly || srcPath.endsWith('/')) && !hst.isDirectory()) throw new CliError(`${srcPath}: not a directory`);
    const st = await d.files.statPath({ container, path: destPath, followLink: true });
    const plan = cpPlan({ isDir: hst.isDirectory(), name: basename(abs), contentsOnly: c.contentsOnly }, { path: destPath, exists: st.exists, isDir: st.isDir });
    dir = plan.dir;
    hostRoot = abs === '/' ? openRoot('/') : openRoot(dirname(abs));
    tar = tarOf(hostRoot, abs === '/' ? '.' : basename(abs), plan.rootName, { shift: HOST_IDS });
  }
  try {
    const res = await sendTar(d, { container, dir, archive }, tar);
    return { skipped: Number(res.skipped), skippedNames: res.skippedNames ?? [] };
  } finally {
    if (hostRoot !== undefined) fs.closeSync(hostRoot);
  }
}

function sendTar(d: Daemon, start: { container: string; dir: string; archive: boolean }, tar: AsyncIterable<Buffer | string>): Promise<CopyToResponse> {
  return new Promise<CopyToResponse>((resolvePromise, reject) => {
    let done = false;
    const call = d.files.copyTo((err, res) => {
      done = true;
      if (err) reject(err);
      else resolvePromise(res!);
    });
    call.write({ start } as CopyToChunk);
    (async () => {
      for await (const chunk of tar) {
        if (done) return;
        const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
        for (let off = 0; off < buf.length; off += CHUNK) {
          if (!call.write({ data: buf.subarray(off, off + CHUNK) } as CopyToChunk)) await new Promise<void>((r) => call.once('drain', () => r()));
        }
      }
      call.end();
    })().catch((e) => {
      call.cancel();
      reject(e);
    });
  });
}
