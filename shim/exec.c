/*
 * `tdock-shim exec`: runs one more process in a running container and then
 * monitors it like `monitor` does the container's init (same socket, frames,
 * log and exit file).
 *
 *   exec-monitor: pidfd_open(initPid), check its start time (a reused pid is
 *                 refused), socket/pipes, setns(pidfd, CLONE_NEWPID) so that
 *                 its next child is born in the container's pid namespace, fork.
 *   child:        joins the cgroups (still seeing the host's cgroupfs), then
 *                 setns(pidfd, user|mnt|uts|ipc|net|cgroup) in one call, becomes
 *                 uid 0 of the container, opens its pty in the container's
 *                 devpts, drops the bounding set, no_new_privs, READY; after
 *                 START the same command_main as the container's command.
 *
 * One fork is enough: the child is a real member of the pid namespace (it has
 * a pid there; its orphans go to the container's init) and the exec-monitor is
 * its parent, so it reaps it and its pid can never be reused under it.
 *
 * For an EXEC frame the container's monitor forks the exec-monitor (exec_spawn):
 * it is born in the container's cgroups, so cgroupProcs is ignored and nothing
 * migrates (PROTOCOL.md, EXEC).
 */
#include "child.h"
#include "container.h"
#include "monitor.h"
#include "sync.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define INIT_GONE "container init is gone"

/* The namespaces the child joins (the pid namespace it was born in). */
#define JOIN_FLAGS (CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWCGROUP)

static const char exec_name[] = "tdock-shim\0exec";

/* A zombie counts as gone: it has no namespaces left to join. */
static int check_start_time(pid_t pid, unsigned long long want)
{
	unsigned long long start;
	int r = proc_start_time(pid, &start);
	if (r == -2)
		return -1;
	if (r != 0 || start != want)
		return seterr(INIT_GONE);
	return 0;
}

/*
 * The host id that id 0 of init's user namespace maps to (map: "uid_map" or
 * "gid_map"); an exec config has no maps. Lines are "inside outside count".
 */
static int read_root_id(pid_t pid, const char *map, unsigned long *out)
{
	char path[32], buf[340 * 34]; /* at most 340 lines of 33 bytes */
	snprintf(path, sizeof path, "/proc/%d/%s", pid, map);
	if (read_small_file(path, buf, sizeof buf) < 0)
		return -1;
	unsigned long inside, outside, count;
	int used;
	for (const char *p = buf; sscanf(p, "%lu %lu %lu%n", &inside, &outside, &count, &used) == 3; p += used)
		if (inside == 0) {
			*out = outside;
			return 0;
		}
	return seterr("read %s: no range for id 0 (the container's root)", path);
}

static int read_root_ids(struct config *c)
{
	unsigned long uid = 0, gid = 0;
	if (read_root_id(c->init_pid, "uid_map", &uid) < 0 || read_root_id(c->init_pid, "gid_map", &gid) < 0)
		return -1;
	c->root_uid = (uid_t)uid;
	c->root_gid = (gid_t)gid;
	return 0;
}

static int open_init(struct config *c)
{
	int fd = pidfd_open(c->init_pid, 0);
	if (fd < 0)
		return errno == ESRCH ? seterr(INIT_GONE) : syserr("pidfd_open %d", c->init_pid);
	/*
	 * Read between pidfd_open and the start-time check: when that matches, init
	 * held its pid all along, so these were its maps. If it fails, init is gone,
	 * which is the error to report (it overwrites the read's).
	 */
	int maps = read_root_ids(c);
	/* Only now is the answer final: the pidfd pins the process we checked. */
	if (check_start_time(c->init_pid, c->init_start_time) < 0 || maps < 0) {
		close(fd);
		return -1;
	}
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		syserr("pidfd: FD_CLOEXEC");
		close(fd);
		return -1;
	}
	return fd;
}

static void fail_setns(const char *what)
{
	/* ESRCH: init died since we checked it. */
	if (errno == ESRCH)
		seterr(INIT_GONE);
	else
		syserr("%s", what);
	child_fail();
}

