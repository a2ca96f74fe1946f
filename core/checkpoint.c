/* SPDX-License-Identifier: MIT */
/*
 * core/checkpoint.c: a VNode's checkpoints, written where no fenced writer can reach a
 * reader (invariants 2, 3 and 6 of ARCHITECTURE.md).
 *
 * Why not two slots per VNode: with A/B slots a writer writes "the slot that is not
 * active", which it computes from the descriptor it read. An owner stalled inside its
 * commit (a page fault, a preemption, SIGSTOP) while its VNode was taken away wrote, on
 * waking, into the slot the next owner's commit had meanwhile made active: the owner
 * after that loaded an older state with a newer inbox position, or a mixed state under a
 * valid checksum. The epoch refused the stale publish, but its bytes had already landed.
 * Fencing by epoch alone is not enough; a writer must also be kept out of where readers
 * read, without a lock, without killing it and without timing.
 *
 * Buffers. The domain has ckpt_bufs buffers of one header and state_bytes_max bytes each
 * (core/layout.h: two home buffers per VNode, on its NUMA home, and CKPT_HOLD_MAX spares
 * per member slot). Each has a holder word:
 *   FREE      nobody's
 *   HELD(m)   held by member m (slot, generation): m alone may write it
 *   PUB(v)    published as VNode v's state (or just replaced, and being taken or freed)
 * and a VNode's checkpoint descriptor (written only by core/ownership.c) names the buffer
 * holding its last committed state.
 *
 * Ownership table
 *   what                      written by                             read by
 *   bytes of a HELD(m) buffer m's process only                      nobody
 *   bytes of a named buffer   nobody                                 loaders
 *   holder FREE -> HELD(m)    m, CAS (acquire)                       everyone
 *          HELD(m) -> PUB(v)  m, after publishing it ([F30] exchange) repairs, replacers
 *          PUB(v) -> HELD(m)  m, CAS, after publishing a replacement of it in v
 *          HELD(m) -> FREE    m (a refused or abandoned write), or the repair of m once
 *                             m's process is gone (CAS)
 *          PUB(v) -> FREE     CAS, when no descriptor names it: by its replacer, by its
 *                             publisher seeing it replaced, by a repair
 *   m's hold entries          m (before it takes a buffer, after it gives one up), and
 *                             the repair of m once m's process is gone
 *   the slot's state word     a joiner may take the slot only while no entry is set
 *                             ([F33]: m names, then checks it is still the slot's member;
 *                             a joiner takes the slot, then checks no entry is set)
 * Every transition is one CAS or exchange from the exact word seen, and the word carries a
 * version, so none is applied to a buffer that changed hands meanwhile.
 *
 * Why no byte of a fenced writer reaches a reader:
 *  1. A writer writes only buffers it took itself: FREE -> HELD(m), or PUB(v) -> HELD(m)
 *     once v's descriptor had stopped naming it. Neither kind is named by a descriptor.
 *  2. A descriptor comes to name a buffer only through the publish of its holder, a CAS
 *     that expects the publisher's epoch; once a newer owner has sealed its epoch, no
 *     older owner publishes (core/ownership.c).
 *  3. A buffer leaves HELD(m) only by m's own hand, or by a repair after m's process is
 *     gone: never while m lives, however long it is stalled or paused, and never on a
 *     timeout.
 * So a fenced writer keeps writing only buffers it holds, which no descriptor names and,
 * by 2, none ever will; any number of stalled writers each hold their own; each new owner
 * takes a free one. A loader copies the buffer its descriptor names, verifies the
 * checksum on its own copy and re-reads the descriptor.
 *
 * Why a free buffer always exists: at most vnodes_max buffers are named, and a member
 * holds at most CKPT_HOLD_MAX, every one named in its hold slots (so a member slot is not
 * taken while an entry is set); ckpt_bufs = 2 vnodes_max +
 * CKPT_HOLD_MAX members_max leaves vnodes_max free. Where: the VNode's two home buffers
 * first, then a scan from a cursor of this process.
 *
 * A commit of VNode v by member m at epoch e:
 *   b = the buffer the handle kept from its last commit, or one acquired
 *   header and bytes into b, the checksum computed while copying (shm/checksum.h)
 *   old = the buffer v's descriptor names; named in a hold slot: m is about to take it
 *   publish: descriptor (e, old) -> (e, b), CAS ([R12], core/ownership.c)
 *   holder[b]: HELD(m) -> PUB(v) ([F30]), then b's hold slot cleared; if the descriptor
 *     no longer names b (a replacer came between), free b
 *   holder[old]: PUB(v) -> HELD(m), CAS: kept for v's next commit (or freed)
 * A crash between any two steps leaves each buffer named by a descriptor, held and named
 * in a hold slot, or free; ckpt_settle_held() settles the hold entries of a gone member.
 *
 * Ordering edges
 *   [R12] publish (release) -> [A12] loaders: header and bytes of b are complete.
 *   [F30] publisher: exchange holder[b] = PUB(v), then load the descriptor; replacer:
 *         publish CAS, then load holder[old]. Dekker: if the replacer saw HELD (and gave
 *         up taking it), the publisher sees its own buffer replaced and frees it.
 *   [F33] a member: CAS its hold entry 0 -> (gen, buf), then load the slot's state; a
 *         joiner (slot_take() in member.c): CAS the state to its generation, then load the
 *         entries (ckpt_slot_held()). Dekker: either the member sees the slot taken (and
 *         clears its entry, holding nothing), or the joiner sees the entry (and leaves the
 *         slot alone): a member that lost its slot never names a buffer in it.
 *   [R31] a member's entry (release) -> [A31] a repair's read of it: the buffer it names
 *         is what the member held.
 *
 * Progress: a commit is wait-free apart from the copy and the search for a free buffer,
 * which is bounded by ckpt_bufs; loaders of a foreign VNode retry while its owner keeps
 * committing.
 */
