/* SPDX-License-Identifier: MIT */
/*
 * ctl/manifest_value.c: turning manifest scalars into values, and values back into text.
 *
 * Numbers are exact: "1.5s" is 1500000000 ns, "0.25" is 250000 ppm, and a value finer
 * than the stored unit ("0.5ns", "0.0000001") is refused rather than rounded, so what a
 * manifest says is what the domain gets. Durations need a unit (except 0); sizes default
 * to bytes; fractions are decimals or percentages. The same unit tables print the ranges
 * of the generated reference.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "ctl/manifest_impl.h"
#include "pflight/manifest.h"
#include "shm/pf_assert.h"
#include "shm/pf_compiler.h"

#define FRACTION_DIGITS_MAX 18u /* 10^18 still fits a uint64_t */
#define QUOTE_MAX 64            /* bytes of a refused value quoted in a reason */

_Static_assert(PF_MANIFEST_ADDR_MAX >= INET6_ADDRSTRLEN, "a numeric address must fit");

struct unit {
	const char *suffix;
	uint64_t scale;
};

/* Largest first: the printers take the first unit that divides a value exactly. */
static const struct unit duration_units[] = {
	{"h", UINT64_C(3600000000000)},
	{"m", UINT64_C(60000000000)},
	{"s", UINT64_C(1000000000)},
	{"ms", UINT64_C(1000000)},
	{"us", UINT64_C(1000)},
	{"ns", 1},
	{NULL, 0},
};
static const struct unit size_units[] = {
	{"TiB", UINT64_C(1) << 40},
	{"GiB", UINT64_C(1) << 30},
	{"MiB", UINT64_C(1) << 20},
	{"KiB", UINT64_C(1) << 10},
	{"B", 1},
	{"", 1},
	{"GB", UINT64_C(1000000000)},
	{"MB", UINT64_C(1000000)},
	{"kB", UINT64_C(1000)},
	{NULL, 0},
};
static const struct unit ppm_units[] = {
	{"%", PF_PPM / 100u},
	{"", PF_PPM},
	{NULL, 0},
};

const char *manifest_type_name(uint32_t type)
{
	static const char *const names[] = {
		[PF_MANIFEST_STRING] = "string",
		[PF_MANIFEST_INT] = "integer",
		[PF_MANIFEST_BOOL] = "bool",
		[PF_MANIFEST_DURATION] = "duration",
		[PF_MANIFEST_SIZE] = "size",
		[PF_MANIFEST_PPM] = "fraction",
		[PF_MANIFEST_ENUM] = "enum",
		[PF_MANIFEST_MODE] = "mode",
		[PF_MANIFEST_STRING_LIST] = "list of strings",
		[PF_MANIFEST_INT_LIST] = "list of integers",
		[PF_MANIFEST_POLICY_LIST] = "list of rules",
		[PF_MANIFEST_SECTION] = "section",
		[PF_MANIFEST_OBJECT_LIST] = "list of mappings",
	};

	PF_ASSERT(type < PF_ARRAY_SIZE(names) && names[type] != NULL);
	return names[type];
}

const char *manifest_field_type_name(const struct manifest_field *f)
{
	PF_ASSERT(f != NULL);
	if (f->object != NULL) {
		PF_ASSERT(f->object->list_name != NULL);
		return f->object->list_name;
	}
	return manifest_type_name(f->type);
}

/* "12", "1.5": the digits as one integer and how many follow the dot. -EINVAL without a
 * digit on both sides of a dot, -ERANGE past 2^64 or FRACTION_DIGITS_MAX. */
static int parse_decimal(const char *s, size_t len, uint64_t *ret_mant, uint32_t *ret_fd,
			 size_t *ret_used)
{
	uint64_t mant = 0;
	uint32_t fd = 0, digits = 0;
	bool dot = false;
	size_t i;

	for (i = 0; i < len; i++) {
		uint64_t d = (uint64_t)(s[i] - '0');

		if (s[i] == '.' && !dot && digits > 0) {
			dot = true;
			continue;
		}
		if (s[i] < '0' || s[i] > '9')
			break;
		if (mant > UINT64_MAX / 10 || (mant == UINT64_MAX / 10 && d > UINT64_MAX % 10))
			return -ERANGE;
		mant = mant * 10 + d;
		digits++;
		fd += dot;
	}
	if (digits == 0 || (dot && fd == 0))
		return -EINVAL;
	if (fd > FRACTION_DIGITS_MAX)
		return -ERANGE;
	*ret_mant = mant;
	*ret_fd = fd;
	*ret_used = i;
	return 0;
}

