/* SPDX-License-Identifier: MIT */
/* core/robust.h: the member's robust futex (see robust.c). */
#ifndef PF_CORE_ROBUST_H
#define PF_CORE_ROBUST_H

#include "core/layout.h"

/* 1 when this thread's robust list can carry a member futex. */
int robust_supported(void);

/* Take rec->futex (must be 0) for thread tid and link it into this thread's robust list.
 * 0, -ENOTSUP (no usable robust list), -EBUSY (futex not free). */
int robust_acquire(struct dom_member *rec, int tid);

/* Unlink and release (stores 0, wakes waiters). Same thread as robust_acquire(). */
void robust_release(struct dom_member *rec);

#endif /* PF_CORE_ROBUST_H */
