// The CLI proper, loaded by cli/main.ts once the compile cache is on: the
// command table (COMMANDS, re-exported by the entry for oclif's explicit strategy)
// and main(), which runs oclif.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Plugin, run, type ConfigOptions } from './oclif.ts';
import { describeError } from './errors.ts';
import { resolveHost } from './host.ts';
import { protectPositional } from './parse/argv.ts';
import { specOf } from './split.ts';
import { mark } from './trace.ts';
import Attach from './commands/attach.ts';
import Commit from './commands/commit.ts';
import Cp from './commands/cp.ts';
import Diff from './commands/diff.ts';
import Export from './commands/export.ts';
import History from './commands/history.ts';
import Tag from './commands/tag.ts';
import Create from './commands/create.ts';
import Events from './commands/events.ts';
import Exec from './commands/exec.ts';
import ImageInspect from './commands/image/inspect.ts';
import Images from './commands/images.ts';
import Import from './commands/import.ts';
import Info from './commands/info.ts';
import Inspect from './commands/inspect.ts';
import Kill from './commands/kill.ts';
import Logs from './commands/logs.ts';
import Port from './commands/port.ts';
import Ps from './commands/ps.ts';
import Pull from './commands/pull.ts';
import Push from './commands/push.ts';
import Save from './commands/save.ts';
import Load from './commands/load.ts';
import Restart from './commands/restart.ts';
import Login from './commands/login.ts';
import Logout from './commands/logout.ts';
import ImagePrune from './commands/image/prune.ts';
import ContainerPrune from './commands/container/prune.ts';
import SystemDf from './commands/system/df.ts';
import SystemPrune from './commands/system/prune.ts';
import Rm from './commands/rm.ts';
import Rmi from './commands/rmi.ts';
import Run from './commands/run.ts';
import Start from './commands/start.ts';
import Stats from './commands/stats.ts';
import Stop from './commands/stop.ts';
import Top from './commands/top.ts';
import Version from './commands/version.ts';
import Wait from './commands/wait.ts';
import VolumeCreate from './commands/volume/create.ts';
import VolumeInspect from './commands/volume/inspect.ts';
import VolumeLs from './commands/volume/ls.ts';
import VolumePrune from './commands/volume/prune.ts';
import VolumeRm from './commands/volume/rm.ts';

export const COMMANDS = {
  attach: Attach,
  commit: Commit,
  'container:prune': ContainerPrune,
  cp: Cp,
  create: Create,
  diff: Diff,
  events: Events,
  export: Export,
  history: History,
  exec: Exec,
  'image:inspect': ImageInspect,
  'image:prune': ImagePrune,
  images: Images,
  import: Import,
  info: Info,
  inspect: Inspect,
  kill: Kill,
  load: Load,
  login: Login,
  logout: Logout,
  logs: Logs,
  port: Port,
  ps: Ps,
  pull: Pull,
  push: Push,
  restart: Restart,
  rm: Rm,
  rmi: Rmi,
  run: Run,
  save: Save,
  start: Start,
  stats: Stats,
  stop: Stop,
  'system:df': SystemDf,
  'system:prune': SystemPrune,
  tag: Tag,
  top: Top,
  version: Version,
  'volume:create': VolumeCreate,
  'volume:inspect': VolumeInspect,
  'volume:ls': VolumeLs,
  'volume:prune': VolumePrune,
  'volume:rm': VolumeRm,
  wait: Wait,
};

/** Commands whose command line for the container must reach them untouched. */
const SPLIT: Record<string, Record<string, unknown>> = { run: Run.flags, create: Create.flags, exec: Exec.flags };

/**
 * Docker-style global options before the command (`tdock -H unix:///x ps`):
 * -H/--host is taken out and passed on through $TDOCK_HOST.
 */
