import { Args, Flags } from '../../oclif.ts';
import { TdockCommand } from '../../base.ts';
import { UsageError } from '../../errors.ts';
import { parseDoc } from '../../render/inspect.ts';

export default class ImageInspect extends TdockCommand {
  static summary = 'Display detailed information on one or more images as a JSON array.';
  static usage = 'image inspect [OPTIONS] IMAGE [IMAGE...]';
  static strict = false;
  static flags = {
    format: Flags.string({ char: 'f', summary: 'Format each object with a template: {{.Id}}.', helpValue: 'TEMPLATE' }),
  };
  static args = { image: Args.string({ description: 'image reference or id', ignoreStdin: true }) };

  async run(): Promise<void> {
    const { flags, argv } = await this.parse(ImageInspect);
    const names = argv as string[];
    if (names.length === 0) throw new UsageError('"image inspect" requires at least 1 argument');
    const d = await this.daemon(flags.host);
    await this.inspectEach(names, async (n) => parseDoc((await d.images.inspect({ ref: n })).json), flags.format);
  }
}
