#include "bindtree.h"
#include "sync.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mount.h>
#include <unistd.h>

/* Errors of mount_setattr(MOUNT_ATTR_IDMAP) that mean "this file system (or a submount) cannot". */
static int cannot_idmap(int err)
{
	return err == EINVAL || err == EOPNOTSUPP || err == EPERM;
}

int bindtree_send(const struct config *c, pid_t init_pid, int sync_sock)
{
	int userns = -1, r = 0;
	for (size_t i = 0; i < c->n_mounts && r == 0; i++) {
		const struct mount_spec *m = &c->mounts[i];
		if (!m->bind || !m->idmap)
			continue;
		if (userns < 0) {
			char path[64];
			snprintf(path, sizeof path, "/proc/%d/ns/user", init_pid);
			userns = open(path, O_RDONLY | O_CLOEXEC);
			if (userns < 0)
				return syserr("open %s", path);
		}
		unsigned flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (m->recursive ? AT_RECURSIVE : 0);
		int tree = open_tree(AT_FDCWD, m->source, flags);
		if (tree < 0) {
			r = syserr("bind %s on %s", m->source, m->destination);
			break;
		}
		/* Only the mapping here: init sets read-only and the rest once the mount is its own. */
		struct mount_attr a = { .attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (unsigned)userns };
		int set = mount_setattr(tree, "", AT_EMPTY_PATH | (m->recursive ? AT_RECURSIVE : 0), &a, sizeof a);
		/*
		 * The kernel maps a tree all or nothing: one submount that cannot be idmapped
		 * (a ramfs, proc under "/") fails the whole. Then the top alone: the user's own
		 * files keep their owners, only what lies on the other file systems is plain.
		 */
		if (set < 0 && m->recursive && cannot_idmap(errno))
			set = mount_setattr(tree, "", AT_EMPTY_PATH, &a, sizeof a);
		if (set < 0 && !cannot_idmap(errno))
			r = syserr("idmap the bind of %s on %s", m->source, m->destination);
		/* else: plain where it could not be (the daemon predicted it from the file systems' types and warned at create) */
		char idx[24];
		snprintf(idx, sizeof idx, "%zu", i);
		if (r == 0 && sync_send(sync_sock, SYNC_MOUNT, idx, tree) < 0)
			r = syserr("send the bind of %s to the container", m->destination);
		close(tree);
	}
	if (userns >= 0)
		close(userns);
	return r;
}
