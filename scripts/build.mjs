// Bundles the CLI and the daemon with esbuild (fast start, no module resolution at
// run time; the CLI as an entry plus chunks, see below) and builds the shim. Run with the project's Node 24.
import { build } from 'esbuild';
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(root);

// The message types both sides compile against (proto/gen/tdock.ts) follow the .proto.
const { writeProtoTypes } = await import('./proto-types.ts');
if (writeProtoTypes()) process.stderr.write('build: proto/gen/tdock.ts regenerated from proto/tdock.proto\n');

// CommonJS dependencies inside an ESM bundle still call require() for node built-ins.
const banner = {
  js: "import { createRequire as __tdockCreateRequire } from 'node:module'; const require = __tdockCreateRequire(import.meta.url);",
};

const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node24',
  sourcemap: 'linked',
  legalComments: 'none',
  // typescript: oclif requires it only in development (tsconfig lookup); bundled it adds
  // 10 MB that every `tdock` start would parse.
  external: ['better-sqlite3', 'typescript'],
  banner,
  logLevel: 'warning',
};

// The CLI is split: dist/tdock.js is a tiny entry that turns on Node's compile cache
// and then imports the rest (dist/tdock-*.js chunks); code compiled before
// module.enableCompileCache() is never cached, so one file could not benefit.
for (const f of existsSync('dist') ? readdirSync('dist', { withFileTypes: true }) : []) {
  if (f.isFile() && /^tdock-.*\.js(\.map)?$/.test(f.name)) rmSync(join('dist', f.name));
}
await Promise.all([
  build({
    ...common,
    entryPoints: { tdock: 'cli/main.ts' },
    outdir: 'dist',
    splitting: true,
    chunkNames: 'tdock-[name]-[hash]',
  }),
  build({ ...common, entryPoints: ['daemon/main.ts'], outfile: 'dist/tdockd.js' }),
]);

