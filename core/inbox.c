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
 * A skipped slot is not reusable while its sender may still copy into it: the claim
 * puts the sender's pid in the word (WRITING(lap, pid)), the skip keeps it
 * (SKIP(lap, pid)), and the sender, once its publishing CAS has failed and its copy is
 * over, clears it (SKIP(lap, 0), [R15]). The owner frees a SKIP slot only when its pid
 * is 0 or names no live process; otherwise freeing stops there (head stays at it, since
 * freeing is in order) and is retried on the owner's next empty receive or commit. So a
 * stalled sender never writes into a slot that carries another sender's message. (A pid
 * recycled by the kernel in the meantime only delays that slot's reuse.)
 *
 * Delivery: slots are freed only when the owner commits a checkpoint taken after reading
 * them (checkpoint.c), so a new owner re-reads everything the old one had not
 * checkpointed. Freeing is a CAS per slot, so a fenced-out old owner that frees late
 * fails instead of destroying a newer message.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>

#include "core/member_impl.h"
#include "pflight/transit.h"
#include "shm/fault.h"
#include "shm/pf_assert.h"

#define RECV_SPIN_MAX 2000             /* polls of a WRITING slot before skipping it (a few us) */
#define WRITER_PID_MASK INBOX_LEN_MASK /* pids fit: Linux caps pid_max at 2^22 */
_Static_assert(INBOX_LEN_MASK >= (1u << 22) - 1, "a pid must fit the slot word");

static unsigned char *slot_bytes(struct dom_inbox_slot *s)
{
	return (unsigned char *)(s + 1);
}

static uint32_t lap_of(const struct pf_domain *d, uint64_t pos)
{
	return (uint32_t)(pos >> d->lim.inbox_order);
}

/* The message is in: ring the owner's bell if it waits (core/wait.c). */
static void wake_owner(struct pf_domain *d, uint32_t id)
{
	/* [F42] seq_cst load after our seq_cst publishing CAS (store then load, Dekker): the
	 * owner the word names now, not one from before our publish; pairs with [F41] in
	 * wait_register() (core/wait.c). No extra instruction on x86. A stale owner only gets a
	 * spurious ring; a slot past the table is refused by member_wake_sent(). */
	uint64_t w = pf_load_seq_cst(&d->own[id]);

	if (own_is_owned(w))
		member_wake_sent(d, own_slot(w));
}

/* Fill a claimed slot (position t): with ret_pos, its tag and where it is first. */
static void copy_in(struct dom_inbox_slot *s, const void *bytes, size_t len, uint64_t t,
		    uint64_t tag, uint64_t *ret_pos)
{
	PF_FAULT_POINT(SEND_AFTER_CLAIM);
	if (ret_pos != NULL) {
		/* Relaxed: ordered before the publish by [R14]'s release below. */
		pf_store_relaxed(&s->tag, tag);
		*ret_pos = t;
	}
	memcpy(slot_bytes(s), bytes, len / 2);
	PF_FAULT_POINT(SEND_MID_COPY);
	memcpy(slot_bytes(s) + len / 2, (const unsigned char *)bytes + len / 2, len - len / 2);
	PF_FAULT_POINT(SEND_BEFORE_PUBLISH);
}

/* pf_send(); with ret_pos, also stamp the slot with tag and store its position at *ret_pos
 * once claimed, both before the publish (pf_transit_send()). */
