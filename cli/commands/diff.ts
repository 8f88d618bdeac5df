import { Args } from '../oclif.ts';
import { TdockCommand } from '../base.ts';
import { visible } from '../render/escape.ts';

export default class Diff extends TdockCommand {
  static summary = "Inspect changes to files or directories on a container's filesystem.";
  static usage = 'diff CONTAINER';
  static aliases = ['container:diff'];
  static description = 'A = added, C = changed, D = deleted.';
  static args = { container: Args.string({ description: 'container name or id', required: true, ignoreStdin: true }) };

  async run(): Promise<void> {
    const { flags, args } = await this.parse(Diff);
    const d = await this.daemon(flags.host);
    const res = await d.files.diff({ id: args.container });
    const lines = (res.changes ?? []).map((c) => `${c.kind} ${visible(c.path)}`);
    if (lines.length) this.print(lines.join('\n'));
  }
}
