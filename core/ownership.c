/* SPDX-License-Identifier: MIT */
/*
 * core/ownership.c: the only writer of a VNode's ownership word and of its checkpoint
 * descriptor (invariant 1 of ARCHITECTURE.md: at most one owner at any instant, and every
 * change of owner raises the epoch, the fencing token). Everyone else reads the words and
 * calls the named transitions below; tools/lint/owner_words.py fails the build if another
 * file stores to either word.
 *
 * Ownership word (core/layout.h): [63:32] epoch [31:16] owner generation (low 16 bits)
 * [15:4] owner slot [3:0] enum pf_vnode_state. Every transition is one CAS from the exact
 * word the caller observed, so two transitions from the same word never both happen:
 *
 *   transition  from                 to                      by
 *   define      UNASSIGNED(e)        PENDING(e)              pf_vnode_define* (control lock)
 *   place       PENDING(e)           ACTIVE(m, e + 1)        a claim (m itself), a placer
 *   hand-off    ACTIVE(o, e)         ACTIVE(t, e + 1)        the owner o, on a move request
 *   release     ACTIVE(o, e)         PENDING(e + 1)          o (release, give back), a
 *                                                            repair (o dead), an undo
 *   leave       ACTIVE(o, e)         LEAVING(h, e + 1)       the host's daemon, moving it
 *               PENDING(e)                                   to host h (o is fenced)
 *   stay        LEAVING(h, e)        PENDING(e + 1)          the daemon: the move failed
 *   left        LEAVING(h, e)        REMOTE(h, e2), e2 > e   the daemon: h took it at e2
 *   arrive      UNASSIGNED(e0)       ARRIVING(h, e), e > e0  the daemon, installing what
 *               REMOTE(h', e0)                               host h sent
 *   arrived     ARRIVING(h, e)       PENDING(e)              the daemon: installed
 *   unarrive    ARRIVING(h, e)       REMOTE(h, e)            the daemon: h kept it
 *
 * No member owns a VNode between hosts (own_is_owned() is false, the slot field names the
 * host): no claim, placement, repair or drain takes it, and a repair of a dead member
 * never returns a VNode that is ARRIVING to PENDING, where it would have two owners, one
 * per host. Only the daemon moves these, under the protocol of core/transit.c.
 *
 * After its CAS each transition that raises the epoch seals it into the checkpoint
 * descriptor ([R11]): a commit publishes with a CAS that expects its own epoch in the
 * descriptor ([R12] in own_ckpt_publish()), so once the seal is in, every commit of an
 * older owner fails, however long it was stalled. A new owner loads only after its seal
 * (the place and hand-off transitions seal before they return, and the adopter seals
 * again, idempotently), so it never loads while an older commit may still publish.
 *
 * Checkpoint descriptor: [63:32] epoch [31:22] sequence tag [21:0] buffer. Writers: the
 * seal (any transition above, raising the epoch only) and own_ckpt_publish() (the owner's
 * commit: same epoch, the buffer it wrote, sequence + 1). Readers: loaders, with acquire
 * ([A12]). Which buffers a writer may write is core/checkpoint.c's protocol.
 *
 * A placement made on a member's behalf is re-checked after its CAS: a death declared in
 * between may already have had its repair scan pass this VNode, so if the member is no
 * longer ACTIVE with its generation (or its assignment ring is full) the placement is
 * undone here, exactly as a hand-off to a target that died.
 *
 * Every write an owner that lost its VNode may still make, stalled anywhere, and why none
 * reaches a reader (tests/unit/core/test_core_fence.c stalls each one):
 *   checkpoint bytes   only into a buffer its handle holds, never named by a descriptor
 *                      (core/checkpoint.c); its publish expects its epoch and fails
 *   inbox frees        a CAS per slot from the exact word read (lap and state), so a slot
 *                      the next owner freed and a sender refilled is left alone; the freed
 *                      position (inbox_head) only moves forward, and only to a position its
 *                      published checkpoint had consumed (a refused commit frees nothing,
 *                      a claim frees nothing, a load only what the state it verified had)
 *   receive            reads only; its skip of a stalled sender's slot is a CAS that a
 *                      live owner would make too (the sender sends again)
 *   release, hand-off  the transitions above: one CAS from the exact word it owned
 *   move request       it clears only the request for its own epoch (CAS from that value)
 *   its member record  heartbeats and statistics: the slot is not given to another
 *                      member while its handle lives (core/member.c, the attach word)
 *   assignment rings   a placer that resumes late pushes ids whose epoch is gone: the
 *                      adopter checks the ownership word and adopts each epoch once
 *
 * Progress: every transition is a bounded sequence of CASes and at most one ring push
 * (lock-free); the seal retries only while newer epochs race it, and stops as soon as the
 * descriptor holds an epoch at least as new as its own.
 */
