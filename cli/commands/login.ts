import { Args, Flags } from '../oclif.ts';
import { io, TdockCommand } from '../base.ts';
import { UsageError } from '../errors.ts';

/** Reads all of stdin (for --password-stdin), without the trailing newline. */
async function readAll(input: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of input as AsyncIterable<Buffer | string>) text += chunk.toString();
  return text.replace(/\r?\n$/, '');
}

export default class Login extends TdockCommand {
  static summary = 'Log in to a registry (credentials are kept by the daemon, mode 0600).';
  static usage = 'login [OPTIONS] [SERVER]';
  static flags = {
    username: Flags.string({ char: 'u', summary: 'Username.' }),
    password: Flags.string({ char: 'p', summary: 'Password (prefer --password-stdin).' }),
    'password-stdin': Flags.boolean({ summary: 'Take the password from stdin.' }),
  };
  static args = { server: Args.string({ description: 'registry (default docker.io)', ignoreStdin: true }) };

  async run(): Promise<void> {
    const { flags, args } = await this.parse(Login);
    if (!flags.username) throw new UsageError('login needs -u/--username (and --password-stdin or -p)');
    if (flags.password !== undefined && flags['password-stdin']) throw new UsageError('--password and --password-stdin are mutually exclusive');
    const password = flags['password-stdin'] ? await readAll(io.stdin) : flags.password;
    if (!password) throw new UsageError('login needs a password: pipe it to --password-stdin or give -p');
    const d = await this.daemon(flags.host);
    const res = await d.images.login({ server: args.server ?? '', username: flags.username, password });
    this.print(res.status);
  }
}
