import { Args, Flags } from '../oclif.ts';
import { io, TdockCommand } from '../base.ts';
import { session, terminalSize } from '../attach.ts';
import { buildCreateRequest, createFlags } from '../create-flags.ts';
import { CliError, EXIT_USAGE } from '../errors.ts';
import { splitOrUsage } from '../split.ts';
import { preRun } from './create.ts';

export default class Run extends TdockCommand {
  static summary = 'Create and run a new container from an image.';
  static description =
    'Options go before IMAGE; everything after IMAGE is the command for the container, passed untouched. ' +
    'In the foreground the exit code is the container\'s (128+N when killed by signal N), or 125 when the ' +
    'container could not be created or started. Ctrl-P Ctrl-Q detaches from a -it session.';
  static usage = 'run [OPTIONS] IMAGE [COMMAND] [ARG...]';
  static examples = ['tdock run --rm alpine echo hi', 'tdock run -d -p 8080:80 --name web nginx', 'tdock run -it alpine sh'];
  static flags = {
    ...createFlags,
    detach: Flags.boolean({ char: 'd', summary: 'Run in the background and print the container ID.' }),
  };
  static args = {
    image: Args.string({ description: 'image to run', ignoreStdin: true }),
    command: Args.string({ description: 'command and arguments for the container', ignoreStdin: true }),
  };

  async run(): Promise<void> {
    const split = splitOrUsage(this.argv, Run.flags, 'run');
    const { flags } = await this.parse(Run, split.options);
    const req = buildCreateRequest(flags, split.positional, split.rest);
    if (flags.tty && flags.interactive && !io.stdin.isTTY && !flags.detach) {
      throw new CliError('the input device is not a TTY', 1);
    }
    const d = await this.daemon(flags.host);
    let id: string;
    try {
      const res = await d.containers.create(req);
      id = res.id;
      for (const w of res.warnings ?? []) this.printErr(`WARNING: ${w}`);
    } catch (e) {
      throw preRun(e, d.host);
    }

    if (flags.detach) {
      try {
        await d.containers.start({ id });
      } catch (e) {
        throw preRun(e, d.host);
      }
      this.print(id);
      return;
    }

    const result = await session({
      stream: d.containers.attach(),
      start: { id, stdin: Boolean(flags.interactive), size: flags.tty ? terminalSize() : null, exec: null },
      stdin: Boolean(flags.interactive),
      tty: Boolean(flags.tty),
      onAttached: () =>
        d.containers.start({ id }).catch((e: unknown) => {
          throw preRun(e, d.host);
        }),
      sigProxy: (signal) => {
        d.signals.kill({ id, signal }).catch(() => {});
      },
    });
    if (result.detached || !result.exit) return;
    const { exitCode, error } = result.exit;
    if (error) {
      this.printErr(/^error\b/i.test(error) ? error : `Error: ${error}`);
      this.exit(exitCode || EXIT_USAGE);
    }
    if (exitCode !== 0) this.exit(exitCode);
  }
}
