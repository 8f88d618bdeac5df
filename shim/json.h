/* A small strict JSON parser (RFC 8259) for config.json. */
#ifndef TDOCK_JSON_H
#define TDOCK_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

enum json_type { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

struct json {
	enum json_type type;
	bool boolean;
	double number;
	char *string;       /* decoded, NUL-terminated (embedded NULs are rejected) */
	char *key;          /* set when this value is a member of an object */
	struct json *child; /* first element or member */
	struct json *next;  /* next sibling */
	size_t count;       /* number of children */
};

/*
 * Parses text (len bytes). Returns the root or NULL with err set to
 * "line L column C: what was expected". The tree lives until exit: the
 * shim parses exactly one document, so it is never freed.
 */
struct json *json_parse(const char *text, size_t len, struct shim_err *err);

/* Member of an object by key, or NULL. */
const struct json *json_get(const struct json *obj, const char *key);

#endif