static _Noreturn void exec_child(const struct config *c, const struct child_fds *f, int pidfd)
{
	g_child_sync = f->sync;
	child_reset_signals();
	child_rename(exec_name, sizeof exec_name);
	/* Before the dumpable flag goes: /proc/self would then be root's (rootless). */
	child_restore_oom_score();
	child_limit_open_files();
	/*
	 * Not dumpable until the command execs: once we are root of the container's
	 * user namespace, its processes could otherwise ptrace us and take the
	 * host's descriptors we still hold (CVE-2016-9962).
	 */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
		syserr("clear the dumpable flag");
		child_fail();
	}
	/* "0" is the writer itself; only possible before we see the container's cgroupfs. */
	if (join_cgroups(c, 0) < 0)
		child_fail();
	struct stat host_root, root;
	if (stat("/", &host_root) < 0) {
		syserr("stat /");
		child_fail();
	}
	if (setns(pidfd, JOIN_FLAGS) < 0)
		fail_setns("join the container's namespaces");
	close(pidfd);
	/*
	 * Init may not have pivoted yet (the verb has no monitor to wait for): then
	 * the mount namespace's root is still the host's. Never run there.
	 */
	if (stat("/", &root) < 0) {
		syserr("stat / in the container");
		child_fail();
	}
	if (root.st_dev == host_root.st_dev && root.st_ino == host_root.st_ino) {
		seterr("exec: the container's root filesystem is not set up yet");
		child_fail();
	}
	child_setup_fds(f);
	child_become_root();
	char slave[64];
	int devnull = child_open_stdio(c, slave, sizeof slave);
	child_restrict(c);
	if (sync_send(g_child_sync, SYNC_READY, NULL, -1) < 0)
		_exit(EXIT_SETUP_FAILED);
	child_expect(SYNC_START);
	command_main(c, g_child_sync, devnull, c->tty ? slave : NULL);
}

int exec_setup(struct monitor *m)
{
	struct config *c = &m->cfg;
	int pidfd = open_init(c);
	if (pidfd < 0)
		return -1;
	struct child_fds f;
	int r = monitor_prepare(m, &f);
	/* Only our children are affected: the exec-monitor itself stays in the host's namespace. */
	if (r == 0 && setns(pidfd, CLONE_NEWPID) < 0)
		r = errno == ESRCH ? seterr(INIT_GONE) : syserr("join the container's pid namespace");
	pid_t pid = -1;
	if (r == 0) {
		pid = fork();
		/* ENOMEM: the pid namespace has no init any more. */
		if (pid < 0)
			r = errno == ENOMEM ? seterr(INIT_GONE) : syserr("fork");
	}
	if (pid == 0)
		exec_child(c, &f, pidfd);
	close(pidfd);
	if (r < 0)
		return -1;
	monitor_forked(m, pid, &f);
	if (monitor_wait_ready(m) < 0)
		return -1;
	return monitor_finish_setup(m);
}

/* Forked by the container's monitor: already in its cgroups, cgroupProcs is ignored. */
static int load_joined(const char *path, struct config *c)
{
	if (config_load_exec(path, c) < 0)
		return -1;
	c->n_cgroup_procs = 0;
	return 0;
}

/*
 * The exec-monitor forked for EXEC: drops everything of the container's
 * monitor, then is `tdock-shim exec PATH` with its stdout on the answer pipe.
 */
static _Noreturn void exec_monitor_main(const char *path, int answer)
{
	if (dup2(answer, 1) < 0)
		_exit(1);
	/* The monitor's socket, clients, pipes, pty, log, signalfd: all >= 3. */
	if (close_range(3, ~0U, 0) < 0) {
		dprintf(1, "error: close_range: %s\n", errstr(errno));
		_exit(1);
	}
	child_reset_signals();
	sigset_t none;
	sigemptyset(&none);
	if (sigprocmask(SIG_SETMASK, &none, NULL) < 0 || setsid() < 0) {
		dprintf(1, "error: detach from the container's monitor: %s\n", errstr(errno));
		_exit(1);
	}
	/* As `ps` shows the verb: `tdock-shim exec PATH` (cut to the room argv has). */
	char name[sizeof exec_name + PATH_MAX];
	size_t len = strlen(path) + 1;
	if (len > PATH_MAX)
		len = PATH_MAX;
	memcpy(name, exec_name, sizeof exec_name);
	memcpy(name + sizeof exec_name, path, len);
	name[sizeof exec_name + len - 1] = '\0';
	child_rename(name, sizeof exec_name + len);
	/* Our own copy: the monitor's buffers are reset by the relay we are about to run. */
	_exit(monitor_serve(name + sizeof exec_name, load_joined, exec_setup));
}

pid_t exec_spawn(const char *path, int *answer, struct shim_err *err)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return err_set(err, "pipe for the exec-monitor: %s", errstr(errno));
	if (fcntl(p[0], F_SETFL, O_NONBLOCK) < 0) {
		err_set(err, "pipe for the exec-monitor: O_NONBLOCK: %s", errstr(errno));
		close(p[0]);
		close(p[1]);
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		err_set(err, "fork the exec-monitor: %s", errstr(errno));
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0)
		exec_monitor_main(path, p[1]);
	close(p[1]);
	*answer = p[0];
	return pid;
}
