/* Docker's copy-up: a new, empty volume is filled with the image's directory it is mounted over. */
#ifndef TDOCK_COPYUP_H
#define TDOCK_COPYUP_H

/*
 * Copies the content of image_dir (a directory of the container's rootfs, any
 * descriptor of it, O_PATH included) into volume_dir when volume_dir is empty:
 * files, directories, symlinks (never followed) and fifos, with their owners,
 * modes, times and extended attributes, hard links kept as hard links; the volume's root takes image_dir's owner and mode. Runs as
 * the container's root, in its user namespace. `where` names it in errors.
 */
int copy_up(int image_dir, int volume_dir, const char *where);

#endif
