// Registry authentication: WWW-Authenticate challenges, the token flow of the
// distribution spec (anonymous or with Basic credentials), and the credentials file.
//
// Credentials live in one JSON file in Docker's config.json shape
// (`{"auths": {"HOST": {"auth": base64("user:password")}}}`), mode 0600, written
// atomically (tmp file + rename). Docker Hub's key is "docker.io".
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { EngineError } from '../../lib/errors.ts';

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses a WWW-Authenticate header: `Bearer realm="...",service="...",scope="..."`. */
export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  const values = header === undefined ? [] : Array.isArray(header) ? header : [header];
  const out: Challenge[] = [];
  for (const v of values) {
    let s = v.trim();
    while (s !== '') {
      const m = /^([A-Za-z][\w!#$%&'*+.^`|~-]*)\s*/.exec(s);
      if (!m) break;
      const ch: Challenge = { scheme: m[1]!.toLowerCase(), params: {} };
      s = s.slice(m[0].length);
      // key=value or key="quoted \" value" pairs, separated by commas
      for (;;) {
        const p = /^([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))\s*,?\s*/.exec(s);
        if (!p) break;
        // a new scheme starts where a token is followed by a space and not "="
        ch.params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3]!;
        s = s.slice(p[0].length);
      }
      out.push(ch);
      s = s.replace(/^,\s*/, '');
    }
  }
  return out;
}

export interface Credential {
  username: string;
  password: string;
}

/** The credentials file (Docker's config.json shape). */
export class CredentialStore {
  readonly path: string;

  constructor(path: string) {
    this.path = path;
  }

  private read(): { auths: Record<string, { auth?: string; username?: string; password?: string }> } {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { auths: {} };
      throw new EngineError('INTERNAL', `reading ${this.path}: ${(e as Error).message}`);
    }
    try {
      const doc = JSON.parse(text) as { auths?: Record<string, { auth?: string }> };
      return { auths: doc.auths ?? {} };
    } catch {
      throw new EngineError('INTERNAL', `${this.path} is not valid JSON; fix or remove it`);
    }
  }

  private write(doc: { auths: Record<string, unknown> }): void {
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    const tmp = `${this.path}.tmp-${randomBytes(4).toString('hex')}`;
    writeFileSync(tmp, JSON.stringify(doc, null, 2) + '\n', { mode: 0o600 });
    renameSync(tmp, this.path);
  }

  get(host: string): Credential | undefined {
    const e = this.read().auths[host];
    if (!e) return undefined;
    if (e.username !== undefined && e.password !== undefined) return { username: e.username, password: e.password };
    if (!e.auth) return undefined;
    const s = Buffer.from(e.auth, 'base64').toString('utf8');
    const i = s.indexOf(':');
    if (i < 0) return undefined;
    return { username: s.slice(0, i), password: s.slice(i + 1) };
  }

  set(host: string, c: Credential): void {
    const doc = this.read();
    doc.auths[host] = { auth: Buffer.from(`${c.username}:${c.password}`).toString('base64') };
    this.write(doc);
  }

  /** Returns false when there was nothing to remove. */
  delete(host: string): boolean {
    const doc = this.read();
    if (!(host in doc.auths)) return false;
    delete doc.auths[host];
    this.write(doc);
    return true;
  }

  hosts(): string[] {
    return Object.keys(this.read().auths).sort();
  }
}

export function basicHeader(c: Credential): string {
  return 'Basic ' + Buffer.from(`${c.username}:${c.password}`).toString('base64');
}
