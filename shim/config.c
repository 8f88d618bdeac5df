#include "config.h"
#include "caps.h"
#include "json.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

/* config.json is a few KiB; anything this big is not ours. */
#define MAX_CONFIG_SIZE (1 << 20)

static int bad(const char *key, const char *what)
{
	return seterr("config: %s: %s", key, what);
}

static int get_string(const struct json *o, const char *key, bool required, const char **out)
{
	const struct json *v = json_get(o, key);
	if (!v || v->type == JSON_NULL) {
		*out = NULL;
		return required ? bad(key, "missing") : 0;
	}
	if (v->type != JSON_STRING)
		return bad(key, "expected a string");
	*out = v->string;
	return 0;
}

static int get_path(const struct json *o, const char *key, bool required, const char **out)
{
	if (get_string(o, key, required, out) < 0)
		return -1;
	if (*out && (*out)[0] != '/')
		return bad(key, "must be an absolute path");
	return 0;
}

static int get_bool(const struct json *o, const char *key, bool dflt, bool *out)
{
	const struct json *v = json_get(o, key);
	if (!v || v->type == JSON_NULL) {
		*out = dflt;
		return 0;
	}
	if (v->type != JSON_BOOL)
		return bad(key, "expected true or false");
	*out = v->boolean;
	return 0;
}

static int get_uint(const struct json *v, const char *key, unsigned long max, unsigned long *out)
{
	if (!v || v->type != JSON_NUMBER || v->number < 0 || v->number > (double)max ||
	    v->number != (double)(unsigned long)v->number)
		return bad(key, "expected a non-negative integer");
	*out = (unsigned long)v->number;
	return 0;
}

/* An array of strings as a NULL-terminated vector. */
static int get_strings(const struct json *o, const char *key, bool required, char ***out, size_t *n)
{
	const struct json *v = json_get(o, key);
	*n = 0;
	if (!v || v->type == JSON_NULL) {
		*out = calloc(1, sizeof **out);
		if (!*out)
			return bad(key, "out of memory");
		return required ? bad(key, "missing") : 0;
	}
	if (v->type != JSON_ARRAY)
		return bad(key, "expected an array of strings");
	char **vec = calloc(v->count + 1, sizeof *vec);
	if (!vec)
		return bad(key, "out of memory");
	size_t i = 0;
	for (const struct json *e = v->child; e; e = e->next) {
		if (e->type != JSON_STRING)
			return bad(key, "expected an array of strings");
		vec[i++] = e->string;
	}
	*out = vec;
	*n = i;
	return 0;
}

static int get_paths(const struct json *o, const char *key, const char ***out, size_t *n)
{
	char **vec;
	if (get_strings(o, key, false, &vec, n) < 0)
		return -1;
	for (size_t i = 0; i < *n; i++)
		if (vec[i][0] != '/')
			return bad(key, "every entry must be an absolute path");
	*out = (const char **)vec;
	return 0;
}

static int get_id_map(const struct json *o, const char *key, struct id_range **out, size_t *n)
{
	const struct json *v = json_get(o, key);
	if (!v || v->type != JSON_ARRAY || v->count == 0)
		return bad(key, "expected a non-empty array of {containerId, hostId, size}");
	/* The kernel accepts at most 340 lines per map file. */
	if (v->count > 340)
		return bad(key, "too many ranges");
	struct id_range *r = calloc(v->count, sizeof *r);
	if (!r)
		return bad(key, "out of memory");
	size_t i = 0;
	for (const struct json *e = v->child; e; e = e->next, i++) {
		if (e->type != JSON_OBJECT)
			return bad(key, "expected objects {containerId, hostId, size}");
		if (get_uint(json_get(e, "containerId"), key, 0xFFFFFFFEul, &r[i].container_id) < 0 ||
		    get_uint(json_get(e, "hostId"), key, 0xFFFFFFFEul, &r[i].host_id) < 0 ||
		    get_uint(json_get(e, "size"), key, 0xFFFFFFFFul, &r[i].size) < 0)
			return -1;
		if (r[i].size == 0)
			return bad(key, "size must be at least 1");
	}
	*out = r;
	*n = i;
	return 0;
}

