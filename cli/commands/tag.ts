import { Args } from '../oclif.ts';
import { TdockCommand } from '../base.ts';

export default class Tag extends TdockCommand {
  static summary = 'Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE.';
  static usage = 'tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]';
  static aliases = ['image:tag'];
  static args = {
    source: Args.string({ description: 'SOURCE_IMAGE[:TAG] or image id', required: true, ignoreStdin: true }),
    target: Args.string({ description: 'TARGET_IMAGE[:TAG]', required: true, ignoreStdin: true }),
  };

  async run(): Promise<void> {
    const { flags, args } = await this.parse(Tag);
    const d = await this.daemon(flags.host);
    await d.commits.tag({ source: args.source, target: args.target });
  }
}
