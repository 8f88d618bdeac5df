// docker/cli's ContainerContext: what `ps --format` templates see. A Go struct, so
// an unknown field is an error ("can't evaluate field X in type
// *formatter.ContainerContext"), and {{json .}} is every field but Label, keys sorted.
import { formatPorts } from '../parse/ports.ts';
import { ago, ellipsis, goQuote, humanSize, shortId } from './format.ts';
import { GO_TYPE } from './template.ts';
import type { ContainerSummary } from '../../proto/api.ts';

export const PS_HEADERS: Record<string, string> = {
  ID: 'CONTAINER ID', Names: 'NAMES', Image: 'IMAGE', Command: 'COMMAND', CreatedAt: 'CREATED AT',
  RunningFor: 'CREATED', Ports: 'PORTS', State: 'STATE', Status: 'STATUS', Size: 'SIZE', Labels: 'LABELS',
  Label: 'LABEL', Mounts: 'MOUNTS', Networks: 'NETWORKS', LocalVolumes: 'LOCAL VOLUMES',
};

export const PS_DEFAULT_TABLE = 'table {{.ID}}\\t{{.Image}}\\t{{.Command}}\\t{{.RunningFor}}\\t{{.Status}}\\t{{.Ports}}\\t{{.Names}}';

/** Go's time.Time.String() in local time: "2024-01-02 03:04:05 +0000 UTC". */
export function goTime(unixSeconds: number): string {
  const d = new Date(unixSeconds * 1000);
  const p = (n: number) => String(n).padStart(2, '0');
  const off = -d.getTimezoneOffset();
  const sign = off < 0 ? '-' : '+';
  const zone = `${sign}${p(Math.floor(Math.abs(off) / 60))}${p(Math.abs(off) % 60)}`;
  const name = off === 0 ? 'UTC' : (new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' }).formatToParts(d).find((x) => x.type === 'timeZoneName')?.value ?? zone);
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())} ${zone} ${name}`;
}

export interface SizeInfo {
  rw: number;
  /** the image's size plus rw */
  virtual: number;
}

/** docker's Size column: "0B (virtual 1.98MB)"; without -s "0B". */
export function sizeText(s: SizeInfo | undefined): string {
  if (!s) return '0B';
  const rw = humanSize(s.rw);
  return s.virtual > 0 ? `${rw} (virtual ${humanSize(s.virtual)})` : rw;
}

export function containerContext(c: ContainerSummary, trunc: boolean, size?: SizeInfo, nowMs: number = Date.now()): Record<string, unknown> {
  const labels = new Map((c.labels ?? []).map((kv) => {
    const eq = kv.indexOf('=');
    return [eq < 0 ? kv : kv.slice(0, eq), eq < 0 ? '' : kv.slice(eq + 1)] as const;
  }));
  const mounts = c.mounts ?? [];
  const fields: Record<string, unknown> = {
    Command: goQuote(trunc ? ellipsis(c.command, 20) : c.command),
    CreatedAt: goTime(c.created),
    ID: trunc ? shortId(c.id) : c.id,
    Image: c.image,
    Labels: [...labels].map(([k, v]) => `${k}=${v}`).join(','),
    LocalVolumes: String(mounts.filter((m) => !m.startsWith('/')).length),
    Mounts: mounts.map((m) => (trunc ? ellipsis(m, 15) : m)).join(','),
    Names: c.name,
    Networks: (c.networks ?? []).join(','),
    Ports: formatPorts(c.ports ?? []),
    RunningFor: ago(c.created, nowMs),
    Size: sizeText(size),
    State: c.state,
    Status: c.status,
  };
  // A method, not a field: {{.Label "com.example"}}; json leaves it out (as docker's marshalMap).
  Object.defineProperty(fields, 'Label', { value: (k: unknown) => labels.get(String(k)) ?? '', enumerable: false });
  Object.defineProperty(fields, GO_TYPE, { value: '*formatter.ContainerContext', enumerable: false });
  return fields;
}
