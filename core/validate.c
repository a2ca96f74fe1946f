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
	/* Relaxed: an upper bound; a capability interned meanwhile only widens it. The count
	 * never goes down, so a lower one is a peer's scribble: the highest this process saw
	 * stands (else one write to the count would fail every member's check). */
	uint32_t n = PF_MIN(pf_load_relaxed(&d->ctl->caps_count), d->lim.caps_max);
	/* Relaxed: this process's own high-water mark, no ordering. */
	uint32_t seen = pf_load_relaxed(&d->caps_seen);

	while (n > seen && !pf_cas_relaxed(&d->caps_seen, &seen, n))
		;
	n = PF_MAX_OF(n, seen);

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
 * joiner never joined and waits no more; only a member is judged hung, and it dies hung;
 * only a member is drained, and only into FREE or RETIRED. */
static int facts_valid(uint64_t w)
{
	uint32_t st = member_word_state(w);
	int joined = (w & MEMBER_FLAG_JOINED) != 0;

	if ((w & MEMBER_FLAG_HUNG) != 0 &&
	    (!joined || (st == PF_MEMBER_DEAD && member_word_cause(w) != PF_DEATH_HUNG)))
		return 0;

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

void member_record_read(struct pf_domain *d, uint32_t slot, struct member_snap *s)
{
	struct dom_member *rec = &d->members[slot];
	uint64_t reserved = 0;

	/* [A5] pairs with [R5] in pf_member_join(): identity is complete once ACTIVE. */
	s->state = pf_load_acquire(&rec->state);
	/* Relaxed: a snapshot to validate, nothing is published through it; whoever reports
	 * it re-checks the state word after (member_record_stable()). */
	s->futex = pf_load_relaxed(&rec->futex);
	s->tally = pf_load_relaxed(&rec->tally);
	s->repair_owned = pf_load_relaxed(&rec->repair_owned);
	/* Relaxed: the same snapshot. */
	s->attached = pf_load_relaxed(&rec->attached);
	s->ckpt_used = pf_load_relaxed(&rec->ckpt_used);
	/* [A21] pairs with [R21] in pf_admission_decide(): a review's verdict. */
	s->admission = pf_load_acquire(&rec->admission);
	/* Relaxed: the same snapshot; identity, written while JOINING. */
	s->pid = pf_load_relaxed(&rec->pid);
	s->tid = pf_load_relaxed(&rec->tid);
	/* Relaxed: the same snapshot. */
	s->uid = pf_load_relaxed(&rec->uid);
	s->start_time = pf_load_relaxed(&rec->start_time);
	s->join_time_ns = pf_load_relaxed(&rec->join_time_ns);
	/* Relaxed: the same snapshot. */
	s->caps[0] = pf_load_relaxed(&rec->caps[0]);
	s->caps[1] = pf_load_relaxed(&rec->caps[1]);
	/* Relaxed: the same snapshot. */
	s->caps_declared = pf_load_relaxed(&rec->caps_declared);
	s->numa_node = pf_load_relaxed(&rec->numa_node);
	s->cpu = pf_load_relaxed(&rec->cpu);
	/* Relaxed: the same snapshot; attributes and statistics. */
	s->reliability_ppm = pf_load_relaxed(&rec->reliability_ppm);
	s->trust_ppm = pf_load_relaxed(&rec->trust_ppm);
	s->load_ppm = pf_load_relaxed(&rec->load_ppm);
	s->mem_ppm = pf_load_relaxed(&rec->mem_ppm);
	/* Relaxed: the same snapshot. */
	s->vnode_capacity = pf_load_relaxed(&rec->vnode_capacity);
	s->heartbeat = pf_load_relaxed(&rec->heartbeat);
	/* Relaxed: the same snapshot. */
	s->vnodes_owned = pf_load_relaxed(&rec->vnodes_owned);
	s->dead_time_ns = pf_load_relaxed(&rec->dead_time_ns);
	s->cordon_ns = pf_load_relaxed(&rec->cordon_ns);
	/* Relaxed: the same snapshot. */
	s->gid = pf_load_relaxed(&rec->gid);
	s->identity_key = pf_load_relaxed(&rec->identity_key);
	/* Relaxed: the same snapshot; a joiner zeroes them (record_init(), core/member.c). */
	reserved |= pf_load_relaxed(&rec->reserved0) | pf_load_relaxed(&rec->reserved1);
	/* Relaxed: the same. */
	reserved |= pf_load_relaxed(&rec->reserved2) | pf_load_relaxed(&rec->reserved3);
	for (size_t i = 0; i < PF_ARRAY_SIZE(rec->reserved4); i++)
		/* Relaxed: the same. */
		reserved |= pf_load_relaxed(&rec->reserved4[i]);
	for (size_t i = 0; i < PF_ARRAY_SIZE(rec->reserved5); i++)
		/* Relaxed: the same. */
		reserved |= pf_load_relaxed(&rec->reserved5[i]);
	s->reserved_set = reserved != 0;
}

int member_record_stable(struct pf_domain *d, uint32_t slot, const struct member_snap *s)
{
	/* [F46] pairs with [F45] in slot_take(): the loads of the snapshot come before this
	 * re-load, so if one of them saw a write of a later joiner (made after its take CAS
	 * and its fence), this load sees that CAS or later. */
	pf_fence_acquire();
	/* Relaxed: ordered by [F46] above. */
	return member_word_gen(pf_load_relaxed(&d->members[slot].state)) ==
	       member_word_gen(s->state);
}

int member_word_valid(uint64_t w)
{
	uint32_t st = member_word_state(w);

	return st <= PF_MEMBER_DEAD && member_word_cause(w) <= PF_DEATH_QUARANTINED &&
	       (w & UINT64_C(0xffff0000) & ~MEMBER_FLAGS_KNOWN) == 0 &&
	       ((w & MEMBER_FLAG_AWAIT) == 0 || st == PF_MEMBER_JOINING) && facts_valid(w) &&
	       (st == PF_MEMBER_FREE || member_word_gen(w) != 0);
}

int member_snap_fault(struct pf_domain *d, const struct member_snap *s, const char **ret_field)
{
	uint64_t w = s->state;
	uint32_t st = member_word_state(w), f = s->futex;
	const char *field = NULL;
	int r = -EBADMSG;

	if (!member_word_valid(w))
		field = "state";
	else if (!tally_words_valid(d, s->tally, s->repair_owned, member_word_gen(w)))
		field = "tally";
	else if (st == PF_MEMBER_FREE)
		return 0;
	else if (s->reserved_set)
		field = "reserved", r = -EPROTO;
	else if (s->vnode_capacity == 0 && st != PF_MEMBER_JOINING)
		field = "vnode_capacity";
	else if (!admission_valid(s->admission, member_word_gen(w)))
		field = "admission";
	/* An attach names a generation up to the next one (a joiner claims the slot before
	 * its CAS takes it, core/member.c). */
	else if (!member_gen_reached(member_gen_next(member_word_gen(w)),
				     (uint32_t)(s->attached >> 32)))
		field = "attached";
	else if (s->ckpt_used > 1)
		field = "ckpt_used", r = -EPROTO;
	else if (st == PF_MEMBER_JOINING)
		return 0; /* identity is still being written */
	else if (s->pid <= 0)
		field = "pid";
	else if (s->tid <= 0)
		field = "tid";
	else if ((st == PF_MEMBER_ACTIVE || st == PF_MEMBER_DRAINING) &&
		 (f & FUTEX_WORD_TID_MASK) == 0 && (f & FUTEX_WORD_OWNER_DIED) == 0)
		field = "futex";
	else if (s->numa_node < -1 || s->numa_node >= NUMA_NODE_LIMIT)
		field = "numa_node";
	else if (s->cpu < 0 || s->cpu >= CPU_LIMIT)
		field = "cpu";
	else if (s->caps_declared > PF_MEMBER_CAPS_MAX)
		field = "caps_declared";
	else if (!caps_known(d, s->caps))
		field = "caps";
	else if (s->reliability_ppm > PPM_MAX)
		field = "reliability_ppm";
	else if (s->trust_ppm > PPM_MAX)
		field = "trust_ppm";
	else if (s->load_ppm > PPM_MAX)
		field = "load_ppm";
	else
		return 0;
	if (ret_field != NULL)
		*ret_field = field;
	return r;
}

int member_snap_check(struct pf_domain *d, const struct member_snap *s)
{
	return member_snap_fault(d, s, NULL);
}

int member_record_check(struct pf_domain *d, uint32_t slot)
{
	struct member_snap s;

	member_record_read(d, slot, &s);
	return member_snap_check(d, &s);
}

int vnode_record_check(struct pf_domain *d, uint32_t id)
{
	struct dom_vnode *v = &d->vnodes[id];
	/* The descriptor before the word: a transition CASes the word, then seals its epoch
	 * into the descriptor, so read in this order a descriptor newer than the word is a
	 * broken writer, not a transition caught between the two loads. [A11] pairs with
	 * [R11] in own_seal() (core/ownership.c): the word it sealed for is visible below. */
	uint64_t c = pf_load_acquire(&v->ckpt);
	/* [A10] pairs with [R10] in own_define() (core/ownership.c): requirements are complete once
	 * defined. */
	uint64_t w = pf_load_acquire(&d->own[id]);
	/* Relaxed: positions to bound-check, a snapshot. */
	uint64_t head = pf_load_relaxed(&v->inbox_head);
	uint64_t tail = pf_load_relaxed(&v->inbox_tail);
	uint64_t span = 2 * (uint64_t)d->lim.inbox_slots, m;

	if (own_state(w) > PF_VNODE_STATE_MAX)
		return -EBADMSG;
	if (own_state(w) == PF_VNODE_UNASSIGNED)
		return 0;
	if (own_is_owned(w) && own_slot(w) >= d->lim.members_max)
		return -EBADMSG;
	if (own_in_transit(w) && own_gen(w) != 0)
		return -EBADMSG; /* no member owns a VNode between hosts */
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
