import { Flags } from '../../oclif.ts';
import { TdockCommand } from '../../base.ts';
import { humanSize } from '../../render/format.ts';

export default class ImagePrune extends TdockCommand {
  static summary = 'Remove dangling images (untagged, unused by any container).';
  static usage = 'image prune [-f]';
  static flags = {
    force: Flags.boolean({ char: 'f', summary: 'Do not ask for confirmation (tdock never asks).' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(ImagePrune);
    const d = await this.daemon(flags.host);
    const res = await d.images.prune({});
    if (res.deleted.length) {
      this.print('Deleted Images:');
      for (const id of res.deleted) this.print(`deleted: ${id}`);
      this.print('');
    }
    this.print(`Total reclaimed space: ${humanSize(res.reclaimed)}`);
  }
}