static uint64_t gcd(uint64_t a, uint64_t b)
{
	while (b != 0) {
		uint64_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

/* mant / 10^fd * unit, exactly: -EINVAL when not a whole number, -ERANGE past 2^64. */
static int scale_exact(uint64_t mant, uint32_t fd, uint64_t unit, uint64_t *ret)
{
	uint64_t den = 1, g;

	PF_ASSERT(fd <= FRACTION_DIGITS_MAX && unit > 0);
	for (uint32_t i = 0; i < fd; i++)
		den *= 10;
	g = gcd(unit, den);
	unit /= g;
	den /= g;
	if (mant % den != 0)
		return -EINVAL;
	mant /= den;
	if (mant != 0 && unit > UINT64_MAX / mant)
		return -ERANGE;
	*ret = mant * unit;
	return 0;
}

static const char *example(uint32_t type)
{
	switch (type) {
	case PF_MANIFEST_DURATION:
		return "a duration like 50ms, 2s or 1m";
	case PF_MANIFEST_SIZE:
		return "a size like 240, 4KiB or 64MiB";
	case PF_MANIFEST_PPM:
		return "a fraction like 0.25 or 25%";
	case PF_MANIFEST_MODE:
		return "an octal mode like 0660";
	case PF_MANIFEST_BOOL:
		return "true or false";
	default:
		return "an integer";
	}
}

/* A number with a unit (durations, sizes, fractions) or a plain integer. */
static int parse_number(uint32_t type, const char *s, size_t len, bool *ret_neg, uint64_t *ret_mag)
{
	const struct unit *units = type == PF_MANIFEST_DURATION ? duration_units
				   : type == PF_MANIFEST_SIZE   ? size_units
								: ppm_units;
	uint64_t mant;
	uint32_t fd;
	size_t used;
	int r;

	*ret_neg = type == PF_MANIFEST_INT && len > 1 && s[0] == '-';
	if (*ret_neg) {
		s++;
		len--;
	}
	r = parse_decimal(s, len, &mant, &fd, &used);
	if (r < 0)
		return r;
	if (type == PF_MANIFEST_INT)
		return used == len && fd == 0 ? (*ret_mag = mant, 0) : -EINVAL;
	if (type == PF_MANIFEST_DURATION && used == len && mant == 0)
		return (*ret_mag = 0, 0);
	for (const struct unit *u = units; u->suffix != NULL; u++)
		if (len - used == strlen(u->suffix) && memcmp(s + used, u->suffix, len - used) == 0)
			return scale_exact(mant, fd, u->scale, ret_mag);
	return -EINVAL;
}

static int parse_mode(const char *s, size_t len, uint64_t *ret)
{
	uint64_t v = 0;

	if (len < 3 || len > 4)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '7')
			return -EINVAL;
		v = v * 8 + (uint64_t)(s[i] - '0');
	}
	*ret = v;
	return 0;
}

static void store(void *dst, uint32_t width, uint64_t v)
{
	PF_ASSERT(width == 4 || width == 8);
	if (dst == NULL)
		return;
	if (width == 4) {
		uint32_t v32 = (uint32_t)v; /* the range check kept it in 32 bits */

		memcpy(dst, &v32, sizeof(v32));
	} else {
		memcpy(dst, &v, sizeof(v));
	}
}

static bool in_range(const struct manifest_field *f, bool neg, uint64_t mag)
{
	if (neg)
		return f->min < 0 && mag <= (uint64_t)(-(f->min + 1)) + 1;
	return mag >= (uint64_t)(f->min > 0 ? f->min : 0) && mag <= f->max;
}

