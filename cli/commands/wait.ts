import { Args } from '../oclif.ts';
import { TdockCommand } from '../base.ts';
import { UsageError } from '../errors.ts';

export default class Wait extends TdockCommand {
  static summary = 'Block until one or more containers stop, then print their exit codes.';
  static usage = 'wait CONTAINER [CONTAINER...]';
  static strict = false;
  static args = { container: Args.string({ description: 'container name or id', ignoreStdin: true }) };

  async run(): Promise<void> {
    const { flags, argv } = await this.parse(Wait);
    const names = argv as string[];
    if (names.length === 0) throw new UsageError('"wait" requires at least 1 argument (see \'tdock wait --help\')');
    const d = await this.daemon(flags.host);
    await this.each(names, async (n) => {
      const res = await d.containers.wait({ id: n });
      if (res.error) this.printErr(`Error: ${res.error}`);
      this.print(String(res.exitCode));
    });
  }
}
