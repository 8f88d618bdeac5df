/*
 * The monitor's event loop: container output to the log and to every client,
 * client frames to the container, and the exit status at the end.
 *
 * Memory is bounded, not fixed: one output buffer; a stdin queue that grows
 * up to STDIN_QUEUE_MAX (4 MiB) only while the container does not read what
 * clients send; and a per-client backlog that exists only while that client
 * is slow. Output is never dropped for a slow client: while any client is
 * OUTPUT_HOLD_HIGH behind, the monitor stops reading the container's output
 * (the container blocks on a full pipe, as with a slow terminal) until every
 * client is back under OUTPUT_HOLD_LOW. CLIENT_BACKLOG_MAX (4 MiB) remains a
 * hard limit (32 x 4 MiB at worst) that only the final drain after the exit
 * could approach; a client past it is disconnected (the log file still has
 * everything).
 */
#include "monitor.h"
#include "pty.h"
#include "sync.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 32
#define CLIENT_BACKLOG_MAX (4u << 20)
#define OUTPUT_HOLD_HIGH (1u << 20)   /* a client this far behind holds the output */
#define OUTPUT_HOLD_LOW (256u << 10)  /* ... until every client is back under this */
#define CONTROL_MAX 64        /* payload of START/RESIZE/SIGNAL/CLOSE_STDIN */
#define EXEC_PATH_MAX 1024    /* payload of EXEC: the path of an exec config */
#define MAX_EXECS 16          /* EXECs whose exec-monitor has not answered yet */
#define FINAL_FLUSH_MS 2000   /* how long slow clients get for the last frames */
#define STDIN_QUEUE_MIN 65536
#define STDIN_QUEUE_MAX (4u << 20) /* stdin accepted but not yet read by the container */
#define ACCEPT_PAUSE_MS 1000  /* no accept() for this long after EMFILE & co. */

struct client {
	int fd;
	unsigned char hdr[5];
	size_t hdr_len;
	unsigned char type;
	uint32_t left;            /* payload bytes of the current frame still to read */
	char ctl[CONTROL_MAX + 1];
	char *exec_path;          /* instead of ctl while an EXEC's payload is read (malloc'd) */
	size_t ctl_len;
	unsigned long serial;     /* which connection holds the slot (answers to EXEC) */
	char *backlog;            /* frames not yet accepted by the socket */
	size_t backlog_len, backlog_cap;
	bool quiet;               /* sent QUIET: no STDOUT/STDERR frames (a control connection) */
};

/* An EXEC being set up: the answer goes back to the client that asked, if it is still there. */
struct exec_req {
	int fd;                   /* the exec-monitor's answer pipe; -1: free (unless queued) */
	pid_t pid;
	bool reaped;
	bool queued;              /* waits for init's root filesystem (SYNC_ROOTFS) */
	int client;
	unsigned long serial;
	char path[EXEC_PATH_MAX + 1];
	char line[sizeof g_err + 16];
	size_t len;
};

static struct monitor *M;
static struct client clients[MAX_CLIENTS];
static unsigned long next_serial;
static struct exec_req *execs; /* MAX_EXECS of them, allocated at the first EXEC */
static bool rootfs_ready;      /* init said SYNC_ROOTFS: EXECs may join its mount namespace */
static char *stdin_buf;        /* the stdin queue: stdin_len bytes at stdin_off */
static size_t stdin_off, stdin_len, stdin_cap;
static size_t stdin_limit = STDIN_QUEUE_MAX; /* lowered to stdin_cap when realloc fails */
static struct timespec accept_paused; /* when accept() last failed for lack of resources */
static bool accept_pause;
static bool output_held;        /* a slow client: the container's output is not read */
static bool stdin_close_pending;
static bool resize_pending;
static unsigned pending_rows, pending_cols;
static char io_buf[32768];

static void put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static void client_drop(struct client *c)
{
	close(c->fd);
	free(c->backlog);
	free(c->exec_path);
	memset(c, 0, sizeof *c);
	c->fd = -1;
}

