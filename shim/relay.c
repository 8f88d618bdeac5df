/*
 * The monitor's event loop (relay.h): polls the child's output, the sync
 * socket, stdin, every client and every EXEC answer; acts on control frames;
 * and at the child's exit writes the exit file and sends the last frames.
 */
#include "relay.h"
#include "pty.h"
#include "sync.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static void apply_resize(struct relay *r)
{
	if (r->resize_pending && r->m->pty >= 0) {
		pty_resize(r->m->pty, r->pending_rows, r->pending_cols);
		r->resize_pending = false;
	}
}

void relay_control(struct relay *r, struct client *c, unsigned char type, char *payload)
{
	struct monitor *m = r->m;
	switch (type) {
	case FRAME_START:
		if (!m->started) {
			m->started = true;
			sync_send(m->sync, SYNC_START, NULL, -1);
		}
		break;
	case FRAME_CLOSE_STDIN:
		if (!m->cfg.tty) {
			r->in.close_pending = true;
			stdin_maybe_close(r);
		}
		break;
	case FRAME_RESIZE:
	{
		char *end1, *end2;
		unsigned long rows = strtoul(payload, &end1, 10);
		unsigned long cols = strtoul(end1, &end2, 10);
		if (end1 != payload && end2 != end1 && rows <= 0xFFFF && cols <= 0xFFFF) {
			r->pending_rows = (unsigned)rows;
			r->pending_cols = (unsigned)cols;
			r->resize_pending = true;
			apply_resize(r);
		}
		break;
	}
	case FRAME_SIGNAL: {
		char *end;
		long sig = strtol(payload, &end, 10);
		/* The monitor is the child's parent, so its pid cannot have been reused. */
		if (end != payload && sig > 0 && sig < NSIG)
			kill(m->pid, (int)sig);
		break;
	}
	case FRAME_EXEC:
		if (m->accepts_exec)
			exec_start(r, c, payload, c->ctl_len);
		break;
	case FRAME_QUIET:
		c->quiet = true;
		break;
	default:
		break; /* unknown frames are skipped, for newer clients */
	}
}

/* One read from an output fd: true when it delivered data. */
static bool output_read(struct relay *r, int *fd, unsigned char stream)
{
	ssize_t n;
	do
		n = read(*fd, r->io_buf, sizeof r->io_buf);
	while (n < 0 && errno == EINTR);
	if (n > 0) {
		logwriter_record(&r->m->log, stream, r->io_buf, (size_t)n);
		broadcast(r, stream, r->io_buf, (size_t)n);
		return true;
	}
	if (n < 0 && errno == EAGAIN)
		return false;
	/* EOF, or EIO from a pty master once every slave is closed. */
	close(*fd);
	*fd = -1;
	return false;
}

static void sync_read(struct relay *r)
{
	struct monitor *m = r->m;
	while (m->sync >= 0) {
		char text[SYNC_MAX];
		int fd;
		int t = sync_recv(m->sync, text, &fd);
		if (t < 0 && errno == EAGAIN)
			return;
		if (t <= 0) {
			close(m->sync);
			m->sync = -1;
			return;
		}
		if (t == SYNC_PTY && fd >= 0 && m->pty < 0) {
			m->pty = fd;
			set_nonblock(fd);
			apply_resize(r);
			stdin_write(r);
			continue;
		}
		if (fd >= 0)
			close(fd);
		if (t == SYNC_ROOTFS && !r->rootfs_ready) {
			r->rootfs_ready = true;
			exec_release(r);
			continue;
		}
		if ((t == SYNC_ERROR || t == SYNC_EXEC_ERROR) && !m->error[0]) {
			snprintf(m->error, sizeof m->error, "%s", text);
			broadcast(r, FRAME_ERROR, text, strlen(text));
		}
	}
}

/* Whether a client that takes output (not QUIET) still has some to get. */
static bool output_owed(const struct relay *r)
{
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (r->clients[i].fd >= 0 && !r->clients[i].quiet && r->clients[i].backlog_len > 0)
			return true;
	return false;
}

/*
 * Moves us from each of the container's cgroups (cgroupProcs: .../ID/cgroup.procs)
 * to its parent, so that they can be removed while we still flush. True when we are
 * in none of them any more.
 */
static bool leave_cgroups(const struct config *c)
{
	for (size_t i = 0; i < c->n_cgroup_procs; i++) {
		const char *procs = c->cgroup_procs[i];
		const char *file = strrchr(procs, '/');
		const char *group = file ? memrchr(procs, '/', (size_t)(file - procs)) : NULL;
		if (!group || group == procs)
			return false;
		char parent[PATH_MAX];
		int n = snprintf(parent, sizeof parent, "%.*s/cgroup.procs", (int)(group - procs), procs);
		if (n < 0 || (size_t)n >= sizeof parent || write_file(parent, "0", 1) < 0)
			return false;
	}
	return true;
}

