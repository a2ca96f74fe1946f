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
 * (core/layout.h: two home buffers per VNode, on its NUMA home, and spares). Each has a
 * holder word:
 *   FREE      nobody's
 *   HELD(m)   held by member m (slot, generation)
 *   PUB(v)    published as VNode v's state by a member that let go of it
 * and a VNode's checkpoint descriptor (written only by core/ownership.c) names the buffer
 * holding its last committed state. A handle (one member's hold of one VNode) keeps two
 * buffers, both HELD by its member: `held`, the one its next commit writes, which no
 * descriptor names, and `pub`, the one it published last, which the descriptor names
 * while nobody has replaced it. A commit writes `held`, publishes it, and the buffer it
 * replaced becomes `held` for the next commit: in the steady state a commit is one CAS.
 * (Only CKPT_CACHERS_MAX handles of a member keep `held` between commits; the others
 * give the replaced buffer back and take a free one at their next commit.)
 *
 * Ownership table
 *   what                      written by                             read by
 *   bytes of `held`           its handle's thread only               nobody
 *   bytes of a named buffer   nobody                                 loaders
 *   holder FREE -> HELD(m)    m, CAS (acquire a buffer)              everyone
 *          HELD/PUB -> HELD(m)  m, CAS, once its own publish replaced it in v (whoever
 *                             held it published it and can no longer write it), only
 *                             from the word m read while it was still named, or from
 *                             that holder's let-go of it: never once it was freed
 *          HELD(m) -> PUB(v)  m, CAS, when its handle lets go of `pub` while named
 *          HELD(m) -> FREE    m (a refused or abandoned `held`, a replaced `pub` it does
 *                             not keep), or a reclaim of m once m's process is gone (CAS)
 *          PUB(v) -> FREE     CAS, by whoever sees no descriptor naming it: the handle
 *                             letting go, its replacer, or the reclaim of a replacer
 *                             that died before its take (its ckpt_replacing note)
 * Every change is one CAS or exchange from the exact word seen, and the word carries a
 * version, so none applies to a buffer that changed hands meanwhile.
 *
 * Why no byte of a fenced writer reaches a reader:
 *  1. A writer writes only its handle's `held`: a buffer its member took itself, from
 *     FREE or as the buffer its own publish had just replaced. None of them is named by
 *     a descriptor while it is written, and a replaced buffer is never named again.
 *  2. A descriptor comes to name a buffer only through its handle's publish, a CAS that
 *     expects the publisher's epoch; once a newer owner has sealed its epoch, no older
 *     owner publishes (core/ownership.c).
 *  3. A `held` buffer leaves HELD(m) only by m's own hand, or by a reclaim once m's
 *     process is gone (every thread of it, core/identity.c): never while m lives, however
 *     long it is stalled or paused, never on a timeout. (A replacer takes only a buffer
 *     that was named, never a `held`.)
 * So a fenced writer keeps writing only a buffer no descriptor names and, by 2, none ever
 * will; any number of stalled writers each keep their own; each new owner takes another.
 * A loader copies the buffer its descriptor names, verifies the checksum on its own copy
 * and re-reads the descriptor. Should 3 ever fail, a writer's checksum is seeded from the
 * header it built, not from the one in the buffer, so bytes written over another's header
 * are refused (-EBADMSG), never loaded as that header's state.
 *
 * What a commit costs: a handle's first commit takes a free buffer (the VNode's home
 * buffers first, then a scan of the spares from a cursor of this process, other VNodes'
 * home buffers last) and, after publishing, the buffer it replaced if its last holder
 * let go of it (PUB); each later commit of the same handle is the copy and the
 * publishing CAS. A handle that lets go (release, hand-off, leave, or a refused commit)
 * gives `held` back and marks `pub` PUB, freeing it at once if it was replaced meanwhile.
 *
 * Enough buffers: a VNode's current owner uses two, so 2 vnodes_max cover every owner;
 * a member holds at most CKPT_CACHERS_MAX more at rest, stalled or fenced out or not
 * (the replacer of a fenced-out handle's `pub` takes it), plus one per commit still in
 * flight on a VNode it lost, and the spares (16 per member slot) cover them. A commit
 * that still finds none (members with more than eight such stalled commits each, beyond
 * what the others leave free) returns -ENOBUFS: nothing is written, the last committed
 * state stays named, the caller retries (tests/unit/core/test_core_vnode.c fills the pool).
 *
 * Ordering edges
 *   [R12] publish (release) -> [A12] loaders: header and bytes are complete.
 *   [R36] a buffer given back, let go or taken by its replacer (release) -> [A36] its
 *         next taker's CAS, or the let-go's look: the last writer's use of it is over
 *         before anyone writes it again.
 * A handle letting go of `pub` and its replacer taking it race only on the holder word:
 * the replacer retries its CAS on each change (HELD -> PUB -> FREE) and stops at FREE.
 *
 * Progress: a commit is wait-free apart from the copy and, on a handle's first commit, the
 * search for a free buffer (bounded by ckpt_bufs); loaders of a foreign VNode retry while
 * its owner keeps committing.
 */
#include <errno.h>
#include <string.h>

#include "core/checkpoint.h"
#include "core/ownership.h"
#include "shm/checksum.h"
#include "shm/fault.h"
#include "shm/pf_assert.h"

#define READ_RETRIES_MAX 64 /* foreign reads racing a busy owner give up after this */
/* Handles of one member that keep their next buffer between commits: bounded, so a member
 * holds at most this many buffers at rest (stalled or not), plus one per commit in flight;
 * CKPT_SPARES_PER_MEMBER covers both. */
#define CKPT_CACHERS_MAX 8u
_Static_assert(CKPT_CACHERS_MAX * 2 <= CKPT_SPARES_PER_MEMBER, "spares cover the cached ones");

static uint64_t hdr_seed(const struct dom_ckpt_hdr *h)
{
	uint64_t words[5] = {h->vnode, h->epoch, h->seq, h->len, h->inbox_pos};

	return checksum_seed(words, PF_ARRAY_SIZE(words));
}

static uint64_t held_by(const struct pf_member *m)
{
	return hold_word(0, HOLD_HELD, hold_member(m->slot, m->gen));
}

/* Take buffer buf for holder `who` if it is FREE: 1 taken, 0 not. */
static int take_free_as(struct pf_domain *d, uint32_t who, uint32_t buf)
{
	_Atomic uint64_t *hw = &d->ckpt_hold[buf];
	/* Relaxed: a look; the CAS below decides. */
	uint64_t w = pf_load_relaxed(hw);

	if (hold_state(w) != HOLD_FREE)
		return 0;
	/* [A36] pairs with [R36] wherever a buffer is freed: its last writer's or reader's
	 * use is over before we write it. */
	return pf_cas_acq_rel(hw, &w, hold_word(hold_version(w) + 1, HOLD_HELD, who));
}

static int take_free(struct pf_member *m, uint32_t buf)
{
	return take_free_as(m->d, hold_member(m->slot, m->gen), buf);
}

/* A free buffer in [from, from + n), now HELD by m, looked for from a process-local
 * cursor: its index, or CKPT_BUF_NONE. */
static uint32_t buf_scan(struct pf_member *m, uint32_t from, uint32_t n)
{
	struct pf_domain *d = m->d;
	uint32_t start;

	if (n == 0)
		return CKPT_BUF_NONE;
	/* Relaxed: a process-local starting point, any value works. */
	start = pf_fetch_add_relaxed(&d->ckpt_cursor, 1) % n;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t buf = from + (start + i < n ? start + i : start + i - n);

		if (take_free(m, buf)) {
			/* Relaxed: the same starting point. */
			pf_store_relaxed(&d->ckpt_cursor, buf - from + 1);
			return buf;
		}
	}
	return CKPT_BUF_NONE;
}