#include <errno.h>
#include <string.h>

#include "core/checkpoint.h"
#include "core/ownership.h"
#include "shm/checksum.h"
#include "shm/fault.h"
#include "shm/pf_assert.h"

#define READ_RETRIES_MAX 64 /* foreign reads racing a busy owner give up after this */
#define HOLD_KEEP_MAX 8u    /* handles keeping a buffer between commits, per member */
#define HOLD_SLOTS_ALL 0xffffu
_Static_assert(CKPT_HOLD_MAX == 16, "the hold bitmap has 16 bits");
_Static_assert(2 * HOLD_KEEP_MAX <= CKPT_HOLD_MAX, "commits need slots beyond the kept ones");

static uint64_t hdr_seed(const struct dom_ckpt_hdr *h)
{
	uint64_t words[5] = {h->vnode, h->epoch, h->seq, h->len, h->inbox_pos};

	return checksum_seed(words, PF_ARRAY_SIZE(words));
}

static int owner_holds(struct pf_vnode *h)
{
	struct pf_member *m = h->member;
	/* [A10] pairs with [R10] in core/ownership.c. */
	uint64_t w = pf_load_acquire(&m->d->own[h->id]);

	return own_held_by(w, m->slot, m->gen, h->epoch);
}

/* A hold slot of this member, free in this process: its index, or -EBUSY. */
static int slot_alloc(struct pf_member *m)
{
	/* Relaxed: a process-local bitmap; the CAS arbitrates between our threads. */
	uint32_t f = pf_load_relaxed(&m->hold_free);

	while (f != 0) {
		uint32_t bit = (uint32_t)__builtin_ctz(f);

		/* Relaxed: the same bitmap; the slot's shared word is written after. */
		if (pf_cas_relaxed(&m->hold_free, &f, f & ~(1u << bit)))
			return (int)bit;
	}
	return -EBUSY;
}

static void slot_free(struct pf_member *m, uint32_t s)
{
	PF_ASSERT(s < CKPT_HOLD_MAX);
	/* [R31] pairs with [A31] in ckpt_settle_held(): our use of what it named is over
	 * (the holder word says so first). The entry is ours: nobody takes the slot while
	 * it is set. */
	pf_store_release(&m->rec->ckpt_hold[s], 0);
	/* Relaxed: the process-local bitmap. */
	pf_fetch_or_relaxed(&m->hold_free, 1u << s);
}