static bool backlog_append(struct client *c, const void *data, size_t len)
{
	if (c->backlog_len + len > CLIENT_BACKLOG_MAX)
		return false;
	if (c->backlog_len + len > c->backlog_cap) {
		size_t cap = c->backlog_cap ? c->backlog_cap : 16384;
		while (cap < c->backlog_len + len)
			cap *= 2;
		char *b = realloc(c->backlog, cap);
		if (!b)
			return false;
		c->backlog = b;
		c->backlog_cap = cap;
	}
	memcpy(c->backlog + c->backlog_len, data, len);
	c->backlog_len += len;
	return true;
}

static void client_flush(struct client *c)
{
	while (c->backlog_len > 0) {
		ssize_t n = send(c->fd, c->backlog, c->backlog_len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				client_drop(c);
			return;
		}
		memmove(c->backlog, c->backlog + n, c->backlog_len - (size_t)n);
		c->backlog_len -= (size_t)n;
	}
}

/* Queues one whole frame; a frame is never split between clients' views. */
static void client_send(struct client *c, unsigned char type, const void *data, size_t len)
{
	unsigned char hdr[5];
	hdr[0] = type;
	put_be32(hdr + 1, (uint32_t)len);
	size_t sent = 0;
	if (c->backlog_len == 0) {
		struct iovec iov[2] = { { hdr, 5 }, { (void *)data, len } };
		struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };
		ssize_t n;
		do
			n = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		while (n < 0 && errno == EINTR);
		if (n < 0 && errno != EAGAIN) {
			client_drop(c);
			return;
		}
		sent = n > 0 ? (size_t)n : 0;
	}
	bool ok = true;
	if (sent < 5)
		ok = backlog_append(c, hdr + sent, 5 - sent) && backlog_append(c, data, len);
	else if (sent - 5 < len)
		ok = backlog_append(c, (const char *)data + (sent - 5), len - (sent - 5));
	if (!ok)
		client_drop(c);
}

static void broadcast(unsigned char type, const void *data, size_t len)
{
	bool output = type == FRAME_STDOUT || type == FRAME_STDERR;
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (clients[i].fd >= 0 && !(output && clients[i].quiet))
			client_send(&clients[i], type, data, len);
}

static void client_accept(void)
{
	for (;;) {
		int fd = accept4(M->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			/* Out of fds or memory: the connection stays queued; stop polling for it a while. */
			if (errno == EMFILE || errno == ENFILE || errno == ENOMEM || errno == ENOBUFS) {
				accept_pause = clock_gettime(CLOCK_MONOTONIC, &accept_paused) == 0;
			}
			return;
		}
		struct client *c = NULL;
		for (int i = 0; i < MAX_CLIENTS && !c; i++)
			if (clients[i].fd < 0)
				c = &clients[i];
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->serial = ++next_serial;
		char pid[16];
		int n = snprintf(pid, sizeof pid, "%d", M->pid);
		client_send(c, FRAME_PID, pid, (size_t)n);
		const char *features = M->accepts_exec ? "exec quiet" : "quiet";
		client_send(c, FRAME_FEATURES, features, strlen(features));
	}
}

/* Stdin accepts bytes while someone can still read them; otherwise they are dropped. */
static bool stdin_accepting(void)
{
	if (M->cfg.tty)
		return M->cfg.open_stdin;
	return M->stdin_w >= 0 && !stdin_close_pending;
}

/*
 * Room at the end of the stdin queue for more bytes, growing it up to
 * stdin_limit; 0 when it is full (the client then waits: flow control).
 */
static size_t stdin_room(void)
{
	if (stdin_off > 0 && stdin_off + stdin_len == stdin_cap) {
		memmove(stdin_buf, stdin_buf + stdin_off, stdin_len);
		stdin_off = 0;
	}
	if (stdin_len == stdin_cap && stdin_cap < stdin_limit) {
		size_t cap = stdin_cap ? stdin_cap * 2 : STDIN_QUEUE_MIN;
		if (cap > stdin_limit)
			cap = stdin_limit;
		char *b = realloc(stdin_buf, cap);
		if (!b)
			stdin_limit = stdin_cap; /* full at this size from now on */
		else {
			stdin_buf = b;
			stdin_cap = cap;
		}
	}
	return stdin_cap - stdin_off - stdin_len;
}

static bool stdin_full(void)
{
	return stdin_len >= stdin_limit;
}

