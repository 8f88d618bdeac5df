#include "init_loop.h"
#include "util.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

static int status_to_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 255;
}

/*
 * Blocking fallback when signalfd cannot be used: reap everything (orphans
 * included) until the command exits. Signals are no longer forwarded, but
 * the command is still waited for and no zombie is left.
 */
static int wait_command(pid_t command)
{
	for (;;) {
		/* Set before every call: a failing waitpid leaves it untouched. */
		int status = 0;
		pid_t p = waitpid(-1, &status, 0);
		if (p < 0) {
			if (errno == EINTR)
				continue;
			/*
			 * ECHILD: the command is not ours to wait for any more. There is
			 * no status to read, so do not invent one from garbage: 255.
			 */
			return 255;
		}
		if (p == command && (WIFEXITED(status) || WIFSIGNALED(status)))
			return status_to_code(status);
	}
}

int init_loop(pid_t command, bool group)
{
	sigset_t all;
	sigfillset(&all);
	int sfd = signalfd(-1, &all, SFD_CLOEXEC);
	if (sfd < 0) {
		/* Without signalfd we cannot forward; the least bad thing is to wait for the command. */
		return wait_command(command);
	}
	for (;;) {
		struct signalfd_siginfo si;
		ssize_t n = read(sfd, &si, sizeof si);
		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof si) {
			/*
			 * A blocking signalfd returns whole records or fails; a failure
			 * here would repeat on every read, and retrying would spin at
			 * 100% CPU forever. Fall back to waiting for the command.
			 */
			close(sfd);
			return wait_command(command);
		}
		if (si.ssi_signo != SIGCHLD) {
			/* The command may already be gone (ESRCH): nothing to do then. */
			kill(group ? -command : command, (int)si.ssi_signo);
			continue;
		}
		/* SIGCHLDs coalesce: reap everything that is ready, orphans included. */
		for (;;) {
			int status = 0;
			pid_t p = waitpid(-1, &status, WNOHANG);
			if (p <= 0)
				break;
			if (p == command && (WIFEXITED(status) || WIFSIGNALED(status)))
				return status_to_code(status);
		}
	}
}