// The CLI's V8 startup snapshot (cli/snapshot.ts): bin/tdock runs
// `node --snapshot-blob dist/tdock.blob dist/tdock.js ARGS` when the blob is there
// and newer than the node binary, dist/tdock.js otherwise. The snapshot builder
// takes one CommonJS script that may require() node built-ins only, hence a second
// bundle of the CLI, with two kinds of stand-ins (esbuild plugin below):
//  - LAZY_BUILTINS cannot be in a snapshot (native handles made at load time): they
//    are required on first use; their `constants` (plain data, read at load time by
//    grpc-js) are copied here.
//  - DEFERRED modules read the terminal or the environment when loaded (colours,
//    terminal width, spinner or not): their code runs on first use, at run time, not
//    in the build. The snapshot build fails if one is used while it is built.
const nodeRequire = createRequire(import.meta.url);
const LAZY_BUILTINS = ['http2', 'tls', 'http', 'https'];
const DEFERRED = [
  'node_modules/ansis/index.js',
  'node_modules/@oclif/core/lib/screen.js',
  'node_modules/@oclif/core/lib/ux/index.js',
  // oclif's help colours; `debug` (which needs it at load time, for DEBUG=... output
  // only, and bin/tdock does not use the snapshot then) gets a copy of its own
  'node_modules/supports-color/index.js',
];
const proxyOf = (target, load, extra = '') => `new Proxy(${target}, {
  get: (_, k) => ${extra}Reflect.get(load(), k),
  apply: (_, self, args) => Reflect.apply(load(), self, args),
  has: (_, k) => k in load(),
  ownKeys: () => Reflect.ownKeys(load()),
  getOwnPropertyDescriptor: (_, k) => {
    const d = Reflect.getOwnPropertyDescriptor(load(), k);
    return d && { ...d, configurable: true };
  },
})`;
const standIns = {
  name: 'tdock-snapshot-stand-ins',
  setup(b) {
    b.onResolve({ filter: new RegExp(`^(node:)?(${LAZY_BUILTINS.join('|')})$`) }, (a) =>
      // the stand-in's own require() of the real module stays a require()
      a.namespace === 'tdock-lazy' ? { path: a.path, external: true } : { path: a.path.replace(/^node:/, ''), namespace: 'tdock-lazy' },
    );
    b.onLoad({ filter: /.*/, namespace: 'tdock-lazy' }, (a) => {
      const real = nodeRequire(`node:${a.path}`);
      const constants = real.constants ? JSON.stringify(real.constants) : undefined;
      return {
        loader: 'js',
        contents: `let real;
const load = () => (real ??= require('node:${a.path}'));
${constants ? `const constants = ${constants};` : ''}
module.exports = ${proxyOf('{}', 'load', constants ? "k === 'constants' ? constants : " : '')};
`,
      };
    });
    b.onResolve({ filter: /^supports-color$/ }, async (a) => {
      if (a.pluginData === 'tdock' || !/\/node_modules\/debug\//.test(a.importer)) return undefined;
      const r = await b.resolve(a.path, { kind: a.kind, importer: a.importer, resolveDir: a.resolveDir, pluginData: 'tdock' });
      return { ...r, suffix: '?build-time' };
    });
    const deferred = new RegExp(`/(${DEFERRED.map((d) => d.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('|')})$`);
    b.onLoad({ filter: deferred }, async (a) => {
      if (a.suffix === '?build-time') return undefined;
      const code = await readFile(a.path, 'utf8');
      const name = JSON.stringify(a.path.slice(a.path.lastIndexOf('node_modules/')));
      const esModule = /Object\.defineProperty\(exports, "__esModule"/.test(code);
      return {
        loader: 'js',
        resolveDir: dirname(a.path),
        contents: `let real;
const load = () => {
  if (real) return real.exports;
  real = { exports: {} };
  if (require('node:v8').startupSnapshot.isBuildingSnapshot()) (globalThis.__tdockDeferredUsed ??= []).push(${name});
  (function (exports, module) {
${code}
  })(real.exports, real);
  return real.exports;
};
module.exports = ${proxyOf('() => {}', 'load', `k === '__esModule' ? ${esModule} : `)};
`,
      };
    });
  },
};
const blob = join('dist', 'tdock.blob');
await build({
  ...common,
  banner: undefined,
  format: 'cjs',
  entryPoints: ['cli/snapshot.ts'],
  outfile: 'dist/tdock-snapshot.cjs',
  define: { 'import.meta.url': 'globalThis.__TDOCK_URL__' },
  plugins: [standIns],
});
// A clean environment: module top-level code that reads it freezes what it read into
// the blob. cli/snapshot.ts lists the names read (dist/tdock.blob.env); bin/tdock
// does without the snapshot when one of them is set (GRPC_TRACE, DEBUG, ...).
// Written aside and renamed: a tdock started meanwhile must not read half a blob.
// The builder's output goes to a file: a pipe or a terminal would be a handle in the
// heap (process.stdout is made at load time), which V8 cannot serialize.
const log = `${blob}.log`;
const fd = openSync(log, 'w');
let snap;
try {
  snap = spawnSync(process.execPath, ['--snapshot-blob', `${blob}.tmp`, '--build-snapshot', 'dist/tdock-snapshot.cjs'], {
    stdio: ['ignore', fd, fd],
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      TDOCK_SNAPSHOT_ENTRY: join(realpathSync(root), 'dist', 'tdock.js'),
      TDOCK_SNAPSHOT_ENV_FILE: `${blob}.env`,
    },
  });
} finally {
  closeSync(fd);
}
// Node warns about every built-in it has not vetted for snapshots (tty, readline,
// child_process, perf_hooks: loaded by oclif, not used at load time); the rest is news.
const notVetted = /not yet fully verified whether built-in module|may still work in some cases|request support for the module|--trace-warnings/;
const output = readFileSync(log, 'utf8').split('\n').filter((l) => l && !notVetted.test(l));
rmSync(log, { force: true });
if (snap.status !== 0) {
  // Never leave the previous blob (older code) behind; the CLI works without one.
  for (const f of [`${blob}.tmp`, blob, `${blob}.env`]) rmSync(f, { force: true });
  process.stderr.write(output.slice(0, 60).map((l) => `${l}\n`).join(''));
  process.stderr.write(
    `build: WARNING: the CLI's startup snapshot could not be built (${snap.error?.message ?? snap.signal ?? `exit ${snap.status}`}); ` +
      'tdock will start without it (~30 ms slower)\n',
  );
} else {
  process.stderr.write(output.map((l) => `${l}\n`).join(''));
  renameSync(`${blob}.tmp`, blob);
}

execFileSync('make', ['-s', '-C', 'shim'], { stdio: 'inherit' });
