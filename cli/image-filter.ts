// docker images --filter with the daemon's semantics (moby daemon/images/images.go):
// dangling=true|false, reference=PATTERN (path.Match over the familiar name, with or
// without the tag), before/since=IMAGE (created earlier/later), label=K[=V] (all must hold).
import type { ImageSummary } from '../proto/api.ts';
import { UsageError } from './errors.ts';
import { parseFilters, type Filters } from './ps-filter.ts';

const KEYS = new Set(['dangling', 'reference', 'before', 'since', 'label']);

export function parseImageFilters(args: readonly string[]): Filters {
  const f = parseFilters(args, KEYS);
  for (const v of f.get('dangling') ?? []) if (v !== 'true' && v !== 'false') throw new UsageError(`invalid filter 'dangling=${v}'`);
  return f;
}

/** Go's path.Match: * and ? stop at "/", [...] classes. */
function globRegex(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === '*') re += '[^/]*';
    else if (ch === '?') re += '[^/]';
    else if (ch === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end < 0) throw new UsageError(`invalid filter 'reference=${pattern}': syntax error in pattern`);
      re += `[${pattern.slice(i + 1, end).replace(/^\^/, '^').replace(/\\/g, '\\\\')}]`;
      i = end;
    } else re += ch.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

function isDangling(i: ImageSummary): boolean {
  return i.tag === '<none>' || i.tag === '';
}

function findImage(list: readonly ImageSummary[], ref: string): ImageSummary {
  const [repo, tag = 'latest'] = ref.includes(':') && !ref.slice(ref.lastIndexOf(':')).includes('/') ? [ref.slice(0, ref.lastIndexOf(':')), ref.slice(ref.lastIndexOf(':') + 1)] : [ref];
  const bare = ref.replace(/^sha256:/, '');
  const i = list.find((x) => x.repository === repo && x.tag === tag)
    ?? (/^[0-9a-f]{4,64}$/.test(bare) ? list.find((x) => x.id.replace(/^sha256:/, '').startsWith(bare)) : undefined);
  if (!i) throw new UsageError(`No such image: ${ref}`);
  return i;
}

export function selectImages(list: readonly ImageSummary[], f: Filters): ImageSummary[] {
  const before = f.get('before')?.map((r) => findImage(list, r));
  const since = f.get('since')?.map((r) => findImage(list, r));
  const refs = f.get('reference')?.map(globRegex);
  const dangling = f.get('dangling');
  return list.filter((i) => {
    if (dangling && dangling.includes('true') !== isDangling(i) && !(dangling.includes('true') && dangling.includes('false'))) return false;
    if (refs && !refs.some((re) => !isDangling(i) && (re.test(`${i.repository}:${i.tag}`) || re.test(i.repository)))) return false;
    if (before && !before.every((b) => i.created < b.created)) return false;
    if (since && !since.every((s) => i.created > s.created)) return false;
    if (f.has('label')) {
      const have = new Map((i.labels ?? []).map((kv) => [kv.slice(0, kv.indexOf('=') < 0 ? kv.length : kv.indexOf('=')), kv.includes('=') ? kv.slice(kv.indexOf('=') + 1) : '']));
      if (!f.get('label')!.every((w) => (w.includes('=') ? have.get(w.slice(0, w.indexOf('='))) === w.slice(w.indexOf('=') + 1) : have.has(w)))) return false;
    }
    return true;
  });
}
