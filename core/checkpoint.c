/* SPDX-License-Identifier: MIT */
/*
 * core/checkpoint.c: A/B checkpoint slots per VNode, fenced by epoch.
 *
 * Ownership     field               written by                 read by
 *               descriptor word     owner (commit CAS), claimer (seal CAS)   everyone
 *               slot (descriptor's active ^ 1)   the owner, plain stores    nobody yet
 *               slot (active)       nobody                                   loaders
 *
 * Ordering edges
 *   [R12] commit's CAS of the descriptor (release) -> [A12] loader's acquire of the
 *         descriptor: header and bytes of the new active slot are complete.
 *   [R11] claim's seal (vnode.c) -> [A12] in commit: an older owner's CAS, which
 *         expects its own epoch in the word, fails once the new epoch is sealed in.
 *
 * Why nothing torn is ever returned: bytes go to the inactive slot, and only then does
 * one CAS make it active; a crash before the CAS leaves the previous checkpoint active
 * and whole. A checkpoint's checksum covers its header fields (as the seed) and its
 * bytes, and a loader verifies the checksum on its own copy, after copying, so even a
 * writer scribbling concurrently cannot slip a torn state past it. Progress: wait-free
 * for the owner; loaders of a foreign VNode retry while its owner keeps committing.
 */
#include <errno.h>
#include <string.h>

#include "core/member_impl.h"
#include "core/ownership.h"
#include "shm/checksum.h"
#include "shm/fault.h"
#include "shm/pf_assert.h"

#define READ_RETRIES_MAX 64 /* foreign reads racing a busy owner give up after this */

static uint64_t ckpt_sum(const struct pf_domain *d, const struct dom_ckpt_hdr *h, const void *bytes)
{
	uint64_t words[5] = {h->vnode, h->epoch, h->seq, h->len, h->inbox_pos};

	return checksum_compute((enum checksum_algo)d->lim.checksum,
				checksum_seed(words, PF_ARRAY_SIZE(words)), bytes, h->len);
}

static int owner_holds(struct pf_vnode *h)
{
	struct pf_member *m = h->member;
	/* [A10] pairs with [R10] in vnode.c. */
	uint64_t w = pf_load_acquire(&m->d->own[h->id]);

	return own_is_owned(w) && own_slot(w) == m->slot && own_gen(w) == (m->gen & OWN_GEN_MASK) &&
	       own_epoch(w) == h->epoch;
}

PF_API int pf_checkpoint_commit(struct pf_vnode *h, uint64_t epoch, const void *bytes, size_t len)
{
	struct pf_domain *d;
	struct dom_ckpt_hdr *slot;
	uint64_t c, next;
	uint32_t target, seq;

	if (h == NULL || (bytes == NULL && len > 0))
		return -EINVAL;
	d = h->member->d;
	if (len > d->lim.state_bytes_max)
		return -EMSGSIZE;
	/* [A12] pairs with [R12] and [R11] in core/ownership.c. */
	c = pf_load_acquire(&d->vnodes[h->id].ckpt);
	if (epoch != h->epoch || ckpt_epoch(c) != h->epoch || !owner_holds(h)) {
		counter_add(d, PF_COUNTER_STALE_REFUSED, 1);
		return -ESTALE;
	}
	seq = (ckpt_seq(c) + 1) & CKPT_SEQ_MASK;
	if (seq == 0)
		seq = 1; /* 0 means "never committed" */
	target = ckpt_seq(c) == 0 ? 0 : ckpt_active(c) ^ 1u;
	slot = ckpt_slot(d, h->id, target);
	slot->vnode = h->id;
	slot->epoch = h->epoch;
	slot->seq = seq;
	slot->len = (uint32_t)len;
	slot->inbox_pos = h->cursor;
	slot->commit_ns = now_ns();
	memset(slot->reserved, 0, sizeof(slot->reserved));
	PF_FAULT_POINT(CKPT_BEFORE_COPY);
	memcpy(slot + 1, bytes, len / 2);
	PF_FAULT_POINT(CKPT_MID_COPY);
	memcpy((unsigned char *)(slot + 1) + len / 2, (const unsigned char *)bytes + len / 2,
	       len - len / 2);
	slot->checksum = ckpt_sum(d, slot, slot + 1);
	PF_FAULT_POINT(CKPT_BEFORE_PUBLISH);
	next = ckpt_word(h->epoch, seq, target);
	if (!own_ckpt_publish(d, h->id, &c, next)) {
		counter_add(d, PF_COUNTER_STALE_REFUSED, 1);
		return -ESTALE; /* sealed by a newer owner meanwhile */
	}
	PF_FAULT_POINT(CKPT_AFTER_PUBLISH);
	/* Relaxed: only writer; a statistic. */
	pf_fetch_add_relaxed(&h->member->rec->commits, 1);
	h->committed = h->cursor;
	h->freed = inbox_free_upto(d, h->id, h->committed);
	return 0;
}

