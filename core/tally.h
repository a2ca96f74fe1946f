/* SPDX-License-Identifier: MIT */
/* core/tally.h: the domain's membership counters, counted from the member table (see the
 * top of core/tally.c). */
#ifndef PF_CORE_TALLY_H
#define PF_CORE_TALLY_H

#include <stdint.h>

#include "core/domain_impl.h"

/* The counters core/tally.c owns: enum pf_counter values [0, TALLY_EVENTS). */
#define TALLY_EVENTS 7u

/* Event counter word (counters[c] for c < TALLY_EVENTS). */
#define TALLY_SLOT_MASK 0xfffu
#define TALLY_TAGGED (UINT64_C(1) << 12)
#define TALLY_COUNT_SHIFT 13
#define TALLY_TAG_MASK (TALLY_TAGGED | TALLY_SLOT_MASK)

/* Member tally word. */
#define TALLY_COUNTED_MASK ((UINT64_C(1) << TALLY_EVENTS) - 1)

static inline uint64_t tally_word(uint32_t gen, uint64_t counted)
{
	return ((uint64_t)gen << 32) | (counted & TALLY_COUNTED_MASK);
}
static inline uint32_t tally_gen(uint64_t t)
{
	return (uint32_t)(t >> 32);
}

/* Repair word. */
static inline uint64_t repair_owned_word(uint32_t gen, uint32_t vnodes)
{
	return ((uint64_t)gen << 32) | vnodes;
}
static inline uint32_t repair_owned_gen(uint64_t r)
{
	return (uint32_t)(r >> 32);
}
static inline uint32_t repair_owned_vnodes(uint64_t r)
{
	return (uint32_t)r;
}

/* The slot's tally word t and repair word r, read while the slot is at generation gen:
 * neither runs ahead of gen, and each carries nothing but what it defines (invariant 5). */
int tally_words_valid(struct pf_domain *d, uint64_t t, uint64_t r, uint32_t gen);

/* What generation gen_of(w) of a slot adds to each event counter, from its state word w and
 * its repair word r: values[c] for c < TALLY_EVENTS. Returns 1 when anything is non-zero. */
int tally_events(uint64_t w, uint64_t r, uint64_t values[TALLY_EVENTS]);

/*
 * Before a joiner takes `slot`, whose state word w says its generation ended (FREE, RETIRED,
 * or DEAD|REPAIRED): add that generation's events to the domain's counters, each exactly
 * once whoever else is doing the same and whoever died doing it before. 0 when every
 * event is in, -EAGAIN when the counters kept changing under us (bounded tries: the caller
 * takes another slot and leaves this fold to the next joiner).
 */
int tally_fold(struct pf_domain *d, uint32_t slot, uint64_t w);

/* The first repair of (slot, gen) counts the VNodes that generation owns, before any goes
 * back (repair_owned); later ones find it counted. 1 when this call scanned the VNode
 * table (then the bitmap owned, when not NULL, has a bit set for each VNode it counted,
 * for vnodes_return_listed()), 0 when the census was taken before (nothing scanned). */
int tally_repair_census(struct pf_domain *d, uint32_t slot, uint32_t gen, uint64_t *owned);

/* The VNodes the repair of (slot, gen) found that generation owned (its census, what the
 * vnodes_repaired counter adds), 0 before the census. */
uint32_t tally_repaired_vnodes(struct pf_domain *d, uint32_t slot, uint32_t gen);

/* A join refused by the can-register rule before it took a slot: one more join_refused. */
void tally_refused(struct pf_domain *d);

/* The event counters and slots_freed as the table and the folds say: values[c] for
 * c < TALLY_EVENTS and values[PF_COUNTER_SLOTS_FREED]. */
void tally_read(struct pf_domain *d, uint64_t values[PF_COUNTER_COUNT]);

/* Members ACTIVE or DRAINING now: one acquire load per slot. */
uint32_t tally_members_active(struct pf_domain *d);

#endif /* PF_CORE_TALLY_H */
