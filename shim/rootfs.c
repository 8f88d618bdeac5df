#include "rootfs.h"
#include "copyup.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

/*
 * Every path inside the container is resolved with openat2(RESOLVE_IN_ROOT)
 * against this directory, so a symlink planted in the image (/dev -> /etc on
 * the host, say) can never send a mount outside the container. Mounts then go
 * onto the resolved O_PATH descriptor through /proc/self/fd (like runc).
 */
static int root_fd = -1;

static int open_in_root(const char *path, int flags, mode_t mode)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.mode = (flags & O_CREAT) ? mode : 0,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	int fd;
	do
		fd = (int)syscall(SYS_openat2, root_fd, path, &how, sizeof how);
	while (fd < 0 && errno == EAGAIN);
	return fd;
}

static const char *fd_path(int fd)
{
	static char buf[32];
	snprintf(buf, sizeof buf, "/proc/self/fd/%d", fd);
	return buf;
}

/* mkdir -p, each step resolved inside the root. */
static int make_dirs(const char *path)
{
	char buf[PATH_MAX];
	if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
		return seterr("mkdir %s: path too long", path);
	size_t len = strlen(buf);
	for (size_t i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		char saved = buf[i];
		buf[i] = '\0';
		int fd = open_in_root(buf, O_PATH | O_DIRECTORY, 0);
		if (fd < 0 && errno == ENOENT) {
			char *slash = strrchr(buf, '/');
			*slash = '\0';
			int parent = open_in_root(buf[0] ? buf : "/", O_PATH | O_DIRECTORY, 0);
			*slash = '/';
			if (parent < 0)
				return syserr("mkdir %s", buf);
			if (mkdirat(parent, slash + 1, 0755) < 0 && errno != EEXIST) {
				syserr("mkdir %s", buf);
				close(parent);
				return -1;
			}
			close(parent);
			fd = open_in_root(buf, O_PATH | O_DIRECTORY, 0);
		}
		if (fd < 0)
			return syserr("mkdir %s", buf);
		close(fd);
		buf[i] = saved;
	}
	return 0;
}

/*
 * An O_PATH descriptor for a mount target, creating a directory or an empty file.
 * A dangling symlink on the way is followed as the container would see it (an
 * absolute target from the container's root), and what it names is made there.
 */