/*
 * Hangs up on every client without costing it what it has not read yet. A
 * close() while a client's frames (a RESIZE, STDIN, SIGNAL sent as the command
 * ended) sit unread in our socket makes the client's next write fail (EPIPE) or
 * its connection reset, and a client such as node then drops the socket with our
 * last STDOUT frames and EXIT still unread: all of a quick command's output lost.
 * So: shutdown(SHUT_WR) (the client reads everything, then EOF), then read and
 * discard what it still sends until it hangs up too, for at most LINGER_MS.
 */
static void linger_close(struct relay *r)
{
	for (int i = 0; i < MAX_CLIENTS; i++) {
		struct client *c = &r->clients[i];
		/* ENOTCONN: it is gone already; nothing left to protect. */
		if (c->fd >= 0 && shutdown(c->fd, SHUT_WR) < 0)
			client_drop(c);
	}
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd p[MAX_CLIENTS];
		int idx[MAX_CLIENTS];
		int np = 0;
		for (int i = 0; i < MAX_CLIENTS; i++)
			if (r->clients[i].fd >= 0) {
				idx[np] = i;
				p[np++] = (struct pollfd){ r->clients[i].fd, POLLIN, 0 };
			}
		if (np == 0)
			return;
		struct timespec t;
		clock_gettime(CLOCK_MONOTONIC, &t);
		long left = LINGER_MS - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
		int n = left > 0 ? poll(p, (nfds_t)np, (int)left) : 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (int k = 0; k < np; k++) {
			if (!p[k].revents)
				continue;
			struct client *c = &r->clients[idx[k]];
			ssize_t got;
			do
				got = read(c->fd, r->io_buf, sizeof r->io_buf);
			while (got < 0 && errno == EINTR);
			/* EOF: the client hung up after reading all; an error: it is gone. */
			if (got == 0 || (got < 0 && errno != EAGAIN))
				client_drop(c);
		}
	}
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (r->clients[i].fd >= 0)
			client_drop(&r->clients[i]);
}

static void finish(struct relay *r, int status)
{
	struct monitor *m = r->m;
	/* Every process of the container is gone: what is left in the pipes is all there is. */
	sync_read(r);
	while (m->stdout_r >= 0 && output_read(r, &m->stdout_r, FRAME_STDOUT))
		;
	while (m->stderr_r >= 0 && output_read(r, &m->stderr_r, FRAME_STDERR))
		;
	while (m->pty >= 0 && output_read(r, &m->pty, FRAME_STDOUT))
		;

	int code = 255, sig = 0;
	if (WIFEXITED(status))
		code = WEXITSTATUS(status);
	else if (WIFSIGNALED(status)) {
		sig = WTERMSIG(status);
		code = 128 + sig;
	}
	exec_refuse_queued(r);
	/*
	 * The netns bind goes before EXIT: the daemon tears down on EXIT, and then the
	 * namespace must be gone (the kernel takes the veth along) with nothing of ours
	 * left mounted for it to remove.
	 */
	monitor_release_netns(m);
	char json[SYNC_MAX * 2 + sizeof m->log.error * 2 + sizeof g_err * 2 + 200];
	int n = snprintf(json, sizeof json, "{\"exitCode\":%d,\"signal\":%d,\"finishedAt\":%llu", code, sig,
			 (unsigned long long)now_realtime_ns());
	if (m->error[0]) {
		char esc[SYNC_MAX * 2];
		json_escape(esc, sizeof esc, m->error);
		n += snprintf(json + n, sizeof json - (size_t)n, ",\"error\":\"%s\"", esc);
	}
	if (m->log.error[0]) {
		char esc[sizeof m->log.error * 2];
		json_escape(esc, sizeof esc, m->log.error);
		n += snprintf(json + n, sizeof json - (size_t)n, ",\"logError\":\"%s\"", esc);
	}
	n += snprintf(json + n, sizeof json - (size_t)n, "}");
	/*
	 * The exit file first: a client that sees EXIT can rely on it being there.
	 * When it cannot be written (disk full, its directory gone) the EXIT frame
	 * still goes out, since the daemon takes the status from the frame; the
	 * frame then also says why the file is missing (exitFileError). Our
	 * stdout and stderr are /dev/null by now: the frame is the only witness.
	 */
	if (write_file_atomic(m->cfg.exit_path, json, (size_t)n, 0644) < 0) {
		char esc[sizeof g_err * 2];
		json_escape(esc, sizeof esc, g_err);
		n--; /* reopen the object: drop its closing brace */
		n += snprintf(json + n, sizeof json - (size_t)n, ",\"exitFileError\":\"write the exit file: %s\"}", esc);
	}
	/*
	 * A client still owed output (behind when the container ended) keeps us a while:
	 * it must get every byte. The container's cgroups must not keep us, though: the
	 * daemon removes them as soon as it hears EXIT, so leave them first.
	 */
	long flush_ms = FINAL_FLUSH_MS;
	if (output_owed(r) && leave_cgroups(&m->cfg))
		flush_ms = OWED_FLUSH_MS;
	broadcast(r, FRAME_EXIT, json, (size_t)n);

	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd p[MAX_CLIENTS];
		int np = 0;
		for (int i = 0; i < MAX_CLIENTS; i++)
			if (r->clients[i].fd >= 0 && r->clients[i].backlog_len > 0)
				p[np++] = (struct pollfd){ r->clients[i].fd, POLLOUT, 0 };
		if (np == 0)
			break;
		struct timespec t;
		clock_gettime(CLOCK_MONOTONIC, &t);
		long left = flush_ms - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0 || poll(p, (nfds_t)np, (int)left) <= 0)
			break;
		for (int i = 0; i < MAX_CLIENTS; i++)
			if (r->clients[i].fd >= 0 && r->clients[i].backlog_len > 0)
				client_flush(&r->clients[i]);
	}
	linger_close(r);
	monitor_cleanup(m);
}

