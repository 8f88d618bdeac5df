// Restart policies as Docker's CLI and API give them (`--restart`): the one parser
// and the one check, shared by the CLI (exit 125 before anything is sent) and the
// daemon (any client may send anything). What the policy does lives in
// daemon/containers/restart-policy.ts.

export type RestartPolicyName = 'no' | 'always' | 'unless-stopped' | 'on-failure';

export interface RestartPolicy {
  name: RestartPolicyName;
  /** on-failure only; 0 = no maximum */
  maximumRetryCount: number;
}

export const NO_RESTART: RestartPolicy = { name: 'no', maximumRetryCount: 0 };

export class RestartPolicyError extends Error {}

const NAMES: readonly RestartPolicyName[] = ['no', 'always', 'unless-stopped', 'on-failure'];

/** `--restart` as Docker's CLI takes it: no | always | unless-stopped | on-failure[:MAX] ("" = no). */
export function parseRestartPolicy(text: string): RestartPolicy {
  if (text === '') return NO_RESTART;
  const colon = text.indexOf(':');
  const name = colon < 0 ? text : text.slice(0, colon);
  if (!(NAMES as readonly string[]).includes(name)) {
    throw new RestartPolicyError(`invalid restart policy "${text}" for --restart: expected no, always, unless-stopped or on-failure[:MAX-RETRIES]`);
  }
  if (colon < 0) return { name: name as RestartPolicyName, maximumRetryCount: 0 };
  const max = text.slice(colon + 1);
  if (name !== 'on-failure') {
    throw new RestartPolicyError(`invalid restart policy "${text}" for --restart: a maximum retry count can only be used with on-failure`);
  }
  if (!/^\d{1,9}$/.test(max)) {
    throw new RestartPolicyError(`invalid restart policy "${text}" for --restart: the maximum retry count must be a number of 0 or more`);
  }
  return { name: 'on-failure', maximumRetryCount: Number(max) };
}

/**
 * The API's policy checked like Docker's daemon does (a client other than ours may
 * send anything): a known name, a count only with on-failure, never with --rm.
 */
export function checkRestartPolicy(p: { name: string; maximumRetryCount: number } | undefined, autoRemove: boolean): RestartPolicy {
  if (!p || p.name === '') {
    if (p && p.maximumRetryCount) throw new RestartPolicyError('invalid restart policy: a maximum retry count can only be used with on-failure');
    return NO_RESTART;
  }
  if (!(NAMES as readonly string[]).includes(p.name)) {
    // Any client may send anything: the message quotes a bounded, escaped piece of it.
    const shown = JSON.stringify(p.name.length > 40 ? `${p.name.slice(0, 40)}...` : p.name);
    throw new RestartPolicyError(`invalid restart policy ${shown}: expected no, always, unless-stopped or on-failure`);
  }
  if (!Number.isSafeInteger(p.maximumRetryCount) || p.maximumRetryCount < 0) {
    throw new RestartPolicyError(`invalid restart policy: the maximum retry count ${p.maximumRetryCount} must be 0 or more`);
  }
  if (p.maximumRetryCount && p.name !== 'on-failure') {
    throw new RestartPolicyError(`invalid restart policy: a maximum retry count can only be used with on-failure, not ${p.name}`);
  }
  const policy: RestartPolicy = { name: p.name as RestartPolicyName, maximumRetryCount: p.maximumRetryCount };
  if (autoRemove && policy.name !== 'no') throw new RestartPolicyError('Conflicting options: --restart and --rm');
  return policy;
}
