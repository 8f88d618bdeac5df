import { Args } from '../oclif.ts';
import { TdockCommand } from '../base.ts';
import { buildCreateRequest, createFlags } from '../create-flags.ts';
import { CliError, ConnectionError, describeError, EXIT_ERROR, EXIT_USAGE, isConnectionError } from '../errors.ts';
import { splitOrUsage } from '../split.ts';

/**
 * Failures before the container runs exit 125, like Docker's run/create; except
 * the connection failures (daemon down, connection lost), which exit 1 from every
 * command, and permission denied, 125 from every command.
 */
export function preRun(e: unknown, host: string): CliError {
  const { line, code } = describeError(e, host);
  if (isConnectionError(e)) return new ConnectionError(line, code);
  return new CliError(line.replace(/^Error: /, ''), code === EXIT_ERROR ? EXIT_USAGE : code);
}

export default class Create extends TdockCommand {
  static summary = 'Create a new container (without starting it).';
  static usage = 'create [OPTIONS] IMAGE [COMMAND] [ARG...]';
  static flags = createFlags;
  static args = {
    image: Args.string({ description: 'image to create the container from', ignoreStdin: true }),
    command: Args.string({ description: 'command and arguments for the container', ignoreStdin: true }),
  };

  async run(): Promise<void> {
    const split = splitOrUsage(this.argv, Create.flags, 'create');
    const { flags } = await this.parse(Create, split.options);
    const req = buildCreateRequest(flags, split.positional, split.rest);
    const d = await this.daemon(flags.host);
    try {
      const res = await d.containers.create(req);
      for (const w of res.warnings ?? []) this.printErr(`WARNING: ${w}`);
      this.print(res.id);
    } catch (e) {
      throw preRun(e, d.host);
    }
  }
}