static int send_one(struct pf_domain *d, uint32_t id, const void *bytes, size_t len, uint64_t tag,
		    uint64_t *ret_pos)
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
		/* [A13] pairs with [R13] in free_one(): the owner is done with the slot. */
		uint64_t w = pf_load_acquire(&s->word);
		int32_t ahead = (int32_t)(inbox_lap(w) - lap);

		if (ahead == 0 && inbox_st(w) == INBOX_EMPTY) {
			uint32_t pid = (uint32_t)d->self_pid & WRITER_PID_MASK;
			uint64_t writing = inbox_word(lap, pid, INBOX_WRITING);

			/* [A13] pairs with [R13]: the claim of the slot. */
			if (!pf_cas_acq_rel(&s->word, &w, writing))
				continue;
			copy_in(s, bytes, len, t, tag, ret_pos);
			/* [R14] pairs with [A14] in pf_recv(): the bytes above come first. seq_cst
			 * for the Dekker pattern of [F42] in ring() (core/wait.c): this store of
			 * the message before the load of the owner's waiting count. */
			if (pf_cas_seq_cst(&s->word, &writing,
					   inbox_word(lap, (uint32_t)len, INBOX_FULL))) {
				wake_owner(d, id);
				/* Relaxed: a hint; others help it past a taken slot (ahead == 0)
				 * or a freed one (ahead > 0). After the publish, not before it:
				 * hot-wait round trip 1.75-1.79x the raw ping-pong
				 * before, 1.58-1.59x after (one line fewer held from a polling
				 * owner). */
				(void)pf_cas_relaxed(&v->inbox_tail, &t, t + 1);
				PF_FAULT_POINT(SEND_AFTER_PUBLISH); /* in, not yet told */
				return 0;
			}
			/* Skipped by the owner while we copied: we are done with the slot now,
			 * say so, and send again. [R15] pairs with [A15] in free_one(): our
			 * copy into the slot is over before it may be reused. */
			if (writing == inbox_word(lap, pid, INBOX_SKIP))
				(void)pf_cas_release(&s->word, &writing,
						     inbox_word(lap, 0, INBOX_SKIP));
			counter_add(d, PF_COUNTER_INBOX_SKIPS, 1);
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
		/* ahead > 0: t was filled and freed; move the hint past it (its sender may have
		 * died before it did). Relaxed: a hint. */
		(void)pf_cas_relaxed(&v->inbox_tail, &t, t + 1);
	}
}

PF_API int pf_send(struct pf_domain *d, uint32_t id, const void *bytes, size_t len)
{
	return send_one(d, id, bytes, len, 0, NULL);
}

PF_API int pf_transit_send(struct pf_domain *d, uint32_t id, const void *bytes, size_t len,
			   uint64_t tag, uint64_t *ret_pos)
{
	if (tag == 0 || ret_pos == NULL)
		return -EINVAL;
	return send_one(d, id, bytes, len, tag, ret_pos);
}

PF_API int pf_transit_sent(struct pf_domain *d, uint32_t id, uint64_t pos, uint64_t tag)
{
	struct dom_inbox_slot *s;
	uint64_t w;
	int32_t ahead;

	if (d == NULL || id >= d->lim.vnodes_max || tag == 0)
		return -EINVAL;
	s = inbox_slot(d, id, pos);
	/* [A14] pairs with [R14] in pf_send(): a FULL word comes with the tag written before. */
	w = pf_load_acquire(&s->word);
	ahead = (int32_t)(inbox_lap(w) - lap_of(d, pos));
	if (ahead < 0)
		return 0; /* never claimed at pos: not a position the sender stored */
	if (ahead == 0 && !(w & INBOX_CARRIED))
		return inbox_st(w) == INBOX_FULL; /* WRITING or SKIP: its sender died first */
	/* Freed since (and maybe taken back by a prepend, which leaves the tag): a published
	 * message keeps its tag, a skipped one lost it when it was freed. */
	/* Relaxed: after the acquire above; a slot reused meanwhile holds another tag. */
	return pf_load_relaxed(&s->tag) == tag;
}

/* 1 if the slot at pos + 1 holds (or held) a message: someone queues behind pos. */
static int queued_behind(struct pf_domain *d, uint32_t id, uint64_t pos)
{
	/* [A14] pairs with [R14] in pf_send(). */
	uint64_t w = pf_load_acquire(&inbox_slot(d, id, pos + 1)->word);

	return inbox_lap(w) == lap_of(d, pos + 1) && inbox_st(w) != INBOX_EMPTY;
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
	/* [R13] pairs with [A13] in pf_send(): the sender's publish CAS now fails. The skip
	 * keeps the sender's pid: the slot is not reusable until it lets go. */
	if (pf_cas_acq_rel(&s->word, &w, inbox_word(inbox_lap(w), inbox_len(w), INBOX_SKIP)))
		counter_add(d, PF_COUNTER_INBOX_SKIPS, 1);
	return 0;
}

