/*
 * The binary a container can reach through /proc/PID/exe (CVE-2019-5736): never
 * the host's tdock-shim, always a copy nobody can write (PROTOCOL.md, "The sealed
 * binary").
 */
#ifndef TDOCK_SEAL_H
#define TDOCK_SEAL_H

/*
 * Returns 0 when /proc/self/exe is already a sealed copy. Otherwise makes one
 * and re-executes it with the same argv and environment (the pid stays), so it
 * only returns on failure: -1, g_err says which step.
 */
int seal_self(char **argv);

#endif
