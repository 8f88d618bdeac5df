/*
 * Unit tests for the shim's JSON parser (json.c) and config loader (config.c):
 * valid documents, every error message config.c can give, and a property
 * test: thousands of truncated, mutated and random variants of valid configs
 * (fixed seed, so a failure repeats) never crash and either load or fail with
 * a "config: ..." message.
 *
 * Built and run by `make -C shim test` (scripts/test.sh runs it first), with
 * AddressSanitizer and UBSan where the compiler has them. Each failure prints
 * one line starting with "FAIL" and the document that broke it; a crash under
 * a sanitizer prints the document being parsed before the sanitizer's report.
 */
#include "../config.h"
#include "../json.h"
#include "../util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
/* The parser keeps its tree until exit by design (json.h): not a leak to report. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "detect_leaks=0";
}
#endif

static int checks, failures;
static int fuzz_loaded, fuzz_refused; /* the property test must see both kinds */
static char dir[] = "/tmp/tdock-config-test.XXXXXX";
static char cfg_path[64];

/* What is being parsed right now, for a crash report. */
static const char *cur_name;
static const char *cur_doc;
static size_t cur_len;

/* Prints a document readably: printable ASCII as is, the rest as \xNN; long ones cut. */
static void print_doc(FILE *f, const char *doc, size_t len)
{
	size_t max = 2000;
	fputs("    document: \"", f);
	for (size_t i = 0; i < len && i < max; i++) {
		unsigned char c = (unsigned char)doc[i];
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c >= 0x20 && c < 0x7f)
			fputc(c, f);
		else
			fprintf(f, "\\x%02x", c);
	}
	fprintf(f, "\"%s (%zu bytes)\n", len > max ? "..." : "", len);
}

#if !defined(__SANITIZE_ADDRESS__)
/* Without sanitizers: a crash still names the document (not async-signal-safe; we die anyway). */
static void on_crash(int sig)
{
	fprintf(stderr, "FAIL %s: crashed with signal %d\n", cur_name ? cur_name : "?", sig);
	if (cur_doc)
		print_doc(stderr, cur_doc, cur_len);
	signal(sig, SIG_DFL);
	raise(sig);
}
#endif

#if defined(__SANITIZE_ADDRESS__)
static void on_death(void)
{
	fprintf(stderr, "FAIL %s: crashed (the sanitizer's report is above)\n", cur_name ? cur_name : "?");
	if (cur_doc)
		print_doc(stderr, cur_doc, cur_len);
}
#endif

