/* The container's files seen from the daemon (cp, export, diff, commit). */
#ifndef TDOCK_ROOTVIEW_H
#define TDOCK_ROOTVIEW_H

/* `rootfs-hold`: argv after the verb. Returns the exit code. */
int rootfs_hold_main(int argc, char **argv);
/* `opaque-dirs`: argv after the verb. Returns the exit code. */
int opaque_dirs_main(int argc, char **argv);

#endif
