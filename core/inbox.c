/* SPDX-License-Identifier: MIT */
/*
 * core/inbox.c: messages addressed to VNodes (pf_send, pf_recv) and their release.
 *
 * Each VNode has a ring of inbox_slots fixed-size slots; a slot is one 64-bit word
 * [lap | length | state] followed by the message bytes. Positions grow without bound;
 * position p lives in slot p mod inbox_slots at lap p / inbox_slots.
 *
 * Ownership     field         written by                 read by
 *               slot word     senders (EMPTY->WRITING->FULL), owner (WRITING->SKIP,
 *                             FULL/SKIP->EMPTY of the next lap)       everyone
 *               slot bytes    the sender holding WRITING             owner, after FULL
 *               inbox_tail    hint, helped forward by senders        senders, owner
 *               inbox_head    owner (CAS-max)                        tools, new owner
 *
 * Ordering edges
 *   [R14] sender's CAS WRITING->FULL (release) -> [A14] owner's load of the word: the
 *         bytes copied before are visible to the owner's copy after.
 *   [R13] owner's CAS FULL/SKIP->EMPTY(lap+1) (release) -> [A13] sender's load and CAS
 *         of EMPTY: the owner's copy out is complete before a sender overwrites.
 *
 * Progress: lock-free. Claiming a slot is a CAS on its word, so senders never wait for
 * each other. A sender stopped (preempted or killed) between WRITING and FULL blocks
 * nobody: when later messages queue behind it, the owner waits a few microseconds,
 * then CASes its slot to SKIP; a live sender then sees its publishing CAS fail and sends
 * again at a new position. A killed sender loses only its own unsent message, which it
 * never reported as sent.
 *
 * Delivery: slots are freed only when the owner commits a checkpoint taken after reading
 * them (checkpoint.c), so a new owner re-reads everything the old one had not
 * checkpointed. Freeing is a CAS per slot, so a fenced-out old owner that frees late
 * fails instead of destroying a newer message.
 */
#include <errno.h>
#include <string.h>

#include "core/member_impl.h"
#include "shm/fault.h"
#include "shm/pf_assert.h"

#define RECV_SPIN_MAX 2000 /* polls of a WRITING slot before skipping it (a few us) */

static unsigned char *slot_bytes(struct dom_inbox_slot *s)
{
	return (unsigned char *)(s + 1);
}

static uint32_t lap_of(const struct pf_domain *d, uint64_t pos)
{
	return (uint32_t)(pos >> d->lim.inbox_order);
}

PF_API int pf_send(struct pf_domain *d, uint32_t id, const void *bytes, size_t len)
{
	struct dom_vnode *v;

	if (d == NULL || id >= d->lim.vnodes_max || (bytes == NULL && len > 0))
		return -EINVAL;
	if (len > d->lim.msg_bytes_max)
		return -EMSGSIZE;
	/* Relaxed: existence only; a VNode once defined never becomes UNASSIGNED again. */
	if (own_state(pf_load_relaxed(&d->own[id])) == PF_VNODE_UNASSIGNED)
		return -ENOENT;
	v = &d->vnodes[id];
	for (;;) {
		/* Relaxed: a hint; every decision below is made on the slot word. */
		uint64_t t = pf_load_relaxed(&v->inbox_tail);
		struct dom_inbox_slot *s = inbox_slot(d, id, t);
		uint32_t lap = lap_of(d, t);
		/* [A13] pairs with [R13] in inbox_free_upto(): the owner is done with the slot. */
		uint64_t w = pf_load_acquire(&s->word);
		int32_t ahead = (int32_t)(inbox_lap(w) - lap);

		if (ahead == 0 && inbox_st(w) == INBOX_EMPTY) {
			uint64_t writing = inbox_word(lap, 0, INBOX_WRITING);

			/* [A13] pairs with [R13]: the claim of the slot. */
			if (!pf_cas_acq_rel(&s->word, &w, writing))
				continue;
			PF_FAULT_POINT(SEND_AFTER_CLAIM);
			/* Relaxed: a hint; failure means someone helped already. */
			(void)pf_cas_relaxed(&v->inbox_tail, &t, t + 1);
			memcpy(slot_bytes(s), bytes, len / 2);
			PF_FAULT_POINT(SEND_MID_COPY);
			memcpy(slot_bytes(s) + len / 2, (const unsigned char *)bytes + len / 2,
			       len - len / 2);
			PF_FAULT_POINT(SEND_BEFORE_PUBLISH);
			/* [R14] pairs with [A14] in pf_recv(): the bytes above come first. */
			if (pf_cas_release(&s->word, &writing, inbox_word(lap, (uint32_t)len, INBOX_FULL)))
				return 0;
			counter_add(d, PF_COUNTER_INBOX_SKIPS, 1); /* skipped: send again */
			continue;
		}
		if (ahead == 0) {
			/* Taken at this lap: help the hint past it. Relaxed: a hint. */
			(void)pf_cas_relaxed(&v->inbox_tail, &t, t + 1);
			continue;
		}
		if (ahead < 0) {
			counter_add(d, PF_COUNTER_INBOX_FULL, 1);
			return -EAGAIN; /* the previous lap is not freed: full */
		}
		/* ahead > 0: our hint was stale; reload. */
	}
}

