/* SPDX-License-Identifier: MIT */
/*
 * tests/common/invariants.c: ARCHITECTURE.md section 3, invariants 1-4 and 7, checked from
 * the shared layout of a quiescent domain (see invariants.h).
 *
 *   1 single owner, epochs: an owned VNode names a slot that is ACTIVE or DRAINING with
 *     the same generation, held by a live process; its checkpoint descriptor's epoch is
 *     not newer than its ownership epoch.
 *   2 nothing lost: every defined VNode is owned (as above) or PENDING.
 *   3 nothing torn: every committed checkpoint reads back whole (never -EBADMSG) and, when
 *     the caller gives a content check, is a state some worker committed.
 *   4 nothing leaked or stuck: no slot is JOINING, ACTIVE or DRAINING for a dead process,
 *     none is DEAD without REPAIRED; the pending ring validates, accepts and yields; every
 *     inbox slot sits in the window its head allows.
 *   7 counters exact: members_active is the live slots; slots_freed the generations taken
 *     again; every dead member repaired (repairs == deaths + hung); joins cover the leaves
 *     and the live members; no counter went below zero (none at 2^31 or above).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/member_impl.h"
#include "shm/ring_mpmc.h"
#include "tests/common/invariants.h"

#define CKPT_READ_TRIES 16

static void violation(struct invariants_report *ret, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void violation(struct invariants_report *ret, const char *fmt, ...)
{
	va_list ap;

	if (ret->violations++ > 0)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(ret->first, sizeof(ret->first), fmt, ap);
	va_end(ap);
}

int invariants_process_alive(int pid, uint64_t start_time)
{
	uint64_t start;
	char st = 0;

	if (pid <= 0 || identity_stat(pid, &start, &st) < 0)
		return 0;
	/* A zombie has released everything the domain cares about: it is dead here. */
	if (st == 'Z' || st == 'X')
		return 0;
	return start_time == 0 || start == start_time;
}

static int member_alive(struct dom_member *rec)
{
	/* Relaxed: a quiescent domain; the identity is fixed for the generation. */
	return invariants_process_alive(pf_load_relaxed(&rec->pid),
					pf_load_relaxed(&rec->start_time));
}

int invariants_repaired(struct pf_domain *d)
{
	for (uint32_t slot = 0; slot < d->lim.members_max; slot++) {
		struct dom_member *rec = &d->members[slot];
		/* [A5] pairs with [R5] in pf_member_join(): identity complete once seen. */
		uint64_t w = pf_load_acquire(&rec->state);
		uint32_t st = member_word_state(w);

		if (st == PF_MEMBER_DEAD && (w & MEMBER_FLAG_REPAIRED) == 0)
			return 0;
		if ((st == PF_MEMBER_ACTIVE || st == PF_MEMBER_DRAINING ||
		     st == PF_MEMBER_JOINING) &&
		    !member_alive(rec))
			return 0;
	}
	return 1;
}

static void check_members(struct pf_domain *d, struct invariants_report *ret)
{
	for (uint32_t slot = 0; slot < d->lim.members_max; slot++) {
		struct dom_member *rec = &d->members[slot];
		/* [A5] pairs with [R5] in pf_member_join(). */
		uint64_t w = pf_load_acquire(&rec->state);

		switch (member_word_state(w)) {
		case PF_MEMBER_FREE:
			ret->members_free++;
			break;
		case PF_MEMBER_JOINING:
			ret->members_joining++;
			if (!member_alive(rec))
				violation(ret,
					  "leaked slot: slot %u JOINING (gen %u) for dead pid %d",
					  slot, member_word_gen(w),
					  /* Relaxed: see member_alive(). */
					  pf_load_relaxed(&rec->pid));
			break;
		case PF_MEMBER_ACTIVE:
		case PF_MEMBER_DRAINING:
			ret->members_live++;
			if (!member_alive(rec))
				violation(ret, "leaked slot: slot %u live (gen %u) for dead pid %d",
					  slot, member_word_gen(w),
					  /* Relaxed: see member_alive(). */
					  pf_load_relaxed(&rec->pid));
			break;
		case PF_MEMBER_DEAD:
			ret->members_dead++;
			if ((w & MEMBER_FLAG_REPAIRED) == 0)
				violation(ret, "leaked slot: slot %u DEAD (gen %u) never repaired",
					  slot, member_word_gen(w));
			break;
		default:
			violation(ret, "slot %u: bad state word %#llx", slot,
				  (unsigned long long)w);
			break;
		}
	}
}

