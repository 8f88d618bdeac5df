// Entry of the CLI's V8 startup snapshot (dist/tdock.blob, built by
// scripts/build.mjs with `node --build-snapshot`; bin/tdock runs
// `node --snapshot-blob dist/tdock.blob dist/tdock.js ARGS`).
//
// At build time this evaluates everything a command needs: oclif and the commands,
// grpc-js and protobufjs, the service clients built from tdock.proto with all their
// generated (de)serializers, and oclif's root plugin (command table, flag
// manifests). A CLI start then deserializes that heap instead of loading and
// compiling ~1.6 MB of JavaScript, and goes straight to main().
//
// Rules for code evaluated at module top level of anything bundled here:
//  - the process is the BUILD's: environment, argv, cwd, terminal. What depends on
//    them must be read at run time (see snapshot-prelude.ts for the environment and
//    stdio, build.mjs's DEFERRED for modules that read the terminal at load time).
//  - http, https, http2 and tls cannot be in a snapshot: the bundle gets stand-ins
//    that load the real module on first use (build.mjs).
import { clearBuildTimers, endBuildWatch, envReadAtBuild, replayStdioListeners } from './snapshot-prelude.ts';
import { writeFileSync } from 'node:fs';
import v8 from 'node:v8';
import { pathToFileURL } from 'node:url';
import { Writable } from 'node:stream';
import { configOptions, loadRootPlugin, main, projectRoot, readPjson } from './app.ts';
import { setIo } from './base.ts';
import { Daemon } from './client.ts';
import { run, type Plugin } from './oclif.ts';
import { loadServices } from './rpc.ts';
import { exitWith } from './outcome.ts';
import { mark, restartTrace } from './trace.ts';

declare global {
  // The bundle's `import.meta.url` (esbuild define): dist/tdock.js.
  var __TDOCK_URL__: string;
}

const entry = process.env.TDOCK_SNAPSHOT_ENTRY!; // dist/tdock.js (build.mjs)
const envFile = process.env.TDOCK_SNAPSHOT_ENV_FILE!;
globalThis.__TDOCK_URL__ = pathToFileURL(entry).href;

loadServices({ prepareAll: true });
// Built-ins that http2 (loaded on first use, see above) needs and that can be here.
for (const m of ['node:crypto', 'node:assert']) process.getBuiltinModule(m);

/**
 * Runs the common paths once, so that their functions are compiled now and the
 * snapshot has their bytecode (V8 compiles a function on its first call; ~300 of
 * them, ~10 ms, for a command otherwise): oclif's run() up to a command's failure
 * to reach a daemon, and grpc-js's calls up to a failed connection (a unix socket
 * that does not exist: http2 is not loaded, nothing stays open). No output, no
 * environment: the host is given with -H.
 */
async function warmUp(p: Plugin): Promise<void> {
  const host = 'unix:///nonexistent/tdock-snapshot-warm-up.sock';
  const sink = new Writable({ write: (_c, _e, cb) => cb() });
  setIo({ stdout: sink, stderr: sink });
  try {
    for (const argv of [['ps', '-a'], ['exec', 'C', 'true'], ['run', '--rm', 'busybox', 'true']]) {
      await run([argv[0]!, '-H', host, ...argv.slice(1)], configOptions(p)).catch(() => {});
    }
    const d = new Daemon(host);
    await d.containers.list({ all: true }).catch(() => {});
    await d.containers.create({ image: 'busybox', cmd: ['true'] }).catch(() => {});
    await new Promise<void>((resolve) => {
      const s = d.containers.exec();
      s.on('data', () => {});
      s.on('error', () => resolve());
      s.on('end', () => resolve());
      s.write({ start: { id: 'C', stdin: false, size: null, exec: { cmd: ['true'], env: [], user: '', workdir: '', tty: false, detach: false } } });
    });
    d.close();
  } finally {
    setIo({});
  }
}

let plugin: Plugin | undefined;
let failure: unknown;
let envAtBuild: string[] = [];
const buildRoot = projectRoot();
(async () => {
  const p = await loadRootPlugin(buildRoot, readPjson(buildRoot));
  envAtBuild = envReadAtBuild();
  endBuildWatch();
  await warmUp(p);
  await clearBuildTimers();
  plugin = p;
})().catch((e: unknown) => {
  failure = e;
});

/**
 * Variables read at build time that do not make the blob wrong (bin/tdock uses it
 * even when they are set): read again at run time (trace.ts), the build's own,
 * TLS-only settings of grpc-js (the CLI's channel is always insecure: a unix socket
 * or plain TCP), FORCE_COLOR (read by node's internal colours, unused by the CLI;
 * ansis and supports-color read it at run time, see build.mjs's DEFERRED), and
 * oclif's plugin discovery, which the CLI does not use (explicit commands, no
 * plugins).
 */
const ENV_OK =
  /^(TDOCK_SNAPSHOT_.*|TDOCK_TRACE_STARTUP|GRPC_DEFAULT_SSL_ROOTS_FILE_PATH|GRPC_SSL_CIPHER_SUITES|FORCE_COLOR|TINYGLOBBY_DEBUG|__MINIMATCH_TESTING_PLATFORM__)$/;

v8.startupSnapshot.addSerializeCallback(() => {
  if (failure) throw failure;
  if (!plugin) throw new Error('the root plugin did not load before the snapshot was taken');
  // Handles (sockets, timers, ...) cannot be in a snapshot (V8 aborts with a dump).
  const open = process.getActiveResourcesInfo();
  if (open.length) throw new Error(`resources still open when the snapshot is taken: ${open.join(', ')}`);
  const used = (globalThis as { __tdockDeferredUsed?: string[] }).__tdockDeferredUsed;
  if (used) throw new Error(`modules deferred to run time were used while building the snapshot: ${used.join(', ')}`);
  const names = envAtBuild.filter((n) => !ENV_OK.test(n) && /^[A-Za-z_][A-Za-z0-9_]*$/.test(n));
  writeFileSync(envFile, `${names.join(' ')}\n`);
});

v8.startupSnapshot.setDeserializeMainFunction(() => {
  restartTrace();
  mark('entry (snapshot)');
  replayStdioListeners();
  globalThis.__TDOCK_URL__ = pathToFileURL(process.argv[1]!).href;
  // A checkout moved after the build: the plugin's root would be stale.
  const p = projectRoot() === buildRoot ? plugin : undefined;
  exitWith(main(process.argv.slice(2), p));
});
