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

/*
 * Leaving is two steps around the slot's state change, so the slot's memory is never
 * reused while our robust list still links it, and a supervisor never sees a released
 * futex on an ACTIVE slot:
 *   robust_unlink(rec);      take the node out of this thread's robust list
 *   ... CAS the state word to FREE (or find it DEAD) ...
 *   robust_release(rec, tid) set the futex to 0 if it still holds tid, wake waiters.
 * Both on the thread that called robust_acquire().
 */
void robust_unlink(struct dom_member *rec);
void robust_release(struct dom_member *rec, int tid);

#endif /* PF_CORE_ROBUST_H */
