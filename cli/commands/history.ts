import { Args, Flags } from '../oclif.ts';
import { TdockCommand } from '../base.ts';
import { UsageError } from '../errors.ts';
import { ago, ellipsis, humanSize, shortId } from '../render/format.ts';
import { renderTable } from '../render/table.ts';
import { visible } from '../render/escape.ts';
import type { HistoryResponse_Entry } from '../../proto/api.ts';

const HEADERS: Record<string, string> = {
  ID: 'IMAGE', CreatedSince: 'CREATED', CreatedAt: 'CREATED AT', CreatedBy: 'CREATED BY', Size: 'SIZE', Comment: 'COMMENT',
};

/** The fields `docker history --format` knows, rendered as the table does. */
export function historyFields(e: HistoryResponse_Entry, noTrunc: boolean, nowMs = Date.now()): Record<string, string> {
  const createdBy = visible(e.createdBy.replace(/\t/g, ' '));
  return {
    ID: e.id === '<missing>' || noTrunc ? e.id : shortId(e.id),
    CreatedSince: ago(Math.floor(e.created / 1000), nowMs),
    CreatedAt: new Date(e.created).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    CreatedBy: noTrunc ? createdBy : ellipsis(createdBy, 45),
    Size: humanSize(e.size),
    Comment: visible(e.comment),
  };
}

/** A Go-template subset: `{{.Field}}` (and a leading `table` for headers), Docker's field names. */
export function renderFormat(format: string, rows: Record<string, string>[]): string {
  const table = format.startsWith('table');
  const tpl = (table ? format.slice(5).trimStart() : format).replace(/\\t/g, '\t').replace(/\\n/g, '\n');
  const fill = (vals: Record<string, string>) =>
    tpl.replace(/\{\{\s*\.(\w+)\s*\}\}/g, (_m, f: string) => {
      if (!(f in vals)) throw new UsageError(`template: can't evaluate field ${f} (known: ${Object.keys(HEADERS).join(', ')})`);
      return vals[f]!;
    });
  if (/\{\{(?!\s*\.\w+\s*\}\})/.test(tpl)) throw new UsageError(`unsupported template "${format}": only {{.Field}} is supported`);
  const lines = rows.map(fill);
  if (!table) return lines.join('\n');
  const cells = [fill(HEADERS).split('\t'), ...lines.map((l) => l.split('\t'))];
  return renderTable(cells);
}

export default class History extends TdockCommand {
  static summary = 'Show the history of an image.';
  static usage = 'history [OPTIONS] IMAGE';
  static aliases = ['image:history'];
  static flags = {
    'no-trunc': Flags.boolean({ summary: "Don't truncate output." }),
    quiet: Flags.boolean({ char: 'q', summary: 'Only show image IDs.' }),
    format: Flags.string({ summary: 'Format output using a Go template subset ({{.ID}}, {{.CreatedSince}}, {{.CreatedAt}}, {{.CreatedBy}}, {{.Size}}, {{.Comment}}).', helpValue: 'string' }),
    human: Flags.boolean({ summary: 'Print sizes and dates in human readable format (-H is the daemon host in tdock).', default: true, allowNo: true }),
  };
  static args = { image: Args.string({ description: 'image reference or id', required: true, ignoreStdin: true }) };

  async run(): Promise<void> {
    const { flags, args } = await this.parse(History);
    const d = await this.daemon(flags.host);
    const res = await d.commits.history({ ref: args.image });
    const noTrunc = Boolean(flags['no-trunc']);
    const rows = (res.entries ?? []).map((e) => {
      const f = historyFields(e, noTrunc);
      if (!flags.human) {
        f.CreatedSince = f.CreatedAt;
        f.Size = String(e.size);
      }
      return f;
    });
    if (flags.quiet) {
      if (rows.length) this.print(rows.map((r) => r.ID).join('\n'));
      return;
    }
    const format = flags.format ?? 'table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}';
    const out = renderFormat(format, rows);
    if (out) this.print(out);
  }
}