/* The host id that id 0 maps to: the container's root must be mapped (init becomes it). */
static int get_root_id(const char *key, const struct id_range *r, size_t n, unsigned long *out)
{
	for (size_t i = 0; i < n; i++)
		if (r[i].container_id == 0) {
			*out = r[i].host_id;
			return 0;
		}
	return bad(key, "no range for id 0 (the container's root)");
}

struct option_flag {
	const char *name;
	unsigned long set, clear, attr;
};

static const struct option_flag option_flags[] = {
	{ "ro", MS_RDONLY, 0, MOUNT_ATTR_RDONLY },
	{ "rw", 0, MS_RDONLY, 0 },
	{ "nosuid", MS_NOSUID, 0, MOUNT_ATTR_NOSUID },
	{ "suid", 0, MS_NOSUID, 0 },
	{ "nodev", MS_NODEV, 0, MOUNT_ATTR_NODEV },
	{ "dev", 0, MS_NODEV, 0 },
	{ "noexec", MS_NOEXEC, 0, MOUNT_ATTR_NOEXEC },
	{ "exec", 0, MS_NOEXEC, 0 },
	{ "noatime", MS_NOATIME, 0, 0 },
	{ "relatime", MS_RELATIME, 0, 0 },
	{ "strictatime", MS_STRICTATIME, 0, 0 },
	{ "nodiratime", MS_NODIRATIME, 0, 0 },
	/* Everything in the container is private already; accepted for compatibility. */
	{ "private", 0, 0, 0 },
	{ "rprivate", 0, 0, 0 },
};

static int parse_mount(const struct json *e, struct mount_spec *m)
{
	if (e->type != JSON_OBJECT)
		return bad("mounts", "expected objects {source, destination, options}");
	if (get_string(e, "source", true, &m->source) < 0 ||
	    get_path(e, "destination", true, &m->destination) < 0 ||
	    get_string(e, "type", false, &m->type) < 0)
		return -1;
	char **opts;
	size_t n;
	if (get_strings(e, "options", false, &opts, &n) < 0)
		return -1;
	m->bind = !m->type || strcmp(m->type, "bind") == 0;
	size_t dlen = 0;
	for (size_t i = 0; i < n; i++) {
		const char *o = opts[i];
		if (strcmp(o, "bind") == 0) {
			m->bind = true;
			continue;
		}
		if (strcmp(o, "rbind") == 0) {
			m->bind = m->recursive = true;
			continue;
		}
		if (strcmp(o, "idmap") == 0) {
			m->idmap = true;
			continue;
		}
		if (strcmp(o, "copyup") == 0) {
			m->copyup = true;
			continue;
		}
		bool known = false;
		for (size_t k = 0; k < sizeof option_flags / sizeof option_flags[0]; k++) {
			if (strcmp(o, option_flags[k].name) != 0)
				continue;
			m->flags = (m->flags | option_flags[k].set) & ~option_flags[k].clear;
			if (option_flags[k].clear & MS_RDONLY)
				m->attr_set &= ~(unsigned long)MOUNT_ATTR_RDONLY;
			m->attr_set |= option_flags[k].attr;
			known = true;
		}
		if (known)
			continue;
		size_t l = strlen(o);
		if (dlen + l + 2 > sizeof m->data)
			return bad("mounts", "options too long");
		if (dlen)
			m->data[dlen++] = ',';
		memcpy(m->data + dlen, o, l + 1);
		dlen += l;
	}
	m->readonly = (m->flags & MS_RDONLY) != 0;
	if (m->bind && m->source[0] != '/')
		return bad("mounts", "a bind source must be an absolute path");
	if (m->bind && dlen)
		return bad("mounts", "unknown option for a bind mount");
	if (!m->bind && !m->type)
		return bad("mounts", "type missing");
	if (!m->bind && (m->idmap || m->copyup))
		return bad("mounts", "idmap and copyup are for bind mounts");
	return 0;
}

