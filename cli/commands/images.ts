import { Args, Flags } from '../oclif.ts';
import { TdockCommand } from '../base.ts';
import { ago, humanSize, shortId } from '../render/format.ts';
import { renderTable } from '../render/table.ts';
import type { ImageSummary } from '../../proto/api.ts';
import { parseImageFilters, selectImages } from '../image-filter.ts';
import { compileFormat } from '../inspect-util.ts';
import { renderList } from '../render/list-format.ts';
import { IMAGE_HEADERS, IMAGE_TABLE, IMAGE_TABLE_DIGESTS, imageContext } from '../render/image-context.ts';

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
  static usage = 'images [OPTIONS] [REPOSITORY[:TAG]]';
  static aliases = ['image:ls', 'image:list'];
  static args = { reference: Args.string({ required: false, description: 'Show only images matching REPOSITORY[:TAG] (a pattern, as --filter reference=).' }) };
  static flags = {
    all: Flags.boolean({ char: 'a', summary: 'Show all images (tdock keeps no intermediate images: the same as without).' }),
    quiet: Flags.boolean({ char: 'q', summary: 'Only show image IDs.' }),
    'no-trunc': Flags.boolean({ summary: 'Do not truncate output.' }),
    digests: Flags.boolean({ summary: 'Show digests.' }),
    filter: Flags.string({ char: 'f', summary: 'Filter output based on conditions provided (dangling, reference, before, since, label).', helpValue: 'KEY=VALUE', multiple: true, multipleNonGreedy: true }),
    format: Flags.string({ summary: 'Format output using a custom template: "table", "table TEMPLATE", "json", or a Go template.', helpValue: 'TEMPLATE' }),
  };

  async run(): Promise<void> {
    const { flags, args } = await this.parse(Images);
    const filters = parseImageFilters([...(flags.filter ?? []), ...(args.reference ? [`reference=${args.reference}`] : [])]);
    const format = flags.format ?? '';
    if (format && format !== 'table' && format !== 'json') compileFormat(format.startsWith('table') ? format.slice(5) : format);
    const d = await this.daemon(flags.host);
    const res = await d.images.list({});
    const list = selectImages([...(res.images ?? [])].sort((a, b) => b.created - a.created), filters);
    const trunc = !flags['no-trunc'];
    if (flags.quiet && (format === '' || format === 'table')) {
      const ids = list.map((i) => (trunc ? shortId(i.id) : i.id));
      if (ids.length) this.print(`${ids.join('\n')}\n`);
      return;
    }
    if (format === '' && !flags.digests) {
      this.print(renderTable(imageRows(list, !trunc)));
      return;
    }
    const source = format === '' || format === 'table' ? (flags.digests ? IMAGE_TABLE_DIGESTS : IMAGE_TABLE) : format;
    const now = Date.now();
    const out = renderList(source, list.map((i) => imageContext(i, trunc, now)), IMAGE_HEADERS);
    if (out) this.print(out);
  }
}
