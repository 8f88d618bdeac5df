// Reading processes from /proc on the host: start times (to tell a reused pid from
// the process we meant), the pid inside the container, user, command line.
import { readFileSync, readlinkSync } from 'node:fs';

/** Field 22 of /proc/PID/stat (clock ticks since boot); undefined when gone. */
export function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm (field 2) may hold spaces and parentheses: split after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** The pid namespace of a process (`pid:[inode]`); undefined when gone. */
export function pidNamespace(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/pid`);
  } catch {
    return undefined;
  }
}

export interface ProcInfo {
  pid: number;
  nsPid: number;
  ppid: number;
  uid: number;
  state: string;
  cpuTicks: number;
  cmd: string;
}

export function procInfo(pid: number): ProcInfo | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string) => status.match(new RegExp(`^${name}:\\s+(.*)$`, 'm'))?.[1] ?? '';
    const nspids = field('NSpid').split(/\s+/).map(Number);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
    return {
      pid,
      nsPid: nspids[nspids.length - 1] ?? pid,
      ppid: Number(field('PPid')),
      uid: Number(field('Uid').split(/\s+/)[0]),
      state: rest[0] ?? '?',
      cpuTicks: Number(rest[11] ?? 0) + Number(rest[12] ?? 0),
      cmd: cmdline || `[${field('Name')}]`,
    };
  } catch {
    return undefined;
  }
}

/** Where a process's namespaces are and which they are (`net:[inode]`); those gone meanwhile are left out. */
export function namespaceLinks(pid: number, kinds: readonly string[]): Record<string, { Path: string; Id: string }> {
  const out: Record<string, { Path: string; Id: string }> = {};
  for (const ns of kinds) {
    const path = `/proc/${pid}/ns/${ns}`;
    try {
      out[ns] = { Path: path, Id: readlinkSync(path) };
    } catch {
      /* gone meanwhile */
    }
  }
  return out;
}
