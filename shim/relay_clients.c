/* The relay's connections: accept, frames in, backlog and broadcast out (relay.h). */
#include "relay.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

static void put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

void client_drop(struct client *c)
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

void client_flush(struct client *c)
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

void client_send(struct client *c, unsigned char type, const void *data, size_t len)
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

void broadcast(struct relay *r, unsigned char type, const void *data, size_t len)
{
	bool output = type == FRAME_STDOUT || type == FRAME_STDERR;
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (r->clients[i].fd >= 0 && !(output && r->clients[i].quiet))
			client_send(&r->clients[i], type, data, len);
}

void client_accept(struct relay *r)
{
	for (;;) {
		int fd = accept4(r->m->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			/* Out of fds or memory: the connection stays queued; stop polling for it a while. */
			if (errno == EMFILE || errno == ENFILE || errno == ENOMEM || errno == ENOBUFS) {
				r->accept_pause = clock_gettime(CLOCK_MONOTONIC, &r->accept_paused) == 0;
			}
			return;
		}
		struct client *c = NULL;
		for (int i = 0; i < MAX_CLIENTS && !c; i++)
			if (r->clients[i].fd < 0)
				c = &r->clients[i];
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->serial = ++r->next_serial;
		r->had_client = true;
		char pid[16];
		int n = snprintf(pid, sizeof pid, "%d", r->m->pid);
		client_send(c, FRAME_PID, pid, (size_t)n);
		const char *features = r->m->accepts_exec ? "exec quiet" : "quiet";
		client_send(c, FRAME_FEATURES, features, strlen(features));
	}
}

int accept_pause_left(struct relay *r)
{
	if (!r->accept_pause)
		return -1;
	struct timespec t;
	if (clock_gettime(CLOCK_MONOTONIC, &t) < 0) {
		r->accept_pause = false;
		return -1;
	}
	long ms = ACCEPT_PAUSE_MS - ((t.tv_sec - r->accept_paused.tv_sec) * 1000 +
				     (t.tv_nsec - r->accept_paused.tv_nsec) / 1000000);
	if (ms <= 0) {
		r->accept_pause = false;
		return -1;
	}
	return (int)ms;
}

static bool is_control(unsigned char type)
{
	return type == FRAME_START || type == FRAME_CLOSE_STDIN || type == FRAME_RESIZE || type == FRAME_SIGNAL ||
	       type == FRAME_EXEC || type == FRAME_QUIET;
}

/*
 * STDIN bytes go to the stdin queue, so control frames behind them are acted
 * on at once, until the queue is full (PROTOCOL.md, Limits).
 */
void client_read(struct relay *r, struct client *c)
{
	struct stdin_queue *in = &r->in;
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
			if (c->type != FRAME_STDIN || !stdin_accepting(r)) {
				n = read(c->fd, r->io_buf, c->left < sizeof r->io_buf ? c->left : sizeof r->io_buf);
			} else {
				size_t room = stdin_room(r);
				if (room == 0)
					return; /* full: wait until the container reads */
				n = read(c->fd, in->buf + in->off + in->len, c->left < room ? c->left : room);
				if (n > 0)
					in->len += (size_t)n;
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
				relay_control(r, c, c->type, payload);
				free(c->exec_path);
				c->exec_path = NULL;
				if (c->fd < 0)
					return; /* dropped while answering */
			}
		}
	}
}

/* Backpressure instead of loss: see relay.h. */
bool hold_output(struct relay *r)
{
	size_t worst = 0;
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (r->clients[i].fd >= 0 && r->clients[i].backlog_len > worst)
			worst = r->clients[i].backlog_len;
	r->output_held = r->output_held ? worst > OUTPUT_HOLD_LOW : worst >= OUTPUT_HOLD_HIGH;
	return r->output_held;
}

bool client_blocked(struct relay *r, const struct client *c)
{
	return c->hdr_len == 5 && c->type == FRAME_STDIN && c->left > 0 && stdin_accepting(r) && stdin_full(r);
}
