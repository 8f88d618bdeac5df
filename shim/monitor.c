#include "monitor.h"
#include "container.h"
#include "sync.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* How long the container may take to switch ids before we call it stuck. */
#define READY_TIMEOUT_MS 10000

char *g_argv_start, *g_argv_end;

/*
 * The overlay goes into a private mount namespace of our own, so it is never
 * visible on the host and dies with the container. overlayfs reports the
 * reason for a failure through the fs context, read back for the error.
 */
static int mount_overlay(const struct config *c)
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
	snprintf(nums[k], sizeof nums[k], "%d", m->init_pid);
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
	if (c->rootless)
		return run_idmap_helper(m, "newuidmap", c->uid_map, c->n_uid_map) < 0 ? -1
		       : run_idmap_helper(m, "newgidmap", c->gid_map, c->n_gid_map);
	char path[64], buf[340 * 36];
	int len = format_map(buf, sizeof buf, c->uid_map, c->n_uid_map);
	snprintf(path, sizeof path, "/proc/%d/uid_map", m->init_pid);
	if (len < 0 || write_file(path, buf, (size_t)len) < 0)
		return -1;
	len = format_map(buf, sizeof buf, c->gid_map, c->n_gid_map);
	snprintf(path, sizeof path, "/proc/%d/gid_map", m->init_pid);
	if (len < 0 || write_file(path, buf, (size_t)len) < 0)
		return -1;
	return 0;
}

static int join_cgroups(struct monitor *m)
{
	char pid[16];
	int n = snprintf(pid, sizeof pid, "%d", m->init_pid);
	for (size_t i = 0; i < m->cfg.n_cgroup_procs; i++)
		if (write_file(m->cfg.cgroup_procs[i], pid, (size_t)n) < 0)
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
	snprintf(src, sizeof src, "/proc/%d/ns/net", m->init_pid);
	if (mount(src, path, NULL, MS_BIND, NULL) < 0)
		return syserr("bind the network namespace on %s", path);
	m->netns_bound = true;
	return 0;
}

static int listen_socket(struct monitor *m)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	if (strlen(m->cfg.socket) >= sizeof addr.sun_path)
		return seterr("socket %s: path too long", m->cfg.socket);
	strcpy(addr.sun_path, m->cfg.socket);
	m->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (m->listen_fd < 0)
		return syserr("socket");
	/* The umask makes it 0600 from birth: no window in which others could connect. */
	mode_t old = umask(0177);
	int r = bind(m->listen_fd, (struct sockaddr *)&addr, sizeof addr);
	umask(old);
	if (r < 0)
		return syserr("bind %s", m->cfg.socket);
	m->socket_created = true;
	if (listen(m->listen_fd, 16) < 0)
		return syserr("listen %s", m->cfg.socket);
	return 0;
}

