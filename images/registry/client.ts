// A client for the OCI distribution API (pull side): `/v2/` probe, Bearer tokens from the
// realm of the `WWW-Authenticate` challenge (anonymous or with stored credentials),
// Basic auth, manifests and indexes by tag or digest, blobs (streamed, redirects to
// blob storage without our Authorization, resume on disconnect), error documents
// turned into one-line EngineErrors that name the cause.
//
// Scheme: https, except for loopback registries (127.0.0.0/8, ::1, localhost) and the
// hosts listed as insecure, which are spoken to over plain http (Docker allows
// 127.0.0.0/8 without TLS by default, too). docker.io is served by registry-1.docker.io.
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { request } from 'undici';
import type { Dispatcher } from 'undici';
import { EngineError } from '../../lib/errors.ts';
import type { ErrorCode } from '../../lib/errors.ts';
import { DownloadError, fetchBytes, NETWORK_FAILURE, openDownload } from '../download.ts';
import type { DownloadOptions } from '../download.ts';
import { basicHeader, parseChallenges } from './auth.ts';
import type { Challenge, Credential } from './auth.ts';
import { MANIFEST_ACCEPT, parseManifest } from './manifest.ts';
import type { Descriptor, ImageIndex, ImageManifest } from './manifest.ts';

export const MAX_MANIFEST = 4 << 20;
export const MAX_CONFIG = 8 << 20;

export interface RegistryOptions {
  /** credentials for this registry, if any */
  credential?: Credential;
  /** speak plain http to this host (loopback hosts always are) */
  insecure?: boolean;
  dispatcher?: Dispatcher;
  signal?: AbortSignal;
  retries?: number;
  retryDelay?: number;
  headersTimeout?: number;
  bodyTimeout?: number;
  userAgent?: string;
}

export interface FetchedManifest {
  doc: ImageManifest | ImageIndex;
  digest: string;
  data: Buffer;
}