/* A free buffer for VNode id, now HELD by m: its index, or CKPT_BUF_NONE. Its own home
 * buffers first, then the spares, and another VNode's home buffer only when no spare is
 * left: a VNode displaced from its home does not displace the next. */
static uint32_t buf_acquire(struct pf_member *m, uint32_t id)
{
	uint32_t homes = 2 * m->d->lim.vnodes_max, buf;

	/* Relaxed: read only by a reclaim, once this process is gone. */
	if (pf_load_relaxed(&m->rec->ckpt_used) == 0)
		pf_store_relaxed(&m->rec->ckpt_used, 1);
	for (uint32_t k = 0; k < 2; k++)
		if (take_free(m, 2 * id + k))
			return 2 * id + k;
	buf = buf_scan(m, homes, m->d->lim.ckpt_bufs - homes);
	return buf != CKPT_BUF_NONE ? buf : buf_scan(m, 0, homes);
}

/* Give back a buffer m holds that no descriptor names: FREE. */
static void buf_give_back(struct pf_member *m, uint32_t buf)
{
	_Atomic uint64_t *hw = &m->d->ckpt_hold[buf];
	/* Relaxed: a `held` buffer changes hands only by its handle while m lives. */
	uint64_t w = pf_load_relaxed(hw);

	if (hold_state(w) != HOLD_HELD || hold_who(w) != hold_member(m->slot, m->gen)) {
		/* Not ours: a shared word we cannot trust (a reclaim that judged our live
		 * process gone, or a stray write). Leave it to whoever holds it. */
		counter_add(m->d, PF_COUNTER_SHM_INVALID, 1);
		return;
	}
	/* [R36] pairs with [A36] in take_free(): our writes to it are over. */
	pf_store_release(hw, hold_word(hold_version(w) + 1, HOLD_FREE, 0));
}

/* A handle lets go of buf, the state it published in VNode id: PUB while a descriptor
 * names it, else FREE; left alone if a replacer took it already. */
