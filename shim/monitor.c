#include "monitor.h"
#include "bindtree.h"
#include "container.h"
#include "sync.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * The overlay goes into a private mount namespace of our own, so it is never
 * visible on the host and dies with the container. overlayfs reports the
 * reason for a failure through the fs context, read back for the error.
 */
int mount_overlay(const struct config *c)
{
	int fs = fsopen("overlay", FSOPEN_CLOEXEC);
	if (fs < 0)
		return syserr("mount overlay: fsopen");
	int r = 0;
	/* lowerdir+ takes one layer at a time: no length limit, no escaping of ':' or ','. */
	for (size_t i = 0; i < c->n_lower && r == 0; i++)
		r = fsconfig(fs, FSCONFIG_SET_STRING, "lowerdir+", c->lower[i], 0);
	if (r == 0)
		r = fsconfig(fs, FSCONFIG_SET_STRING, "upperdir", c->upper, 0);
	if (r == 0)
		r = fsconfig(fs, FSCONFIG_SET_STRING, "workdir", c->work, 0);
	/* Unprivileged overlay (rootless) must keep its whiteouts in user.* xattrs. */
	if (r == 0 && c->rootless)
		r = fsconfig(fs, FSCONFIG_SET_FLAG, "userxattr", NULL, 0);
	if (r == 0)
		r = fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0);
	if (r < 0) {
		int saved = errno;
		char log[256];
		ssize_t n = read(fs, log, sizeof log - 1);
		close(fs);
		if (n > 2) {
			log[n] = '\0';
			log[strcspn(log, "\n")] = '\0';
			return seterr("mount overlay: %s (%s)", errstr(saved), log + 2);
		}
		errno = saved;
		return syserr("mount overlay");
	}
	int mnt = fsmount(fs, FSMOUNT_CLOEXEC, 0);
	close(fs);
	if (mnt < 0)
		return syserr("mount overlay: fsmount");
	r = move_mount(mnt, "", AT_FDCWD, c->rootfs, MOVE_MOUNT_F_EMPTY_PATH);
	close(mnt);
	if (r < 0)
		return syserr("mount overlay on %s", c->rootfs);
	return 0;
}

static int format_map(char *buf, size_t size, const struct id_range *r, size_t n)
{
	size_t len = 0;
	for (size_t i = 0; i < n; i++) {
		int w = snprintf(buf + len, size - len, "%lu %lu %lu\n", r[i].container_id, r[i].host_id, r[i].size);
		if (w < 0 || (size_t)w >= size - len)
			return seterr("id map too long");
		len += (size_t)w;
	}
	return (int)len;
}

