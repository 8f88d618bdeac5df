/*
 * Turns the whiteouts of an unpacked image layer into what overlayfs reads:
 * stdin holds NUL-terminated records, `w<path>` (a character device 0:0 at
 * path, replacing whatever is there) or `o<path>` (trusted.overlay.opaque=y on
 * that directory). Node can do neither mknod nor setxattr.
 *
 * A layer comes from an image, i.e. from anyone: every path is walked one
 * component at a time from the layer's directory with O_NOFOLLOW, so `..`,
 * absolute paths and symlinks never lead a write outside it.
 */
#include "whiteouts.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#define RECORD_MAX (PATH_MAX + 1) /* type byte + path */

struct options {
	uid_t uid;
	gid_t gid;
	const char *opaque_xattr;
};

/* "escapes the layer" is the one answer for every path that tries to leave it. */
static int escapes(const char *path)
{
	return seterr("whiteout %s: escapes the layer", path);
}

/* Opens (creating it when missing: mode 0755, owned like the whiteouts) one directory below dir. */
static int open_dir(int dir, const char *comp, const char *shown, const struct options *o)
{
	int fd = openat(dir, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		if (mkdirat(dir, comp, 0755) < 0 && errno != EEXIST)
			return syserr("whiteout %s: mkdir %s", shown, comp);
		if (fchownat(dir, comp, o->uid, o->gid, AT_SYMLINK_NOFOLLOW) < 0)
			return syserr("whiteout %s: chown %s", shown, comp);
		fd = openat(dir, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd >= 0)
		return fd;
	int err = errno;
	struct stat st;
	if (err == ELOOP || (fstatat(dir, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)))
		return escapes(shown);
	errno = err;
	return syserr("whiteout %s: open %s", shown, comp);
}

/*
 * Opens the directory that holds the last component of path (cut into pieces
 * in place) and points *name at that component ("" for the layer itself).
 */
static int open_parent(int layer, char *path, const char *shown, const struct options *o, char **name)
{
	if (path[0] == '/')
		return escapes(shown);
	static char *comps[PATH_MAX / 2 + 1];
	size_t n = 0;
	char *save = NULL;
	for (char *c = strtok_r(path, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		if (strcmp(c, "..") == 0)
			return escapes(shown);
		if (strcmp(c, ".") != 0)
			comps[n++] = c;
	}
	int dir = dup(layer);
	if (dir < 0)
		return syserr("whiteout %s: dup", shown);
	for (size_t i = 0; i + 1 < n; i++) {
		int fd = open_dir(dir, comps[i], shown, o);
		close(dir);
		if (fd < 0)
			return -1;
		dir = fd;
	}
	*name = n ? comps[n - 1] : path + strlen(path);
	return dir;
}

/* Removes name below dir, whatever it is; directories recursively, links never followed. */
static int remove_tree(int dir, const char *name, const char *shown)
{
	if (unlinkat(dir, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR)
		return syserr("whiteout %s: remove %s", shown, name);
	int fd = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return syserr("whiteout %s: open %s", shown, name);
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return syserr("whiteout %s: read %s", shown, name);
	}
	int r = 0;
	struct dirent *e;
	errno = 0;
	while (r == 0 && (e = readdir(d))) {
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			r = remove_tree(dirfd(d), e->d_name, shown);
		errno = 0;
	}
	if (r == 0 && errno)
		r = syserr("whiteout %s: read %s", shown, name);
	closedir(d);
	if (r == 0 && unlinkat(dir, name, AT_REMOVEDIR) < 0)
		r = syserr("whiteout %s: remove %s", shown, name);
	return r;
}

static int whiteout(int dir, const char *name, const char *shown, const struct options *o)
{
	if (!name[0])
		return seterr("whiteout %s: not a path below the layer", shown);
	if (remove_tree(dir, name, shown) < 0)
		return -1;
	if (mknodat(dir, name, S_IFCHR, makedev(0, 0)) < 0)
		return syserr("whiteout %s: mknod", shown);
	if (fchownat(dir, name, o->uid, o->gid, AT_SYMLINK_NOFOLLOW) < 0)
		return syserr("whiteout %s: chown", shown);
	return 0;
}

static int opaque(int dir, const char *name, const char *shown, const struct options *o)
{
	int fd = openat(dir, name[0] ? name : ".", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		struct stat st;
		if (errno == ELOOP || (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)))
			return escapes(shown);
		return syserr("whiteout %s: open", shown);
	}
	int r = fsetxattr(fd, o->opaque_xattr, "y", 1, 0);
	if (r < 0)
		syserr("whiteout %s: set %s", shown, o->opaque_xattr);
	close(fd);
	return r;
}

static int apply(int layer, const char *record, size_t len, const struct options *o)
{
	char path[RECORD_MAX], shown[RECORD_MAX];
	if (len < 2 || (record[0] != 'w' && record[0] != 'o'))
		return seterr("whiteouts: bad record (expected w<path> or o<path>)");
	if (len > RECORD_MAX)
		return seterr("whiteouts: record longer than PATH_MAX");
	memcpy(path, record + 1, len - 1);
	path[len - 1] = '\0';
	memcpy(shown, path, len);
	char *name = NULL;
	int dir = open_parent(layer, path, shown, o, &name);
	if (dir < 0)
		return -1;
	int r = record[0] == 'w' ? whiteout(dir, name, shown, o) : opaque(dir, name, shown, o);
	close(dir);
	return r;
}

/* Reads NUL-terminated records from stdin and applies each as soon as it is whole. */
static int apply_all(int layer, const struct options *o)
{
	static char buf[2 * RECORD_MAX];
	size_t have = 0;
	for (;;) {
		ssize_t n = read(0, buf + have, sizeof buf - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return syserr("whiteouts: read stdin");
		have += (size_t)n;
		size_t off = 0;
		char *nul;
		while ((nul = memchr(buf + off, '\0', have - off))) {
			if (apply(layer, buf + off, (size_t)(nul - (buf + off)), o) < 0)
				return -1;
			off = (size_t)(nul - buf) + 1;
		}
		memmove(buf, buf + off, have - off);
		have -= off;
		if (n == 0)
			return have ? seterr("whiteouts: the last record has no NUL") : 0;
		if (have > RECORD_MAX)
			return seterr("whiteouts: record longer than PATH_MAX");
	}
}

static int parse_id(const char *s, unsigned *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (!*s || *end || errno || v > 0xFFFFFFFEul || s[0] == '-')
		return -1;
	*out = (unsigned)v;
	return 0;
}

int whiteouts_main(int argc, char **argv)
{
	struct options o = { 0, 0, "trusted.overlay.opaque" };
	const char *layer_dir = NULL;
	for (int i = 0; i < argc; i++) {
		unsigned id;
		if ((strcmp(argv[i], "--uid") == 0 || strcmp(argv[i], "--gid") == 0) && i + 1 < argc &&
		    parse_id(argv[i + 1], &id) == 0) {
			if (argv[i][2] == 'u')
				o.uid = id;
			else
				o.gid = id;
			i++;
		} else if (strcmp(argv[i], "--userxattr") == 0) {
			/* Rootless overlay (mounted with userxattr) reads user.overlay.* instead. */
			o.opaque_xattr = "user.overlay.opaque";
		} else if (argv[i][0] != '-' && !layer_dir) {
			layer_dir = argv[i];
		} else {
			dprintf(2, "error: whiteouts: bad argument %s\n", argv[i]);
			return 1;
		}
	}
	if (!layer_dir) {
		dprintf(2, "error: whiteouts: LAYER_DIR missing\n");
		return 1;
	}
	/* Directory-relative *at() calls below create files with exactly the modes given. */
	umask(0);
	int layer = open(layer_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (layer < 0) {
		dprintf(2, "error: whiteouts: open %s: %s\n", layer_dir, errstr(errno));
		return 1;
	}
	if (apply_all(layer, &o) < 0) {
		dprintf(2, "error: %s\n", g_err);
		return 1;
	}
	return 0;
}