/* Invariant 1 and 2 for one owned VNode: its owner is a live member of that generation. */
static void check_owner(struct pf_domain *d, uint32_t id, uint64_t w, struct invariants_report *ret)
{
	uint32_t slot = own_slot(w);
	struct dom_member *rec;
	uint64_t m;
	uint32_t st;

	if (slot >= d->lim.members_max) {
		violation(ret, "vnode %u: owner slot %u out of range", id, slot);
		return;
	}
	rec = &d->members[slot];
	/* [A5] pairs with [R5] in pf_member_join(). */
	m = pf_load_acquire(&rec->state);
	st = member_word_state(m);
	if ((member_word_gen(m) & OWN_GEN_MASK) != own_gen(w) ||
	    (st != PF_MEMBER_ACTIVE && st != PF_MEMBER_DRAINING)) {
		violation(ret, "lost vnode %u: owned by slot %u gen %u, slot is state %u gen %u",
			  id, slot, own_gen(w), st, member_word_gen(m));
		return;
	}
	if (!member_alive(rec))
		violation(ret, "lost vnode %u: owner slot %u is a dead process", id, slot);
}

static void check_vnodes(struct pf_domain *d, struct invariants_report *ret)
{
	for (uint32_t id = 0; id < d->lim.vnodes_max; id++) {
		/* [A10] pairs with [R10] in vnode.c: the last ownership change is complete. */
		uint64_t w = pf_load_acquire(&d->own[id]);
		/* [A12] pairs with [R12] in pf_checkpoint_commit(). */
		uint64_t c = pf_load_acquire(&d->vnodes[id].ckpt);

		if (own_state(w) == PF_VNODE_UNASSIGNED) {
			if (c != ckpt_word(0, 0, CKPT_BUF_NONE))
				violation(ret, "vnode %u: undefined but has a checkpoint word", id);
			continue;
		}
		if (ckpt_buf(c) != CKPT_BUF_NONE && ckpt_buf(c) >= d->lim.ckpt_bufs)
			violation(ret, "vnode %u: checkpoint names buffer %u of %u", id,
				  ckpt_buf(c), d->lim.ckpt_bufs);
		ret->vnodes_defined++;
		if ((int32_t)(ckpt_epoch(c) - own_epoch(w)) > 0)
			violation(ret,
				  "vnode %u: checkpoint epoch %u newer than ownership epoch %u", id,
				  ckpt_epoch(c), own_epoch(w));
		if (own_state(w) == PF_VNODE_PENDING) {
			ret->vnodes_pending++;
		} else if (own_is_owned(w)) {
			ret->vnodes_owned++;
			check_owner(d, id, w, ret);
		} else {
			violation(ret, "vnode %u: bad ownership word %#llx", id,
				  (unsigned long long)w);
		}
	}
}

static void check_checkpoints(struct pf_domain *d, struct invariants_report *ret)
{
	size_t cap = d->lim.state_bytes_max;
	unsigned char *buf = malloc(cap);
	char why[160];

	if (buf == NULL) {
		violation(ret, "no memory for a checkpoint buffer");
		return;
	}
	for (uint32_t id = 0; id < d->lim.vnodes_max; id++) {
		size_t len = 0;
		uint64_t seq = 0;
		int r = -EBUSY;

		for (int i = 0; i < CKPT_READ_TRIES && r == -EBUSY; i++)
			r = pf_checkpoint_read(d, id, buf, cap, &len, &seq);
		if (r == -ENOENT)
			continue;
		if (r < 0) {
			violation(ret, "torn checkpoint: vnode %u read returns %d", id, r);
			continue;
		}
		ret->checkpoints++;
		why[0] = '\0';
		if (ret->state_check != NULL &&
		    ret->state_check(ret->state_arg, id, buf, len, why, sizeof(why)) < 0)
			violation(ret, "torn checkpoint: vnode %u seq %llu: %s", id,
				  (unsigned long long)seq, why);
	}
	free(buf);
}

/* 1 when member `who` (hold_member(slot, gen)) was attached to that generation when the
 * attach words were read: its handle lived, or its process was gone and the reclaim had
 * not run yet. */
