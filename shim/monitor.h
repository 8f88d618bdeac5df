/* The monitor: one per container, parent of its init (like conmon). */
#ifndef TDOCK_MONITOR_H
#define TDOCK_MONITOR_H

#include "config.h"
#include "sync.h"

#include <stdbool.h>
#include <sys/types.h>

/* Frame types on the socket (PROTOCOL.md). */
enum {
	FRAME_STDOUT = 1,
	FRAME_STDERR = 2,
	FRAME_PID = 3,
	FRAME_EXIT = 4,
	FRAME_ERROR = 5,
	FRAME_START = 10,
	FRAME_STDIN = 11,
	FRAME_CLOSE_STDIN = 12,
	FRAME_RESIZE = 13,
	FRAME_SIGNAL = 14,
};

struct monitor {
	struct config cfg;
	pid_t init_pid;
	int sync;       /* our end of the socketpair with the container */
	int listen_fd;
	int log_fd;
	int signal_fd;  /* SIGCHLD only */
	int devnull;
	int stdout_r, stderr_r; /* pipes; -1 for a tty */
	int stdin_w;    /* pipe; -1 when stdin is closed or not open */
	int pty;        /* master, -1 until init sends it */
	bool started;
	char error[SYNC_MAX]; /* first failure reported by the container */
	/* What to undo if we fail before `ok` (and what to tidy at exit). */
	bool socket_created, netns_bound, netns_created, log_created, pid_written;
};

/* relay.c: the event loop after `ok`; returns the monitor's exit code. */
int relay_run(struct monitor *m);

/* monitor.c: removes what the monitor made (socket, netns bind). */
void monitor_cleanup(struct monitor *m);

#endif