static int load_caps(const struct json *root, struct config *c)
{
	char **names;
	size_t n;
	if (get_strings(root, "capabilities", false, &names, &n) < 0)
		return -1;
	c->caps = 0;
	for (size_t i = 0; i < n; i++) {
		int cap = cap_from_name(names[i]);
		if (cap < 0)
			return seterr("config: capabilities: unknown capability %s", names[i]);
		/* A capability newer than this kernel cannot be held anyway. */
		if (cap <= c->cap_last)
			c->caps |= 1ull << cap;
	}
	return 0;
}

static int load_sysctls(const struct json *root, struct config *c)
{
	const struct json *v = json_get(root, "sysctl");
	if (!v || v->type == JSON_NULL) {
		/* Secure default: no nested user namespaces (shim/PROTOCOL.md, container init step 4). */
		static struct sysctl dflt = { "user.max_user_namespaces", "0" };
		c->sysctls = &dflt;
		c->n_sysctls = 1;
		return 0;
	}
	if (v->type != JSON_OBJECT)
		return bad("sysctl", "expected an object of strings");
	c->sysctls = calloc(v->count ? v->count : 1, sizeof *c->sysctls);
	if (!c->sysctls)
		return bad("sysctl", "out of memory");
	for (const struct json *e = v->child; e; e = e->next) {
		if (e->type != JSON_STRING)
			return bad("sysctl", "expected an object of strings");
		/* The key becomes a path under /proc/sys: keep it from walking anywhere else. */
		if (!e->key[0] || strchr(e->key, '/') || strstr(e->key, "..") || e->key[0] == '.')
			return seterr("config: sysctl: bad key %s", e->key);
		c->sysctls[c->n_sysctls].key = e->key;
		c->sysctls[c->n_sysctls].value = e->string;
		c->n_sysctls++;
	}
	return 0;
}

/* logMaxSize (bytes, 0 = never rotate) and logMaxFiles (1 to 1000). */
static int load_log_limits(const struct json *root, struct config *c)
{
	unsigned long size = 0, files = 1;
	const struct json *v = json_get(root, "logMaxSize");
	/* 2^53: the largest integer a JSON number carries exactly. */
	if (v && v->type != JSON_NULL && get_uint(v, "logMaxSize", 1ul << 53, &size) < 0)
		return -1;
	v = json_get(root, "logMaxFiles");
	if (v && v->type != JSON_NULL && (get_uint(v, "logMaxFiles", 1ul << 53, &files) < 0 || files < 1 || files > 1000))
		return bad("logMaxFiles", "expected an integer from 1 to 1000");
	c->log_max_size = size;
	c->log_max_files = (unsigned)files;
	return 0;
}

