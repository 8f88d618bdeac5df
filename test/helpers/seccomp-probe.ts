// The seccomp probe (test/integration/fixtures/seccomp-probe.c): compiled statically
// at test time, run in containers, its `name=result` lines compared with what the
// default profile (shim/seccomp.c) must answer.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

const SOURCE = join(import.meta.dirname, '..', 'integration', 'fixtures', 'seccomp-probe.c');

/** Compiles the probe into dir (cc -static -O2); returns the binary's path. */
export function buildProbe(dir: string): string {
  const out = join(dir, 'seccomp-probe');
  execFileSync('cc', ['-static', '-O2', '-o', out, SOURCE], { stdio: ['ignore', 'ignore', 'inherit'] });
  return out;
}

export function parseProbe(stdout: string): Record<string, string> {
  return Object.fromEntries(stdout.trim().split('\n').map((l) => {
    const eq = l.indexOf('=');
    return [l.slice(0, eq), l.slice(eq + 1)];
  }));
}

/** What the default profile answers. clone3 is ENOSYS (glibc then uses clone); another ABI (i386, x32) is killed (SIGSYS). */
export const BLOCKED: Record<string, string> = {
  io_uring_setup: 'EPERM', userfaultfd: 'EPERM', perf_event_open: 'EPERM', add_key: 'EPERM', keyctl: 'EPERM',
  bpf: 'EPERM', unshare_newuser: 'EPERM', unshare_newns: 'EPERM', setns: 'EPERM', mount: 'EPERM',
  clone_newnet: 'EPERM', clone_newuser: 'EPERM', clone3: 'ENOSYS', socket_vsock: 'EPERM', personality_bad: 'EPERM',
  name_to_handle_at: 'EPERM', open_by_handle_at: 'EPERM', clock_settime: 'EPERM',
  ...(process.arch === 'x64' ? { int80: 'signal 31', x32: 'signal 31' } : {}),
};

/** Must keep working under the profile: threads need clone3's ENOSYS fallback, fork uses clone. */
export const ALLOWED = ['getpid', 'fork', 'thread', 'socket_inet', 'personality_query', 'personality_linux32', 'clock_gettime'];

export function assertConfined(stdout: string): void {
  const r = parseProbe(stdout);
  for (const [k, v] of Object.entries(BLOCKED)) assert.equal(r[k], v, `${k} under the default profile (probe said ${stdout})`);
  for (const k of ALLOWED) assert.equal(r[k], 'ok', `${k} is allowed (probe said ${stdout})`);
}

/** Unconfined: the kernel's own answers, different from the filter's where the probe's arguments allow. */
export function assertUnconfined(stdout: string): void {
  const r = parseProbe(stdout);
  assert.notEqual(r.io_uring_setup, 'EPERM', stdout);
  assert.equal(r.clone3, 'ok', stdout);
  assert.equal(r.setns, 'EBADF', stdout);
  assert.equal(r.personality_bad, 'ok', stdout);
  assert.equal(r.clock_settime, 'EINVAL', stdout);
  // The kernel's own answer to an x32 call, whatever it is, does not kill.
  if (process.arch === 'x64') assert.equal(r.x32, 'ok', stdout);
  // Nested user namespaces still fail: user.max_user_namespaces is 0 in the container.
  assert.equal(r.unshare_newuser, 'ENOSPC', stdout);
  for (const k of ALLOWED) assert.equal(r[k], 'ok', `${k} (probe said ${stdout})`);
}