/*
 * We cannot watch the container any more: it must not run on unwatched. It is
 * killed (our SIGKILL, or its parent death signal when we exit) and the exit
 * file records that, with the reason.
 */
static void poll_failed(struct relay *r)
{
	struct monitor *m = r->m;
	int saved = errno;
	if (!m->error[0])
		snprintf(m->error, sizeof m->error, "monitor: poll: %s", errstr(saved));
	int status = SIGKILL; /* a wait status: killed by SIGKILL (137) */
	if (kill(m->pid, SIGKILL) == 0 || errno == ESRCH) {
		pid_t w;
		do
			w = waitpid(m->pid, &status, 0);
		while (w < 0 && errno == EINTR);
		if (w < 0)
			status = SIGKILL;
	}
	finish(r, status);
}

/*
 * An exec is the daemon's client's: the daemon connects and STARTs it as soon as
 * the monitor answered EXEC_OK. An exec-monitor whose client never came, or came
 * and hung up without START, serves nobody: its process is killed (the exit file
 * says why) rather than kept until the container ends. Returns the ms poll may
 * wait before the deadline, or -1 when there is none.
 */
static int unstarted_exec(struct relay *r)
{
	struct monitor *m = r->m;
	if (m->accepts_exec || !m->cfg.start_timeout_ms || m->started || r->abandoned)
		return -1;
	bool clients = false;
	for (int i = 0; i < MAX_CLIENTS && !clients; i++)
		clients = r->clients[i].fd >= 0;
	struct timespec t;
	long left = 0;
	if (clock_gettime(CLOCK_MONOTONIC, &t) == 0)
		left = (long)m->cfg.start_timeout_ms - ((t.tv_sec - r->waiting_since.tv_sec) * 1000 +
							(t.tv_nsec - r->waiting_since.tv_nsec) / 1000000);
	bool vanished = r->had_client && !clients;
	if (!vanished && left > 0)
		return (int)left;
	r->abandoned = true;
	if (m->error[0])
		;
	else if (vanished)
		snprintf(m->error, sizeof m->error, "exec: the client went away before starting it");
	else
		snprintf(m->error, sizeof m->error, "exec: no client started it within %u ms", m->cfg.start_timeout_ms);
	/* Our child, not reaped yet: the pid is still its own. */
	kill(m->pid, SIGKILL);
	return -1;
}

