/* SPDX-License-Identifier: MIT */
/* tools/common/decimal.c: see decimal.h. */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "decimal.h"

#define REAL_TEXT_MAX 64u /* digits of a fraction taken; a longer one is refused */

static bool digits_only(const char *text, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (text[i] < '0' || text[i] > '9')
			return false;
	return len > 0;
}

int decimal_parse(const char *text, size_t len, uint64_t max, uint64_t *ret)
{
	uint64_t v = 0;

	if (text == NULL || ret == NULL || !digits_only(text, len))
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		uint64_t d = (uint64_t)(text[i] - '0');

		if (d > max || v > (max - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*ret = v;
	return 0;
}

int decimal_parse_real(const char *text, size_t len, double max, double *ret)
{
	char buf[REAL_TEXT_MAX + 1], *end;
	const char *dot;
	double v;

	if (text == NULL || ret == NULL || len == 0 || len > REAL_TEXT_MAX)
		return -EINVAL;
	dot = memchr(text, '.', len);
	if (dot == NULL ? !digits_only(text, len)
			: !digits_only(text, (size_t)(dot - text)) ||
				  !digits_only(dot + 1, len - (size_t)(dot - text) - 1))
		return -EINVAL;
	memcpy(buf, text, len);
	buf[len] = '\0';
	v = strtod(buf, &end); /* '.' in the C locale: no tool here calls setlocale() */
	if (end != buf + len)
		return -EINVAL;
	if (!isfinite(v) || v > max)
		return -ERANGE;
	*ret = v;
	return 0;
}
