import { Flags } from '../../oclif.ts';
import { TdockCommand } from '../../base.ts';
import { humanSize } from '../../render/format.ts';
import { confirmOrCancel } from '../../confirm.ts';

export const CONTAINER_PRUNE_WARNING = 'WARNING! This will remove all stopped containers.';

export default class ContainerPrune extends TdockCommand {
  static summary = 'Remove all stopped containers.';
  static usage = 'container prune [-f]';
  static flags = {
    force: Flags.boolean({ char: 'f', summary: 'Do not prompt for confirmation.' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(ContainerPrune);
    if (!flags.force) await confirmOrCancel(CONTAINER_PRUNE_WARNING, 'container prune');
    const d = await this.daemon(flags.host);
    const res = await d.system.pruneContainers({});
    const deleted = res.deleted.length ? `Deleted Containers:\n${res.deleted.join('\n')}\n\n` : '';
    this.print(`${deleted}Total reclaimed space: ${humanSize(Number(res.reclaimed))}`);
  }
}
