import { Flags } from '../../oclif.ts';
import { TdockCommand } from '../../base.ts';
import { humanSize } from '../../render/format.ts';
import { confirmOrCancel } from '../../confirm.ts';

/**
 * "Deleted Images:" and per image its "untagged: REF" lines then "deleted: ID",
 * then a blank line; "" when none (system prune too).
 */
export function deletedImages(ids: readonly string[], untagged: readonly { id: string; refs: string[] }[] = []): string {
  const refs = new Map(untagged.map((u) => [u.id, u.refs]));
  const lines = ids.flatMap((id) => [...(refs.get(id) ?? []).map((r) => `untagged: ${r}`), `deleted: ${id}`]);
  return ids.length ? `Deleted Images:\n${lines.join('\n')}\n\n` : '';
}

export default class ImagePrune extends TdockCommand {
  static summary = 'Remove dangling images (untagged, unused by any container); -a: all images no container uses.';
  static usage = 'image prune [-a] [-f]';
  static flags = {
    all: Flags.boolean({ char: 'a', summary: 'Remove all unused images, not just dangling ones.' }),
    force: Flags.boolean({ char: 'f', summary: 'Do not prompt for confirmation.' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(ImagePrune);
    if (!flags.force) {
      await confirmOrCancel(flags.all ? 'WARNING! This will remove all images without at least one container associated to them.' : 'WARNING! This will remove all dangling images.', 'image prune');
    }
    const d = await this.daemon(flags.host);
    const res = await d.images.prune({ all: flags.all });
    this.print(`${deletedImages(res.deleted, res.untagged)}Total reclaimed space: ${humanSize(Number(res.reclaimed))}`);
  }
}