static void let_go_published(struct pf_member *m, uint32_t id, uint32_t buf)
{
	struct pf_domain *d = m->d;
	_Atomic uint64_t *hw = &d->ckpt_hold[buf];
	/* [A36] pairs with [R36] in take_replaced(): whether it was taken from us. */
	uint64_t w = pf_load_acquire(hw), pub;

	if (hold_state(w) != HOLD_HELD || hold_who(w) != hold_member(m->slot, m->gen))
		return; /* its replacer took it */
	pub = hold_word(hold_version(w) + 1, HOLD_PUB, id);
	/* [R36] pairs with [A36] in take_replaced(): a replacer that took it first wins. */
	if (!pf_cas_acq_rel(hw, &w, pub))
		return;
	/* [A12] pairs with [R12]: replaced meanwhile? Then its replacer, which retries on
	 * our change, takes it or finds it free. */
	if (ckpt_buf(pf_load_acquire(&d->vnodes[id].ckpt)) != buf)
		/* [R36] pairs with [A36] in take_free() and take_replaced(). */
		(void)pf_cas_acq_rel(hw, &pub, hold_word(hold_version(pub) + 1, HOLD_FREE, 0));
}

void ckpt_handle_release(struct pf_vnode *h)
{
	struct pf_member *m = h->member;

	if (h->held != CKPT_BUF_NONE)
		buf_give_back(m, h->held);
	if (h->pub != CKPT_BUF_NONE)
		let_go_published(m, h->id, h->pub);
	if (h->caching)
		/* Relaxed: a process-local count. */
		pf_fetch_sub_relaxed(&m->ckpt_cachers, 1);
	h->held = h->pub = CKPT_BUF_NONE;
	h->caching = 0;
}

/*
 * old, just replaced in VNode id by our publish: no descriptor names it now and none
 * will again (only its holder publishes a buffer, and a handle publishes only its own
 * `held`, never its `pub`), so whoever published it can no longer write it, and nobody
 * else ever did. Take it for the next commit (keep), or free it.
 *
 * seen is its holder word read before our publish, while the descriptor still named it:
 * then it was HELD by its publisher or PUB(id), and could not be freed. Once replaced, its
 * publisher may let go of it (HELD -> PUB, version + 1) and it may be freed and taken by
 * anyone: a holder word that is neither `seen` nor that one step from it is another
 * holder's, never ours to take.
 */
static int take_replaced(struct pf_member *m, uint32_t id, uint32_t old, uint64_t seen, int keep)
{
	_Atomic uint64_t *hw = &m->d->ckpt_hold[old];
	/* Relaxed: a look; the CAS below decides. */
	uint64_t w = pf_load_relaxed(hw);

	for (int tries = 0; tries < 2; tries++) {
		uint64_t to = keep ? held_by(m) | ((uint64_t)(hold_version(w) + 1) << 32)
				   : hold_word(hold_version(w) + 1, HOLD_FREE, 0);
		int let_go = hold_state(seen) == HOLD_HELD && hold_state(w) == HOLD_PUB &&
			     hold_who(w) == id && hold_version(w) == hold_version(seen) + 1;

		if (w != seen && !let_go)
			return 0; /* freed, or freed and taken again */
		/* [A36][R36] pairs with [R36] in let_go_published() (its last use is over)
		 * and with its [A36] load (which then sees the buffer taken from it). */
		if (pf_cas_acq_rel(hw, &w, to))
			return keep;
	}
	return 0;
}

/* The header of state seq for the handle's VNode, into buffer b, and the bytes after it;
 * the checksum is computed while they are copied. The header is built here and the seed
 * taken from this copy, never read back from the buffer: were the buffer ever written by
 * another meanwhile (never, while the protocol holds), the checksum would not match the
 * header found there, and loaders would refuse it rather than take our bytes for it. */
static void write_state(struct pf_vnode *h, uint32_t b, uint32_t seq, const void *bytes, size_t len)
{
	struct pf_domain *d = h->member->d;
	struct dom_ckpt_hdr *dst = ckpt_buffer(d, b);
	const struct dom_ckpt_hdr hdr = {
		.vnode = h->id,
		.epoch = h->epoch,
		.seq = seq,
		.len = (uint32_t)len,
		.inbox_pos = h->cursor,
	};

	memcpy(dst, &hdr, sizeof(hdr)); /* its checksum is written last, below */
	PF_FAULT_POINT(CKPT_BEFORE_COPY);
#if PF_FAULT_INJECTION
	/* A torn copy for the fault points to stop in; the pass below writes it all again. */
	memcpy(dst + 1, bytes, len / 2);
	PF_FAULT_POINT(CKPT_MID_COPY);
#endif
	dst->checksum = checksum_copy((enum checksum_algo)d->lim.checksum, hdr_seed(&hdr), dst + 1,
				      bytes, len);
}

/* The header of a state and its bytes into buffer b, checksum computed in the copy: as
 * write_state(), for a state that did not come from a handle. */
static void write_hdr_state(struct pf_domain *d, uint32_t b, const struct dom_ckpt_hdr *hdr,
			    const void *bytes, size_t len)
{
	struct dom_ckpt_hdr *dst = ckpt_buffer(d, b);

	PF_ASSERT(hdr->len == len && len <= d->lim.state_bytes_max);
	memcpy(dst, hdr, sizeof(*hdr));
	dst->checksum = checksum_copy((enum checksum_algo)d->lim.checksum, hdr_seed(hdr), dst + 1,
				      bytes, len);
}

