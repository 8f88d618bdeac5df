// Glue between cli/parse/argv.ts and the oclif commands that take a command line
// for the container (run, create, exec).
import { baseFlags } from './base.ts';
import { UsageError } from './errors.ts';
import { ArgvError, flagSpec, splitArgv, type FlagDefLike, type SplitArgv } from './parse/argv.ts';

export function specOf(flags: Record<string, unknown>) {
  return flagSpec({ ...baseFlags, ...flags } as unknown as Record<string, FlagDefLike>);
}

export function splitOrUsage(argv: readonly string[], flags: Record<string, unknown>, verb: string): SplitArgv {
  try {
    return splitArgv(argv, specOf(flags));
  } catch (e) {
    if (e instanceof ArgvError) throw new UsageError(`${e.message} (see 'tdock ${verb} --help')`);
    throw e;
  }
}
