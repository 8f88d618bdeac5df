import { Args, Flags } from '../oclif.ts';
import { TdockCommand } from '../base.ts';
import { UsageError } from '../errors.ts';

export default class Rm extends TdockCommand {
  static summary = 'Remove one or more containers.';
  static usage = 'rm [OPTIONS] CONTAINER [CONTAINER...]';
  static aliases = ['container:rm'];
  static strict = false;
  static flags = {
    force: Flags.boolean({ char: 'f', summary: 'Kill and remove a running container.' }),
    volumes: Flags.boolean({ char: 'v', summary: 'Remove the anonymous volumes of the container.' }),
  };
  static args = { container: Args.string({ description: 'container name or id', ignoreStdin: true }) };

  async run(): Promise<void> {
    const { flags, argv } = await this.parse(Rm);
    const names = argv as string[];
    if (names.length === 0) throw new UsageError('"rm" requires at least 1 argument (see \'tdock rm --help\')');
    const d = await this.daemon(flags.host);
    await this.each(names, async (n) => {
      await d.containers.remove({ id: n, force: Boolean(flags.force), volumes: Boolean(flags.volumes) });
      this.print(n);
    });
  }
}