/* Copy and verify the active checkpoint described by c into buf. */
static int ckpt_copy(struct pf_domain *d, uint32_t id, uint64_t c, void *buf, size_t cap,
		     size_t *ret_len, uint64_t *ret_inbox_pos)
{
	const struct dom_ckpt_hdr *slot = ckpt_slot(d, id, ckpt_active(c));
	struct dom_ckpt_hdr hdr;

	memcpy(&hdr, slot, sizeof(hdr)); /* validate our copy, not the shared original */
	if (hdr.vnode != id || hdr.seq != ckpt_seq(c) || (int32_t)(hdr.epoch - ckpt_epoch(c)) > 0 ||
	    hdr.len > d->lim.state_bytes_max) {
		counter_add(d, PF_COUNTER_CKPT_CORRUPT, 1);
		return -EBADMSG;
	}
	*ret_len = hdr.len;
	if (hdr.len > cap)
		return -ENOBUFS;
	memcpy(buf, slot + 1, hdr.len);
	if (ckpt_sum(d, &hdr, buf) != hdr.checksum) {
		memset(buf, 0, hdr.len); /* never hand out a torn or corrupt state */
		counter_add(d, PF_COUNTER_CKPT_CORRUPT, 1);
		return -EBADMSG;
	}
	*ret_inbox_pos = hdr.inbox_pos;
	return 0;
}

PF_API int pf_checkpoint_load(struct pf_vnode *h, void *buf, size_t cap, size_t *ret_len)
{
	struct pf_domain *d;
	uint64_t c, pos;
	int r;

	if (h == NULL || ret_len == NULL || (buf == NULL && cap > 0))
		return -EINVAL;
	d = h->member->d;
	*ret_len = 0;
	/* [A12] pairs with [R12] in pf_checkpoint_commit(). */
	c = pf_load_acquire(&d->vnodes[h->id].ckpt);
	if (ckpt_epoch(c) != h->epoch || !owner_holds(h))
		return -ESTALE;
	if (ckpt_seq(c) == 0)
		return -ENOENT;
	r = ckpt_copy(d, h->id, c, buf, cap, ret_len, &pos);
	if (r < 0)
		return r;
	/* Resume the inbox where this state had consumed it (the claim did the same from
	 * the unverified header; this is the verified value). */
	h->cursor = pos;
	h->committed = pos;
	h->freed = inbox_free_upto(d, h->id, pos);
	return 0;
}

PF_API int pf_checkpoint_read(struct pf_domain *d, uint32_t id, void *buf, size_t cap,
			      size_t *ret_len, uint64_t *ret_seq)
{
	if (d == NULL || id >= d->lim.vnodes_max || ret_len == NULL || (buf == NULL && cap > 0))
		return -EINVAL;
	*ret_len = 0;
	for (int i = 0; i < READ_RETRIES_MAX; i++) {
		/* [A12] pairs with [R12] in pf_checkpoint_commit(). */
		uint64_t c = pf_load_acquire(&d->vnodes[id].ckpt), pos;
		int r;

		if (ckpt_seq(c) == 0)
			return -ENOENT;
		r = ckpt_copy(d, id, c, buf, cap, ret_len, &pos);
		/* [A12] pairs with [R12] in pf_checkpoint_commit(): if the descriptor moved
		 * while we copied, the slot may have been rewritten under us; retry. */
		if (r == -ENOBUFS)
			return r;
		if (pf_load_acquire(&d->vnodes[id].ckpt) != c)
			continue;
		if (r == 0 && ret_seq != NULL)
			*ret_seq = ckpt_seq(c);
		return r;
	}
	return -EBUSY;
}
