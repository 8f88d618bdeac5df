// The catalog of named rootfs tarballs (images/catalog.json, data reviewed by people):
// `tdock pull NAME[:TAG]` looks a short name up here before it asks a registry.
//
// Format (version 1):
//   { "version": 1, "images": { NAME: {
//       "description": "...",
//       "aliases": { "latest": "3.21" },              // tag -> tag
//       "tags": { TAG: {
//         "embedded": "busybox"                        // built locally, no download; or:
//         "platforms": { ARCH: { "url": "...", "sha256": "<hex>" | "checksumUrl": "..." } },
//         "config": { "Env": [...], "Cmd": [...] },    // OCI config fields for the image
//         "created": "2025-01-01T00:00:00Z"            // optional, for a reproducible image id
//   } } } } }
//
// Every downloadable entry must be verifiable: a fixed sha256, or a checksum file that
// the project publishes (alpine: `<tarball>.sha256` beside it; ubuntu: the release's
// SHA256SUMS, looked up by file name). URLs may be relative to the catalog's own
// location, which is how tests point a catalog at a local server.
//
// Which names are in it: busybox (embedded), alpine (minirootfs), ubuntu (ubuntu-base
// 22.04, whose last point release keeps a stable URL). Debian publishes no plain rootfs
// tarball with a checksum beside it (the debuerreotype artifacts are xz and rebuilt in
// place), so `debian` is pulled from the registry (docker.io/library/debian).
//
// A reference with an explicit registry host (docker.io/library/alpine) or a digest
// skips the catalog. A catalog name with an unknown tag is an error ("no such tag"), not
// a silent fall-through to another source.
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { EngineError } from '../lib/errors.ts';
import { fetchBytes, NETWORK_FAILURE } from './download.ts';
import type { DownloadOptions } from './download.ts';
import type { ImageConfig } from './store.ts';

export interface CatalogPlatform {
  url: string;
  sha256?: string;
  checksumUrl?: string;
}

export interface CatalogTag {
  embedded?: string;
  platforms?: Record<string, CatalogPlatform>;
  config?: Partial<ImageConfig>;
  created?: string;
}

export interface CatalogImage {
  description?: string;
  aliases?: Record<string, string>;
  tags: Record<string, CatalogTag>;
}

export interface Catalog {
  version: number;
  images: Record<string, CatalogImage>;
  /** where it was loaded from (a URL), the base of relative URLs */
  base: string;
}

export interface CatalogHit {
  name: string;
  /** the tag as asked for */
  tag: string;
  /** the tag after aliases */
  resolvedTag: string;
  entry: CatalogTag;
  /** set for a download: absolute URL and expected digest source */
  platform?: CatalogPlatform & { arch: string };
}

/** The catalog shipped with tdock (next to this module, or under images/ next to the bundle). */
export function defaultCatalogLocation(): string {
  return new URL('../images/catalog.json', import.meta.url).toString();
}

function toUrl(location: string): URL {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location)) return new URL(location);
  return pathToFileURL(location);
}

