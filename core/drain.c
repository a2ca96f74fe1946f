/* SPDX-License-Identifier: MIT */
/*
 * core/drain.c: draining and retiring a member (pflight/drain.h has the contract).
 *
 * A drain is a rebalance aimed at one member, built from the same pieces:
 *   cordon   the member state word ACTIVE(g) -> DRAINING(g) by CAS ([R5]); the retire
 *            flag (MEMBER_FLAG_RETIRE, core/layout.h) rides in the same word, so a leave
 *            or the end of the drain reads both at once. Schedulers drop a non-ACTIVE
 *            member at their next refresh (the change is published), own_place_for() re-checks
 *            ACTIVE after its CAS, and the member's own claims return -EAGAIN: nothing new
 *            lands on it. It keeps its VNodes, its adoptions and its move requests.
 *   step     a scan of the ownership words counts what the member holds and which of
 *            those already carry a move request for their epoch; up to `parallel` requests
 *            stay outstanding. Each target comes from sched_choose(), the placement path
 *            (filters, score, NUMA factor, can-assign hook, room in the ring); the draining
 *            member is not in the scheduler's model at all, so it is never a target. The
 *            request is the rebalancer's move request (core/rebalance.c): one word CASed
 *            relaxed, valid for one ownership epoch; the owner commits and hands over, the
 *            ownership CAS orders the state ([R10]/[A10]). A request made stale by any
 *            ownership change is simply not counted as outstanding any more.
 *   deadline every VNode still held goes back to PENDING(epoch + 1), queued
 *            (vnodes_return_owned(), as a leave does): the epoch fences the owner's later
 *            commits; the target of the next claim loads the last committed checkpoint and
 *            reads the inbox from its position, so committed state and every message
 *            survive; uncommitted work is redone.
 *   finish   once nothing is held, member_retire_slot() turns DRAINING into FREE, or
 *            RETIRED with the flag (free_at first, [R5]), marked DRAINED: the member neither
 *            left nor died (core/tally.c); a RETIRED slot keeps the identity as history
 *            and is reused after the grace period like a FREE one (slot_take()).
 *            The member's own pf_member_leave() then finds its slot given back and
 *            returns 0; a VNode it claimed in the instant before is returned by the
 *            supervisors' orphan sweep.
 *
 * Progress lives in the caller's report (moved = initial - held - released), so a step
 * keeps no state and any process holding a scheduler may step a drain; CASes decide.
 * Cost: O(VNodes) scan and up to PF_DRAIN_PARALLEL_MAX chooses per step.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/sched_impl.h"
#include "pflight/drain.h"
#include "shm/pf_assert.h"

#define NONE UINT32_MAX
#define CORDON_TRIES 8

PF_API int pf_member_cordon(struct pf_domain *d, uint32_t slot, uint32_t flags)
{
	uint64_t want = (flags & PF_DRAIN_RETIRE) != 0 ? MEMBER_FLAG_RETIRE : 0;
	struct dom_member *rec;

	if (d == NULL || slot >= d->lim.members_max || (flags & ~PF_DRAIN_RETIRE) != 0)
		return -EINVAL;
	rec = &d->members[slot];
	for (int tries = 0; tries < CORDON_TRIES; tries++) {
		/* [A5] pairs with [R5] in member.c: the state and flags we change. */
		uint64_t w = pf_load_acquire(&rec->state);
		uint32_t st = member_word_state(w);
		uint64_t have = w & MEMBER_FLAG_RETIRE;

		if (st == PF_MEMBER_DRAINING && (have | want) == have)
			return -EALREADY;
		if (st != PF_MEMBER_ACTIVE && st != PF_MEMBER_DRAINING)
			return -ENOENT;
		/* Relaxed: published by the CAS below; the drain's deadline counts from it,
		 * whoever steps the drain and however often its controller restarts. */
		if (st == PF_MEMBER_ACTIVE)
			pf_store_relaxed(&rec->cordon_ns, now_ns());
		/* [R5] pairs with [A5] in snapshot_one() and member_retire_slot(): schedulers
		 * drop the member at their next refresh, a leave sees the retire flag; the
		 * generation's facts stay (core/tally.c counts from them). */
		if (pf_cas_acq_rel(&rec->state, &w,
				   member_word(member_word_gen(w), PF_MEMBER_DRAINING, 0,
					       have | want | member_word_facts(w)))) {
			domain_publish_membership(d);
			return 0;
		}
	}
	return -EAGAIN;
}

