import { Args, Flags } from '../oclif.ts';
import { io, TdockCommand } from '../base.ts';
import { session, terminalSize } from '../attach.ts';
import { CliError, UsageError } from '../errors.ts';
import { envFlag, ValueError } from '../parse/bytes.ts';
import { splitOrUsage } from '../split.ts';

export default class Exec extends TdockCommand {
  static summary = 'Run a command in a running container.';
  static description = 'Options go before CONTAINER; everything after it is the command, passed untouched.';
  static usage = 'exec [OPTIONS] CONTAINER COMMAND [ARG...]';
  static examples = ['tdock exec web ls -l /', 'tdock exec -it web sh'];
  static flags = {
    detach: Flags.boolean({ char: 'd', summary: 'Run the command in the background.' }),
    interactive: Flags.boolean({ char: 'i', summary: 'Keep STDIN open.' }),
    tty: Flags.boolean({ char: 't', summary: 'Allocate a pseudo-TTY.' }),
    env: Flags.string({ char: 'e', summary: 'Set an environment variable.', helpValue: 'KEY=VALUE', multiple: true, multipleNonGreedy: true }),
    user: Flags.string({ char: 'u', summary: 'Username or UID[:GID].', helpValue: 'USER' }),
    workdir: Flags.string({ char: 'w', summary: 'Working directory inside the container.', helpValue: 'DIR' }),
  };
  static args = {
    container: Args.string({ description: 'container name or id', ignoreStdin: true }),
    command: Args.string({ description: 'command and arguments', ignoreStdin: true }),
  };

  async run(): Promise<void> {
    const split = splitOrUsage(this.argv, Exec.flags, 'exec');
    const { flags } = await this.parse(Exec, split.options);
    if (!split.positional || split.rest.length === 0) {
      throw new UsageError('"exec" requires at least 2 arguments: CONTAINER COMMAND [ARG...]');
    }
    if (flags.workdir && !flags.workdir.startsWith('/')) {
      throw new UsageError(`invalid value "${flags.workdir}" for -w/--workdir: it needs to be an absolute path`);
    }
    let env: string[];
    try {
      env = envFlag(flags.env ?? []);
    } catch (e) {
      throw e instanceof ValueError ? new UsageError(e.message) : e;
    }
    const tty = Boolean(flags.tty);
    const stdin = Boolean(flags.interactive) && !flags.detach;
    if (tty && stdin && !io.stdin.isTTY) throw new CliError('the input device is not a TTY', 1);
    const d = await this.daemon(flags.host);
    const id = split.positional;
    const result = await session({
      stream: d.containers.exec(),
      start: {
        id,
        stdin,
        size: tty ? terminalSize() : null,
        exec: { cmd: split.rest, env, user: flags.user ?? '', workdir: flags.workdir ?? '', tty, detach: Boolean(flags.detach) },
      },
      stdin,
      tty: tty && !flags.detach,
      returnOnAttached: Boolean(flags.detach),
    });
    if (!result.exit) return;
    if (result.exit.error) {
      this.printErr(/^error\b/i.test(result.exit.error) ? result.exit.error : `Error: ${result.exit.error}`);
      this.exit(result.exit.exitCode || 126);
    }
    if (result.exit.exitCode !== 0) this.exit(result.exit.exitCode);
  }
}
