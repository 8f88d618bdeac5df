// HTTP downloads with undici: redirects, timeouts, retries with resume, cancellation.
//
// `openDownload(url)` resolves once the response headers of a 2xx answer are in, with a
// Readable of the body that survives connection drops: when the body fails mid-way (a
// reset, a server that closes the connection, a body timeout) the download asks again
// for the rest with `Range: bytes=N-` (and `If-Range` with the validator of the first
// answer, so a changed file is never stitched onto the old one). A server that answers
// a range request with the whole file (200) is read from the start again and the bytes
// already delivered are skipped. Every failure ends as an error on the stream (never an
// exception that escapes, never a crash): undici 8 turns a mid-body disconnect into an
// ordinary stream error.
//
// Redirects are followed by hand (at most 10): a redirect to another origin drops the
// Authorization header (registries redirect blobs to object storage with signed URLs,
// which must not see the registry's token), and a resume asks the original URL again
// (signed URLs expire).
//
// Errors are DownloadErrors with a one-line message naming the cause: the server is
// unreachable, it answered with an HTTP status, a timeout, the transfer was cancelled.
import { setTimeout as sleep } from 'node:timers/promises';
import { Readable } from 'node:stream';
import { request } from 'undici';
import type { Dispatcher } from 'undici';
import type { ErrorCode } from '../lib/errors.ts';

/**
 * The status code of "the remote server is unreachable / the transfer failed / cancelled".
 * Not UNAVAILABLE: the CLI reads that code as "the daemon is down" and would print
 * "Cannot connect to the tdock daemon" instead of this message.
 */
export const NETWORK_FAILURE: ErrorCode = 'FAILED_PRECONDITION';

export type DownloadFailure = 'unreachable' | 'status' | 'timeout' | 'aborted' | 'truncated' | 'too-large' | 'protocol';

export class DownloadError extends Error {
  readonly kind: DownloadFailure;
  readonly status: number;
  readonly url: string;
  /** the response body of a status error (at most 64 KiB), for registry error documents */
  readonly body: string;
  readonly headers: Record<string, string | string[] | undefined>;
  constructor(kind: DownloadFailure, url: string, message: string, extra: { status?: number; body?: string; headers?: Record<string, string | string[] | undefined> } = {}) {
    super(message);
    this.kind = kind;
    this.url = url;
    this.status = extra.status ?? 0;
    this.body = extra.body ?? '';
    this.headers = extra.headers ?? {};
  }
}

export interface DownloadOptions {
  method?: 'GET' | 'HEAD';
  headers?: Record<string, string>;
  signal?: AbortSignal;
  dispatcher?: Dispatcher;
  /** attempts after the first one, for connection errors, 5xx/429 answers and bodies cut short (default 3) */
  retries?: number;
  /** first back-off delay in ms, doubled per attempt (default 250) */
  retryDelay?: number;
  /** ms to wait for the response headers (default 30 s) */
  headersTimeout?: number;
  /** ms of silence allowed while reading the body (default 60 s) */
  bodyTimeout?: number;
  maxRedirects?: number;
  /** fail when the body grows beyond this many bytes */
  maxBytes?: number;
  /** statuses that are returned (with their body) instead of being errors, e.g. 401 for auth challenges */
  acceptStatus?: number[];
}

export interface Download {
  /** the body; ends when complete, errors (DownloadError) otherwise */
  stream: Readable;
  status: number;
  /** the size announced by the server, when it announced one */
  size: number | undefined;
  /** the URL that answered (after redirects) */
  url: string;
  headers: Record<string, string | string[] | undefined>;
}

type Headers = Record<string, string | string[] | undefined>;

const RETRY_STATUS = new Set([408, 429, 500, 502, 503, 504]);

