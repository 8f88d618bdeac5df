#include "container.h"
#include "caps.h"
#include "init_loop.h"
#include "pty.h"
#include "rootfs.h"
#include "sync.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* Init's exit code when the container could not be set up (docker run uses 125 likewise). */
#define EXIT_SETUP_FAILED 125

static int sync_fd = -1;

static _Noreturn void fail(void)
{
	sync_send(sync_fd, SYNC_ERROR, g_err, -1);
	_exit(EXIT_SETUP_FAILED);
}

/* Waits for one message of the expected type; anything else means the monitor is gone. */
static void expect(char type)
{
	char text[SYNC_MAX];
	int fd;
	int t = sync_recv(sync_fd, text, &fd);
	if (fd >= 0)
		close(fd);
	if (t != type)
		_exit(EXIT_SETUP_FAILED);
}

/* /proc/1/cmdline is readable in the container: show a name, not the host's bundle path. */
static void rename_self(void)
{
	static const char name[] = "tdock-shim\0init";
	if (!g_argv_start || g_argv_end <= g_argv_start)
		return;
	size_t room = (size_t)(g_argv_end - g_argv_start);
	memset(g_argv_start, 0, room);
	memcpy(g_argv_start, name, sizeof name <= room ? sizeof name : room - 1);
}

static void setup_fds(const struct child_fds *f)
{
	/* Every descriptor the monitor opened is >= 3, so these dup2s cannot clobber a source. */
	if (dup2(f->stdin_r >= 0 ? f->stdin_r : f->devnull, 0) < 0 ||
	    dup2(f->stdout_w >= 0 ? f->stdout_w : f->devnull, 1) < 0 ||
	    dup2(f->stderr_w >= 0 ? f->stderr_w : f->devnull, 2) < 0)
		_exit(EXIT_SETUP_FAILED);
	sync_fd = f->sync;
	if (sync_fd != 3) {
		if (dup3(sync_fd, 3, O_CLOEXEC) < 0)
			_exit(EXIT_SETUP_FAILED);
		sync_fd = 3;
	}
	/* The monitor's socket, log file, signalfd... must not reach the container. */
	if (close_range(4, ~0U, 0) < 0)
		fail();
}

static int loopback_up(void)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return syserr("bring lo up: socket");
	struct ifreq ifr;
	memset(&ifr, 0, sizeof ifr);
	strcpy(ifr.ifr_name, "lo");
	int r = ioctl(s, SIOCGIFFLAGS, &ifr);
	if (r == 0) {
		ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
		r = ioctl(s, SIOCSIFFLAGS, &ifr);
	}
	if (r < 0)
		syserr("bring lo up");
	close(s);
	return r;
}

_Noreturn void container_main(const struct config *c, const struct child_fds *f)
{
	/* The monitor ignores SIGPIPE; ignored dispositions would survive exec. */
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	setup_fds(f);
	rename_self();
	/* The monitor's umask (077) would make mount points created in the image private. */
	umask(022);

	expect(SYNC_GO);
	/* Until now we were the overflow uid; the maps exist, become root of the namespace. */
	if (setresgid(0, 0, 0) < 0) {
		syserr("setresgid 0");
		fail();
	}
	if (setgroups(0, NULL) < 0) {
		syserr("setgroups");
		fail();
	}
	if (setresuid(0, 0, 0) < 0) {
		syserr("setresuid 0");
		fail();
	}
	/* After the uid change, which would reset it: a dead monitor takes the container along. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) {
		syserr("set the parent death signal");
		fail();
	}
	/* We already sit in our own cgroups, so they become the root of the cgroup view. */
	if (unshare(CLONE_NEWCGROUP) < 0) {
		syserr("unshare the cgroup namespace");
		fail();
	}
	if (sync_send(sync_fd, SYNC_READY, NULL, -1) < 0)
		_exit(EXIT_SETUP_FAILED);
	expect(SYNC_START);

	if (rootfs_setup(c) < 0)
		fail();
	if (c->hostname && sethostname(c->hostname, strlen(c->hostname)) < 0) {
		syserr("sethostname");
		fail();
	}
	if (!c->host_network && loopback_up() < 0)
		fail();

	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0) {
		syserr("open /dev/null in the container");
		fail();
	}
	char slave[64] = "";
	if (c->tty) {
		int master;
		if (pty_open(&master, slave, sizeof slave) < 0)
			fail();
		if (sync_send(sync_fd, SYNC_PTY, NULL, master) < 0) {
			syserr("send the pty to the monitor");
			fail();
		}
		close(master);
		/*
		 * Init holds the slave open for its whole life: otherwise the master
		 * reports a hangup (and the monitor would spin) whenever no process
		 * has the terminal open, e.g. before the command opened it.
		 */
		if (open(slave, O_RDWR | O_NOCTTY | O_CLOEXEC) < 0) {
			syserr("open %s", slave);
			fail();
		}
	}

	/* The bounding set and no_new_privs are inherited by the command: set them once here. */
	if (caps_drop_bounding(c->caps, c->cap_last) < 0)
		fail();
	if (c->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		syserr("set no_new_privs");
		fail();
	}

	/*
	 * Not dumpable from here on: /proc/1/exe (the host's tdock-shim, CVE-2019-5736),
	 * /proc/1/mem and ptrace need ptrace access, which this denies. The command
	 * becomes dumpable again when it execs.
	 */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
		syserr("clear the dumpable flag");
		fail();
	}
	pid_t pid = fork();
	if (pid < 0) {
		syserr("fork the command");
		fail();
	}
	if (pid == 0)
		command_main(c, sync_fd, devnull, c->tty ? slave : NULL);

	/*
	 * Init holds nothing of the command's stdio, so output ends when the command's
	 * does, and keeps only CAP_KILL: enough to signal a command running as another
	 * user. If either fails, init exits and the kernel kills the command with it.
	 */
	if (dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0 || dup2(devnull, 2) < 0) {
		syserr("init: dup2 /dev/null");
		fail();
	}
	close(devnull);
	if (caps_set(1ull << CAP_KILL) < 0)
		fail();
	close(sync_fd);
	_exit(init_loop(pid, c->tty));
}
