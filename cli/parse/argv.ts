// Splits a command line the way Docker's CLI does for `run`, `create` and `exec`:
// options come only before the first positional argument (IMAGE or CONTAINER);
// everything after it belongs to the container, untouched (`sh -c "echo hi"`,
// `ls -d`, `--help`). oclif parses flags anywhere on the line, so we hand it only
// the options part, normalized so that it cannot misread anything:
//   -it           -> -i -t              (bundled short booleans)
//   -p8080:80     -> --publish=8080:80  (attached short value)
//   -e=A=B        -> --env=A=B          (pflag accepts `-e=VALUE`)
//   --name x      -> --name=x
//   --            ends the options (the next word is the positional)

/** What the splitter needs to know about a command's flags. */
export interface FlagSpec {
  /** long name (and aliases) -> { canonical long name, takes a value } */
  long: Map<string, { name: string; value: boolean }>;
  /** short char -> { canonical long name, takes a value } */
  short: Map<string, { name: string; value: boolean }>;
}

/** The subset of an oclif flag definition we read (kept structural: no oclif import). */
export interface FlagDefLike {
  type: string; // 'boolean' | 'option'
  char?: string;
  aliases?: string[];
  charAliases?: string[];
}

export function flagSpec(flags: Record<string, FlagDefLike>): FlagSpec {
  const long = new Map<string, { name: string; value: boolean }>();
  const short = new Map<string, { name: string; value: boolean }>();
  for (const [name, def] of Object.entries(flags)) {
    const entry = { name, value: def.type !== 'boolean' };
    long.set(name, entry);
    for (const a of def.aliases ?? []) long.set(a, entry);
    if (def.char) short.set(def.char, entry);
    for (const c of def.charAliases ?? []) short.set(c, entry);
  }
  return { long, short };
}

export interface SplitArgv {
  /** normalized options for oclif */
  options: string[];
  /** IMAGE (run/create) or CONTAINER (exec); undefined when absent */
  positional: string | undefined;
  /** everything after the positional, untouched */
  rest: string[];
  /** true when the options asked for help (--help) */
  help: boolean;
}

export class ArgvError extends Error {}

export function splitArgv(argv: readonly string[], spec: FlagSpec): SplitArgv {
  const options: string[] = [];
  let help = false;
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      i++;
      break;
    }
    if (a === '-' || !a.startsWith('-')) break; // first positional
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const key = eq === -1 ? a.slice(2) : a.slice(2, eq);
      if (key === 'help') {
        help = true;
        options.push('--help');
        continue;
      }
      const f = spec.long.get(key);
      if (!f) throw new ArgvError(`unknown flag: --${key}`);
      if (!f.value) {
        if (eq !== -1) {
          const v = a.slice(eq + 1).toLowerCase();
          if (v === 'true' || v === '1') options.push(`--${f.name}`);
          else if (v === 'false' || v === '0') continue;
          else throw new ArgvError(`invalid argument "${a.slice(eq + 1)}" for "--${key}" flag: expected true or false`);
        } else {
          options.push(`--${f.name}`);
        }
        continue;
      }
      let value: string;
      if (eq !== -1) value = a.slice(eq + 1);
      else {
        if (i + 1 >= argv.length) throw new ArgvError(`flag needs an argument: --${key}`);
        value = argv[++i]!;
      }
      options.push(`--${f.name}=${value}`);
      continue;
    }
    // short flags, possibly bundled: -it, -dp 80:80, -p8080:80, -e=A=B
    for (let j = 1; j < a.length; j++) {
      const c = a[j]!;
      const f = spec.short.get(c);
      if (!f) throw new ArgvError(`unknown shorthand flag: '${c}' in ${a}`);
      if (!f.value) {
        options.push(`--${f.name}`);
        continue;
      }
      let value: string;
      if (j + 1 < a.length) {
        value = a.slice(a[j + 1] === '=' ? j + 2 : j + 1);
      } else {
        if (i + 1 >= argv.length) throw new ArgvError(`flag needs an argument: '${c}' in -${c}`);
        value = argv[++i]!;
      }
      options.push(`--${f.name}=${value}`);
      break;
    }
  }
  const positional = i < argv.length ? argv[i] : undefined;
  const rest = positional === undefined ? [] : argv.slice(i + 1);
  return { options, positional, rest, help };
}

/**
 * For cli/main.ts: puts `--` in front of the positional so that oclif's own
 * pre-scan (help detection) and parser leave the container's arguments alone.
 * Returns argv unchanged when it cannot be split (oclif/the command reports it).
 */
export function protectPositional(argv: readonly string[], spec: FlagSpec): string[] {
  try {
    const s = splitArgv(argv, spec);
    if (s.positional === undefined) return [...argv];
    return [...s.options, '--', s.positional, ...s.rest];
  } catch {
    return [...argv];
  }
}
