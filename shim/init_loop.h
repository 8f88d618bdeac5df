/* PID 1 of the container: forward signals, reap zombies (like tini/catatonit). */
#ifndef TDOCK_INIT_LOOP_H
#define TDOCK_INIT_LOOP_H

#include <stdbool.h>
#include <sys/types.h>

/*
 * Runs until the command exits and returns the exit code init must exit with:
 * the command's code, or 128+N when a signal N killed it. All signals must be
 * blocked on entry (they have been since clone, so none was lost).
 * group: forward to the command's process group (a tty session) instead of
 * the command alone.
 */
int init_loop(pid_t command, bool group);

#endif
