import { Args, Flags } from '../../oclif.ts';
import { TdockCommand } from '../../base.ts';
import { UsageError } from '../../errors.ts';

export default class VolumeRm extends TdockCommand {
  static summary = 'Remove one or more volumes (not while a container uses them).';
  static usage = 'volume rm [OPTIONS] VOLUME [VOLUME...]';
  static aliases = ['volume:remove'];
  static strict = false;
  static flags = {
    force: Flags.boolean({ char: 'f', summary: 'Do not fail on a volume that does not exist.' }),
  };
  static args = { volume: Args.string({ description: 'volume name', ignoreStdin: true }) };

  async run(): Promise<void> {
    const { flags, argv } = await this.parse(VolumeRm);
    const names = argv as string[];
    if (names.length === 0) throw new UsageError('"volume rm" requires at least 1 argument');
    const d = await this.daemon(flags.host);
    await this.each(names, async (n) => {
      await d.volumes.remove({ name: n, force: Boolean(flags.force) });
      this.print(n);
    });
  }
}
