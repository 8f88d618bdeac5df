// Bundles the CLI and the daemon with esbuild (fast start, no module resolution at
// run time; the CLI as an entry plus chunks, see below) and builds the shim. Run with the project's Node 24.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(root);

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

execFileSync('make', ['-s', '-C', 'shim'], { stdio: 'inherit' });