#include <errno.h>

#include "core/member_impl.h"
#include "core/ownership.h"
#include "shm/fault.h"
#include "shm/pf_assert.h"

void own_init(struct pf_domain *d)
{
	/* Relaxed: nobody can attach before the domain's header is published. */
	for (uint32_t i = 0; i < d->lim.vnodes_max; i++)
		pf_store_relaxed(&d->vnodes[i].ckpt, ckpt_word(0, 0, CKPT_BUF_NONE));
}

int own_define(struct pf_domain *d, uint32_t id, uint64_t w)
{
	PF_ASSERT(id < d->lim.vnodes_max);
	PF_ASSERT(own_state(w) == PF_VNODE_UNASSIGNED);
	/* [R10] pairs with [A10] in the placers and claimers: the requirements written
	 * before are visible once the VNode is seen PENDING. */
	if (!pf_cas_acq_rel(&d->own[id], &w, own_word(PF_VNODE_PENDING, 0, 0, own_epoch(w))))
		return -EEXIST;
	return 0;
}

uint64_t own_seal(struct pf_domain *d, uint32_t id, uint32_t epoch)
{
	_Atomic uint64_t *word;
	uint64_t c;

	PF_ASSERT(id < d->lim.vnodes_max);
	word = &d->vnodes[id].ckpt;
	/* [A11] pairs with [R11] below and [R12] in own_ckpt_publish(). */
	c = pf_load_acquire(word);
	for (;;) {
		uint64_t sealed = ckpt_word(epoch, ckpt_tag(c), ckpt_buf(c));

		if ((int32_t)(ckpt_epoch(c) - epoch) >= 0)
			return c;
		/* [R11] pairs with [A11] and [A12] in own_ckpt_publish(): from here on a
		 * publish that expects an older epoch fails. */
		if (pf_cas_acq_rel(word, &c, sealed))
			return sealed;
	}
}

int own_ckpt_publish(struct pf_domain *d, uint32_t id, uint64_t *expected, uint64_t next)
{
	PF_ASSERT(id < d->lim.vnodes_max);
	PF_ASSERT(ckpt_epoch(next) == ckpt_epoch(*expected));
	/* [R12] pairs with [A12] in the loaders (checkpoint.c): the header and bytes of the
	 * buffer are complete before the descriptor names it. */
	return pf_cas_release(&d->vnodes[id].ckpt, expected, next) ? 1 : 0;
}

int own_place(struct pf_domain *d, uint32_t id, uint64_t w, uint32_t slot, uint32_t gen,
	      uint64_t *ret_ckpt)
{
	uint32_t epoch = own_epoch(w) + 1;

	PF_ASSERT(id < d->lim.vnodes_max && slot < d->lim.members_max);
	PF_ASSERT(own_state(w) == PF_VNODE_PENDING);
	/* [R10] pairs with [A10] in the next transition and in pf_vnode_adopt(): ownership
	 * moves with the epoch; acq_rel so the previous owner's last commit is visible to the
	 * new one. */
	if (!pf_cas_acq_rel(&d->own[id], &w, own_word(PF_VNODE_ACTIVE, slot, gen, epoch))) {
		counter_add(d, PF_COUNTER_CLAIM_RACES, 1);
		return -EAGAIN;
	}
	PF_FAULT_POINT(CLAIM_AFTER_CAS);
	*ret_ckpt = own_seal(d, id, epoch);
	PF_FAULT_POINT(CLAIM_AFTER_SEAL);
	/* pending_pos is left as it is: the adoption mark names its epoch (pf_vnode_adopt()),
	 * and a store here, late, could erase the mark of an adoption done meanwhile. */
	return 0;
}

