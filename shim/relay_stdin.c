/*
 * The relay's stdin queue (relay.h): STDIN bytes from every client, in arrival
 * order, held until the container reads them; it grows up to 4 MiB, and a full
 * queue stops reading the client (flow control, PROTOCOL.md "Limits").
 */
#include "relay.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool stdin_accepting(const struct relay *r)
{
	if (r->m->cfg.tty)
		return r->m->cfg.open_stdin;
	return r->m->stdin_w >= 0 && !r->in.close_pending;
}

/* The client then waits while this returns 0: flow control. */
size_t stdin_room(struct relay *r)
{
	struct stdin_queue *in = &r->in;
	if (in->off > 0 && in->off + in->len == in->cap) {
		memmove(in->buf, in->buf + in->off, in->len);
		in->off = 0;
	}
	if (in->len == in->cap && in->cap < in->limit) {
		size_t cap = in->cap ? in->cap * 2 : STDIN_QUEUE_MIN;
		if (cap > in->limit)
			cap = in->limit;
		char *b = realloc(in->buf, cap);
		if (!b)
			in->limit = in->cap; /* full at this size from now on */
		else {
			in->buf = b;
			in->cap = cap;
		}
	}
	return in->cap - in->off - in->len;
}

bool stdin_full(const struct relay *r)
{
	return r->in.len >= r->in.limit;
}

void stdin_maybe_close(struct relay *r)
{
	if (r->in.close_pending && r->in.len == 0 && r->m->stdin_w >= 0) {
		close(r->m->stdin_w);
		r->m->stdin_w = -1;
	}
}

void stdin_write(struct relay *r)
{
	struct monitor *m = r->m;
	struct stdin_queue *in = &r->in;
	int fd = m->cfg.tty ? m->pty : m->stdin_w;
	while (fd >= 0 && in->len > 0) {
		ssize_t n = write(fd, in->buf + in->off, in->len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return;
			/* EPIPE: nobody reads stdin any more. Drop what is queued. */
			in->len = 0;
			if (!m->cfg.tty) {
				close(m->stdin_w);
				m->stdin_w = -1;
			}
			break;
		}
		in->off += (size_t)n;
		in->len -= (size_t)n;
	}
	if (in->len == 0) {
		in->off = 0;
		/* A grown queue goes back to nothing once the container caught up. */
		if (in->cap > STDIN_QUEUE_MIN) {
			free(in->buf);
			in->buf = NULL;
			in->cap = 0;
		}
	}
	stdin_maybe_close(r);
}
