/*
 * A monitor: the parent of one process it watches (like conmon). `monitor`
 * watches a container's init, `exec` a process run in an existing container;
 * both then serve the same socket, log and exit file (PROTOCOL.md).
 */
#ifndef TDOCK_MONITOR_H
#define TDOCK_MONITOR_H

#include "child.h"
#include "config.h"
#include "logwriter.h"
#include "sync.h"
#include "util.h"

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
	FRAME_EXEC = 15,
	FRAME_EXEC_OK = 16,
	FRAME_EXEC_ERROR = 17,
	FRAME_FEATURES = 18,
	FRAME_QUIET = 19,
};

struct monitor {
	struct config cfg;
	pid_t pid;      /* the child we watch: the container's init or the exec'd process */
	unsigned long long start_time; /* its field 22 of /proc/PID/stat, in the `ok` line */
	int sync;       /* our end of the socketpair with the child */
	int listen_fd;
	struct logwriter log; /* fd -1 without a log file */
	int signal_fd;  /* SIGCHLD only */
	int devnull;
	int stdout_r, stderr_r; /* pipes; -1 for a tty */
	int stdin_w;    /* pipe; -1 when stdin is closed or not open */
	int pty;        /* master, -1 until the child sends it */
	bool started;
	bool accepts_exec; /* the container's monitor: forks exec-monitors on EXEC */
	char error[SYNC_MAX]; /* first failure reported by the child */
	/* What to undo if we fail before `ok` (and what to tidy at exit). */
	bool socket_created, netns_bound, netns_created;
};

/*
 * serve.c: the life of every monitor. Loads the config with load, runs setup
 * (which forks the child and waits until it is ready), prints `ok PID` or
 * `error: ...` (undoing everything), then relays until the child exits.
 * Returns the process's exit code.
 */
int monitor_serve(const char *config_path, int (*load)(const char *path, struct config *c),
		  int (*setup)(struct monitor *m));

/*
 * serve.c, steps for setup: open /dev/null, the log (when configured), the
 * stdio pipes, the sync socketpair and the listening socket, and block every
 * signal (SIGCHLD goes to signal_fd); f gets the child's ends.
 */
int monitor_prepare(struct monitor *m, struct child_fds *f);
/* In the parent after the fork/clone: keeps our ends, closes the child's. */
void monitor_forked(struct monitor *m, pid_t pid, const struct child_fds *f);
/* Waits for SYNC_READY (taking a SYNC_PTY on the way), or the child's error. */
int monitor_wait_ready(struct monitor *m);
/* Reads the child's start time and makes our ends non-blocking: the last step before `ok`. */
int monitor_finish_setup(struct monitor *m);
/* Writes pid (0: the caller) into every cgroupProcs file. */
int join_cgroups(const struct config *c, pid_t pid);
/* Removes what the monitor made (socket, netns bind). */
void monitor_cleanup(struct monitor *m);
/* Unmounts and removes the netns bind (when there is one); idempotent. */
void monitor_release_netns(struct monitor *m);

/* monitor.c: mounts the overlay (lower, upper, work, rootless) on c->rootfs. */
int mount_overlay(const struct config *c);

/* monitor.c: clones the container's init. */
int container_setup(struct monitor *m);

/* exec.c: forks a process into the running container. */
int exec_setup(struct monitor *m);

/*
 * exec.c, for EXEC: forks an exec-monitor for the exec config at path, a child
 * of the container's monitor and so already in the container's cgroups. Its
 * `ok PID` / `error: ...` line comes on *answer (a non-blocking pipe). Returns
 * its pid, or -1 (err says why).
 */
pid_t exec_spawn(const char *path, int *answer, struct shim_err *err);

/* relay.c: the event loop after `ok`; returns the monitor's exit code. */
int relay_run(struct monitor *m);

#endif
