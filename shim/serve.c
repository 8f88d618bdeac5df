/*
 * The life of a monitor, whatever it watches: the sockets, pipes and files it
 * opens before forking its child, the `ok`/`error:` line, the undo on failure,
 * and the hand-over to the relay.
 */
#include "monitor.h"
#include "sync.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* How long the child may take to get ready before we call it stuck. */
#define READY_TIMEOUT_MS 10000

int join_cgroups(const struct config *c, pid_t pid)
{
	char buf[16];
	int n = snprintf(buf, sizeof buf, "%d", pid);
	for (size_t i = 0; i < c->n_cgroup_procs; i++)
		if (write_file(c->cgroup_procs[i], buf, (size_t)n) < 0)
			return -1;
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
	if (!m->cfg.log_path)
		return 0;
	return logwriter_open(&m->log, m->cfg.log_path, m->cfg.log_max_size, m->cfg.log_max_files);
}

/*
 * A stdio pipe belongs to the container's root, as with runc: the command may
 * open it again by path (/dev/stdout is /proc/self/fd/1; nginx logs there),
 * and that checks its owner and mode (0600) like for any file. Host root is
 * nobody in the container. The command gives it on to its user (command.c).
 * A monitor without CAP_CHOWN (rootless) may not give it away: it stays ours.
 */
static int make_pipe(int fds[2], const char *what, const struct config *c)
{
	if (pipe2(fds, O_CLOEXEC) < 0)
		return syserr("pipe for %s", what);
	/* Both ends are the same inode. */
	if (fchown(fds[0], c->root_uid, c->root_gid) < 0 && !(errno == EPERM && geteuid() != 0))
		return syserr("chown the %s pipe to the container's root (%u:%u)", what, (unsigned)c->root_uid,
			      (unsigned)c->root_gid);
	return 0;
}

int monitor_prepare(struct monitor *m, struct child_fds *f)
{
	const struct config *c = &m->cfg;
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 }, sp[2];
	*f = (struct child_fds){ -1, -1, -1, -1, -1 };
	m->devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (m->devnull < 0)
		return syserr("open /dev/null");
	f->devnull = m->devnull;
	if (open_log(m) < 0)
		return -1;
	if (!c->tty) {
		if ((c->open_stdin && make_pipe(in, "stdin", c) < 0) || make_pipe(out, "stdout", c) < 0 ||
		    make_pipe(err, "stderr", c) < 0)
			return -1;
	}
	m->stdin_w = in[1];
	m->stdout_r = out[0];
	m->stderr_r = err[0];
	f->stdin_r = in[0];
	f->stdout_w = out[1];
	f->stderr_w = err[1];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
		return syserr("socketpair");
	m->sync = sp[0];
	f->sync = sp[1];
	if (listen_socket(m) < 0)
		return -1;

	/* Everything blocked across the fork: the child starts with no signal lost or acted on. */
	sigset_t all, chld;
	sigfillset(&all);
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	if (sigprocmask(SIG_SETMASK, &all, NULL) < 0)
		return syserr("block signals");
	m->signal_fd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	if (m->signal_fd < 0)
		return syserr("signalfd");
	return 0;
}

void monitor_forked(struct monitor *m, pid_t pid, const struct child_fds *f)
{
	m->pid = pid;
	const int *ends[] = { &f->sync, &f->stdin_r, &f->stdout_w, &f->stderr_w };
	for (size_t i = 0; i < sizeof ends / sizeof ends[0]; i++)
		if (*ends[i] >= 0)
			close(*ends[i]);
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_SETMASK, &chld, NULL);
}

