/* Pseudo-terminals: created inside the container, resized by the monitor. */
#ifndef TDOCK_PTY_H
#define TDOCK_PTY_H

#include <stddef.h>

/*
 * Opens /dev/ptmx of the container's own devpts instance, so the command's
 * terminal is /dev/pts/0 in the container. *master is close-on-exec.
 */
int pty_open(int *master, char *slave_path, size_t size);

int pty_resize(int master, unsigned rows, unsigned cols);

#endif
