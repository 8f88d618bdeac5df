import { Args, Flags } from '../oclif.ts';
import { CliError } from '../errors.ts';
import { TdockCommand } from '../base.ts';
import { session, terminalSize } from '../attach.ts';
import { containerFacts } from '../inspect-util.ts';

export default class Attach extends TdockCommand {
  static summary = 'Attach local stdin, stdout and stderr to a running container.';
  static description = 'Detach from a tty container with Ctrl-P Ctrl-Q.';
  static usage = 'attach [OPTIONS] CONTAINER';
  static flags = {
    'no-stdin': Flags.boolean({ summary: 'Do not attach stdin.' }),
    'sig-proxy': Flags.boolean({ summary: 'Proxy received signals to the process (non-tty only).', default: true, allowNo: true }),
  };
  static args = { container: Args.string({ description: 'container name or id', required: true, ignoreStdin: true }) };

  async run(): Promise<void> {
    const { flags, args } = await this.parse(Attach);
    const d = await this.daemon(flags.host);
    const facts = containerFacts((await d.containers.inspect({ id: args.container })).json, args.container);
    // The daemon lets a client attach before a (re)start (run, start -a); a plain
    // attach to a stopped container would wait for a start nobody asked for.
    if (!facts.running) throw new CliError(`you cannot attach to a stopped container, start it first`, 1);
    const stdin = !flags['no-stdin'] && facts.openStdin;
    const result = await session({
      stream: d.containers.attach(),
      start: { id: facts.id, stdin, size: facts.tty ? terminalSize() : null, exec: null },
      stdin,
      tty: facts.tty,
      sigProxy: flags['sig-proxy']
        ? (signal) => {
            d.signals.kill({ id: facts.id, signal }).catch(() => {});
          }
        : undefined,
    });
    if (result.exit?.error) this.printErr(`Error: ${result.exit.error}`);
    const code = result.exit?.exitCode ?? 0;
    if (code !== 0) this.exit(code);
  }
}
