import { Args, Flags } from '../../oclif.ts';
import { TdockCommand } from '../../base.ts';
import { UsageError } from '../../errors.ts';
import type { Volume } from '../../../proto/api.ts';

/** Docker's volume document. */
export function volumeDocument(v: Volume): Record<string, unknown> {
  const labels = Object.fromEntries(v.labels.map((l) => {
    const eq = l.indexOf('=');
    return eq < 0 ? [l, ''] : [l.slice(0, eq), l.slice(eq + 1)];
  }));
  return {
    CreatedAt: new Date(v.createdAt).toISOString().replace(/\.\d+Z$/, 'Z'),
    Driver: v.driver,
    Labels: v.labels.length ? labels : null,
    Mountpoint: v.mountpoint,
    Name: v.name,
    Options: null,
    Scope: 'local',
  };
}

export default class VolumeInspect extends TdockCommand {
  static summary = 'Display detailed information on one or more volumes.';
  static usage = 'volume inspect [OPTIONS] VOLUME [VOLUME...]';
  static strict = false;
  static flags = {
    format: Flags.string({ char: 'f', summary: 'Format each object with a template: {{.Mountpoint}}.', helpValue: 'TEMPLATE' }),
  };
  static args = { volume: Args.string({ description: 'volume name', ignoreStdin: true }) };

  async run(): Promise<void> {
    const { flags, argv } = await this.parse(VolumeInspect);
    const names = argv as string[];
    if (names.length === 0) throw new UsageError('"volume inspect" requires at least 1 argument');
    const d = await this.daemon(flags.host);
    await this.inspectEach(names, async (n) => volumeDocument(await d.volumes.inspect({ name: n })), flags.format);
  }
}
