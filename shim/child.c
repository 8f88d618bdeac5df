#include "child.h"
#include "caps.h"
#include "pty.h"
#include "sync.h"
#include "util.h"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <string.h>
#include <unistd.h>

int g_child_sync = -1;
char *g_argv_start, *g_argv_end;
char g_oom_score_adj[16];

_Noreturn void child_fail(void)
{
	sync_send(g_child_sync, SYNC_ERROR, g_err, -1);
	_exit(EXIT_SETUP_FAILED);
}

void child_reset_signals(void)
{
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
}

void child_rename(const char *name, size_t size)
{
	if (!g_argv_start || g_argv_end <= g_argv_start)
		return;
	size_t room = (size_t)(g_argv_end - g_argv_start);
	memset(g_argv_start, 0, room);
	memcpy(g_argv_start, name, size <= room ? size : room - 1);
}

void child_setup_fds(const struct child_fds *f)
{
	/* Every descriptor the monitor opened is >= 3, so these dup2s cannot clobber a source. */
	if (dup2(f->stdin_r >= 0 ? f->stdin_r : f->devnull, 0) < 0 ||
	    dup2(f->stdout_w >= 0 ? f->stdout_w : f->devnull, 1) < 0 ||
	    dup2(f->stderr_w >= 0 ? f->stderr_w : f->devnull, 2) < 0)
		_exit(EXIT_SETUP_FAILED);
	g_child_sync = f->sync;
	if (g_child_sync != 3) {
		if (dup3(g_child_sync, 3, O_CLOEXEC) < 0)
			_exit(EXIT_SETUP_FAILED);
		g_child_sync = 3;
	}
	/* The monitor's socket, log file, signalfd... must not reach the container. */
	if (close_range(4, ~0U, 0) < 0) {
		syserr("close_range");
		child_fail();
	}
}

void child_become_root(void)
{
	/* Until now we were the overflow uid (or host root): become root of the namespace. */
	if (setresgid(0, 0, 0) < 0) {
		syserr("setresgid 0");
		child_fail();
	}
	if (setgroups(0, NULL) < 0) {
		syserr("setgroups");
		child_fail();
	}
	if (setresuid(0, 0, 0) < 0) {
		syserr("setresuid 0");
		child_fail();
	}
	/* After the uid change, which would reset it: a dead monitor takes us along. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) {
		syserr("set the parent death signal");
		child_fail();
	}
	/*
	 * Init and an exec's child both live in a pid namespace their monitor is
	 * outside of, so their parent is pid 0 to them. Anything else: the monitor
	 * died before the signal was armed (an exec's child went to the container's
	 * init), and the signal will never come.
	 */
	if (getppid() != 0)
		_exit(EXIT_SETUP_FAILED);
}

void child_expect(char type)
{
	char text[SYNC_MAX];
	int fd;
	int t = sync_recv(g_child_sync, text, &fd);
	if (fd >= 0)
		close(fd);
	if (t != type)
		_exit(EXIT_SETUP_FAILED);
}

int child_open_stdio(const struct config *c, char *slave, size_t size)
{
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0) {
		syserr("open /dev/null in the container");
		child_fail();
	}
	slave[0] = '\0';
	if (!c->tty)
		return devnull;
	int master;
	if (pty_open(&master, slave, size) < 0)
		child_fail();
	/* Sized before the command runs: a RESIZE from the client would come after it looked. */
	if (c->tty_rows && c->tty_cols && pty_resize(master, c->tty_rows, c->tty_cols) < 0)
		child_fail();
	if (sync_send(g_child_sync, SYNC_PTY, NULL, master) < 0) {
		syserr("send the pty to the monitor");
		child_fail();
	}
	close(master);
	/*
	 * We hold the slave open (init for its whole life, exec until its command
	 * execs): otherwise the master reports a hangup (and the monitor would spin)
	 * whenever no process has the terminal open, e.g. before the command opened it.
	 */
	if (open(slave, O_RDWR | O_NOCTTY | O_CLOEXEC) < 0) {
		syserr("open %s", slave);
		child_fail();
	}
	return devnull;
}

void child_restore_oom_score(void)
{
	/*
	 * Raising the score needs no privilege; done while we are still host root
	 * (CAP_SYS_RESOURCE), it also raises the floor below which the command may
	 * not lower it again (-1000, inherited from the monitor, otherwise).
	 */
	if (g_oom_score_adj[0] &&
	    write_file("/proc/self/oom_score_adj", g_oom_score_adj, strlen(g_oom_score_adj)) < 0)
		child_fail();
}

void child_limit_open_files(void)
{
	/*
	 * Never above our hard limit: raising it needs CAP_SYS_RESOURCE on the host,
	 * which a rootless monitor lacks and init no longer has. Setting both also
	 * lifts a soft limit below the hard one, which the command would inherit.
	 */
	struct rlimit r;
	if (getrlimit(RLIMIT_NOFILE, &r) < 0) {
		syserr("get RLIMIT_NOFILE");
		child_fail();
	}
	rlim_t n = r.rlim_max < CONTAINER_NOFILE ? r.rlim_max : CONTAINER_NOFILE;
	r.rlim_cur = r.rlim_max = n;
	if (setrlimit(RLIMIT_NOFILE, &r) < 0) {
		syserr("set RLIMIT_NOFILE to %lu", (unsigned long)n);
		child_fail();
	}
}

void child_restrict(const struct config *c)
{
	/* The bounding set and no_new_privs are inherited by the command: set them once here. */
	if (caps_drop_bounding(c->caps, c->cap_last) < 0)
		child_fail();
	if (c->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		syserr("set no_new_privs");
		child_fail();
	}
}
