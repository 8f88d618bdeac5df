import { Flags } from '../../oclif.ts';
import { TdockCommand } from '../../base.ts';
import { ago, ellipsis, goQuote, humanSize, shortId } from '../../render/format.ts';
import { renderTable } from '../../render/table.ts';
import { applyFormat } from '../../inspect-util.ts';
import type { DiskUsageResponse } from '../../../proto/api.ts';

/** docker/cli's units.HumanSize (4 significant digits). */
const size = (n: number | bigint | string): string => humanSize(Number(n), 4);

/** "11.63MB (70%)", Docker's RECLAIMABLE cell. */
function reclaimable(part: number, total: number): string {
  return total > 0 ? `${size(part)} (${Math.floor((part * 100) / total)}%)` : size(part);
}

/** The summary's rows with Docker's --format names (Type, TotalCount, Active, Size, Reclaimable). */
export function dfRows(u: DiskUsageResponse): Record<string, string>[] {
  const imageIds = new Map<string, number>();
  for (const i of u.images) imageIds.set(i.image!.id, i.containers);
  const activeImages = [...imageIds.values()].filter((n) => n > 0).length;
  const layers = Number(u.layersSize);
  const active = (state: string) => state === 'running' || state === 'paused' || state === 'restarting';
  const cSize = u.containers.reduce((s, c) => s + Number(c.size), 0);
  const cFree = u.containers.filter((c) => !active(c.container!.state)).reduce((s, c) => s + Number(c.size), 0);
  const vSize = u.volumes.reduce((s, v) => s + Number(v.size), 0);
  const vFree = u.volumes.filter((v) => v.links === 0).reduce((s, v) => s + Number(v.size), 0);
  const row = ([Type, TotalCount, Active, Size, Reclaimable]: string[]) => ({ Type: Type!, TotalCount: TotalCount!, Active: Active!, Size: Size!, Reclaimable: Reclaimable! });
  return [
    ['Images', String(imageIds.size), String(activeImages), size(layers), reclaimable(Number(u.imagesReclaimable), layers)],
    ['Containers', String(u.containers.length), String(u.containers.filter((c) => active(c.container!.state)).length), size(cSize), reclaimable(cFree, cSize)],
    ['Local Volumes', String(u.volumes.length), String(u.volumes.filter((v) => v.links > 0).length), size(vSize), reclaimable(vFree, vSize)],
    ['Build Cache', '0', '0', size(u.buildCacheSize), size(u.buildCacheSize)],
  ].map(row);
}

/** The summary: TYPE TOTAL ACTIVE SIZE RECLAIMABLE, one row per kind of object. */
export function dfSummary(u: DiskUsageResponse): string {
  return renderTable([['TYPE', 'TOTAL', 'ACTIVE', 'SIZE', 'RECLAIMABLE'], ...dfRows(u).map((r) => [r.Type!, r.TotalCount!, r.Active!, r.Size!, r.Reclaimable!])]);
}

/** `system df -v`: every image, container and volume with its size. */
export function dfVerbose(u: DiskUsageResponse, nowMs: number = Date.now()): string {
  const images = renderTable([
    ['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE', 'SHARED SIZE', 'UNIQUE SIZE', 'CONTAINERS'],
    ...u.images.map((i) => [
      i.image!.repository || '<none>', i.image!.tag || '<none>', shortId(i.image!.id), ago(Number(i.image!.created), nowMs) || 'N/A',
      size(i.image!.size), size(i.sharedSize), size(Number(i.image!.size) - Number(i.sharedSize)), String(i.containers),
    ]),
  ]);
  const containers = renderTable([
    ['CONTAINER ID', 'IMAGE', 'COMMAND', 'LOCAL VOLUMES', 'SIZE', 'CREATED', 'STATUS', 'NAMES'],
    ...u.containers.map(({ container: c, size: s }) => [
      shortId(c!.id), c!.image, goQuote(ellipsis(c!.command, 20)), '0', size(s), ago(Number(c!.created), nowMs), c!.status, c!.name,
    ]),
  ]);
  const volumes = renderTable([['VOLUME NAME', 'LINKS', 'SIZE'], ...u.volumes.map((v) => [v.name, String(v.links), size(v.size)])]);
  return `Images space usage:\n\n${images}\nContainers space usage:\n\n${containers}\nLocal Volumes space usage:\n\n${volumes}\n` +
    `Build cache usage: ${size(u.buildCacheSize)}\n\n${renderTable([['CACHE ID', 'CACHE TYPE', 'SIZE', 'CREATED', 'LAST USED', 'USAGE', 'SHARED']])}`;
}

export default class SystemDf extends TdockCommand {
  static summary = 'Show tdock disk usage.';
  static usage = 'system df [OPTIONS]';
  static flags = {
    verbose: Flags.boolean({ char: 'v', summary: 'Show detailed information on space usage.' }),
    format: Flags.string({ summary: "Format each row with a template: '{{json .}}', '{{.Type}} {{.Size}}'.", helpValue: 'TEMPLATE' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(SystemDf);
    const d = await this.daemon(flags.host);
    const u = await d.system.diskUsage({});
    if (flags.format) this.print(dfRows(u).map((r) => `${applyFormat(flags.format!, r)}\n`).join(''));
    else this.print(flags.verbose ? dfVerbose(u) : dfSummary(u));
  }
}