/* The process to run: keys the container's config and an exec's config share. */
static int load_process(const struct json *root, struct config *c, bool log_required)
{
	if (get_path(root, "cwd", false, &c->cwd) < 0 ||
	    get_bool(root, "tty", false, &c->tty) < 0 ||
	    get_bool(root, "openStdin", false, &c->open_stdin) < 0 ||
	    get_bool(root, "noNewPrivileges", true, &c->no_new_privs) < 0 ||
	    get_path(root, "socket", true, &c->socket) < 0 ||
	    get_path(root, "logPath", log_required, &c->log_path) < 0 ||
	    get_path(root, "exitPath", true, &c->exit_path) < 0)
		return -1;
	if (!c->cwd)
		c->cwd = "/";
	unsigned long rows = 0, cols = 0;
	const struct json *r = json_get(root, "ttyRows"), *k = json_get(root, "ttyCols");
	if ((r && get_uint(r, "ttyRows", 65535, &rows) < 0) || (k && get_uint(k, "ttyCols", 65535, &cols) < 0))
		return -1;
	c->tty_rows = (unsigned)rows;
	c->tty_cols = (unsigned)cols;
	if (load_log_limits(root, c) < 0)
		return -1;
	const char *profile;
	if (get_string(root, "seccomp", false, &profile) < 0)
		return -1;
	if (profile && strcmp(profile, "default") != 0 && strcmp(profile, "unconfined") != 0)
		return bad("seccomp", "expected \"default\" or \"unconfined\"");
	c->seccomp = !profile || strcmp(profile, "default") == 0;

	size_t n;
	if (get_strings(root, "args", true, &c->args, &n) < 0)
		return -1;
	if (n == 0 || !c->args[0][0])
		return bad("args", "needs a command");
	if (get_strings(root, "env", false, &c->env, &n) < 0)
		return -1;

	const struct json *user = json_get(root, "user");
	if (user && user->type != JSON_NULL) {
		unsigned long uid = 0, gid = 0;
		if (user->type != JSON_OBJECT)
			return bad("user", "expected an object {uid, gid, additionalGids}");
		if ((json_get(user, "uid") && get_uint(json_get(user, "uid"), "user.uid", 0xFFFFFFFEul, &uid) < 0) ||
		    (json_get(user, "gid") && get_uint(json_get(user, "gid"), "user.gid", 0xFFFFFFFEul, &gid) < 0))
			return -1;
		c->uid = (uid_t)uid;
		c->gid = (gid_t)gid;
		const struct json *g = json_get(user, "additionalGids");
		if (g && g->type != JSON_NULL) {
			if (g->type != JSON_ARRAY)
				return bad("user.additionalGids", "expected an array of integers");
			c->groups = calloc(g->count + 1, sizeof *c->groups);
			if (!c->groups)
				return bad("user.additionalGids", "out of memory");
			for (const struct json *e = g->child; e; e = e->next) {
				unsigned long v = 0;
				if (get_uint(e, "user.additionalGids", 0xFFFFFFFEul, &v) < 0)
					return -1;
				c->groups[c->n_groups++] = (gid_t)v;
			}
		}
	}
	if (get_paths(root, "cgroupProcs", &c->cgroup_procs, &c->n_cgroup_procs) < 0)
		return -1;
	return load_caps(root, c);
}

/* The container around the process: only `monitor` has these. */
static int load_container(const struct json *root, struct config *c)
{
	if (get_string(root, "id", false, &c->id) < 0 ||
	    get_path(root, "rootfs", true, &c->rootfs) < 0 ||
	    get_bool(root, "readonlyRootfs", false, &c->readonly_rootfs) < 0 ||
	    get_string(root, "hostname", false, &c->hostname) < 0 ||
	    get_bool(root, "rootless", false, &c->rootless) < 0 ||
	    get_path(root, "netnsPath", false, &c->netns_path) < 0)
		return -1;
	if (c->hostname && strlen(c->hostname) > 64)
		return bad("hostname", "longer than 64 bytes");

	const struct json *ov = json_get(root, "overlay");
	if (ov && ov->type != JSON_NULL) {
		if (ov->type != JSON_OBJECT)
			return bad("overlay", "expected an object");
		c->has_overlay = true;
		if (get_paths(ov, "lower", &c->lower, &c->n_lower) < 0 ||
		    get_path(ov, "upper", true, &c->upper) < 0 ||
		    get_path(ov, "work", true, &c->work) < 0)
			return -1;
		if (c->n_lower == 0)
			return bad("overlay.lower", "needs at least one layer");
	}

	unsigned long root_uid = 0, root_gid = 0;
	if (get_id_map(root, "uidMap", &c->uid_map, &c->n_uid_map) < 0 ||
	    get_id_map(root, "gidMap", &c->gid_map, &c->n_gid_map) < 0 ||
	    get_root_id("uidMap", c->uid_map, c->n_uid_map, &root_uid) < 0 ||
	    get_root_id("gidMap", c->gid_map, c->n_gid_map, &root_gid) < 0)
		return -1;
	c->root_uid = (uid_t)root_uid;
	c->root_gid = (gid_t)root_gid;

	const struct json *net = json_get(root, "network");
	const char *mode = "none";
	if (net && net->type != JSON_NULL && get_string(net, "mode", false, &mode) < 0)
		return -1;
	if (!mode)
		mode = "none";
	if (strcmp(mode, "host") == 0)
		c->host_network = true;
	else if (strcmp(mode, "none") != 0 && strcmp(mode, "bridge") != 0)
		return bad("network.mode", "expected none, bridge or host");

	if (get_paths(root, "maskedPaths", &c->masked_paths, &c->n_masked_paths) < 0 ||
	    get_paths(root, "readonlyPaths", &c->readonly_paths, &c->n_readonly_paths) < 0)
		return -1;
	if (load_sysctls(root, c) < 0)
		return -1;

	const struct json *mounts = json_get(root, "mounts");
	if (mounts && mounts->type != JSON_NULL) {
		if (mounts->type != JSON_ARRAY)
			return bad("mounts", "expected an array");
		if (mounts->count > MAX_MOUNTS)
			return bad("mounts", "too many");
		c->mounts = calloc(mounts->count ? mounts->count : 1, sizeof *c->mounts);
		if (!c->mounts)
			return bad("mounts", "out of memory");
		for (const struct json *e = mounts->child; e; e = e->next)
			if (parse_mount(e, &c->mounts[c->n_mounts++]) < 0)
				return -1;
	}
	return 0;
}

