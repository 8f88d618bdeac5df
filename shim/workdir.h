/* The container's working directory, created when the image lacks it (Docker's rule). */
#ifndef TDOCK_WORKDIR_H
#define TDOCK_WORKDIR_H

#include "config.h"

/*
 * Creates c->cwd and its missing parents (0755, owned by c->uid:c->gid) inside the
 * container's root. Call after pivot_root. What exists is left alone: a file in the
 * way is for chdir to report.
 */
int workdir_make(const struct config *c);

#endif
