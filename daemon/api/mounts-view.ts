// A container's mounts in `inspect`'s shapes (Docker's): Mounts (what is mounted where),
// HostConfig.Binds / Mounts / Tmpfs / ReadonlyRootfs (what was asked, by flag) and
// Config.Volumes (the anonymous volumes' paths).
import type { ContainerSpec } from '../containers/spec.ts';
import type { MountPoint } from '../containers/mounts.ts';

/**
 * `Mounts`: [{Type, Name, Source, Destination, Driver, Mode, RW, Propagation}]; Name and
 * Driver only for volumes. --tmpfs mounts are not there (Docker keeps them in
 * HostConfig.Tmpfs only); --mount type=tmpfs ones are.
 */
export function mountsView(spec: ContainerSpec): Record<string, unknown>[] {
  return (spec.mounts ?? []).filter((m) => m.origin !== 'tmpfs').map((m) => ({
    Type: m.type,
    ...(m.type === 'volume' ? { Name: m.name } : {}),
    Source: m.source,
    Destination: m.destination,
    ...(m.type === 'volume' ? { Driver: 'local' } : {}),
    Mode: m.mode,
    RW: m.rw,
    Propagation: m.type === 'bind' ? 'rprivate' : '',
  }));
}

/** --tmpfs's options as given: "size=64m,mode=1777". */
function tmpfsText(m: MountPoint): string {
  const colon = m.spec.indexOf(':');
  return colon < 0 ? '' : m.spec.slice(colon + 1);
}

/** HostConfig's mount fields; Docker's null for an empty Binds and Tmpfs, no Mounts key without --mount. */
export function hostConfigMounts(spec: ContainerSpec): Record<string, unknown> {
  const all = spec.mounts ?? [];
  const binds = all.filter((m) => m.origin === 'volume' && !m.anonymous).map((m) => m.spec);
  const mounts = all.filter((m) => m.origin === 'mount').map((m) => ({
    Type: m.type,
    ...(m.type !== 'tmpfs' && !m.anonymous ? { Source: m.type === 'volume' ? m.name : m.source } : {}),
    Target: m.destination,
    ...(m.rw ? {} : { ReadOnly: true }),
    ...(m.type === 'volume' && m.noCopy ? { VolumeOptions: { NoCopy: true } } : {}),
    ...(m.type === 'tmpfs' && (m.tmpfsSize || m.tmpfsMode)
      ? { TmpfsOptions: { ...(m.tmpfsSize ? { SizeBytes: m.tmpfsSize } : {}), ...(m.tmpfsMode ? { Mode: m.tmpfsMode } : {}) } }
      : {}),
  }));
  const tmpfs = all.filter((m) => m.origin === 'tmpfs');
  return {
    Binds: binds.length ? binds : null,
    ...(mounts.length ? { Mounts: mounts } : {}),
    Tmpfs: tmpfs.length ? Object.fromEntries(tmpfs.map((m) => [m.destination, tmpfsText(m)])) : null,
    ReadonlyRootfs: spec.readonlyRootfs === true,
  };
}

/** Config.Volumes: the container paths of -v's anonymous volumes, null when none. */
export function configVolumes(spec: ContainerSpec): Record<string, Record<string, never>> | null {
  const anon = (spec.mounts ?? []).filter((m) => m.origin === 'volume' && m.anonymous);
  return anon.length ? Object.fromEntries(anon.map((m) => [m.destination, {}])) : null;
}
