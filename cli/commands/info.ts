import { Flags } from '../oclif.ts';
import { TdockCommand } from '../base.ts';
import { applyFormat } from '../inspect-util.ts';
import { bytesSize } from '../render/format.ts';
import { visible } from '../render/escape.ts';

type Doc = Record<string, unknown>;

const str = (v: unknown): string => (v === undefined || v === null ? '' : visible(String(v)));
const obj = (v: unknown): Doc => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Doc) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** What docker info prints about the client. */
export function clientInfo(version: string): Doc {
  return { Version: version, Context: 'default', Debug: false };
}

export function renderClient(c: Doc): string {
  return `Client:\n Version:    ${str(c.Version)}\n Context:    ${str(c.Context)}\n Debug Mode: ${str(c.Debug)}\n`;
}

/** The "Server:" section in docker info's order and wording (docker/cli prettyPrintServerInfo). */
export function renderServer(i: Doc): string {
  const lines: string[] = [];
  const line = (indent: number, text: string) => lines.push(`${' '.repeat(indent)}${text}`);
  const kv = (indent: number, key: string, v: unknown) => line(indent, `${key}: ${str(v)}`);
  kv(1, 'Containers', i.Containers);
  kv(2, 'Running', i.ContainersRunning);
  kv(2, 'Paused', i.ContainersPaused);
  kv(2, 'Stopped', i.ContainersStopped);
  kv(1, 'Images', i.Images);
  kv(1, 'Server Version', i.ServerVersion);
  kv(1, 'Storage Driver', i.Driver);
  for (const pair of arr(i.DriverStatus)) kv(2, str(arr(pair)[0]), arr(pair)[1]);
  kv(1, 'Logging Driver', i.LoggingDriver);
  const logOpts = obj(obj(i.LogConfig).Config);
  if (Object.keys(logOpts).length) {
    line(1, 'Log Options:');
    for (const [k, v] of Object.entries(logOpts)) kv(2, k, v);
  }
  kv(1, 'Cgroup Driver', i.CgroupDriver);
  kv(1, 'Cgroup Version', i.CgroupVersion);
  if (i.CgroupParent) kv(1, 'Cgroup Parent', i.CgroupParent);
  const fw = obj(i.FirewallBackend);
  kv(1, 'Firewall Backend', fw.Driver);
  for (const pair of arr(fw.Info)) kv(2, str(arr(pair)[0]), arr(pair)[1]);
  const net = obj(i.Network);
  line(1, 'Network:');
  if (net.Bridge !== undefined) {
    kv(2, 'Bridge', net.Bridge);
    kv(2, 'Subnet', net.Subnet);
    kv(2, 'Gateway', net.Gateway);
  } else {
    kv(2, 'Mode', net.Mode);
  }
  kv(1, 'Runtimes', Object.keys(obj(i.Runtimes)).join(' '));
  kv(1, 'Default Runtime', i.DefaultRuntime);
  kv(1, 'Init Binary', i.InitBinary);
  line(1, 'Security Options:');
  for (const opt of arr(i.SecurityOptions)) {
    // "name=seccomp,profile=default" -> "seccomp" then " Profile: default"
    const fields = str(opt).split(',').map((f) => f.split('='));
    line(2, fields.find(([k]) => k === 'name')?.[1] ?? str(opt));
    for (const [k, v] of fields) if (k !== 'name') kv(3, `${k![0]!.toUpperCase()}${k!.slice(1)}`, v);
  }
  kv(1, 'Rootless', i.Rootless === true ? 'yes' : 'no');
  if (i.RootlessNetwork !== undefined) kv(2, 'Network', i.RootlessNetwork);
  if (i.LimitsEnforced !== undefined) kv(1, 'Resource Limits', i.LimitsEnforced === false ? 'not enforced (no delegated cgroup)' : 'enforced');
  const ids = obj(i.IDMappings);
  line(1, 'ID Mappings:');
  for (const k of ['Uid', 'Gid']) {
    const r = obj(ids[k]);
    kv(2, k, `${str(r.Start)}-${Number(r.Start) + Number(r.Size) - 1} (${str(r.Size)})`);
  }
  kv(1, 'Kernel Version', i.KernelVersion);
  kv(1, 'Operating System', i.OperatingSystem);
  kv(1, 'OSType', i.OSType);
  kv(1, 'Architecture', i.Architecture);
  kv(1, 'CPUs', i.NCPU);
  kv(1, 'Total Memory', bytesSize(Number(i.MemTotal)));
  kv(1, 'Name', i.Name);
  kv(1, 'ID', i.ID);
  kv(1, 'Docker Root Dir', i.DockerRootDir);
  kv(1, 'Exec Root', i.ExecRoot);
  kv(1, 'Node Version', i.NodeVersion);
  const reg = obj(i.RegistryConfig);
  const insecure = [
    ...Object.values(obj(reg.IndexConfigs)).filter((c) => obj(c).Secure === false).map((c) => str(obj(c).Name)),
    ...arr(reg.InsecureRegistryCIDRs).map(str),
  ];
  kv(1, 'Registry', i.IndexServerAddress);
  if (insecure.length) {
    line(1, 'Insecure Registries:');
    for (const r of insecure) line(2, r);
  }
  kv(1, 'Live Restore Enabled', i.LiveRestoreEnabled);
  let out = `Server:\n${lines.join('\n')}\n`;
  // Docker prints the warnings on stderr after the document; here they follow it.
  for (const w of arr(i.Warnings)) out += `${str(w)}\n`;
  return out;
}

export default class Info extends TdockCommand {
  static summary = 'Display system-wide information.';
  static usage = 'info [OPTIONS]';
  static flags = {
    format: Flags.string({ char: 'f', summary: "Format the output with a template: '{{json .}}', '{{.ServerVersion}}'.", helpValue: 'TEMPLATE' }),
    json: Flags.boolean({ hidden: true, summary: "The daemon's document as JSON (as --format '{{json .}}', indented)." }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Info);
    const client = clientInfo(this.config.version);
    if (!flags.format && !flags.json) this.print(renderClient(client));
    const d = await this.daemon(flags.host);
    const res = await d.system.info({});
    const doc = { ...(JSON.parse(res.json) as Doc), ClientInfo: client };
    if (flags.json) this.print(JSON.stringify(doc, null, 2));
    else if (flags.format) this.print(applyFormat(flags.format, doc));
    else this.print(`\n${renderServer(doc)}`);
  }
}