export function prepareArgv(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): string[] {
  const out = [...argv];
  while (out.length > 0) {
    const a = out[0]!;
    if (a === '-H' || a === '--host') {
      if (out.length < 2) break;
      env.TDOCK_HOST = out[1]!;
      out.splice(0, 2);
    } else if (a.startsWith('--host=')) {
      env.TDOCK_HOST = a.slice(7);
      out.shift();
    } else if (a.startsWith('-H') && a.length > 2) {
      env.TDOCK_HOST = a.slice(a[2] === '=' ? 3 : 2);
      out.shift();
    } else break;
  }
  const verb = out[0];
  if (verb !== undefined && Object.hasOwn(SPLIT, verb)) {
    return [verb, ...protectPositional(out.slice(1), specOf(SPLIT[verb]!))];
  }
  // `container commit` & co.: the command is the first two words (its id or an alias)
  const find = (id: string) => Object.values(COMMANDS).find((c) => c.id === id || (c as { aliases?: string[] }).aliases?.includes(id))
    ?? (Object.hasOwn(COMMANDS, id) ? (COMMANDS as Record<string, unknown>)[id] : undefined);
  const two = out.length > 1 ? find(`${out[0]}:${out[1]}`) : undefined;
  const one = two || verb === undefined ? undefined : find(verb);
  const cmd = (two ?? one) as { flags?: Record<string, BoolLike> } | undefined;
  if (!cmd) return out;
  const words = two ? 2 : 1;
  return [...out.slice(0, words), ...boolValues(out.slice(words), cmd.flags ?? {})];
}

interface BoolLike { type?: string; allowNo?: boolean }

/**
 * Docker's (pflag's) `--BOOL=false` and `--BOOL=true`, which oclif does not read: as
 * `--no-BOOL` (flags with a default of true allow it) or `--BOOL`; false of a plain
 * boolean is its default and is dropped. Only boolean flags, only before `--`.
 */
function boolValues(args: readonly string[], flags: Record<string, BoolLike>): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      out.push(...args.slice(i));
      break;
    }
    const m = /^--([^=]+)=(true|false)$/.exec(a);
    const f = m ? flags[m[1]!] : undefined;
    if (!m || f?.type !== 'boolean') {
      out.push(a);
      continue;
    }
    if (m[2] === 'true') out.push(`--${m[1]}`);
    else if (f.allowNo) out.push(`--no-${m[1]}`);
  }
  return out;
}

export function projectRoot(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..');
}

type Pjson = Record<string, unknown> & { name: string; oclif: Record<string, unknown> };

export function readPjson(root: string = projectRoot()): Pjson {
  const pjson = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Pjson;
  pjson.oclif.topics ??= { image: { description: 'Manage images.' }, container: { description: 'Manage containers.' }, system: { description: 'Manage tdock.' }, volume: { description: 'Manage volumes.' } };
  return pjson;
}

/**
 * The root plugin (this CLI) with its commands taken straight from COMMANDS: oclif's
 * explicit strategy would otherwise resolve and import() the target file
 * (dist/tdock.js) to find the very same object.
 */
export async function loadRootPlugin(root: string = projectRoot(), pjson: Pjson = readPjson(root)): Promise<Plugin> {
  const plugin = new Plugin({ root, pjson: pjson as never, isRoot: true, ignoreManifest: true });
  (plugin as unknown as { commandCache: unknown }).commandCache = COMMANDS;
  await plugin.load();
  return plugin;
}

/**
 * What oclif's run() builds its Config from, without the file system probing we do
 * not need: the root plugin ready (above), no user/dev plugins, no manifest, no help
 * theme file. run() takes options rather than a Config: given a Config it would
 * load it a second time.
 */
export function configOptions(plugin: Plugin): ConfigOptions {
  process.env.TDOCK_DISABLE_THEME ??= '1';
  return {
    root: plugin.root,
    pjson: plugin.pjson,
    ignoreManifest: true,
    userPlugins: false,
    devPlugins: false,
    plugins: new Map([[plugin.name, plugin]]),
  };
}

/**
 * Runs the CLI. `plugin`: the root plugin when the caller has it ready (the startup
 * snapshot, cli/snapshot.ts, loads it at build time).
 */
export async function main(argv: readonly string[], plugin?: Plugin): Promise<number> {
  const args = prepareArgv(argv);
  try {
    const options = configOptions(plugin ?? (await loadRootPlugin()));
    mark('root plugin loaded');
    await run(args, options);
    mark('command done');
    return 0;
  } catch (e) {
    const err = e as Error & { code?: unknown; oclif?: { exit?: number } };
    if (err.code === 'EEXIT') return err.oclif?.exit ?? 0;
    const notFound = /^command (.+) not found$/.exec(err.message ?? '');
    if (notFound) {
      process.stderr.write(`tdock: '${notFound[1]!.replaceAll(':', ' ')}' is not a tdock command.\nSee 'tdock --help'.\n`);
      return 1;
    }
    const { line, code } = describeError(e, resolveHost());
    process.stderr.write(`${line}\n`);
    return code;
  }
}
