#include "workdir.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Like the kernel's limit on symlinks followed in one lookup. */
#define MAX_LINKS 40

/* A path of the new root, never through a symlink (the walk below resolved them all). */
static int open_plain(int root, const char *path)
{
	struct open_how how = {
		.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	int fd;
	do
		fd = (int)syscall(SYS_openat2, root, path, &how, sizeof how);
	while (fd < 0 && errno == EAGAIN);
	return fd;
}

/*
 * Resolves `cwd` the way chdir will (symlinks, then "..", physically), inside the
 * container's root: after pivot_root "/" is that root and ".." stops there, so no
 * symlink of the image reaches the host. Unlike chdir it goes on past a missing
 * component (a dangling symlink included), as Docker resolves `-w` in the rootfs
 * before it creates the directory. Returns 1 when something is missing, 0 when the
 * path exists (or a non-directory is in the way), -1 on error.
 */
static int resolve(const char *cwd, char *out, size_t size)
{
	char todo[PATH_MAX], link[PATH_MAX], next[PATH_MAX];
	if (snprintf(todo, sizeof todo, "%s", cwd) >= (int)sizeof todo)
		return seterr("create the working directory %s: path too long", cwd);
	size_t len = 0;
	out[0] = '\0';
	int links = 0, missing = 0;
	char *p = todo;
	for (;;) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		char *end = strchrnul(p, '/');
		size_t n = (size_t)(end - p);
		char *rest = *end ? end + 1 : end;
		if (n == 1 && p[0] == '.') {
			p = rest;
			continue;
		}
		/* below a missing directory ".." stays in the path: chdir needs that directory too */
		if (n == 2 && p[0] == '.' && p[1] == '.' && !missing) {
			char *slash = strrchr(out, '/');
			len = slash ? (size_t)(slash - out) : 0;
			out[len] = '\0';
			p = rest;
			continue;
		}
		if (len + 1 + n >= size)
			return seterr("create the working directory %s: path too long", cwd);
		out[len] = '/';
		memcpy(out + len + 1, p, n);
		out[len + 1 + n] = '\0';
		struct stat st;
		if (!missing && lstat(out, &st) < 0) {
			if (errno != ENOENT)
				return syserr("create the working directory %s: stat %s", cwd, out);
			missing = 1;
		}
		if (missing || S_ISDIR(st.st_mode)) {
			len += 1 + n;
			p = rest;
			continue;
		}
		if (!S_ISLNK(st.st_mode))
			return 0; /* chdir says "Not a directory" */
		if (++links > MAX_LINKS)
			return seterr("create the working directory %s: too many levels of symbolic links", cwd);
		ssize_t l = readlink(out, link, sizeof link - 1);
		if (l < 0)
			return syserr("create the working directory %s: readlink %s", cwd, out);
		link[l] = '\0';
		if (snprintf(next, sizeof next, "%s/%s", link, rest) >= (int)sizeof next)
			return seterr("create the working directory %s: path too long", cwd);
		memcpy(todo, next, sizeof todo);
		p = todo;
		/* the link replaces its own name; an absolute one starts again at the root */
		out[len] = '\0';
		if (link[0] == '/') {
			len = 0;
			out[0] = '\0';
		}
	}
	return missing;
}

int workdir_make(const struct config *c)
{
	char path[PATH_MAX];
	int r = resolve(c->cwd, path, sizeof path);
	if (r <= 0)
		return r;
	int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return syserr("create the working directory %s: open /", c->cwd);
	/* mkdir -p: only what this creates goes to the user (Docker's MkdirAllAndChownNew) */
	for (char *slash = path + 1;; slash++) {
		slash = strchrnul(slash, '/');
		char saved = *slash;
		*slash = '\0';
		int fd = open_plain(root, path);
		if (fd < 0 && errno == ENOENT) {
			char *name = strrchr(path, '/');
			*name = '\0';
			int parent = open_plain(root, path[0] ? path : "/");
			*name = '/';
			if (parent < 0) {
				syserr("create the working directory %s: open the parent of %s", c->cwd, path);
				close(root);
				return -1;
			}
			int made = mkdirat(parent, name + 1, 0755);
			if (made < 0 && errno != EEXIST) {
				syserr("create the working directory %s: mkdir %s", c->cwd, path);
				close(parent);
				close(root);
				return -1;
			}
			if (made == 0 && fchownat(parent, name + 1, c->uid, c->gid, AT_SYMLINK_NOFOLLOW) < 0) {
				syserr("create the working directory %s: chown %s to %u:%u", c->cwd, path,
				       (unsigned)c->uid, (unsigned)c->gid);
				close(parent);
				close(root);
				return -1;
			}
			close(parent);
			fd = open_plain(root, path);
		}
		if (fd < 0) {
			syserr("create the working directory %s: open %s", c->cwd, path);
			close(root);
			return -1;
		}
		close(fd);
		*slash = saved;
		if (!saved)
			break;
	}
	close(root);
	return 0;
}