static int holder_attached(const struct pf_domain *d, const uint64_t *attached, uint32_t who)
{
	uint32_t slot = who & OWN_SLOT_MASK;
	uint64_t a = slot < d->lim.members_max ? attached[slot] : 0;

	return a != 0 && hold_member(slot, (uint32_t)(a >> 32)) == who;
}

/* 1 when some slot was attached to a member whose process is gone: a reclaim, which also
 * frees published buffers nobody names, is still due. */
static int reclaim_due(struct pf_domain *d, const uint64_t *attached)
{
	for (uint32_t slot = 0; slot < d->lim.members_max; slot++) {
		uint64_t a = attached[slot];

		/* Relaxed: the domain is quiescent. */
		if (a != 0 &&
		    !invariants_process_alive((int)(uint32_t)a,
					      pf_load_relaxed(&d->members[slot].attach_start)))
			return 1;
	}
	return 0;
}

/*
 * Checkpoint buffers (core/checkpoint.c): no buffer named by two descriptors; a named one
 * is PUB for its VNode or HELD by an attached member (its publisher, which has not let go
 * yet); every other buffer is FREE, or HELD by an attached member (the next commit's
 * buffer of one of its handles, or a fenced handle's), or PUB while a reclaim is due:
 * none is lost.
 *
 * Quiescent is no member at work; the supervisors go on (their threads do not pause), and
 * a sweep may reclaim a gone member's slot while we look: it settles the member's buffers
 * first and clears the attach word last (core/member.c). So the attach words are read
 * first, all of them: a buffer HELD by a generation its slot was no longer attached to
 * then is lost, while one read HELD before a reclaim that clears the word before we look
 * at it is not.
 */
static void check_buffers(struct pf_domain *d, struct invariants_report *ret)
{
	uint32_t *named_by = malloc((size_t)d->lim.ckpt_bufs * sizeof(*named_by));
	uint64_t *attached = malloc((size_t)d->lim.members_max * sizeof(*attached));
	int due;

	if (named_by == NULL || attached == NULL) {
		violation(ret, "no memory for the buffer check");
		free(named_by);
		free(attached);
		return;
	}
	for (uint32_t slot = 0; slot < d->lim.members_max; slot++)
		/* Acquire, pairs with the release that clears it (member_reclaim(), detach()):
		 * the buffers its generation held are settled before we read a cleared word. */
		attached[slot] = pf_load_acquire(&d->members[slot].attached);
	due = reclaim_due(d, attached);
	for (uint32_t b = 0; b < d->lim.ckpt_bufs; b++)
		named_by[b] = UINT32_MAX;
	for (uint32_t id = 0; id < d->lim.vnodes_max; id++) {
		/* Relaxed: the domain is quiescent. */
		uint32_t b = ckpt_buf(pf_load_relaxed(&d->vnodes[id].ckpt));

		if (b >= d->lim.ckpt_bufs)
			continue;
		if (named_by[b] != UINT32_MAX)
			violation(ret, "buffer %u named by vnodes %u and %u", b, named_by[b], id);
		named_by[b] = id;
	}
	for (uint32_t b = 0; b < d->lim.ckpt_bufs; b++) {
		/* Relaxed: the domain is quiescent. */
		uint64_t h = pf_load_relaxed(&d->ckpt_hold[b]);
		uint32_t st = hold_state(h);

		if (st != HOLD_FREE && st != HOLD_HELD && st != HOLD_PUB)
			violation(ret, "buffer %u: bad holder %#llx", b, (unsigned long long)h);
		else if (named_by[b] != UINT32_MAX && st == HOLD_FREE)
			violation(ret, "buffer %u named by vnode %u is free", b, named_by[b]);
		else if (named_by[b] != UINT32_MAX && st == HOLD_PUB && hold_who(h) != named_by[b])
			violation(ret, "buffer %u named by vnode %u is published for %u", b,
				  named_by[b], hold_who(h));
		else if (st == HOLD_HELD && !holder_attached(d, attached, hold_who(h)))
			violation(ret, "buffer %u lost: held by %#x, a member no longer attached",
				  b, hold_who(h));
		else if (named_by[b] == UINT32_MAX && st == HOLD_PUB && !due)
			violation(ret, "buffer %u lost: published for vnode %u, named by none", b,
				  hold_who(h));
	}
	free(named_by);
	free(attached);
}

/* Every inbox slot's position (lap * slots + index) lies in [head, head + 2 * slots):
 * head may lag the freed slots by up to one ring when a freer died mid-way. */