static void stdin_maybe_close(void)
{
	if (stdin_close_pending && stdin_len == 0 && M->stdin_w >= 0) {
		close(M->stdin_w);
		M->stdin_w = -1;
	}
}

static void stdin_write(void)
{
	int fd = M->cfg.tty ? M->pty : M->stdin_w;
	while (fd >= 0 && stdin_len > 0) {
		ssize_t n = write(fd, stdin_buf + stdin_off, stdin_len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return;
			/* EPIPE: nobody reads stdin any more. Drop what is queued. */
			stdin_len = 0;
			if (!M->cfg.tty) {
				close(M->stdin_w);
				M->stdin_w = -1;
			}
			break;
		}
		stdin_off += (size_t)n;
		stdin_len -= (size_t)n;
	}
	if (stdin_len == 0) {
		stdin_off = 0;
		/* A grown queue goes back to nothing once the container caught up. */
		if (stdin_cap > STDIN_QUEUE_MIN) {
			free(stdin_buf);
			stdin_buf = NULL;
			stdin_cap = 0;
		}
	}
	stdin_maybe_close();
}

static void apply_resize(void)
{
	if (resize_pending && M->pty >= 0) {
		pty_resize(M->pty, pending_rows, pending_cols);
		resize_pending = false;
	}
}

/* EXEC_OK / EXEC_ERROR: the request's path, a NUL, then the detail. False: the client is gone. */
static bool exec_reply(int client, unsigned long serial, unsigned char type, const char *path, const char *detail)
{
	struct client *c = &clients[client];
	if (c->fd < 0 || c->serial != serial)
		return false;
	char buf[EXEC_PATH_MAX + 1 + sizeof g_err];
	size_t pl = strlen(path) + 1;
	size_t dl = strnlen(detail, sizeof g_err - 1);
	memcpy(buf, path, pl);
	memcpy(buf + pl, detail, dl);
	client_send(c, type, buf, pl + dl);
	return true;
}

static void exec_spawn_queued(struct exec_req *e)
{
	e->queued = false;
	int fd;
	pid_t pid = exec_spawn(e->path, &fd);
	if (pid < 0) {
		exec_reply(e->client, e->serial, FRAME_EXEC_ERROR, e->path, g_err);
		return;
	}
	e->fd = fd;
	e->pid = pid;
}

static void exec_start(struct client *c, const char *path, size_t len)
{
	int client = (int)(c - clients);
	if (!execs) {
		execs = calloc(MAX_EXECS, sizeof *execs);
		if (!execs) {
			exec_reply(client, c->serial, FRAME_EXEC_ERROR, path, "exec: out of memory");
			return;
		}
		for (int i = 0; i < MAX_EXECS; i++)
			execs[i].fd = -1;
	}
	struct exec_req *e = NULL;
	for (int i = 0; i < MAX_EXECS && !e; i++)
		if (execs[i].fd < 0 && !execs[i].queued)
			e = &execs[i];
	if (!e) {
		exec_reply(client, c->serial, FRAME_EXEC_ERROR, path, "exec: too many execs starting at once");
		return;
	}
	if (path[0] != '/' || strlen(path) != len) {
		exec_reply(client, c->serial, FRAME_EXEC_ERROR, path, "exec: the config path must be absolute");
		return;
	}
	*e = (struct exec_req){ .fd = -1, .queued = true, .client = client, .serial = c->serial };
	memcpy(e->path, path, len + 1);
	if (rootfs_ready)
		exec_spawn_queued(e);
}

/* Init's root filesystem is complete: the EXECs that came too early go ahead. */
static void exec_release(void)
{
	for (int i = 0; i < MAX_EXECS && execs; i++)
		if (execs[i].queued)
			exec_spawn_queued(&execs[i]);
}

/* Init died before its root filesystem was complete: nothing to join. */
static void exec_refuse_queued(void)
{
	for (int i = 0; i < MAX_EXECS && execs; i++)
		if (execs[i].queued) {
			exec_reply(execs[i].client, execs[i].serial, FRAME_EXEC_ERROR, execs[i].path,
				   "container is not running");
			execs[i].queued = false;
		}
}

