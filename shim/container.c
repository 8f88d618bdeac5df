#include "container.h"
#include "caps.h"
#include "child.h"
#include "init_loop.h"
#include "pty.h"
#include "rootfs.h"
#include "sync.h"
#include "util.h"
#include "workdir.h"

#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <net/if.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* /proc/1/cmdline is readable in the container: show a name, not the host's bundle path. */
static const char init_name[] = "tdock-shim\0init";

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
	child_reset_signals();
	child_setup_fds(f);
	child_limit_open_files();
	child_rename(init_name, sizeof init_name);
	/* The monitor's umask (077) would make mount points created in the image private. */
	umask(022);

	/* The monitor's idmapped binds (bindtree.c), then GO. */
	for (;;) {
		char text[SYNC_MAX];
		int fd;
		int t = sync_recv(g_child_sync, text, &fd);
		if (t == SYNC_MOUNT) {
			if (rootfs_take_tree(c, text, fd) < 0)
				child_fail();
			continue;
		}
		if (fd >= 0)
			close(fd);
		if (t != SYNC_GO)
			_exit(EXIT_SETUP_FAILED);
		break;
	}
	/* The maps exist now. */
	child_become_root();
	/* Which hierarchies to mount (rootfs_setup): only the host's view says where we sit. */
	if (rootfs_note_cgroups() < 0)
		child_fail();
	/* We already sit in our own cgroups, so they become the root of the cgroup view. */
	if (unshare(CLONE_NEWCGROUP) < 0) {
		syserr("unshare the cgroup namespace");
		child_fail();
	}
	if (sync_send(g_child_sync, SYNC_READY, NULL, -1) < 0)
		_exit(EXIT_SETUP_FAILED);
	child_expect(SYNC_START);

	if (rootfs_setup(c) < 0)
		child_fail();
	/* Before any exec can join: nothing of the container runs while the path is walked. */
	if (workdir_make(c) < 0 || rootfs_readonly(c) < 0)
		child_fail();
	if (c->hostname && sethostname(c->hostname, strlen(c->hostname)) < 0) {
		syserr("sethostname");
		child_fail();
	}
	if (!c->host_network && loopback_up() < 0)
		child_fail();
	/*
	 * Only now may an exec join our mount namespace: before, its root would be
	 * the host's (and a cwd taken there would survive the pivot). The monitor
	 * holds EXEC requests back until this message.
	 */
	if (sync_send(g_child_sync, SYNC_ROOTFS, NULL, -1) < 0)
		_exit(EXIT_SETUP_FAILED);

	char slave[64] = "";
	int devnull = child_open_stdio(c, slave, sizeof slave);
	child_restrict(c);

	/*
	 * Not dumpable from here on: /proc/1/exe (a sealed copy of tdock-shim, seal.c),
	 * /proc/1/mem and ptrace need ptrace access, which this denies. The command
	 * becomes dumpable again when it execs.
	 */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
		syserr("clear the dumpable flag");
		child_fail();
	}
	pid_t pid = fork();
	if (pid < 0) {
		syserr("fork the command");
		child_fail();
	}
	if (pid == 0)
		command_main(c, g_child_sync, devnull, c->tty ? slave : NULL);

	/*
	 * Init holds nothing of the command's stdio, so output ends when the command's
	 * does, and keeps only CAP_KILL: enough to signal a command running as another
	 * user. If either fails, init exits and the kernel kills the command with it.
	 */
	if (dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0 || dup2(devnull, 2) < 0) {
		syserr("init: dup2 /dev/null");
		child_fail();
	}
	close(devnull);
	if (caps_set(1ull << CAP_KILL) < 0)
		child_fail();
	close(g_child_sync);
	_exit(init_loop(pid, c->tty));
}
