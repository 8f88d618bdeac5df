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

#define _XOPEN_SOURCE_EXTENDED 1
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
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

static const char *g_opaque_xattr;
static size_t g_base_len;
static int g_out_err;

static int visit(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type != FTW_D)
		return 0;
	char v[8];
	ssize_t n = lgetxattr(path, g_opaque_xattr, v, sizeof v);
	if (n != 1 || v[0] != 'y')
		return 0;
	const char *rel = path + g_base_len;
	while (*rel == '/')
		rel++;
	if (*rel == '\0')
		rel = ".";
	size_t len = strlen(rel) + 1;
	if (fwrite(rel, 1, len, stdout) != len) {
		g_out_err = errno;
		return 1;
	}
	return 0;
}

int opaque_dirs_main(int argc, char **argv)
{
	g_opaque_xattr = "trusted.overlay.opaque";
	const char *dir = NULL;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--userxattr") == 0)
			g_opaque_xattr = "user.overlay.opaque";
		else
			dir = argv[i];
	}
	if (!dir) {
		dprintf(2, "usage: tdock-shim opaque-dirs [--userxattr] DIR\n");
		return 2;
	}
	g_base_len = strlen(dir);
	/* FTW_PHYS: never follow a symlink; FTW_MOUNT: never leave the upper dir's filesystem. */
	int r = nftw(dir, visit, 32, FTW_PHYS | FTW_MOUNT);
	if (r < 0) {
		dprintf(2, "opaque-dirs: walk %s: %s\n", dir, strerror(errno));
		return 1;
	}
	if (g_out_err || fflush(stdout) != 0) {
		dprintf(2, "opaque-dirs: write: %s\n", strerror(g_out_err ? g_out_err : errno));
		return 1;
	}
	return 0;
}
