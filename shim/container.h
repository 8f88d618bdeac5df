/* The cloned child: becomes the container's init (PID 1). */
#ifndef TDOCK_CONTAINER_H
#define TDOCK_CONTAINER_H

#include "config.h"

struct child_fds {
	int sync;     /* our end of the SOCK_SEQPACKET pair with the monitor */
	int stdin_r;  /* -1 unless openStdin without a tty */
	int stdout_w; /* -1 for a tty */
	int stderr_w; /* -1 for a tty */
	int devnull;  /* the host's /dev/null, only until the container has its own */
};

/* Entry point right after clone(); never returns. */
_Noreturn void container_main(const struct config *c, const struct child_fds *f);

/* The command (PID 2); never returns. tty_slave is NULL without a tty. */
_Noreturn void command_main(const struct config *c, int sync, int devnull, const char *tty_slave);

/* monitor.c keeps argv so init can rename itself (its cmdline is visible inside). */
extern char *g_argv_start, *g_argv_end;

#endif
