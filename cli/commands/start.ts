import { Args, Flags } from '../oclif.ts';
import { TdockCommand } from '../base.ts';
import { session, terminalSize } from '../attach.ts';
import { UsageError } from '../errors.ts';
import { containerFacts } from '../inspect-util.ts';

export default class Start extends TdockCommand {
  static summary = 'Start one or more stopped containers.';
  static usage = 'start [OPTIONS] CONTAINER [CONTAINER...]';
  static strict = false;
  static flags = {
    attach: Flags.boolean({ char: 'a', summary: 'Attach stdout/stderr and forward signals; exit with the container\'s code.' }),
    interactive: Flags.boolean({ char: 'i', summary: 'Attach the container\'s stdin.' }),
  };
  static args = { container: Args.string({ description: 'container name or id', ignoreStdin: true }) };

  async run(): Promise<void> {
    const { flags, argv } = await this.parse(Start);
    const names = argv as string[];
    if (names.length === 0) throw new UsageError('"start" requires at least 1 argument (see \'tdock start --help\')');
    const d = await this.daemon(flags.host);
    if (flags.attach || flags.interactive) {
      if (names.length > 1) throw new UsageError('you cannot start and attach multiple containers at once');
      const facts = containerFacts((await d.containers.inspect({ id: names[0]! })).json, names[0]!);
      const stdin = Boolean(flags.interactive) && facts.openStdin;
      const result = await session({
        stream: d.containers.attach(),
        start: { id: facts.id, stdin, size: facts.tty ? terminalSize() : null, exec: null },
        stdin,
        tty: facts.tty,
        onAttached: () => d.containers.start({ id: facts.id }),
        sigProxy: (signal) => {
          d.signals.kill({ id: facts.id, signal }).catch(() => {});
        },
      });
      if (result.exit?.error) this.printErr(`Error: ${result.exit.error}`);
      const code = result.exit?.exitCode ?? 0;
      if (code !== 0) this.exit(code);
      return;
    }
    await this.each(names, async (n) => {
      await d.containers.start({ id: n });
      this.print(n);
    });
  }
}
