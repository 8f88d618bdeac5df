import { Args, Flags } from '../oclif.ts';
import { TdockCommand } from '../base.ts';
import { Code, UsageError } from '../errors.ts';
import { parseDoc } from '../render/inspect.ts';
import type { InspectResponse } from '../../proto/api.ts';

export default class Inspect extends TdockCommand {
  static summary = 'Return low-level information on containers (or images) as a JSON array.';
  static usage = 'inspect [OPTIONS] NAME|ID [NAME|ID...]';
  static strict = false;
  static flags = {
    format: Flags.string({ char: 'f', summary: 'Format each object with a template: {{.State.Status}}, {{json .Config}}.', helpValue: 'TEMPLATE' }),
    type: Flags.string({ summary: 'Only look for this type of object.', options: ['container', 'image'] }),
  };
  static args = { name: Args.string({ description: 'container (or image) name or id', ignoreStdin: true }) };

  async run(): Promise<void> {
    const { flags, argv } = await this.parse(Inspect);
    const names = argv as string[];
    if (names.length === 0) throw new UsageError('"inspect" requires at least 1 argument (see \'tdock inspect --help\')');
    const d = await this.daemon(flags.host);
    await this.inspectEach(names, async (n) => {
      let res: InspectResponse;
      if (flags.type === 'image') res = await d.images.inspect({ ref: n });
      else {
        try {
          res = await d.containers.inspect({ id: n });
        } catch (e) {
          // like docker: a name that is no container may be an image
          if (flags.type === 'container' || (e as { code?: number }).code !== Code.NOT_FOUND) throw e;
          try {
            res = await d.images.inspect({ ref: n });
          } catch {
            throw e;
          }
        }
      }
      return parseDoc(res.json);
    }, flags.format);
  }
}