/* The running container an exec joins. */
static int load_exec(const struct json *root, struct config *c)
{
	unsigned long pid = 0, start = 0;
	const struct json *v = json_get(root, "initPid");
	if (!v)
		return bad("initPid", "missing");
	if (get_uint(v, "initPid", 0x7FFFFFFFul, &pid) < 0)
		return -1;
	if (pid == 0)
		return bad("initPid", "must be a process id");
	v = json_get(root, "initStartTime");
	if (!v)
		return bad("initStartTime", "missing");
	/* Clock ticks since boot: exact in a double up to 2^53. */
	if (get_uint(v, "initStartTime", (1ul << 53), &start) < 0)
		return -1;
	c->init_pid = (pid_t)pid;
	c->init_start_time = start;
	unsigned long timeout = EXEC_START_TIMEOUT_MS;
	v = json_get(root, "startTimeoutMs");
	if (v && get_uint(v, "startTimeoutMs", 3600000ul, &timeout) < 0)
		return -1;
	if (timeout == 0)
		return bad("startTimeoutMs", "must be at least 1");
	c->start_timeout_ms = (unsigned)timeout;
	return 0;
}

/* Reads path, parses it and checks the top level is an object. */
static int read_config(const char *path, struct config *c, const struct json **root)
{
	memset(c, 0, sizeof *c);
	if (cap_read_last(&c->cap_last) < 0)
		return -1;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return syserr("config: open %s", path);
	struct stat st;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return syserr("config: stat %s", path);
	}
	if (st.st_size > MAX_CONFIG_SIZE) {
		close(fd);
		return seterr("config: %s: larger than 1 MiB", path);
	}
	char *text = malloc((size_t)st.st_size + 1);
	if (!text) {
		close(fd);
		return seterr("config: out of memory");
	}
	ssize_t n = read_full(fd, text, (size_t)st.st_size);
	close(fd);
	if (n < 0)
		return syserr("config: read %s", path);
	struct shim_err why;
	struct json *tree = json_parse(text, (size_t)n, &why);
	if (!tree)
		return seterr("config: %s: %s", path, why.msg);
	/* Strings in the tree are copies, so the text can go. */
	free(text);
	if (tree->type != JSON_OBJECT)
		return seterr("config: expected an object");
	*root = tree;
	return 0;
}

int config_load(const char *path, struct config *c)
{
	const struct json *root;
	if (read_config(path, c, &root) < 0 || load_process(root, c, true) < 0)
		return -1;
	return load_container(root, c);
}

int config_load_exec(const char *path, struct config *c)
{
	const struct json *root;
	if (read_config(path, c, &root) < 0 || load_exec(root, c) < 0)
		return -1;
	return load_process(root, c, false);
}
