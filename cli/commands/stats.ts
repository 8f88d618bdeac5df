import { Args, Flags } from '../oclif.ts';
import { io, TdockCommand } from '../base.ts';
import { bytesSize, shortId } from '../render/format.ts';
import { renderTable } from '../render/table.ts';
import type { ContainerStats, StatsFrame } from '../../proto/api.ts';

export function statsTable(stats: readonly ContainerStats[]): string {
  const rows = [['CONTAINER ID', 'NAME', 'CPU %', 'MEM USAGE / LIMIT', 'MEM %', 'PIDS']];
  for (const s of stats) {
    const memPct = s.memoryLimit > 0 ? (s.memoryUsage / s.memoryLimit) * 100 : 0;
    rows.push([
      shortId(s.id),
      s.name,
      `${s.cpuPercent.toFixed(2)}%`,
      `${bytesSize(s.memoryUsage)} / ${s.memoryLimit > 0 ? bytesSize(s.memoryLimit) : '--'}`,
      `${memPct.toFixed(2)}%`,
      String(s.pids),
    ]);
  }
  return renderTable(rows, 20, 3);
}

export default class Stats extends TdockCommand {
  static summary = 'Display a live stream of container resource usage (all running containers by default).';
  static usage = 'stats [OPTIONS] [CONTAINER...]';
  static strict = false;
  static flags = {
    'no-stream': Flags.boolean({ summary: 'Print the first result and exit.' }),
  };
  static args = { container: Args.string({ description: 'container name or id', ignoreStdin: true }) };

  async run(): Promise<void> {
    const { flags, argv } = await this.parse(Stats);
    const d = await this.daemon(flags.host);
    const stream = d.containers.stats({ ids: argv as string[], stream: !flags['no-stream'] });
    const tty = Boolean(io.stdout.isTTY);
    const stop = () => stream.cancel();
    process.once('SIGINT', stop);
    try {
      await new Promise<void>((resolve, reject) => {
        stream.on('data', (f: StatsFrame) => {
          const table = statsTable(f.stats ?? []);
          io.stdout.write(tty && !flags['no-stream'] ? `\x1b[2J\x1b[H${table}` : table);
          if (flags['no-stream']) {
            stream.cancel();
            resolve();
          }
        });
        stream.on('end', resolve);
        stream.on('error', (e: Error & { code?: number }) => (e.code === 1 ? resolve() : reject(e)));
      });
    } finally {
      process.removeListener('SIGINT', stop);
    }
  }
}