PF_API void pf_drain_opts_init(struct pf_drain_opts *opts)
{
	PF_ASSERT(opts != NULL);
	memset(opts, 0, sizeof(*opts));
	opts->size = sizeof(*opts);
	opts->parallel = PF_DRAIN_PARALLEL_DEFAULT;
}

static int opts_resolve(const struct pf_drain_opts *in, struct pf_drain_opts *out)
{
	pf_drain_opts_init(out);
	if (in == NULL)
		return 0;
	if (opts_copy(out, sizeof(*out), in, offsetof(struct pf_drain_opts, reserved)) < 0)
		return -EINVAL;
	if (out->parallel == 0)
		out->parallel = PF_DRAIN_PARALLEL_DEFAULT;
	if (out->flags != 0 || out->reserved0 != 0 || out->parallel > PF_DRAIN_PARALLEL_MAX)
		return -EINVAL;
	for (size_t i = 0; i < PF_ARRAY_SIZE(out->reserved); i++)
		if (out->reserved[i] != 0)
			return -EINVAL;
	return 0;
}

struct step {
	struct pf_sched *s;
	struct pf_drain_report *rep;
	uint32_t slot;
	uint32_t gen;
	uint32_t ncand;
	uint32_t cand[PF_DRAIN_PARALLEL_MAX]; /* held, ACTIVE, no request: may be asked */
};

/* What the member holds, what is already moving, and the first candidates. */
static void scan(struct step *st)
{
	struct pf_domain *d = st->s->d;

	st->rep->owned = st->rep->moving = 0;
	st->ncand = 0;
	for (uint32_t id = 0; id < d->lim.vnodes_max; id++) {
		/* Relaxed: a scan; each request re-reads the word, the owner's CAS decides. */
		uint64_t w = pf_load_relaxed(&d->own[id]), req;

		if (!own_is_owned(w) || own_slot(w) != st->slot ||
		    own_gen(w) != (st->gen & OWN_GEN_MASK))
			continue;
		st->rep->owned++;
		/* Relaxed: the same scan. */
		req = pf_load_relaxed(&d->vnodes[id].move_req);
		if (move_valid_for(req, own_epoch(w)))
			st->rep->moving++;
		else if (own_state(w) == PF_VNODE_ACTIVE && st->ncand < PF_DRAIN_PARALLEL_MAX)
			st->cand[st->ncand++] = id;
	}
}

/* Ask the best other member to take VNode id: 1 when a request was written. */
static int request(struct step *st, uint32_t id)
{
	struct pf_sched *s = st->s;
	struct pf_sched_decision dec;
	struct removed rm = {.n = 0};
	uint32_t m;
	/* Relaxed: re-validated by epoch; the owner's CAS decides whether it moves. */
	uint64_t w = pf_load_relaxed(&s->d->own[id]);
	int r;

	if (own_state(w) != PF_VNODE_ACTIVE || own_slot(w) != st->slot ||
	    own_gen(w) != (st->gen & OWN_GEN_MASK))
		return 0;
	memset(&dec, 0, sizeof(dec));
	r = sched_choose(s, id, ADMIT_HANDOFF, &dec, &rm, &m); /* can_handoff is asked too */
	if (r < 0)
		return r;
	if (m == NONE) {
		if (st->rep->blocked++ == 0)
			st->rep->reason = s->nsm == 0 && dec.reason == PF_SCHED_FILTER_STATE
						  ? PF_SCHED_NO_MEMBER
						  : dec.reason;
		return 0;
	}
	PF_ASSERT(s->sm[m].slot != st->slot);
	if (!move_request(s->d, id, w, s->sm[m].slot, s->sm[m].gen))
		return 0; /* a rebalancer or another controller asked first */
	sched_model_add(s, m);
	st->rep->requested++;
	return 1;
}

