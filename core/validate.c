/* SPDX-License-Identifier: MIT */
/*
 * core/validate.c: validators for the records other processes write (invariant 5).
 *
 * A member slot or a VNode record may have been written by a crashed process or a
 * different build. These functions take a snapshot of one record and check every field
 * against the domain's validated limits: -EBADMSG for a value no correct writer
 * produces, -EPROTO for a non-zero reserved field (another layout wrote it). Readers for
 * people (pf_member_info, pf_vnode_info) refuse what fails; supervisors count it.
 */
#include <errno.h>

#include "core/member_impl.h"
#include "core/tally.h"
#include "core/validate.h"
#include "pflight/policy.h"

#define NUMA_NODE_LIMIT 1024 /* libnuma's own bound on node numbers */
#define CPU_LIMIT 65536
#define PPM_MAX 1000000u

static int caps_known(struct pf_domain *d, const uint64_t caps[2])
{
	/* Relaxed: an upper bound; a capability interned meanwhile only widens it. */
	uint32_t n = PF_MIN(pf_load_relaxed(&d->ctl->caps_count), d->lim.caps_max);

	for (uint32_t bit = n; bit < PF_CAPS_MAX; bit++)
		if ((caps[bit / 64] >> (bit % 64)) & 1)
			return 0;
	return 1;
}

/* A gatekeeper's decision about this generation must be one it can write; one about
 * another generation (written for a joiner that gave up) is ignored by every reader. */
static int admission_valid(uint64_t a, uint32_t gen)
{
	uint32_t st = admission_status(a);

	if (a == 0 || admission_gen(a) != gen)
		return 1;
	if ((((uint32_t)(a >> 24) & 0xffu) & ~(ADMISSION_STATUS_MASK | ADMISSION_TOKEN)) != 0 ||
	    (admission_by_token(a) && st != ADMISSION_GRANTED))
		return 0;
	return (st == ADMISSION_GRANTED || st == ADMISSION_REFUSED) &&
	       admission_action(a) <= PF_POLICY_CAN_HANDOFF &&
	       admission_check(a) <= PF_POLICY_CHECK_MAX &&
	       (admission_rule(a) < PF_MANIFEST_RULES_MAX ||
		admission_rule(a) == PF_POLICY_NO_RULE);
}

/* The facts of a generation (core/layout.h) only in the states a correct writer leaves
 * them in: a member (JOINED) is never back to JOINING, a live one always has it; a refused
 * joiner never joined and waits no more; only a member is drained, and only into FREE or
 * RETIRED. */
static int facts_valid(uint64_t w)
{
	uint32_t st = member_word_state(w);
	int joined = (w & MEMBER_FLAG_JOINED) != 0;

	if (((st == PF_MEMBER_ACTIVE || st == PF_MEMBER_DRAINING) && !joined) ||
	    (joined && st == PF_MEMBER_JOINING))
		return 0;
	if ((w & MEMBER_FLAG_REFUSED) != 0 &&
	    (joined || (w & MEMBER_FLAG_AWAIT) != 0 ||
	     !(st == PF_MEMBER_JOINING || st == PF_MEMBER_FREE || st == PF_MEMBER_DEAD)))
		return 0;
	return (w & MEMBER_FLAG_DRAINED) == 0 ||
	       (joined && (st == PF_MEMBER_FREE || st == PF_MEMBER_RETIRED));
}

/* The slot's counting words (core/tally.c) never run ahead of its generation, and carry
 * nothing but what they define. */
static int tally_words_valid(struct pf_domain *d, const struct dom_member *rec, uint32_t gen)
{
	/* Relaxed: a snapshot to validate, like the rest of the record. */
	uint64_t t = pf_load_relaxed(&rec->tally), r = pf_load_relaxed(&rec->repair_owned);

	if ((t & UINT64_C(0xffffffff) & ~TALLY_COUNTED_MASK) != 0)
		return 0;
	if ((int32_t)(gen - tally_gen(t)) < 0 || (int32_t)(gen - repair_owned_gen(r)) < 0)
		return 0;
	return repair_owned_vnodes(r) <= d->lim.vnodes_max;
}