uint32_t own_release(struct pf_domain *d, uint32_t id, uint64_t w, uint32_t flags)
{
	uint32_t epoch = own_epoch(w) + 1;

	PF_ASSERT(id < d->lim.vnodes_max);
	PF_ASSERT((flags & ~OWN_RELEASE_PUBLISH) == 0);
	/* [R10] pairs with [A10] in the next placement: back to PENDING, epoch + 1; the
	 * releasing owner's commits precede the next owner's load. */
	if (!own_is_owned(w) ||
	    !pf_cas_acq_rel(&d->own[id], &w, own_word(PF_VNODE_PENDING, 0, 0, epoch)))
		return 0;
	PF_FAULT_POINT(RELEASE_AFTER_CAS);
	(void)own_seal(d, id, epoch);
	(void)pending_push(d, id, (flags & OWN_RELEASE_PUBLISH) != 0);
	return 1;
}

/* 1 when member (slot, gen) is ACTIVE and its assignment ring took id. */
static int deliver(struct pf_domain *d, uint32_t id, uint32_t slot, uint32_t gen)
{
	uint64_t st;

	/* [F43] seq_cst fence: our ownership CAS (store) before the load of the member's state
	 * (Dekker); pairs with [F43] in leave_retire() (member.c) and declare_dead()
	 * (supervisor.c), which store the state, then scan the ownership words: either we see
	 * the member gone and undo, or its scan sees our placement and returns it. */
	pf_fence_seq_cst();
	/* [A5] pairs with [R5] in member.c and supervisor.c: a death declared since the
	 * caller's look must not keep the VNode (its repair scan may have passed already). */
	st = pf_load_acquire(&d->members[slot].state);

	if (member_word_state(st) != PF_MEMBER_ACTIVE ||
	    (member_word_gen(st) & OWN_GEN_MASK) != (gen & OWN_GEN_MASK) ||
	    ring_mpmc_try_enqueue(assign_ring(d, slot), id, NULL) < 0)
		return 0;
	member_wake(d, slot); /* it may be waiting for work (core/wait.c) */
	return 1;
}

int own_place_for(struct pf_domain *d, uint32_t id, uint64_t w, uint32_t slot, uint32_t gen,
		  uint32_t *ret_epoch)
{
	uint64_t owned = own_word(PF_VNODE_ACTIVE, slot, gen, own_epoch(w) + 1), c;

	PF_ASSERT(slot < d->lim.members_max && ret_epoch != NULL);
	if (own_place(d, id, w, slot, gen, &c) < 0)
		return -EBUSY;
	if (deliver(d, id, slot, gen)) {
		*ret_epoch = own_epoch(owned); /* any of 2^32: never folded into the return */
		return 0;
	}
	(void)own_release(d, id, owned, OWN_RELEASE_PUBLISH); /* undo */
	return -EBUSY;
}

int own_redeliver(struct pf_domain *d, uint32_t id, uint64_t w)
{
	PF_ASSERT(id < d->lim.vnodes_max && own_is_owned(w));
	return deliver(d, id, own_slot(w), own_gen(w));
}

