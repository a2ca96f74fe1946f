/* SPDX-License-Identifier: MIT */
/*
 * net/json_scan.c: one flat JSON object read in place (net/json_scan.h).
 *
 * pflightd answers on its control socket with a small JSON object ({"ok":true,...}). The
 * worker's side of that socket lives in libpflight, which carries no JSON library (a
 * worker links what a worker needs), so the reply is read here: the whole text is checked
 * against the JSON grammar (RFC 8259), the top-level members are kept as spans of the
 * text, and nested objects and arrays are checked and skipped (bounded depth). Values are
 * converted only when asked for. Keys are compared as written: the daemon writes plain
 * keys.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/json_scan.h"
#include "shm/pf_assert.h"

struct cursor {
	const char *p;
	const char *end;
};

static void skip_space(struct cursor *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
		c->p++;
}

static bool at(const struct cursor *c, char ch)
{
	return c->p < c->end && *c->p == ch;
}

static bool at_digit(const struct cursor *c)
{
	return c->p < c->end && *c->p >= '0' && *c->p <= '9';
}

static int hex_value(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* The four hex digits at p (p + 4 <= end checked by the caller), or -1. */
static int32_t hex4(const char *p)
{
	int32_t v = 0;

	for (int i = 0; i < 4; i++) {
		int h = hex_value(p[i]);

		if (h < 0)
			return -1;
		v = v << 4 | h;
	}
	return v;
}

/* A string at its opening quote: past its closing quote, its inside in *s and *n. */
static int string_at(struct cursor *c, const char **s, uint32_t *n)
{
	const char *start;

	if (!at(c, '"'))
		return -EPROTO;
	start = ++c->p;
	while (c->p < c->end) { /* bounded: each turn consumes text */
		unsigned char ch = (unsigned char)*c->p;

		if (ch == '"') {
			*s = start;
			*n = (uint32_t)(c->p - start);
			c->p++;
			return 0;
		}
		if (ch < 0x20)
			return -EPROTO;
		if (ch != '\\') {
			c->p++;
			continue;
		}
		if (c->end - c->p < 2)
			return -EPROTO;
		ch = (unsigned char)c->p[1];
		if (ch == 'u') {
			if (c->end - c->p < 6 || hex4(c->p + 2) < 0)
				return -EPROTO;
			c->p += 6;
		} else if (ch != '\0' && strchr("\"\\/bfnrt", ch) != NULL) {
			c->p += 2;
		} else {
			return -EPROTO;
		}
	}
	return -EPROTO;
}

static int digits_at(struct cursor *c)
{
	if (!at_digit(c))
		return -EPROTO;
	while (at_digit(c))
		c->p++;
	return 0;
}

/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static int number_at(struct cursor *c)
{
	if (at(c, '-'))
		c->p++;
	if (at(c, '0'))
		c->p++;
	else if (digits_at(c) < 0)
		return -EPROTO;
	if (at(c, '.')) {
		c->p++;
		if (digits_at(c) < 0)
			return -EPROTO;
	}
	if (at(c, 'e') || at(c, 'E')) {
		c->p++;
		if (at(c, '+') || at(c, '-'))
			c->p++;
		if (digits_at(c) < 0)
			return -EPROTO;
	}
	return 0;
}

static int literal_at(struct cursor *c, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0)
		return -EPROTO;
	c->p += n;
	return 0;
}

static int container_at(struct cursor *c, uint32_t depth, struct json_scan *ret);