/* Waits for READY (or the child's error) without ever blocking forever. */
int monitor_wait_ready(struct monitor *m)
{
	for (;;) {
		struct pollfd p = { m->sync, POLLIN, 0 };
		int r;
		do
			r = poll(&p, 1, READY_TIMEOUT_MS);
		while (r < 0 && errno == EINTR);
		if (r < 0)
			return syserr("wait for the child");
		if (r == 0)
			return seterr("wait for the child: timed out");
		char text[SYNC_MAX];
		int fd;
		int t = sync_recv(m->sync, text, &fd);
		if (t == SYNC_PTY && fd >= 0 && m->pty < 0) {
			m->pty = fd;
			continue;
		}
		if (fd >= 0)
			close(fd);
		if (t == SYNC_READY)
			return 0;
		if (t == SYNC_ERROR || t == SYNC_EXEC_ERROR)
			return seterr("%s", text);
		if (t < 0)
			return syserr("wait for the child");
		return seterr("wait for the child: it exited during setup");
	}
}

int monitor_finish_setup(struct monitor *m)
{
	/*
	 * The child is ours and not reaped (SIGCHLD waits for the relay): its pid
	 * cannot have been reused, so this start time is its own. With the pid it
	 * names the process for the daemon for good (a restarted daemon, a kill).
	 */
	if (proc_start_time(m->pid, &m->start_time) < 0)
		return -1;
	int *fds[] = { &m->stdout_r, &m->stderr_r, &m->stdin_w, &m->pty, &m->sync };
	for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
		if (*fds[i] >= 0 && set_nonblock(*fds[i]) < 0)
			return -1;
	return 0;
}

void monitor_release_netns(struct monitor *m)
{
	if (m->netns_bound && umount2(m->cfg.netns_path, MNT_DETACH) == 0)
		m->netns_bound = false;
	if (m->netns_created && !m->netns_bound && unlink(m->cfg.netns_path) == 0)
		m->netns_created = false;
}

void monitor_cleanup(struct monitor *m)
{
	monitor_release_netns(m);
	if (m->socket_created)
		unlink(m->cfg.socket);
}

/* Undoes a failed setup: nothing of the child may outlive the `error:` line. */
static void abort_setup(struct monitor *m)
{
	if (m->pid > 0) {
		kill(m->pid, SIGKILL);
		while (waitpid(m->pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	monitor_cleanup(m);
	if (m->log.created)
		unlink(m->cfg.log_path);
}

/* The daemon may have closed our stdio at startup: keep 0-2 taken so no socket lands there. */
static void claim_stdio(void)
{
	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) < 0)
			_exit(1);
}

int monitor_serve(const char *config_path, int (*load)(const char *path, struct config *c),
		  int (*setup)(struct monitor *m))
{
	/* On the stack: an exec-monitor forked by a container's monitor starts afresh here. */
	struct monitor m = {
		.sync = -1, .listen_fd = -1, .log = { .fd = -1 }, .signal_fd = -1, .devnull = -1,
		.stdout_r = -1, .stderr_r = -1, .stdin_w = -1, .pty = -1,
	};
	claim_stdio();
	signal(SIGPIPE, SIG_IGN);
	/* Over RLIMIT_FSIZE a write fails with EFBIG (the log stops, logError) instead of killing us. */
	signal(SIGXFSZ, SIG_IGN);
	umask(077);

	if (load(config_path, &m.cfg) < 0) {
		dprintf(1, "error: %s\n", g_err);
		return 1;
	}
	/* Hold no directory of the daemon's busy. */
	if (chdir("/") < 0) {
		dprintf(1, "error: chdir /: %s\n", errstr(errno));
		return 1;
	}
	if (setup(&m) < 0) {
		/* Ours before the clean-up runs: whatever it does, the line says what failed. */
		struct shim_err why;
		err_take(&why);
		abort_setup(&m);
		dprintf(1, "error: %s\n", why.msg);
		return 1;
	}
	dprintf(1, "ok %d %llu\n", m.pid, m.start_time);
	/* The daemon may go away at any time: never block on or die from its pipes. */
	dup2(m.devnull, 1);
	dup2(m.devnull, 2);
	return relay_run(&m);
}