static int request_moves(struct step *st, uint32_t parallel)
{
	uint32_t budget = parallel > st->rep->moving ? parallel - st->rep->moving : 0;
	int n = 0;

	for (uint32_t k = 0; k < st->ncand && (uint32_t)n < budget; k++) {
		int r = request(st, st->cand[k]);

		if (r < 0)
			return r;
		n += r;
	}
	st->rep->moving += (uint32_t)n;
	return n;
}

/* Nothing held: give the slot back, FREE or RETIRED. */
static int finish(struct step *st)
{
	struct pf_domain *d = st->s->d;
	int r;

	r = member_retire_slot(d, st->slot, st->gen, 1);
	if (r == -ESTALE)
		return 0; /* the member left meanwhile: the next step reports it */
	if (r < 0)
		return r;
	domain_publish_membership(d);
	st->rep->done = 1;
	st->rep->final_state = (uint32_t)r;
	return 0;
}

/* 1: the step goes on; 0: over (rep->done set); or -ENOENT / -EINVAL. */
static int step_begin(struct pf_domain *d, uint32_t slot, struct pf_drain_report *rep)
{
	/* [A5] pairs with [R5] in pf_member_cordon() and member_retire_slot(). */
	uint64_t w = pf_load_acquire(&d->members[slot].state);
	uint32_t state = member_word_state(w), gen = member_word_gen(w);

	if (rep->steps == 0) {
		if (state != PF_MEMBER_DRAINING)
			return -ENOENT;
		rep->slot = slot;
		rep->generation = gen;
		return 1;
	}
	if (rep->slot != slot)
		return -EINVAL;
	if (gen != rep->generation)
		return -ENOENT;
	if (state == PF_MEMBER_DRAINING)
		return 1;
	if (state != PF_MEMBER_FREE && state != PF_MEMBER_RETIRED)
		return -ENOENT; /* died: the supervisors repair it */
	rep->done = 1;          /* left, or another controller finished it */
	rep->final_state = state;
	return 0;
}

static int step_run(struct step *st, const struct pf_drain_opts *o)
{
	struct pf_drain_report *rep = st->rep;
	int n = 0;

	scan(st);
	if (rep->steps == 0)
		rep->initial = rep->owned;
	rep->blocked = 0;
	rep->reason = PF_SCHED_PLACED;
	if (rep->owned > 0 && o->deadline_ns != 0 && now_ns() >= o->deadline_ns) {
		uint32_t k = vnodes_return_owned(st->s->d, st->slot, st->gen);

		rep->released += k;
		rep->owned -= PF_MIN(k, rep->owned);
		rep->moving = 0;
		n = (int)k;
	} else if (rep->owned > 0) {
		n = request_moves(st, o->parallel);
	}
	if (n >= 0 && rep->initial >= rep->owned + rep->released)
		rep->moved = rep->initial - rep->owned - rep->released;
	if (n >= 0 && rep->owned == 0) {
		int r = finish(st);

		if (r < 0)
			return r;
	}
	return n;
}

PF_API int pf_sched_drain_step(struct pf_sched *s, uint32_t slot, const struct pf_drain_opts *opts,
			       struct pf_drain_report *rep)
{
	struct pf_drain_opts o;
	struct step *st;
	int r;

	if (s == NULL || rep == NULL || rep->size < sizeof(*rep) || slot >= s->d->lim.members_max)
		return -EINVAL;
	r = opts_resolve(opts, &o);
	if (r < 0 || rep->done)
		return r;
	r = step_begin(s->d, slot, rep);
	if (r <= 0)
		return r;
	r = pf_sched_refresh(s);
	if (r < 0)
		return r;
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return -ENOMEM;
	st->s = s;
	st->rep = rep;
	st->slot = slot;
	st->gen = rep->generation;
	r = step_run(st, &o);
	rep->steps++;
	free(st);
	return r;
}
