/* SPDX-License-Identifier: MIT */
/*
 * tools/examples/counter.h: the counter VNode's message and state, shared by the example
 * worker and the demo that drives it.
 */
#ifndef PF_EXAMPLES_COUNTER_H
#define PF_EXAMPLES_COUNTER_H

#include <stdint.h>

/* One increment, numbered per VNode from 1 by its single sender. */
struct counter_msg {
	uint32_t vnode;
	uint32_t reserved;
	uint64_t seq;
	uint64_t inc;
};

/* What the worker checkpoints. dups and gaps stay 0 unless delivery is broken. */
struct counter_state {
	uint64_t value;
	uint64_t last_seq;
	uint64_t applied;
	uint64_t dups;      /* a sequence number at or below the last one: applied twice */
	uint64_t gaps;      /* a sequence number skipped: a message lost */
	uint64_t malformed; /* messages of the wrong size or VNode */
};

static inline void counter_apply(struct counter_state *st, const struct counter_msg *m)
{
	if (m->seq <= st->last_seq)
		st->dups++;
	else if (m->seq != st->last_seq + 1)
		st->gaps++;
	if (m->seq > st->last_seq)
		st->last_seq = m->seq;
	st->value += m->inc; /* applied even if duplicated, so the count shows it */
	st->applied++;
}

#endif /* PF_EXAMPLES_COUNTER_H */
