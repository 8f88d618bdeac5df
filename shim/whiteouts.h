/* `tdock-shim whiteouts`: OCI whiteouts of an unpacked layer in overlayfs form. */
#ifndef TDOCK_WHITEOUTS_H
#define TDOCK_WHITEOUTS_H

/* argv after the verb: [--uid N] [--gid N] [--userxattr] LAYER_DIR. Returns the exit code. */
int whiteouts_main(int argc, char **argv);

#endif
