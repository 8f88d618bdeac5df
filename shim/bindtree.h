/* Idmapped bind mounts, made by the monitor for the container's init. */
#ifndef TDOCK_BINDTREE_H
#define TDOCK_BINDTREE_H

#include "config.h"
#include <sys/types.h>

/*
 * For every mount with "idmap": a detached copy of the host path
 * (open_tree OPEN_TREE_CLONE) idmapped with init's user namespace
 * (mount_setattr MOUNT_ATTR_IDMAP), sent to init as SYNC_MOUNT. Only the
 * monitor can make them: idmapping needs CAP_SYS_ADMIN over the file system's
 * user namespace (the host's). A file system that refuses idmapping gets a
 * plain copy instead. Call after init's id maps are written, before SYNC_GO.
 */
int bindtree_send(const struct config *c, pid_t init_pid, int sync_sock);

#endif
