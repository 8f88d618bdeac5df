/* Small helpers shared by every module: one error buffer, full reads/writes. */
#ifndef TDOCK_UTIL_H
#define TDOCK_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#define SHIM_ERR_MAX 512

/*
 * One failure, "step: reason", owned by the call that reports it (as crun's
 * libcrun_error_t): the caller passes its own, so nothing done after the failure
 * (clean-up, the next step, another failure) can overwrite it before it is
 * reported, and no caller has to copy a shared buffer first. Used where a failure
 * travels past other work: the JSON parser (wrapped by the config loader), the
 * EXEC broker (its answer goes out while the relay goes on), a monitor's setup
 * (its clean-up runs before the `error:` line).
 */
struct shim_err {
	char msg[SHIM_ERR_MAX];
};

/* Formats the step into e and returns -1. */
int err_set(struct shim_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Takes the step the last seterr/syserr recorded: where a per-call error meets g_err. */
int err_take(struct shim_err *e);

/*
 * The steps of a single path to one report (the setup of a container, the
 * config's keys) record "step: reason" here and return -1, so the caller that
 * reports (the `error:` line, an ERROR frame) has one place to look. What must
 * outlive other work goes into a struct shim_err instead.
 */
extern char g_err[SHIM_ERR_MAX];

/* Formats the step into g_err and returns -1. */
int seterr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Same, appending ": strerror(errno)". errno is preserved. */
int syserr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* strerror without gettext/locale (keeps the static binary and its RSS small). */
const char *errstr(int err);

ssize_t read_full(int fd, void *buf, size_t len);   /* retries EINTR, stops at EOF */
int write_full(int fd, const void *buf, size_t len); /* retries EINTR and short writes */

/* Reads a small file whole into buf (NUL-terminated); returns length or -1. */
ssize_t read_small_file(const char *path, char *buf, size_t size);
/* Writes the whole string to an existing file (for /proc files). */
int write_file(const char *path, const char *data, size_t len);
/* Writes to PATH.tmp then renames onto PATH, so readers never see half a file. */
int write_file_atomic(const char *path, const char *data, size_t len, mode_t mode);

/*
 * Field 22 of /proc/PID/stat (start time, clock ticks since boot): with the pid it
 * names one process for good. Returns 0; 1 for a zombie (no namespaces left);
 * -1 when the process is gone; -2 when the file is not what we expect (g_err).
 */
int proc_start_time(pid_t pid, unsigned long long *start);

int set_nonblock(int fd);
uint64_t now_realtime_ns(void);

/* Appends s to buf as a JSON string body (escaped, without quotes). */
size_t json_escape(char *buf, size_t size, const char *s);

/* Room for one descriptor passed with SCM_RIGHTS in a msghdr's control buffer. */
union fd_cmsg {
	char buf[CMSG_SPACE(sizeof(int))];
	struct cmsghdr align;
};

/* Makes `msg` carry `fd` (SCM_RIGHTS), with `ctl` as its control buffer; nothing when fd < 0. */
void msg_attach_fd(struct msghdr *msg, union fd_cmsg *ctl, int fd);

#endif
