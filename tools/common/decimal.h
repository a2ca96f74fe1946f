/* SPDX-License-Identifier: MIT */
/*
 * tools/common/decimal.h: the one parser of the numbers that people and clients type:
 * pflight's arguments, pflightd's options, the REST API's path segments, query arguments
 * and headers, and the requests of pflightd's control socket.
 *
 * A number is decimal digits and nothing else: no sign, no space, no base prefix, no
 * exponent, nothing after it. strtoul() and friends take all of these, skip leading
 * space, and turn "-18446744073709551615" into 1; a bound is checked here, not by wrap-
 * around. Leading zeros are digits like any other ("007" is 7).
 */
#ifndef PFLIGHT_TOOLS_DECIMAL_H
#define PFLIGHT_TOOLS_DECIMAL_H

#include <stddef.h>
#include <stdint.h>

/* text[0..len) as an integer no larger than max: 0 and *ret, or -EINVAL (empty, or a byte
 * that is not 0-9: a sign, a space, a NUL...) or -ERANGE (above max). *ret is written on
 * success only. */
int decimal_parse(const char *text, size_t len, uint64_t max, uint64_t *ret);

/* text[0..len) as a decimal fraction, digits with at most one '.' between digits ("3",
 * "0.25"; not ".5", "5.", "1e3", "inf"), no larger than max: 0 and *ret, or -EINVAL or
 * -ERANGE as decimal_parse(). */
int decimal_parse_real(const char *text, size_t len, double max, double *ret);

#endif /* PFLIGHT_TOOLS_DECIMAL_H */