function header(h: Headers, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

function oneLine(e: unknown): string {
  const err = e as { message?: string; code?: string; cause?: { code?: string; message?: string } };
  const msg = (err?.message ?? String(e)).split('\n')[0]!;
  const code = err?.code && !msg.includes(err.code) ? ` (${err.code})` : '';
  return msg + code;
}

/** Maps an undici/network error to a DownloadError with a clear one-line message. */
export function classify(e: unknown, url: string, signal?: AbortSignal): DownloadError {
  if (e instanceof DownloadError) return e;
  if (signal?.aborted) return new DownloadError('aborted', url, `download of ${url} cancelled`);
  const err = e as { name?: string; code?: string; cause?: { code?: string; message?: string } };
  const code = err?.code ?? err?.cause?.code ?? '';
  if (err?.name === 'AbortError' || code === 'ABORT_ERR') return new DownloadError('aborted', url, `download of ${url} cancelled`);
  if (/TIMEOUT/.test(code)) return new DownloadError('timeout', url, `timed out talking to ${new URL(url).host}: ${oneLine(e)}`);
  if (code === 'ENOTFOUND') {
    // a name that does not resolve will not resolve in a second either: no retries
    return new DownloadError('protocol', url, `server unreachable: ${new URL(url).host}: ${oneLine(err?.cause ?? e)}`);
  }
  if (['ECONNREFUSED', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED'].includes(code)) {
    return new DownloadError('unreachable', url, `server unreachable: ${new URL(url).host}: ${oneLine(err?.cause ?? e)}`);
  }
  if (code.startsWith('ERR_TLS') || /certificate|SSL|TLS/i.test(oneLine(e))) {
    return new DownloadError('protocol', url, `TLS error talking to ${new URL(url).host}: ${oneLine(e)}`);
  }
  return new DownloadError('unreachable', url, `download of ${url} failed: ${oneLine(e)}`);
}

function retriable(e: DownloadError): boolean {
  if (e.kind === 'aborted' || e.kind === 'too-large' || e.kind === 'protocol') return false;
  if (e.kind === 'status') return RETRY_STATUS.has(e.status);
  return true;
}

interface Answer {
  status: number;
  headers: Headers;
  body: Dispatcher.ResponseData['body'];
  url: string;
}

/** Drops a response body without an unhandled 'error' event (undici emits AbortError on destroy). */
function discard(body: Dispatcher.ResponseData['body']): void {
  body.on('error', () => {});
  body.destroy();
}

async function readSome(body: Dispatcher.ResponseData['body'], max = 64 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  try {
    for await (const c of body) {
      const b = c as Buffer;
      if (n < max) chunks.push(b.subarray(0, max - n));
      n += b.length;
      if (n >= max) break;
    }
  } catch {
    // an error document that cannot be read is no worse than none
  }
  discard(body);
  return Buffer.concat(chunks).toString('utf8');
}

/** One request with redirects followed; resolves with any final status. */
async function fetchOnce(url: string, opts: DownloadOptions, extraHeaders: Record<string, string>): Promise<Answer> {
  let current = url;
  let headers: Record<string, string> = { ...opts.headers, ...extraHeaders };
  const origin = new URL(url).origin;
  for (let hop = 0; ; hop++) {
    let res: Dispatcher.ResponseData;
    try {
      res = await request(current, {
        method: opts.method ?? 'GET',
        headers,
        signal: opts.signal,
        ...(opts.dispatcher ? { dispatcher: opts.dispatcher } : {}),
        headersTimeout: opts.headersTimeout ?? 30_000,
        bodyTimeout: opts.bodyTimeout ?? 60_000,
      });
    } catch (e) {
      throw classify(e, current, opts.signal);
    }
    const location = header(res.headers, 'location');
    if ([301, 302, 303, 307, 308].includes(res.statusCode) && location) {
      discard(res.body);
      if (hop >= (opts.maxRedirects ?? 10)) throw new DownloadError('protocol', url, `too many redirects fetching ${url}`);
      const next = new URL(location, current);
      if (next.protocol !== 'http:' && next.protocol !== 'https:') throw new DownloadError('protocol', url, `refusing redirect of ${url} to ${next.protocol} URL`);
      if (next.origin !== origin) {
        // never hand the registry's credentials to blob storage
        headers = Object.fromEntries(Object.entries(headers).filter(([k]) => k.toLowerCase() !== 'authorization'));
      }
      current = next.toString();
      continue;
    }
    return { status: res.statusCode, headers: res.headers, body: res.body, url: current };
  }
}

function statusError(a: Answer, body: string, url: string): DownloadError {
  return new DownloadError('status', a.url, `${url}: server answered ${a.status}`, { status: a.status, body, headers: a.headers });
}

/** Opens `url` for reading; see the module comment. */
export async function openDownload(url: string, opts: DownloadOptions = {}): Promise<Download> {
  const retries = opts.retries ?? 3;
  const delay = opts.retryDelay ?? 250;
  const wait = (attempt: number) => sleep(delay * 2 ** attempt, undefined, opts.signal ? { signal: opts.signal } : {}).catch(() => {
    throw new DownloadError('aborted', url, `download of ${url} cancelled`);
  });

  let first: Answer | undefined;
  for (let attempt = 0; ; attempt++) {
    try {
      const a = await fetchOnce(url, opts, {});
      if ((a.status >= 200 && a.status < 300) || opts.acceptStatus?.includes(a.status)) {
        first = a;
        break;
      }
      const body = await readSome(a.body);
      throw statusError(a, body, url);
    } catch (e) {
      const err = classify(e, url, opts.signal);
      if (attempt >= retries || !retriable(err)) throw err;
      await wait(attempt);
    }
  }

  const length = header(first.headers, 'content-length');
  const size = length !== undefined && /^\d+$/.test(length) ? Number(length) : undefined;
  const etag = header(first.headers, 'etag');
  const validator = etag && !etag.startsWith('W/') ? etag : header(first.headers, 'last-modified');
  const maxBytes = opts.maxBytes;
  const isOk = first.status >= 200 && first.status < 300;
  const initial = first;

  async function* body(): AsyncGenerator<Buffer> {
    let res: Answer = initial;
    let delivered = 0;
    let skip = 0;
    let failures = 0;
    for (;;) {
      try {
        for await (const c of res.body) {
          let b = c as Buffer;
          if (skip > 0) {
            if (b.length <= skip) {
              skip -= b.length;
              continue;
            }
            b = b.subarray(skip);
            skip = 0;
          }
          delivered += b.length;
          if (maxBytes !== undefined && delivered > maxBytes) {
            throw new DownloadError('too-large', url, `${url}: body larger than the expected ${maxBytes} bytes`);
          }
          yield b;
        }
        if (skip > 0 || (size !== undefined && isOk && delivered < size)) {
          throw new DownloadError('truncated', url, `${url}: connection closed after ${delivered} of ${size ?? '?'} bytes`);
        }
        return;
      } catch (e) {
        discard(res.body);
        const err = classify(e, url, opts.signal);
        if (!isOk || !retriable(err) || failures >= retries || opts.method === 'HEAD') {
          if (err.kind === 'unreachable' || err.kind === 'timeout') {
            throw new DownloadError('truncated', url, `${url}: transfer failed after ${delivered}${size !== undefined ? ` of ${size}` : ''} bytes: ${err.message}`);
          }
          throw err;
        }
        // resume: ask for the rest; a 200 means the server ignores ranges: skip what was delivered
        for (;;) {
          await wait(failures);
          failures++;
          try {
            const extra: Record<string, string> = delivered > 0 ? { range: `bytes=${delivered}-` } : {};
            if (delivered > 0 && validator) extra['if-range'] = validator;
            const a = await fetchOnce(url, opts, extra);
            if (a.status === 206) {
              const cr = header(a.headers, 'content-range') ?? '';
              const m = /^bytes (\d+)-/.exec(cr);
              if (!m || Number(m[1]) !== delivered) {
                discard(a.body);
                throw new DownloadError('protocol', url, `${url}: server resumed at the wrong offset (${cr || 'no Content-Range'})`);
              }
              skip = 0;
            } else if (a.status >= 200 && a.status < 300) {
              skip = delivered;
            } else {
              throw statusError(a, await readSome(a.body), url);
            }
            res = a;
            break;
          } catch (e2) {
            const err2 = classify(e2, url, opts.signal);
            if (!retriable(err2) || failures >= retries) throw err2;
          }
        }
      }
    }
  }

  // Readable.from destroys the generator (and with it the socket) when the consumer stops.
  const stream = Readable.from(body(), { objectMode: false, highWaterMark: 1 << 20 });
  return { stream, status: first.status, size, url: first.url, headers: first.headers };
}

/** Downloads a small document fully into memory (manifests, checksums, catalogs, tokens); give maxBytes. */
export async function fetchBytes(url: string, opts: DownloadOptions): Promise<{ data: Buffer; status: number; headers: Headers; url: string }> {
  const d = await openDownload(url, opts);
  const chunks: Buffer[] = [];
  try {
    for await (const c of d.stream) chunks.push(c as Buffer);
  } catch (e) {
    throw classify(e, url, opts.signal);
  }
  return { data: Buffer.concat(chunks), status: d.status, headers: d.headers, url: d.url };
}