/* A refused publish: the handle is stale; `held` goes back, `pub` is let go. */
static int commit_refused(struct pf_vnode *h)
{
	counter_add(h->member->d, PF_COUNTER_STALE_REFUSED, 1);
	ckpt_handle_release(h);
	return -ESTALE;
}

/* Our publish replaced old (CKPT_BUF_NONE: nothing) in the handle's VNode; replacing:
 * old was not our own `pub`, seen its holder word read before the publish. Keep it as the
 * next commit's buffer, or give it back; decide whether the handle caches one. */
static void after_publish(struct pf_vnode *h, uint32_t old, int replacing, uint64_t seen)
{
	struct pf_member *m = h->member;

	if (!h->caching && h->pub == CKPT_BUF_NONE) {
		/* Relaxed: a process-local count; the first CKPT_CACHERS_MAX handles keep
		 * their next buffer between commits. */
		if (pf_fetch_add_relaxed(&m->ckpt_cachers, 1) < CKPT_CACHERS_MAX)
			h->caching = 1;
		else
			pf_fetch_sub_relaxed(&m->ckpt_cachers, 1); /* Relaxed: the same count. */
	}
	if (old != CKPT_BUF_NONE && old == h->pub && h->caching)
		h->held = old; /* ours, replaced by our own publish: the next commit writes it */
	else if (old != CKPT_BUF_NONE && old == h->pub)
		buf_give_back(m, old);
	else if (replacing && take_replaced(m, h->id, old, seen, h->caching))
		h->held = old;
	if (replacing)
		/* Relaxed: the same note as in pf_checkpoint_commit(); the replaced buffer is
		 * settled. */
		pf_fetch_sub_relaxed(&m->rec->ckpt_replacing, 1);
}

PF_API int pf_checkpoint_commit(struct pf_vnode *h, uint64_t epoch, const void *bytes, size_t len)
{
	struct pf_domain *d;
	struct pf_member *m;
	uint32_t b, old, seq;
	uint64_t c, seen = 0;
	int replacing;

	if (h == NULL || (bytes == NULL && len > 0))
		return -EINVAL;
	m = h->member;
	d = m->d;
	if (len > d->lim.state_bytes_max)
		return -EMSGSIZE;
	/* [A12] pairs with [R12] and [R11] in core/ownership.c. The descriptor's epoch is the
	 * only ownership check: no look at the ownership word could stop a transition landing
	 * right after it, and a commit published before the new owner's seal is what that
	 * seal hands on (one after it is refused). */
	c = pf_load_acquire(&d->vnodes[h->id].ckpt);
	if (epoch != h->epoch || ckpt_epoch(c) != h->epoch) {
		counter_add(d, PF_COUNTER_STALE_REFUSED, 1);
		return -ESTALE;
	}
	if (h->held == CKPT_BUF_NONE) {
		h->held = buf_acquire(m, h->id);
		if (h->held == CKPT_BUF_NONE)
			return -ENOBUFS;
	}
	b = h->held;
	seq = h->seq + 1 == 0 ? 1 : h->seq + 1;
	write_state(h, b, seq, bytes, len);
	PF_FAULT_POINT(CKPT_BEFORE_PUBLISH);
	old = ckpt_buf(c);
	replacing = old != CKPT_BUF_NONE && old != h->pub && old < d->lim.ckpt_bufs;
	if (replacing) {
		/* Relaxed: read only by a reclaim, once this process is gone; the publishing
		 * CAS (release) below keeps it before the publish. */
		pf_fetch_add_relaxed(&m->rec->ckpt_replacing, 1);
		/* Relaxed: ordered before the publishing CAS (release); see take_replaced(). */
		seen = pf_load_relaxed(&d->ckpt_hold[old]);
	}
	if (!own_ckpt_publish(d, h->id, &c, ckpt_word(h->epoch, seq, b))) {
		if (replacing)
			/* Relaxed: the same note. */
			pf_fetch_sub_relaxed(&m->rec->ckpt_replacing, 1);
		return commit_refused(h); /* sealed by a newer owner meanwhile */
	}
	PF_FAULT_POINT(CKPT_AFTER_PUBLISH);
	h->seq = seq;
	h->held = CKPT_BUF_NONE;
	after_publish(h, old, replacing, seen);
	h->pub = b;
	/* Relaxed: a statistic of the member, written by its own threads without a locked
	 * instruction (as received is, core/inbox.c): threads of one member committing
	 * other VNodes at the same instant may undercount it. */
	pf_store_relaxed(&m->rec->commits, pf_load_relaxed(&m->rec->commits) + 1);
	h->committed = h->cursor;
	h->freed = inbox_free_upto(d, h->id, h->committed);
	return 0;
}

/* 1 when hdr, a private copy of a buffer's header, is that of a state descriptor c of
 * VNode id may name: its VNode, its sequence tag, an epoch no newer than c's (a buffer
 * rewritten by a newer owner is not c's state) and a length that fits. */
static int hdr_names(const struct dom_ckpt_hdr *hdr, uint32_t id, uint64_t c, uint32_t len_max)
{
	return hdr->vnode == id && hdr->seq != 0 && (hdr->seq & CKPT_TAG_MASK) == ckpt_tag(c) &&
	       (int32_t)(hdr->epoch - ckpt_epoch(c)) <= 0 && hdr->len <= len_max;
}