/*
 * The message at *cursor of VNode id, read as its consumer reads it: skipped slots are
 * stepped over, a slot still being written is waited for briefly, then skipped when
 * messages queue behind it. 0 with *ret_len and *cursor past it, or -EAGAIN (nothing more
 * now), -ENOBUFS (cap too small; *ret_len is the length), -EBADMSG (a slot failed
 * validation; counted).
 */
static int recv_at(struct pf_domain *d, uint32_t id, uint64_t *cursor, void *buf, size_t cap,
		   size_t *ret_len)
{
	for (uint32_t i = 0; i <= d->lim.inbox_slots; i++) {
		uint64_t pos = *cursor;
		struct dom_inbox_slot *s = inbox_slot(d, id, pos);
		/* [A14] pairs with [R14] in pf_send(): the message bytes are complete. */
		uint64_t w = pf_load_acquire(&s->word);
		uint32_t len;
		int r;

		if ((int32_t)(inbox_lap(w) - lap_of(d, pos)) < 0)
			return -EAGAIN; /* the slot still holds a message read, not yet freed */
		if (inbox_lap(w) != lap_of(d, pos)) {
			counter_add(d, PF_COUNTER_SHM_INVALID, 1);
			return -EBADMSG; /* the cursor and the ring disagree */
		}
		switch (inbox_st(w)) {
		case INBOX_EMPTY:
			return -EAGAIN;
		case INBOX_SKIP:
			(*cursor)++;
			continue;
		case INBOX_WRITING:
			r = writing_resolve(d, id, pos, w);
			if (r < 0)
				return r;
			continue;
		default:
			break;
		}
		len = inbox_len(w);
		if (len > d->lim.msg_bytes_max) {
			counter_add(d, PF_COUNTER_SHM_INVALID, 1);
			(*cursor)++;
			return -EBADMSG;
		}
		*ret_len = len;
		if (len > cap)
			return -ENOBUFS;
		memcpy(buf, slot_bytes(s), len);
		PF_FAULT_POINT(RECV_MID_COPY);
		(*cursor)++;
		return 0;
	}
	return -EAGAIN;
}

PF_API int pf_recv(struct pf_vnode *h, void *buf, size_t cap, size_t *ret_len)
{
	struct pf_domain *d;
	int r;

	if (h == NULL || ret_len == NULL || (buf == NULL && cap > 0))
		return -EINVAL;
	d = h->member->d;
	if (!handle_owns(h, NULL))
		return -ESTALE;
	r = recv_at(d, h->id, &h->cursor, buf, cap, ret_len);
	if (r == -EAGAIN)
		inbox_free_retry(d, h);
	if (r == 0)
		/* Relaxed: a statistic of the member, written by its own threads without a
		 * locked instruction (one on every receive would cost more than the receive):
		 * threads of one member receiving at the same instant may undercount it. */
		pf_store_relaxed(&h->member->rec->received,
				 pf_load_relaxed(&h->member->rec->received) + 1);
	return r;
}

int inbox_look(struct pf_domain *d, uint32_t id, uint64_t *cursor, void *buf, size_t cap,
	       size_t *ret_len)
{
	PF_ASSERT(id < d->lim.vnodes_max && cursor != NULL);
	for (uint32_t i = 0; i <= d->lim.inbox_slots; i++) {
		uint64_t pos = *cursor;
		struct dom_inbox_slot *s = inbox_slot(d, id, pos);
		/* [A14] pairs with [R14] in pf_send(): the message bytes are complete. */
		uint64_t w = pf_load_acquire(&s->word);
		uint32_t len = inbox_len(w);

		if (inbox_lap(w) != lap_of(d, pos) || inbox_st(w) == INBOX_EMPTY ||
		    inbox_st(w) == INBOX_WRITING)
			return -EAGAIN; /* the end, as of now (a message being written: not yet) */
		if (inbox_st(w) == INBOX_SKIP) {
			(*cursor)++;
			continue;
		}
		if (len > d->lim.msg_bytes_max) {
			counter_add(d, PF_COUNTER_SHM_INVALID, 1);
			return -EBADMSG;
		}
		*ret_len = len;
		if (len > cap)
			return -ENOBUFS;
		memcpy(buf, slot_bytes(s), len);
		/* [A13] pairs with [R13] in free_one(): as a seqlock reader's, this fence keeps
		 * the copy above before the re-read below; a slot freed (and perhaps refilled)
		 * meanwhile is seen changed. */
		pf_fence_acquire();
		/* Relaxed: ordered after the copy by the fence above. */
		if (pf_load_relaxed(&s->word) != w)
			return -ESTALE;
		(*cursor)++;
		return 0;
	}
	return -EAGAIN;
}

