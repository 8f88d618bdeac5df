// How much a client may ask for in one container (DESIGN.md "Security model": every
// input is bounded). A container's spec is kept in SQLite and read back on every
// list, inspect and start, so a request must not be able to make it large: the
// limits are Linux's own where it has one (what exec would refuse anyway), and far
// above any real use elsewhere. Checked before anything else of a request, so no
// error message ever quotes a huge value.
import { invalid } from '../errors.ts';
import type { PortMapping } from '../../lib/ports.ts';

/** Linux's MAX_ARG_STRLEN (32 pages): exec refuses a longer argument or variable (E2BIG). */
export const MAX_ARG_BYTES = 128 << 10;
/**
 * Arguments plus environment, in bytes (each with its NUL): half of Linux's usual ARG_MAX
 * (a quarter of the 8 MiB stack limit), so exec never fails with E2BIG on a default system.
 */
export const MAX_EXEC_BYTES = 1 << 20;
/** Entries of the command (entrypoint + cmd) and of the environment, each. */
export const MAX_ARGS = 4096;
export const MAX_ENV = 4096;
/** PATH_MAX. */
export const MAX_PATH = 4096;
/** An image reference: Docker's grammar allows 255 for the name, 128 for the tag, and a digest. */
export const MAX_IMAGE_REF = 1024;
export const MAX_NAME = 128;
/** HOST_NAME_MAX is 64; Docker's and RFC 1123's label limit is 63. */
export const MAX_HOSTNAME = 63;
/** USER[:GROUP], names or numbers. */
export const MAX_USER = 256;
/** glibc and musl read 3 nameservers; room for more than any resolv.conf uses. */
export const MAX_DNS = 32;
/** Published ports (a range counts each port): room for a 4096-port range. */
export const MAX_PORTS = 4096;
export const MAX_SECURITY_OPT = 16;
/** Short values checked against a fixed set or a grammar (network mode, addresses, protocols, options). */
export const MAX_WORD = 256;

function count(what: string, list: readonly unknown[], max: number): void {
  if (list.length > max) throw invalid(`too many ${what}: ${list.length}, at most ${max} are allowed`);
}

function chars(what: string, value: string, max: number, hint = ''): void {
  if (value.length > max) throw invalid(`${what} is too long: ${value.length} characters, at most ${max} are allowed${hint}`);
}

/** Each entry at most MAX_ARG_BYTES (Linux's limit on one argument or variable). */
function entries(what: string, list: readonly string[]): number {
  let total = 0;
  for (const [i, s] of list.entries()) {
    const n = Buffer.byteLength(s) + 1;
    if (n > MAX_ARG_BYTES) {
      throw invalid(`argument list too long: ${what} entry ${i + 1} is ${n - 1} bytes, at most ${MAX_ARG_BYTES - 1} per entry (Linux's limit)`);
    }
    total += n;
  }
  return total;
}

/** The command and environment as exec gets them: entries, counts and total size. */
export function checkExecSize(args: readonly string[], env: readonly string[], whose = ''): void {
  count(`command arguments${whose}`, args, MAX_ARGS);
  count(`environment variables${whose}`, env, MAX_ENV);
  const total = entries(`command${whose}`, args) + entries(`environment${whose}`, env);
  if (total > MAX_EXEC_BYTES) {
    throw invalid(`argument list too long: the command and environment${whose} take ${total} bytes, at most ${MAX_EXEC_BYTES} (1 MiB) are allowed`);
  }
}

export interface CreateFields {
  healthCmd?: string;
  image: string;
  name: string;
  cmd: readonly string[];
  entrypoint: readonly string[];
  env: readonly string[];
  workdir: string;
  user: string;
  hostname: string;
  network: string;
  ports: readonly Pick<PortMapping, 'hostIp' | 'protocol'>[];
  dns: readonly string[];
  securityOpt: readonly string[];
  logOpt?: readonly string[];
}

/** Refuses a create request over any limit, naming the field (as a flag) and the limit. */
export function checkCreateBounds(r: CreateFields): void {
  chars('the image reference', r.image, MAX_IMAGE_REF, ' (invalid reference format)');
  chars('the container name (--name)', r.name, MAX_NAME);
  checkExecSize([...r.entrypoint, ...r.cmd], r.env);
  chars('the working directory (-w/--workdir)', r.workdir, MAX_PATH);
  chars('the user (-u/--user)', r.user, MAX_USER);
  chars('the hostname (-h/--hostname)', r.hostname, MAX_HOSTNAME);
  chars('the network (--network)', r.network, MAX_WORD);
  count('published ports (-p/--publish)', r.ports, MAX_PORTS);
  for (const p of r.ports) {
    chars('a published port\'s host address (-p/--publish)', p.hostIp, MAX_WORD);
    chars('a published port\'s protocol (-p/--publish)', p.protocol, MAX_WORD);
  }
  count('DNS servers (--dns)', r.dns, MAX_DNS);
  for (const d of r.dns) chars('a DNS server (--dns)', d, MAX_WORD);
  count('security options (--security-opt)', r.securityOpt, MAX_SECURITY_OPT);
  for (const o of r.securityOpt) chars('a security option (--security-opt)', o, MAX_WORD);
  count('log options (--log-opt)', r.logOpt ?? [], MAX_SECURITY_OPT);
  for (const o of r.logOpt ?? []) chars('a log option (--log-opt)', o, MAX_WORD);
  // Run as one argument of /bin/sh -c: exec's own limit for one argument.
  chars('the health command (--health-cmd)', r.healthCmd ?? '', MAX_ARG_BYTES);
}

export interface ExecFields {
  cmd: readonly string[];
  env: readonly string[];
  user: string;
  workdir: string;
}

/** The same limits for `exec` (the container's environment is added by the engine). */
export function checkExecBounds(r: ExecFields): void {
  checkExecSize(r.cmd, r.env);
  chars('the user (-u/--user)', r.user, MAX_USER);
  chars('the working directory (-w/--workdir)', r.workdir, MAX_PATH);
}
