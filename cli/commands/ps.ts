import { Flags } from '../oclif.ts';
import { TdockCommand } from '../base.ts';
import { formatPorts } from '../parse/ports.ts';
import { ago, ellipsis, goQuote, shortId } from '../render/format.ts';
import { renderTable } from '../render/table.ts';
import type { ContainerSummary } from '../../proto/api.ts';
import { checkFilterValues, parseFilters, selectContainers } from '../ps-filter.ts';
import { compileFormat } from '../inspect-util.ts';
import { renderList } from '../render/list-format.ts';
import { containerContext, PS_DEFAULT_TABLE, PS_HEADERS, type SizeInfo } from '../render/ps-context.ts';

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
    filter: Flags.string({ char: 'f', summary: 'Filter output based on conditions provided (id, name, label, exited, status, ancestor, before, since, health, volume, network, publish, expose).', helpValue: 'KEY=VALUE', multiple: true, multipleNonGreedy: true }),
    format: Flags.string({ summary: 'Format output using a custom template: "table", "table TEMPLATE", "json", or a Go template.', helpValue: 'TEMPLATE' }),
    last: Flags.integer({ char: 'n', summary: 'Show n last created containers (includes all states).', default: -1 }),
    latest: Flags.boolean({ char: 'l', summary: 'Show the latest created container (includes all states).' }),
    size: Flags.boolean({ char: 's', summary: 'Display total file sizes.' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Ps);
    const filters = parseFilters(flags.filter ?? []);
    checkFilterValues(filters);
    const format = flags.format ?? '';
    // Parse the template before asking the daemon: a broken one is refused first.
    if (format && format !== 'table' && format !== 'json') compileFormat(format.startsWith('table') ? format.slice(5) : format);
    const d = await this.daemon(flags.host);
    const last = flags.latest ? 1 : Math.max(0, flags.last);
    const res = await d.containers.list({ all: true });
    const list = selectContainers(res.containers ?? [], { all: Boolean(flags.all), last, filters });
    const trunc = !flags['no-trunc'];
    // docker: a custom --format wins over -q; "table" with -q is the IDs alone.
    if (flags.quiet && (format === '' || format === 'table')) {
      let out = '';
      for (const c of list) out += `${trunc ? shortId(c.id) : c.id}\n`;
      if (out) this.print(out);
      return;
    }
    const wantSize = Boolean(flags.size) || /\.Size\b/.test(format) || format === 'json' || /json \.\s*}}/.test(format);
    const sizes = wantSize ? await this.sizes(d) : undefined;
    if (format === '' && !flags.size) {
      this.print(renderTable(psRows(list, !trunc)));
      return;
    }
    let source = format === '' || format === 'table' ? PS_DEFAULT_TABLE : format;
    if (flags.size && (format === '' || format === 'table')) source += '\\t{{.Size}}';
    const now = Date.now();
    const out = renderList(source, list.map((c) => containerContext(c, trunc, sizes?.get(c.id), now)), PS_HEADERS);
    if (out) this.print(out);
  }

  /** -s: each container's writable layer (system df's count) and that plus its image's size. */
  private async sizes(d: Awaited<ReturnType<TdockCommand['daemon']>>): Promise<Map<string, SizeInfo>> {
    const u = await d.system.diskUsage({});
    const imageSize = new Map((u.images ?? []).map((i) => [i.image?.id ?? '', i.image?.size ?? 0]));
    const out = new Map<string, SizeInfo>();
    for (const c of u.containers ?? []) {
      if (!c.container) continue;
      const rw = Number(c.size);
      out.set(c.container.id, { rw, virtual: rw + Number(imageSize.get(c.container.imageId) ?? 0) });
    }
    return out;
  }
}
