/*
 * The channel between the monitor and the container (a SOCK_SEQPACKET
 * socketpair, so every message arrives whole and in order).
 *
 *   monitor → init:  SYNC_MOUNT  "INDEX": the detached tree (SCM_RIGHTS) of
 *                                config mount INDEX, idmapped by the monitor
 *                                (bindtree.c); sent before SYNC_GO
 *                    SYNC_GO     maps and cgroups are written
 *                    SYNC_START  a client sent START
 *   init → monitor:  SYNC_READY  ids switched, cgroup ns made
 *                    SYNC_PTY    the pty master (SCM_RIGHTS)
 *                    SYNC_ROOTFS its root filesystem is complete (pivoted,
 *                                masked, read-only paths): execs may join
 *                    SYNC_ERROR  "step: reason": setup failed, init exits 125
 *   command → monitor: SYNC_EXEC_ERROR "reason": exec failed (126/127)
 *
 * The command's copy is close-on-exec, so a successful exec says nothing.
 */
#ifndef TDOCK_SYNC_H
#define TDOCK_SYNC_H

#include <stddef.h>

enum {
	SYNC_MOUNT = 'M',
	SYNC_GO = 'G',
	SYNC_START = 'S',
	SYNC_READY = 'R',
	SYNC_PTY = 'T',
	SYNC_ROOTFS = 'F',
	SYNC_ERROR = 'E',
	SYNC_EXEC_ERROR = 'X',
};

#define SYNC_MAX 1024

/* Sends one message: type, optional text, optional fd (-1 for none). */
int sync_send(int sock, char type, const char *text, int fd);

/*
 * Receives one message. text (SYNC_MAX bytes) gets the NUL-terminated body,
 * *fd a passed descriptor or -1. Returns the type, 0 on EOF, -1 on error
 * (EAGAIN included on a non-blocking socket).
 */
int sync_recv(int sock, char *text, int *fd);

#endif
