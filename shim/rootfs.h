/* The container's filesystem: mounts, pivot_root, masked and read-only paths. */
#ifndef TDOCK_ROOTFS_H
#define TDOCK_ROOTFS_H

#include "config.h"

/*
 * Runs in the container init (own user and mount namespace, uid 0) and leaves
 * it with "/" = the container root and the host's root detached.
 */
int rootfs_setup(const struct config *c);

/*
 * --read-only: makes the root's own mount read-only. After rootfs_setup and the
 * working directory (Docker makes a missing -w directory before the root turns
 * read-only).
 */
int rootfs_readonly(const struct config *c);

/*
 * Notes the cgroup hierarchies the process sits in below their root, from
 * /proc/self/cgroup as the host sees it: call before unsharing the cgroup
 * namespace. rootfs_setup mounts them read-only at /sys/fs/cgroup.
 */
int rootfs_note_cgroups(void);

/*
 * Keeps fd, the monitor's idmapped tree for config mount `index` (decimal text,
 * SYNC_MOUNT), for rootfs_setup to move into place. Takes the fd in all cases.
 */
int rootfs_take_tree(const struct config *c, const char *index, int fd);

#endif