static int convert_number(const struct manifest_field *f, uint32_t type, const char *s, size_t len,
			  void *dst, char *why, size_t why_bytes)
{
	uint64_t mag = 0;
	bool neg = false;
	int r = type == PF_MANIFEST_MODE ? parse_mode(s, len, &mag)
					 : parse_number(type, s, len, &neg, &mag);
	char range[128];

	if (r == -EINVAL) {
		(void)snprintf(why, why_bytes, "expected %s, got '%.*s'", example(type),
			       (int)PF_MIN(len, QUOTE_MAX), s);
		return -EINVAL;
	}
	if (r == 0 && type == PF_MANIFEST_MODE && (mag & 0002u) != 0) {
		(void)snprintf(
			why, why_bytes,
			"'%.*s' lets every user of the host write the domain (others may not "
			"write; give a group access with governance.group)",
			(int)PF_MIN(len, QUOTE_MAX), s);
		return -EINVAL;
	}
	manifest_range_text(f, range, sizeof(range));
	if (r < 0 || !in_range(f, neg, mag) || ((f->flags & F_POW2) != 0 && !PF_IS_POW2(mag)) ||
	    (type == PF_MANIFEST_MODE && (mag & 0600u) != 0600u)) {
		(void)snprintf(why, why_bytes, "'%.*s' is out of range (%s)",
			       (int)PF_MIN(len, QUOTE_MAX), s, range);
		return -EINVAL;
	}
	store(dst, f->width, neg ? (uint64_t)0 - mag : mag);
	return 0;
}

/* [A-Za-z0-9._-]: a domain name (F_NAME, not starting with '.') or a host name (F_HOST,
 * exactly what core/packet.c accepts in a Flight Packet). */