static int open_log(struct monitor *m)
{
	m->log_fd = open(m->cfg.log_path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (m->log_fd >= 0) {
		m->log_created = true;
		return 0;
	}
	if (errno == EEXIST)
		m->log_fd = open(m->cfg.log_path, O_WRONLY | O_APPEND | O_CLOEXEC);
	return m->log_fd < 0 ? syserr("open %s", m->cfg.log_path) : 0;
}

static int make_pipe(int fds[2], const char *what)
{
	if (pipe2(fds, O_CLOEXEC) < 0)
		return syserr("pipe for %s", what);
	return 0;
}

/* Waits for READY (or the container's error) without ever blocking forever. */
static int wait_ready(struct monitor *m)
{
	struct pollfd p = { m->sync, POLLIN, 0 };
	int r;
	do
		r = poll(&p, 1, READY_TIMEOUT_MS);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return syserr("wait for the container");
	if (r == 0)
		return seterr("wait for the container: timed out");
	char text[SYNC_MAX];
	int fd;
	int t = sync_recv(m->sync, text, &fd);
	if (fd >= 0)
		close(fd);
	if (t == SYNC_READY)
		return 0;
	if (t == SYNC_ERROR || t == SYNC_EXEC_ERROR)
		return seterr("%s", text);
	if (t < 0)
		return syserr("wait for the container");
	return seterr("wait for the container: it exited during setup");
}

static int setup(struct monitor *m)
{
	struct config *c = &m->cfg;
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 }, sp[2];
	m->devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (m->devnull < 0)
		return syserr("open /dev/null");
	if (open_log(m) < 0)
		return -1;
	if (!c->tty) {
		if ((c->open_stdin && make_pipe(in, "stdin") < 0) || make_pipe(out, "stdout") < 0 ||
		    make_pipe(err, "stderr") < 0)
			return -1;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
		return syserr("socketpair");
	m->sync = sp[0];
	if (listen_socket(m) < 0)
		return -1;

	/* Everything blocked across clone: init starts with no signal lost or acted on. */
	sigset_t all, chld;
	sigfillset(&all);
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_SETMASK, &all, NULL);
	m->signal_fd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	if (m->signal_fd < 0)
		return syserr("signalfd");

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

	unsigned long flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | SIGCHLD;
	if (!c->host_network)
		flags |= CLONE_NEWNET;
	/* Raw clone: fork semantics (copied stack), several namespaces at once. */
	pid_t pid = (pid_t)syscall(SYS_clone, flags, NULL, NULL, NULL, NULL);
	if (pid < 0)
		return syserr("clone");
	if (pid == 0) {
		struct child_fds f = { sp[1], in[0], out[1], err[1], m->devnull };
		container_main(c, &f);
	}
	m->init_pid = pid;
	close(sp[1]);
	if (in[0] >= 0)
		close(in[0]);
	if (out[1] >= 0)
		close(out[1]);
	if (err[1] >= 0)
		close(err[1]);
	m->stdin_w = in[1];
	m->stdout_r = out[0];
	m->stderr_r = err[0];

	if (setns(host_mnt, CLONE_NEWNS) < 0)
		return syserr("return to the host mount namespace");
	close(host_mnt);
	sigprocmask(SIG_SETMASK, &chld, NULL);

	if (write_id_maps(m) < 0 || join_cgroups(m) < 0)
		return -1;
	if (sync_send(m->sync, SYNC_GO, NULL, -1) < 0)
		return syserr("signal the container");
	if (wait_ready(m) < 0 || bind_netns(m) < 0)
		return -1;
	if (c->pid_path) {
		char buf[16];
		int n = snprintf(buf, sizeof buf, "%d\n", m->init_pid);
		if (write_file_atomic(c->pid_path, buf, (size_t)n, 0644) < 0)
			return -1;
		m->pid_written = true;
	}
	for (int *fd = &m->stdout_r; fd <= &m->stderr_r; fd++)
		if (*fd >= 0 && set_nonblock(*fd) < 0)
			return -1;
	if ((m->stdin_w >= 0 && set_nonblock(m->stdin_w) < 0) || set_nonblock(m->sync) < 0)
		return -1;
	return 0;
}

void monitor_cleanup(struct monitor *m)
{
	if (m->netns_bound && umount2(m->cfg.netns_path, MNT_DETACH) == 0)
		m->netns_bound = false;
	if (m->netns_created && !m->netns_bound)
		unlink(m->cfg.netns_path);
	if (m->socket_created)
		unlink(m->cfg.socket);
}

/* Undoes a failed setup: nothing of the container may outlive the `error:` line. */
static void abort_setup(struct monitor *m)
{
	if (m->init_pid > 0) {
		kill(m->init_pid, SIGKILL);
		while (waitpid(m->init_pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	monitor_cleanup(m);
	if (m->pid_written)
		unlink(m->cfg.pid_path);
	if (m->log_created)
		unlink(m->cfg.log_path);
}

/* The daemon may have closed our stdio at startup: keep 0-2 taken so no socket lands there. */
static void claim_stdio(void)
{
	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) < 0)
			_exit(1);
}

static int monitor_main(const char *bundle)
{
	static struct monitor m = {
		.sync = -1, .listen_fd = -1, .log_fd = -1, .signal_fd = -1, .devnull = -1,
		.stdout_r = -1, .stderr_r = -1, .stdin_w = -1, .pty = -1,
	};
	claim_stdio();
	signal(SIGPIPE, SIG_IGN);
	umask(077);

	char path[PATH_MAX];
	if (snprintf(path, sizeof path, "%s/config.json", bundle) >= (int)sizeof path) {
		dprintf(1, "error: config: bundle path too long\n");
		return 1;
	}
	if (config_load(path, &m.cfg) < 0) {
		dprintf(1, "error: %s\n", g_err);
		return 1;
	}
	/* Hold no directory of the daemon's busy. */
	if (chdir("/") < 0) {
		dprintf(1, "error: chdir /: %s\n", errstr(errno));
		return 1;
	}
	if (setup(&m) < 0) {
		char why[sizeof g_err];
		memcpy(why, g_err, sizeof why);
		abort_setup(&m);
		dprintf(1, "error: %s\n", why);
		return 1;
	}
	dprintf(1, "ok %d\n", m.init_pid);
	/* The daemon may go away at any time: never block on or die from its pipes. */
	dup2(m.devnull, 1);
	dup2(m.devnull, 2);
	return relay_run(&m);
}

int main(int argc, char **argv)
{
	if (argc > 0) {
		g_argv_start = argv[0];
		g_argv_end = argv[argc - 1] + strlen(argv[argc - 1]) + 1;
	}
	if (argc == 3 && strcmp(argv[1], "monitor") == 0)
		return monitor_main(argv[2]);
	dprintf(2, "usage: tdock-shim monitor BUNDLE_DIR\n");
	return 2;
}