int own_handoff(struct pf_domain *d, uint32_t id, uint64_t w, uint32_t slot, uint32_t gen)
{
	uint32_t epoch = own_epoch(w) + 1;
	uint64_t moved = own_word(PF_VNODE_ACTIVE, slot, gen, epoch);

	PF_ASSERT(id < d->lim.vnodes_max && slot < d->lim.members_max);
	PF_ASSERT(own_is_owned(w));
	/* [R10] pairs with [A10] in pf_vnode_adopt(): the owner's commits, and the inbox
	 * frees they did, precede the target's view of the VNode; acq_rel as in a place. */
	if (!pf_cas_acq_rel(&d->own[id], &w, moved))
		return -ESTALE;
	(void)own_seal(d, id, epoch);
	if (deliver(d, id, slot, gen))
		return 0;
	(void)own_release(d, id, moved, OWN_RELEASE_PUBLISH); /* the target went away */
	return 1;
}

/* One CAS from w to next; for the transitions between hosts. */
static int own_cas(struct pf_domain *d, uint32_t id, uint64_t w, uint64_t next)
{
	PF_ASSERT(id < d->lim.vnodes_max);
	/* [R10] pairs with [A10] in the next transition and in the placers: acq_rel so the
	 * fenced owner's last commit (and the arrival's install) is visible after. */
	return pf_cas_acq_rel(&d->own[id], &w, next) ? 0 : -EAGAIN;
}

int own_leave(struct pf_domain *d, uint32_t id, uint64_t w, uint32_t host)
{
	uint32_t epoch = own_epoch(w) + 1;

	PF_ASSERT(own_is_owned(w) || own_state(w) == PF_VNODE_PENDING);
	PF_ASSERT(host <= OWN_HOST_UNKNOWN);
	if (own_cas(d, id, w, own_word(PF_VNODE_LEAVING, host, 0, epoch)) < 0)
		return -EAGAIN;
	(void)own_seal(d, id, epoch); /* the owner's commits are refused from here on */
	return 0;
}

int own_stay(struct pf_domain *d, uint32_t id, uint64_t w)
{
	uint32_t epoch = own_epoch(w) + 1;

	PF_ASSERT(own_state(w) == PF_VNODE_LEAVING);
	if (own_cas(d, id, w, own_word(PF_VNODE_PENDING, 0, 0, epoch)) < 0)
		return -EAGAIN;
	(void)own_seal(d, id, epoch);
	(void)pending_push(d, id, 1);
	return 0;
}

int own_left(struct pf_domain *d, uint32_t id, uint64_t w, uint32_t remote_epoch)
{
	PF_ASSERT(own_state(w) == PF_VNODE_LEAVING);
	PF_ASSERT((int32_t)(remote_epoch - own_epoch(w)) > 0);
	if (own_cas(d, id, w, own_word(PF_VNODE_REMOTE, own_slot(w), 0, remote_epoch)) < 0)
		return -EAGAIN;
	(void)own_seal(d, id, remote_epoch);
	return 0;
}

int own_arrive(struct pf_domain *d, uint32_t id, uint64_t w, uint32_t host, uint32_t epoch)
{
	PF_ASSERT(own_state(w) == PF_VNODE_UNASSIGNED || own_state(w) == PF_VNODE_REMOTE);
	PF_ASSERT((int32_t)(epoch - own_epoch(w)) > 0 && host <= OWN_HOST_UNKNOWN);
	if (own_cas(d, id, w, own_word(PF_VNODE_ARRIVING, host, 0, epoch)) < 0)
		return -EAGAIN;
	(void)own_seal(d, id, epoch); /* the install publishes at this epoch */
	return 0;
}

int own_arrived(struct pf_domain *d, uint32_t id, uint64_t w)
{
	PF_ASSERT(own_state(w) == PF_VNODE_ARRIVING);
	if (own_cas(d, id, w, own_word(PF_VNODE_PENDING, 0, 0, own_epoch(w))) < 0)
		return -EAGAIN;
	(void)pending_push(d, id, 1);
	return 0;
}

int own_unarrive(struct pf_domain *d, uint32_t id, uint64_t w)
{
	PF_ASSERT(own_state(w) == PF_VNODE_ARRIVING);
	return own_cas(d, id, w, own_word(PF_VNODE_REMOTE, own_slot(w), 0, own_epoch(w)));
}