int member_record_check(struct pf_domain *d, uint32_t slot)
{
	struct dom_member *rec = &d->members[slot];
	uint64_t caps[2];
	int32_t node, cpu;
	/* [A5] pairs with [R5] in pf_member_join(): identity is complete once ACTIVE. */
	uint64_t w = pf_load_acquire(&rec->state);
	uint32_t st = member_word_state(w);
	/* Relaxed: a snapshot to validate, nothing is published through it. */
	uint32_t f = pf_load_relaxed(&rec->futex);

	if (st > PF_MEMBER_DEAD || member_word_cause(w) > PF_DEATH_VANISHED ||
	    (w & UINT64_C(0xffff0000) & ~MEMBER_FLAGS_KNOWN) != 0 ||
	    ((w & MEMBER_FLAG_AWAIT) != 0 && st != PF_MEMBER_JOINING) || !facts_valid(w) ||
	    !tally_words_valid(d, rec, member_word_gen(w)))
		return -EBADMSG;
	if (st == PF_MEMBER_FREE)
		return 0;
	if (member_word_gen(w) == 0)
		return -EBADMSG;
	if (rec->reserved0 != 0 || rec->reserved1 != 0 || rec->reserved3 != 0)
		return -EPROTO;
	/* Relaxed: a snapshot; written before the member was published. */
	if (pf_load_relaxed(&rec->vnode_capacity) == 0 && st != PF_MEMBER_JOINING)
		return -EBADMSG;
	/* Relaxed: a snapshot, like the fields above; every user re-reads it. */
	if (!admission_valid(pf_load_relaxed(&rec->admission), member_word_gen(w)))
		return -EBADMSG;
	for (size_t i = 0; i < PF_ARRAY_SIZE(rec->reserved4); i++)
		if (rec->reserved4[i] != 0)
			return -EPROTO;
	/* Relaxed: the same snapshot; an attach names a generation up to this one. */
	if ((pf_load_relaxed(&rec->attached) >> 32) > member_word_gen(w))
		return -EBADMSG;
	for (size_t i = 0; i < PF_ARRAY_SIZE(rec->reserved5); i++)
		if (rec->reserved5[i] != 0)
			return -EPROTO;
	/* Relaxed: the same snapshot. */
	if (pf_load_relaxed(&rec->ckpt_used) > 1)
		return -EPROTO;
	/* Relaxed: the same snapshot; a generation judged hung is one up to this one. */
	if (pf_load_relaxed(&rec->hung_gen) > member_word_gen(w))
		return -EBADMSG;
	if (st == PF_MEMBER_JOINING)
		return 0; /* identity is still being written */
	/* Relaxed: the same snapshot. */
	if (pf_load_relaxed(&rec->pid) <= 0 || pf_load_relaxed(&rec->tid) <= 0 ||
	    ((st == PF_MEMBER_ACTIVE || st == PF_MEMBER_DRAINING) &&
	     (f & FUTEX_WORD_TID_MASK) == 0 && (f & FUTEX_WORD_OWNER_DIED) == 0))
		return -EBADMSG;
	/* Relaxed: the same snapshot. */
	node = pf_load_relaxed(&rec->numa_node);
	cpu = pf_load_relaxed(&rec->cpu);
	caps[0] = pf_load_relaxed(&rec->caps[0]);
	caps[1] = pf_load_relaxed(&rec->caps[1]);
	/* Relaxed: the same snapshot. */
	if (node < -1 || node >= NUMA_NODE_LIMIT || cpu < 0 || cpu >= CPU_LIMIT ||
	    pf_load_relaxed(&rec->caps_declared) > PF_MEMBER_CAPS_MAX || !caps_known(d, caps))
		return -EBADMSG;
	/* Relaxed: the same snapshot. */
	if (pf_load_relaxed(&rec->reliability_ppm) > PPM_MAX ||
	    pf_load_relaxed(&rec->trust_ppm) > PPM_MAX || pf_load_relaxed(&rec->load_ppm) > PPM_MAX)
		return -EBADMSG;
	return 0;
}

int vnode_record_check(struct pf_domain *d, uint32_t id)
{
	struct dom_vnode *v = &d->vnodes[id];
	/* [A10] pairs with [R10] in core/ownership.c: requirements are complete once defined. */
	uint64_t w = pf_load_acquire(&d->own[id]);
	/* Relaxed: a snapshot to validate. */
	uint64_t c = pf_load_relaxed(&v->ckpt);
	uint64_t head = pf_load_relaxed(&v->inbox_head);
	uint64_t tail = pf_load_relaxed(&v->inbox_tail);
	uint64_t span = 2 * (uint64_t)d->lim.inbox_slots, m;

	if (own_state(w) > PF_VNODE_DRAINING)
		return -EBADMSG;
	if (own_state(w) == PF_VNODE_UNASSIGNED)
		return 0;
	if (own_is_owned(w) && own_slot(w) >= d->lim.members_max)
		return -EBADMSG;
	if ((int32_t)(ckpt_epoch(c) - own_epoch(w)) > 0)
		return -EBADMSG; /* sealed by an epoch nobody has owned yet */
	if (ckpt_buf(c) != CKPT_BUF_NONE && ckpt_buf(c) >= d->lim.ckpt_bufs)
		return -EBADMSG;
	if (tail - head > span && head - tail > span)
		return -EBADMSG;
	if (v->home_node < -1 || v->home_node >= NUMA_NODE_LIMIT || !caps_known(d, v->caps))
		return -EBADMSG;
	/* Relaxed: the same snapshot. */
	if (pf_load_relaxed(&v->pending_reason) > PF_SCHED_LOST_RACE)
		return -EBADMSG;
	/* Relaxed: the same snapshot. A request may name any epoch (stale ones are
	 * ignored), but its reserved bits are zero and its slot is a member slot. */
	m = pf_load_relaxed(&v->move_req);
	if ((m & MOVE_RESERVED_MASK) != 0)
		return -EPROTO;
	if ((m & MOVE_VALID) != 0 && own_slot(m) >= d->lim.members_max)
		return -EBADMSG;
	return 0;
}
