import { Args, Flags } from '../oclif.ts';
import { TdockCommand } from '../base.ts';
import { UsageError } from '../errors.ts';

export default class Stop extends TdockCommand {
  static summary = 'Stop one or more running containers (SIGTERM, then SIGKILL after the timeout).';
  static usage = 'stop [OPTIONS] CONTAINER [CONTAINER...]';
  static strict = false;
  static flags = {
    time: Flags.integer({ char: 't', summary: 'Seconds to wait before killing the container (default 10).', min: 0, aliases: ['timeout'] }),
  };
  static args = { container: Args.string({ description: 'container name or id', ignoreStdin: true }) };

  async run(): Promise<void> {
    const { flags, argv } = await this.parse(Stop);
    const names = argv as string[];
    if (names.length === 0) throw new UsageError('"stop" requires at least 1 argument (see \'tdock stop --help\')');
    const d = await this.daemon(flags.host);
    await this.each(names, async (n) => {
      await d.containers.stop({ id: n, timeout: flags.time ?? -1 });
      this.print(n);
    });
  }
}
