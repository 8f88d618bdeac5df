import { Args, Flags } from '../oclif.ts';
import { TdockCommand } from '../base.ts';
import { UsageError } from '../errors.ts';

export default class Kill extends TdockCommand {
  static summary = 'Send a signal (default KILL) to one or more running containers.';
  static usage = 'kill [OPTIONS] CONTAINER [CONTAINER...]';
  static strict = false;
  static flags = {
    signal: Flags.string({ char: 's', summary: 'Signal to send: name (TERM, SIGTERM) or number.', helpValue: 'SIG' }),
  };
  static args = { container: Args.string({ description: 'container name or id', ignoreStdin: true }) };

  async run(): Promise<void> {
    const { flags, argv } = await this.parse(Kill);
    const names = argv as string[];
    if (names.length === 0) throw new UsageError('"kill" requires at least 1 argument (see \'tdock kill --help\')');
    const signal = flags.signal ?? 'KILL';
    if (!/^(SIG)?[A-Z0-9+-]+$/i.test(signal)) throw new UsageError(`invalid value "${signal}" for -s/--signal: expected a signal name or number`);
    const d = await this.daemon(flags.host);
    await this.each(names, async (n) => {
      await d.containers.kill({ id: n, signal });
      this.print(n);
    });
  }
}