int inbox_peek(struct pf_domain *d, uint32_t id, uint64_t *cursor, void *buf, size_t cap,
	       size_t *ret_len)
{
	PF_ASSERT(id < d->lim.vnodes_max && cursor != NULL);
	return recv_at(d, id, cursor, buf, cap, ret_len);
}

/* 1 if the slot's word was freed (or already was), 0 if freeing must stop here. */
static int free_one(struct pf_domain *d, struct dom_inbox_slot *s, uint64_t pos)
{
	uint32_t lap = lap_of(d, pos), pid;
	/* [A15] pairs with [R15] in pf_send(): a sender that let go is done copying. */
	uint64_t w = pf_load_acquire(&s->word);

	if ((int32_t)(inbox_lap(w) - lap) > 0)
		return 1; /* freed already (the slot moved on to a later lap) */
	if (inbox_lap(w) != lap)
		return 0; /* not a position that was read: nothing to free */
	if (inbox_st(w) == INBOX_SKIP && (pid = inbox_len(w)) != 0) {
		/* The skipped sender may still be copying into the slot; wait for it unless
		 * it is dead (EPERM: alive, just not ours to signal). */
		if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			return 0;
	} else if (inbox_st(w) != INBOX_FULL && inbox_st(w) != INBOX_SKIP) {
		return 0;
	}
	/* Skipped: its message never went in, and its tag must not say it did. */
	if (inbox_st(w) == INBOX_SKIP)
		/* Relaxed: ordered before the slot's free by [R13]'s release below. */
		pf_store_relaxed(&s->tag, 0);
	/* [R13] pairs with [A13] in pf_send(): our reads of the slot are done. A CAS, so a
	 * fenced-out old owner freeing late cannot destroy a newer message. */
	(void)pf_cas_release(&s->word, &w, inbox_word(lap + 1, 0, INBOX_EMPTY));
	return 1;
}

uint64_t inbox_free_upto(struct pf_domain *d, uint32_t id, uint64_t upto)
{
	struct dom_vnode *v = &d->vnodes[id];
	/* Relaxed: a starting point; each slot's own word decides below. */
	uint64_t head = pf_load_relaxed(&v->inbox_head), p;

	if (upto - head > d->lim.inbox_slots || upto == head)
		return upto; /* nothing to free, or a position that cannot be ours */
	for (p = head; p != upto; p++) {
		if (!free_one(d, inbox_slot(d, id, p), p))
			break; /* in order: head stops at the first slot we may not free */
		PF_FAULT_POINT(CKPT_MID_FREE);
	}
	while ((int64_t)(p - head) > 0) {
		/* Relaxed: head is a hint for tools and the next owner; CAS-max. */
		if (pf_cas_relaxed(&v->inbox_head, &head, p))
			break;
	}
	return p;
}

void inbox_free_retry(struct pf_domain *d, struct pf_vnode *h)
{
	/* Our own record, not the shared head: an idle owner polling its inbox must not
	 * pull the line the senders are writing. */
	if (h->freed != h->committed)
		h->freed = inbox_free_upto(d, h->id, h->committed);
}

