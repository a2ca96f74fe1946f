/* SPDX-License-Identifier: MIT */
/*
 * tests/common/fault_state.h: the numbered messages and the checkpointed state of the
 * fault tests' worker (tests/integration/hosts_fault_worker.c), shared with the tests that
 * send and check them.
 *
 * Each message names its sender (one of FAULT_SENDERS, e.g. one per host) and its number
 * in that sender's sequence for the VNode, from 1. The state counts, per sender, the last
 * number applied and how many were applied; a number at or below the last one is a
 * duplicate (applied twice), a number past the next one a gap (a message lost, or one
 * overtaken by a later one). The first anomalies are kept with their numbers, as evidence.
 * The state is state_bytes long: this header, then a body the worker rewrites in places at
 * each commit (so pre-copy rounds have changed chunks to send), bound by body_hash.
 */
#ifndef PF_TEST_FAULT_STATE_H
#define PF_TEST_FAULT_STATE_H

#include <stdint.h>

#define FAULT_SENDERS 4u
#define FAULT_ANOMALIES_MAX 8u
#define FAULT_STATE_MAGIC UINT64_C(0x54534c5446544c46)

struct fault_msg {
	uint32_t vnode;
	uint32_t sender; /* 0..FAULT_SENDERS-1 */
	uint64_t seq;    /* from 1, per sender and VNode */
	uint64_t inc;    /* 1, or FAULT_HOLD + ms: see below */
};

/* A message whose inc is FAULT_HOLD + ms is applied like any other, then the worker that
 * applied it leaves the VNode's inbox alone for ms milliseconds (it keeps the VNode): the
 * messages sent meanwhile wait, so that a move in that time carries some. */
#define FAULT_HOLD UINT64_C(1000000)

struct fault_anomaly {
	uint32_t sender;
	uint32_t dup;     /* 1: duplicate, 0: gap */
	uint64_t seq;     /* the number received */
	uint64_t last;    /* the last number applied before it */
	uint64_t commits; /* the state's commit count then */
};

struct fault_state {
	uint64_t magic;
	uint64_t commits;
	uint64_t last_seq[FAULT_SENDERS];
	uint64_t applied[FAULT_SENDERS];
	uint64_t dups, gaps, malformed;
	uint64_t body_hash; /* XXH3-64 of the body (the state's bytes after this header) */
	uint32_t anomalies_count;
	uint32_t track_bytes; /* the body's first bytes: a bitmap of the numbers seen, below */
	struct fault_anomaly anomalies[FAULT_ANOMALIES_MAX];
};

static inline void fault_apply(struct fault_state *st, const struct fault_msg *m)
{
	uint64_t last = st->last_seq[m->sender];
	int dup = m->seq <= last, gap = m->seq > last + 1;

	if ((dup || gap) && st->anomalies_count < FAULT_ANOMALIES_MAX)
		st->anomalies[st->anomalies_count++] =
			(struct fault_anomaly){.sender = m->sender,
					       .dup = (uint32_t)dup,
					       .seq = m->seq,
					       .last = last,
					       .commits = st->commits};
	st->dups += (uint64_t)dup;
	st->gaps += (uint64_t)gap;
	if (m->seq > last)
		st->last_seq[m->sender] = m->seq;
	st->applied[m->sender]++;
}

/* With track_bytes, the body starts with FAULT_SENDERS bitmaps of track_bytes /
 * FAULT_SENDERS bytes each: bit seq - 1 of sender s's says number seq was applied, so that
 * a message lost shows even where a duplicate makes the counts add up. */
static inline uint8_t *fault_track(uint8_t *state, uint32_t track_bytes, uint32_t sender)
{
	return state + sizeof(struct fault_state) + (size_t)sender * (track_bytes / FAULT_SENDERS);
}

static inline void fault_track_set(uint8_t *state, uint32_t track_bytes, const struct fault_msg *m)
{
	uint64_t bit = m->seq - 1;

	if (m->seq >= 1 && bit < (uint64_t)(track_bytes / FAULT_SENDERS) * 8u)
		fault_track(state, track_bytes, m->sender)[bit / 8] |= (uint8_t)(1u << (bit % 8));
}

#endif /* PF_TEST_FAULT_STATE_H */
