// docker/cli's imageContext: what `images --format` templates see (a Go struct:
// an unknown field is an error); {{json .}} has every field, keys sorted.
import { ago, humanSize, shortId } from './format.ts';
import { goTime } from './ps-context.ts';
import { GO_TYPE } from './template.ts';
import type { ImageSummary } from '../../proto/api.ts';

export const IMAGE_HEADERS: Record<string, string> = {
  ID: 'IMAGE ID', Repository: 'REPOSITORY', Tag: 'TAG', Digest: 'DIGEST', CreatedSince: 'CREATED', CreatedAt: 'CREATED AT',
  Size: 'SIZE', Containers: 'CONTAINERS', VirtualSize: 'VIRTUAL SIZE', SharedSize: 'SHARED SIZE', UniqueSize: 'UNIQUE SIZE',
};

export const IMAGE_TABLE = 'table {{.Repository}}\\t{{.Tag}}\\t{{.ID}}\\t{{.CreatedSince}}\\t{{.Size}}';
export const IMAGE_TABLE_DIGESTS = 'table {{.Repository}}\\t{{.Tag}}\\t{{.Digest}}\\t{{.ID}}\\t{{.CreatedSince}}\\t{{.Size}}';

export function imageContext(i: ImageSummary, trunc: boolean, nowMs: number = Date.now()): Record<string, unknown> {
  const fields: Record<string, unknown> = {
    Containers: 'N/A',
    CreatedAt: goTime(i.created),
    CreatedSince: ago(i.created, nowMs) || 'N/A',
    Digest: i.digest || '<none>',
    ID: trunc ? shortId(i.id) : i.id,
    Repository: i.repository || '<none>',
    SharedSize: 'N/A',
    Size: humanSize(Number(i.size)),
    Tag: i.tag || '<none>',
    UniqueSize: 'N/A',
    VirtualSize: humanSize(Number(i.size)),
  };
  Object.defineProperty(fields, GO_TYPE, { value: '*formatter.imageContext', enumerable: false });
  return fields;
}