/* Name buffer buf in hold entry s before taking it, where a repair of ours will look: 0,
 * or -ESTALE (the slot is no longer this member's: nothing named). */
static int slot_name(struct pf_member *m, uint32_t s, uint32_t buf)
{
	uint64_t zero = 0, st;

	/* [F33] seq_cst RMW then load (Dekker with slot_take()); pairs with [F33] in
	 * ckpt_slot_held(). A leftover entry cannot be here: the slot was taken empty. */
	if (!pf_cas_seq_cst(&m->rec->ckpt_hold[s], &zero, hold_entry(m->gen, buf)))
		return -ESTALE;
	/* [F33] the load half; pairs with [F33] in ckpt_slot_held(). */
	st = pf_load_seq_cst(&m->rec->state);
	if (member_word_gen(st) == m->gen && (member_word_state(st) == PF_MEMBER_ACTIVE ||
					      member_word_state(st) == PF_MEMBER_DRAINING))
		return 0;
	/* Relaxed: never covered a held buffer; the slot stays untaken until it is 0. */
	pf_store_relaxed(&m->rec->ckpt_hold[s], 0);
	return -ESTALE;
}

/* Take buffer buf if it is FREE (hold entry s names it first): 1 taken, 0 not, or
 * -ESTALE (this member lost its slot). */
static int take_free(struct pf_member *m, uint32_t buf, uint32_t s)
{
	_Atomic uint64_t *hw = &m->d->ckpt_hold[buf];
	/* Relaxed: a look; the CAS below decides. */
	uint64_t w = pf_load_relaxed(hw);
	int r;

	if (hold_state(w) != HOLD_FREE)
		return 0;
	r = slot_name(m, s, buf);
	if (r < 0)
		return r;
	/* [A32] pairs with [R32] wherever a buffer is freed: its last writer's or reader's
	 * use is over before we write it. */
	if (pf_cas_acq_rel(hw, &w,
			   hold_word(hold_version(w) + 1, HOLD_HELD, hold_member(m->slot, m->gen))))
		return 1;
	/* Relaxed: our own entry again, never covered a held buffer. */
	pf_store_relaxed(&m->rec->ckpt_hold[s], 0);
	return 0;
}

/* A free buffer for VNode id, held by m and named in entry s, into *ret_buf: 0, -EBUSY
 * (none free: cannot happen while the pool is sized as core/layout.h says), -ESTALE. */
static int buf_acquire(struct pf_member *m, uint32_t id, uint32_t s, uint32_t *ret_buf)
{
	struct pf_domain *d = m->d;
	uint32_t n = d->lim.ckpt_bufs, start;
	int r;

	for (uint32_t k = 0; k < 2; k++) {
		r = take_free(m, 2 * id + k, s);
		if (r != 0) {
			*ret_buf = 2 * id + k;
			return r < 0 ? r : 0;
		}
	}
	/* Relaxed: a process-local starting point, any value works. */
	start = pf_fetch_add_relaxed(&d->ckpt_cursor, 1) % n;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t buf = start + i < n ? start + i : start + i - n;

		r = take_free(m, buf, s);
		if (r < 0)
			return r;
		if (r > 0) {
			/* Relaxed: the same starting point. */
			pf_store_relaxed(&d->ckpt_cursor, buf + 1);
			*ret_buf = buf;
			return 0;
		}
	}
	return -EBUSY;
}

/* Give back a buffer m holds and has not published: FREE, slot cleared. */
static void buf_give_back(struct pf_member *m, uint32_t buf, uint32_t s)
{
	_Atomic uint64_t *hw = &m->d->ckpt_hold[buf];
	/* Relaxed: HELD(m) changes only by our hand while we live. */
	uint64_t w = pf_load_relaxed(hw);

	PF_ASSERT(hold_state(w) == HOLD_HELD && hold_who(w) == hold_member(m->slot, m->gen));
	/* [R32] pairs with [A32] in take_free(): our writes to it are over. */
	pf_store_release(hw, hold_word(hold_version(w) + 1, HOLD_FREE, 0));
	slot_free(m, s);
}

