import { Flags } from '../oclif.ts';
import { TdockCommand } from '../base.ts';
import { ago, humanSize, shortId } from '../render/format.ts';
import { renderTable } from '../render/table.ts';
import type { ImageSummary } from '../../proto/api.ts';

export function imageRows(list: readonly ImageSummary[], noTrunc: boolean, nowMs: number = Date.now()): string[][] {
  const rows = [['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE']];
  for (const i of list) {
    rows.push([
      i.repository || '<none>',
      i.tag || '<none>',
      noTrunc ? i.id : shortId(i.id),
      ago(i.created, nowMs) || 'N/A',
      humanSize(i.size),
    ]);
  }
  return rows;
}

export default class Images extends TdockCommand {
  static summary = 'List images.';
  static usage = 'images [OPTIONS]';
  static aliases = ['image:ls', 'image:list'];
  static flags = {
    quiet: Flags.boolean({ char: 'q', summary: 'Only show image IDs.' }),
    'no-trunc': Flags.boolean({ summary: 'Do not truncate output.' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Images);
    const d = await this.daemon(flags.host);
    const res = await d.images.list({});
    const list = [...(res.images ?? [])].sort((a, b) => b.created - a.created);
    if (flags.quiet) {
      const ids = list.map((i) => (flags['no-trunc'] ? i.id : shortId(i.id)));
      if (ids.length) this.print(ids.join('\n'));
      return;
    }
    this.print(renderTable(imageRows(list, Boolean(flags['no-trunc']))));
  }
}
