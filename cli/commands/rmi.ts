import { Args, Flags } from '../oclif.ts';
import { TdockCommand } from '../base.ts';
import { UsageError } from '../errors.ts';

export default class Rmi extends TdockCommand {
  static summary = 'Remove one or more images.';
  static usage = 'rmi [OPTIONS] IMAGE [IMAGE...]';
  static aliases = ['image:rm'];
  static strict = false;
  static flags = {
    force: Flags.boolean({ char: 'f', summary: 'Remove even if containers use it.' }),
  };
  static args = { image: Args.string({ description: 'image reference or id', ignoreStdin: true }) };

  async run(): Promise<void> {
    const { flags, argv } = await this.parse(Rmi);
    const names = argv as string[];
    if (names.length === 0) throw new UsageError('"rmi" requires at least 1 argument (see \'tdock rmi --help\')');
    const d = await this.daemon(flags.host);
    await this.each(names, async (n) => {
      const res = await d.images.remove({ ref: n, force: Boolean(flags.force) });
      for (const u of res.untagged ?? []) this.print(`Untagged: ${u}`);
      for (const x of res.deleted ?? []) this.print(`Deleted: ${x}`);
    });
  }
}
