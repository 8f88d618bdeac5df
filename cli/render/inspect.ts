// The inspect verbs' output: Docker's JSON array (4-space indent), or one --format line per object.
import { applyFormat } from '../inspect-util.ts';
import { visibleJson } from './escape.ts';

/** A daemon's JSON document; text that is not JSON is shown as it came. */
export function parseDoc(json: string): unknown {
  try {
    return JSON.parse(json);
  } catch {
    return json;
  }
}

export function renderInspect(docs: unknown[], format: string | undefined): string {
  if (format) return docs.map((d) => `${applyFormat(format, d)}\n`).join('');
  return `${visibleJson(JSON.stringify(docs, null, 4))}\n`;
}