/* Copy and verify the state descriptor c names (buffer, tag) of VNode id into buf. A
 * refusal is not counted here: it may be a race with the owner (see ckpt_copy_stable()). */
static int ckpt_copy(struct pf_domain *d, uint32_t id, uint64_t c, void *buf, size_t cap,
		     size_t *ret_len, struct dom_ckpt_hdr *ret_hdr)
{
	uint32_t b = ckpt_buf(c);
	const struct dom_ckpt_hdr *src;
	struct dom_ckpt_hdr hdr;

	if (b >= d->lim.ckpt_bufs)
		return -EBADMSG;
	src = ckpt_buffer(d, b);
	memcpy(&hdr, src, sizeof(hdr)); /* validate our copy, not the shared original */
	if (!hdr_names(&hdr, id, c, d->lim.state_bytes_max))
		return -EBADMSG;
	*ret_len = hdr.len;
	if (hdr.len > cap)
		return -ENOBUFS;
	PF_FAULT_POINT(CKPT_LOAD_MID_COPY); /* header checked, bytes not copied yet */
	if (checksum_copy((enum checksum_algo)d->lim.checksum, hdr_seed(&hdr), buf, src + 1,
			  hdr.len) != hdr.checksum) {
		memset(buf, 0, hdr.len); /* never hand out a torn or corrupt state */
		return -EBADMSG;
	}
	*ret_hdr = hdr;
	return 0;
}

/*
 * ckpt_copy() of the state descriptor c names, then the descriptor read again: the copy
 * counts only if it still names what we copied, else the buffer may have been replaced and
 * reused under us and whatever we found means nothing. 0, -ENOBUFS, -EBADMSG (refused,
 * and counted corrupt: the descriptor did not move, so what it names is bad), or -EAGAIN
 * (the descriptor moved: a race with its owner, not counted).
 */
static int ckpt_copy_stable(struct pf_domain *d, uint32_t id, uint64_t c, void *buf, size_t cap,
			    size_t *ret_len, struct dom_ckpt_hdr *ret_hdr)
{
	int r = ckpt_copy(d, id, c, buf, cap, ret_len, ret_hdr);

	/* [A12] pairs with [R12] in core/ownership.c (and [R11]): as a seqlock reader's,
	 * this fence keeps the plain loads of the copy above before the re-read below. */
	pf_fence_acquire();
	/* Relaxed: ordered after the copy by the fence above. */
	if (pf_load_relaxed(&d->vnodes[id].ckpt) != c)
		return -EAGAIN;
	if (r == -EBADMSG)
		counter_add(d, PF_COUNTER_CKPT_CORRUPT, 1);
	return r;
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
	/* [A12] pairs with [R12] in core/ownership.c; its epoch is the ownership check, as in
	 * the commit. */
	c = pf_load_acquire(&d->vnodes[h->id].ckpt);
	if (ckpt_epoch(c) != h->epoch)
		return -ESTALE;
	if (ckpt_buf(c) == CKPT_BUF_NONE)
		return -ENOENT;
	r = ckpt_copy_stable(d, h->id, c, buf, cap, ret_len, &hdr);
	if (r == -EAGAIN)
		return -ESTALE; /* only a newer owner moves it now */
	if (r < 0)
		return r;
	/* Resume the inbox where this state had consumed it, and free up to there: the
	 * claim took the unverified header's position as a hint only and freed nothing. */
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
	return ckpt_read(d, id, buf, cap, ret_len, ret_seq, NULL);
}

int ckpt_read(struct pf_domain *d, uint32_t id, void *buf, size_t cap, size_t *ret_len,
	      uint64_t *ret_seq, uint64_t *ret_inbox_pos)
{
	PF_ASSERT(id < d->lim.vnodes_max && ret_len != NULL);
	*ret_len = 0;
	for (int i = 0; i < READ_RETRIES_MAX; i++) {
		/* [A12] pairs with [R12] in core/ownership.c. */
		uint64_t c = pf_load_acquire(&d->vnodes[id].ckpt);
		struct dom_ckpt_hdr hdr;
		int r;

		if (ckpt_buf(c) == CKPT_BUF_NONE)
			return -ENOENT;
		r = ckpt_copy_stable(d, id, c, buf, cap, ret_len, &hdr);
		if (r == -EAGAIN)
			continue; /* the owner committed meanwhile: again */
		if (r == 0 && ret_seq != NULL)
			*ret_seq = hdr.seq;
		if (r == 0 && ret_inbox_pos != NULL)
			*ret_inbox_pos = hdr.inbox_pos;
		return r;
	}
	return -EBUSY;
}

/* The buffer descriptor c of VNode id names, and a copy of its header: 1 when that header
 * names (id, c), 0 when it does not, -ENOENT (none named), -EBADMSG (no such buffer). */
