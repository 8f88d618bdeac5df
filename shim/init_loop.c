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

int init_loop(pid_t command, bool group)
{
	sigset_t all;
	sigfillset(&all);
	int sfd = signalfd(-1, &all, SFD_CLOEXEC);
	if (sfd < 0) {
		/* Without signalfd we cannot reap; the least bad thing is to wait for the command. */
		int status;
		while (waitpid(command, &status, 0) < 0 && errno == EINTR)
			;
		return status_to_code(status);
	}
	for (;;) {
		struct signalfd_siginfo si;
		ssize_t n = read(sfd, &si, sizeof si);
		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof si)
			continue;
		if (si.ssi_signo != SIGCHLD) {
			/* The command may already be gone (ESRCH): nothing to do then. */
			kill(group ? -command : command, (int)si.ssi_signo);
			continue;
		}
		/* SIGCHLDs coalesce: reap everything that is ready, orphans included. */
		for (;;) {
			int status;
			pid_t p = waitpid(-1, &status, WNOHANG);
			if (p <= 0)
				break;
			if (p == command && (WIFEXITED(status) || WIFSIGNALED(status)))
				return status_to_code(status);
		}
	}
}
