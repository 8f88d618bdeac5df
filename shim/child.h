/* What every process the shim forks towards a container does first (init and exec). */
#ifndef TDOCK_CHILD_H
#define TDOCK_CHILD_H

#include "config.h"

#include <stddef.h>

/* The child's ends of what the monitor opened for it. */
struct child_fds {
	int sync;     /* our end of the SOCK_SEQPACKET pair with the monitor */
	int stdin_r;  /* -1 unless openStdin without a tty */
	int stdout_w; /* -1 for a tty */
	int stderr_w; /* -1 for a tty */
	int devnull;  /* the host's /dev/null, only until the container has its own */
};

/* The sync socket once child_setup_fds ran (fd 3), else -1. */
extern int g_child_sync;

/* Exit code of a child whose setup failed (docker run uses 125 likewise). */
#define EXIT_SETUP_FAILED 125

/* Sends g_err as SYNC_ERROR and exits 125. */
_Noreturn void child_fail(void);

/* The monitor ignores SIGPIPE; ignored dispositions would survive exec. */
void child_reset_signals(void);

/*
 * /proc/PID/cmdline is readable in the container: show name (NUL-separated
 * words, size bytes with the last NUL), not the host's bundle path.
 */
void child_rename(const char *name, size_t size);

/* stdio from f (or /dev/null), the sync socket on fd 3, every other fd closed. */
void child_setup_fds(const struct child_fds *f);

/*
 * After the maps exist: becomes uid/gid 0 of the user namespace with no
 * groups, and gets SIGKILL when the monitor dies (the uid change cleared that).
 */
void child_become_root(void);

/* Waits for one message of the expected type; anything else means the monitor is gone. */
void child_expect(char type);

/*
 * Inside the container's mount namespace: opens its /dev/null (returned) and,
 * for a tty, a pty of the container's devpts; the master goes to the monitor,
 * the slave's path into slave (size bytes; "" without a tty).
 */
int child_open_stdio(const struct config *c, char *slave, size_t size);

/*
 * The OOM score the container's processes get: the container's monitor's own,
 * kept before it made itself unkillable (-1000). Empty: what they inherit is
 * right (init, and everything `tdock-shim exec` started by the daemon forks).
 */
extern char g_oom_score_adj[16];

/* An exec forked (through its exec-monitor) by the container's monitor gets g_oom_score_adj back. */
void child_restore_oom_score(void);

/*
 * RLIMIT_NOFILE of every process of a container, soft and hard: Docker's 1048576,
 * or our hard limit (the daemon's) when that is lower.
 */
#define CONTAINER_NOFILE 1048576
void child_limit_open_files(void);

/* Drops the bounding set to c->caps and sets no_new_privs when asked. */
void child_restrict(const struct config *c);

/* main.c keeps argv so children can rename themselves. */
extern char *g_argv_start, *g_argv_end;

#endif
