/*
 * The log file (PROTOCOL.md, "Log file"): one record per read of the container's
 * output, written at disk speed whatever the clients do, rotated by size.
 */
#ifndef TDOCK_LOGWRITER_H
#define TDOCK_LOGWRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct logwriter {
	int fd;             /* -1: no log (an exec without logPath), or logging stopped */
	const char *path;
	uint64_t max_size;  /* rotate before the file would grow past this; 0: never */
	unsigned max_files; /* files kept, the current one included (>= 1) */
	uint64_t size;      /* bytes in the current file */
	bool created;       /* we created path (a failed setup removes it) */
	char error[256];    /* why logging stopped (the exit file's logError); "" while it works */
};

/* Opens path for appending, creating it if needed. -1 with g_err on failure. */
int logwriter_open(struct logwriter *w, const char *path, uint64_t max_size, unsigned max_files);

/* Appends one record (rotating first when the file is full); a failure stops logging. */
void logwriter_record(struct logwriter *w, unsigned char stream, const void *data, size_t len);

#endif
