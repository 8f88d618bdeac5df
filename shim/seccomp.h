/* The default seccomp profile (PROTOCOL.md, "The seccomp profile"): a classic BPF filter built by hand. */
#ifndef TDOCK_SECCOMP_H
#define TDOCK_SECCOMP_H

/*
 * Installs the default filter on the calling thread (the shim is single-threaded).
 * The kernel needs no_new_privs or CAP_SYS_ADMIN in the caller's user namespace.
 * Returns 0, or -1 with g_err set.
 */
int seccomp_install_default(void);

#endif
