/* SPDX-License-Identifier: MIT */
/* shm/pf_assert.h: programmer errors only, never shared-memory or network input. */
#ifndef PF_ASSERT_H
#define PF_ASSERT_H

#include "pflight/common.h" /* pf_assert_fail(), exported for inline public code */
#include "shm/pf_compiler.h"

#if PF_CHECKED
#define PF_ASSERT(cond)                                                                            \
	(pf_likely(cond) ? (void)0 : pf_assert_fail(#cond, __FILE__, __LINE__, __func__))
#else
#define PF_ASSERT(cond) ((void)sizeof(!(cond))) /* type-checked, not evaluated */
#endif

#endif /* PF_ASSERT_H */
