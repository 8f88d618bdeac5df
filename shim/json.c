#include "json.h"
#include "util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Deep nesting is never legitimate in config.json; the cap keeps recursion bounded. */
#define MAX_DEPTH 32

struct parser {
	const char *s;
	size_t len, pos;
	struct shim_err *err;
};

static int fail(struct parser *p, const char *what)
{
	size_t line = 1, col = 1;
	for (size_t i = 0; i < p->pos && i < p->len; i++) {
		if (p->s[i] == '\n') {
			line++;
			col = 1;
		} else {
			col++;
		}
	}
	return err_set(p->err, "line %zu column %zu: %s", line, col, what);
}

static void skip_ws(struct parser *p)
{
	while (p->pos < p->len) {
		char c = p->s[p->pos];
		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		p->pos++;
	}
}

static int peek(struct parser *p)
{
	return p->pos < p->len ? (unsigned char)p->s[p->pos] : -1;
}

static struct json *new_node(struct parser *p, enum json_type t)
{
	struct json *j = calloc(1, sizeof *j);
	if (!j) {
		fail(p, "out of memory");
		return NULL;
	}
	j->type = t;
	return j;
}

static int hex4(struct parser *p, unsigned *out)
{
	if (p->len - p->pos < 4)
		return fail(p, "truncated \\u escape");
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		char c = p->s[p->pos++];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return fail(p, "bad hex digit in \\u escape");
	}
	*out = v;
	return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xC0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xE0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (char)(0xF0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	o[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/* Parses a string token; the decoded text is never longer than the source. */
static char *parse_string(struct parser *p)
{
	p->pos++; /* opening quote */
	size_t start = p->pos;
	while (p->pos < p->len && p->s[p->pos] != '"') {
		if (p->s[p->pos] == '\\')
			p->pos++;
		p->pos++;
	}
	if (p->pos >= p->len) {
		fail(p, "unterminated string");
		return NULL;
	}
	size_t end = p->pos;
	char *out = malloc(end - start + 1);
	if (!out) {
		fail(p, "out of memory");
		return NULL;
	}
	size_t o = 0;
	p->pos = start;
	while (p->pos < end) {
		unsigned char c = (unsigned char)p->s[p->pos];
		if (c < 0x20) {
			fail(p, "control character in string");
			goto bad;
		}
		if (c != '\\') {
			out[o++] = (char)c;
			p->pos++;
			continue;
		}
		p->pos++;
		char e = p->s[p->pos++];
		unsigned cp;
		switch (e) {
		case '"': out[o++] = '"'; break;
		case '\\': out[o++] = '\\'; break;
		case '/': out[o++] = '/'; break;
		case 'b': out[o++] = '\b'; break;
		case 'f': out[o++] = '\f'; break;
		case 'n': out[o++] = '\n'; break;
		case 'r': out[o++] = '\r'; break;
		case 't': out[o++] = '\t'; break;
		case 'u':
			if (hex4(p, &cp) < 0)
				goto bad;
			if (cp >= 0xD800 && cp <= 0xDBFF) {
				unsigned lo;
				if (p->pos + 2 > end || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u') {
					fail(p, "unpaired surrogate in \\u escape");
					goto bad;
				}
				p->pos += 2;
				if (hex4(p, &lo) < 0)
					goto bad;
				if (lo < 0xDC00 || lo > 0xDFFF) {
					fail(p, "unpaired surrogate in \\u escape");
					goto bad;
				}
				cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
			} else if (cp >= 0xDC00 && cp <= 0xDFFF) {
				fail(p, "unpaired surrogate in \\u escape");
				goto bad;
			}
			if (cp == 0) {
				/* A NUL would silently truncate a C string (a path, an argument). */
				fail(p, "\\u0000 is not allowed");
				goto bad;
			}
			o += put_utf8(out + o, cp);
			break;
		default:
			p->pos--;
			fail(p, "bad escape in string");
			goto bad;
		}
	}
	out[o] = '\0';
	p->pos = end + 1;
	return out;
bad:
	free(out);
	return NULL;
}

static int parse_number(struct parser *p, double *out)
{
	size_t start = p->pos;
	if (peek(p) == '-')
		p->pos++;
	if (peek(p) == '0') {
		p->pos++;
	} else if (peek(p) >= '1' && peek(p) <= '9') {
		while (peek(p) >= '0' && peek(p) <= '9')
			p->pos++;
	} else {
		return fail(p, "bad number");
	}
	if (peek(p) == '.') {
		p->pos++;
		if (!(peek(p) >= '0' && peek(p) <= '9'))
			return fail(p, "bad number: digit expected after '.'");
		while (peek(p) >= '0' && peek(p) <= '9')
			p->pos++;
	}
	if (peek(p) == 'e' || peek(p) == 'E') {
		p->pos++;
		if (peek(p) == '+' || peek(p) == '-')
			p->pos++;
		if (!(peek(p) >= '0' && peek(p) <= '9'))
			return fail(p, "bad number: digit expected in exponent");
		while (peek(p) >= '0' && peek(p) <= '9')
			p->pos++;
	}
	/*
	 * Converted by hand: config.json only has small integers, and strtod would
	 * pull a large part of libc into the static binary (the monitor's RSS).
	 */
	const char *s = p->s + start, *e = p->s + p->pos;
	bool neg = *s == '-';
	double v = 0, scale = 1;
	int exp = 0;
	if (neg)
		s++;
	for (; s < e && *s >= '0' && *s <= '9'; s++)
		v = v * 10 + (*s - '0');
	if (s < e && *s == '.')
		for (s++; s < e && *s >= '0' && *s <= '9'; s++)
			v += (*s - '0') * (scale /= 10);
	if (s < e && (*s == 'e' || *s == 'E')) {
		bool eneg = *++s == '-';
		if (*s == '-' || *s == '+')
			s++;
		for (; s < e && exp < 400; s++)
			exp = exp * 10 + (*s - '0');
		for (; exp > 0; exp--)
			v = eneg ? v / 10 : v * 10;
	}
	*out = neg ? -v : v;
	return 0;
}

static int literal(struct parser *p, const char *word)
{
	size_t n = strlen(word);
	if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
		return fail(p, "unexpected character");
	p->pos += n;
	return 0;
}

static struct json *parse_value(struct parser *p, int depth);

static struct json *parse_container(struct parser *p, int depth, bool is_object)
{
	struct json *j = new_node(p, is_object ? JSON_OBJECT : JSON_ARRAY);
	if (!j)
		return NULL;
	char close = is_object ? '}' : ']';
	struct json **tail = &j->child;
	p->pos++;
	skip_ws(p);
	if (peek(p) == close) {
		p->pos++;
		return j;
	}
	for (;;) {
		char *key = NULL;
		skip_ws(p);
		if (is_object) {
			if (peek(p) != '"') {
				fail(p, "expected a string key");
				return NULL;
			}
			if (!(key = parse_string(p)))
				return NULL;
			skip_ws(p);
			if (peek(p) != ':') {
				fail(p, "expected ':'");
				return NULL;
			}
			p->pos++;
		}
		struct json *v = parse_value(p, depth + 1);
		if (!v)
			return NULL;
		v->key = key;
		*tail = v;
		tail = &v->next;
		j->count++;
		skip_ws(p);
		if (peek(p) == ',') {
			p->pos++;
			continue;
		}
		if (peek(p) == close) {
			p->pos++;
			return j;
		}
		fail(p, is_object ? "expected ',' or '}'" : "expected ',' or ']'");
		return NULL;
	}
}

static struct json *parse_value(struct parser *p, int depth)
{
	if (depth > MAX_DEPTH) {
		fail(p, "nested too deeply");
		return NULL;
	}
	skip_ws(p);
	struct json *j;
	switch (peek(p)) {
	case '{':
		return parse_container(p, depth, true);
	case '[':
		return parse_container(p, depth, false);
	case '"': {
		char *s = parse_string(p);
		if (!s || !(j = new_node(p, JSON_STRING)))
			return NULL;
		j->string = s;
		return j;
	}
	case 't':
	case 'f': {
		bool v = peek(p) == 't';
		if (literal(p, v ? "true" : "false") < 0 || !(j = new_node(p, JSON_BOOL)))
			return NULL;
		j->boolean = v;
		return j;
	}
	case 'n':
		if (literal(p, "null") < 0)
			return NULL;
		return new_node(p, JSON_NULL);
	case -1:
		fail(p, "unexpected end of input");
		return NULL;
	default: {
		double d = 0;
		if (parse_number(p, &d) < 0 || !(j = new_node(p, JSON_NUMBER)))
			return NULL;
		j->number = d;
		return j;
	}
	}
}

struct json *json_parse(const char *text, size_t len, struct shim_err *err)
{
	struct parser p = { text, len, 0, err };
	if (memchr(text, '\0', len)) {
		p.pos = (size_t)((const char *)memchr(text, '\0', len) - text);
		fail(&p, "NUL byte in input");
		return NULL;
	}
	struct json *root = parse_value(&p, 0);
	if (!root)
		return NULL;
	skip_ws(&p);
	if (p.pos != p.len) {
		fail(&p, "trailing characters after the document");
		return NULL;
	}
	return root;
}

const struct json *json_get(const struct json *obj, const char *key)
{
	if (!obj || obj->type != JSON_OBJECT)
		return NULL;
	const struct json *found = NULL;
	/* The last duplicate wins, as in JavaScript's JSON.parse. */
	for (const struct json *c = obj->child; c; c = c->next)
		if (strcmp(c->key, key) == 0)
			found = c;
	return found;
}
