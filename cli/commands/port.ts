import { Args } from '../oclif.ts';
import { TdockCommand } from '../base.ts';
import { CliError, UsageError } from '../errors.ts';
import type { PortMapping } from '../../lib/ports.ts';

export function portLines(ports: readonly PortMapping[], filter?: string): string[] {
  let want: { port: number; proto?: string } | undefined;
  if (filter) {
    const m = /^(\d+)(?:\/(tcp|udp))?$/.exec(filter);
    if (!m) throw new UsageError(`invalid port "${filter}": expected PRIVATE_PORT[/PROTO]`);
    want = { port: Number(m[1]), proto: m[2] };
  }
  const out: string[] = [];
  for (const p of ports) {
    if (!p.hostPort) continue;
    const proto = p.protocol || 'tcp';
    if (want && (p.containerPort !== want.port || (want.proto && want.proto !== proto))) continue;
    let ip = p.hostIp || '0.0.0.0';
    if (ip.includes(':')) ip = `[${ip}]`;
    out.push(want ? `${ip}:${p.hostPort}` : `${p.containerPort}/${proto} -> ${ip}:${p.hostPort}`);
  }
  return out;
}

export default class Port extends TdockCommand {
  static summary = 'List the port mappings of a container, or look up one.';
  static usage = 'port CONTAINER [PRIVATE_PORT[/PROTO]]';
  static args = {
    container: Args.string({ description: 'container name or id', required: true, ignoreStdin: true }),
    port: Args.string({ description: 'PRIVATE_PORT[/PROTO]', ignoreStdin: true }),
  };

  async run(): Promise<void> {
    const { flags, args } = await this.parse(Port);
    const d = await this.daemon(flags.host);
    const res = await d.containers.port({ id: args.container });
    const lines = portLines(res.ports ?? [], args.port);
    if (args.port && lines.length === 0) throw new CliError(`No public port '${args.port}' published for ${args.container}`);
    if (lines.length > 0) this.print(lines.join('\n'));
  }
}
