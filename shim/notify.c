/*
 * tdock-shim notify STATE...: sends the assignments (READY=1, STATUS=..., ...) to
 * $NOTIFY_SOCKET, the service manager's AF_UNIX datagram socket, for the daemon,
 * which cannot (Node has no datagram unix sockets). Nothing to do without
 * $NOTIFY_SOCKET.
 *
 * systemd attributes a message to a service by the sender's cgroup, which it can
 * no longer look up once a short-lived sender has exited. So the message is
 * followed by BARRIER=1 with one end of a pipe: systemd closes it once it has
 * processed everything before it, and only then do we exit.
 */
#include "notify.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define BARRIER_TIMEOUT_MS 5000

static int send_with_fd(int sock, const struct sockaddr_un *addr, socklen_t len, const char *msg, int fd)
{
	struct iovec iov = { (void *)msg, strlen(msg) };
	union fd_cmsg ctl;
	struct msghdr mh = { .msg_name = (void *)addr, .msg_namelen = len, .msg_iov = &iov, .msg_iovlen = 1 };
	msg_attach_fd(&mh, &ctl, fd);
	ssize_t n;
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -1 : 0;
}

int notify_main(int argc, char **argv)
{
	const char *path = getenv("NOTIFY_SOCKET");
	if (!path || !*path)
		return 0;
	if (argc < 1) {
		dprintf(2, "error: notify: usage: tdock-shim notify STATE...\n");
		return 2;
	}
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	size_t plen = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || plen >= sizeof addr.sun_path) {
		dprintf(2, "error: notify: NOTIFY_SOCKET is not a unix socket path: %s\n", path);
		return 1;
	}
	memcpy(addr.sun_path, path, plen);
	if (path[0] == '@')
		addr.sun_path[0] = '\0'; /* abstract namespace */
	socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen);

	char msg[4096];
	size_t used = 0;
	for (int i = 0; i < argc; i++) {
		int n = snprintf(msg + used, sizeof msg - used, "%s%s", i ? "\n" : "", argv[i]);
		if (n < 0 || (size_t)n >= sizeof msg - used) {
			dprintf(2, "error: notify: the state is longer than %zu bytes\n", sizeof msg - 1);
			return 1;
		}
		used += (size_t)n;
	}

	int sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sock < 0) {
		dprintf(2, "error: notify: socket: %s\n", strerror(errno));
		return 1;
	}
	if (send_with_fd(sock, &addr, alen, msg, -1) < 0) {
		dprintf(2, "error: notify: send to %s: %s\n", path, strerror(errno));
		close(sock);
		return 1;
	}
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		dprintf(2, "error: notify: pipe: %s\n", strerror(errno));
		close(sock);
		return 1;
	}
	int rc = 0;
	if (send_with_fd(sock, &addr, alen, "BARRIER=1", p[1]) < 0) {
		dprintf(2, "error: notify: send the barrier to %s: %s\n", path, strerror(errno));
		rc = 1;
	}
	close(p[1]);
	close(sock);
	if (rc == 0) {
		/* POLLHUP once the manager closed its copy of the write end. */
		struct pollfd pf = { p[0], POLLIN, 0 };
		int n;
		do
			n = poll(&pf, 1, BARRIER_TIMEOUT_MS);
		while (n < 0 && errno == EINTR);
		if (n < 0) {
			dprintf(2, "error: notify: poll: %s\n", strerror(errno));
			rc = 1;
		} else if (n == 0) {
			dprintf(2, "error: notify: %s did not take the message within %d ms\n", path, BARRIER_TIMEOUT_MS);
			rc = 1;
		}
	}
	close(p[0]);
	return rc;
}