/* 1 if the slot at pos + 1 holds (or held) a message: someone queues behind pos. */
static int queued_behind(struct pf_domain *d, uint32_t id, uint64_t pos)
{
	/* [A14] pairs with [R14] in pf_send(). */
	uint64_t w = pf_load_acquire(&inbox_slot(d, id, pos + 1)->word);

	return inbox_lap(w) == lap_of(d, pos + 1) && inbox_st(w) != INBOX_EMPTY;
}

static int owner_check(struct pf_vnode *h)
{
	struct pf_member *m = h->member;
	/* [A10] pairs with [R10] in vnode.c: a repair that took the VNode is seen. */
	uint64_t w = pf_load_acquire(&m->d->own[h->id]);

	return own_is_owned(w) && own_slot(w) == m->slot &&
	       own_gen(w) == (m->gen & OWN_GEN_MASK) && own_epoch(w) == h->epoch;
}

/* Wait briefly for a WRITING slot; skip it if messages queue behind it. 1: move on. */
static int writing_resolve(struct pf_domain *d, uint32_t id, uint64_t pos, uint64_t w)
{
	struct dom_inbox_slot *s = inbox_slot(d, id, pos);

	for (int i = 0; i < RECV_SPIN_MAX; i++) {
		/* Relaxed: a spin; the caller re-reads with acquire. */
		if (pf_load_relaxed(&s->word) != w)
			return 0;
		pf_cpu_relax();
	}
	if (!queued_behind(d, id, pos))
		return -EAGAIN;
	/* [R13] pairs with [A13] in pf_send(): the sender's publish CAS now fails. */
	if (pf_cas_acq_rel(&s->word, &w, inbox_word(inbox_lap(w), 0, INBOX_SKIP)))
		counter_add(d, PF_COUNTER_INBOX_SKIPS, 1);
	return 0;
}

PF_API int pf_recv(struct pf_vnode *h, void *buf, size_t cap, size_t *ret_len)
{
	struct pf_domain *d;

	if (h == NULL || ret_len == NULL || (buf == NULL && cap > 0))
		return -EINVAL;
	d = h->member->d;
	if (!owner_check(h))
		return -ESTALE;
	for (uint32_t i = 0; i <= d->lim.inbox_slots; i++) {
		uint64_t pos = h->cursor;
		struct dom_inbox_slot *s = inbox_slot(d, h->id, pos);
		/* [A14] pairs with [R14] in pf_send(): the message bytes are complete. */
		uint64_t w = pf_load_acquire(&s->word);
		uint32_t len;
		int r;

		if ((int32_t)(inbox_lap(w) - lap_of(d, pos)) < 0)
			return -EAGAIN; /* the slot still holds a message we read, not yet freed */
		if (inbox_lap(w) != lap_of(d, pos)) {
			counter_add(d, PF_COUNTER_SHM_INVALID, 1);
			return -EBADMSG; /* our cursor and the ring disagree */
		}
		switch (inbox_st(w)) {
		case INBOX_EMPTY:
			return -EAGAIN;
		case INBOX_SKIP:
			h->cursor++;
			continue;
		case INBOX_WRITING:
			r = writing_resolve(d, h->id, pos, w);
			if (r < 0)
				return r;
			continue;
		default:
			break;
		}
		len = inbox_len(w);
		if (len > d->lim.msg_bytes_max) {
			counter_add(d, PF_COUNTER_SHM_INVALID, 1);
			h->cursor++;
			return -EBADMSG;
		}
		*ret_len = len;
		if (len > cap)
			return -ENOBUFS;
		memcpy(buf, slot_bytes(s), len);
		PF_FAULT_POINT(RECV_MID_COPY);
		h->cursor++;
		/* Relaxed: only writer; a statistic. */
		pf_fetch_add_relaxed(&h->member->rec->received, 1);
		return 0;
	}
	return -EAGAIN;
}

void inbox_free_upto(struct pf_domain *d, uint32_t id, uint64_t upto)
{
	struct dom_vnode *v = &d->vnodes[id];
	/* Relaxed: a starting point; each slot's own word decides below. */
	uint64_t head = pf_load_relaxed(&v->inbox_head);

	if (upto - head > d->lim.inbox_slots || upto == head)
		return; /* nothing to free, or a position that cannot be ours */
	for (uint64_t p = head; p != upto; p++) {
		struct dom_inbox_slot *s = inbox_slot(d, id, p);
		uint32_t lap = lap_of(d, p);
		/* Relaxed: re-validated by the CAS. */
		uint64_t w = pf_load_relaxed(&s->word);

		if (inbox_lap(w) != lap || (inbox_st(w) != INBOX_FULL && inbox_st(w) != INBOX_SKIP))
			continue; /* freed already, or not ours to free */
		/* [R13] pairs with [A13] in pf_send(): our reads of it are done. */
		(void)pf_cas_release(&s->word, &w, inbox_word(lap + 1, 0, INBOX_EMPTY));
		PF_FAULT_POINT(CKPT_MID_FREE);
	}
	while ((int64_t)(upto - head) > 0) {
		/* Relaxed: head is a hint for tools and the next owner; CAS-max. */
		if (pf_cas_relaxed(&v->inbox_head, &head, upto))
			break;
	}
}
