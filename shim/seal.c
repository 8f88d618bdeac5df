/*
 * Every process of a container starts as a copy of the shim: init is cloned from
 * the monitor, the command and an exec'd process are forked before they exec. So
 * /proc/PID/exe of such a process, and of anything that re-executes
 * /proc/self/exe in the container, is the shim's binary. It must never be the
 * host's file (CVE-2019-5736: a container that can write it owns the next
 * container start). The monitor and `exec` therefore re-execute themselves, once,
 * from a copy nobody can write, before they fork anything:
 *
 *   1. a read-only overlayfs of the binary's directory, mounted detached (fsmount
 *      without move_mount: in no mount namespace, no path leads to it). It copies
 *      nothing (the page cache is the host file's) and cannot be made writable:
 *      overlayfs without an upper layer is read-only in its superblock, and no
 *      file of it leads to the real inode. A lower-only overlay needs two layers:
 *      the second is an empty detached tmpfs.
 *   2. when that is impossible (no overlayfs, the directory cannot be a layer, the
 *      binary was replaced meanwhile): a memfd copy with write, grow, shrink and
 *      seal seals (runc's method before 1.2). It costs a copy and its memory for
 *      the monitor's life.
 *
 * Nothing is left to clean up: the copy lives as long as a process executes it.
 */
#include "seal.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U /* Linux 6.3: an executable memfd even with vm.memfd_noexec=1 */
#endif
#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC 0x0020 /* Linux 6.3: the mode's exec bits are fixed too */
#endif

#define MEMFD_SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

static const char name[] = "tdock-shim";

/*
 * A memfd with every seal, or a read-only overlayfs that no path leads to (ours is
 * detached: /proc/self/exe names it relative to its own root, which resolves to
 * nothing here or to another file). A binary installed on a read-only overlay is
 * still a host file by its path: it gets sealed like any other.
 */