export function isLoopback(host: string): boolean {
  const h = host.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

export function registryBase(domain: string, insecure = false): string {
  const host = domain === 'docker.io' || domain === 'index.docker.io' ? 'registry-1.docker.io' : domain;
  return `${insecure || isLoopback(host) ? 'http' : 'https'}://${host}`;
}

function fail(code: ErrorCode, msg: string): EngineError {
  return new EngineError(code, msg);
}

function header(h: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The first error of a registry error document, if the body is one. */
function registryError(body: string): { code: string; message: string } | undefined {
  try {
    const doc = JSON.parse(body) as { errors?: { code?: string; message?: string; detail?: unknown }[] };
    const e = doc.errors?.[0];
    if (e?.code) return { code: e.code, message: e.message ?? '' };
  } catch {
    // not JSON
  }
  return undefined;
}

export class RegistryClient {
  readonly domain: string;
  readonly base: string;
  private readonly opts: RegistryOptions;
  private challenge: Challenge | undefined;
  private probed = false;
  private readonly tokens = new Map<string, string>();

  constructor(domain: string, opts: RegistryOptions = {}) {
    this.domain = domain;
    this.opts = opts;
    this.base = registryBase(domain, opts.insecure ?? false);
  }

  private dl(extra: Partial<DownloadOptions> = {}): DownloadOptions {
    const o = this.opts;
    return {
      ...(o.dispatcher ? { dispatcher: o.dispatcher } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
      ...(o.retries !== undefined ? { retries: o.retries } : {}),
      ...(o.retryDelay !== undefined ? { retryDelay: o.retryDelay } : {}),
      ...(o.headersTimeout !== undefined ? { headersTimeout: o.headersTimeout } : {}),
      ...(o.bodyTimeout !== undefined ? { bodyTimeout: o.bodyTimeout } : {}),
      ...extra,
      headers: { 'user-agent': o.userAgent ?? 'tdock/0.1', ...extra.headers },
    };
  }

  /** Maps a transport error to an EngineError that names the registry. */
  private transport(e: unknown): EngineError {
    if (e instanceof EngineError) return e;
    if (e instanceof DownloadError) {
      if (e.kind === 'aborted') return fail(NETWORK_FAILURE, 'pull cancelled');
      // download.ts says "server unreachable: HOST: cause"; the registry is named here already
      if (e.kind === 'unreachable' || e.kind === 'timeout') return fail(NETWORK_FAILURE, `registry ${this.domain} unreachable: ${e.message.replace(/^server unreachable: [^ ]+: /, '')}`);
      return fail(NETWORK_FAILURE, `registry ${this.domain}: ${e.message}`);
    }
    return fail('INTERNAL', `registry ${this.domain}: ${(e as Error).message}`);
  }

  /** `GET /v2/`: learns how the registry wants to be authenticated. */
  async probe(): Promise<void> {
    if (this.probed) return;
    let res;
    try {
      res = await fetchBytes(`${this.base}/v2/`, this.dl({ maxBytes: 1 << 16, acceptStatus: [401, 404] }));
    } catch (e) {
      throw this.transport(e);
    }
    if (res.status === 401) {
      const chs = parseChallenges(res.headers['www-authenticate']);
      this.challenge = chs.find((c) => c.scheme === 'bearer') ?? chs.find((c) => c.scheme === 'basic');
      if (!this.challenge) throw fail('FAILED_PRECONDITION', `registry ${this.domain} wants an authentication scheme tdock does not speak (${String(res.headers['www-authenticate'] ?? 'none')})`);
    } else if (res.status === 404) {
      throw fail('FAILED_PRECONDITION', `${this.domain} does not speak the registry API v2 (GET /v2/ answered 404)`);
    }
    this.probed = true;
  }

  /** A token for `scope` from the challenge's realm. */
  private async token(scope: string, ch: Challenge): Promise<string> {
    const cached = this.tokens.get(scope);
    if (cached) return cached;
    const realm = ch.params['realm'];
    if (!realm) throw fail('FAILED_PRECONDITION', `registry ${this.domain} sent a Bearer challenge without a realm`);
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw fail('FAILED_PRECONDITION', `registry ${this.domain} sent an invalid token realm "${realm}"`);
    }
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && (isLoopback(url.host) || this.base.startsWith('http:')))) {
      throw fail('FAILED_PRECONDITION', `registry ${this.domain}: refusing token realm ${realm} (not https)`);
    }
    if (ch.params['service']) url.searchParams.set('service', ch.params['service']);
    // several scopes (a push that mounts from another repository) are several parameters
    for (const sc of scope.split(' ')) if (sc) url.searchParams.append('scope', sc);
    const cred = this.opts.credential;
    let res;
    try {
      res = await fetchBytes(url.toString(), this.dl({
        maxBytes: 1 << 20,
        acceptStatus: [401, 403],
        headers: cred ? { authorization: basicHeader(cred) } : {},
      }));
    } catch (e) {
      if (e instanceof DownloadError && e.kind === 'status') {
        throw fail(NETWORK_FAILURE, `token service ${url.host} of ${this.domain} answered ${e.status}`);
      }
      throw this.transport(e);
    }
    if (res.status === 401 || res.status === 403) {
      throw fail('FAILED_PRECONDITION', cred
        ? `unauthorized: incorrect username or password for ${this.domain}`
        : `unauthorized: ${this.domain} wants credentials; run "tdock login ${this.domain}"`);
    }
    let token: string | undefined;
    try {
      const doc = JSON.parse(res.data.toString('utf8')) as { token?: string; access_token?: string };
      token = doc.token ?? doc.access_token;
    } catch {
      // handled below
    }
    if (!token) throw fail(NETWORK_FAILURE, `token service ${url.host} of ${this.domain} sent no token`);
    this.tokens.set(scope, token);
    return token;
  }

  private async authHeaders(scope: string): Promise<Record<string, string>> {
    await this.probe();
    const ch = this.challenge;
    if (!ch) return {};
    if (ch.scheme === 'basic') {
      if (!this.opts.credential) throw fail('FAILED_PRECONDITION', `unauthorized: ${this.domain} wants credentials; run "tdock login ${this.domain}"`);
      return { authorization: basicHeader(this.opts.credential) };
    }
    return { authorization: `Bearer ${await this.token(scope, ch)}` };
  }

  /** Checks the stored credentials by asking for a token (or probing with Basic auth). */
  async login(): Promise<void> {
    await this.probe();
    const ch = this.challenge;
    if (!ch) return; // an open registry accepts anyone
    if (ch.scheme === 'bearer') {
      await this.token('', ch);
      return;
    }
    const res = await fetchBytes(`${this.base}/v2/`, this.dl({ maxBytes: 1 << 16, acceptStatus: [401], headers: await this.authHeaders('') })).catch((e) => {
      throw this.transport(e);
    });
    if (res.status === 401) throw fail('FAILED_PRECONDITION', `unauthorized: incorrect username or password for ${this.domain}`);
  }

  /** Sends a GET with the right token; retries once with a fresh token on 401. */
  private async get<T>(path: string, repo: string, run: (headers: Record<string, string>) => Promise<T>): Promise<T> {
    const scope = `repository:${repo}:pull`;
    for (let attempt = 0; ; attempt++) {
      const headers = await this.authHeaders(scope);
      try {
        return await run(headers);
      } catch (e) {
        if (e instanceof DownloadError && e.kind === 'status' && e.status === 401 && attempt === 0 && this.challenge) {
          // the token may have expired, or the challenge changed for this scope
          this.tokens.delete(scope);
          const chs = parseChallenges(e.headers['www-authenticate']);
          const bearer = chs.find((c) => c.scheme === 'bearer');
          if (bearer) this.challenge = bearer;
          continue;
        }
        throw this.statusError(e, repo, path);
      }
    }
  }

  private statusError(e: unknown, repo: string, what: string): EngineError {
    if (!(e instanceof DownloadError) || e.kind !== 'status') return this.transport(e);
    const re = registryError(e.body);
    const name = `${this.domain}/${repo}`;
    const code = re?.code ?? '';
    if (e.status === 401 || e.status === 403 || code === 'UNAUTHORIZED' || code === 'DENIED') {
      return fail('FAILED_PRECONDITION', this.opts.credential
        ? `unauthorized: access to ${name} denied for user ${this.opts.credential.username}${re?.message ? ` (${re.message})` : ''}`
        : `unauthorized: pull access denied for ${name}: the repository does not exist or needs "tdock login ${this.domain}"`);
    }
    if (code === 'NAME_UNKNOWN') return fail('NOT_FOUND', `unknown name: repository ${name} does not exist`);
    if (code === 'MANIFEST_UNKNOWN' || (e.status === 404 && what.startsWith('manifest'))) {
      return fail('NOT_FOUND', `no such tag: ${what.slice('manifest '.length)} not found in ${name}`);
    }
    if (code === 'BLOB_UNKNOWN' || e.status === 404) return fail('NOT_FOUND', `${what} of ${name} is missing on the registry (404${re ? ` ${code}` : ''})`);
    if (e.status === 429 || code === 'TOOMANYREQUESTS') return fail(NETWORK_FAILURE, `${this.domain}: too many requests (rate limited); try again later`);
    return fail(NETWORK_FAILURE, `registry ${this.domain} answered ${e.status}${re ? ` ${code}: ${re.message}` : ''} for ${what} of ${repo}`);
  }

  /**
   * One request of the push side (HEAD, POST, PATCH, PUT, DELETE) with a token for `scope`
   * (space-separated scopes); a 401 gets a fresh token and one more try, so `body` is a
   * factory. `detached`: not tied to the push's signal but bounded at 10 s (the clean-up
   * after a failed or cancelled upload must still go out). Resolves with any status (the caller knows which ones it wants) and at most
   * 64 KiB of the answer's body; transport failures are one-line EngineErrors.
   */
  async send(
    method: 'HEAD' | 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE', url: string, scope: string,
    opts: { body?: () => Buffer | Readable; headers?: Record<string, string>; detached?: boolean } = {},
  ): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
    const target = new URL(url, this.base).toString();
    for (let attempt = 0; ; attempt++) {
      const auth = await this.authHeaders(scope);
      let res: Dispatcher.ResponseData;
      try {
        res = await request(target, {
          method,
          headers: { 'user-agent': this.opts.userAgent ?? 'tdock/0.1', ...auth, ...opts.headers },
          ...(opts.body ? { body: opts.body() } : {}),
          ...(opts.detached ? { signal: AbortSignal.timeout(10_000) } : this.opts.signal ? { signal: this.opts.signal } : {}),
          ...(this.opts.dispatcher ? { dispatcher: this.opts.dispatcher } : {}),
          headersTimeout: this.opts.headersTimeout ?? 120_000,
          bodyTimeout: this.opts.bodyTimeout ?? 120_000,
        });
      } catch (e) {
        if (!opts.detached && this.opts.signal?.aborted) throw fail(NETWORK_FAILURE, 'push cancelled');
        const err = e as { code?: string; cause?: { code?: string }; message?: string };
        throw fail(NETWORK_FAILURE, `registry ${this.domain} unreachable: ${method} ${new URL(target).pathname}: ${err.message ?? String(e)}${err.code ?? err.cause?.code ? ` (${err.code ?? err.cause?.code})` : ''}`);
      }
      const chunks: Buffer[] = [];
      let n = 0;
      try {
        for await (const c of res.body) {
          if (n < 1 << 16) chunks.push(c as Buffer);
          n += (c as Buffer).length;
        }
      } catch {
        // an unreadable answer body is no worse than none
      }
      const text = Buffer.concat(chunks).toString('utf8').slice(0, 1 << 16);
      if (res.statusCode === 401 && attempt === 0 && this.challenge) {
        this.tokens.delete(scope);
        const bearer = parseChallenges(res.headers['www-authenticate']).find((c) => c.scheme === 'bearer');
        if (bearer) this.challenge = bearer;
        continue;
      }
      return { status: res.statusCode, headers: res.headers, text };
    }
  }

  /** The one-line error for an unexpected answer of the push side. */
  pushError(status: number, text: string, repo: string, what: string): EngineError {
    const re = registryError(text);
    const name = `${this.domain}/${repo}`;
    const code = re?.code ?? '';
    if (status === 401 || code === 'UNAUTHORIZED') {
      return fail('FAILED_PRECONDITION', this.opts.credential
        ? `unauthorized: ${this.opts.credential.username} may not push to ${name}${re?.message ? ` (${re.message})` : ''}`
        : `unauthorized: authentication required to push to ${name}; run "tdock login ${this.domain}"`);
    }
    if (status === 403 || code === 'DENIED') return fail('FAILED_PRECONDITION', `denied: requested access to ${name} is denied${re?.message ? ` (${re.message})` : ''}`);
    if (status === 429 || code === 'TOOMANYREQUESTS') return fail(NETWORK_FAILURE, `${this.domain}: too many requests (rate limited); try again later`);
    return fail(NETWORK_FAILURE, `registry ${this.domain} answered ${status}${re ? ` ${code}: ${re.message}` : ''} for ${what} of ${repo}`);
  }

  /** Every tag of a repository (`GET /v2/<repo>/tags/list`, following the Link pages). */
  async tags(repo: string): Promise<string[]> {
    const out: string[] = [];
    let next: string | undefined = `${this.base}/v2/${repo}/tags/list`;
    for (let page = 0; next !== undefined && page < 1000; page++) {
      const url: string = next;
      const res = await this.get(`tags of ${repo}`, repo, (auth) => fetchBytes(url, this.dl({ maxBytes: MAX_MANIFEST, headers: auth })));
      let doc: { tags?: unknown };
      try {
        doc = JSON.parse(res.data.toString('utf8')) as { tags?: unknown };
      } catch {
        throw fail('INVALID_ARGUMENT', `registry ${this.domain} sent a tag list of ${repo} that is not JSON`);
      }
      if (Array.isArray(doc.tags)) out.push(...doc.tags.filter((t): t is string => typeof t === 'string'));
      const link = header(res.headers, 'link');
      const m = link ? /<([^>]+)>\s*;\s*rel="?next"?/.exec(link) : null;
      next = m ? new URL(m[1]!, this.base).toString() : undefined;
    }
    return [...new Set(out)];
  }

  /** A manifest or index by tag or digest; a digest reference is verified. */
  async manifest(repo: string, reference: string): Promise<FetchedManifest> {
    const what = `manifest ${reference.startsWith('sha256:') ? `${repo}@${reference}` : `${repo}:${reference}`}`;
    const url = `${this.base}/v2/${repo}/manifests/${reference}`;
    const res = await this.get(what, repo, (auth) => fetchBytes(url, this.dl({ maxBytes: MAX_MANIFEST, headers: { accept: MANIFEST_ACCEPT, ...auth } })));
    const digest = 'sha256:' + createHash('sha256').update(res.data).digest('hex');
    if (reference.startsWith('sha256:') && digest !== reference) {
      throw fail('INVALID_ARGUMENT', `digest mismatch: manifest ${repo}@${reference} has digest ${digest}`);
    }
    const claimed = header(res.headers, 'docker-content-digest');
    if (claimed && /^sha256:/.test(claimed) && claimed !== digest) {
      throw fail('INVALID_ARGUMENT', `digest mismatch: registry says manifest ${repo}:${reference} is ${claimed}, its content is ${digest}`);
    }
    const doc = parseManifest(res.data, header(res.headers, 'content-type'), `${this.domain}/${repo}:${reference}`);
    return { doc, digest, data: res.data };
  }

  /** A small blob (the config) fully in memory, verified against its descriptor. */
  async blobBytes(repo: string, d: Descriptor, max = MAX_CONFIG): Promise<Buffer> {
    if (d.size > max) throw fail('INVALID_ARGUMENT', `blob ${d.digest} of ${repo} is too large (${d.size} bytes) for a config`);
    const url = `${this.base}/v2/${repo}/blobs/${d.digest}`;
    const res = await this.get(`blob ${d.digest}`, repo, (auth) => fetchBytes(url, this.dl({ maxBytes: d.size, headers: auth }))).catch((e) => {
      if (e instanceof EngineError) throw e;
      throw this.statusError(e, repo, `blob ${d.digest}`);
    });
    const digest = 'sha256:' + createHash('sha256').update(res.data).digest('hex');
    if (digest !== d.digest || res.data.length !== d.size) {
      throw fail('INVALID_ARGUMENT', `digest mismatch: blob ${d.digest} of ${repo} has digest ${digest} (${res.data.length} bytes)`);
    }
    return res.data;
  }

  /** A blob as a stream (not verified here: the caller hashes what it reads). */
  async blob(repo: string, d: Descriptor): Promise<{ stream: Readable; size: number | undefined }> {
    const url = `${this.base}/v2/${repo}/blobs/${d.digest}`;
    const res = await this.get(`blob ${d.digest}`, repo, (auth) => openDownload(url, this.dl({ maxBytes: d.size, headers: auth })));
    return { stream: res.stream, size: res.size };
  }
}
