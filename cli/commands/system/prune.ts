import { Flags } from '../../oclif.ts';
import { TdockCommand } from '../../base.ts';
import { humanSize } from '../../render/format.ts';
import { confirmOrCancel } from '../../confirm.ts';
import { deletedImages } from '../image/prune.ts';

/** Docker's list of what `system prune` removes, as its prompt shows it. */
export function systemPruneWarning(all: boolean, volumes: boolean): string {
  return [
    'WARNING! This will remove:',
    '  - all stopped containers',
    '  - all networks not used by at least one container',
    ...(volumes ? ['  - all anonymous volumes not used by at least one container'] : []),
    all ? '  - all images without at least one container associated to them' : '  - all dangling images',
    all ? '  - all build cache' : '  - unused build cache',
    '',
  ].join('\n');
}

export default class SystemPrune extends TdockCommand {
  static summary = 'Remove unused data: stopped containers, dangling (with -a: unused) images.';
  static usage = 'system prune [OPTIONS]';
  static flags = {
    all: Flags.boolean({ char: 'a', summary: 'Remove all unused images, not just dangling ones.' }),
    force: Flags.boolean({ char: 'f', summary: 'Do not prompt for confirmation.' }),
    volumes: Flags.boolean({ summary: 'Prune anonymous volumes.' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(SystemPrune);
    if (!flags.force) await confirmOrCancel(systemPruneWarning(flags.all, flags.volumes), 'system prune');
    const d = await this.daemon(flags.host);
    // Docker's order: containers first (their images become unused), networks (tdock
    // has its one bridge only), volumes, images, build cache (tdock builds nothing).
    const containers = await d.system.pruneContainers({});
    let reclaimed = Number(containers.reclaimed);
    let out = '';
    if (containers.deleted.length) out += `Deleted Containers:\n${containers.deleted.join('\n')}\n\n`;
    if (flags.volumes) {
      // Docker: only anonymous volumes no container uses (named ones need `volume prune -a`).
      const volumes = await d.volumes.prune({ all: false });
      reclaimed += Number(volumes.reclaimed);
      if (volumes.deleted.length) out += `Deleted Volumes:\n${volumes.deleted.join('\n')}\n\n`;
    }
    const images = await d.images.prune({ all: flags.all });
    reclaimed += Number(images.reclaimed);
    out += deletedImages(images.deleted, images.untagged);
    this.print(`${out}Total reclaimed space: ${humanSize(reclaimed)}`);
  }
}
