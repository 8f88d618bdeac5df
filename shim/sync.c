#include "sync.h"
#include "util.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int sync_send(int sock, char type, const char *text, int fd)
{
	char buf[SYNC_MAX];
	size_t len = 0;
	buf[len++] = type;
	if (text) {
		size_t l = strnlen(text, sizeof buf - 2);
		memcpy(buf + len, text, l);
		len += l;
	}
	struct iovec iov = { buf, len };
	union fd_cmsg ctl;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	msg_attach_fd(&msg, &ctl, fd);
	for (;;) {
		ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL);
		if (n >= 0)
			return 0;
		if (errno != EINTR)
			return -1;
	}
}

int sync_recv(int sock, char *text, int *fd)
{
	char buf[SYNC_MAX];
	struct iovec iov = { buf, sizeof buf - 1 };
	union {
		char raw[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = ctl.raw, .msg_controllen = sizeof ctl.raw };
	*fd = -1;
	text[0] = '\0';
	ssize_t n;
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	if (n == 0)
		return 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
		    c->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(fd, CMSG_DATA(c), sizeof *fd);
	memcpy(text, buf + 1, (size_t)n - 1);
	text[n - 1] = '\0';
	return (unsigned char)buf[0];
}
