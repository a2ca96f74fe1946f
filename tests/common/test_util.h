/* SPDX-License-Identifier: MIT */
/* tests/common/test_util.h: unique domain names per test and process, small helpers. */
#ifndef PF_TEST_UTIL_H
#define PF_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* "pft-<test>-<pid>": suites run in parallel without sharing segments. */
static inline void test_domain_name(char *buf, size_t bytes, const char *test)
{
	(void)snprintf(buf, bytes, "pft-%s-%d", test, (int)getpid());
}

/* For tests that are plain programs (exit-code protocol): fail loudly and exit 1. */
#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)

#endif /* PF_TEST_UTIL_H */
