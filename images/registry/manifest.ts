// OCI / Docker v2 manifests and indexes: media types, validation, platform selection.
import { EngineError } from '../../lib/errors.ts';

export const MT = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const;

/** What a pull accepts, best first (sent as the Accept header). */
export const MANIFEST_ACCEPT = [MT.ociIndex, MT.dockerList, MT.ociManifest, MT.dockerManifest].join(', ');

export type LayerCompression = 'gzip' | 'zstd' | 'none';

const LAYER_TYPES: Record<string, LayerCompression> = {
  'application/vnd.oci.image.layer.v1.tar': 'none',
  'application/vnd.oci.image.layer.v1.tar+gzip': 'gzip',
  'application/vnd.oci.image.layer.v1.tar+zstd': 'zstd',
  'application/vnd.oci.image.layer.nondistributable.v1.tar': 'none',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip': 'gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd': 'zstd',
  'application/vnd.docker.image.rootfs.diff.tar.gzip': 'gzip',
  'application/vnd.docker.image.rootfs.diff.tar': 'none',
};

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  platform?: Platform & { 'os.version'?: string };
  annotations?: Record<string, string>;
}

export interface ImageManifest {
  kind: 'manifest';
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
}

export interface ImageIndex {
  kind: 'index';
  mediaType: string;
  manifests: Descriptor[];
}

const DIGEST = /^sha256:[a-f0-9]{64}$/;

function bad(what: string, why: string): EngineError {
  return new EngineError('INVALID_ARGUMENT', `invalid ${what}: ${why}`);
}

function descriptor(d: unknown, what: string): Descriptor {
  const o = d as Partial<Descriptor> | null;
  if (!o || typeof o !== 'object') throw bad(what, 'descriptor is not an object');
  if (typeof o.digest !== 'string' || !DIGEST.test(o.digest)) {
    throw bad(what, `unsupported or malformed digest ${JSON.stringify(o.digest)} (only sha256 is supported)`);
  }
  if (typeof o.size !== 'number' || !Number.isSafeInteger(o.size) || o.size < 0) throw bad(what, `bad size ${JSON.stringify(o.size)}`);
  if (typeof o.mediaType !== 'string') throw bad(what, 'descriptor without mediaType');
  return o as Descriptor;
}

/** Parses a manifest or index document, given the Content-Type the registry sent. */
export function parseManifest(data: Buffer, contentType: string | undefined, where: string): ImageManifest | ImageIndex {
  let doc: { schemaVersion?: number; mediaType?: string; config?: unknown; layers?: unknown; manifests?: unknown };
  try {
    doc = JSON.parse(data.toString('utf8')) as typeof doc;
  } catch {
    throw bad(`manifest of ${where}`, 'not JSON');
  }
  if (!doc || typeof doc !== 'object') throw bad(`manifest of ${where}`, 'not an object');
  const ct = (contentType ?? '').split(';')[0]!.trim();
  const mediaType = doc.mediaType ?? (ct !== '' && ct !== 'application/json' ? ct : undefined)
    ?? (Array.isArray(doc.manifests) ? MT.ociIndex : MT.ociManifest);
  if (doc.schemaVersion === 1 || mediaType === MT.dockerSchema1 || mediaType === MT.dockerSchema1Signed) {
    throw new EngineError('FAILED_PRECONDITION', `${where} uses the deprecated Docker schema 1 manifest format, which tdock does not support`);
  }
  if (doc.schemaVersion !== 2) throw bad(`manifest of ${where}`, `schemaVersion ${JSON.stringify(doc.schemaVersion)} (expected 2)`);
  if (mediaType === MT.ociIndex || mediaType === MT.dockerList) {
    if (!Array.isArray(doc.manifests)) throw bad(`index of ${where}`, 'no manifests');
    return { kind: 'index', mediaType, manifests: doc.manifests.map((m, i) => descriptor(m, `index of ${where} (entry ${i})`)) };
  }
  if (mediaType === MT.ociManifest || mediaType === MT.dockerManifest) {
    if (!Array.isArray(doc.layers)) throw bad(`manifest of ${where}`, 'no layers');
    const config = descriptor(doc.config, `manifest of ${where} (config)`);
    const layers = doc.layers.map((l, i) => descriptor(l, `manifest of ${where} (layer ${i})`));
    return { kind: 'manifest', mediaType, config, layers };
  }
  throw new EngineError('FAILED_PRECONDITION', `${where}: unsupported manifest type "${mediaType}" (not a container image?)`);
}

