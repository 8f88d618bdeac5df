import { Flags } from '../../oclif.ts';
import { TdockCommand } from '../../base.ts';
import { renderTable } from '../../render/table.ts';
import type { Volume } from '../../../proto/api.ts';

export function volumeRows(list: readonly Volume[]): string[][] {
  return [['DRIVER', 'VOLUME NAME'], ...list.map((v) => [v.driver, v.name])];
}

export default class VolumeLs extends TdockCommand {
  static summary = 'List volumes.';
  static usage = 'volume ls [OPTIONS]';
  static aliases = ['volume:list'];
  static flags = {
    quiet: Flags.boolean({ char: 'q', summary: 'Only display volume names.' }),
    filter: Flags.string({ char: 'f', summary: 'Filter: name=, label=KEY[=VALUE], dangling=true|false.', helpValue: 'FILTER', multiple: true, multipleNonGreedy: true }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(VolumeLs);
    const d = await this.daemon(flags.host);
    const res = await d.volumes.list({ filters: flags.filter ?? [] });
    const list = res.volumes ?? [];
    if (flags.quiet) {
      if (list.length) this.print(list.map((v) => v.name).join('\n'));
      return;
    }
    this.print(renderTable(volumeRows(list)));
  }
}
