#include "pty.h"
#include "util.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

int pty_open(int *master, char *slave_path, size_t size)
{
	int fd = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return syserr("open /dev/ptmx");
	if (unlockpt(fd) < 0 || ptsname_r(fd, slave_path, size) != 0) {
		syserr("unlock the pty");
		close(fd);
		return -1;
	}
	*master = fd;
	return 0;
}

int pty_resize(int master, unsigned rows, unsigned cols)
{
	struct winsize ws = { .ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols };
	if (ioctl(master, TIOCSWINSZ, &ws) < 0)
		return syserr("resize the pty");
	return 0;
}
