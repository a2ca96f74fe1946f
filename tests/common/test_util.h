/* SPDX-License-Identifier: MIT */
/* tests/common/test_util.h: unique domain names per test and process, small helpers. */
#ifndef PF_TEST_UTIL_H
#define PF_TEST_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "pflight/member.h"

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

/* Sleep at least ns nanoseconds, signals or not. */
static inline void test_sleep_ns(uint64_t ns)
{
	struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000u),
			      .tv_nsec = (long)(ns % 1000000000u)};

	while (nanosleep(&ts, &ts) != 0)
		;
}

/* The state of member id (slot | generation << 32, as pf_member_id() gives it):
 * PF_MEMBER_FREE once its slot is free or holds another generation. */
static inline uint32_t test_member_state(struct pf_domain *d, uint64_t id)
{
	struct pf_member_info mi = {.size = sizeof(mi)};

	if (pf_member_info(d, (uint32_t)id, &mi) < 0 || mi.generation != (uint32_t)(id >> 32))
		return PF_MEMBER_FREE;
	return mi.state;
}

#endif /* PF_TEST_UTIL_H */
