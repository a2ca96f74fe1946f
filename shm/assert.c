/* SPDX-License-Identifier: MIT */
/*
 * shm/assert.c: the one place a broken invariant of our own ends the process.
 * Writes with write(2) only, so it is safe from any context, then aborts for a core.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shm/pf_assert.h"

PF_API void pf_assert_fail(const char *expr, const char *file, int line, const char *func)
{
	char buf[512];
	int n;

	n = snprintf(buf, sizeof(buf), "pflight: assertion failed: %s (%s:%d, %s)\n", expr, file,
		     line, func);
	if (n > 0)
		(void)!write(STDERR_FILENO, buf, strnlen(buf, sizeof(buf)));
	abort();
}