/* newuidmap/newgidmap PID triples...: the setuid helpers check /etc/subuid for us. */
static int run_idmap_helper(struct monitor *m, const char *tool, const struct id_range *r, size_t n)
{
	char *argv[3 + 3 * 340 + 1];
	char nums[1 + 3 * 340][16];
	size_t a = 0, k = 0;
	argv[a++] = (char *)tool;
	snprintf(nums[k], sizeof nums[k], "%d", m->pid);
	argv[a++] = nums[k++];
	for (size_t i = 0; i < n; i++) {
		unsigned long v[3] = { r[i].container_id, r[i].host_id, r[i].size };
		for (int j = 0; j < 3; j++) {
			snprintf(nums[k], sizeof nums[k], "%lu", v[j]);
			argv[a++] = nums[k++];
		}
	}
	argv[a] = NULL;
	pid_t pid = fork();
	if (pid < 0)
		return syserr("%s: fork", tool);
	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		/* Its complaints must not pollute the one-line answer on stdout. */
		dup2(m->devnull, 0);
		dup2(m->devnull, 1);
		dup2(m->devnull, 2);
		execvp(tool, argv);
		_exit(127);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return syserr("%s: wait", tool);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return seterr("%s: failed (status %d)", tool, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	return 0;
}

static int write_id_maps(struct monitor *m)
{
	const struct config *c = &m->cfg;
	/*
	 * A rootless monitor that is root in the daemon's own user namespace (the
	 * launcher mapped the user's ranges there) writes the maps itself, as root does;
	 * only one running as the plain user needs the setuid helpers.
	 */
	if (c->rootless && geteuid() != 0)
		return run_idmap_helper(m, "newuidmap", c->uid_map, c->n_uid_map) < 0 ? -1
		       : run_idmap_helper(m, "newgidmap", c->gid_map, c->n_gid_map);
	char path[64], buf[340 * 36];
	int len = format_map(buf, sizeof buf, c->uid_map, c->n_uid_map);
	snprintf(path, sizeof path, "/proc/%d/uid_map", m->pid);
	if (len < 0 || write_file(path, buf, (size_t)len) < 0)
		return -1;
	len = format_map(buf, sizeof buf, c->gid_map, c->n_gid_map);
	snprintf(path, sizeof path, "/proc/%d/gid_map", m->pid);
	if (len < 0 || write_file(path, buf, (size_t)len) < 0)
		return -1;
	return 0;
}

static int bind_netns(struct monitor *m)
{
	const char *path = m->cfg.netns_path;
	if (!path || m->cfg.host_network)
		return 0;
	int fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
	if (fd >= 0) {
		m->netns_created = true;
		close(fd);
	} else if (errno != EEXIST) {
		return syserr("create %s", path);
	}
	char src[64];
	snprintf(src, sizeof src, "/proc/%d/ns/net", m->pid);
	if (mount(src, path, NULL, MS_BIND, NULL) < 0)
		return syserr("bind the network namespace on %s", path);
	m->netns_bound = true;
	return 0;
}

/*
 * The container's OOM kills must never pick us (we are in its memory cgroup):
 * -1000. Our old score is kept for the execs we fork. Without CAP_SYS_RESOURCE
 * (rootless, or a root without it) the kernel refuses to go below the score we
 * inherited: we keep that one, and the execs need nothing back.
 */
static int protect_from_oom(void)
{
	const char *path = "/proc/self/oom_score_adj";
	char old[sizeof g_oom_score_adj];
	if (read_small_file(path, old, sizeof old) < 0)
		return -1;
	old[strcspn(old, "\n")] = '\0';
	if (write_file(path, "-1000", 5) < 0)
		return errno == EACCES ? 0 : -1;
	memcpy(g_oom_score_adj, old, sizeof old);
	return 0;
}

int container_setup(struct monitor *m)
{
	struct config *c = &m->cfg;
	struct child_fds f;
	if (monitor_prepare(m, &f) < 0)
		return -1;

	/* Back to the host's mount namespace after the clone (netnsPath must be visible there). */
	int host_mnt = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
	if (host_mnt < 0)
		return syserr("open /proc/self/ns/mnt");
	if (unshare(CLONE_NEWNS) < 0)
		return syserr("unshare the mount namespace");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return syserr("make / private");
	if (c->has_overlay && mount_overlay(c) < 0)
		return -1;

	/*
	 * We join the container's cgroups ourselves (one burst of migrations) and
	 * init is born in them: every exec-monitor we fork later is too, so an exec
	 * needs no migration (PROTOCOL.md, EXEC).
	 */
	if (join_cgroups(c, 0) < 0)
		return -1;
	unsigned long flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | SIGCHLD;
	if (!c->host_network)
		flags |= CLONE_NEWNET;
	/* Raw clone: fork semantics (copied stack), several namespaces at once. */
	pid_t pid = (pid_t)syscall(SYS_clone, flags, NULL, NULL, NULL, NULL);
	if (pid < 0)
		return syserr("clone");
	if (pid == 0)
		container_main(c, &f);
	monitor_forked(m, pid, &f);
	/* After the clone: init keeps the score it inherited. */
	if (protect_from_oom() < 0)
		return -1;

	if (setns(host_mnt, CLONE_NEWNS) < 0)
		return syserr("return to the host mount namespace");
	close(host_mnt);

	if (write_id_maps(m) < 0)
		return -1;
	/* Idmapped binds need init's user namespace with its maps; init takes them before GO. */
	if (bindtree_send(c, m->pid, m->sync) < 0)
		return -1;
	if (sync_send(m->sync, SYNC_GO, NULL, -1) < 0)
		return syserr("signal the container");
	if (monitor_wait_ready(m) < 0 || bind_netns(m) < 0)
		return -1;
	/*
	 * EXEC makes exec-monitors our children. One that dies early (killed when its
	 * client went away) leaves its exec'd child to us, not to the host's init:
	 * we reap it at once like them.
	 */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
		return syserr("become a child subreaper");
	m->accepts_exec = true;
	return monitor_finish_setup(m);
}