/* The exec-monitor's one line (`ok PID` or `error: ...`), or EOF without one. */
static void exec_answer(struct exec_req *e)
{
	ssize_t n;
	do
		n = read(e->fd, e->line + e->len, sizeof e->line - 1 - e->len);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return;
	if (n > 0) {
		e->len += (size_t)n;
		e->line[e->len] = '\0';
		if (!strchr(e->line, '\n') && e->len < sizeof e->line - 1)
			return;
	}
	e->line[e->len] = '\0';
	e->line[strcspn(e->line, "\n")] = '\0';
	bool ok = strncmp(e->line, "ok ", 3) == 0;
	char pid[16];
	snprintf(pid, sizeof pid, "%d", e->pid);
	const char *detail = ok ? pid
			     : strncmp(e->line, "error: ", 7) == 0 ? e->line + 7
								    : "exec: the exec-monitor ended without an answer";
	/* Nobody will connect to an exec-monitor whose client is gone: it would wait forever. */
	if (!exec_reply(e->client, e->serial, ok ? FRAME_EXEC_OK : FRAME_EXEC_ERROR, e->path, detail) && ok &&
	    !e->reaped)
		kill(e->pid, SIGKILL);
	close(e->fd);
	e->fd = -1;
}

/* Our children other than the watched one are exec-monitors: reaped here, never left as zombies. */
static void exec_reaped(pid_t pid)
{
	for (int i = 0; i < MAX_EXECS && execs; i++)
		if (execs[i].fd >= 0 && execs[i].pid == pid)
			execs[i].reaped = true;
}

static void handle_control(struct client *c, unsigned char type, char *payload)
{
	switch (type) {
	case FRAME_START:
		if (!M->started) {
			M->started = true;
			sync_send(M->sync, SYNC_START, NULL, -1);
		}
		break;
	case FRAME_CLOSE_STDIN:
		if (!M->cfg.tty) {
			stdin_close_pending = true;
			stdin_maybe_close();
		}
		break;
	case FRAME_RESIZE:
	{
		char *end1, *end2;
		unsigned long rows = strtoul(payload, &end1, 10);
		unsigned long cols = strtoul(end1, &end2, 10);
		if (end1 != payload && end2 != end1 && rows <= 0xFFFF && cols <= 0xFFFF) {
			pending_rows = (unsigned)rows;
			pending_cols = (unsigned)cols;
			resize_pending = true;
			apply_resize();
		}
		break;
	}
	case FRAME_SIGNAL: {
		char *end;
		long sig = strtol(payload, &end, 10);
		/* The monitor is the child's parent, so its pid cannot have been reused. */
		if (end != payload && sig > 0 && sig < NSIG)
			kill(M->pid, (int)sig);
		break;
	}
	case FRAME_EXEC:
		if (M->accepts_exec)
			exec_start(c, payload, c->ctl_len);
		break;
	case FRAME_QUIET:
		c->quiet = true;
		break;
	default:
		break; /* unknown frames are skipped, for newer clients */
	}
}

static bool is_control(unsigned char type)
{
	return type == FRAME_START || type == FRAME_CLOSE_STDIN || type == FRAME_RESIZE || type == FRAME_SIGNAL ||
	       type == FRAME_EXEC || type == FRAME_QUIET;
}

/*
 * Reads what is ready from one client; frames may arrive in any fragments.
 * STDIN bytes go to the stdin queue, so control frames behind them are acted
 * on at once, until the queue is full (PROTOCOL.md, Limits).
 */
