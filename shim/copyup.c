#include "copyup.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * Everything is opened relative to a directory descriptor with O_NOFOLLOW: a
 * symlink in the image is copied as a symlink, never followed (it could point
 * anywhere, the host included, since this runs before pivot_root).
 */

#define MAX_DEPTH 256

/* Whether the directory has no entry but . and .. (-1 on error). */
static int dir_empty(int dirfd)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -1;
	}
	int empty = 1;
	errno = 0;
	for (struct dirent *e; (e = readdir(d));)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
			empty = 0;
			break;
		}
	int err = errno;
	closedir(d);
	if (err) {
		errno = err;
		return -1;
	}
	return empty;
}

/* Owner, mode and times of st onto name in fd ("" : fd itself); owner first: chown clears set-id bits. */
static int set_meta(int fd, const char *name, const struct stat *st, const char *where)
{
	/* An id outside the container's range cannot be set: the entry keeps ours. */
	if (fchownat(fd, name, st->st_uid, st->st_gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0 &&
	    errno != EINVAL && errno != EPERM && errno != EOVERFLOW)
		return syserr("copy up %s: chown", where);
	struct timespec ts[2] = { st->st_atim, st->st_mtim };
	if (!name[0]) {
		if (fchmod(fd, st->st_mode & 07777) < 0)
			return syserr("copy up %s: chmod", where);
		if (futimens(fd, ts) < 0)
			return syserr("copy up %s: set times", where);
		return 0;
	}
	if (!S_ISLNK(st->st_mode) && fchmodat(fd, name, st->st_mode & 07777, 0) < 0)
		return syserr("copy up %s: chmod", where);
	if (utimensat(fd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return syserr("copy up %s: set times", where);
	return 0;
}

static int copy_file(int src, int dst, const char *where)
{
	char buf[65536];
	for (;;) {
		ssize_t n = copy_file_range(src, NULL, dst, NULL, 1 << 30, 0);
		if (n == 0)
			return 0;
		if (n > 0)
			continue;
		if (errno != EXDEV && errno != EINVAL && errno != EOPNOTSUPP && errno != ENOSYS)
			return syserr("copy up %s", where);
		break;
	}
	/* Across file systems on older kernels: plain reads and writes. */
	for (;;) {
		ssize_t n = read(src, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return syserr("copy up %s: read", where);
		if (n == 0)
			return 0;
		if (write_full(dst, buf, (size_t)n) < 0)
			return syserr("copy up %s: write", where);
	}
}

static int copy_dir(int src, int dst, const char *where, int depth);

static int copy_entry(int src, int dst, const char *name, const char *where, int depth)
{
	struct stat st;
	if (fstatat(src, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return syserr("copy up %s/%s: stat", where, name);
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/%s", where, name);
	int r = 0;
	if (S_ISDIR(st.st_mode)) {
		if (mkdirat(dst, name, 0700) < 0)
			return syserr("copy up %s: mkdir", path);
		int s = openat(src, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		int d = s < 0 ? -1 : openat(dst, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (s < 0 || d < 0)
			r = syserr("copy up %s: open", path);
		else
			r = copy_dir(s, d, path, depth + 1);
		if (s >= 0)
			close(s);
		if (d >= 0)
			close(d);
	} else if (S_ISREG(st.st_mode)) {
		int s = openat(src, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		int d = s < 0 ? -1 : openat(dst, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (s < 0 || d < 0)
			r = syserr("copy up %s: open", path);
		else
			r = copy_file(s, d, path);
		if (s >= 0)
			close(s);
		if (d >= 0)
			close(d);
	} else if (S_ISLNK(st.st_mode)) {
		char target[PATH_MAX];
		ssize_t n = readlinkat(src, name, target, sizeof target - 1);
		if (n < 0)
			return syserr("copy up %s: readlink", path);
		target[n] = '\0';
		if (symlinkat(target, dst, name) < 0)
			return syserr("copy up %s: symlink", path);
	} else if (S_ISFIFO(st.st_mode)) {
		if (mkfifoat(dst, name, 0600) < 0)
			return syserr("copy up %s: mkfifo", path);
	} else {
		/* Devices and sockets: a user namespace cannot make them, and Docker's copy-up skips sockets too. */
		return 0;
	}
	return r < 0 ? -1 : set_meta(dst, name, &st, path);
}

static int copy_dir(int src, int dst, const char *where, int depth)
{
	if (depth > MAX_DEPTH)
		return seterr("copy up %s: deeper than %d directories", where, MAX_DEPTH);
	int fd = openat(src, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return syserr("copy up %s: open", where);
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return syserr("copy up %s: opendir", where);
	}
	int r = 0;
	errno = 0;
	for (struct dirent *e; r == 0 && (e = readdir(d)); errno = 0) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		r = copy_entry(src, dst, e->d_name, where, depth);
	}
	if (r == 0 && errno)
		r = syserr("copy up %s: readdir", where);
	closedir(d);
	return r;
}

int copy_up(int image_dir, int volume_dir, const char *where)
{
	int empty = dir_empty(volume_dir);
	if (empty < 0)
		return syserr("copy up %s: read the volume", where);
	if (!empty)
		return 0; /* a volume with data keeps it (Docker copies into empty volumes only) */
	struct stat st;
	if (fstat(image_dir, &st) < 0)
		return syserr("copy up %s: stat", where);
	if (!S_ISDIR(st.st_mode))
		return 0;
	int src = openat(image_dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int dst = src < 0 ? -1 : openat(volume_dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r;
	if (src < 0 || dst < 0)
		r = syserr("copy up %s: open", where);
	else
		r = copy_dir(src, dst, where, 0);
	/* The volume's root takes the directory's owner and mode: a non-root user of the image can write. */
	if (r == 0)
		r = set_meta(dst, "", &st, where);
	if (src >= 0)
		close(src);
	if (dst >= 0)
		close(dst);
	return r;
}