static void fail(const char *name, const char *doc, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void fail(const char *name, const char *doc, size_t len, const char *fmt, ...)
{
	failures++;
	fprintf(stderr, "FAIL %s: ", name);
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (doc)
		print_doc(stderr, doc, len);
}

static void write_cfg(const char *doc, size_t len)
{
	/*
	 * A new file each time: ext4 flushes a file truncated by O_TRUNC when it
	 * is closed (auto_da_alloc), which made 10,000 documents take 20 s.
	 */
	if (unlink(cfg_path) < 0 && errno != ENOENT) {
		perror("config-test: unlink the test config");
		exit(2);
	}
	int fd = open(cfg_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || write_full(fd, doc, len) < 0 || close(fd) < 0) {
		perror("config-test: write the test config");
		exit(2);
	}
}

/* Loads doc as a container config (exec: an exec config); 0 or -1 with g_err. */
static int load(const char *name, const char *doc, size_t len, bool exec, struct config *c)
{
	cur_name = name;
	cur_doc = doc;
	cur_len = len;
	write_cfg(doc, len);
	g_err[0] = '\0';
	int r = exec ? config_load_exec(cfg_path, c) : config_load(cfg_path, c);
	cur_doc = NULL;
	return r;
}

/* ---- documents ---- */

/* The minimal valid container config, one member per entry (so one can be left out). */
static const char *const base_members[] = {
	"\"rootfs\":\"/b/rootfs\"",
	"\"args\":[\"sh\",\"-c\",\"echo hi\"]",
	"\"uidMap\":[{\"containerId\":0,\"hostId\":100000,\"size\":65536}]",
	"\"gidMap\":[{\"containerId\":0,\"hostId\":100000,\"size\":65536}]",
	"\"socket\":\"/run/b/monitor.sock\"",
	"\"logPath\":\"/b/container.log\"",
	"\"exitPath\":\"/run/b/exit.json\"",
};
#define N_BASE (sizeof base_members / sizeof base_members[0])

static const char *const exec_members[] = {
	"\"initPid\":12345",
	"\"initStartTime\":8812345",
	"\"args\":[\"sh\",\"-c\",\"echo hi\"]",
	"\"socket\":\"/run/b/exec-1.sock\"",
	"\"exitPath\":\"/run/b/exec-1.exit.json\"",
};
#define N_EXEC (sizeof exec_members / sizeof exec_members[0])

/*
 * The base document without the member whose key is omit (NULL: none), plus
 * extra appended last (NULL: nothing). A duplicate key's last value wins
 * (json_get), so extra also replaces a member.
 */
static char *compose(const char *const *members, size_t n, const char *omit, const char *extra)
{
	static char buf[1 << 16];
	size_t len = 0;
	buf[len++] = '{';
	for (size_t i = 0; i < n; i++) {
		if (omit) {
			size_t ol = strlen(omit);
			if (members[i][0] == '"' && strncmp(members[i] + 1, omit, ol) == 0 && members[i][1 + ol] == '"')
				continue;
		}
		len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%s", len > 1 ? "," : "", members[i]);
	}
	if (extra)
		len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%s", len > 1 ? "," : "", extra);
	snprintf(buf + len, sizeof buf - len, "}");
	return buf;
}

/* Every key PROTOCOL.md shows for config.json, with real values. */
static const char full_doc[] =
	"{\n"
	"  \"id\": \"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\",\n"
	"  \"rootfs\": \"/var/lib/tdock/containers/ID/rootfs\",\n"
	"  \"overlay\": { \"lower\": [\"/var/lib/tdock/layers/L2\", \"/var/lib/tdock/layers/L1\"],\n"
	"               \"upper\": \"/var/lib/tdock/containers/ID/upper\",\n"
	"               \"work\": \"/var/lib/tdock/containers/ID/work\" },\n"
	"  \"readonlyRootfs\": true,\n"
	"  \"hostname\": \"0123456789ab\",\n"
	"  \"args\": [\"sh\", \"-c\", \"echo \\\"hi\\\"\\n\\u00e9\\ud83d\\ude00\"],\n"
	"  \"env\": [\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\", \"HOSTNAME=x\"],\n"
	"  \"cwd\": \"/srv\",\n"
	"  \"user\": { \"uid\": 1000, \"gid\": 1001, \"additionalGids\": [5, 20] },\n"
	"  \"tty\": true,\n"
	"  \"openStdin\": true,\n"
	"  \"uidMap\": [ { \"containerId\": 0, \"hostId\": 100000, \"size\": 65536 } ],\n"
	"  \"gidMap\": [ { \"containerId\": 1, \"hostId\": 7, \"size\": 1 },\n"
	"              { \"containerId\": 0, \"hostId\": 200000, \"size\": 1 } ],\n"
	"  \"rootless\": false,\n"
	"  \"network\": { \"mode\": \"host\" },\n"
	"  \"cgroupProcs\": [\"/sys/fs/cgroup/memory/tdock/ID/cgroup.procs\"],\n"
	"  \"capabilities\": [\"CAP_CHOWN\", \"CAP_KILL\", \"net_bind_service\"],\n"
	"  \"noNewPrivileges\": false,\n"
	"  \"seccomp\": \"unconfined\",\n"
	"  \"maskedPaths\": [\"/proc/kcore\", \"/proc/keys\"],\n"
	"  \"readonlyPaths\": [\"/proc/sys\"],\n"
	"  \"sysctl\": { \"net.ipv4.ping_group_range\": \"0 2147483647\", \"kernel.msgmax\": \"8192\" },\n"
	"  \"mounts\": [ { \"source\": \"/var/lib/tdock/containers/ID/hosts\", \"destination\": \"/etc/hosts\",\n"
	"                \"options\": [\"bind\", \"ro\"] },\n"
	"              { \"source\": \"tmpfs\", \"destination\": \"/run\", \"type\": \"tmpfs\",\n"
	"                \"options\": [\"nosuid\", \"size=1m\", \"mode=755\"] },\n"
	"              { \"source\": \"/var/lib/tdock/volumes/v/_data\", \"destination\": \"/data\",\n"
	"                \"options\": [\"rbind\", \"idmap\", \"copyup\"] } ],\n"
	"  \"socket\": \"/run/tdock/containers/ID/monitor.sock\",\n"
	"  \"logPath\": \"/var/lib/tdock/containers/ID/container.log\",\n"
	"  \"logMaxSize\": 20000000,\n"
	"  \"logMaxFiles\": 5,\n"
	"  \"exitPath\": \"/run/tdock/containers/ID/exit.json\",\n"
	"  \"netnsPath\": \"/run/tdock/netns/ID\",\n"
	"  \"unknownKey\": {\"ignored\": [1, 2.5e3, -0.5, null, true]}\n"
	"}\n";

static const char exec_doc[] =
	"{\"initPid\":12345,\"initStartTime\":8812345,\"args\":[\"sh\",\"-c\",\"echo hi\"],"
	"\"env\":[\"A=1\"],\"cwd\":\"/\",\"user\":{\"uid\":0,\"gid\":0,\"additionalGids\":[]},"
	"\"tty\":false,\"openStdin\":false,\"capabilities\":[\"CAP_CHOWN\"],\"noNewPrivileges\":true,"
	"\"seccomp\":\"default\",\"cgroupProcs\":[\"/sys/fs/cgroup/x/cgroup.procs\"],"
	"\"socket\":\"/run/b/exec-1.sock\",\"exitPath\":\"/run/b/exec-1.exit.json\","
	"\"logPath\":\"/b/exec-1.log\",\"startTimeoutMs\":250}";

/* ---- checks ---- */

#define CHECK(name, doc, cond)                                                          \
	do {                                                                            \
		checks++;                                                               \
		if (!(cond))                                                            \
			fail(name, doc, strlen(doc), "%s is false", #cond);             \
	} while (0)

static void test_valid(void)
{
	struct config c;
	const char *d = full_doc;
	if (load("full config", d, strlen(d), false, &c) < 0) {
		fail("full config", d, strlen(d), "did not load: %s", g_err);
		return;
	}
	CHECK("full config", d, strcmp(c.rootfs, "/var/lib/tdock/containers/ID/rootfs") == 0);
	CHECK("full config", d, c.has_overlay && c.n_lower == 2 && strcmp(c.lower[0], "/var/lib/tdock/layers/L2") == 0);
	CHECK("full config", d, strcmp(c.work, "/var/lib/tdock/containers/ID/work") == 0);
	CHECK("full config", d, c.readonly_rootfs && c.tty && c.open_stdin && !c.rootless && c.host_network);
	CHECK("full config", d, strcmp(c.hostname, "0123456789ab") == 0);
	CHECK("full config", d, strcmp(c.args[2], "echo \"hi\"\n\xc3\xa9\xf0\x9f\x98\x80") == 0 && !c.args[3]);
	CHECK("full config", d, strcmp(c.env[1], "HOSTNAME=x") == 0 && !c.env[2]);
	CHECK("full config", d, strcmp(c.cwd, "/srv") == 0);
	CHECK("full config", d, c.uid == 1000 && c.gid == 1001 && c.n_groups == 2 && c.groups[1] == 20);
	CHECK("full config", d, c.n_uid_map == 1 && c.uid_map[0].host_id == 100000 && c.uid_map[0].size == 65536);
	CHECK("full config", d, c.n_gid_map == 2 && c.root_uid == 100000 && c.root_gid == 200000);
	CHECK("full config", d, c.n_cgroup_procs == 1);
	CHECK("full config", d, c.caps == ((1ull << 0) | (1ull << 5) | (1ull << 10)));
	CHECK("full config", d, !c.no_new_privs && !c.seccomp);
	CHECK("full config", d, c.n_masked_paths == 2 && c.n_readonly_paths == 1);
	CHECK("full config", d, c.n_sysctls == 2 && strcmp(c.sysctls[1].key, "kernel.msgmax") == 0 &&
				   strcmp(c.sysctls[1].value, "8192") == 0);
	CHECK("full config", d, c.n_mounts == 3 && c.mounts[2].bind && c.mounts[2].recursive && c.mounts[2].idmap &&
				   c.mounts[2].copyup && !c.mounts[0].idmap && !c.mounts[0].copyup);
	CHECK("full config", d, c.mounts[0].bind && !c.mounts[0].recursive && c.mounts[0].readonly &&
				   (c.mounts[0].attr_set & MOUNT_ATTR_RDONLY));
	CHECK("full config", d, !c.mounts[1].bind && strcmp(c.mounts[1].type, "tmpfs") == 0 &&
				   (c.mounts[1].flags & MS_NOSUID) && strcmp(c.mounts[1].data, "size=1m,mode=755") == 0);
	CHECK("full config", d, c.log_max_size == 20000000 && c.log_max_files == 5);
	CHECK("full config", d, strcmp(c.netns_path, "/run/tdock/netns/ID") == 0);

	d = compose(base_members, N_BASE, NULL, NULL);
	if (load("minimal config", d, strlen(d), false, &c) < 0) {
		fail("minimal config", d, strlen(d), "did not load: %s", g_err);
		return;
	}
	/* The defaults PROTOCOL.md lists for absent keys. */
	CHECK("minimal config", d, strcmp(c.cwd, "/") == 0 && c.uid == 0 && c.gid == 0 && c.n_groups == 0);
	CHECK("minimal config", d, !c.tty && !c.open_stdin && !c.readonly_rootfs && !c.rootless);
	CHECK("minimal config", d, c.no_new_privs && c.seccomp && !c.host_network && !c.has_overlay);
	CHECK("minimal config", d, !c.hostname && !c.netns_path && c.env && !c.env[0]);
	CHECK("minimal config", d, c.n_sysctls == 1 && strcmp(c.sysctls[0].key, "user.max_user_namespaces") == 0 &&
				      strcmp(c.sysctls[0].value, "0") == 0);
	CHECK("minimal config", d, c.log_max_size == 0 && c.log_max_files == 1 && c.caps == 0 && c.n_mounts == 0);

	d = compose(base_members, N_BASE, NULL, "\"sysctl\":{},\"network\":{\"mode\":\"bridge\"},\"hostname\":null");
	if (load("empty sysctl", d, strlen(d), false, &c) < 0)
		fail("empty sysctl", d, strlen(d), "did not load: %s", g_err);
	else
		CHECK("empty sysctl", d, c.n_sysctls == 0 && !c.host_network && !c.hostname);

	d = exec_doc;
	if (load("exec config", d, strlen(d), true, &c) < 0) {
		fail("exec config", d, strlen(d), "did not load: %s", g_err);
		return;
	}
	CHECK("exec config", d, c.init_pid == 12345 && c.init_start_time == 8812345 && c.caps == 1);
	CHECK("exec config", d, strcmp(c.log_path, "/b/exec-1.log") == 0 && c.n_cgroup_procs == 1 && !c.rootfs);
	CHECK("exec config", d, c.start_timeout_ms == 250);

	d = compose(exec_members, N_EXEC, NULL, NULL);
	if (load("minimal exec config", d, strlen(d), true, &c) < 0)
		fail("minimal exec config", d, strlen(d), "did not load: %s", g_err);
	else
		CHECK("minimal exec config", d, !c.log_path && c.no_new_privs && c.seccomp &&
						    c.start_timeout_ms == EXEC_START_TIMEOUT_MS);
}

struct bad_case {
	const char *omit;   /* member of the base left out */
	const char *extra;  /* member added (or replacing one) */
	const char *error;  /* g_err, exactly */
};

/* Every message config.c gives for a container config. */
static const struct bad_case bad_config[] = {
	{ "rootfs", NULL, "config: rootfs: missing" },
	{ NULL, "\"rootfs\":\"b/rootfs\"", "config: rootfs: must be an absolute path" },
	{ NULL, "\"rootfs\":7", "config: rootfs: expected a string" },
	{ NULL, "\"id\":[]", "config: id: expected a string" },
	{ "args", NULL, "config: args: missing" },
	{ NULL, "\"args\":[]", "config: args: needs a command" },
	{ NULL, "\"args\":[\"\"]", "config: args: needs a command" },
	{ NULL, "\"args\":\"sh\"", "config: args: expected an array of strings" },
	{ NULL, "\"args\":[\"sh\",1]", "config: args: expected an array of strings" },
	{ NULL, "\"env\":[null]", "config: env: expected an array of strings" },
	{ NULL, "\"cwd\":\"srv\"", "config: cwd: must be an absolute path" },
	{ NULL, "\"tty\":1", "config: tty: expected true or false" },
	{ NULL, "\"openStdin\":\"yes\"", "config: openStdin: expected true or false" },
	{ NULL, "\"noNewPrivileges\":0", "config: noNewPrivileges: expected true or false" },
	{ NULL, "\"readonlyRootfs\":[]", "config: readonlyRootfs: expected true or false" },
	{ NULL, "\"rootless\":{}", "config: rootless: expected true or false" },
	{ "socket", NULL, "config: socket: missing" },
	{ "logPath", NULL, "config: logPath: missing" },
	{ "exitPath", NULL, "config: exitPath: missing" },
	{ NULL, "\"exitPath\":\"exit.json\"", "config: exitPath: must be an absolute path" },
	{ NULL, "\"netnsPath\":\"ns\"", "config: netnsPath: must be an absolute path" },
	{ NULL, "\"logMaxSize\":-1", "config: logMaxSize: expected a non-negative integer" },
	{ NULL, "\"logMaxSize\":1.5", "config: logMaxSize: expected a non-negative integer" },
	{ NULL, "\"logMaxSize\":1e300", "config: logMaxSize: expected a non-negative integer" },
	{ NULL, "\"logMaxFiles\":0", "config: logMaxFiles: expected an integer from 1 to 1000" },
	{ NULL, "\"logMaxFiles\":1001", "config: logMaxFiles: expected an integer from 1 to 1000" },
	{ NULL, "\"logMaxFiles\":\"5\"", "config: logMaxFiles: expected an integer from 1 to 1000" },
	{ NULL, "\"seccomp\":\"strict\"", "config: seccomp: expected \"default\" or \"unconfined\"" },
	{ NULL, "\"seccomp\":false", "config: seccomp: expected a string" },
	{ NULL, "\"user\":0", "config: user: expected an object {uid, gid, additionalGids}" },
	{ NULL, "\"user\":{\"uid\":-1}", "config: user.uid: expected a non-negative integer" },
	{ NULL, "\"user\":{\"uid\":4294967295}", "config: user.uid: expected a non-negative integer" },
	{ NULL, "\"user\":{\"gid\":0.5}", "config: user.gid: expected a non-negative integer" },
	{ NULL, "\"user\":{\"additionalGids\":5}", "config: user.additionalGids: expected an array of integers" },
	{ NULL, "\"user\":{\"additionalGids\":[\"5\"]}", "config: user.additionalGids: expected a non-negative integer" },
	{ NULL, "\"cgroupProcs\":[\"cgroup.procs\"]", "config: cgroupProcs: every entry must be an absolute path" },
	{ NULL, "\"capabilities\":[\"CAP_NOPE\"]", "config: capabilities: unknown capability CAP_NOPE" },
	{ NULL, "\"capabilities\":{}", "config: capabilities: expected an array of strings" },
	{ NULL, "\"hostname\":\"0123456789012345678901234567890123456789012345678901234567890123x\"",
	  "config: hostname: longer than 64 bytes" },
	{ NULL, "\"overlay\":[]", "config: overlay: expected an object" },
	{ NULL, "\"overlay\":{\"lower\":[],\"upper\":\"/u\",\"work\":\"/w\"}", "config: overlay.lower: needs at least one layer" },
	{ NULL, "\"overlay\":{\"lower\":[\"l\"],\"upper\":\"/u\",\"work\":\"/w\"}", "config: lower: every entry must be an absolute path" },
	{ NULL, "\"overlay\":{\"lower\":[\"/l\"],\"work\":\"/w\"}", "config: upper: missing" },
	{ NULL, "\"overlay\":{\"lower\":[\"/l\"],\"upper\":\"/u\",\"work\":\"w\"}", "config: work: must be an absolute path" },
	{ "uidMap", NULL, "config: uidMap: expected a non-empty array of {containerId, hostId, size}" },
	{ NULL, "\"uidMap\":[]", "config: uidMap: expected a non-empty array of {containerId, hostId, size}" },
	{ NULL, "\"gidMap\":{}", "config: gidMap: expected a non-empty array of {containerId, hostId, size}" },
	{ NULL, "\"uidMap\":[0]", "config: uidMap: expected objects {containerId, hostId, size}" },
	{ NULL, "\"uidMap\":[{\"containerId\":0,\"hostId\":1,\"size\":0}]", "config: uidMap: size must be at least 1" },
	{ NULL, "\"uidMap\":[{\"containerId\":0,\"hostId\":-1,\"size\":1}]", "config: uidMap: expected a non-negative integer" },
	{ NULL, "\"gidMap\":[{\"containerId\":0,\"size\":1}]", "config: gidMap: expected a non-negative integer" },
	{ NULL, "\"uidMap\":[{\"containerId\":1,\"hostId\":1,\"size\":1}]",
	  "config: uidMap: no range for id 0 (the container's root)" },
	{ NULL, "\"gidMap\":[{\"containerId\":1,\"hostId\":1,\"size\":1}]",
	  "config: gidMap: no range for id 0 (the container's root)" },
	{ NULL, "\"network\":{\"mode\":\"macvlan\"}", "config: network.mode: expected none, bridge or host" },
	{ NULL, "\"network\":{\"mode\":1}", "config: mode: expected a string" },
	{ NULL, "\"maskedPaths\":[\"proc/kcore\"]", "config: maskedPaths: every entry must be an absolute path" },
	{ NULL, "\"readonlyPaths\":[\"proc/sys\"]", "config: readonlyPaths: every entry must be an absolute path" },
	{ NULL, "\"sysctl\":[]", "config: sysctl: expected an object of strings" },
	{ NULL, "\"sysctl\":{\"kernel.msgmax\":8192}", "config: sysctl: expected an object of strings" },
	{ NULL, "\"sysctl\":{\"../../etc/passwd\":\"x\"}", "config: sysctl: bad key ../../etc/passwd" },
	{ NULL, "\"sysctl\":{\"net/ipv4\":\"1\"}", "config: sysctl: bad key net/ipv4" },
	{ NULL, "\"sysctl\":{\"\":\"1\"}", "config: sysctl: bad key " },
	{ NULL, "\"mounts\":{}", "config: mounts: expected an array" },
	{ NULL, "\"mounts\":[\"/a\"]", "config: mounts: expected objects {source, destination, options}" },
	{ NULL, "\"mounts\":[{\"destination\":\"/a\"}]", "config: source: missing" },
	{ NULL, "\"mounts\":[{\"source\":\"/a\",\"destination\":\"a\"}]", "config: destination: must be an absolute path" },
	{ NULL, "\"mounts\":[{\"source\":\"/a\",\"destination\":\"/a\",\"type\":5}]", "config: type: expected a string" },
	{ NULL, "\"mounts\":[{\"source\":\"/a\",\"destination\":\"/a\",\"options\":\"ro\"}]",
	  "config: options: expected an array of strings" },
	{ NULL, "\"mounts\":[{\"source\":\"a\",\"destination\":\"/a\"}]", "config: mounts: a bind source must be an absolute path" },
	{ NULL, "\"mounts\":[{\"source\":\"/a\",\"destination\":\"/a\",\"options\":[\"bind\",\"size=1m\"]}]",
	  "config: mounts: unknown option for a bind mount" },
	{ NULL, "\"mounts\":[{\"source\":\"tmpfs\",\"destination\":\"/a\",\"type\":\"tmpfs\",\"options\":[\"idmap\"]}]",
	  "config: mounts: idmap and copyup are for bind mounts" },
	{ NULL, "\"mounts\":[{\"source\":\"tmpfs\",\"destination\":\"/a\",\"type\":\"tmpfs\",\"options\":[\"copyup\"]}]",
	  "config: mounts: idmap and copyup are for bind mounts" },
};

/* And for an exec config (`tdock-shim exec`). */
static const struct bad_case bad_exec[] = {
	{ "initPid", NULL, "config: initPid: missing" },
	{ NULL, "\"initPid\":0", "config: initPid: must be a process id" },
	{ NULL, "\"initPid\":-5", "config: initPid: expected a non-negative integer" },
	{ NULL, "\"initPid\":2147483648", "config: initPid: expected a non-negative integer" },
	{ "initStartTime", NULL, "config: initStartTime: missing" },
	{ NULL, "\"initStartTime\":\"8812345\"", "config: initStartTime: expected a non-negative integer" },
	{ "args", NULL, "config: args: missing" },
	{ "socket", NULL, "config: socket: missing" },
	{ "exitPath", NULL, "config: exitPath: missing" },
	{ NULL, "\"logPath\":\"exec.log\"", "config: logPath: must be an absolute path" },
	{ NULL, "\"startTimeoutMs\":0", "config: startTimeoutMs: must be at least 1" },
	{ NULL, "\"startTimeoutMs\":\"5\"", "config: startTimeoutMs: expected a non-negative integer" },
};

static void run_bad(const char *what, const struct bad_case *cases, size_t n, bool exec)
{
	for (size_t i = 0; i < n; i++) {
		const struct bad_case *b = &cases[i];
		char name[160];
		snprintf(name, sizeof name, "%s error \"%s\"", what, b->error);
		const char *d = exec ? compose(exec_members, N_EXEC, b->omit, b->extra)
				     : compose(base_members, N_BASE, b->omit, b->extra);
		struct config c;
		checks++;
		if (load(name, d, strlen(d), exec, &c) == 0)
			fail(name, d, strlen(d), "loaded, expected the error");
		else if (strcmp(g_err, b->error) != 0)
			fail(name, d, strlen(d), "got \"%s\"", g_err);
	}
}

static void test_file_errors(void)
{
	struct config c;
	char path[128];
	snprintf(path, sizeof path, "%s/missing.json", dir);
	checks++;
	if (config_load(path, &c) == 0 || strncmp(g_err, "config: open ", 13) != 0 ||
	    !strstr(g_err, ": No such file or directory"))
		fail("config: open a missing file", NULL, 0, "got \"%s\"", g_err);

	/* Over 1 MiB: refused before it is read. */
	size_t big = (1u << 20) + 2;
	char *d = malloc(big);
	if (!d) {
		perror("config-test: malloc");
		exit(2);
	}
	memset(d, ' ', big);
	d[0] = '{';
	d[big - 1] = '}';
	char want[160];
	snprintf(want, sizeof want, "config: %s: larger than 1 MiB", cfg_path);
	checks++;
	if (load("config larger than 1 MiB", d, big, false, &c) == 0 || strcmp(g_err, want) != 0)
		fail("config larger than 1 MiB", NULL, 0, "got \"%s\"", g_err);
	free(d);

	const char *arr = "[1,2]";
	checks++;
	if (load("config: top level not an object", arr, strlen(arr), false, &c) == 0 ||
	    strcmp(g_err, "config: expected an object") != 0)
		fail("config: top level not an object", arr, strlen(arr), "got \"%s\"", g_err);

	/* A JSON error names the file, then where and what. */
	const char *broken = "{\n  \"rootfs\": \"/b\",\n  \"args\" [\"sh\"]\n}";
	snprintf(want, sizeof want, "config: %s: line 3 column 10: expected ':'", cfg_path);
	checks++;
	if (load("config: JSON error with line and column", broken, strlen(broken), false, &c) == 0 ||
	    strcmp(g_err, want) != 0)
		fail("config: JSON error with line and column", broken, strlen(broken), "got \"%s\"", g_err);
}

/* The error of the last parse_exact: json_parse reports into the caller's object. */
static struct shim_err json_err;

/* json_parse on exactly len bytes (no NUL after them, so ASan sees any over-read). */
static struct json *parse_exact(const char *name, const char *text, size_t len)
{
	char *copy = malloc(len ? len : 1);
	if (!copy) {
		perror("config-test: malloc");
		exit(2);
	}
	memcpy(copy, text, len);
	cur_name = name;
	cur_doc = copy;
	cur_len = len;
	g_err[0] = '\0';
	json_err.msg[0] = '\0';
	struct json *j = json_parse(copy, len, &json_err);
	cur_doc = NULL;
	free(copy);
	/* The error is the caller's alone: the shared buffer is left as it was. */
	if (g_err[0])
		fail(name, text, len, "json_parse wrote g_err: \"%s\"", g_err);
	return j;
}

static void test_json(void)
{
	static const struct {
		const char *text, *error;
	} bad[] = {
		{ "", "line 1 column 1: unexpected end of input" },
		{ "   ", "line 1 column 4: unexpected end of input" },
		{ "{", "line 1 column 2: expected a string key" },
		{ "{\"a\"", "line 1 column 5: expected ':'" },
		{ "{\"a\":", "line 1 column 6: unexpected end of input" },
		{ "{\"a\":1", "line 1 column 7: expected ',' or '}'" },
		{ "{\"a\":1,}", "line 1 column 8: expected a string key" },
		{ "[1", "line 1 column 3: expected ',' or ']'" },
		{ "[1,]", "line 1 column 4: bad number" },
		{ "\"abc", "line 1 column 5: unterminated string" },
		{ "\"a\\", "line 1 column 4: unterminated string" },
		{ "\"a\tb\"", "line 1 column 3: control character in string" },
		{ "\"\\q\"", "line 1 column 3: bad escape in string" },
		{ "\"\\u12\"", "line 1 column 4: truncated \\u escape" },
		{ "\"\\u12", "line 1 column 6: unterminated string" },
		{ "\"\\u12g4\"", "line 1 column 7: bad hex digit in \\u escape" },
		{ "\"\\ud800\"", "line 1 column 8: unpaired surrogate in \\u escape" },
		{ "\"\\ud800\\u0041\"", "line 1 column 14: unpaired surrogate in \\u escape" },
		{ "\"\\udc00\"", "line 1 column 8: unpaired surrogate in \\u escape" },
		{ "\"\\u0000\"", "line 1 column 8: \\u0000 is not allowed" },
		{ "-", "line 1 column 2: bad number" },
		{ "01", "line 1 column 2: trailing characters after the document" },
		{ "1.", "line 1 column 3: bad number: digit expected after '.'" },
		{ "1e+", "line 1 column 4: bad number: digit expected in exponent" },
		{ "tru", "line 1 column 1: unexpected character" },
		{ "nul", "line 1 column 1: unexpected character" },
		{ "{} x", "line 1 column 4: trailing characters after the document" },
		{ "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]", "line 1 column 34: nested too deeply" },
		{ "\n\n  }", "line 3 column 3: bad number" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char name[160];
		snprintf(name, sizeof name, "json error \"%s\"", bad[i].error);
		checks++;
		if (parse_exact(name, bad[i].text, strlen(bad[i].text)))
			fail(name, bad[i].text, strlen(bad[i].text), "parsed, expected the error");
		else if (strcmp(json_err.msg, bad[i].error) != 0)
			fail(name, bad[i].text, strlen(bad[i].text), "got \"%s\"", json_err.msg);
	}
	/* An embedded NUL byte: its own message, at its position. */
	checks++;
	if (parse_exact("json NUL byte", "{\"a\":\0}", 7) || strcmp(json_err.msg, "line 1 column 6: NUL byte in input") != 0)
		fail("json NUL byte", "{\"a\":\0}", 7, "got \"%s\"", json_err.msg);

	static const char ok[] = " {\"a\":[true,false,null,-0,0.25,1E2,3e-1,\"\\/\\b\\f\\r\\t\"],\"a\":{\"\":[]}} ";
	struct json *j = parse_exact("json valid", ok, strlen(ok));
	checks++;
	if (!j) {
		fail("json valid", ok, strlen(ok), "did not parse: %s", json_err.msg);
		return;
	}
	const struct json *a = json_get(j, "a");
	checks++;
	/* The last duplicate wins. */
	if (!a || a->type != JSON_OBJECT || a->count != 1 || !json_get(a, "") || json_get(a, "")->type != JSON_ARRAY)
		fail("json duplicate keys: the last wins", ok, strlen(ok), "wrong member");
	const struct json *arr = j->child;
	checks++;
	if (arr->type != JSON_ARRAY || arr->count != 8 || arr->child->type != JSON_BOOL || !arr->child->boolean ||
	    arr->child->next->next->type != JSON_NULL || arr->child->next->next->next->next->number != 0.25 ||
	    arr->child->next->next->next->next->next->number != 100 ||
	    strcmp(arr->child->next->next->next->next->next->next->next->string, "/\b\f\r\t") != 0)
		fail("json values", ok, strlen(ok), "wrong values");
}

/* ---- the property test ---- */

static uint64_t rng = 0x7464636b2d736864ull; /* fixed: a failure repeats */

static uint64_t next_rand(void)
{
	/* xorshift64* */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545F4914F6CDD1Dull;
}

static size_t rand_below(size_t n)
{
	return n ? (size_t)(next_rand() % n) : 0;
}

/* Bytes that matter to the parser, more often than chance would pick them. */
static char interesting_byte(void)
{
	static const char pick[] = "{}[]:,\"\\u0123456789eE.+-tfn \n\t/aZ";
	switch (rand_below(4)) {
	case 0:
		return (char)rand_below(256);
	default:
		return pick[rand_below(sizeof pick - 1)];
	}
}

static size_t mutate(char *out, size_t cap, const char *src, size_t len)
{
	size_t n = len < cap ? len : cap;
	memcpy(out, src, n);
	int edits = 1 + (int)rand_below(8);
	for (int e = 0; e < edits; e++) {
		size_t at = rand_below(n + 1);
		switch (rand_below(12)) {
		case 0: /* replace a byte */
			if (n)
				out[rand_below(n)] = interesting_byte();
			break;
		case 1: /* insert a byte */
			if (n < cap) {
				memmove(out + at + 1, out + at, n - at);
				out[at] = interesting_byte();
				n++;
			}
			break;
		case 2: /* delete a run */
			if (at < n) {
				size_t k = 1 + rand_below(n - at < 16 ? n - at : 16);
				memmove(out + at, out + at + k, n - at - k);
				n -= k;
			}
			break;
		case 3: /* duplicate a run from elsewhere in the document */
			if (n) {
				size_t from = rand_below(n), k = 1 + rand_below(64);
				if (k > n - from)
					k = n - from;
				if (n + k <= cap) {
					memmove(out + at + k, out + at, n - at);
					memmove(out + at, out + (from >= at ? from + k : from), k);
					n += k;
				}
			}
			break;
		case 4: /* cut off (rarer: the prefixes are all tested already) */
			n = at;
			break;
		default: /* replace a value's first byte with one that changes its type */
			if (n) {
				size_t k = rand_below(n);
				while (k < n && out[k] != ':')
					k++;
				if (k + 1 < n)
					out[k + 1] = "0-\"[{tfn"[rand_below(8)];
			}
			break;
		}
	}
	return n;
}

/* Optional members with valid values, for the structural variants. */
static const char *const optional_members[] = {
	"\"id\":\"abc\"",
	"\"overlay\":{\"lower\":[\"/l2\",\"/l1\"],\"upper\":\"/u\",\"work\":\"/w\"}",
	"\"readonlyRootfs\":true",
	"\"hostname\":\"box\"",
	"\"env\":[\"A=1\"]",
	"\"cwd\":\"/srv\"",
	"\"user\":{\"uid\":1,\"gid\":2,\"additionalGids\":[3]}",
	"\"tty\":true",
	"\"openStdin\":true",
	"\"rootless\":true",
	"\"network\":{\"mode\":\"bridge\"}",
	"\"cgroupProcs\":[\"/c/cgroup.procs\"]",
	"\"capabilities\":[\"CAP_KILL\"]",
	"\"noNewPrivileges\":false",
	"\"seccomp\":\"unconfined\"",
	"\"maskedPaths\":[\"/proc/kcore\"]",
	"\"readonlyPaths\":[\"/proc/sys\"]",
	"\"sysctl\":{\"kernel.msgmax\":\"1\"}",
	"\"mounts\":[{\"source\":\"/a\",\"destination\":\"/b\",\"options\":[\"rbind\",\"ro\"]},"
	"{\"source\":\"t\",\"destination\":\"/t\",\"type\":\"tmpfs\",\"options\":[\"size=1m\"]}]",
	"\"logMaxSize\":100",
	"\"logMaxFiles\":3",
	"\"netnsPath\":\"/n\"",
};
#define N_OPTIONAL (sizeof optional_members / sizeof optional_members[0])

/* Keys config.c looks for, at any level: random objects use them. */
static const char *const known_keys[] = {
	"id", "rootfs", "overlay", "lower", "upper", "work", "readonlyRootfs", "hostname", "args", "env",
	"cwd", "user", "uid", "gid", "additionalGids", "tty", "openStdin", "uidMap", "gidMap", "containerId",
	"hostId", "size", "rootless", "network", "mode", "cgroupProcs", "capabilities", "noNewPrivileges",
	"seccomp", "maskedPaths", "readonlyPaths", "sysctl", "mounts", "source", "destination", "type",
	"options", "socket", "logPath", "logMaxSize", "logMaxFiles", "exitPath", "netnsPath",
	"initPid", "initStartTime", "startTimeoutMs", "", "../x",
};

/* A random valid JSON value, of the kinds and shapes config.c deals with. */
static size_t gen_value(char *o, size_t cap, int depth)
{
	static const char *const scalars[] = {
		"0", "1", "-1", "0.5", "1e3", "-0", "340", "341", "65536", "4294967295", "4294967296",
		"9007199254740993", "1e400", "-1e400", "true", "false", "null", "\"\"", "\"/abs\"", "\"rel\"",
		"\"default\"", "\"unconfined\"", "\"host\"", "\"bridge\"", "\"bind\"", "\"ro\"",
		"\"size=1m\"", "\"CAP_KILL\"", "\"cap_nope\"", "\"\\u00e9\\ud83d\\ude00\"", "\"a\\nb\"",
	};
	size_t n = 0;
	int kind = depth > 3 ? 0 : (int)rand_below(4);
	if (cap < 64)
		kind = 0;
	if (kind <= 1) {
		n = (size_t)snprintf(o, cap, "%s", scalars[rand_below(sizeof scalars / sizeof scalars[0])]);
		return n < cap ? n : cap - 1;
	}
	bool obj = kind == 3;
	o[n++] = obj ? '{' : '[';
	size_t items = rand_below(4);
	for (size_t i = 0; i < items && n + 80 < cap; i++) {
		if (i)
			o[n++] = ',';
		if (obj)
			n += (size_t)snprintf(o + n, cap - n, "\"%s\":",
					      known_keys[rand_below(sizeof known_keys / sizeof known_keys[0])]);
		n += gen_value(o + n, cap - n - 2, depth + 1);
	}
	o[n++] = obj ? '}' : ']';
	o[n] = '\0';
	return n;
}

/*
 * A well-formed document built from members: each one kept, dropped, or given
 * a random value. These reach config.c's checks rather than the parser's.
 */
static size_t structural(char *o, size_t cap, const char *const *a, size_t na, const char *const *b, size_t nb)
{
	size_t n = 0;
	o[n++] = '{';
	for (size_t i = 0; i < na + nb && n + 1024 < cap; i++) {
		const char *m = i < na ? a[i] : b[i - na];
		if (i >= na && rand_below(2))
			continue; /* optional members: half of them */
		size_t r = rand_below(12);
		if (r == 0)
			continue; /* dropped */
		if (n > 1)
			o[n++] = ',';
		if (r <= 2) {
			const char *colon = strchr(m, ':');
			size_t kl = (size_t)(colon - m) + 1;
			memcpy(o + n, m, kl);
			n += kl;
			n += gen_value(o + n, 900, 0);
		} else {
			n += (size_t)snprintf(o + n, cap - n, "%s", m);
		}
	}
	o[n++] = '}';
	o[n] = '\0';
	return n;
}

/* One variant: loads or fails with a config message; the raw parser agrees on validity. */
static void check_variant(const char *name, const char *doc, size_t len, bool exec)
{
	struct config c;
	checks++;
	int r = load(name, doc, len, exec, &c);
	if (r != 0 && r != -1) {
		fail(name, doc, len, "returned %d", r);
		return;
	}
	if (r < 0 && (strncmp(g_err, "config: ", 8) != 0 || !memchr(g_err, '\0', sizeof g_err))) {
		fail(name, doc, len, "failed without a \"config: \" message: \"%s\"", g_err);
		return;
	}
	if (r == 0)
		fuzz_loaded++;
	else
		fuzz_refused++;
	struct json *j = parse_exact(name, doc, len);
	if (r == 0 && !j)
		fail(name, doc, len, "config loaded but json_parse refused it: %s", json_err.msg);
}

static void test_fuzz(void)
{
	static char buf[8192];
	const char *docs[] = { full_doc, exec_doc };
	const int rounds = 4000;
	for (int d = 0; d < 2; d++) {
		bool exec = d == 1;
		const char *src = docs[d];
		size_t len = strlen(src);
		char name[96];
		/* Every prefix: what a half-written file looks like. */
		for (size_t cut = 0; cut < len; cut++) {
			snprintf(name, sizeof name, "fuzz: %s config cut at %zu", exec ? "exec" : "container", cut);
			check_variant(name, src, cut, exec);
		}
		for (int i = 0; i < rounds; i++) {
			size_t n = mutate(buf, sizeof buf, src, len);
			snprintf(name, sizeof name, "fuzz: %s config mutation %d", exec ? "exec" : "container", i);
			check_variant(name, buf, n, exec);
		}
	}
	/* Well-formed documents with wrong, missing or odd values: config.c's checks. */
	for (int i = 0; i < 3000; i++) {
		char name[96];
		size_t n = structural(buf, sizeof buf, base_members, N_BASE, optional_members, N_OPTIONAL);
		snprintf(name, sizeof name, "fuzz: container config, values changed %d", i);
		check_variant(name, buf, n, false);
		n = structural(buf, sizeof buf, exec_members, N_EXEC, optional_members, N_OPTIONAL);
		snprintf(name, sizeof name, "fuzz: exec config, values changed %d", i);
		check_variant(name, buf, n, true);
	}
	/* Random bytes, mostly of the parser's own alphabet. */
	for (int i = 0; i < 2000; i++) {
		size_t n = rand_below(256);
		for (size_t k = 0; k < n; k++)
			buf[k] = interesting_byte();
		char name[64];
		snprintf(name, sizeof name, "fuzz: random document %d", i);
		check_variant(name, buf, n, false);
	}
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("config-test: mkdtemp");
		return 2;
	}
	snprintf(cfg_path, sizeof cfg_path, "%s/config.json", dir);
#if defined(__SANITIZE_ADDRESS__)
	__sanitizer_set_death_callback(on_death);
#else
	int sigs[] = { SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL };
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		if (signal(sigs[i], on_crash) == SIG_ERR) {
			perror("config-test: signal");
			return 2;
		}
#endif
	test_valid();
	run_bad("config", bad_config, sizeof bad_config / sizeof bad_config[0], false);
	run_bad("exec config", bad_exec, sizeof bad_exec / sizeof bad_exec[0], true);
	test_file_errors();
	test_json();
	test_fuzz();
	checks++;
	if (fuzz_loaded < 100 || fuzz_refused < 100)
		fail("fuzz: variants of both kinds", NULL, 0, "only %d loaded and %d refused", fuzz_loaded, fuzz_refused);
	unlink(cfg_path);
	rmdir(dir);
	printf("config-test: %d checks, %d failed (fuzz: %d variants loaded, %d refused)\n", checks, failures,
	       fuzz_loaded, fuzz_refused);
	return failures ? 1 : 0;
}
