// Test harness for registry pulls: a real CNCF distribution registry (Debian's
// docker-registry) on 127.0.0.1 with filesystem storage in a temp dir, optionally with
// token auth backed by a small token service that signs RS256 JWTs with a key whose
// self-signed certificate the registry trusts; and upload code (blobs, manifests,
// indexes) speaking the distribution push API.
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash, createPrivateKey, randomBytes, sign, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as netServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import * as zlib from 'node:zlib';

export const REGISTRY_BIN = '/usr/bin/docker-registry';
export const haveRegistry = existsSync(REGISTRY_BIN);

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = netServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export function sha256(b: Buffer | string): string {
  return 'sha256:' + createHash('sha256').update(b).digest('hex');
}

export interface TokenAuth {
  realm: string;
  service: string;
  issuer: string;
  certPath: string;
}

export interface RegistryProcess {
  base: string;
  host: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** Starts docker-registry on a free port; resolves once /v2/ answers. */
export async function startRegistry(dir: string, auth?: TokenAuth): Promise<RegistryProcess> {
  mkdirSync(join(dir, 'storage'), { recursive: true });
  const port = await freePort();
  const cfg = [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${join(dir, 'storage')}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    ...(auth ? [
      'auth:',
      '  token:',
      `    realm: ${auth.realm}`,
      `    service: ${auth.service}`,
      `    issuer: ${auth.issuer}`,
      `    rootcertbundle: ${auth.certPath}`,
    ] : []),
    '',
  ].join('\n');
  writeFileSync(join(dir, 'config.yml'), cfg);
  const child = spawn(REGISTRY_BIN, ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    if (stderr.length < 8192) stderr += d.toString();
  });
  const base = `http://127.0.0.1:${port}`;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    }
  };
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited: ${stderr}`);
    try {
      const r = await fetch(`${base}/v2/`);
      await r.arrayBuffer();
      return { base, host: `127.0.0.1:${port}`, child, stop };
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  await stop();
  throw new Error(`docker-registry did not start: ${stderr}`);
}

export interface TokenService {
  auth: TokenAuth;
  server: Server;
  /** requests seen (path + authorization header present?) */
  log: { url: string; basic: boolean }[];
  stop(): Promise<void>;
}

function b64url(b: Buffer | string): string {
  return Buffer.from(b).toString('base64url');
}

/**
 * A token service: `users` may pull and push everything; anonymous callers may pull
 * repositories under `public/`.
 */
export async function startTokenService(dir: string, users: Record<string, string>): Promise<TokenService> {
  const key = join(dir, 'token.key');
  const cert = join(dir, 'token.crt');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=tdock-test-token'], { stdio: 'ignore' });
  const privateKey = createPrivateKey(readFileSync(key));
  const der = new X509Certificate(readFileSync(cert)).raw;
  const service = 'tdock-test-registry';
  const issuer = 'tdock-test-issuer';
  const log: { url: string; basic: boolean }[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const authz = req.headers.authorization ?? '';
    log.push({ url: req.url ?? '', basic: authz.startsWith('Basic ') });
    let user: string | undefined;
    if (authz.startsWith('Basic ')) {
      const [u, ...p] = Buffer.from(authz.slice(6), 'base64').toString().split(':');
      if (u === undefined || users[u] !== p.join(':')) {
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ details: 'incorrect username or password' }));
        return;
      }
      user = u;
    }
    const access = url.searchParams.getAll('scope').flatMap((s) => s.split(' ')).map((s) => {
      const [type, ...rest] = s.split(':');
      const actions = rest.pop()!.split(',');
      const name = rest.join(':');
      const allowed = user ? actions : name.startsWith('public/') ? actions.filter((a) => a === 'pull') : [];
      return { type, name, actions: allowed };
    });
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: 'JWT', alg: 'RS256', x5c: [der.toString('base64')] };
    const claims = { iss: issuer, sub: user ?? '', aud: service, exp: now + 600, nbf: now - 60, iat: now, jti: randomBytes(8).toString('hex'), access };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const sig = sign('sha256', Buffer.from(input), privateKey);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token: `${input}.${b64url(sig)}`, expires_in: 600 }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    auth: { realm: `http://127.0.0.1:${port}/token`, service, issuer, certPath: cert },
    server,
    log,
    stop: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

/** Push client: handles the Bearer challenge with optional credentials. */
export class Pusher {
  readonly base: string;
  readonly cred: { username: string; password: string } | undefined;
  private token: string | undefined;

  constructor(base: string, cred?: { username: string; password: string }) {
    this.base = base;
    this.cred = cred;
  }

  private async call(method: string, url: string, body?: Buffer, headers: Record<string, string> = {}, repo = ''): Promise<Response> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const h: Record<string, string> = { ...headers };
      if (this.token) h['authorization'] = `Bearer ${this.token}`;
      const r = await fetch(url.startsWith('http') ? url : this.base + url, { method, headers: h, ...(body ? { body: new Uint8Array(body) } : {}), redirect: 'manual' });
      if (r.status !== 401 || attempt > 0) return r;
      await r.arrayBuffer();
      const ch = r.headers.get('www-authenticate') ?? '';
      const params = Object.fromEntries([...ch.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
      const t = new URL(params['realm']!);
      t.searchParams.set('service', params['service'] ?? '');
      t.searchParams.set('scope', params['scope'] ?? `repository:${repo}:pull,push`);
      const th: Record<string, string> = {};
      if (this.cred) th['authorization'] = 'Basic ' + Buffer.from(`${this.cred.username}:${this.cred.password}`).toString('base64');
      const tr = await fetch(t, { headers: th });
      this.token = ((await tr.json()) as { token: string }).token;
    }
    throw new Error('unreachable');
  }

