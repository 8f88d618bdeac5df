#include "caps.h"
#include "util.h"

#include <errno.h>
#include <stdbool.h>
#include <linux/capability.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Indexed by capability number (linux/capability.h). */
static const char *const cap_names[] = {
	"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL",
	"SETGID", "SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE",
	"NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
	"SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
	"SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME",
	"SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL",
	"SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM",
	"BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
};

/* ASCII-only, case-insensitive: the libc versions drag locale tables into the binary. */
static bool same_name(const char *a, const char *b)
{
	for (; *a && *b; a++, b++) {
		char x = (*a >= 'a' && *a <= 'z') ? (char)(*a - 32) : *a;
		if (x != *b)
			return false;
	}
	return *a == *b;
}

int cap_from_name(const char *name)
{
	if ((name[0] == 'C' || name[0] == 'c') && (name[1] == 'A' || name[1] == 'a') &&
	    (name[2] == 'P' || name[2] == 'p') && name[3] == '_')
		name += 4;
	for (size_t i = 0; i < sizeof cap_names / sizeof cap_names[0]; i++)
		if (same_name(name, cap_names[i]))
			return (int)i;
	return -1;
}

int cap_read_last(int *last)
{
	char buf[32];
	if (read_small_file("/proc/sys/kernel/cap_last_cap", buf, sizeof buf) < 0)
		return -1;
	char *end;
	long v = strtol(buf, &end, 10);
	if (end == buf || v < 0 || v > 63)
		return seterr("read /proc/sys/kernel/cap_last_cap: unexpected content");
	*last = (int)v;
	return 0;
}

int caps_drop_bounding(uint64_t keep, int last)
{
	for (int c = 0; c <= last; c++) {
		if (keep & (1ull << c))
			continue;
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0)
			return syserr("drop capability %d from the bounding set", c);
	}
	return 0;
}

int caps_set(uint64_t keep)
{
	/*
	 * Inheritable stays empty even for kept capabilities, as in moby/runc since
	 * CVE-2022-24769: with inheritable bits set, a non-root user could regain a
	 * capability by exec'ing a binary that carries it as a file capability.
	 * Root still gets `keep` after exec because exec grants root the bounding set.
	 */
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];
	memset(data, 0, sizeof data);
	data[0].permitted = data[0].effective = (uint32_t)keep;
	data[1].permitted = data[1].effective = (uint32_t)(keep >> 32);
	if (syscall(SYS_capset, &hdr, data) < 0)
		return syserr("capset");
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
		return syserr("clear ambient capabilities");
	return 0;
}
