// Column output like Docker's (Go tabwriter: minwidth 10, padding 3, spaces):
// each column but the last is as wide as its widest cell plus 3, at least 10.
// Cells are shown with control characters escaped: they often hold what a container
// chose (top's COMMAND, ps's COMMAND and NAMES).
import { visible } from './escape.ts';

function width(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

export function renderTable(raw: readonly (readonly string[])[], minWidth = 10, padding = 3): string {
  if (raw.length === 0) return '';
  const rows = raw.map((r) => r.map(visible));
  const cols = Math.max(...rows.map((r) => r.length));
  const widths: number[] = [];
  for (let c = 0; c < cols - 1; c++) {
    let w = 0;
    for (const r of rows) w = Math.max(w, width(r[c] ?? ''));
    widths.push(Math.max(w + padding, minWidth));
  }
  let out = '';
  for (const r of rows) {
    let line = '';
    for (let c = 0; c < r.length; c++) {
      const cell = r[c] ?? '';
      if (c === r.length - 1) line += cell;
      else line += cell + ' '.repeat(widths[c]! - width(cell));
    }
    out += `${line.trimEnd()}\n`;
  }
  return out;
}