  async blob(repo: string, data: Buffer): Promise<{ digest: string; size: number }> {
    const digest = sha256(data);
    const start = await this.call('POST', `/v2/${repo}/blobs/uploads/`, undefined, {}, repo);
    await start.arrayBuffer();
    if (start.status !== 202) throw new Error(`upload start: ${start.status}`);
    const loc = new URL(start.headers.get('location')!, this.base);
    loc.searchParams.set('digest', digest);
    const put = await this.call('PUT', loc.toString(), data, { 'content-type': 'application/octet-stream' }, repo);
    const text = await put.text();
    if (put.status !== 201) throw new Error(`blob upload: ${put.status} ${text}`);
    return { digest, size: data.length };
  }

  async manifest(repo: string, reference: string, doc: object, mediaType: string): Promise<{ digest: string; size: number }> {
    const data = Buffer.from(JSON.stringify(doc));
    const r = await this.call('PUT', `/v2/${repo}/manifests/${reference}`, data, { 'content-type': mediaType }, repo);
    const text = await r.text();
    if (r.status !== 201) throw new Error(`manifest put: ${r.status} ${text}`);
    return { digest: sha256(data), size: data.length };
  }

  async deleteBlob(repo: string, digest: string): Promise<void> {
    const r = await this.call('DELETE', `/v2/${repo}/blobs/${digest}`, undefined, {}, repo);
    await r.arrayBuffer();
    if (r.status !== 202) throw new Error(`blob delete: ${r.status}`);
  }
}

export type Compression = 'gzip' | 'none' | 'zstd';

export interface LayerSpec {
  tar: Buffer;
  compression?: Compression;
  /** replace the uploaded blob bytes (e.g. a truncated gzip); the diff_id stays that of `tar` */
  blob?: Buffer;
}

export interface PushedImage {
  manifestDigest: string;
  manifestSize: number;
  configDigest: string;
  diffIds: string[];
  layerDigests: string[];
  config: string;
}

const LAYER_MT: Record<Compression, string> = {
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  none: 'application/vnd.oci.image.layer.v1.tar',
  zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
};

export function compress(tar: Buffer, c: Compression): Buffer {
  if (c === 'gzip') return gzipSync(tar);
  if (c === 'zstd') return (zlib as unknown as { zstdCompressSync: (b: Buffer) => Buffer }).zstdCompressSync(tar);
  return tar;
}

/** Pushes an OCI image of `layers` with `config` (runtime part); `docker: true` uses Docker v2 media types. */
export async function pushImage(
  p: Pusher, repo: string, reference: string, layers: LayerSpec[],
  opts: { config?: object; architecture?: string; os?: string; variant?: string; docker?: boolean; created?: string } = {},
): Promise<PushedImage> {
  const diffIds: string[] = [];
  const descs: { mediaType: string; digest: string; size: number }[] = [];
  for (const l of layers) {
    const c = l.compression ?? 'gzip';
    const blob = l.blob ?? compress(l.tar, c);
    diffIds.push(sha256(l.tar));
    const d = await p.blob(repo, blob);
    const mediaType = opts.docker ? (c === 'gzip' ? 'application/vnd.docker.image.rootfs.diff.tar.gzip' : 'application/vnd.docker.image.rootfs.diff.tar') : LAYER_MT[c];
    descs.push({ mediaType, ...d });
  }
  const config = JSON.stringify({
    created: opts.created ?? '2024-05-06T07:08:09Z',
    architecture: opts.architecture ?? 'amd64',
    os: opts.os ?? 'linux',
    ...(opts.variant ? { variant: opts.variant } : {}),
    config: opts.config ?? {},
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: layers.map(() => ({ created_by: 'test' })),
  });
  const cfg = await p.blob(repo, Buffer.from(config));
  const manifest = {
    schemaVersion: 2,
    mediaType: opts.docker ? 'application/vnd.docker.distribution.manifest.v2+json' : 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: opts.docker ? 'application/vnd.docker.container.image.v1+json' : 'application/vnd.oci.image.config.v1+json', ...cfg },
    layers: descs,
  };
  const m = await p.manifest(repo, reference, manifest, manifest.mediaType);
  return { manifestDigest: m.digest, manifestSize: m.size, configDigest: cfg.digest, diffIds, layerDigests: descs.map((d) => d.digest), config };
}

/** Pushes an OCI index of already pushed manifests. */
export async function pushIndex(
  p: Pusher, repo: string, reference: string,
  manifests: { digest: string; size: number; platform: { os: string; architecture: string; variant?: string } }[],
): Promise<{ digest: string }> {
  const doc = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: manifests.map((m) => ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: m.digest, size: m.size, platform: m.platform })),
  };
  return p.manifest(repo, reference, doc, doc.mediaType);
}
