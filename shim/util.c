#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

char g_err[SHIM_ERR_MAX];

int err_set(struct shim_err *e, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
	return -1;
}

int err_take(struct shim_err *e)
{
	memcpy(e->msg, g_err, sizeof e->msg);
	return -1;
}

const char *errstr(int err)
{
	const char *s = strerrordesc_np(err);
	return s ? s : "Unknown error";
}

int seterr(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(g_err, sizeof g_err, fmt, ap);
	va_end(ap);
	return -1;
}

int syserr(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(g_err, sizeof g_err, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof g_err)
		snprintf(g_err + n, sizeof g_err - (size_t)n, ": %s", errstr(saved));
	errno = saved;
	return -1;
}

int proc_start_time(pid_t pid, unsigned long long *start)
{
	char path[32], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	if (read_small_file(path, buf, sizeof buf) < 0)
		return -1;
	/* The name in field 2 may contain anything: count from its closing parenthesis. */
	const char *p = strrchr(buf, ')');
	if (!p || p[1] != ' ')
		return seterr("read %s: unexpected content", path), -2;
	p += 2; /* field 3, the state */
	bool zombie = *p == 'Z' || *p == 'X';
	for (int field = 3; field < 22 && p; field++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	char *end;
	errno = 0;
	unsigned long long v = p ? strtoull(p, &end, 10) : 0;
	if (!p || end == p || errno)
		return seterr("read %s: unexpected content", path), -2;
	*start = v;
	return zombie ? 1 : 0;
}

ssize_t read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, (char *)buf + got, len - got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

int write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

ssize_t read_small_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return syserr("open %s", path);
	ssize_t n = read_full(fd, buf, size - 1);
	if (n < 0) {
		syserr("read %s", path);
		close(fd);
		return -1;
	}
	close(fd);
	buf[n] = '\0';
	return n;
}

int write_file(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return syserr("open %s", path);
	/* /proc map files need the whole content in one write() call. */
	ssize_t n = write(fd, data, len);
	if (n < 0 || (size_t)n != len) {
		if (n >= 0)
			errno = EIO;
		syserr("write %s", path);
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int write_file_atomic(const char *path, const char *data, size_t len, mode_t mode)
{
	char tmp[4096];
	if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
		return seterr("write %s: path too long", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return syserr("open %s", tmp);
	if (write_full(fd, data, len) < 0) {
		syserr("write %s", tmp);
		close(fd);
		unlink(tmp);
		return -1;
	}
	close(fd);
	if (rename(tmp, path) < 0) {
		syserr("rename %s", tmp);
		unlink(tmp);
		return -1;
	}
	return 0;
}

int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return syserr("fcntl O_NONBLOCK");
	return 0;
}

uint64_t now_realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

size_t json_escape(char *buf, size_t size, const char *s)
{
	size_t n = 0;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char tmp[8];
		const char *out = tmp;
		if (c == '"')
			out = "\\\"";
		else if (c == '\\')
			out = "\\\\";
		else if (c == '\n')
			out = "\\n";
		else if (c == '\t')
			out = "\\t";
		else if (c < 0x20)
			snprintf(tmp, sizeof tmp, "\\u%04x", c);
		else {
			tmp[0] = (char)c;
			tmp[1] = '\0';
		}
		size_t l = strlen(out);
		if (n + l + 1 > size)
			break;
		memcpy(buf + n, out, l);
		n += l;
	}
	if (size)
		buf[n < size ? n : size - 1] = '\0';
	return n;
}

void msg_attach_fd(struct msghdr *msg, union fd_cmsg *ctl, int fd)
{
	if (fd < 0)
		return;
	memset(ctl, 0, sizeof *ctl);
	msg->msg_control = ctl->buf;
	msg->msg_controllen = sizeof ctl->buf;
	struct cmsghdr *c = CMSG_FIRSTHDR(msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof fd);
}
