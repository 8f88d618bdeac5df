// Docker's --env-file and --label-file format (docker/cli opts/file.go): one
// KEY=VALUE a line, leading whitespace dropped, blank lines and "#" lines skipped.
// A bare KEY is taken from our environment for --env-file (dropped when unset), and
// is a label with an empty value for --label-file.
import { readFileSync } from 'node:fs';
import { ValueError } from './bytes.ts';

export function parseKvFile(path: string, flag: string, lookup?: (k: string) => string | undefined): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ValueError(`${flag}: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  const out: string[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '').replace(/^\s+/, '');
    if (line === '' || line.startsWith('#')) return;
    const eq = line.indexOf('=');
    const key = eq < 0 ? line : line.slice(0, eq);
    if (key === '') throw new ValueError(`${flag} ${path}: no variable name on line ${i + 1} '${line}'`);
    if (/\s/.test(key)) throw new ValueError(`${flag} ${path}: variable '${key.trim()}' contains whitespaces`);
    if (eq >= 0) out.push(line);
    else if (!lookup) out.push(`${key}=`);
    else {
      const v = lookup(key);
      if (v !== undefined) out.push(`${key}=${v}`);
    }
  });
  return out;
}

/** --label values and --label-file lines -> "K=V" list (later wins, like Docker's map), sorted by key. */
export function labelList(files: readonly string[], flags: readonly string[]): string[] {
  const map = new Map<string, string>();
  const all = [...files.flatMap((f) => parseKvFile(f, '--label-file')), ...flags];
  for (const kv of all) {
    const eq = kv.indexOf('=');
    const k = eq < 0 ? kv : kv.slice(0, eq);
    if (!k) throw new ValueError(`invalid value "${kv}" for -l/--label: expected KEY=VALUE`);
    map.set(k, eq < 0 ? '' : kv.slice(eq + 1));
  }
  return [...map].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${k}=${v}`);
}