static void check_inboxes(struct pf_domain *d, struct invariants_report *ret)
{
	uint32_t n = d->lim.inbox_slots;

	for (uint32_t id = 0; id < d->lim.vnodes_max; id++) {
		/* Relaxed: a quiescent domain; nobody moves head now. */
		uint64_t head = pf_load_relaxed(&d->vnodes[id].inbox_head);

		for (uint32_t i = 0; i < n; i++) {
			/* Relaxed: as above. */
			uint64_t w = pf_load_relaxed(&inbox_slot(d, id, i)->word);
			uint64_t pos = ((uint64_t)inbox_lap(w) << d->lim.inbox_order) + i;

			if (inbox_st(w) == INBOX_WRITING)
				ret->inbox_writing++;
			if (w == 0)
				continue; /* never used */
			if (pos - head >= 2 * (uint64_t)n)
				violation(
					ret,
					"stuck inbox: vnode %u slot %u at position %llu, head %llu",
					id, i, (unsigned long long)pos, (unsigned long long)head);
		}
	}
}

/* The pending ring validates, and still accepts and yields an entry. */
static void check_pending(struct pf_domain *d, struct invariants_report *ret)
{
	uint32_t value;
	int r = ring_mpmc_check(&d->pending);

	if (r < 0) {
		violation(ret, "pending ring fails its check: %d", r);
		return;
	}
	ret->pending_queued = ring_mpmc_count(&d->pending);
	if (ret->vnodes_defined == 0)
		return;
	/* A duplicate of VNode 0's entry: claimers drop it if 0 is not PENDING. */
	r = ring_mpmc_try_enqueue(&d->pending, 0, NULL);
	if (r < 0 && ret->pending_queued < ring_mpmc_capacity(&d->pending)) {
		violation(ret, "stuck ring: enqueue refused (%d) with %u of %u queued", r,
			  ret->pending_queued, ring_mpmc_capacity(&d->pending));
		return;
	}
	if (ring_mpmc_try_dequeue(&d->pending, &value) < 0) {
		violation(ret, "stuck ring: dequeue finds nothing after an enqueue");
		return;
	}
	if (value >= d->lim.vnodes_max)
		violation(ret, "pending ring holds an out-of-range id %u", value);
	else if (ring_mpmc_try_enqueue(&d->pending, value, NULL) < 0)
		violation(ret, "stuck ring: cannot put back the entry just taken");
}

/* Invariant 7, what a quiescent domain lets us check of the membership counters without
 * knowing what happened to it: every death repaired, no more leaves than joins. (The
 * members_active count and slots_freed are read off the member table by the same loop
 * that would check them, so there is nothing to compare them with here.) */
static void check_counters(struct pf_domain *d, struct invariants_report *ret)
{
	uint64_t v[PF_COUNTER_COUNT];

	if (pf_domain_counters(d, v, PF_COUNTER_COUNT) != PF_COUNTER_COUNT) {
		violation(ret, "counters unreadable");
		return;
	}
	if (v[PF_COUNTER_REPAIRS] != v[PF_COUNTER_DEATHS] + v[PF_COUNTER_HUNG])
		violation(ret, "repairs %llu, deaths %llu + hung %llu",
			  (unsigned long long)v[PF_COUNTER_REPAIRS],
			  (unsigned long long)v[PF_COUNTER_DEATHS],
			  (unsigned long long)v[PF_COUNTER_HUNG]);
	if (v[PF_COUNTER_JOINS] < v[PF_COUNTER_LEAVES] + ret->members_live)
		violation(ret, "joins %llu < leaves %llu + live %u",
			  (unsigned long long)v[PF_COUNTER_JOINS],
			  (unsigned long long)v[PF_COUNTER_LEAVES], ret->members_live);
}

int invariants_check(struct pf_domain *d, struct invariants_report *ret)
{
	if (d == NULL || ret == NULL)
		return -EINVAL;
	memset(&ret->vnodes_defined, 0,
	       sizeof(*ret) - offsetof(struct invariants_report, vnodes_defined));
	check_members(d, ret);
	check_vnodes(d, ret);
	check_checkpoints(d, ret);
	check_buffers(d, ret);
	check_inboxes(d, ret);
	check_pending(d, ret);
	check_counters(d, ret);
	return ret->violations == 0 ? 0 : -EPROTO;
}