static void client_read(struct client *c)
{
	for (;;) {
		ssize_t n;
		if (c->hdr_len < 5) {
			n = read(c->fd, c->hdr + c->hdr_len, 5 - c->hdr_len);
			if (n > 0) {
				c->hdr_len += (size_t)n;
				if (c->hdr_len < 5)
					continue;
				c->type = c->hdr[0];
				c->left = (uint32_t)c->hdr[1] << 24 | (uint32_t)c->hdr[2] << 16 |
					  (uint32_t)c->hdr[3] << 8 | c->hdr[4];
				c->ctl_len = 0;
				size_t max = c->type == FRAME_EXEC ? EXEC_PATH_MAX : CONTROL_MAX;
				if (is_control(c->type) && c->left > max) {
					client_drop(c);
					return;
				}
				if (c->type == FRAME_EXEC && !(c->exec_path = malloc(c->left + 1))) {
					client_drop(c);
					return;
				}
				if (c->left > 0)
					continue;
			}
		} else if (!is_control(c->type)) {
			/* STDIN, or an unknown frame: its payload is read and discarded. */
			if (c->type != FRAME_STDIN || !stdin_accepting()) {
				n = read(c->fd, io_buf, c->left < sizeof io_buf ? c->left : sizeof io_buf);
			} else {
				size_t room = stdin_room();
				if (room == 0)
					return; /* full: wait until the container reads */
				n = read(c->fd, stdin_buf + stdin_off + stdin_len, c->left < room ? c->left : room);
				if (n > 0)
					stdin_len += (size_t)n;
			}
			if (n > 0)
				c->left -= (uint32_t)n;
		} else {
			n = read(c->fd, (c->exec_path ? c->exec_path : c->ctl) + c->ctl_len, c->left);
			if (n > 0) {
				c->ctl_len += (size_t)n;
				c->left -= (uint32_t)n;
			}
		}
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			client_drop(c);
			return;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		if (c->hdr_len == 5 && c->left == 0) {
			c->hdr_len = 0;
			if (is_control(c->type)) {
				char *payload = c->exec_path ? c->exec_path : c->ctl;
				payload[c->ctl_len] = '\0';
				handle_control(c, c->type, payload);
				free(c->exec_path);
				c->exec_path = NULL;
				if (c->fd < 0)
					return; /* dropped while answering */
			}
		}
	}
}

/* The client can't make progress while its STDIN payload has nowhere to go. */
/* Backpressure instead of loss: see the header comment. */
static bool hold_output(void)
{
	size_t worst = 0;
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (clients[i].fd >= 0 && clients[i].backlog_len > worst)
			worst = clients[i].backlog_len;
	output_held = output_held ? worst > OUTPUT_HOLD_LOW : worst >= OUTPUT_HOLD_HIGH;
	return output_held;
}

static bool client_blocked(const struct client *c)
{
	return c->hdr_len == 5 && c->type == FRAME_STDIN && c->left > 0 && stdin_accepting() && stdin_full();
}

/* One read from an output fd: true when it delivered data. */
static bool output_read(int *fd, unsigned char stream)
{
	ssize_t n;
	do
		n = read(*fd, io_buf, sizeof io_buf);
	while (n < 0 && errno == EINTR);
	if (n > 0) {
		logwriter_record(&M->log, stream, io_buf, (size_t)n);
		broadcast(stream, io_buf, (size_t)n);
		return true;
	}
	if (n < 0 && errno == EAGAIN)
		return false;
	/* EOF, or EIO from a pty master once every slave is closed. */
	close(*fd);
	*fd = -1;
	return false;
}

static void sync_read(void)
{
	while (M->sync >= 0) {
		char text[SYNC_MAX];
		int fd;
		int t = sync_recv(M->sync, text, &fd);
		if (t < 0 && errno == EAGAIN)
			return;
		if (t <= 0) {
			close(M->sync);
			M->sync = -1;
			return;
		}
		if (t == SYNC_PTY && fd >= 0 && M->pty < 0) {
			M->pty = fd;
			set_nonblock(fd);
			apply_resize();
			stdin_write();
			continue;
		}
		if (fd >= 0)
			close(fd);
		if (t == SYNC_ROOTFS && !rootfs_ready) {
			rootfs_ready = true;
			exec_release();
			continue;
		}
		if ((t == SYNC_ERROR || t == SYNC_EXEC_ERROR) && !M->error[0]) {
			snprintf(M->error, sizeof M->error, "%s", text);
			broadcast(FRAME_ERROR, text, strlen(text));
		}
	}
}