static bool name_ok(const char *s, size_t len, bool dot_first)
{
	if (len == 0 || (s[0] == '.' && !dot_first))
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

/* The value of a hex digit, -1 for anything else. */
static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool hex64_ok(const char *s, size_t len)
{
	if (len != PF_MANIFEST_SHA256_HEX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (hex_value(s[i]) < 0)
			return false;
	return true;
}

/* The checked hex digits s[0..2 * bytes) as bytes. */
static void hex_decode(const char *s, unsigned char *out, size_t bytes)
{
	for (size_t i = 0; i < bytes; i++) {
		int hi = hex_value(s[2 * i]), lo = hex_value(s[2 * i + 1]);

		PF_ASSERT(hi >= 0 && lo >= 0);
		out[i] = (unsigned char)(hi << 4 | lo);
	}
}

/* A numeric address inet_pton() takes; host names are refused (no resolver in a parser). */
static bool addr_ok(const char *s, size_t len)
{
	unsigned char buf[sizeof(struct in6_addr)];
	char text[INET6_ADDRSTRLEN];

	if (len == 0 || len >= sizeof(text))
		return false;
	memcpy(text, s, len);
	text[len] = '\0';
	return inet_pton(AF_INET, text, buf) == 1 || inet_pton(AF_INET6, text, buf) == 1;
}

int manifest_addr_loopback(const char *text)
{
	struct in6_addr a6;
	struct in_addr a4;

	PF_ASSERT(text != NULL);
	if (inet_pton(AF_INET, text, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, text, &a6) != 1)
		return 0;
	if (IN6_IS_ADDR_LOOPBACK(&a6))
		return 1;
	return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
}

static int convert_string(const struct manifest_field *f, const char *s, size_t len, void *dst,
			  char *why, size_t why_bytes)
{
	const char *bad = NULL;
	char range[128];

	manifest_range_text(f, range, sizeof(range));
	if (memchr(s, 0, len) != NULL)
		bad = "contains a NUL byte";
	else if (len > f->max)
		bad = "is too long";
	else if (len == 0 && (f->flags & (F_NONEMPTY | F_NAME)) != 0)
		bad = "is empty";
	else if ((f->flags & F_NAME) != 0 && !name_ok(s, len, false))
		bad = "is not a valid name";
	else if ((f->flags & F_HOST) != 0 && len > 0 && !name_ok(s, len, true))
		bad = "is not a valid host name";
	else if ((f->flags & F_ABS) != 0 && len > 0 && s[0] != '/')
		bad = "is not an absolute path";
	else if ((f->flags & F_HEX64) != 0 && !hex64_ok(s, len))
		bad = "is not a sha256 digest";
	else if ((f->flags & F_KEY) != 0 && !hex64_ok(s, len))
		bad = "is not an Ed25519 public key";
	else if ((f->flags & F_ADDR) != 0 && !addr_ok(s, len))
		bad = "is not a numeric IPv4 or IPv6 address";
	if (bad != NULL) {
		(void)snprintf(why, why_bytes, "'%.*s' %s (%s)", (int)PF_MIN(len, QUOTE_MAX), s,
			       bad, range);
		return -EINVAL;
	}
	if (dst != NULL && (f->flags & F_KEY) != 0) {
		PF_ASSERT(2u * f->width == len);
		hex_decode(s, dst, f->width);
	} else if (dst != NULL) {
		char *out = dst;

		memset(out, 0, f->width);
		memcpy(out, s, len);
		for (size_t i = 0; (f->flags & F_HEX64) != 0 && i < len; i++)
			if (out[i] >= 'A' && out[i] <= 'F')
				out[i] = (char)(out[i] - 'A' + 'a');
	}
	return 0;
}

static int convert_enum(const struct manifest_field *f, const char *s, size_t len, void *dst,
			char *why, size_t why_bytes)
{
	char range[128];

	PF_ASSERT(f->names != NULL);
	for (uint32_t i = 0; f->names[i] != NULL; i++) {
		if (strlen(f->names[i]) == len && memcmp(f->names[i], s, len) == 0) {
			store(dst, f->width, i);
			return 0;
		}
	}
	manifest_range_text(f, range, sizeof(range));
	(void)snprintf(why, why_bytes, "'%.*s' is not %s", (int)PF_MIN(len, QUOTE_MAX), s, range);
	return -EINVAL;
}

int manifest_convert(const struct manifest_field *f, uint32_t type, const char *s, size_t len,
		     void *dst, char *why, size_t why_bytes)
{
	PF_ASSERT(f != NULL && s != NULL && why != NULL);
	switch (type) {
	case PF_MANIFEST_STRING:
		return convert_string(f, s, len, dst, why, why_bytes);
	case PF_MANIFEST_ENUM:
		return convert_enum(f, s, len, dst, why, why_bytes);
	case PF_MANIFEST_BOOL:
		if ((len == 4 && memcmp(s, "true", 4) == 0) ||
		    (len == 5 && memcmp(s, "false", 5) == 0)) {
			store(dst, f->width, len == 4);
			return 0;
		}
		(void)snprintf(why, why_bytes, "expected true or false, got '%.*s'",
			       (int)PF_MIN(len, QUOTE_MAX), s);
		return -EINVAL;
	default:
		PF_ASSERT(type == PF_MANIFEST_INT || type == PF_MANIFEST_DURATION ||
			  type == PF_MANIFEST_SIZE || type == PF_MANIFEST_PPM ||
			  type == PF_MANIFEST_MODE);
		return convert_number(f, type, s, len, dst, why, why_bytes);
	}
}

void manifest_apply_defaults(const struct manifest_field *table, size_t n, unsigned char *base)
{
	char why[160];

	PF_ASSERT(table != NULL && base != NULL);
	for (size_t i = 0; i < n; i++) {
		const struct manifest_field *f = &table[i];
		int r;

		if (f->def == NULL || f->type == PF_MANIFEST_SECTION ||
		    f->type == PF_MANIFEST_STRING_LIST || f->type == PF_MANIFEST_INT_LIST ||
		    f->object != NULL)
			continue;
		r = manifest_convert(f, f->type, f->def, strlen(f->def),
				     (f->flags & F_NOSTORE) != 0 ? NULL : base + f->offset, why,
				     sizeof(why));
		PF_ASSERT(r == 0); /* a default the schema refuses is a bug in the table */
	}
}

/* v in the largest unit that divides it exactly ("64KiB", "1m", "0"). */
static void unit_text(uint64_t v, const struct unit *units, char *buf, size_t bytes)
{
	for (const struct unit *u = units; u->suffix != NULL; u++) {
		if (v != 0 && v % u->scale == 0) {
			(void)snprintf(buf, bytes, "%llu%s", (unsigned long long)(v / u->scale),
				       u->suffix);
			return;
		}
	}
	(void)snprintf(buf, bytes, "%llu", (unsigned long long)v);
}

/* ppm as a decimal fraction: 250000 -> "0.25", 10000000 -> "10". */
static void ppm_text(uint64_t v, char *buf, size_t bytes)
{
	char frac[8];
	size_t n;

	(void)snprintf(frac, sizeof(frac), "%06llu", (unsigned long long)(v % PF_PPM));
	for (n = strlen(frac); n > 0 && frac[n - 1] == '0'; n--)
		frac[n - 1] = '\0';
	(void)snprintf(buf, bytes, "%llu%s%s", (unsigned long long)(v / PF_PPM), n > 0 ? "." : "",
		       frac);
}

static void bound_text(const struct manifest_field *f, uint64_t v, char *buf, size_t bytes)
{
	if (f->type == PF_MANIFEST_DURATION)
		unit_text(v, duration_units, buf, bytes);
	else if (f->type == PF_MANIFEST_SIZE)
		unit_text(v, size_units, buf, bytes);
	else if (f->type == PF_MANIFEST_PPM)
		ppm_text(v, buf, bytes);
	else if (f->type == PF_MANIFEST_MODE)
		(void)snprintf(buf, bytes, "0%llo", (unsigned long long)v);
	else
		(void)snprintf(buf, bytes, "%llu", (unsigned long long)v);
}

static void string_text(const struct manifest_field *f, char *buf, size_t bytes)
{
	unsigned long long max = (unsigned long long)f->max;

	if ((f->flags & F_NAME) != 0)
		(void)snprintf(buf, bytes, "1..%llu bytes of [A-Za-z0-9._-], not starting with '.'",
			       max);
	else if ((f->flags & F_HOST) != 0)
		(void)snprintf(buf, bytes, "%s1..%llu bytes of [A-Za-z0-9._-]",
			       (f->flags & F_NONEMPTY) != 0 ? "" : "empty or ", max);
	else if ((f->flags & (F_HEX64 | F_KEY)) != 0)
		(void)snprintf(buf, bytes, "64 hex digits");
	else if ((f->flags & F_ADDR) != 0)
		(void)snprintf(buf, bytes, "a numeric IPv4 or IPv6 address");
	else if ((f->flags & F_ABS) != 0)
		(void)snprintf(buf, bytes, "%san absolute path of up to %llu bytes",
			       (f->flags & F_NONEMPTY) != 0 ? "" : "empty or ", max);
	else
		(void)snprintf(buf, bytes, "%llu..%llu bytes",
			       (f->flags & F_NONEMPTY) != 0 ? 1ull : 0ull, max);
}

static void enum_text(const struct manifest_field *f, char *buf, size_t bytes)
{
	size_t used = (size_t)snprintf(buf, bytes, "one of:");

	for (uint32_t i = 0; f->names[i] != NULL && used < bytes; i++)
		used += (size_t)snprintf(buf + used, bytes - used, "%s %s", i > 0 ? "," : "",
					 f->names[i]);
}

void manifest_range_text(const struct manifest_field *f, char *buf, size_t bytes)
{
	char lo[40], hi[40], item[96];

	PF_ASSERT(f != NULL && buf != NULL && bytes > 0);
	buf[0] = '\0';
	switch (f->type) {
	case PF_MANIFEST_SECTION:
		return;
	case PF_MANIFEST_BOOL:
		(void)snprintf(buf, bytes, "true or false");
		return;
	case PF_MANIFEST_ENUM:
		enum_text(f, buf, bytes);
		return;
	case PF_MANIFEST_STRING:
		string_text(f, buf, bytes);
		return;
	case PF_MANIFEST_STRING_LIST:
		string_text(f, item, sizeof(item));
		(void)snprintf(buf, bytes, "up to %u entries, each %s", f->items_max, item);
		return;
	default:
		break;
	}
	if (f->object != NULL) {
		(void)snprintf(buf, bytes, "up to %u %s", f->items_max, f->object->items_name);
		return;
	}
	if (f->min < 0)
		(void)snprintf(lo, sizeof(lo), "%lld", (long long)f->min);
	else
		bound_text(f, (uint64_t)f->min, lo, sizeof(lo));
	bound_text(f, f->max, hi, sizeof(hi));
	(void)snprintf(buf, bytes, "%s%s..%s%s%s", f->type == PF_MANIFEST_INT_LIST ? "each " : "",
		       lo, hi, (f->flags & F_POW2) != 0 ? ", a power of two" : "",
		       f->type == PF_MANIFEST_MODE ? ", owner rw required" : "");
	if (f->type == PF_MANIFEST_INT_LIST) {
		(void)snprintf(item, sizeof(item), "%s", buf);
		(void)snprintf(buf, bytes, "up to %u entries, %s", f->items_max, item);
	}
}
