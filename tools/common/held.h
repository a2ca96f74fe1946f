/* SPDX-License-Identifier: MIT */
/*
 * tools/common/held.h: how many VNodes each member slot holds, counted one way for every
 * tool that shows or measures it (pflight drain, the demo, its host, bench_sched).
 */
#ifndef PFLIGHT_TOOLS_HELD_H
#define PFLIGHT_TOOLS_HELD_H

#include <stdint.h>

#include "pflight/pflight.h"

/* held[slot] for slot < slots: the VNodes among the first `vnodes` that the member in slot
 * holds, adopted or not (ACTIVE, or MIGRATING or DRAINING on their way off it) and owned
 * by its current generation: a dead predecessor's VNodes, not yet repaired, count on
 * nobody. Returns how many were counted in all. Public API only (pf_vnode_info(),
 * pf_member_info()). */
uint32_t held_count(struct pf_domain *d, uint32_t vnodes, uint32_t *held, uint32_t slots);

#endif /* PFLIGHT_TOOLS_HELD_H */
