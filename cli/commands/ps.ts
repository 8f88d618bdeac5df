import { Flags } from '../oclif.ts';
import { TdockCommand } from '../base.ts';
import { formatPorts } from '../parse/ports.ts';
import { ago, ellipsis, goQuote, shortId } from '../render/format.ts';
import { renderTable } from '../render/table.ts';
import type { ContainerSummary } from '../../proto/api.ts';

export function psRows(list: readonly ContainerSummary[], noTrunc: boolean, nowMs: number = Date.now()): string[][] {
  const rows = [['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'PORTS', 'NAMES']];
  for (const c of list) {
    rows.push([
      noTrunc ? c.id : shortId(c.id),
      c.image,
      goQuote(noTrunc ? c.command : ellipsis(c.command, 20)),
      ago(c.created, nowMs),
      c.status,
      formatPorts(c.ports ?? []),
      c.name,
    ]);
  }
  return rows;
}

export default class Ps extends TdockCommand {
  static summary = 'List containers.';
  static usage = 'ps [OPTIONS]';
  static aliases = ['container:ls', 'container:list'];
  static flags = {
    all: Flags.boolean({ char: 'a', summary: 'Show all containers (default shows just running).' }),
    quiet: Flags.boolean({ char: 'q', summary: 'Only display container IDs.' }),
    'no-trunc': Flags.boolean({ summary: 'Do not truncate output.' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Ps);
    const d = await this.daemon(flags.host);
    const res = await d.containers.list({ all: Boolean(flags.all) });
    const list = [...(res.containers ?? [])].sort((a, b) => b.created - a.created);
    if (flags.quiet) {
      let out = '';
      for (const c of list) out += `${flags['no-trunc'] ? c.id : shortId(c.id)}\n`;
      if (out) this.print(out);
      return;
    }
    this.print(renderTable(psRows(list, Boolean(flags['no-trunc']))));
  }
}
