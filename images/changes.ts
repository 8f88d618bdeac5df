// Dockerfile instructions applied to an image config (`commit -c`, `import -c`), with
// Docker's list: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, USER, WORKDIR, STOPSIGNAL.
// ONBUILD is only recorded (OnBuild, for a later build elsewhere). VOLUME is refused:
// `tdock run` makes no volumes from an image's config, so it would be silently dropped.
import { EngineError } from '../lib/errors.ts';
import type { ImageConfig } from './store.ts';

function bad(msg: string): EngineError {
  return new EngineError('INVALID_ARGUMENT', msg);
}

/** CMD/ENTRYPOINT: the JSON form as is, the shell form through /bin/sh -c. */
function command(arg: string, what: string): string[] {
  const t = arg.trim();
  if (t.startsWith('[')) {
    try {
      const v = JSON.parse(t) as unknown;
      if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
    } catch {
      /* Docker takes a broken JSON form as shell form too */
    }
  }
  if (t === '') throw bad(`${what} requires at least one argument`);
  return ['/bin/sh', '-c', t];
}

/** `K=V K2="V 2"` or the legacy `K V`. */
function pairs(arg: string, what: string): [string, string][] {
  const t = arg.trim();
  const words: string[] = [];
  const re = /((?:[^\s"']+|"(?:[^"\\]|\\.)*"|'[^']*')+)/g;
  for (const m of t.matchAll(re)) words.push(m[1]!);
  const unquote = (s: string) => s.replace(/"((?:[^"\\]|\\.)*)"|'([^']*)'/g, (_a, d: string | undefined, q: string | undefined) => (d !== undefined ? d.replace(/\\(.)/g, '$1') : q ?? ''));
  if (words.length === 0) throw bad(`${what} requires at least one argument`);
  if (!words[0]!.includes('=')) {
    const sp = t.search(/\s/);
    if (sp < 0) throw bad(`${what} must have two arguments`);
    return [[t.slice(0, sp), t.slice(sp).trim()]];
  }
  return words.map((w) => {
    const eq = w.indexOf('=');
    if (eq <= 0) throw bad(`${what} names can not be blank: ${w}`);
    return [unquote(w.slice(0, eq)), unquote(w.slice(eq + 1))];
  });
}

/** Returns a new config with `changes` applied in order. */
export function applyChanges(base: ImageConfig, changes: readonly string[]): ImageConfig {
  const c: ImageConfig = JSON.parse(JSON.stringify(base)) as ImageConfig;
  for (const line of changes) {
    const m = /^\s*(\w+)\s*(.*)$/s.exec(line);
    if (!m) throw bad(`invalid change "${line}": expected a Dockerfile instruction such as CMD ["sh"]`);
    const kw = m[1]!.toUpperCase();
    const arg = m[2]!;
    switch (kw) {
      case 'CMD':
        c.Cmd = command(arg, 'CMD');
        break;
      case 'ENTRYPOINT':
        c.Entrypoint = command(arg, 'ENTRYPOINT');
        break;
      case 'ENV': {
        const env = [...(c.Env ?? [])];
        for (const [k, v] of pairs(arg, 'ENV')) {
          const i = env.findIndex((e) => e.split('=')[0] === k);
          if (i >= 0) env[i] = `${k}=${v}`;
          else env.push(`${k}=${v}`);
        }
        c.Env = env;
        break;
      }
      case 'LABEL':
        c.Labels = { ...(c.Labels ?? {}), ...Object.fromEntries(pairs(arg, 'LABEL')) };
        break;
      case 'EXPOSE': {
        const ports = { ...(c.ExposedPorts ?? {}) };
        for (const p of arg.trim().split(/\s+/).filter(Boolean)) {
          if (!/^\d+(-\d+)?(\/(tcp|udp|sctp))?$/.test(p)) throw bad(`invalid EXPOSE port "${p}"`);
          ports[p.includes('/') ? p : `${p}/tcp`] = {};
        }
        c.ExposedPorts = ports;
        break;
      }
      case 'USER':
        if (arg.trim() === '') throw bad('USER requires exactly one argument');
        c.User = arg.trim();
        break;
      case 'WORKDIR': {
        const w = arg.trim();
        if (w === '') throw bad('WORKDIR requires exactly one argument');
        c.WorkingDir = w.startsWith('/') ? w : `${(c.WorkingDir ?? '/').replace(/\/$/, '')}/${w}`;
        break;
      }
      case 'STOPSIGNAL':
        if (arg.trim() === '') throw bad('STOPSIGNAL requires exactly one argument');
        c.StopSignal = arg.trim();
        break;
      case 'ONBUILD': {
        const t = /^\s*(\w+)(.*)$/s.exec(arg);
        if (!t) throw bad('ONBUILD requires at least one argument');
        const trigger = t[1]!.toUpperCase();
        if (trigger === 'ONBUILD') throw bad('Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed');
        if (trigger === 'FROM' || trigger === 'MAINTAINER') throw bad(`${trigger} isn't allowed as an ONBUILD trigger`);
        c.OnBuild = [...(c.OnBuild ?? []), trigger + t[2]!.trimEnd()];
        break;
      }
      case 'VOLUME':
        throw bad('VOLUME is not supported in a change: tdock run makes no volumes from an image\'s config; give them with -v at run');
      default:
        throw bad(`${kw} is not a valid change command (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, USER, WORKDIR, STOPSIGNAL)`);
    }
  }
  return c;
}
