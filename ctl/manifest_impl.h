/* SPDX-License-Identifier: MIT */
/* ctl/manifest_impl.h: the manifest schema entry and its value converters (manifest_value.c). */
#ifndef PF_CTL_MANIFEST_IMPL_H
#define PF_CTL_MANIFEST_IMPL_H

#include <stddef.h>
#include <stdint.h>

enum {
	F_RELOAD = 1u << 0,   /* SIGHUP may change it */
	F_REQUIRED = 1u << 1, /* must be present */
	F_POW2 = 1u << 2,     /* a power of two */
	F_NAME = 1u << 3,     /* domain-name alphabet, 1.. bytes, not starting with '.' */
	F_ABS = 1u << 4,      /* empty or an absolute path */
	F_HEX64 = 1u << 5,    /* 64 hex digits */
	F_NOSTORE = 1u << 6,  /* checked only (apiVersion, kind) */
	F_NONEMPTY = 1u << 7, /* at least one byte */
	F_ADDR = 1u << 8,     /* a numeric IPv4 or IPv6 address */
	F_HOST = 1u << 9,     /* host-name alphabet [A-Za-z0-9._-], as a Flight Packet's */
	F_KEY = 1u << 10,     /* 64 hex digits, stored decoded (width bytes, max digits) */
	F_UNIQUE = 1u << 11,  /* an object list's entries may not share its value */
};

struct manifest_field;

/* What an object list holds (a list of mappings, such as a policy's rules): the table of
 * one entry's fields, whose paths all read `prefix` "." name, and how the reference shows
 * the list. One may serve several lists (the three policies share the rules'). */
struct manifest_object {
	const struct manifest_field *fields;
	size_t n;
	const char *prefix;     /* "governance.policies.<action>[]": a section of the reference */
	const char *doc;        /* that section's text */
	const char *list_name;  /* "list of rules": the type name of a list holding them */
	const char *items_name; /* "rules": "up to 8 rules", "more than 8 rules" */
};

/* One schema entry; see the table in manifest.c. */
struct manifest_field {
	const char *path;
	uint32_t type; /* enum pf_manifest_type */
	uint32_t flags;
	size_t offset;       /* of the value, or of a list's first item */
	size_t count_offset; /* lists: of the uint32_t count */
	uint32_t width;      /* bytes of the value, or of one list item */
	uint32_t items_max;  /* lists */
	int64_t min;
	uint64_t max;                         /* strings: bytes without the NUL */
	const char *const *names;             /* enums: NULL-terminated */
	const struct manifest_object *object; /* object lists: what one entry holds */
	const char *def;
	const char *doc;
};

/* Convert the scalar s[0..len) as a value of `type` under f's bounds and flags and store
 * it at dst (NULL: check only). 0, or -EINVAL with a reason in why. */
int manifest_convert(const struct manifest_field *f, uint32_t type, const char *s, size_t len,
		     void *dst, char *why, size_t why_bytes);

/* Store every scalar default of table[0..n) into the struct at base. */
void manifest_apply_defaults(const struct manifest_field *table, size_t n, unsigned char *base);

/* 1 when text is a numeric loopback address (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104). */
int manifest_addr_loopback(const char *text);

/* "duration", "list of strings", ... */
const char *manifest_type_name(uint32_t type);

/* The type name of field f: an object list's own ("list of rules"), else its type's. */
const char *manifest_field_type_name(const struct manifest_field *f);

/* The accepted values of f as text ("1..4096", "100us..1m", "one of: a, b"). */
void manifest_range_text(const struct manifest_field *f, char *buf, size_t bytes);

#endif /* PF_CTL_MANIFEST_IMPL_H */
