import { Args, Flags } from '../oclif.ts';
import { io, TdockCommand } from '../base.ts';
import { followProgress } from './pull.ts';

/**
 * `tdock push NAME[:TAG]`: progress per layer like docker push ("Preparing", "Pushing",
 * "Pushed", "Layer already exists", "Mounted from ..."), then "TAG: digest: sha256:...
 * size: N" (images/push.ts does the work in the daemon).
 */
export default class Push extends TdockCommand {
  static summary = 'Upload an image to a registry.';
  static usage = 'push [OPTIONS] NAME[:TAG]';
  static aliases = ['image:push'];
  static examples = ['tdock push registry.example.com:5000/team/app:1.0', 'tdock push -a registry.example.com:5000/team/app'];
  static flags = {
    'all-tags': Flags.boolean({ char: 'a', summary: 'Push all tags of an image to the repository.' }),
    quiet: Flags.boolean({ char: 'q', summary: 'Suppress verbose output.' }),
  };
  static args = { name: Args.string({ description: 'image reference', required: true, ignoreStdin: true }) };

  async run(): Promise<void> {
    const { flags, args } = await this.parse(Push);
    const d = await this.daemon(flags.host);
    const stream = d.images.push({ ref: args.name, allTags: Boolean(flags['all-tags']) });
    if (!flags.quiet && !flags['all-tags'] && !/:[^/]+$/.test(args.name.split('@')[0]!)) this.print('Using default tag: latest');
    await followProgress(stream, Boolean(flags.quiet), io.stdout);
    if (flags.quiet) this.print(args.name);
  }
}