/* A value at c->p (after white space): its type and its span into *m. */
static int value_at(struct cursor *c, uint32_t depth, struct json_scan_member *m)
{
	int r;

	skip_space(c);
	if (c->p >= c->end)
		return -EPROTO;
	m->value = c->p;
	switch (*c->p) {
	case '"':
		m->type = JSON_SCAN_STRING;
		return string_at(c, &m->value, &m->value_len);
	case '{':
		m->type = JSON_SCAN_OBJECT;
		r = container_at(c, depth + 1, NULL);
		break;
	case '[':
		m->type = JSON_SCAN_ARRAY;
		r = container_at(c, depth + 1, NULL);
		break;
	case 't':
		m->type = JSON_SCAN_TRUE;
		r = literal_at(c, "true");
		break;
	case 'f':
		m->type = JSON_SCAN_FALSE;
		r = literal_at(c, "false");
		break;
	case 'n':
		m->type = JSON_SCAN_NULL;
		r = literal_at(c, "null");
		break;
	default:
		m->type = JSON_SCAN_NUMBER;
		r = number_at(c);
		break;
	}
	m->value_len = (uint32_t)(c->p - m->value);
	return r;
}

static const struct json_scan_member *find(const struct json_scan *o, const char *key,
					   size_t key_len)
{
	for (uint32_t i = 0; i < o->count; i++)
		if (o->m[i].key_len == key_len && memcmp(o->m[i].key, key, key_len) == 0)
			return &o->m[i];
	return NULL;
}

static int keep(struct json_scan *o, const struct json_scan_member *m)
{
	if (find(o, m->key, m->key_len) != NULL)
		return -EPROTO;
	if (o->count == JSON_SCAN_MEMBERS_MAX)
		return -EMSGSIZE;
	o->m[o->count++] = *m;
	return 0;
}

/* An object or an array at its opening bracket, past its closing one; the members of an
 * object are kept in ret when it is not NULL (the top level). Recursion is bounded by
 * JSON_SCAN_DEPTH_MAX. */
static int container_at(struct cursor *c, uint32_t depth, struct json_scan *ret)
{
	char close = *c->p == '{' ? '}' : ']';
	int r;

	PF_ASSERT(*c->p == '{' || *c->p == '[');
	PF_ASSERT(ret == NULL || close == '}');
	if (depth > JSON_SCAN_DEPTH_MAX)
		return -EPROTO;
	c->p++;
	skip_space(c);
	if (at(c, close)) {
		c->p++;
		return 0;
	}
	for (;;) { /* bounded: each turn consumes text */
		struct json_scan_member m = {0};

		if (close == '}') {
			skip_space(c);
			r = string_at(c, &m.key, &m.key_len);
			if (r < 0)
				return r;
			skip_space(c);
			if (!at(c, ':'))
				return -EPROTO;
			c->p++;
		}
		r = value_at(c, depth, &m);
		if (r == 0 && ret != NULL)
			r = keep(ret, &m);
		if (r < 0)
			return r;
		skip_space(c);
		if (at(c, close)) {
			c->p++;
			return 0;
		}
		if (!at(c, ','))
			return -EPROTO;
		c->p++;
	}
}

int json_scan_object(const char *text, size_t len, struct json_scan *ret)
{
	struct cursor c = {.p = text, .end = text + len};
	int r;

	PF_ASSERT(text != NULL);
	PF_ASSERT(ret != NULL);
	ret->count = 0;
	skip_space(&c);
	if (!at(&c, '{'))
		return -EPROTO;
	r = container_at(&c, 0, ret);
	if (r < 0)
		return r;
	skip_space(&c);
	return c.p == c.end ? 0 : -EPROTO;
}

static const struct json_scan_member *member(const struct json_scan *o, const char *key)
{
	PF_ASSERT(o != NULL && key != NULL);
	PF_ASSERT(o->count <= JSON_SCAN_MEMBERS_MAX);
	return find(o, key, strlen(key));
}