static int named_buf(struct pf_domain *d, uint32_t id, uint64_t c,
		     const struct dom_ckpt_hdr **ret_src, struct dom_ckpt_hdr *hdr)
{
	uint32_t b = ckpt_buf(c);

	if (b == CKPT_BUF_NONE)
		return -ENOENT;
	if (b >= d->lim.ckpt_bufs)
		return -EBADMSG;
	*ret_src = ckpt_buffer(d, b);
	/* Plain copy, ordered after the caller's [A12] load of the descriptor; a torn or
	 * foreign header is what hdr_names() refuses. */
	memcpy(hdr, *ret_src, sizeof(*hdr));
	return hdr_names(hdr, id, c, d->lim.state_bytes_max);
}

/* The state named now, where it lies (LEAVING: nobody can replace it), its checksum
 * verified in place when `verify`, from its header as read here. 0, -ENOENT, -EBADMSG
 * (not counted: only the caller knows, once it looked at the VNode again, whether the
 * state was still the one it meant). */
static int named_state(struct pf_domain *d, uint32_t id, int verify, const void **ret_bytes,
		       size_t *ret_len, uint64_t *ret_seq, uint64_t *ret_inbox_pos)
{
	/* [A12] pairs with [R12] in core/ownership.c. */
	uint64_t c = pf_load_acquire(&d->vnodes[id].ckpt);
	const struct dom_ckpt_hdr *src = NULL;
	struct dom_ckpt_hdr hdr;
	int named;

	PF_ASSERT(id < d->lim.vnodes_max);
	named = named_buf(d, id, c, &src, &hdr);
	if (named < 0)
		return named;
	if (!named)
		return -EBADMSG;
	if (verify && checksum_compute((enum checksum_algo)d->lim.checksum, hdr_seed(&hdr), src + 1,
				       hdr.len) != hdr.checksum)
		return -EBADMSG;
	*ret_bytes = src + 1;
	*ret_len = hdr.len;
	*ret_seq = hdr.seq;
	*ret_inbox_pos = hdr.inbox_pos;
	return 0;
}

int ckpt_view(struct pf_domain *d, uint32_t id, const void **ret_bytes, size_t *ret_len,
	      uint64_t *ret_seq, uint64_t *ret_inbox_pos)
{
	return named_state(d, id, 0, ret_bytes, ret_len, ret_seq, ret_inbox_pos);
}

int ckpt_verify(struct pf_domain *d, uint32_t id, size_t len, uint64_t seq)
{
	const void *bytes;
	size_t now_len = 0;
	uint64_t now_seq = 0, pos;
	int r = named_state(d, id, 1, &bytes, &now_len, &now_seq, &pos);

	if (r == 0 && (now_len != len || now_seq != seq))
		return -EBADMSG; /* the header changed under a state nobody may replace */
	return r;
}

int ckpt_range(struct pf_domain *d, uint32_t id, uint64_t off, void *buf, size_t cap,
	       size_t *ret_copied, size_t *ret_len, uint64_t *ret_seq)
{
	PF_ASSERT(id < d->lim.vnodes_max);
	for (int i = 0; i < READ_RETRIES_MAX; i++) {
		/* [A12] pairs with [R12] in core/ownership.c. */
		uint64_t c = pf_load_acquire(&d->vnodes[id].ckpt);
		const struct dom_ckpt_hdr *src = NULL;
		struct dom_ckpt_hdr hdr;
		int named = named_buf(d, id, c, &src, &hdr);
		size_t n = 0;

		if (named < 0)
			return named;
		if (named && off < hdr.len && cap > 0) {
			n = hdr.len - off < cap ? hdr.len - off : cap;
			memcpy(buf, (const unsigned char *)(src + 1) + off, n);
		}
		/* [A12] pairs with [R12] in core/ownership.c (and [R11]): as a seqlock reader's,
		 * this fence keeps the plain loads of the copy above before the re-read below. */
		pf_fence_acquire();
		/* Relaxed: ordered after the copy by the fence above. */
		if (pf_load_relaxed(&d->vnodes[id].ckpt) != c)
			continue; /* the owner committed meanwhile: again */
		if (!named) {
			counter_add(d, PF_COUNTER_CKPT_CORRUPT, 1);
			return -EBADMSG;
		}
		*ret_copied = n;
		*ret_len = hdr.len;
		*ret_seq = hdr.seq;
		return 0;
	}
	return -EAGAIN;
}

int ckpt_read_at(struct pf_domain *d, uint32_t id, uint64_t c, void *buf, size_t cap,
		 size_t *ret_len, uint64_t *ret_seq, uint64_t *ret_inbox_pos)
{
	struct dom_ckpt_hdr hdr;
	int r;

	PF_ASSERT(id < d->lim.vnodes_max && ret_len != NULL);
	*ret_len = 0;
	if (ckpt_buf(c) == CKPT_BUF_NONE)
		return -ENOENT;
	r = ckpt_copy_stable(d, id, c, buf, cap, ret_len, &hdr);
	if (r == 0) {
		*ret_seq = hdr.seq;
		*ret_inbox_pos = hdr.inbox_pos;
	}
	return r;
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
	/* Unverified: the buffer may have been replaced and rewritten since c was read, even
	 * while we copy; callers use it as a hint only (the load verifies). */
	memcpy(&hdr, ckpt_buffer(d, b), sizeof(hdr));
	if (!hdr_names(&hdr, id, c, d->lim.state_bytes_max))
		return 0;
	if (ret_inbox_pos != NULL)
		*ret_inbox_pos = hdr.inbox_pos;
	return hdr.seq;
}

