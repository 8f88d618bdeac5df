/*
 * Two helpers for the daemon's file verbs (cp, export, diff, commit); Node can
 * neither mount nor read xattrs.
 *
 * rootfs-hold [--userxattr] --upper U --work W --target T LOWER...
 *   Mounts the overlay of a stopped container on T in a private mount namespace
 *   of its own, prints "ready", and keeps it until stdin ends. The daemon reaches
 *   the merged view through /proc/PID/root/T (walking it without following any
 *   symlink); nothing is mounted on the host, and the mount dies with us whatever
 *   happens to the daemon.
 *
 * opaque-dirs [--userxattr] DIR
 *   Prints (NUL-terminated, relative to DIR) every directory below DIR that
 *   overlayfs marks opaque (trusted.overlay.opaque=y, or user.* with userxattr).
 */
#include "rootview.h"
#include "monitor.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <sys/stat.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/xattr.h>
#include <unistd.h>

#define MAX_LOWER 128

int rootfs_hold_main(int argc, char **argv)
{
	static const char *lower[MAX_LOWER];
	struct config c;
	memset(&c, 0, sizeof c);
	c.lower = lower;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--userxattr") == 0)
			c.rootless = true;
		else if (strcmp(argv[i], "--upper") == 0 && i + 1 < argc)
			c.upper = argv[++i];
		else if (strcmp(argv[i], "--work") == 0 && i + 1 < argc)
			c.work = argv[++i];
		else if (strcmp(argv[i], "--target") == 0 && i + 1 < argc)
			c.rootfs = argv[++i];
		else if (c.n_lower < MAX_LOWER)
			lower[c.n_lower++] = argv[i];
		else {
			dprintf(1, "error: rootfs-hold: more than %d layers\n", MAX_LOWER);
			return 1;
		}
	}
	if (!c.upper || !c.work || !c.rootfs || c.n_lower == 0) {
		dprintf(1, "error: usage: tdock-shim rootfs-hold [--userxattr] --upper U --work W --target T LOWER...\n");
		return 1;
	}
	/* The daemon going away must take the view with it. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) {
		syserr("rootfs-hold: prctl PDEATHSIG");
		dprintf(1, "error: %s\n", g_err);
		return 1;
	}
	if (unshare(CLONE_NEWNS) < 0) {
		syserr("rootfs-hold: unshare the mount namespace");
		dprintf(1, "error: %s\n", g_err);
		return 1;
	}
	/* Nothing we mount may propagate back to the host. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		syserr("rootfs-hold: make / private");
		dprintf(1, "error: %s\n", g_err);
		return 1;
	}
	if (mount_overlay(&c) < 0) {
		dprintf(1, "error: %s\n", g_err);
		return 1;
	}
	if (dprintf(1, "ready\n") < 0)
		return 1;
	char buf[256];
	for (;;) {
		ssize_t n = read(0, buf, sizeof buf);
		if (n == 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return 1;
	}
}

/*
 * Walks below dir (an fd we hold) one name at a time: directories are entered with
 * openat(O_DIRECTORY|O_NOFOLLOW) and their xattr is read through that fd, so a running
 * container swapping a directory for a symlink meanwhile never leads us out of its
 * upper dir. Prints the relative paths of the opaque ones.
 */
static int walk_opaque(int dir, char *rel, size_t len, const char *xattr, FILE *out, dev_t dev)
{
	char v[8];
	ssize_t n = fgetxattr(dir, xattr, v, sizeof v);
	if (n == 1 && v[0] == 'y') {
		const char *shown = len ? rel : ".";
		if (fwrite(shown, 1, strlen(shown) + 1, out) != strlen(shown) + 1)
			return syserr("opaque-dirs: write");
	}
	int d2 = dup(dir);
	if (d2 < 0)
		return syserr("opaque-dirs: dup");
	DIR *ds = fdopendir(d2);
	if (!ds) {
		close(d2);
		return syserr("opaque-dirs: fdopendir %s", len ? rel : ".");
	}
	int r = 0;
	struct dirent *e;
	while (r == 0 && (errno = 0, e = readdir(ds)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (e->d_type != DT_DIR && e->d_type != DT_UNKNOWN)
			continue;
		size_t nl = strlen(e->d_name);
		if (len + 1 + nl + 1 > PATH_MAX) {
			r = seterr("opaque-dirs: path too long below %s", rel);
			break;
		}
		int sub = openat(dir, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0)
			continue; /* not a directory (any more), or gone: nothing to list */
		struct stat st;
		if (fstat(sub, &st) < 0) {
			close(sub);
			r = syserr("opaque-dirs: fstat %s", e->d_name);
			break;
		}
		if (st.st_dev != dev) { /* another file system mounted there: not the upper dir's */
			close(sub);
			continue;
		}
		size_t at = len;
		if (len)
			rel[at++] = '/';
		memcpy(rel + at, e->d_name, nl + 1);
		r = walk_opaque(sub, rel, at + nl, xattr, out, dev);
		rel[len] = '\0';
		close(sub);
	}
	if (r == 0 && errno != 0)
		r = syserr("opaque-dirs: readdir %s", len ? rel : ".");
	closedir(ds);
	return r;
}

int opaque_dirs_main(int argc, char **argv)
{
	const char *xattr = "trusted.overlay.opaque";
	const char *dir = NULL;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--userxattr") == 0)
			xattr = "user.overlay.opaque";
		else
			dir = argv[i];
	}
	if (!dir) {
		dprintf(2, "usage: tdock-shim opaque-dirs [--userxattr] DIR\n");
		return 2;
	}
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		dprintf(2, "opaque-dirs: open %s: %s\n", dir, strerror(errno));
		return 1;
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		dprintf(2, "opaque-dirs: fstat %s: %s\n", dir, strerror(errno));
		close(fd);
		return 1;
	}
	static char rel[PATH_MAX];
	rel[0] = '\0';
	int r = walk_opaque(fd, rel, 0, xattr, stdout, st.st_dev);
	close(fd);
	if (r < 0) {
		dprintf(2, "%s\n", g_err);
		return 1;
	}
	if (fflush(stdout) != 0) {
		dprintf(2, "opaque-dirs: write: %s\n", strerror(errno));
		return 1;
	}
	return 0;
}