static int mount_target_at(const char *path, bool dir, int depth)
{
	int fd = open_in_root(path, O_PATH, 0);
	if (fd >= 0 || errno != ENOENT)
		return fd >= 0 ? fd : syserr("open %s", path);
	if (depth > 40) {
		errno = ELOOP;
		return syserr("open %s", path);
	}

	char parent[PATH_MAX];
	snprintf(parent, sizeof parent, "%s", path);
	char *slash = strrchr(parent, '/');
	*slash = '\0';
	if (parent[0] && make_dirs(parent) < 0)
		return -1;
	int pfd = open_in_root(parent[0] ? parent : "/", O_PATH | O_DIRECTORY, 0);
	if (pfd < 0)
		return syserr("open %s", parent[0] ? parent : "/");
	const char *name = slash + 1;
	int r = dir ? mkdirat(pfd, name, 0755) : openat(pfd, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (r < 0 && errno == EEXIST) {
		/* A dangling symlink (open_in_root found nothing behind it): make its target. */
		char link[PATH_MAX], next[PATH_MAX];
		ssize_t n = readlinkat(pfd, name, link, sizeof link - 1);
		close(pfd);
		if (n < 0)
			return syserr("open %s", path);
		link[n] = '\0';
		if (link[0] == '/')
			snprintf(next, sizeof next, "%s", link);
		else if (snprintf(next, sizeof next, "%s/%s", parent, link) >= (int)sizeof next)
			return seterr("open %s: path too long", path);
		return mount_target_at(next, dir, depth + 1);
	}
	if (r < 0) {
		syserr("create %s", path);
		close(pfd);
		return -1;
	}
	if (!dir)
		close(r);
	close(pfd);
	fd = open_in_root(path, O_PATH, 0);
	return fd >= 0 ? fd : syserr("open %s", path);
}

static int mount_target(const char *path, bool dir)
{
	return mount_target_at(path, dir, 0);
}

static int mount_fs(const char *what, const char *fstype, const char *dest, unsigned long flags, const char *data)
{
	int fd = mount_target(dest, true);
	if (fd < 0)
		return -1;
	int r = mount(what, fd_path(fd), fstype, flags, data);
	if (r < 0)
		syserr("mount %s", dest);
	close(fd);
	return r;
}

/*
 * Bind with the new mount API: the clone gets its attributes (read-only...)
 * before it becomes visible, and mount_setattr() changes only the bits asked
 * for, so the flags the kernel locked for a less privileged namespace
 * (nosuid, nodev, atime...) never make the remount fail with EPERM.
 */
static int bind_at(const char *dest, int src_dirfd, const char *src, int target_fd,
		   bool recursive, uint64_t attr)
{
	unsigned flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0) |
			 (src[0] ? 0 : AT_EMPTY_PATH);
	int tree = open_tree(src_dirfd, src, flags);
	if (tree < 0)
		return syserr("bind %s on %s", src[0] ? src : "itself", dest);
	if (attr) {
		struct mount_attr a = { .attr_set = attr };
		if (mount_setattr(tree, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &a, sizeof a) < 0) {
			syserr("set attributes of %s", dest);
			close(tree);
			return -1;
		}
	}
	int r = move_mount(tree, "", target_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
	if (r < 0)
		syserr("mount %s", dest);
	close(tree);
	return r;
}

static int bind_host(const char *src, const char *dest, bool recursive, uint64_t attr)
{
	struct stat st;
	if (stat(src, &st) < 0)
		return syserr("bind %s: stat source %s", dest, src);
	int fd = mount_target(dest, S_ISDIR(st.st_mode));
	if (fd < 0)
		return -1;
	int r = bind_at(dest, AT_FDCWD, src, fd, recursive, attr);
	close(fd);
	return r;
}

static int write_sysctls(const struct config *c)
{
	for (size_t i = 0; i < c->n_sysctls; i++) {
		char path[PATH_MAX];
		snprintf(path, sizeof path, "/proc/sys/%s", c->sysctls[i].key);
		for (char *p = path + 10; *p; p++)
			if (*p == '.')
				*p = '/';
		int fd = open_in_root(path, O_WRONLY, 0);
		if (fd < 0)
			return syserr("sysctl %s", c->sysctls[i].key);
		const char *v = c->sysctls[i].value;
		if (write_full(fd, v, strlen(v)) < 0) {
			syserr("sysctl %s=%s", c->sysctls[i].key, v);
			close(fd);
			return -1;
		}
		close(fd);
	}
	return 0;
}

static int setup_dev(void)
{
	if (mount_fs("tmpfs", "tmpfs", "/dev", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k") < 0)
		return -1;
	/* Bound from the host: a user namespace cannot mknod, and binds keep the devices usable. */
	static const char *const devices[] = { "null", "zero", "full", "random", "urandom", "tty" };
	for (size_t i = 0; i < sizeof devices / sizeof devices[0]; i++) {
		char src[32], dest[32];
		snprintf(src, sizeof src, "/dev/%s", devices[i]);
		snprintf(dest, sizeof dest, "/dev/%s", devices[i]);
		if (bind_host(src, dest, false, 0) < 0)
			return -1;
	}
	if (mount_fs("devpts", "devpts", "/dev/pts", MS_NOSUID | MS_NOEXEC,
		     "newinstance,ptmxmode=0666,mode=0620,gid=5") < 0 ||
	    mount_fs("shm", "tmpfs", "/dev/shm", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k") < 0 ||
	    mount_fs("mqueue", "mqueue", "/dev/mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		return -1;

	int dev = open_in_root("/dev", O_PATH | O_DIRECTORY, 0);
	if (dev < 0)
		return syserr("open /dev");
	static const char *const links[][2] = {
		{ "pts/ptmx", "ptmx" }, { "/proc/self/fd", "fd" }, { "/proc/self/fd/0", "stdin" },
		{ "/proc/self/fd/1", "stdout" }, { "/proc/self/fd/2", "stderr" },
	};
	for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
		if (symlinkat(links[i][0], dev, links[i][1]) < 0) {
			syserr("symlink /dev/%s", links[i][1]);
			close(dev);
			return -1;
		}
	}
	close(dev);
	return 0;
}

/*
 * The container's cgroups at /sys/fs/cgroup, as runc mounts them: a runtime (JVM,
 * Go, .NET) sizes itself from the limits there, and sees the host's otherwise. A
 * fresh cgroupfs mount in our cgroup namespace has the container's cgroup as its
 * root: nothing above it (no release_agent) is visible. Read-only: the limits
 * are the daemon's to set.
 */
#define MAX_HIERARCHIES 32
static struct hierarchy {
	char data[128]; /* v1: its controllers and name=, the mount's options; "" for cgroup2 */
	char dir[128];  /* its directory under /sys/fs/cgroup (v1) */
} hierarchies[MAX_HIERARCHIES];
static size_t n_hierarchies;
static bool host_has_v1; /* v1 hierarchies on the host: a tmpfs with one directory each */

int rootfs_note_cgroups(void)
{
	char buf[16384];
	ssize_t len = read_small_file("/proc/self/cgroup", buf, sizeof buf);
	if (len < 0)
		return -1;
	if ((size_t)len == sizeof buf - 1)
		return seterr("read /proc/self/cgroup: longer than %zu bytes", sizeof buf - 1);
	for (char *line = buf, *next; *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		else
			next = line + strlen(line);
		char *c1 = strchr(line, ':');
		char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			return seterr("read /proc/self/cgroup: unexpected line %s", line);
		*c2 = '\0';
		const char *controllers = c1 + 1, *path = c2 + 1;
		if (*controllers)
			host_has_v1 = true;
		/* Left in a hierarchy's root (nobody placed us): a mount would show the host's whole tree. */
		if (strcmp(path, "/") == 0)
			continue;
		if (n_hierarchies == MAX_HIERARCHIES)
			return seterr("read /proc/self/cgroup: more than %d hierarchies", MAX_HIERARCHIES);
		struct hierarchy *h = &hierarchies[n_hierarchies++];
		if (!*controllers) {
			strcpy(h->dir, "unified"); /* where a hybrid host has cgroup2 */
			continue;
		}
		if (strlen(controllers) >= sizeof h->data)
			return seterr("read /proc/self/cgroup: controllers %s: too long", controllers);
		strcpy(h->data, controllers);
		/* "cpu,cpuacct" for comounted controllers, "systemd" for name=systemd (runc's names). */
		char copy[sizeof h->data], *save = NULL;
		strcpy(copy, controllers);
		const char *name = "";
		for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			if (strncmp(t, "name=", 5) == 0) {
				name = controllers + (t - copy) + 5;
				continue;
			}
			size_t used = strlen(h->dir);
			snprintf(h->dir + used, sizeof h->dir - used, "%s%s", used ? "," : "", t);
		}
		if (!h->dir[0])
			snprintf(h->dir, sizeof h->dir, "%.*s", (int)strcspn(name, ","), name);
		if (!h->dir[0] || strchr(h->dir, '/') || strcmp(h->dir, ".") == 0 || strcmp(h->dir, "..") == 0)
			return seterr("read /proc/self/cgroup: controllers %s: no usable name", controllers);
	}
	return 0;
}

static int mount_cgroups(void)
{
	const unsigned long ro = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RELATIME;
	if (n_hierarchies == 0)
		return 0;
	if (!host_has_v1)
		return mount_fs("cgroup2", "cgroup2", "/sys/fs/cgroup", ro, NULL);
	if (mount_fs("tmpfs", "tmpfs", "/sys/fs/cgroup", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755,size=64k") < 0)
		return -1;
	for (size_t i = 0; i < n_hierarchies; i++) {
		const struct hierarchy *h = &hierarchies[i];
		char dest[sizeof h->dir + 16];
		snprintf(dest, sizeof dest, "/sys/fs/cgroup/%s", h->dir);
		if (mount_fs("cgroup", h->data[0] ? "cgroup" : "cgroup2", dest, ro, h->data[0] ? h->data : NULL) < 0)
			return -1;
	}
	int dir = open_in_root("/sys/fs/cgroup", O_PATH | O_DIRECTORY, 0);
	if (dir < 0)
		return syserr("open /sys/fs/cgroup");
	int r = 0;
	/* Each of comounted controllers by its own name too: cpu -> cpu,cpuacct. */
	for (size_t i = 0; i < n_hierarchies && r == 0; i++) {
		const char *d = hierarchies[i].dir;
		if (!strchr(d, ','))
			continue;
		char copy[sizeof hierarchies[i].dir], *save = NULL;
		strcpy(copy, d);
		for (char *t = strtok_r(copy, ",", &save); t && r == 0; t = strtok_r(NULL, ",", &save))
			if (symlinkat(d, dir, t) < 0 && errno != EEXIST)
				r = syserr("symlink /sys/fs/cgroup/%s", t);
	}
	struct mount_attr a = { .attr_set = MOUNT_ATTR_RDONLY };
	if (r == 0 && mount_setattr(dir, "", AT_EMPTY_PATH, &a, sizeof a) < 0)
		r = syserr("make /sys/fs/cgroup read-only");
	close(dir);
	return r;
}

/* The monitor's idmapped trees by config mount index, fd + 1 (0: none). */
static int trees[MAX_MOUNTS];

int rootfs_take_tree(const struct config *c, const char *index, int fd)
{
	char *end;
	unsigned long i = strtoul(index, &end, 10);
	if (fd < 0 || end == index || *end || i >= c->n_mounts || !c->mounts[i].idmap || trees[i]) {
		if (fd >= 0)
			close(fd);
		return seterr("receive an idmapped bind: unexpected message \"%s\"", index);
	}
	trees[i] = fd + 1;
	return 0;
}

/*
 * A user's bind or volume: the monitor's idmapped tree, or our own clone of the
 * source. The target is resolved inside the root (mount_target: a symlink in the
 * image can never send it to the host); a volume is filled first (copy-up); the
 * read-only and other attributes are set once the mount is ours.
 */
static int user_bind(const struct mount_spec *m, int tree)
{
	if (tree < 0) {
		tree = open_tree(AT_FDCWD, m->source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (m->recursive ? AT_RECURSIVE : 0));
		if (tree < 0)
			return syserr("bind %s on %s", m->source, m->destination);
	}
	int target = -1, r = -1;
	struct stat st;
	if (fstat(tree, &st) < 0) {
		syserr("bind %s on %s: stat the source", m->source, m->destination);
		goto out;
	}
	target = mount_target(m->destination, S_ISDIR(st.st_mode));
	if (target < 0)
		goto out;
	if (m->copyup && S_ISDIR(st.st_mode) && copy_up(target, tree, m->destination) < 0)
		goto out;
	if (move_mount(tree, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0) {
		syserr("mount %s", m->destination);
		goto out;
	}
	if (m->attr_set) {
		struct mount_attr a = { .attr_set = m->attr_set };
		if (mount_setattr(tree, "", AT_EMPTY_PATH | (m->recursive ? AT_RECURSIVE : 0), &a, sizeof a) < 0) {
			syserr("set attributes of %s", m->destination);
			goto out;
		}
	}
	r = 0;
out:
	if (target >= 0)
		close(target);
	close(tree);
	return r;
}

#ifndef PROC_SUPER_MAGIC
#define PROC_SUPER_MAGIC 0x9fa0
#endif

/*
 * Where a user's mount would land, checked before anything is made there, as the
 * container will see it (symlinks of the image followed inside the rootfs):
 *  - inside /proc only a file over a file the container asked for by its /proc
 *    path (the daemon allows lxcfs's /proc/meminfo, /proc/uptime...), never
 *    anything a symlink of the image leads into /proc, never a directory or a tmpfs
 *    (runc's rule: the runtime and the kernel rely on what /proc shows);
 *  - a file over a directory or a directory over a file is named as such, not as
 *    the kernel's EINVAL/ENOTDIR.
 * src_mode: the bind's source type (S_IFDIR for a tmpfs).
 */
static int check_user_target(const struct mount_spec *m, mode_t src_mode)
{
	char path[PATH_MAX];
	if ((size_t)snprintf(path, sizeof path, "%s", m->destination) >= sizeof path)
		return seterr("mount %s: path too long", m->destination);
	bool whole = true;
	int fd;
	for (;;) {
		fd = open_in_root(path[0] ? path : "/", O_PATH, 0);
		if (fd >= 0 || errno != ENOENT || !path[0])
			break;
		/* Not there yet (made later): the nearest existing parent tells the file system. */
		*strrchr(path, '/') = '\0';
		whole = false;
	}
	if (fd < 0)
		return syserr("open %s", path[0] ? path : "/");
	struct statfs sfs;
	struct stat st;
	if (fstatfs(fd, &sfs) < 0 || fstat(fd, &st) < 0) {
		syserr("mount %s: stat the target", m->destination);
		close(fd);
		return -1;
	}
	close(fd);
	if (sfs.f_type == PROC_SUPER_MAGIC &&
	    !(m->bind && S_ISREG(src_mode) && whole && S_ISREG(st.st_mode) && strncmp(m->destination, "/proc/", 6) == 0))
		return seterr("\"%s\" cannot be mounted because it is inside /proc", m->destination);
	if (whole && S_ISDIR(src_mode) && !S_ISDIR(st.st_mode))
		return seterr("mount %s: a directory cannot be mounted over a file", m->destination);
	if (whole && !S_ISDIR(src_mode) && S_ISDIR(st.st_mode))
		return seterr("mount %s: a file cannot be mounted over a directory", m->destination);
	return 0;
}

static int user_mounts(const struct config *c)
{
	for (size_t i = 0; i < c->n_mounts; i++) {
		const struct mount_spec *m = &c->mounts[i];
		int r;
		mode_t src_mode = S_IFDIR;
		if (m->bind) {
			struct stat st;
			int tree = trees[i] - 1;
			if (tree >= 0 ? fstat(tree, &st) < 0 : stat(m->source, &st) < 0)
				return syserr("bind %s on %s: stat the source", m->source, m->destination);
			src_mode = st.st_mode & S_IFMT;
		}
		if (check_user_target(m, src_mode) < 0)
			return -1;
		if (!m->bind)
			r = mount_fs(m->source, m->type, m->destination, m->flags, m->data[0] ? m->data : NULL);
		else if (m->idmap || m->copyup) {
			int tree = trees[i] - 1;
			trees[i] = 0;
			if (m->idmap && tree < 0)
				return seterr("bind %s on %s: the monitor sent no idmapped mount", m->source, m->destination);
			r = user_bind(m, tree);
		} else
			r = bind_host(m->source, m->destination, m->recursive, m->attr_set);
		if (r < 0)
			return -1;
	}
	return 0;
}

static int mask_paths(const struct config *c)
{
	for (size_t i = 0; i < c->n_masked_paths; i++) {
		const char *p = c->masked_paths[i];
		int fd = open_in_root(p, O_PATH, 0);
		if (fd < 0) {
			if (errno == ENOENT)
				continue;  /* nothing to hide (no /proc/kcore on this kernel) */
			return syserr("mask %s", p);
		}
		struct stat st;
		int r = fstat(fd, &st);
		if (r < 0)
			syserr("mask %s: stat", p);
		else if (S_ISDIR(st.st_mode)) {
			r = mount("tmpfs", fd_path(fd), "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0k,mode=755");
			if (r < 0)
				syserr("mask %s", p);
		} else {
			r = bind_at(p, AT_FDCWD, "/dev/null", fd, false, 0);
		}
		close(fd);
		if (r < 0)
			return -1;
	}
	return 0;
}

static int readonly_paths(const struct config *c)
{
	for (size_t i = 0; i < c->n_readonly_paths; i++) {
		const char *p = c->readonly_paths[i];
		int fd = open_in_root(p, O_PATH, 0);
		if (fd < 0) {
			if (errno == ENOENT)
				continue;
			return syserr("read-only %s", p);
		}
		int r = bind_at(p, fd, "", fd, true, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
		close(fd);
		if (r < 0)
			return -1;
	}
	return 0;
}

static int pivot(void)
{
	if (fchdir(root_fd) < 0)
		return syserr("chdir to the rootfs");
	/*
	 * pivot_root(".", ".") stacks the old root on top of the new one; detaching
	 * it leaves no path back to the host (chroot would, via a second chroot).
	 */
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return syserr("pivot_root");
	/* Private already; made slave anyway so the detach can never reach another namespace. */
	if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
		return syserr("make the old root a slave");
	if (umount2(".", MNT_DETACH) < 0)
		return syserr("detach the old root");
	if (chdir("/") < 0)
		return syserr("chdir /");
	close(root_fd);
	root_fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0)
		return syserr("open the new root");
	return 0;
}

int rootfs_readonly(const struct config *c)
{
	if (!c->readonly_rootfs)
		return 0;
	/* Only the root's own mount: volumes, tmpfs, /dev/shm and the /etc files stay writable. */
	int fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return syserr("open the new root");
	struct mount_attr a = { .attr_set = MOUNT_ATTR_RDONLY };
	int r = mount_setattr(fd, "", AT_EMPTY_PATH, &a, sizeof a);
	if (r < 0)
		syserr("make the rootfs read-only");
	close(fd);
	return r;
}

int rootfs_setup(const struct config *c)
{
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return syserr("make / private");
	/* pivot_root needs the new root to be a mount point; the overlay already is one. */
	if (mount(c->rootfs, c->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
		return syserr("bind %s", c->rootfs);
	root_fd = open(c->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0)
		return syserr("open %s", c->rootfs);

	if (mount_fs("proc", "proc", "/proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		return -1;
	/* Before /proc/sys turns read-only, and from inside: these values are the container's own. */
	if (write_sysctls(c) < 0)
		return -1;
	if (c->host_network) {
		/* sysfs shows the mounter's netns; without one of our own, the host's /sys read-only. */
		int fd = mount_target("/sys", true);
		if (fd < 0)
			return -1;
		int r = bind_at("/sys", AT_FDCWD, "/sys", fd, true,
				MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
		close(fd);
		if (r < 0)
			return -1;
	} else if (mount_fs("sysfs", "sysfs", "/sys", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
		return -1;
	}
	if (mount_cgroups() < 0 || setup_dev() < 0 || user_mounts(c) < 0)
		return -1;
	if (pivot() < 0 || mask_paths(c) < 0 || readonly_paths(c) < 0)
		return -1;
	close(root_fd);
	root_fd = -1;
	return 0;
}
