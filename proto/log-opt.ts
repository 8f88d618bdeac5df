// What CreateRequest.log_opt may hold (Docker's `--log-opt KEY=VALUE` for its local and
// json-file drivers: max-size, max-file), shared by the CLI (a usage error before anything
// is sent), tdockd's --log-max-size/--log-max-file and the daemon (INVALID_ARGUMENT for
// any other client). Pure: no I/O, no grpc.

/** How the monitor rotates a container's log: shim/PROTOCOL.md, logMaxSize/logMaxFiles. */
export interface LogConfig {
  /** Bytes a file may reach before the monitor starts a new one; 0 = one file, never rotated. */
  maxSize: number;
  /** Files kept, the current one included (1 when maxSize is 0). */
  maxFile: number;
}

/** Docker's local log driver keeps 5 files of 20 MB: at most 100 MB per container. */
export const DEFAULT_LOG_CONFIG: Readonly<LogConfig> = { maxSize: 20_000_000, maxFile: 5 };

/** Rotation renames every kept file: a bound keeps that (and the readers' file sets) small. */
export const MAX_LOG_FILES = 1000;

export class LogOptError extends Error {}

const SIZE_USAGE = 'expected max-size=SIZE (a size such as 10k, 10m, 1g; 0 or -1 = unbounded)';
const FILE_USAGE = `expected max-file=N (1 <= N <= ${MAX_LOG_FILES})`;
const UNITS: Record<string, number> = { '': 1, k: 1e3, m: 1e6, g: 1e9, t: 1e12, p: 1e15 };

/**
 * Docker's units.FromHumanSize, which its log drivers use: decimal units (10k = 10000
 * bytes; "KiB" is 1000 too), an optional b/ib suffix, any case. -1 and 0 are unbounded
 * (0 is returned). undefined when it is not a size.
 */
export function parseLogSize(s: string): number | undefined {
  const v = s.trim();
  if (v === '-1') return 0;
  const m = /^(\d+(?:\.\d+)?) ?([kmgtp])?i?b?$/i.exec(v);
  if (!m) return undefined;
  const n = Math.floor(Number(m[1]) * UNITS[(m[2] ?? '').toLowerCase()]!);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** max-file=N: an integer from 1 to MAX_LOG_FILES, or undefined. */
export function parseLogFiles(s: string): number | undefined {
  const v = s.trim();
  if (!/^\d+$/.test(v)) return undefined;
  const n = Number(v);
  return n >= 1 && n <= MAX_LOG_FILES ? n : undefined;
}

/** --log-opt values over the defaults; the message names the option and what to write instead. */
export function parseLogOpts(opts: readonly string[], defaults: Readonly<LogConfig>): LogConfig {
  let maxSize = defaults.maxSize;
  let maxFile: number | undefined;
  for (const opt of opts) {
    const eq = opt.indexOf('=');
    if (eq <= 0) throw new LogOptError(`invalid value "${opt}" for --log-opt: expected KEY=VALUE (max-size=SIZE or max-file=N)`);
    const key = opt.slice(0, eq);
    const value = opt.slice(eq + 1);
    if (key === 'max-size') {
      const n = parseLogSize(value);
      if (n === undefined) throw new LogOptError(`invalid value "${opt}" for --log-opt: ${SIZE_USAGE}`);
      maxSize = n;
    } else if (key === 'max-file') {
      const n = parseLogFiles(value);
      if (n === undefined) throw new LogOptError(`invalid value "${opt}" for --log-opt: ${FILE_USAGE}`);
      maxFile = n;
    } else {
      throw new LogOptError(`invalid value "${opt}" for --log-opt: unknown log option "${key}"; use max-size=SIZE or max-file=N`);
    }
  }
  if (maxSize === 0) {
    // Docker refuses this too: without a size limit nothing is ever rotated.
    if (maxFile !== undefined && maxFile > 1) {
      throw new LogOptError(`invalid value "max-file=${maxFile}" for --log-opt: max-file=${maxFile} needs a max-size; without one the log is never rotated`);
    }
    return { maxSize: 0, maxFile: 1 };
  }
  return { maxSize, maxFile: maxFile ?? defaults.maxFile };
}

/** A size as the options write it: 20m, 10k, 1536; -1 for unbounded. */
export function formatLogSize(n: number): string {
  if (n <= 0) return '-1';
  for (const [unit, k] of [['g', 1e9], ['m', 1e6], ['k', 1e3]] as const) if (n % k === 0) return `${n / k}${unit}`;
  return String(n);
}

/** Docker's HostConfig.LogConfig: the binary, rotated format is closest to its "local" driver. */
export function logConfigView(c: LogConfig): { Type: string; Config: Record<string, string> } {
  return { Type: 'local', Config: { 'max-size': formatLogSize(c.maxSize), 'max-file': String(c.maxFile) } };
}