static bool is_sealed(int exe)
{
	int seals = fcntl(exe, F_GET_SEALS);
	if (seals >= 0)
		return (seals & MEMFD_SEALS) == MEMFD_SEALS;
	struct statfs fs;
	if (fstatfs(exe, &fs) < 0 || fs.f_type != OVERLAYFS_SUPER_MAGIC || !(fs.f_flags & ST_RDONLY))
		return false;
	char path[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
	struct stat self, there;
	if (n <= 0 || fstat(exe, &self) < 0)
		return false;
	path[n] = '\0';
	return stat(path, &there) < 0 || there.st_dev != self.st_dev || there.st_ino != self.st_ino;
}

/* The overlay's own reason, when it gave one (mount_overlay in monitor.c does the same). */
static int fs_fail(int fs, const char *step)
{
	int saved = errno;
	char log[256];
	ssize_t n = read(fs, log, sizeof log - 1);
	if (n > 2) {
		log[n] = '\0';
		log[strcspn(log, "\n")] = '\0';
		return seterr("seal the binary: %s: %s (%s)", step, errstr(saved), log + 2);
	}
	errno = saved;
	return syserr("seal the binary: %s", step);
}

/* An empty detached tmpfs: the second layer a lower-only overlay needs. */
static int empty_layer(void)
{
	int fs = fsopen("tmpfs", FSOPEN_CLOEXEC);
	if (fs < 0)
		return syserr("seal the binary: fsopen tmpfs");
	int mnt = -1;
	if (fsconfig(fs, FSCONFIG_SET_STRING, "size", "4k", 0) < 0 ||
	    fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		fs_fail(fs, "create the empty layer");
	else if ((mnt = fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC)) < 0)
		syserr("seal the binary: fsmount the empty layer");
	close(fs);
	return mnt;
}

static bool same_file(int a, int b)
{
	struct stat x, y;
	return fstat(a, &x) == 0 && fstat(b, &y) == 0 && x.st_ino == y.st_ino && x.st_size == y.st_size &&
	       x.st_mtim.tv_sec == y.st_mtim.tv_sec && x.st_mtim.tv_nsec == y.st_mtim.tv_nsec;
}

/* Method 1: the binary through a detached read-only overlay of its directory. */
static int seal_overlay(int exe)
{
	char path[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
	if (n <= 0)
		return syserr("seal the binary: readlink /proc/self/exe");
	path[n] = '\0';
	char *slash = strrchr(path, '/');
	if (!slash || !slash[1])
		return seterr("seal the binary: %s: not a file path", path);
	const char *file = slash + 1;
	*slash = '\0';
	const char *dir = path[0] ? path : "/";

	int layer = empty_layer();
	if (layer < 0)
		return -1;
	int fs = fsopen("overlay", FSOPEN_CLOEXEC);
	if (fs < 0) {
		close(layer);
		return syserr("seal the binary: fsopen overlay");
	}
	int r = -1, fd = -1;
	/* The binary's directory on top, so the empty layer can hide nothing. */
	if (fsconfig(fs, FSCONFIG_SET_STRING, "lowerdir+", dir, 0) < 0)
		fs_fail(fs, "overlay lowerdir+ (the binary's directory)");
	else if (fsconfig(fs, FSCONFIG_SET_FD, "lowerdir+", NULL, layer) < 0)
		fs_fail(fs, "overlay lowerdir+ (the empty layer)");
	/* Inode numbers of the layers pass through unchanged: same_file compares them. */
	else if (fsconfig(fs, FSCONFIG_SET_STRING, "xino", "off", 0) < 0)
		fs_fail(fs, "overlay xino=off");
	else if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		fs_fail(fs, "create the overlay");
	else
		r = 0;
	close(layer);
	int mnt = -1;
	if (r == 0 && (mnt = fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV)) < 0)
		syserr("seal the binary: fsmount the overlay");
	close(fs);
	if (mnt < 0)
		return -1;
	fd = openat(mnt, file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	close(mnt);
	if (fd < 0)
		return syserr("seal the binary: open %s in the overlay", file);
	/* The path may name another file by now (a rebuild renames over it): we run ours only. */
	if (!same_file(fd, exe)) {
		close(fd);
		return seterr("seal the binary: %s/%s is no longer the running binary", dir, file);
	}
	return fd;
}

/* Method 2: a sealed memfd copy of the running binary itself. */
static int seal_memfd(int exe)
{
	int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
	if (fd < 0 && errno == EINVAL) /* before Linux 6.3 */
		fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return syserr("seal the binary: memfd_create");
	struct stat st;
	if (fstat(exe, &st) < 0) {
		syserr("seal the binary: stat /proc/self/exe");
		goto fail;
	}
	off_t off = 0;
	while (off < st.st_size) {
		ssize_t n = sendfile(fd, exe, &off, (size_t)(st.st_size - off));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			syserr("seal the binary: copy into the memfd");
			goto fail;
		}
	}
	if (fchmod(fd, 0555) < 0) {
		syserr("seal the binary: chmod the memfd");
		goto fail;
	}
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_EXEC) < 0 && errno != EINVAL) { /* EINVAL: before Linux 6.3 */
		syserr("seal the binary: seal the memfd's mode");
		goto fail;
	}
	if (fcntl(fd, F_ADD_SEALS, MEMFD_SEALS) < 0) {
		syserr("seal the binary: seal the memfd");
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

int seal_self(char **argv)
{
	/* Set across our own re-execution only: a copy that fails is_sealed is then an error, not a loop. */
	static const char again_var[] = "_TDOCK_SHIM_SEALED";
	bool again = getenv(again_var) != NULL;
	if (again && unsetenv(again_var) < 0)
		return syserr("seal the binary: unsetenv");
	int exe = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (exe < 0)
		return syserr("seal the binary: open /proc/self/exe");
	if (is_sealed(exe)) {
		close(exe);
		/* Older kernels name a process executed from a descriptor after its number. */
		if (prctl(PR_SET_NAME, name, 0, 0, 0) < 0)
			return syserr("seal the binary: set the process name");
		return 0;
	}
	if (again) {
		close(exe);
		return seterr("seal the binary: the copy it runs from is not sealed");
	}
	int fd = seal_overlay(exe);
	if (fd < 0)
		fd = seal_memfd(exe);
	close(exe);
	if (fd < 0)
		return -1;
	extern char **environ;
	if (setenv(again_var, "1", 1) < 0) {
		close(fd);
		return syserr("seal the binary: setenv");
	}
	syscall(SYS_execveat, fd, "", argv, environ, AT_EMPTY_PATH);
	syserr("seal the binary: execute the sealed copy");
	unsetenv(again_var);
	close(fd);
	return -1;
}
