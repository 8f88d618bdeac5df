import { Args } from '../oclif.ts';
import { TdockCommand } from '../base.ts';
import { renderTable } from '../render/table.ts';

export default class Top extends TdockCommand {
  static summary = 'Display the running processes of a container.';
  static usage = 'top CONTAINER';
  static args = { container: Args.string({ description: 'container name or id', required: true, ignoreStdin: true }) };

  async run(): Promise<void> {
    const { flags, args } = await this.parse(Top);
    const d = await this.daemon(flags.host);
    const res = await d.containers.top({ id: args.container });
    const rows = [res.titles ?? [], ...(res.processes ?? []).map((p) => p.cols ?? [])];
    this.print(renderTable(rows, 20, 3));
  }
}