/* Buffer buf, held by a gone member (`who`) or published and perhaps replaced: settle.
 * 1 if its holder word changed, 0 if it was left as it was. */
static int settle(struct pf_domain *d, uint32_t buf, uint64_t w, uint32_t who)
{
	_Atomic uint64_t *hw = &d->ckpt_hold[buf];
	uint32_t v = UINT32_MAX;
	int changed = 0;

	if (hold_state(w) == HOLD_HELD && hold_who(w) != who)
		return 0; /* a live member's */
	if (hold_state(w) == HOLD_HELD) {
		/* Its header names the VNode it was written for; a descriptor names it only if
		 * it was published (a buffer is taken unnamed, and only its holder names it). */
		memcpy(&v, &ckpt_buffer(d, buf)->vnode, sizeof(v));
		/* [A12] pairs with [R12]: was it published? */
		if (v < d->lim.vnodes_max && ckpt_buf(pf_load_acquire(&d->vnodes[v].ckpt)) == buf) {
			uint64_t pub = hold_word(hold_version(w) + 1, HOLD_PUB, v);

			/* [R36] pairs with [A36] in take_replaced(): let go, as its holder would.
			 */
			if (!pf_cas_acq_rel(hw, &w, pub))
				return 0;
			w = pub; /* and if a replacer came meanwhile, free it below */
			changed = 1;
		}
	}
	if (hold_state(w) == HOLD_PUB) {
		v = hold_who(w);
		/* [A12] pairs with [R12]: named by its VNode, or replaced and ownerless? */
		if (v < d->lim.vnodes_max && ckpt_buf(pf_load_acquire(&d->vnodes[v].ckpt)) == buf)
			return changed;
	}
	/* [R36] pairs with [A36] in take_free(). */
	return pf_cas_acq_rel(hw, &w, hold_word(hold_version(w) + 1, HOLD_FREE, 0)) || changed;
}

uint32_t ckpt_reclaim(struct pf_domain *d, uint32_t slot, uint32_t gen)
{
	uint32_t who = hold_member(slot, gen), settled = 0;
	/* Relaxed: written by a process now gone (or the new member's attach: 0, or a count
	 * of its own commits, which only makes us look further). A buffer is left published
	 * and named by none only by a replacer that died between its publish and its take,
	 * that is, with this note up: without it, the published buffers are not ours to look
	 * at (each would cost a load of its VNode's descriptor). */
	int orphans =
		slot < d->lim.members_max && pf_load_relaxed(&d->members[slot].ckpt_replacing) != 0;

	for (uint32_t buf = 0; buf < d->lim.ckpt_bufs; buf++) {
		/* [A36] pairs with [R36]: the holder word as its last writer left it. */
		uint64_t w = pf_load_acquire(&d->ckpt_hold[buf]);

		if ((hold_state(w) == HOLD_HELD && hold_who(w) == who) ||
		    (orphans && hold_state(w) == HOLD_PUB))
			settled += (uint32_t)settle(d, buf, w, who);
	}
	return settled;
}

/*
 * A state that arrived from another host, installed as VNode id's checkpoint at `epoch`
 * (the arrival's, sealed into the descriptor by own_arrive(); nobody owns the VNode, so
 * nobody else publishes). The buffer is held by HOLD_HOST while it is written, then
 * published and let go (PUB), as a member's handle would; a daemon that dies in between
 * leaves it HELD by HOLD_HOST, which ckpt_reclaim_host() settles. 0, -EMSGSIZE,
 * -ENOBUFS (no free buffer), -ESTALE (the descriptor is no longer at that epoch).
 */
uint32_t ckpt_host_take(struct pf_domain *d, uint32_t id)
{
	uint32_t homes = 2 * d->lim.vnodes_max, b = CKPT_BUF_NONE;

	PF_ASSERT(id < d->lim.vnodes_max);
	for (uint32_t k = 0; k < 2 && b == CKPT_BUF_NONE; k++)
		b = take_free_as(d, HOLD_HOST, 2 * id + k) ? 2 * id + k : CKPT_BUF_NONE;
	for (uint32_t i = homes; i < d->lim.ckpt_bufs && b == CKPT_BUF_NONE; i++)
		b = take_free_as(d, HOLD_HOST, i) ? i : CKPT_BUF_NONE;
	return b;
}

int ckpt_host_held(struct pf_domain *d, uint32_t b)
{
	uint64_t w;

	if (b >= d->lim.ckpt_bufs)
		return 0;
	/* Relaxed: only this host's daemon moves a buffer it holds; a look at our own. */
	w = pf_load_relaxed(&d->ckpt_hold[b]);
	return hold_state(w) == HOLD_HELD && hold_who(w) == HOLD_HOST;
}

void *ckpt_host_bytes(struct pf_domain *d, uint32_t b)
{
	return ckpt_buffer(d, b) + 1;
}

