/* tdock-shim VERB ...: see PROTOCOL.md. */
#include "child.h"
#include "config.h"
#include "monitor.h"
#include "notify.h"
#include "rootview.h"
#include "seal.h"
#include "util.h"
#include "whiteouts.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

static int usage(void)
{
	dprintf(2, "usage: tdock-shim monitor BUNDLE_DIR\n"
		   "       tdock-shim exec EXEC_CONFIG.json\n"
		   "       tdock-shim whiteouts [--uid N] [--gid N] [--userxattr] LAYER_DIR < records\n"
		   "       tdock-shim notify STATE...\n"
		   "       tdock-shim rootfs-hold [--userxattr] --upper U --work W --target T LOWER...\n"
		   "       tdock-shim opaque-dirs [--userxattr] DIR\n");
	return 2;
}

int main(int argc, char **argv)
{
	if (argc > 0) {
		g_argv_start = argv[0];
		g_argv_end = argv[argc - 1] + strlen(argv[argc - 1]) + 1;
	}
	if (argc < 2)
		return usage();
	/*
	 * The verbs whose processes end up in a container run from a sealed copy of
	 * this binary (CVE-2019-5736), before anything else; seal_self re-executes us.
	 */
	if (argc == 3 && (strcmp(argv[1], "monitor") == 0 || strcmp(argv[1], "exec") == 0) && seal_self(argv) < 0) {
		dprintf(1, "error: %s\n", g_err);
		return 1;
	}
	if (argc == 3 && strcmp(argv[1], "monitor") == 0) {
		char path[PATH_MAX];
		if (snprintf(path, sizeof path, "%s/config.json", argv[2]) >= (int)sizeof path) {
			dprintf(1, "error: config: bundle path too long\n");
			return 1;
		}
		return monitor_serve(path, config_load, container_setup);
	}
	if (argc == 3 && strcmp(argv[1], "exec") == 0)
		return monitor_serve(argv[2], config_load_exec, exec_setup);
	if (strcmp(argv[1], "whiteouts") == 0)
		return whiteouts_main(argc - 2, argv + 2);
	if (strcmp(argv[1], "rootfs-hold") == 0)
		return rootfs_hold_main(argc - 2, argv + 2);
	if (strcmp(argv[1], "opaque-dirs") == 0)
		return opaque_dirs_main(argc - 2, argv + 2);
	if (strcmp(argv[1], "notify") == 0)
		return notify_main(argc - 2, argv + 2);
	return usage();
}