static void finish(int status)
{
	/* Every process of the container is gone: what is left in the pipes is all there is. */
	sync_read();
	while (M->stdout_r >= 0 && output_read(&M->stdout_r, FRAME_STDOUT))
		;
	while (M->stderr_r >= 0 && output_read(&M->stderr_r, FRAME_STDERR))
		;
	while (M->pty >= 0 && output_read(&M->pty, FRAME_STDOUT))
		;

	int code = 255, sig = 0;
	if (WIFEXITED(status))
		code = WEXITSTATUS(status);
	else if (WIFSIGNALED(status)) {
		sig = WTERMSIG(status);
		code = 128 + sig;
	}
	exec_refuse_queued();
	char json[SYNC_MAX * 2 + sizeof M->log.error * 2 + sizeof g_err * 2 + 200];
	int n = snprintf(json, sizeof json, "{\"exitCode\":%d,\"signal\":%d,\"finishedAt\":%llu", code, sig,
			 (unsigned long long)now_realtime_ns());
	if (M->error[0]) {
		char esc[SYNC_MAX * 2];
		json_escape(esc, sizeof esc, M->error);
		n += snprintf(json + n, sizeof json - (size_t)n, ",\"error\":\"%s\"", esc);
	}
	if (M->log.error[0]) {
		char esc[sizeof M->log.error * 2];
		json_escape(esc, sizeof esc, M->log.error);
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
	if (write_file_atomic(M->cfg.exit_path, json, (size_t)n, 0644) < 0) {
		char esc[sizeof g_err * 2];
		json_escape(esc, sizeof esc, g_err);
		n--; /* reopen the object: drop its closing brace */
		n += snprintf(json + n, sizeof json - (size_t)n, ",\"exitFileError\":\"write the exit file: %s\"}", esc);
	}
	broadcast(FRAME_EXIT, json, (size_t)n);

	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd p[MAX_CLIENTS];
		int np = 0;
		for (int i = 0; i < MAX_CLIENTS; i++)
			if (clients[i].fd >= 0 && clients[i].backlog_len > 0)
				p[np++] = (struct pollfd){ clients[i].fd, POLLOUT, 0 };
		if (np == 0)
			break;
		struct timespec t;
		clock_gettime(CLOCK_MONOTONIC, &t);
		long left = FINAL_FLUSH_MS - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0 || poll(p, (nfds_t)np, (int)left) <= 0)
			break;
		for (int i = 0; i < MAX_CLIENTS; i++)
			if (clients[i].fd >= 0 && clients[i].backlog_len > 0)
				client_flush(&clients[i]);
	}
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (clients[i].fd >= 0)
			client_drop(&clients[i]);
	monitor_cleanup(M);
}

/* -1: accept() may go on; otherwise the ms until it may be tried again. */
static int accept_pause_left(void)
{
	if (!accept_pause)
		return -1;
	struct timespec t;
	if (clock_gettime(CLOCK_MONOTONIC, &t) < 0) {
		accept_pause = false;
		return -1;
	}
	long ms = ACCEPT_PAUSE_MS - ((t.tv_sec - accept_paused.tv_sec) * 1000 +
				     (t.tv_nsec - accept_paused.tv_nsec) / 1000000);
	if (ms <= 0) {
		accept_pause = false;
		return -1;
	}
	return (int)ms;
}

/*
 * We cannot watch the container any more: it must not run on unwatched. It is
 * killed (our SIGKILL, or its parent death signal when we exit) and the exit
 * file records that, with the reason.
 */
static void poll_failed(void)
{
	int saved = errno;
	if (!M->error[0])
		snprintf(M->error, sizeof M->error, "monitor: poll: %s", errstr(saved));
	int status = SIGKILL; /* a wait status: killed by SIGKILL (137) */
	if (kill(M->pid, SIGKILL) == 0 || errno == ESRCH) {
		pid_t r;
		do
			r = waitpid(M->pid, &status, 0);
		while (r < 0 && errno == EINTR);
		if (r < 0)
			status = SIGKILL;
	}
	finish(status);
}