/* Code point cp as UTF-8 into buf at *n (cap bytes, one kept for the NUL). */
static int put_utf8(char *buf, size_t cap, size_t *n, uint32_t cp)
{
	unsigned char u[4];
	size_t k;

	if (cp < 0x80) {
		u[0] = (unsigned char)cp;
		k = 1;
	} else if (cp < 0x800) {
		u[0] = (unsigned char)(0xc0 | cp >> 6);
		u[1] = (unsigned char)(0x80 | (cp & 0x3f));
		k = 2;
	} else if (cp < 0x10000) {
		u[0] = (unsigned char)(0xe0 | cp >> 12);
		u[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		u[2] = (unsigned char)(0x80 | (cp & 0x3f));
		k = 3;
	} else {
		u[0] = (unsigned char)(0xf0 | cp >> 18);
		u[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
		u[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		u[3] = (unsigned char)(0x80 | (cp & 0x3f));
		k = 4;
	}
	if (*n + k >= cap)
		return -EMSGSIZE;
	memcpy(buf + *n, u, k);
	*n += k;
	return 0;
}

/* The \u escape at s[*i] (checked by string_at), a surrogate pair taken whole. */
static int unicode_escape(const char *s, uint32_t len, uint32_t *i, uint32_t *ret_cp)
{
	uint32_t cp = (uint32_t)hex4(s + *i + 2), lo;

	*i += 6;
	if (cp >= 0xdc00 && cp <= 0xdfff)
		return -EPROTO; /* a low surrogate alone */
	if (cp >= 0xd800 && cp <= 0xdbff) {
		if (len - *i < 6 || s[*i] != '\\' || s[*i + 1] != 'u')
			return -EPROTO;
		lo = (uint32_t)hex4(s + *i + 2);
		if (lo < 0xdc00 || lo > 0xdfff)
			return -EPROTO;
		*i += 6;
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
	}
	if (cp == 0)
		return -EPROTO; /* would cut the string short */
	*ret_cp = cp;
	return 0;
}

static char simple_escape(char ch)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *p = strchr(from, ch);

	return p != NULL ? to[p - from] : ch;
}

int json_scan_string(const struct json_scan *o, const char *key, char *buf, size_t cap)
{
	const struct json_scan_member *m = member(o, key);
	size_t n = 0;

	if (m == NULL)
		return -ENOENT;
	if (m->type != JSON_SCAN_STRING)
		return -EPROTO;
	PF_ASSERT(buf != NULL && cap > 0);
	for (uint32_t i = 0; i < m->value_len;) {
		const char *s = m->value;
		uint32_t cp;
		int r;

		if (s[i] == '\\' && s[i + 1] == 'u') {
			r = unicode_escape(s, m->value_len, &i, &cp);
			if (r == 0)
				r = put_utf8(buf, cap, &n, cp);
			if (r < 0)
				return r;
			continue;
		}
		if (n + 1 >= cap)
			return -EMSGSIZE;
		buf[n++] = s[i] == '\\' ? simple_escape(s[i + 1]) : s[i];
		i += s[i] == '\\' ? 2 : 1;
	}
	buf[n] = '\0';
	return (int)n;
}

int json_scan_int(const struct json_scan *o, const char *key, int64_t *ret)
{
	const struct json_scan_member *m = member(o, key);
	char text[24];
	char *end;
	long long v;

	if (m == NULL)
		return -ENOENT;
	if (m->type != JSON_SCAN_NUMBER || m->value_len >= sizeof(text) ||
	    memchr(m->value, '.', m->value_len) != NULL ||
	    memchr(m->value, 'e', m->value_len) != NULL ||
	    memchr(m->value, 'E', m->value_len) != NULL)
		return -EPROTO;
	memcpy(text, m->value, m->value_len);
	text[m->value_len] = '\0';
	errno = 0;
	v = strtoll(text, &end, 10);
	if (errno != 0 || *end != '\0')
		return -EPROTO;
	*ret = (int64_t)v;
	return 0;
}

int json_scan_bool(const struct json_scan *o, const char *key)
{
	const struct json_scan_member *m = member(o, key);

	if (m == NULL)
		return -ENOENT;
	if (m->type == JSON_SCAN_TRUE)
		return 1;
	return m->type == JSON_SCAN_FALSE ? 0 : -EPROTO;
}
