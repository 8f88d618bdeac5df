// Presentation of engine facts for clients: Docker's `top` columns and its `inspect`
// document. The engine gathers the facts; how they are shown lives here.
import { logConfigView, type LogConfig } from '../../proto/log-opt.ts';
import type { ContainerRow } from '../containers/repository.ts';
import type { ProcInfo } from '../runtime/procfs.ts';
import type { IdMaps } from '../runtime/idmap.ts';
import type { HealthState } from '../health/schedule.ts';
import { configVolumes, hostConfigMounts, mountsView } from './mounts-view.ts';

export interface ProcessesView { rows: ProcInfo[]; idMaps: IdMaps }

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

export function topTable(v: ProcessesView): { titles: string[]; processes: { cols: string[] }[] } {
  const shift = v.idMaps.uid.start;
  return {
    titles: ['PID', 'CONTAINER PID', 'PPID', 'USER', 'STAT', 'TIME', 'COMMAND'],
    processes: v.rows.map((p) => {
      const secs = Math.floor(p.cpuTicks / TICKS_PER_SECOND);
      // Container uids as the container sees them; a host uid outside the range stays as it is.
      const uid = p.uid >= shift && p.uid < shift + v.idMaps.uid.size ? p.uid - shift : p.uid;
      return {
        cols: [String(p.pid), String(p.nsPid), String(p.ppid), uid === 0 ? 'root' : String(uid), p.state,
          `${String(Math.floor(secs / 60)).padStart(2, '0')}:${String(secs % 60).padStart(2, '0')}`, p.cmd],
      };
    }),
  };
}

export interface InspectView {
  c: ContainerRow;
  logPath: string;
  log: LogConfig;
  lowerDirs: string[];
  upperDir: string;
  workDir: string;
  mergedDir: string;
  networkSettings: Record<string, unknown> | undefined;
  namespaces: Record<string, { Path: string; Id: string }>;
  idMaps: IdMaps;
  cgroupPaths: string[];
  /** State.Health; undefined without a healthcheck */
  health?: HealthState | undefined;
}

/** Docker's State.Health document. */
export function healthDocument(h: HealthState): Record<string, unknown> {
  return {
    Status: h.status,
    FailingStreak: h.failingStreak,
    Log: h.log.map((r) => ({ Start: new Date(r.start).toISOString(), End: new Date(r.end).toISOString(), ExitCode: r.exitCode, Output: r.output })),
  };
}

export function inspectDocument(v: InspectView): Record<string, unknown> {
  const c = v.c;
  const iso = (ms: number) => (ms ? new Date(ms).toISOString() : '0001-01-01T00:00:00Z');
  return {
    Id: c.id,
    Created: iso(c.created),
    Path: c.spec.args[0],
    Args: c.spec.args.slice(1),
    State: {
      Status: c.state,
      // Docker's: one waiting to restart is still "running".
      Running: c.state === 'running' || c.state === 'restarting',
      Paused: c.state === 'paused',
      Restarting: c.state === 'restarting',
      OOMKilled: c.oomKilled,
      Dead: c.state === 'dead',
      Pid: c.pid,
      ExitCode: c.exitCode,
      Error: c.error,
      StartedAt: iso(c.started),
      FinishedAt: iso(c.finished),
      ...(v.health ? { Health: healthDocument(v.health) } : {}),
    },
    Image: c.imageId,
    Name: `/${c.name}`,
    LogPath: v.logPath,
    RestartCount: c.restartCount,
    Config: {
      Hostname: c.spec.hostname,
      User: c.spec.user,
      Tty: c.spec.tty,
      OpenStdin: c.spec.openStdin,
      Env: c.spec.env,
      Cmd: c.spec.cmd,
      Entrypoint: c.spec.entrypoint.length ? c.spec.entrypoint : null,
      WorkingDir: c.spec.cwd,
      Image: c.imageRef,
      StopSignal: c.spec.stopSignal,
      Labels: c.spec.labels ?? {},
      ...(c.spec.stopTimeout !== undefined ? { StopTimeout: c.spec.stopTimeout } : {}),
      ...(c.spec.healthcheck ? { Healthcheck: c.spec.healthcheck } : {}),
      Volumes: configVolumes(c.spec),
    },
    HostConfig: {
      AutoRemove: c.spec.autoRemove,
      RestartPolicy: { Name: c.spec.restartPolicy?.name ?? 'no', MaximumRetryCount: c.spec.restartPolicy?.maximumRetryCount ?? 0 },
      NetworkMode: c.spec.network,
      Memory: c.spec.resources.memory ?? 0,
      MemorySwap: c.spec.resources.memorySwap ?? 0,
      PidsLimit: c.spec.resources.pidsLimit ?? 0,
      NanoCpus: Math.round((c.spec.resources.cpus ?? 0) * 1e9),
      Dns: c.spec.dns,
      // Docker's: as given, null when none.
      SecurityOpt: c.spec.securityOpt?.length ? c.spec.securityOpt : null,
      CgroupParent: v.cgroupPaths[0] ?? '',
      LogConfig: logConfigView(v.log),
      ...hostConfigMounts(c.spec),
    },
    Mounts: mountsView(c.spec),
    GraphDriver: {
      Name: 'overlay',
      Data: { LowerDir: v.lowerDirs.join(':'), UpperDir: v.upperDir, WorkDir: v.workDir, MergedDir: v.mergedDir },
    },
    NetworkSettings: v.networkSettings ?? { Ports: {}, IPAddress: '', Gateway: '', MacAddress: '' },
    // Not in Docker's output: where the container's namespaces are and how ids map.
    Namespaces: v.namespaces,
    IdMappings: {
      UidMap: [{ ContainerID: 0, HostID: v.idMaps.uid.start, Size: v.idMaps.uid.size }],
      GidMap: [{ ContainerID: 0, HostID: v.idMaps.gid.start, Size: v.idMaps.gid.size }],
    },
    CgroupPaths: v.cgroupPaths,
  };
}
