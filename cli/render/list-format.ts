// docker/cli's formatter.Context for list commands (ps, images): "table ..." gets a
// header row (the template run over the column titles) and Go tabwriter columns;
// anything else is one template run per item, each ended by a newline; "json" is
// {{json .}}. Literal "\t" and "\n" in the format are tab and newline (docker's).
import { compileFormat } from '../inspect-util.ts';

export function isTable(format: string): boolean {
  return format.startsWith('table');
}

export function renderList(format: string, items: readonly unknown[], header: Record<string, string>): string {
  const source = format === 'json' ? '{{json .}}' : format;
  const table = isTable(source);
  const body = (table ? source.slice('table'.length) : source).replace(/^ +| +$/g, '').replaceAll('\\t', '\t').replaceAll('\\n', '\n');
  const t = compileFormat(body);
  let out = '';
  for (const item of items) out += `${t.execute(item)}\n`;
  if (!table) return out;
  let head = '';
  try {
    head = t.execute(header, { header: true });
  } catch {
    // docker ignores a header that fails (it prints what it has)
  }
  return tabwrite(`${head}\n${out}`);
}

/**
 * Go's tabwriter as docker sets it (minwidth 10, padding 3, spaces): a cell is text
 * ended by a tab; text after a line's last tab is not aligned.
 */
export function tabwrite(text: string, minWidth = 10, padding = 3): string {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const rows = lines.map((l) => l.split('\t'));
  const widths: number[] = [];
  for (const r of rows) {
    for (let c = 0; c < r.length - 1; c++) widths[c] = Math.max(widths[c] ?? 0, [...r[c]!].length);
  }
  return rows
    .map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell + ' '.repeat(Math.max(widths[c]! + padding, minWidth) - [...cell].length))).join('').trimEnd())
    .join('\n') + (rows.length ? '\n' : '');
}
