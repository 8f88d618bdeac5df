import { Args } from '../oclif.ts';
import { TdockCommand } from '../base.ts';

export default class Logout extends TdockCommand {
  static summary = 'Forget the stored credentials of a registry.';
  static usage = 'logout [SERVER]';
  static args = { server: Args.string({ description: 'registry (default docker.io)', ignoreStdin: true }) };

  async run(): Promise<void> {
    const { flags, args } = await this.parse(Logout);
    const d = await this.daemon(flags.host);
    this.print((await d.images.logout({ server: args.server ?? '' })).status);
  }
}
