import { Flags } from '../oclif.ts';
import { TdockCommand } from '../base.ts';

/** docker-info-like rendering of a JSON document: "Key: value", nested by indent. */
export function renderInfo(doc: unknown, indent = ''): string {
  if (doc === null || typeof doc !== 'object') return `${indent}${String(doc)}\n`;
  let out = '';
  if (Array.isArray(doc)) {
    for (const v of doc) {
      out += v !== null && typeof v === 'object' ? renderInfo(v, indent) : `${indent}${String(v)}\n`;
    }
    return out;
  }
  for (const [k, v] of Object.entries(doc as Record<string, unknown>)) {
    if (v !== null && typeof v === 'object') {
      const empty = Array.isArray(v) ? v.length === 0 : Object.keys(v).length === 0;
      out += empty ? `${indent}${k}:\n` : `${indent}${k}:\n${renderInfo(v, `${indent} `)}`;
    } else {
      out += `${indent}${k}: ${v === '' ? '' : String(v)}\n`;
    }
  }
  return out;
}

export default class Info extends TdockCommand {
  static summary = 'Display system-wide information.';
  static usage = 'info [OPTIONS]';
  static flags = {
    json: Flags.boolean({ summary: 'Print the daemon\'s JSON document.' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Info);
    const d = await this.daemon(flags.host);
    const res = await d.system.info({});
    let doc: unknown;
    try {
      doc = JSON.parse(res.json);
    } catch {
      this.print(res.json);
      return;
    }
    this.print(flags.json ? JSON.stringify(doc, null, 2) : renderInfo(doc));
  }
}
