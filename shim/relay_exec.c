/*
 * The relay's EXEC broker (relay.h; PROTOCOL.md "EXEC"): forks an exec-monitor
 * per EXEC frame (queued until init's root filesystem is complete), and answers
 * the requesting connection with EXEC_OK or EXEC_ERROR once its line arrives.
 */
#include "relay.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* EXEC_OK / EXEC_ERROR: the request's path, a NUL, then the detail. False: the client is gone. */
static bool exec_reply(struct relay *r, int client, unsigned long serial, unsigned char type, const char *path,
		       const char *detail)
{
	struct client *c = &r->clients[client];
	if (c->fd < 0 || c->serial != serial)
		return false;
	/*
	 * A client that hung up after its request may not have been read to its end
	 * yet (the loop reads clients before answers, but not always in the same
	 * round): an end-of-file waiting behind nothing means it is gone, and an
	 * exec-monitor nobody will connect to must not be announced.
	 */
	char peek;
	ssize_t n;
	do
		n = recv(c->fd, &peek, 1, MSG_PEEK | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n == 0) {
		client_drop(c);
		return false;
	}
	char buf[EXEC_PATH_MAX + 1 + SHIM_ERR_MAX];
	size_t pl = strlen(path) + 1;
	size_t dl = strnlen(detail, SHIM_ERR_MAX - 1);
	memcpy(buf, path, pl);
	memcpy(buf + pl, detail, dl);
	client_send(c, type, buf, pl + dl);
	return true;
}

static void exec_spawn_queued(struct relay *r, struct exec_req *e)
{
	e->queued = false;
	int fd;
	struct shim_err err;
	pid_t pid = exec_spawn(e->path, &fd, &err);
	if (pid < 0) {
		exec_reply(r, e->client, e->serial, FRAME_EXEC_ERROR, e->path, err.msg);
		return;
	}
	e->fd = fd;
	e->pid = pid;
}

void exec_start(struct relay *r, struct client *c, const char *path, size_t len)
{
	int client = (int)(c - r->clients);
	if (!r->execs) {
		r->execs = calloc(MAX_EXECS, sizeof *r->execs);
		if (!r->execs) {
			exec_reply(r, client, c->serial, FRAME_EXEC_ERROR, path, "exec: out of memory");
			return;
		}
		for (int i = 0; i < MAX_EXECS; i++)
			r->execs[i].fd = -1;
	}
	struct exec_req *e = NULL;
	for (int i = 0; i < MAX_EXECS && !e; i++)
		if (r->execs[i].fd < 0 && !r->execs[i].queued)
			e = &r->execs[i];
	if (!e) {
		exec_reply(r, client, c->serial, FRAME_EXEC_ERROR, path, "exec: too many execs starting at once");
		return;
	}
	if (path[0] != '/' || strlen(path) != len) {
		exec_reply(r, client, c->serial, FRAME_EXEC_ERROR, path, "exec: the config path must be absolute");
		return;
	}
	*e = (struct exec_req){ .fd = -1, .queued = true, .client = client, .serial = c->serial };
	memcpy(e->path, path, len + 1);
	if (r->rootfs_ready)
		exec_spawn_queued(r, e);
}

void exec_release(struct relay *r)
{
	for (int i = 0; i < MAX_EXECS && r->execs; i++)
		if (r->execs[i].queued)
			exec_spawn_queued(r, &r->execs[i]);
}

void exec_refuse_queued(struct relay *r)
{
	for (int i = 0; i < MAX_EXECS && r->execs; i++)
		if (r->execs[i].queued) {
			exec_reply(r, r->execs[i].client, r->execs[i].serial, FRAME_EXEC_ERROR, r->execs[i].path,
				   "container is not running");
			r->execs[i].queued = false;
		}
}

void exec_answer(struct relay *r, struct exec_req *e)
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
	if (!exec_reply(r, e->client, e->serial, ok ? FRAME_EXEC_OK : FRAME_EXEC_ERROR, e->path, detail) && ok &&
	    !e->reaped)
		kill(e->pid, SIGKILL);
	close(e->fd);
	e->fd = -1;
}

/* Our children other than the watched one are exec-monitors: reaped by the loop, never left as zombies. */
void exec_reaped(struct relay *r, pid_t pid)
{
	for (int i = 0; i < MAX_EXECS && r->execs; i++)
		if (r->execs[i].fd >= 0 && r->execs[i].pid == pid)
			r->execs[i].reaped = true;
}
