// The Volumes service: thin handlers over the engine's volume store (daemon/volumes/).
import type * as grpc from '@grpc/grpc-js';
import type {
  Empty, Volume, VolumeCreateRequest, VolumeListRequest, VolumeListResponse, VolumePruneRequest, VolumePruneResponse,
  VolumeRef, VolumeRemoveRequest,
} from '../../proto/api.ts';
import { unary } from './status.ts';
import { invalid } from '../errors.ts';
import type { VolumeRow, VolumeStore } from '../volumes/store.ts';

function labelsOf(list: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of list) {
    const eq = l.indexOf('=');
    out[eq < 0 ? l : l.slice(0, eq)] = eq < 0 ? '' : l.slice(eq + 1);
  }
  return out;
}

function message(store: VolumeStore, v: VolumeRow): Volume {
  return {
    name: v.name, driver: 'local', mountpoint: store.mountpoint(v.name), createdAt: v.created,
    labels: Object.entries(v.labels).map(([k, x]) => `${k}=${x}`), anonymous: v.anonymous, containers: store.users(v.name),
  };
}

/** Docker's `volume ls --filter`: name= (substring), label=K or K=V, dangling=true|false; one key's values OR'ed. */
export function volumeFilter(filters: readonly string[]): (v: Volume) => boolean {
  const by = new Map<string, string[]>();
  for (const f of filters) {
    const eq = f.indexOf('=');
    if (eq <= 0) throw invalid(`bad format of filter (expected name=value): ${f}`);
    const key = f.slice(0, eq);
    if (!['name', 'label', 'dangling', 'driver'].includes(key)) throw invalid(`invalid filter '${key}'`);
    const value = f.slice(eq + 1);
    if (key === 'dangling' && !['true', 'false', '1', '0'].includes(value)) throw invalid(`invalid filter 'dangling=${value}'`);
    by.set(key, [...(by.get(key) ?? []), value]);
  }
  return (v) => {
    for (const [key, values] of by) {
      const ok = values.some((x) => {
        if (key === 'name') return v.name.includes(x);
        if (key === 'driver') return v.driver === x;
        if (key === 'dangling') return (v.containers.length === 0) === (x === 'true' || x === '1');
        const eq = x.indexOf('=');
        return v.labels.some((l) => (eq < 0 ? l.split('=', 1)[0] === x : l === x));
      });
      if (!ok) return false;
    }
    return true;
  };
}

export function volumeHandlers(store: VolumeStore): grpc.UntypedServiceImplementation {
  return {
    Create: unary<VolumeCreateRequest, Volume>(async (r) => {
      if (r.name.length > 255) throw invalid('a volume name is at most 255 characters');
      if (r.labels.length > 256) throw invalid('too many labels');
      return message(store, store.create(r.name, labelsOf(r.labels)).volume);
    }),
    List: unary<VolumeListRequest, VolumeListResponse>(async (r) => {
      const keep = volumeFilter(r.filters);
      return { volumes: store.list().map((v) => message(store, v)).filter(keep) };
    }),
    Inspect: unary<VolumeRef, Volume>(async (r) => message(store, store.find(r.name))),
    Remove: unary<VolumeRemoveRequest, Empty>(async (r) => {
      store.remove(r.name, r.force);
      return {};
    }),
    Prune: unary<VolumePruneRequest, VolumePruneResponse>(async (r) => store.prune(r.all)),
  };
}
