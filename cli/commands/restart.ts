import { Args, Flags } from '../oclif.ts';
import { TdockCommand } from '../base.ts';
import { UsageError } from '../errors.ts';

export default class Restart extends TdockCommand {
  static summary = 'Restart one or more containers (stop with the timeout, then start).';
  static usage = 'restart [OPTIONS] CONTAINER [CONTAINER...]';
  static strict = false;
  static flags = {
    time: Flags.integer({ char: 't', summary: 'Seconds to wait before killing the container (default 10).', min: 0, aliases: ['timeout'] }),
  };
  static args = { container: Args.string({ description: 'container name or id', ignoreStdin: true }) };

  async run(): Promise<void> {
    const { flags, argv } = await this.parse(Restart);
    const names = argv as string[];
    if (names.length === 0) throw new UsageError('"restart" requires at least 1 argument (see \'tdock restart --help\')');
    const d = await this.daemon(flags.host);
    // Like Docker: a stopped or created container is simply started. One call, so the
    // daemon's restart policy cannot start it between the stop and the start.
    await this.each(names, async (n) => {
      await d.containers.restart({ id: n, timeout: flags.time ?? -1 });
      this.print(n);
    });
  }
}
