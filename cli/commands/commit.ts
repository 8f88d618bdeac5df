import { Args, Flags } from '../oclif.ts';
import { TdockCommand } from '../base.ts';

export default class Commit extends TdockCommand {
  static summary = "Create a new image from a container's changes.";
  static usage = 'commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]';
  static aliases = ['container:commit'];
  static flags = {
    author: Flags.string({ char: 'a', summary: 'Author (e.g., "John Hannibal Smith <hannibal@a-team.com>").', helpValue: 'STRING' }),
    change: Flags.string({ char: 'c', summary: 'Apply Dockerfile instruction to the created image.', multiple: true, multipleNonGreedy: true, helpValue: 'LIST' }),
    message: Flags.string({ char: 'm', summary: 'Commit message.', helpValue: 'STRING' }),
    pause: Flags.boolean({ char: 'p', summary: 'Pause container during commit (its cgroup freezer; --no-pause to commit it running).', default: true, allowNo: true }),
  };
  static args = {
    container: Args.string({ description: 'container name or id', required: true, ignoreStdin: true }),
    ref: Args.string({ description: 'REPOSITORY[:TAG]', ignoreStdin: true }),
  };

  async run(): Promise<void> {
    const { flags, args } = await this.parse(Commit);
    const d = await this.daemon(flags.host);
    const res = await d.commits.commit({
      container: args.container, ref: args.ref ?? '', changes: flags.change ?? [], message: flags.message ?? '',
      author: flags.author ?? '', pause: flags.pause,
    });
    this.print(res.id);
  }
}
