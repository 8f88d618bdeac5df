/* The cloned child: becomes the container's init (PID 1). */
#ifndef TDOCK_CONTAINER_H
#define TDOCK_CONTAINER_H

#include "child.h"
#include "config.h"

/* Entry point right after clone(); never returns. */
_Noreturn void container_main(const struct config *c, const struct child_fds *f);

/* The command (PID 2); never returns. tty_slave is NULL without a tty. */
_Noreturn void command_main(const struct config *c, int sync, int devnull, const char *tty_slave);

#endif