void ckpt_handle_release(struct pf_vnode *h)
{
	if (h->held == CKPT_BUF_NONE)
		return;
	buf_give_back(h->member, h->held, h->held_slot);
	h->held = CKPT_BUF_NONE;
	/* Relaxed: the process-local count of kept buffers. */
	pf_fetch_sub_relaxed(&h->member->hold_kept, 1);
}

/* b, just published as VNode id's state: PUB; freed at once if already replaced. */
static void mark_published(struct pf_member *m, uint32_t id, uint32_t b, uint32_t s)
{
	struct pf_domain *d = m->d;
	_Atomic uint64_t *hw = &d->ckpt_hold[b];
	/* Relaxed: HELD(m) changes only by our hand while we live. */
	uint64_t w = pf_load_relaxed(hw), pub = hold_word(hold_version(w) + 1, HOLD_PUB, id);

	/* [F30] seq_cst exchange then load (Dekker): pairs with [F30] in take_replaced();
	 * either the replacer sees PUB, or we see the descriptor moved on. */
	(void)pf_xchg_seq_cst(hw, pub);
	/* [F30] the load half; pairs with [F30] in take_replaced(). */
	if (ckpt_buf(pf_load_seq_cst(&d->vnodes[id].ckpt)) != b)
		/* [R32] pairs with [A32] in take_free(); a replacer that took it wins. */
		(void)pf_cas_acq_rel(hw, &pub, hold_word(hold_version(pub) + 1, HOLD_FREE, 0));
	slot_free(m, s);
}

/* old, just replaced in VNode id by our publish and named in slot s: kept for the next
 * commit (1) or freed (0). */
static int take_replaced(struct pf_member *m, uint32_t id, uint32_t old, uint32_t s, int keep)
{
	_Atomic uint64_t *hw = &m->d->ckpt_hold[old];
	/* [F30] seq_cst load after our publish CAS (Dekker); pairs with [F30] in
	 * mark_published(): a publisher that had not marked it yet frees it itself. */
	uint64_t w = pf_load_seq_cst(hw);
	uint64_t to = keep ? hold_word(hold_version(w) + 1, HOLD_HELD, hold_member(m->slot, m->gen))
			   : hold_word(hold_version(w) + 1, HOLD_FREE, 0);

	/* [R32] (to FREE) pairs with [A32] in take_free(); [A32] (to HELD) pairs with [R32]
	 * in buf_give_back(). */
	if (hold_state(w) == HOLD_PUB && hold_who(w) == id && pf_cas_acq_rel(hw, &w, to) && keep)
		return 1;
	slot_free(m, s);
	return 0;
}

/* The header of state seq for the handle's VNode, into buffer b, and the bytes after it;
 * the checksum is computed while they are copied. */
static void write_state(struct pf_vnode *h, uint32_t b, uint32_t seq, const void *bytes, size_t len)
{
	struct pf_domain *d = h->member->d;
	struct dom_ckpt_hdr *hdr = ckpt_buffer(d, b);

	hdr->vnode = h->id;
	hdr->epoch = h->epoch;
	hdr->seq = seq;
	hdr->len = (uint32_t)len;
	hdr->inbox_pos = h->cursor;
	hdr->commit_ns = now_ns();
	memset(hdr->reserved, 0, sizeof(hdr->reserved));
	PF_FAULT_POINT(CKPT_BEFORE_COPY);
#if PF_FAULT_INJECTION
	/* A torn copy for the fault points to stop in; the pass below writes it all again. */
	memcpy(hdr + 1, bytes, len / 2);
	PF_FAULT_POINT(CKPT_MID_COPY);
#endif
	hdr->checksum = checksum_copy((enum checksum_algo)d->lim.checksum, hdr_seed(hdr), hdr + 1,
				      bytes, len);
}

/* The buffer this commit writes: kept from the last one, or acquired; -EBUSY, -ESTALE. */
static int commit_buffer(struct pf_vnode *h)
{
	struct pf_member *m = h->member;
	uint32_t buf;
	int s, r;

	if (h->held != CKPT_BUF_NONE)
		return 0;
	s = slot_alloc(m);
	if (s < 0)
		return s;
	r = buf_acquire(m, h->id, (uint32_t)s, &buf);
	if (r < 0) {
		/* Relaxed: the process-local bitmap; the entry was cleared (or never set). */
		pf_fetch_or_relaxed(&m->hold_free, 1u << s);
		return r;
	}
	h->held = buf;
	h->held_slot = (uint32_t)s;
	/* Relaxed: the process-local count of kept buffers. */
	pf_fetch_add_relaxed(&m->hold_kept, 1);
	return 0;
}