/** The compression of a layer from its media type; throws for non-layer or foreign types. */
export function layerCompression(d: Descriptor, where: string): LayerCompression {
  const c = LAYER_TYPES[d.mediaType];
  if (c !== undefined) return c;
  if (/foreign/.test(d.mediaType)) throw new EngineError('FAILED_PRECONDITION', `${where}: foreign (non-distributable Windows) layer ${d.digest} is not supported`);
  throw new EngineError('FAILED_PRECONDITION', `${where}: unsupported layer type "${d.mediaType}" for ${d.digest}`);
}

/** "linux/arm64/v8" -> platform; defaults the OS to linux. */
export function parsePlatform(s: string): Platform {
  const parts = s.trim().toLowerCase().split('/');
  if (parts.length === 1 && parts[0] !== '') return normalize({ os: 'linux', architecture: parts[0]! });
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === '')) {
    throw new EngineError('INVALID_ARGUMENT', `invalid platform "${s}": expected OS/ARCH[/VARIANT], e.g. linux/amd64`);
  }
  const p: Platform = { os: parts[0]!, architecture: parts[1]! };
  if (parts[2] !== undefined) p.variant = parts[2];
  return normalize(p);
}

/** containerd's normalisation: aarch64 = arm64 (variant v8), x86_64 = amd64, arm = arm/v7. */
export function normalize(p: Platform): Platform {
  const arch = p.architecture.toLowerCase();
  const out: Platform = { os: p.os.toLowerCase(), architecture: arch };
  let variant = p.variant?.toLowerCase();
  if (arch === 'x86_64' || arch === 'x86-64') out.architecture = 'amd64';
  else if (arch === 'aarch64' || arch === 'arm64') {
    out.architecture = 'arm64';
    if (variant === '8' || variant === 'v8') variant = undefined;
  } else if (arch === 'armhf') {
    out.architecture = 'arm';
    variant = 'v7';
  } else if (arch === 'armel') {
    out.architecture = 'arm';
    variant = 'v6';
  } else if (arch === 'arm') {
    if (variant === undefined) variant = 'v7';
    else if (/^\d$/.test(variant)) variant = 'v' + variant;
  }
  if (variant !== undefined) out.variant = variant;
  return out;
}

export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? '/' + p.variant : ''}`;
}

/** The manifest of `index` for `want`; undefined when none matches. */
export function selectPlatform(index: ImageIndex, want: Platform): Descriptor | undefined {
  const w = normalize(want);
  const candidates = index.manifests.filter((m) => {
    if (!m.platform || (m.mediaType !== MT.ociManifest && m.mediaType !== MT.dockerManifest)) return false;
    const p = normalize(m.platform);
    if (p.os !== w.os || p.architecture !== w.architecture) return false;
    // a wanted variant must match; without one, any variant will do (the best is first)
    return w.variant === undefined || p.variant === w.variant || (p.variant === undefined && w.architecture === 'arm' && w.variant === 'v7');
  });
  if (w.variant === undefined && w.architecture === 'arm') {
    // prefer v7 > v6 > v5 for a bare "arm"
    candidates.sort((a, b) => (normalize(b.platform!).variant ?? '').localeCompare(normalize(a.platform!).variant ?? ''));
  }
  return candidates[0];
}

/** The platforms an index offers, for the "no matching platform" error. */
export function offered(index: ImageIndex): string[] {
  return index.manifests
    .filter((m) => m.platform && m.platform.os !== 'unknown')
    .map((m) => formatPlatform(normalize(m.platform!)));
}
