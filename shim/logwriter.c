/*
 * The log writer. Records are [header][data][trailer]: the trailer repeats the
 * length so that readers can walk a file from its end (`logs --tail`) without
 * reading it all.
 *
 * Rotation renames path -> path.1 -> path.2 ... (the oldest beyond max_files is
 * removed) and starts a new file. A record is never split between files, so a
 * reader that has the old file open reads it to its end, and a new inode at path
 * tells it that the old file is complete.
 */
#include "logwriter.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define RECORD_HEADER 16
#define RECORD_TRAILER 4
#define RECORD_OVERHEAD (RECORD_HEADER + RECORD_TRAILER)
#define FLAG_TRAILER 1

int logwriter_open(struct logwriter *w, const char *path, uint64_t max_size, unsigned max_files)
{
	w->path = path;
	w->max_size = max_size;
	w->max_files = max_files ? max_files : 1;
	w->error[0] = '\0';
	w->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (w->fd >= 0)
		w->created = true;
	else if (errno == EEXIST)
		w->fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	if (w->fd < 0)
		return syserr("open %s", path);
	/* A restarted container appends: what is there counts toward max_size. */
	struct stat st;
	if (fstat(w->fd, &st) < 0)
		return syserr("stat %s", path);
	w->size = (uint64_t)st.st_size;
	return 0;
}

/* Logging stops for good: the exit file's logError says why. */
static int stop(struct logwriter *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int stop(struct logwriter *w, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(w->error, sizeof w->error, fmt, ap);
	va_end(ap);
	close(w->fd);
	w->fd = -1;
	return -1;
}

/* path.i, the i-th newest rotated file. */
static int rotated_name(const struct logwriter *w, unsigned i, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s.%u", w->path, i);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

static int rotate(struct logwriter *w)
{
	char from[PATH_MAX], to[PATH_MAX];
	if (w->max_files == 1) {
		if (unlink(w->path) < 0 && errno != ENOENT)
			return stop(w, "rotate the log: unlink %s: %s", w->path, errstr(errno));
	} else {
		if (rotated_name(w, w->max_files - 1, to, sizeof to) < 0)
			return stop(w, "rotate the log: %s: path too long", w->path);
		if (unlink(to) < 0 && errno != ENOENT)
			return stop(w, "rotate the log: unlink %s: %s", to, errstr(errno));
		for (unsigned i = w->max_files - 1; i > 1; i--) {
			/* Both names are shorter than the one checked above. */
			rotated_name(w, i - 1, from, sizeof from);
			rotated_name(w, i, to, sizeof to);
			if (rename(from, to) < 0 && errno != ENOENT)
				return stop(w, "rotate the log: rename %s to %s: %s", from, to, errstr(errno));
		}
		rotated_name(w, 1, to, sizeof to);
		if (rename(w->path, to) < 0)
			return stop(w, "rotate the log: rename %s to %s: %s", w->path, to, errstr(errno));
	}
	int fd = open(w->path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return stop(w, "rotate the log: open %s: %s", w->path, errstr(errno));
	/* Every write to it has completed: closing a regular file loses nothing. */
	close(w->fd);
	w->fd = fd;
	w->size = 0;
	return 0;
}

/* One record, whole or not at all; false when logging stopped. */
static bool write_record(struct logwriter *w, unsigned char stream, const char *data, size_t len, uint64_t t)
{
	unsigned char h[RECORD_HEADER] = { stream, FLAG_TRAILER };
	unsigned char tr[RECORD_TRAILER];
	for (int i = 0; i < 4; i++)
		h[4 + i] = tr[i] = (unsigned char)(len >> (8 * i));
	for (int i = 0; i < 8; i++)
		h[8 + i] = (unsigned char)(t >> (8 * i));
	struct iovec iov[3] = { { h, sizeof h }, { (void *)data, len }, { tr, sizeof tr } };
	/* Where this record starts: a short write is cut back to it. */
	off_t start = lseek(w->fd, 0, SEEK_END);
	int seek_err = errno;
	size_t done = 0, total = RECORD_OVERHEAD + len;
	/* O_APPEND and one writev: a reader sees a record whole, or an incomplete tail it waits for. */
	while (done < total) {
		ssize_t n = writev(w->fd, iov, 3);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			errno = ENOSPC;
		if (n <= 0)
			break;
		done += (size_t)n;
		for (int i = 0; i < 3 && n > 0; i++) {
			size_t k = (size_t)n < iov[i].iov_len ? (size_t)n : iov[i].iov_len;
			iov[i].iov_base = (char *)iov[i].iov_base + k;
			iov[i].iov_len -= k;
			n -= (ssize_t)k;
		}
	}
	if (done == total) {
		w->size = start >= 0 ? (uint64_t)start + total : w->size + total;
		return true;
	}
	/*
	 * Disk full, RLIMIT_FSIZE...: a header that promises more bytes than follow
	 * would make every later record unreadable. Cut the partial record off and
	 * log no more.
	 */
	int saved = errno;
	if (start < 0)
		stop(w, "write the log: %s; lseek: %s", errstr(saved), errstr(seek_err));
	else if (done > 0 && ftruncate(w->fd, start) < 0)
		stop(w, "write the log: %s; ftruncate: %s", errstr(saved), errstr(errno));
	else
		stop(w, "write the log: %s", errstr(saved));
	return false;
}

void logwriter_record(struct logwriter *w, unsigned char stream, const void *data, size_t len)
{
	uint64_t t = now_realtime_ns();
	const char *p = data;
	/*
	 * What does not fit goes on in a new file, as separate records: the part that
	 * fits ends at a line, so every file starts at a line (what `logs` shows first
	 * once older files are dropped); only a line longer than a whole file is cut.
	 */
	while (len > 0 && w->fd >= 0) {
		if (!w->max_size || w->size + RECORD_OVERHEAD + len <= w->max_size) {
			write_record(w, stream, p, len, t);
			return;
		}
		uint64_t room = w->max_size > w->size + RECORD_OVERHEAD ? w->max_size - w->size - RECORD_OVERHEAD : 0;
		size_t take = 0;
		if (room > 0) {
			const char *nl = memrchr(p, '\n', (size_t)room);
			if (nl)
				take = (size_t)(nl - p) + 1;
			else if (w->size == 0)
				take = (size_t)room;
		} else if (w->size == 0) {
			take = len; /* max_size below a record's overhead: one record per file */
		}
		if (take > 0) {
			if (!write_record(w, stream, p, take, t))
				return;
			p += take;
			len -= take;
		}
		if (len > 0 && rotate(w) < 0)
			return;
	}
}