/* After a refused publish: the buffer goes back, the slot named for old is cleared. */
static int commit_refused(struct pf_vnode *h, int old_slot)
{
	struct pf_domain *d = h->member->d;

	if (old_slot >= 0)
		slot_free(h->member, (uint32_t)old_slot);
	ckpt_handle_release(h);
	counter_add(d, PF_COUNTER_STALE_REFUSED, 1);
	return -ESTALE;
}

PF_API int pf_checkpoint_commit(struct pf_vnode *h, uint64_t epoch, const void *bytes, size_t len)
{
	struct pf_domain *d;
	struct pf_member *m;
	uint32_t b, old, seq;
	uint64_t c;
	int r, old_slot = -1, keep;

	if (h == NULL || (bytes == NULL && len > 0))
		return -EINVAL;
	m = h->member;
	d = m->d;
	if (len > d->lim.state_bytes_max)
		return -EMSGSIZE;
	/* [A12] pairs with [R12] and [R11] in core/ownership.c. */
	c = pf_load_acquire(&d->vnodes[h->id].ckpt);
	if (epoch != h->epoch || ckpt_epoch(c) != h->epoch || !owner_holds(h)) {
		counter_add(d, PF_COUNTER_STALE_REFUSED, 1);
		return -ESTALE;
	}
	r = commit_buffer(h);
	if (r == -ESTALE)
		counter_add(d, PF_COUNTER_STALE_REFUSED, 1);
	if (r < 0)
		return r;
	old = ckpt_buf(c);
	if (old != CKPT_BUF_NONE) {
		old_slot = slot_alloc(m);
		if (old_slot < 0)
			return old_slot; /* every hold entry busy with commits of other threads */
		r = slot_name(m, (uint32_t)old_slot, old);
		if (r < 0) {
			/* Relaxed: the process-local bitmap; the entry was cleared. */
			pf_fetch_or_relaxed(&m->hold_free, 1u << old_slot);
			return commit_refused(h, -1);
		}
	}
	b = h->held;
	seq = h->seq + 1 == 0 ? 1 : h->seq + 1;
	write_state(h, b, seq, bytes, len);
	PF_FAULT_POINT(CKPT_BEFORE_PUBLISH);
	if (!own_ckpt_publish(d, h->id, &c, ckpt_word(h->epoch, seq, b)))
		return commit_refused(h, old_slot); /* sealed by a newer owner meanwhile */
	PF_FAULT_POINT(CKPT_AFTER_PUBLISH);
	h->seq = seq;
	h->held = CKPT_BUF_NONE;
	mark_published(m, h->id, b, h->held_slot);
	/* Relaxed: the process-local count of kept buffers; b is not ours any more. */
	keep = pf_fetch_sub_relaxed(&m->hold_kept, 1) <= HOLD_KEEP_MAX;
	if (old != CKPT_BUF_NONE && take_replaced(m, h->id, old, (uint32_t)old_slot, keep)) {
		h->held = old;
		h->held_slot = (uint32_t)old_slot;
		/* Relaxed: the same count. */
		pf_fetch_add_relaxed(&m->hold_kept, 1);
	}
	/* Relaxed: only writer; a statistic. */
	pf_fetch_add_relaxed(&m->rec->commits, 1);
	h->committed = h->cursor;
	h->freed = inbox_free_upto(d, h->id, h->committed);
	return 0;
}

