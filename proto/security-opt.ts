// What CreateRequest.security_opt may hold (Docker's `--security-opt` syntax), shared
// by the CLI (a usage error before anything is sent) and the daemon (INVALID_ARGUMENT
// for any other client). Pure: no I/O, no grpc.

export type SeccompProfile = 'default' | 'unconfined';

export interface SecurityOptions {
  /** "default": the shim's built-in profile (shim/seccomp.c); "unconfined": no filter. */
  seccomp: SeccompProfile;
}

export class SecurityOptError extends Error {}

const USAGE = 'expected seccomp=unconfined, seccomp=default or no-new-privileges';

/**
 * Parses the list; a later seccomp= wins. `no-new-privileges` (alone, or =true) is
 * accepted and changes nothing: tdock always sets it. Docker's older `:` separator
 * is accepted too. Anything else (a profile file, apparmor=, label=) is refused.
 */
export function parseSecurityOpts(opts: readonly string[]): SecurityOptions {
  const out: SecurityOptions = { seccomp: 'default' };
  for (const opt of opts) {
    const m = /^([a-z-]+)(?:[=:](.*))?$/.exec(opt);
    const [key, value] = m ? [m[1], m[2]] : ['', undefined];
    if (key === 'seccomp' && (value === 'default' || value === 'unconfined')) out.seccomp = value;
    else if (key === 'seccomp' && value) {
      throw new SecurityOptError(`invalid value "${opt}" for --security-opt: custom seccomp profiles are not supported; ${USAGE}`);
    } else if (key === 'no-new-privileges' && (value === undefined || value === 'true')) continue;
    else if (key === 'no-new-privileges' && value === 'false') {
      throw new SecurityOptError(`invalid value "${opt}" for --security-opt: no-new-privileges is always on in tdock`);
    } else throw new SecurityOptError(`invalid value "${opt}" for --security-opt: ${USAGE}`);
  }
  return out;
}