int relay_run(struct monitor *m)
{
	M = m;
	/* An exec-monitor forked by a container's monitor inherits its state: start afresh. */
	for (int i = 0; i < MAX_CLIENTS; i++)
		clients[i] = (struct client){ .fd = -1 };
	execs = NULL;
	free(stdin_buf);
	stdin_buf = NULL;
	stdin_off = stdin_len = stdin_cap = 0;
	stdin_limit = STDIN_QUEUE_MAX;
	stdin_close_pending = resize_pending = rootfs_ready = accept_pause = output_held = false;

	enum { P_SIGNAL, P_LISTEN, P_SYNC, P_STDOUT, P_STDERR, P_PTY, P_STDIN, P_CLIENTS,
	       P_EXECS = P_CLIENTS + MAX_CLIENTS };
	struct pollfd p[P_EXECS + MAX_EXECS];
	for (;;) {
		bool stdin_pending = stdin_len > 0;
		p[P_SIGNAL] = (struct pollfd){ m->signal_fd, POLLIN, 0 };
		int accept_wait = accept_pause_left();
		p[P_LISTEN] = (struct pollfd){ accept_wait < 0 ? m->listen_fd : -1, POLLIN, 0 };
		p[P_SYNC] = (struct pollfd){ m->sync, POLLIN, 0 };
		bool held = hold_output();
		p[P_STDOUT] = (struct pollfd){ held ? -1 : m->stdout_r, POLLIN, 0 };
		p[P_STDERR] = (struct pollfd){ held ? -1 : m->stderr_r, POLLIN, 0 };
		short pty_ev = (short)((held ? 0 : POLLIN) | (stdin_pending ? POLLOUT : 0));
		p[P_PTY] = (struct pollfd){ pty_ev ? m->pty : -1, pty_ev, 0 };
		p[P_STDIN] = (struct pollfd){ stdin_pending ? m->stdin_w : -1, POLLOUT, 0 };
		for (int i = 0; i < MAX_CLIENTS; i++) {
			struct client *c = &clients[i];
			/* A blocked client is left out entirely, or its hangup would wake us in a loop. */
			bool blocked = client_blocked(c);
			short ev = (short)((blocked ? 0 : POLLIN) | (c->backlog_len ? POLLOUT : 0));
			p[P_CLIENTS + i] = (struct pollfd){ blocked && !ev ? -1 : c->fd, ev, 0 };
		}
		for (int i = 0; i < MAX_EXECS; i++)
			p[P_EXECS + i] = (struct pollfd){ execs ? execs[i].fd : -1, POLLIN, 0 };
		if (poll(p, P_EXECS + MAX_EXECS, accept_wait) < 0) {
			if (errno == EINTR)
				continue;
			poll_failed();
			return 1;
		}

		if (p[P_SYNC].revents)
			sync_read();
		if (p[P_STDOUT].revents)
			output_read(&m->stdout_r, FRAME_STDOUT);
		if (p[P_STDERR].revents)
			output_read(&m->stderr_r, FRAME_STDERR);
		if (m->pty >= 0 && p[P_PTY].fd == m->pty) {
			if (p[P_PTY].revents & POLLOUT)
				stdin_write();
			if (p[P_PTY].revents & (POLLIN | POLLHUP | POLLERR))
				output_read(&m->pty, FRAME_STDOUT);
		}
		if (p[P_STDIN].revents)
			stdin_write();
		for (int i = 0; i < MAX_CLIENTS; i++) {
			struct client *c = &clients[i];
			short rev = p[P_CLIENTS + i].revents;
			if (c->fd < 0 || c->fd != p[P_CLIENTS + i].fd || !rev)
				continue;
			if (rev & POLLOUT)
				client_flush(c);
			if (c->fd >= 0 && (rev & (POLLIN | POLLHUP | POLLERR)))
				client_read(c);
		}
		if (stdin_len > 0)
			stdin_write();
		for (int i = 0; i < MAX_EXECS; i++)
			if (execs && execs[i].fd >= 0 && execs[i].fd == p[P_EXECS + i].fd && p[P_EXECS + i].revents)
				exec_answer(&execs[i]);
		if (p[P_LISTEN].revents)
			client_accept();
		if (p[P_SIGNAL].revents) {
			struct signalfd_siginfo si;
			while (read(m->signal_fd, &si, sizeof si) > 0)
				;
			int status, init_status = 0;
			bool init_done = false;
			pid_t r;
			while ((r = waitpid(-1, &status, WNOHANG)) > 0) {
				if (r == m->pid) {
					init_done = true;
					init_status = status;
				} else {
					exec_reaped(r);
				}
			}
			if (init_done) {
				finish(init_status);
				return 0;
			}
		}
	}
}
