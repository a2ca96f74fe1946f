/* SPDX-License-Identifier: MIT */
/* net/json_scan.h: reading one flat JSON object without a JSON library (see json_scan.c). */
#ifndef PF_NET_JSON_SCAN_H
#define PF_NET_JSON_SCAN_H

#include <stddef.h>
#include <stdint.h>

#define JSON_SCAN_MEMBERS_MAX 32u /* members of the object kept; more is -EMSGSIZE */
#define JSON_SCAN_DEPTH_MAX 16u   /* nesting of the values skipped inside it */

enum json_scan_type {
	JSON_SCAN_STRING = 1,
	JSON_SCAN_NUMBER = 2,
	JSON_SCAN_TRUE = 3,
	JSON_SCAN_FALSE = 4,
	JSON_SCAN_NULL = 5,
	JSON_SCAN_OBJECT = 6, /* nested: checked, then skipped */
	JSON_SCAN_ARRAY = 7,  /* nested: checked, then skipped */
};

/* One member: where its key (inside the quotes, still escaped) and its value (a string's
 * inside its quotes) are in the scanned text, which must outlive the scan. */
struct json_scan_member {
	const char *key;
	const char *value;
	uint32_t key_len;
	uint32_t value_len;
	uint32_t type; /* enum json_scan_type */
};

struct json_scan {
	uint32_t count;
	struct json_scan_member m[JSON_SCAN_MEMBERS_MAX];
};

/*
 * Scan text (len bytes) as exactly one JSON object, with white space around it and
 * nothing else. 0, or -EPROTO (not JSON, a duplicate key, nesting deeper than
 * JSON_SCAN_DEPTH_MAX), -EMSGSIZE (more than JSON_SCAN_MEMBERS_MAX members).
 */
int json_scan_object(const char *text, size_t len, struct json_scan *ret);

/* A string member's value, unescaped and NUL-terminated into buf (cap bytes): its length,
 * or -ENOENT (no such key), -EPROTO (not a string, or "\u0000"), -EMSGSIZE (cap). */
int json_scan_string(const struct json_scan *o, const char *key, char *buf, size_t cap);

/* An integer member (no fraction, no exponent, within int64_t): 0, or -ENOENT, -EPROTO. */
int json_scan_int(const struct json_scan *o, const char *key, int64_t *ret);

/* A boolean member: 1 (true), 0 (false), or -ENOENT, -EPROTO (not a boolean). */
int json_scan_bool(const struct json_scan *o, const char *key);

#endif /* PF_NET_JSON_SCAN_H */
