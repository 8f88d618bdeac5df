/* Capability names and the three steps that take capabilities away. */
#ifndef TDOCK_CAPS_H
#define TDOCK_CAPS_H

#include <stdint.h>

/* "CAP_CHOWN" or "chown" → number, or -1 when unknown. */
int cap_from_name(const char *name);

/* Highest capability this kernel knows (/proc/sys/kernel/cap_last_cap). */
int cap_read_last(int *last);

/* Drops every capability not in keep from the bounding set (0..last). */
int caps_drop_bounding(uint64_t keep, int last);

/* Sets permitted and effective to keep, inheritable to nothing, clears ambient. */
int caps_set(uint64_t keep);

#endif
