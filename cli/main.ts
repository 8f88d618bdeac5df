// Entry of the CLI bundle (dist/tdock.js): exports COMMANDS for oclif's explicit
// command strategy and, when it is the program being run, runs oclif.
//
// Startup matters (`tdock ps` end to end < 100 ms on 2 cores), hence:
//  - This file stays tiny and turns on Node's compile cache BEFORE the rest of the
//    CLI is loaded (a module compiled before enableCompileCache() is never cached,
//    so the cache can only help code imported after this point; with the CLI build
//    split (scripts/build.mjs) cli/app.ts and its dependencies are a separate
//    chunk; without splitting this still works, just without the cache's gain).
//  - grpc-js and protobufjs are reached only through the commands' dynamic import of
//    cli/client.ts: --help and --version never load them.
//  - main() is NOT awaited at top level: oclif's explicit strategy import()s this
//    very file to read COMMANDS, and that import waits for this module's evaluation
//    to finish; awaiting main() here would deadlock.
//  - The process exits as soon as the command is done (no waiting on grpc timers),
//    and never with 0 before it is done (cli/outcome.ts).
import { readFileSync } from 'node:fs';
import module from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function enableCompileCache(): void {
  if (typeof module.enableCompileCache !== 'function') return;
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  try {
    const r = module.enableCompileCache(join(root, 'node_modules', '.cache', 'tdock'));
    if (r.status !== module.constants.compileCacheStatus.FAILED) return;
    module.enableCompileCache(join(tmpdir(), `tdock-compile-cache-${process.getuid?.() ?? 'u'}`));
  } catch {
    // no cache: slower start, same behaviour
  }
}

import { exitWith } from './outcome.ts';
import { mark } from './trace.ts';

mark('entry');
if (import.meta.main) enableCompileCache();

// `tdock --version` needs nothing of oclif: print what oclif would (its userAgent).
if (import.meta.main && process.argv.length === 3 && process.argv[2] === '--version') {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const pjson = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string; version: string };
  process.stdout.write(`${pjson.name}/${pjson.version} ${process.platform}-${process.arch} node-${process.version}\n`);
  process.exit(0);
}

const app = await import('./app.ts');
mark('app loaded (oclif, commands)');

export const COMMANDS = app.COMMANDS;

if (import.meta.main) {
  exitWith(app.main(process.argv.slice(2)), {
    beforeExit: () => {
      try {
        module.flushCompileCache?.();
      } catch {
        // best effort
      }
    },
  });
}