int relay_run(struct monitor *m)
{
	/*
	 * Static, not on the stack, as the globals it replaces were: an exec-monitor
	 * forked by a container's monitor runs this again on its copy, so it starts
	 * afresh (the inherited stdin queue freed; the inherited EXEC table, which
	 * may hold the path being served, left alone).
	 */
	static struct relay relay;
	struct relay *r = &relay;
	free(r->in.buf);
	memset(r, 0, sizeof *r);
	r->m = m;
	for (int i = 0; i < MAX_CLIENTS; i++)
		r->clients[i].fd = -1;
	r->in.limit = STDIN_QUEUE_MAX;
	if (clock_gettime(CLOCK_MONOTONIC, &r->waiting_since) < 0)
		r->waiting_since = (struct timespec){ 0, 0 };

	enum { P_SIGNAL, P_LISTEN, P_SYNC, P_STDOUT, P_STDERR, P_PTY, P_STDIN, P_CLIENTS,
	       P_EXECS = P_CLIENTS + MAX_CLIENTS };
	struct pollfd p[P_EXECS + MAX_EXECS];
	for (;;) {
		bool stdin_pending = r->in.len > 0;
		p[P_SIGNAL] = (struct pollfd){ m->signal_fd, POLLIN, 0 };
		int accept_wait = accept_pause_left(r);
		p[P_LISTEN] = (struct pollfd){ accept_wait < 0 ? m->listen_fd : -1, POLLIN, 0 };
		p[P_SYNC] = (struct pollfd){ m->sync, POLLIN, 0 };
		bool held = hold_output(r);
		p[P_STDOUT] = (struct pollfd){ held ? -1 : m->stdout_r, POLLIN, 0 };
		p[P_STDERR] = (struct pollfd){ held ? -1 : m->stderr_r, POLLIN, 0 };
		short pty_ev = (short)((held ? 0 : POLLIN) | (stdin_pending ? POLLOUT : 0));
		p[P_PTY] = (struct pollfd){ pty_ev ? m->pty : -1, pty_ev, 0 };
		p[P_STDIN] = (struct pollfd){ stdin_pending ? m->stdin_w : -1, POLLOUT, 0 };
		for (int i = 0; i < MAX_CLIENTS; i++) {
			struct client *c = &r->clients[i];
			/* A blocked client is left out entirely, or its hangup would wake us in a loop. */
			bool blocked = client_blocked(r, c);
			short ev = (short)((blocked ? 0 : POLLIN) | (c->backlog_len ? POLLOUT : 0));
			p[P_CLIENTS + i] = (struct pollfd){ blocked && !ev ? -1 : c->fd, ev, 0 };
		}
		for (int i = 0; i < MAX_EXECS; i++)
			p[P_EXECS + i] = (struct pollfd){ r->execs ? r->execs[i].fd : -1, POLLIN, 0 };
		int wait = accept_wait, start_left = unstarted_exec(r);
		if (start_left >= 0 && (wait < 0 || start_left < wait))
			wait = start_left;
		if (poll(p, P_EXECS + MAX_EXECS, wait) < 0) {
			if (errno == EINTR)
				continue;
			poll_failed(r);
			return 1;
		}

		if (p[P_SYNC].revents)
			sync_read(r);
		if (p[P_STDOUT].revents)
			output_read(r, &m->stdout_r, FRAME_STDOUT);
		if (p[P_STDERR].revents)
			output_read(r, &m->stderr_r, FRAME_STDERR);
		if (m->pty >= 0 && p[P_PTY].fd == m->pty) {
			if (p[P_PTY].revents & POLLOUT)
				stdin_write(r);
			if (p[P_PTY].revents & (POLLIN | POLLHUP | POLLERR))
				output_read(r, &m->pty, FRAME_STDOUT);
		}
		if (p[P_STDIN].revents)
			stdin_write(r);
		for (int i = 0; i < MAX_CLIENTS; i++) {
			struct client *c = &r->clients[i];
			short rev = p[P_CLIENTS + i].revents;
			if (c->fd < 0 || c->fd != p[P_CLIENTS + i].fd || !rev)
				continue;
			if (rev & POLLOUT)
				client_flush(c);
			if (c->fd >= 0 && (rev & (POLLIN | POLLHUP | POLLERR)))
				client_read(r, c);
		}
		if (r->in.len > 0)
			stdin_write(r);
		for (int i = 0; i < MAX_EXECS; i++)
			if (r->execs && r->execs[i].fd >= 0 && r->execs[i].fd == p[P_EXECS + i].fd &&
			    p[P_EXECS + i].revents)
				exec_answer(r, &r->execs[i]);
		if (p[P_LISTEN].revents)
			client_accept(r);
		if (p[P_SIGNAL].revents) {
			struct signalfd_siginfo si;
			while (read(m->signal_fd, &si, sizeof si) > 0)
				;
			int status, init_status = 0;
			bool init_done = false;
			pid_t w;
			while ((w = waitpid(-1, &status, WNOHANG)) > 0) {
				if (w == m->pid) {
					init_done = true;
					init_status = status;
				} else {
					exec_reaped(r, w);
				}
			}
			if (init_done) {
				finish(r, init_status);
				return 0;
			}
		}
	}
}
