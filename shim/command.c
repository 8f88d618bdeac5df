#include "caps.h"
#include "container.h"
#include "seccomp.h"
#include "sync.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

/* Docker's codes: 126 the command could not be invoked, 127 it was not found. */
#define EXIT_CANNOT_INVOKE 126
#define EXIT_NOT_FOUND 127

static int sync_fd = -1;

static _Noreturn void fail(int code)
{
	sync_send(sync_fd, SYNC_EXEC_ERROR, g_err, -1);
	_exit(code);
}

static void setup_stdio(const struct config *c, int devnull, const char *tty_slave)
{
	if (setsid() < 0) {
		syserr("setsid");
		fail(EXIT_CANNOT_INVOKE);
	}
	if (tty_slave) {
		/* A session leader opening a tty without O_NOCTTY acquires it; TIOCSCTTY makes it explicit. */
		int fd = open(tty_slave, O_RDWR);
		if (fd < 0) {
			syserr("open %s", tty_slave);
			fail(EXIT_CANNOT_INVOKE);
		}
		if (ioctl(fd, TIOCSCTTY, 0) < 0) {
			syserr("make %s the controlling terminal", tty_slave);
			fail(EXIT_CANNOT_INVOKE);
		}
		if (dup2(fd, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0) {
			syserr("dup2 the pty");
			fail(EXIT_CANNOT_INVOKE);
		}
		if (fd > 2)
			close(fd);
	} else if (!c->open_stdin && dup2(devnull, 0) < 0) {
		syserr("dup2 /dev/null");
		fail(EXIT_CANNOT_INVOKE);
	}
	close(devnull);
}

/*
 * Opening stdio again by path (/dev/stdout is /proc/self/fd/1) checks the
 * owner and mode of the pipe or pty like for any file. Both belong to the
 * container's root (the monitor chowned the pipes, a pty is its opener's): a
 * command run as another user gets them, as with runc. Only the uid changes.
 */
static void give_stdio_to_user(const struct config *c)
{
	static const char *const names[] = { "stdin", "stdout", "stderr" };
	for (int fd = 0; fd < 3; fd++) {
		struct stat st;
		if (fstat(fd, &st) < 0) {
			syserr("stat %s", names[fd]);
			fail(EXIT_CANNOT_INVOKE);
		}
		/* Otherwise it is /dev/null: the host's node, never ours to give away. */
		bool pipe_or_pty = S_ISFIFO(st.st_mode) || (c->tty && S_ISCHR(st.st_mode));
		if (!pipe_or_pty || st.st_uid == c->uid)
			continue;
		/*
		 * EINVAL: the uid is not mapped, and the user switch says so next.
		 * EPERM: the pipe's owner is not mapped in here (a rootless monitor
		 * could not give it to the container's root); it stays as it is.
		 */
		if (fchown(fd, c->uid, (gid_t)-1) < 0 && errno != EINVAL && errno != EPERM) {
			syserr("chown %s to uid %u", names[fd], (unsigned)c->uid);
			fail(EXIT_CANNOT_INVOKE);
		}
	}
}

static void switch_user(const struct config *c)
{
	/* Taken while the death signal is still armed: if the parent dies after this, we notice below. */
	pid_t parent = getppid();
	if (setgroups(c->n_groups, c->groups) < 0) {
		syserr("setgroups");
		fail(EXIT_CANNOT_INVOKE);
	}
	if (setresgid(c->gid, c->gid, c->gid) < 0) {
		syserr("setresgid %u", (unsigned)c->gid);
		fail(EXIT_CANNOT_INVOKE);
	}
	/* Keep the permitted set across the uid change so caps_set can pick from it. */
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0 || setresuid(c->uid, c->uid, c->uid) < 0 ||
	    prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0) {
		syserr("setresuid %u", (unsigned)c->uid);
		fail(EXIT_CANNOT_INVOKE);
	}
	if (caps_set(c->caps) < 0)
		fail(EXIT_CANNOT_INVOKE);
	/*
	 * A uid change clears the parent death signal: re-arm it, so an exec'd
	 * command dies with its exec-monitor whatever its user (as a container dies
	 * with its monitor). For the container's command, init is the parent.
	 */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) {
		syserr("set the parent death signal");
		fail(EXIT_CANNOT_INVOKE);
	}
	/* Our parent died before the signal was armed: it would never come. */
	if (getppid() != parent)
		_exit(EXIT_CANNOT_INVOKE);
}

static void enter_cwd(const struct config *c)
{
	if (chdir(c->cwd) < 0) {
		syserr("chdir %s", c->cwd);
		fail(EXIT_CANNOT_INVOKE);
	}
	/*
	 * CVE-2024-21626: a cwd reached through a leaked host descriptor lies outside
	 * our root; the kernel then reports it as "(unreachable)..." and glibc as ENOENT.
	 */
	char buf[PATH_MAX];
	if (!getcwd(buf, sizeof buf) || buf[0] != '/') {
		seterr("chdir %s: the working directory is outside the container", c->cwd);
		fail(EXIT_CANNOT_INVOKE);
	}
}

static void restrict_syscalls(const struct config *c)
{
	if (c->seccomp && seccomp_install_default() < 0)
		fail(EXIT_CANNOT_INVOKE);
}

_Noreturn void command_main(const struct config *c, int sync, int devnull, const char *tty_slave)
{
	extern char **environ;
	sync_fd = sync;
	setup_stdio(c, devnull, tty_slave);
	give_stdio_to_user(c);
	/*
	 * Installing a filter takes no_new_privs or CAP_SYS_ADMIN in our user namespace;
	 * the user switch drops the latter. Without no_new_privs the filter goes in
	 * here, before it (it blocks nothing the remaining steps use); otherwise last.
	 */
	if (!c->no_new_privs)
		restrict_syscalls(c);
	switch_user(c);
	enter_cwd(c);
	umask(022);
	environ = c->env;
	/* Last line of defence against leaks: nothing but 0-2 survives the exec. */
	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
		syserr("close_range");
		fail(EXIT_CANNOT_INVOKE);
	}
	if (c->no_new_privs)
		restrict_syscalls(c);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execvp(c->args[0], c->args);

	int err = errno;
	if (err == ENOENT && !strchr(c->args[0], '/'))
		seterr("exec %s: executable file not found in $PATH", c->args[0]);
	else
		syserr("exec %s", c->args[0]);
	/* Block again so a forwarded signal cannot stop the report. */
	sigset_t all;
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	fail(err == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_INVOKE);
}
