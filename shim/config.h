/* config.json (see PROTOCOL.md) as a C struct. */
#ifndef TDOCK_CONFIG_H
#define TDOCK_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct id_range {
	unsigned long container_id, host_id, size;
};

struct mount_spec {
	const char *source, *destination, *type;
	unsigned long flags;     /* MS_* from the options */
	bool bind, recursive, readonly;
	bool idmap;              /* bind: the monitor mounts it idmapped into the container's user namespace */
	bool copyup;             /* bind of a volume: filled with the image's directory when empty */
	unsigned long attr_set;  /* MOUNT_ATTR_* applied to a bind after it is made */
	char data[512];          /* options the kernel parses itself (size=, mode=) */
};

/* The daemon sends at most 128 of the user's and a few of its own (/etc files). */
#define MAX_MOUNTS 256

struct sysctl {
	const char *key, *value;
};

struct config {
	const char *id, *rootfs;
	bool has_overlay;
	const char **lower;
	size_t n_lower;
	const char *upper, *work;
	bool readonly_rootfs;
	const char *hostname;    /* NULL: leave the UTS name alone */
	char **args;             /* NULL-terminated */
	char **env;              /* NULL-terminated */
	const char *cwd;
	uid_t uid;
	gid_t gid;
	gid_t *groups;
	size_t n_groups;
	bool tty, open_stdin;
	/* the terminal's size when the pty is made (0: unset): the command may read it at once */
	unsigned tty_rows, tty_cols;
	struct id_range *uid_map, *gid_map;
	size_t n_uid_map, n_gid_map;
	/* The host ids the container's uid and gid 0 map to (exec: read from init's maps). */
	uid_t root_uid;
	gid_t root_gid;
	bool rootless;
	bool host_network;
	const char **cgroup_procs;
	size_t n_cgroup_procs;
	uint64_t caps;           /* bit per capability number */
	bool no_new_privs;
	bool seccomp;            /* the default filter (PROTOCOL.md); false: "unconfined" */
	const char **masked_paths, **readonly_paths;
	size_t n_masked_paths, n_readonly_paths;
	struct sysctl *sysctls;
	size_t n_sysctls;
	struct mount_spec *mounts;
	size_t n_mounts;
	const char *socket, *log_path, *exit_path, *netns_path;
	uint64_t log_max_size;   /* bytes; 0: the log is never rotated */
	unsigned log_max_files;  /* files kept, the current one included */
	int cap_last;            /* from the kernel, not from the file */
	/* exec only: the container's init and field 22 of its /proc/PID/stat */
	pid_t init_pid;
	unsigned long long init_start_time;
	/* exec only: the exec'd process is killed when no client STARTs it within this */
	unsigned start_timeout_ms;
};

/*
 * The daemon connects and STARTs an exec the moment the monitor says EXEC_OK; an
 * exec-monitor still waiting after this long lost its client and must not keep
 * the process (and itself) until the container ends.
 */
#define EXEC_START_TIMEOUT_MS 30000

/* Reads and validates path. On error g_err says "config: <what>". */
int config_load(const char *path, struct config *c);

/* The same for an exec's config (PROTOCOL.md, `exec`): no container keys. */
int config_load_exec(const char *path, struct config *c);

#endif
