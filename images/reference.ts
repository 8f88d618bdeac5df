// Image references, following Docker's grammar (distribution/reference):
//
//   reference  := name [ ":" tag ] [ "@" digest ]
//   name       := [domain "/"] path-component ("/" path-component)*
//   domain     := host [":" port]            (first component, only if it has "." or ":"
//                                              or is "localhost" or has upper case letters)
//   path-comp  := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
//   tag        := [\w][\w.-]{0,127}
//   digest     := "sha256:" 64 lower-case hex
//
// Repositories are kept in their familiar (short) form: "docker.io/library/busybox" and
// "busybox" are the same repository and are stored as "busybox", like `docker images`
// shows them. `splitRepository` gives the registry host and remote path for a pull.
import { EngineError } from '../lib/errors.ts';

export interface ImageRef {
  /** familiar repository name: "busybox", "user/app", "host:5000/ns/name" */
  repository: string;
  /** tag; "latest" when neither a tag nor a digest was given */
  tag?: string;
  /** "sha256:<64 hex>" when given as name@digest */
  digest?: string;
}

export const DEFAULT_TAG = 'latest';
export const DEFAULT_DOMAIN = 'docker.io';
const LEGACY_DOMAIN = 'index.docker.io';
const OFFICIAL_NS = 'library';
const NAME_MAX = 255;

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[0-9a-fA-F:]+\\])(?::[0-9]+)?$`);
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;

function bad(ref: string, why: string): EngineError {
  return new EngineError('INVALID_ARGUMENT', `invalid reference format "${ref}": ${why}`);
}

/** Parses NAME[:TAG][@DIGEST]. Throws an EngineError (INVALID_ARGUMENT) with a clear message. */
export function parseRef(ref: string): ImageRef {
  if (ref === '') throw bad(ref, 'empty reference');
  if (/\s/.test(ref)) throw bad(ref, 'contains white space');
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw bad(ref, 'digest must be sha256: followed by 64 lower-case hex digits');
  }
  let tag: string | undefined;
  // a ":" after the last "/" starts the tag ("host:5000/name" has its ":" before a "/")
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad(ref, `invalid tag "${tag}" (allowed: letters, digits, "_", "." and "-", at most 128, not starting with "." or "-")`);
  }
  const name = rest;
  if (name === '') throw bad(ref, 'missing repository name');
  if (name.length > NAME_MAX) throw bad(ref, `repository name longer than ${NAME_MAX} characters`);

  const parts = name.split('/');
  let domain: string | undefined;
  if (parts.length > 1 && isDomain(parts[0]!)) {
    domain = parts.shift()!;
    if (!DOMAIN.test(domain)) throw bad(ref, `invalid registry host "${domain}"`);
  }
  for (const p of parts) {
    if (p === '') throw bad(ref, 'empty path component');
    if (p !== p.toLowerCase()) throw bad(ref, 'repository name must be lowercase');
    if (!PATH_COMPONENT.test(p)) throw bad(ref, `invalid repository name component "${p}"`);
  }
  const out: ImageRef = { repository: familiar(domain, parts.join('/')) };
  if (tag !== undefined) out.tag = tag;
  else if (digest === undefined) out.tag = DEFAULT_TAG;
  if (digest !== undefined) out.digest = digest;
  return out;
}

function isDomain(first: string): boolean {
  return first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase();
}

function familiar(domain: string | undefined, path: string): string {
  if (domain === undefined || domain === DEFAULT_DOMAIN || domain === LEGACY_DOMAIN) {
    if (domain !== undefined && path.startsWith(OFFICIAL_NS + '/') && path.split('/').length === 2) {
      return path.slice(OFFICIAL_NS.length + 1);
    }
    return path;
  }
  return `${domain}/${path}`;
}

/** The registry host and the remote path of a familiar repository ("busybox" -> docker.io, library/busybox). */
export function splitRepository(repository: string): { domain: string; path: string } {
  const parts = repository.split('/');
  if (parts.length > 1 && isDomain(parts[0]!)) {
    return { domain: parts[0]!, path: parts.slice(1).join('/') };
  }
  return { domain: DEFAULT_DOMAIN, path: parts.length === 1 ? `${OFFICIAL_NS}/${repository}` : repository };
}

/** "busybox:latest", "name@sha256:...", "name:tag@sha256:..." */
export function formatRef(r: ImageRef): string {
  return r.repository + (r.tag !== undefined ? `:${r.tag}` : '') + (r.digest !== undefined ? `@${r.digest}` : '');
}