/* Copy and verify the state descriptor c names (buffer, tag) of VNode id into buf. */
static int ckpt_copy(struct pf_domain *d, uint32_t id, uint64_t c, void *buf, size_t cap,
		     size_t *ret_len, struct dom_ckpt_hdr *ret_hdr)
{
	uint32_t b = ckpt_buf(c);
	const struct dom_ckpt_hdr *src;
	struct dom_ckpt_hdr hdr;

	if (b >= d->lim.ckpt_bufs) {
		counter_add(d, PF_COUNTER_CKPT_CORRUPT, 1);
		return -EBADMSG;
	}
	src = ckpt_buffer(d, b);
	memcpy(&hdr, src, sizeof(hdr)); /* validate our copy, not the shared original */
	if (hdr.vnode != id || (hdr.seq & CKPT_TAG_MASK) != ckpt_tag(c) || hdr.seq == 0 ||
	    (int32_t)(hdr.epoch - ckpt_epoch(c)) > 0 || hdr.len > d->lim.state_bytes_max) {
		counter_add(d, PF_COUNTER_CKPT_CORRUPT, 1);
		return -EBADMSG;
	}
	*ret_len = hdr.len;
	if (hdr.len > cap)
		return -ENOBUFS;
	if (checksum_copy((enum checksum_algo)d->lim.checksum, hdr_seed(&hdr), buf, src + 1,
			  hdr.len) != hdr.checksum) {
		memset(buf, 0, hdr.len); /* never hand out a torn or corrupt state */
		counter_add(d, PF_COUNTER_CKPT_CORRUPT, 1);
		return -EBADMSG;
	}
	*ret_hdr = hdr;
	return 0;
}

PF_API int pf_checkpoint_load(struct pf_vnode *h, void *buf, size_t cap, size_t *ret_len)
{
	struct dom_ckpt_hdr hdr;
	struct pf_domain *d;
	uint64_t c;
	int r;

	if (h == NULL || ret_len == NULL || (buf == NULL && cap > 0))
		return -EINVAL;
	d = h->member->d;
	*ret_len = 0;
	/* [A12] pairs with [R12] in core/ownership.c. */
	c = pf_load_acquire(&d->vnodes[h->id].ckpt);
	if (ckpt_epoch(c) != h->epoch || !owner_holds(h))
		return -ESTALE;
	if (ckpt_buf(c) == CKPT_BUF_NONE)
		return -ENOENT;
	r = ckpt_copy(d, h->id, c, buf, cap, ret_len, &hdr);
	/* [A12] pairs with [R12] and [R11] in core/ownership.c: the descriptor still names
	 * what we copied, so it was not replaced (and its buffer reused) under us; only a
	 * newer owner could have moved it. */
	if (r != -ENOBUFS && pf_load_acquire(&d->vnodes[h->id].ckpt) != c)
		return -ESTALE;
	if (r < 0)
		return r;
	/* Resume the inbox where this state had consumed it (the claim did the same from
	 * the unverified header; this is the verified value). */
	h->seq = hdr.seq;
	h->cursor = hdr.inbox_pos;
	h->committed = hdr.inbox_pos;
	h->freed = inbox_free_upto(d, h->id, hdr.inbox_pos);
	return 0;
}

PF_API int pf_checkpoint_read(struct pf_domain *d, uint32_t id, void *buf, size_t cap,
			      size_t *ret_len, uint64_t *ret_seq)
{
	if (d == NULL || id >= d->lim.vnodes_max || ret_len == NULL || (buf == NULL && cap > 0))
		return -EINVAL;
	*ret_len = 0;
	for (int i = 0; i < READ_RETRIES_MAX; i++) {
		/* [A12] pairs with [R12] in core/ownership.c. */
		uint64_t c = pf_load_acquire(&d->vnodes[id].ckpt);
		struct dom_ckpt_hdr hdr;
		int r;

		if (ckpt_buf(c) == CKPT_BUF_NONE)
			return -ENOENT;
		r = ckpt_copy(d, id, c, buf, cap, ret_len, &hdr);
		if (r == -ENOBUFS)
			return r;
		/* [A12] pairs with [R12] in core/ownership.c: if the descriptor moved while
		 * we copied, the buffer may have been reused under us; retry. */
		if (pf_load_acquire(&d->vnodes[id].ckpt) != c)
			continue;
		if (r == 0 && ret_seq != NULL)
			*ret_seq = hdr.seq;
		return r;
	}
	return -EBUSY;
}

