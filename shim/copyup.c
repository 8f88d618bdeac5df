#include "copyup.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

/*
 * Everything is opened relative to a directory descriptor with O_NOFOLLOW: a
 * symlink in the image is copied as a symlink, never followed (it could point
 * anywhere, the host included, since this runs before pivot_root).
 */

#define MAX_DEPTH 256

/*
 * Files with more than one name in the image: the first copy's path (relative to
 * the volume's root), so later names become hard links to it, as in Docker's copy
 * (a database's or a package's hard links stay one file, and take its space once).
 */
struct link_seen {
	dev_t dev;
	ino_t ino;
	char *path;
};
static struct link_seen *links;
static size_t n_links, cap_links;
static int volume_root = -1;

static void links_free(void)
{
	for (size_t i = 0; i < n_links; i++)
		free(links[i].path);
	free(links);
	links = NULL;
	n_links = cap_links = 0;
}

static const char *link_find(const struct stat *st)
{
	for (size_t i = 0; i < n_links; i++)
		if (links[i].dev == st->st_dev && links[i].ino == st->st_ino)
			return links[i].path;
	return NULL;
}

static int link_add(const struct stat *st, const char *rel, const char *where)
{
	if (n_links == cap_links) {
		size_t cap = cap_links ? cap_links * 2 : 16;
		struct link_seen *n = realloc(links, cap * sizeof *n);
		if (!n)
			return seterr("copy up %s: out of memory", where);
		links = n;
		cap_links = cap;
	}
	char *copy = strdup(rel);
	if (!copy)
		return seterr("copy up %s: out of memory", where);
	links[n_links++] = (struct link_seen){ st->st_dev, st->st_ino, copy };
	return 0;
}

/*
 * Extended attributes of src onto dst (both open files or directories), after the
 * owner is set (chown drops security.capability). Ones the container's user namespace
 * may not set (trusted.*, a security module's) are skipped, as Docker's copy does.
 */
static int copy_xattrs(int src, int dst, const char *where)
{
	char names[65536];
	ssize_t len = flistxattr(src, names, sizeof names);
	if (len < 0) {
		if (errno == ENOTSUP || errno == EOPNOTSUPP)
			return 0;
		return syserr("copy up %s: list extended attributes", where);
	}
	static char value[65536];
	for (char *n = names; n < names + len; n += strlen(n) + 1) {
		ssize_t v = fgetxattr(src, n, value, sizeof value);
		if (v < 0) {
			if (errno == ENODATA)
				continue;
			return syserr("copy up %s: read extended attribute %s", where, n);
		}
		if (fsetxattr(dst, n, value, (size_t)v, 0) < 0 && errno != EPERM && errno != ENOTSUP && errno != EOPNOTSUPP)
			return syserr("copy up %s: set extended attribute %s", where, n);
	}
	return 0;
}

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

static int copy_dir(int src, int dst, const char *where, const char *rel, int depth);

/*
 * A directory (made already) or a regular file: its content, then owner, mode and
 * times, then extended attributes (after chown, which clears security.capability).
 */
static int copy_opened(int src, int dst, const char *name, const char *path, const char *relpath, int depth,
		       const struct stat *st)
{
	bool dir = S_ISDIR(st->st_mode);
	int r;
	int s = openat(src, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | (dir ? O_DIRECTORY : 0));
	int d = s < 0 ? -1
	       : dir ? openat(dst, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
		     : openat(dst, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (s < 0 || d < 0)
		r = syserr("copy up %s: open", path);
	else
		r = dir ? copy_dir(s, d, path, relpath, depth + 1) : copy_file(s, d, path);
	if (r == 0)
		r = set_meta(d, "", st, path);
	if (r == 0)
		r = copy_xattrs(s, d, path);
	if (s >= 0)
		close(s);
	if (d >= 0)
		close(d);
	return r < 0 ? -1 : 0;
}

static int copy_entry(int src, int dst, const char *name, const char *where, const char *rel, int depth)
{
	struct stat st;
	if (fstatat(src, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return syserr("copy up %s/%s: stat", where, name);
	char path[PATH_MAX], relpath[PATH_MAX];
	if ((size_t)snprintf(path, sizeof path, "%s/%s", where, name) >= sizeof path ||
	    (size_t)snprintf(relpath, sizeof relpath, "%s%s%s", rel, rel[0] ? "/" : "", name) >= sizeof relpath)
		return seterr("copy up %s/%s: path longer than %d bytes", where, name, PATH_MAX);
	int r = 0;
	if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
		const char *first = link_find(&st);
		if (first) {
			if (linkat(volume_root, first, dst, name, 0) < 0)
				return syserr("copy up %s: link to %s", path, first);
			return 0; /* one inode: owner, mode, times and attributes are already set */
		}
		if (link_add(&st, relpath, path) < 0)
			return -1;
	}
	if (S_ISDIR(st.st_mode)) {
		if (mkdirat(dst, name, 0700) < 0)
			return syserr("copy up %s: mkdir", path);
		return copy_opened(src, dst, name, path, relpath, depth, &st);
	} else if (S_ISREG(st.st_mode)) {
		return copy_opened(src, dst, name, path, relpath, depth, &st);
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

static int copy_dir(int src, int dst, const char *where, const char *rel, int depth)
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
		r = copy_entry(src, dst, e->d_name, where, rel, depth);
	}
	if (r == 0 && errno)
		r = syserr("copy up %s: readdir", where);
	closedir(d);
	return r;
}

static int copy_up_locked(int image_dir, int volume_dir, const char *where);

/*
 * Two containers starting at once on one new volume: without a lock the second saw
 * the volume half filled (not empty: no copy) or collided with the first's entries.
 * An exclusive flock on the volume's directory (the same inode for every container)
 * makes the empty check and the copy one step; the second then finds it full.
 */
int copy_up(int image_dir, int volume_dir, const char *where)
{
	int lock = openat(volume_dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (lock < 0)
		return syserr("copy up %s: open the volume", where);
	int r;
	while ((r = flock(lock, LOCK_EX)) < 0 && errno == EINTR)
		;
	if (r < 0)
		r = syserr("copy up %s: lock the volume", where);
	else
		r = copy_up_locked(image_dir, volume_dir, where);
	close(lock); /* releases the lock */
	return r;
}

static int copy_up_locked(int image_dir, int volume_dir, const char *where)
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
	else {
		volume_root = dst;
		r = copy_dir(src, dst, where, "", 0);
		volume_root = -1;
		links_free();
	}
	/* The volume's root takes the directory's owner and mode: a non-root user of the image can write. */
	if (r == 0)
		r = set_meta(dst, "", &st, where);
	if (r == 0)
		r = copy_xattrs(src, dst, where);
	if (src >= 0)
		close(src);
	if (dst >= 0)
		close(dst);
	return r;
}
