import { Args, Flags } from '../../oclif.ts';
import { TdockCommand } from '../../base.ts';
import { UsageError } from '../../errors.ts';

export default class VolumeCreate extends TdockCommand {
  static summary = 'Create a volume.';
  static usage = 'volume create [OPTIONS] [VOLUME]';
  static flags = {
    label: Flags.string({ summary: 'Set metadata for a volume (KEY=VALUE).', helpValue: 'LABEL', multiple: true, multipleNonGreedy: true }),
    driver: Flags.string({ char: 'd', summary: 'Volume driver name (only "local").', helpValue: 'DRIVER' }),
    name: Flags.string({ summary: 'Specify volume name.', helpValue: 'NAME' }),
  };
  static args = { volume: Args.string({ description: 'volume name (a random one when none)', ignoreStdin: true }) };

  async run(): Promise<void> {
    const { flags, args } = await this.parse(VolumeCreate);
    if (flags.driver !== undefined && flags.driver !== 'local') throw new UsageError(`invalid volume driver "${flags.driver}": only "local" is available`);
    if (flags.name !== undefined && args.volume !== undefined && flags.name !== args.volume) {
      throw new UsageError(`conflicting options: either specify --name or provide positional arg, not both`);
    }
    for (const l of flags.label ?? []) if (l === '' || l.startsWith('=')) throw new UsageError(`invalid label "${l}": expected KEY=VALUE`);
    const d = await this.daemon(flags.host);
    const v = await d.volumes.create({ name: args.volume ?? flags.name ?? '', labels: flags.label ?? [] });
    this.print(v.name);
  }
}
