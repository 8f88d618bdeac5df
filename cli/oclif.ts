// The parts of @oclif/core the CLI uses, imported by subpath: the package index
// also loads (and runs) what we never need (execute/handle, a Node version check
// that requires semver and reads a package.json, ...). Startup cost, see main.ts.
export { Command } from '@oclif/core/command';
export * as Flags from '@oclif/core/flags';
export * as Args from '@oclif/core/args';
export { Config, Plugin } from '@oclif/core/config';
export type { Options as ConfigOptions } from '@oclif/core/interfaces';
export { run } from '@oclif/core/run';