void ckpt_host_give(struct pf_domain *d, uint32_t b)
{
	/* [A36] pairs with [R36] in take_free_as(), our own take of it. */
	(void)settle(d, b, pf_load_acquire(&d->ckpt_hold[b]), HOLD_HOST);
}

/* Publish buffer b, HELD by the host and written (header and bytes), as id's state at
 * epoch; it is let go either way. 0, or -ESTALE. */
static int host_publish(struct pf_domain *d, uint32_t id, uint32_t epoch, uint32_t seq, uint32_t b)
{
	uint32_t old;
	uint64_t c, seen = 0;
	int published;

	/* [A12] pairs with [R12] and [R11]: the descriptor as the arrival sealed it. */
	c = pf_load_acquire(&d->vnodes[id].ckpt);
	old = ckpt_buf(c);
	if (old != CKPT_BUF_NONE && old < d->lim.ckpt_bufs)
		/* [A36] pairs with [R36]: its holder word while still named. */
		seen = pf_load_acquire(&d->ckpt_hold[old]);
	published = ckpt_epoch(c) == epoch && own_ckpt_publish(d, id, &c, ckpt_word(epoch, seq, b));
	/* Ours: let go of it as a handle would, PUB if named, else FREE. */
	ckpt_host_give(d, b);
	if (!published)
		return -ESTALE;
	/* The state it replaced, published by a member that let go of it: no longer named. */
	if (old != CKPT_BUF_NONE && old < d->lim.ckpt_bufs && hold_state(seen) == HOLD_PUB)
		(void)settle(d, old, seen, HOLD_HOST);
	return 0;
}

/* The header of a state this host installs. */
static struct dom_ckpt_hdr host_hdr(uint32_t id, uint32_t epoch, uint32_t seq, size_t len,
				    uint64_t inbox_pos)
{
	return (struct dom_ckpt_hdr){
		.vnode = id,
		.epoch = epoch,
		.seq = seq,
		.len = (uint32_t)len,
		.inbox_pos = inbox_pos,
	};
}

int ckpt_host_publish(struct pf_domain *d, uint32_t id, uint32_t epoch, uint32_t seq, uint32_t b,
		      size_t len, uint64_t inbox_pos)
{
	const struct dom_ckpt_hdr hdr = host_hdr(id, epoch, seq, len, inbox_pos);
	struct dom_ckpt_hdr *dst = ckpt_buffer(d, b);

	PF_ASSERT(id < d->lim.vnodes_max && len <= d->lim.state_bytes_max);
	memcpy(dst, &hdr, sizeof(hdr));
	dst->checksum =
		checksum_compute((enum checksum_algo)d->lim.checksum, hdr_seed(&hdr), dst + 1, len);
	return host_publish(d, id, epoch, seq, b);
}

int ckpt_install(struct pf_domain *d, uint32_t id, uint32_t epoch, uint32_t seq, const void *bytes,
		 size_t len, uint64_t inbox_pos)
{
	const struct dom_ckpt_hdr hdr = host_hdr(id, epoch, seq, len, inbox_pos);
	uint32_t b;

	PF_ASSERT(id < d->lim.vnodes_max);
	if (len > d->lim.state_bytes_max)
		return -EMSGSIZE;
	b = ckpt_host_take(d, id);
	if (b == CKPT_BUF_NONE)
		return -ENOBUFS;
	write_hdr_state(d, b, &hdr, bytes, len);
	return host_publish(d, id, epoch, seq, b);
}

int ckpt_forget(struct pf_domain *d, uint32_t id, uint32_t epoch)
{
	/* [A12] pairs with [R12] and [R11]: the descriptor as the arrival sealed it. */
	uint64_t c = pf_load_acquire(&d->vnodes[id].ckpt), seen = 0;
	uint32_t old = ckpt_buf(c);

	PF_ASSERT(id < d->lim.vnodes_max);
	if (old != CKPT_BUF_NONE && old < d->lim.ckpt_bufs)
		/* [A36] pairs with [R36]: its holder word while still named. */
		seen = pf_load_acquire(&d->ckpt_hold[old]);
	if (ckpt_epoch(c) != epoch ||
	    !own_ckpt_publish(d, id, &c, ckpt_word(epoch, 0, CKPT_BUF_NONE)))
		return -ESTALE;
	if (old != CKPT_BUF_NONE && old < d->lim.ckpt_bufs && hold_state(seen) == HOLD_PUB)
		(void)settle(d, old, seen, HOLD_HOST);
	return 0;
}

uint32_t ckpt_reclaim_host(struct pf_domain *d)
{
	uint32_t settled = 0;

	for (uint32_t buf = 0; buf < d->lim.ckpt_bufs; buf++) {
		/* [A36] pairs with [R36]: the holder word as its last writer left it. */
		uint64_t w = pf_load_acquire(&d->ckpt_hold[buf]);

		if (hold_state(w) == HOLD_HELD && hold_who(w) == HOLD_HOST)
			settled += (uint32_t)settle(d, buf, w, HOLD_HOST);
	}
	return settled;
}