/* Undo the first n prepended slots from `first` (a failed prepend). */
static void prepend_undo(struct pf_domain *d, uint32_t id, uint64_t first, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		uint64_t p = first + i;
		struct dom_inbox_slot *s = inbox_slot(d, id, p);
		/* Relaxed: only we wrote it (no member owns the VNode; see inbox_prepend()). */
		uint64_t w = pf_load_relaxed(&s->word);

		/* [R13] pairs with [A13] in pf_send(): as a free. */
		(void)pf_cas_release(&s->word, &w, inbox_word(lap_of(d, p) + 1, 0, INBOX_EMPTY));
	}
}

int inbox_prepend(struct pf_domain *d, uint32_t id, const struct iovec *msgs, uint32_t count)
{
	struct dom_vnode *v = &d->vnodes[id];
	/* Relaxed: nobody else moves head while no member owns the VNode (the caller's
	 * ARRIVING state); re-checked slot by slot below. */
	uint64_t head = pf_load_relaxed(&v->inbox_head), first = head - count;
	/* Relaxed: the senders' hint: room is re-checked slot by slot below. */
	uint64_t tail = pf_load_relaxed(&v->inbox_tail);

	PF_ASSERT(id < d->lim.vnodes_max && (msgs != NULL || count == 0));
	if (count > d->lim.inbox_slots || tail - head > d->lim.inbox_slots - count)
		return -EAGAIN;
	for (uint32_t i = 0; i < count; i++) {
		uint64_t p = first + i;
		struct dom_inbox_slot *s = inbox_slot(d, id, p);
		/* Position p was freed (or never used: lap arithmetic wraps, so the position
		 * before 0 is a freed one of lap 2^32 - 1): its slot waits for p + slots. */
		uint64_t w = inbox_word(lap_of(d, p) + 1, 0, INBOX_EMPTY);

		if (msgs[i].iov_len > d->lim.msg_bytes_max) {
			prepend_undo(d, id, first, i);
			return -EMSGSIZE;
		}
		/* [A13] pairs with [R13] in free_one(): take the freed slot back, unless a
		 * sender took it for p + slots (the ring is that full: no room). */
		if (pf_load_acquire(&s->word) != w) {
			prepend_undo(d, id, first, i);
			return -EAGAIN;
		}
		memcpy(slot_bytes(s), msgs[i].iov_base, msgs[i].iov_len);
		/* [R14] pairs with [A14] in pf_recv(): the bytes above come first. */
		if (!pf_cas_release(
			    &s->word, &w,
			    inbox_word(lap_of(d, p), (uint32_t)msgs[i].iov_len, INBOX_FULL) |
				    INBOX_CARRIED)) {
			prepend_undo(d, id, first, i);
			return -EAGAIN;
		}
	}
	/* Relaxed: a position for tools and the next owner, whose load takes its own from the
	 * checkpoint installed after this. */
	pf_store_relaxed(&v->inbox_head, first);
	return 0;
}

uint32_t inbox_unprepend(struct pf_domain *d, uint32_t id)
{
	struct dom_vnode *v = &d->vnodes[id];
	/* Relaxed: nobody else moves head while no member owns the VNode. */
	uint64_t head = pf_load_relaxed(&v->inbox_head), p = head;

	PF_ASSERT(id < d->lim.vnodes_max);
	for (uint32_t n = 0; n < d->lim.inbox_slots; n++, p++) {
		struct dom_inbox_slot *s = inbox_slot(d, id, p);
		/* [A15] pairs with [R15] in pf_send(): as free_one()'s look at the slot. */
		uint64_t w = pf_load_acquire(&s->word);

		if (inbox_lap(w) != lap_of(d, p) || inbox_st(w) != INBOX_FULL ||
		    (w & INBOX_CARRIED) == 0)
			break; /* the first message a sender sent: the carried ones end here */
		/* [R13] pairs with [A13] in pf_send(): as a free. */
		if (!pf_cas_release(&s->word, &w, inbox_word(lap_of(d, p) + 1, 0, INBOX_EMPTY)))
			break;
	}
	/* Relaxed: as in inbox_prepend(). */
	pf_store_relaxed(&v->inbox_head, p);
	return (uint32_t)(p - head);
}
