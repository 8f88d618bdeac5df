import { TdockCommand } from '../base.ts';
import { renderTable } from '../render/table.ts';

export default class Version extends TdockCommand {
  static summary = 'Show the tdock version information (client and daemon).';
  static usage = 'version';

  async run(): Promise<void> {
    const { flags } = await this.parse(Version);
    const arch = process.arch === 'x64' ? 'amd64' : process.arch;
    const block = (rows: string[][], indent: string) =>
      renderTable(rows.map((r) => [`${indent}${r[0]}:`, r[1]!]), 19, 1);
    let out = `Client:\n${block(
      [
        ['Version', this.config.version],
        ['API version', 'tdock.v1'],
        ['Node version', process.version],
        ['OS/Arch', `${process.platform}/${arch}`],
      ],
      ' ',
    )}`;
    this.print(out);
    const d = await this.daemon(flags.host);
    const v = await d.system.version({});
    out = `\nServer:\n Engine:\n${block(
      [
        ['Version', v.version],
        ['API version', v.apiVersion],
        ['Node version', v.nodeVersion],
        ['OS/Arch', `${v.os}/${v.arch}`],
        ['Kernel Version', v.kernel],
      ],
      '  ',
    )}`;
    this.print(out);
  }
}