uint32_t ckpt_state_seq(struct pf_domain *d, uint32_t id, uint64_t c, uint64_t *ret_inbox_pos)
{
	uint32_t b = ckpt_buf(c);
	struct dom_ckpt_hdr hdr;

	if (b == CKPT_BUF_NONE)
		return 0;
	if (b >= d->lim.ckpt_bufs) {
		counter_add(d, PF_COUNTER_SHM_INVALID, 1);
		return 0;
	}
	/* Unverified: the caller uses it only where plausible (the load re-checks). */
	memcpy(&hdr, ckpt_buffer(d, b), sizeof(hdr));
	if (hdr.vnode != id || (hdr.seq & CKPT_TAG_MASK) != ckpt_tag(c) || hdr.seq == 0)
		return 0;
	if (ret_inbox_pos != NULL)
		*ret_inbox_pos = hdr.inbox_pos;
	return hdr.seq;
}

/* One hold entry of a gone member naming buffer buf (held as `who`): settle it. */
static void settle_held(struct pf_domain *d, uint32_t who, uint32_t buf)
{
	_Atomic uint64_t *hw = &d->ckpt_hold[buf];
	/* [A32] pairs with [R32]: the holder word as its last writer left it. */
	uint64_t w = pf_load_acquire(hw);
	uint32_t v = UINT32_MAX;

	if (hold_state(w) == HOLD_HELD && hold_who(w) == who) {
		/* Its header names the VNode it was written for; a descriptor names it only if
		 * it was published (a free buffer is never named, and it came from one). */
		memcpy(&v, &ckpt_buffer(d, buf)->vnode, sizeof(v));
		/* [A12] pairs with [R12]: was it published? */
		if (v < d->lim.vnodes_max && ckpt_buf(pf_load_acquire(&d->vnodes[v].ckpt)) == buf) {
			uint64_t pub = hold_word(hold_version(w) + 1, HOLD_PUB, v);

			/* [R32] pairs with [A32]: the holder becomes the descriptor. */
			if (!pf_cas_acq_rel(hw, &w, pub))
				return;
			w = pub; /* and if a replacer came meanwhile, free it below */
		}
	}
	if (hold_state(w) == HOLD_PUB) {
		v = hold_who(w);
		/* [A12] pairs with [R12]: named by its VNode, or replaced and ownerless? */
		if (v < d->lim.vnodes_max && ckpt_buf(pf_load_acquire(&d->vnodes[v].ckpt)) == buf)
			return;
	} else if (hold_state(w) != HOLD_HELD || hold_who(w) != who) {
		return; /* free, or somebody else's now */
	}
	/* [R32] pairs with [A32] in take_free(). */
	(void)pf_cas_acq_rel(hw, &w, hold_word(hold_version(w) + 1, HOLD_FREE, 0));
}

uint32_t ckpt_settle_held(struct pf_domain *d, uint32_t slot, uint32_t gen)
{
	struct dom_member *rec = &d->members[slot];
	uint32_t settled = 0;

	for (uint32_t i = 0; i < CKPT_HOLD_MAX; i++) {
		/* [A31] pairs with [R31] in slot_free() and slot_name(). */
		uint64_t e = pf_load_acquire(&rec->ckpt_hold[i]);

		if (e == 0 || hold_entry_gen(e) != gen)
			continue;
		if (hold_entry_buf(e) < d->lim.ckpt_bufs)
			settle_held(d, hold_member(slot, gen), hold_entry_buf(e));
		else
			counter_add(d, PF_COUNTER_SHM_INVALID, 1);
		/* Relaxed: its holder is gone; a CAS, so an entry just reused is left alone. */
		(void)pf_cas_relaxed(&rec->ckpt_hold[i], &e, 0);
		settled++;
	}
	return settled;
}

int ckpt_slot_held(struct pf_domain *d, uint32_t slot)
{
	struct dom_member *rec = &d->members[slot];

	for (uint32_t i = 0; i < CKPT_HOLD_MAX; i++)
		/* [F33] seq_cst load after the joiner's state CAS (Dekker); pairs with [F33]
		 * in slot_name(): a member that named a buffer before the slot was taken is
		 * seen here, one that names one after sees the slot taken. */
		if (pf_load_seq_cst(&rec->ckpt_hold[i]) != 0)
			return 1;
	return 0;
}