/** Loads a catalog from a path, a file: URL or an http(s) URL. */
export async function loadCatalog(location: string = defaultCatalogLocation(), dl: DownloadOptions = {}): Promise<Catalog> {
  const url = toUrl(location);
  let text: string;
  try {
    if (url.protocol === 'file:') {
      try {
        text = await readFile(fileURLToPath(url), 'utf8');
      } catch (e) {
        // the bundled daemon lives in dist/; the catalog stays in images/
        const alt = new URL('./catalog.json', import.meta.url);
        if (location !== defaultCatalogLocation() || (e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        text = await readFile(fileURLToPath(alt), 'utf8');
      }
    } else if (url.protocol === 'http:' || url.protocol === 'https:') {
      text = (await fetchBytes(url.toString(), { ...dl, maxBytes: 4 << 20 })).data.toString('utf8');
    } else {
      throw new Error(`unsupported URL scheme ${url.protocol}`);
    }
  } catch (e) {
    throw new EngineError(NETWORK_FAILURE, `cannot load the image catalog ${location}: ${(e as Error).message.split('\n')[0]}`);
  }
  let doc: { version?: number; images?: Record<string, CatalogImage> };
  try {
    doc = JSON.parse(text) as typeof doc;
  } catch {
    throw new EngineError('INTERNAL', `the image catalog ${location} is not valid JSON`);
  }
  if (doc.version !== 1 || !doc.images || typeof doc.images !== 'object') {
    throw new EngineError('INTERNAL', `the image catalog ${location} is not a version 1 catalog`);
  }
  return { version: 1, images: doc.images, base: url.toString() };
}

/**
 * Looks `name`:`tag` up. Undefined when the catalog does not know the name; throws
 * NOT_FOUND for a known name with an unknown tag or without a tarball for `arch`.
 */
export function lookup(cat: Catalog, name: string, tag: string, arch: string): CatalogHit | undefined {
  const img = Object.hasOwn(cat.images, name) ? cat.images[name] : undefined;
  if (!img) return undefined;
  let resolvedTag = tag;
  for (let i = 0; i < 8 && img.aliases && Object.hasOwn(img.aliases, resolvedTag) && !Object.hasOwn(img.tags, resolvedTag); i++) {
    resolvedTag = img.aliases[resolvedTag]!;
  }
  const entry = Object.hasOwn(img.tags, resolvedTag) ? img.tags[resolvedTag] : undefined;
  if (!entry) {
    const known = [...Object.keys(img.tags), ...Object.keys(img.aliases ?? {})].sort();
    throw new EngineError('NOT_FOUND', `no such tag: ${name}:${tag} is not in the image catalog (known tags: ${known.join(', ')}); for Docker Hub's image use docker.io/library/${name}:${tag}`);
  }
  const hit: CatalogHit = { name, tag, resolvedTag, entry };
  if (entry.embedded) return hit;
  const p = entry.platforms?.[arch];
  if (!p) {
    throw new EngineError('NOT_FOUND', `no matching platform: the catalog has ${name}:${resolvedTag} for ${Object.keys(entry.platforms ?? {}).map((a) => 'linux/' + a).join(', ') || 'no platform'}, not linux/${arch}`);
  }
  const abs = (u: string) => new URL(u, cat.base).toString();
  hit.platform = { arch, url: abs(p.url) };
  if (p.sha256) hit.platform.sha256 = p.sha256;
  if (p.checksumUrl) hit.platform.checksumUrl = abs(p.checksumUrl);
  if (!p.sha256 && !p.checksumUrl) throw new EngineError('INTERNAL', `catalog entry ${name}:${resolvedTag} (${arch}) has no checksum; refusing an unverifiable download`);
  return hit;
}

/**
 * Finds the sha256 for `fileName` in a checksum file: `sha256sum` output (`HEX  NAME` or
 * `HEX *NAME`, one per line), or a single bare digest.
 */
export function parseChecksumFile(text: string, fileName: string): string | undefined {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  for (const l of lines) {
    const m = /^([a-fA-F0-9]{64})(?:\s+\*?(.+))?$/.exec(l);
    if (!m) continue;
    if (m[2] === undefined ? lines.length === 1 : basename(m[2].trim()) === fileName) return m[1]!.toLowerCase();
  }
  return undefined;
}

/** The expected sha256 (hex) of a catalog tarball: fixed, or from the published checksum file. */
export async function expectedSha256(p: CatalogPlatform, dl: DownloadOptions = {}): Promise<string> {
  if (p.sha256) return p.sha256.toLowerCase().replace(/^sha256:/, '');
  if (!p.checksumUrl) throw new EngineError('INTERNAL', `catalog entry ${p.url} has no checksum`);
  let text: string;
  try {
    text = (await fetchBytes(p.checksumUrl, { ...dl, maxBytes: 1 << 20 })).data.toString('utf8');
  } catch (e) {
    const status = (e as { status?: number }).status;
    if (status === 404) throw new EngineError('NOT_FOUND', `checksum file ${p.checksumUrl} not found on the server`);
    throw new EngineError(NETWORK_FAILURE, `cannot fetch the checksum ${p.checksumUrl}: ${(e as Error).message}`);
  }
  const file = decodeURIComponent(basename(new URL(p.url).pathname));
  const hex = parseChecksumFile(text, file);
  if (!hex) throw new EngineError('INVALID_ARGUMENT', `checksum file ${p.checksumUrl} has no sha256 for ${file}`);
  return hex;
}
