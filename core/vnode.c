/* SPDX-License-Identifier: MIT */
/*
 * core/vnode.c: VNode definition, claim and release; the pending queue's consumers.
 *
 * The ownership word (core/layout.h) is changed only by the named transitions of
 * core/ownership.c (define, place, hand-off, release); this file calls them and keeps the
 * process-local handles of what a member owns.
 *
 * The pending queue is a lock-free MPMC ring of VNode ids (shm/ring_mpmc.h) holding
 * hints, not truth: the ownership word decides. Its one consumer is the placer (core/
 * placer.c: pflightd's scheduler, or the members' own rounds), which pops an id, checks
 * the word is still PENDING, decides, and CASes it to the member on its behalf; the
 * member takes it from its assignment ring (pf_vnode_claim, pf_vnode_adopt). Entries can
 * be stale (the VNode was claimed by id meanwhile: dropped) or missing (a placer died
 * between pop and CAS, or a pusher died before its push): the supervisors' sweep finds
 * PENDING VNodes whose last queue position has been consumed and queues them again, so
 * no VNode is ever lost (invariant 2). pf_vnode_claim_id() takes a given VNode directly,
 * for a caller that decided itself.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "core/checkpoint.h"
#include "core/ownership.h"
#include "core/validate.h"
#include "pflight/numa.h"
#include "shm/fault.h"
#include "shm/pf_assert.h"

PF_API void pf_vnode_spec_init(struct pf_vnode_spec *spec)
{
	PF_ASSERT(spec != NULL);
	memset(spec, 0, sizeof(*spec));
	spec->size = sizeof(*spec);
	spec->home_node = -1;
}

PF_API int pf_vnode_id_from_name(struct pf_domain *d, const char *name, uint32_t *ret_id)
{
	size_t len;

	if (d == NULL || name == NULL || ret_id == NULL)
		return -EINVAL;
	len = strnlen(name, PF_VNODE_NAME_MAX + 1);
	if (len == 0 || len > PF_VNODE_NAME_MAX)
		return -EINVAL;
	*ret_id = (uint32_t)(XXH3_64bits(name, len) % d->lim.vnodes_max);
	return 0;
}

static int spec_resolve(const struct pf_vnode_spec *in, struct pf_vnode_spec *out)
{
	pf_vnode_spec_init(out);
	if (in == NULL)
		return 0;
	if (opts_copy(out, sizeof(*out), in, offsetof(struct pf_vnode_spec, reserved0)) < 0)
		return -EINVAL;
	if (out->caps_count > PF_CAPS_MAX)
		return -E2BIG;
	if (out->home_node < -1 || out->reserved0 != 0 || out->reserved[0] != 0 ||
	    out->reserved[1] != 0)
		return -EINVAL;
	return 0;
}

/* Write a VNode's requirements and make it PENDING. Caller holds the control lock. */
static int define_locked(struct pf_domain *d, uint32_t id, const uint64_t caps[2], int32_t home)
{
	struct dom_vnode *v = &d->vnodes[id];
	/* Relaxed: re-validated by the CAS below; definitions are serialised by the lock. */
	uint64_t w = pf_load_relaxed(&d->own[id]);

	if (own_state(w) != PF_VNODE_UNASSIGNED)
		return -EEXIST;
	v->caps[0] = caps[0];
	v->caps[1] = caps[1];
	v->home_node = home;
	/* Relaxed: published by the define transition below. */
	pf_store_relaxed(&v->pending_pos, PENDING_POS_NONE);
	return own_define(d, id, w);
}

/*
 * Put a VNode's state (its checkpoint slots and its inbox) on its home node's memory,
 * where the machine has several nodes. Only the pages wholly inside the VNode's own
 * ranges are bound, so a neighbour's placement is never changed; with small states the
 * pages are shared and stay where first touched.
 */
static void bind_home(struct pf_domain *d, uint32_t id, int32_t home)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	struct {
		unsigned char *base;
		uint64_t bytes;
	} ranges[2] = {
		{(unsigned char *)ckpt_buffer(d, 2 * id), 2 * d->lim.ckpt_slot_bytes},
		{(unsigned char *)inbox_slot(d, id, 0),
		 (uint64_t)d->lim.inbox_slots * d->lim.inbox_slot_bytes},
	};

	if (home < 0)
		return;
	if (d->numa_nodes == 0) {
		if (pf_numa_open_system(&d->numa) < 0)
			d->numa = NULL;
		d->numa_nodes = d->numa != NULL ? pf_numa_nodes(d->numa) : 1;
	}
	if (d->numa_nodes < 2 || home >= d->numa_nodes)
		return;
	for (size_t i = 0; i < PF_ARRAY_SIZE(ranges); i++) {
		uintptr_t lo = PF_ALIGN_UP((uintptr_t)ranges[i].base, page);
		uintptr_t hi = ((uintptr_t)ranges[i].base + ranges[i].bytes) & ~(page - 1);

		if (hi > lo)
			(void)pf_numa_bind(d->numa, (void *)lo, hi - lo, home);
	}
}

PF_API int pf_vnode_define_range(struct pf_domain *d, uint32_t first, uint32_t count,
				 const struct pf_vnode_spec *spec)
{
	struct pf_vnode_spec s;
	uint64_t caps[2];
	int r, defined = 0;

	if (d == NULL || count == 0 || first >= d->lim.vnodes_max ||
	    count > d->lim.vnodes_max - first)
		return -EINVAL;
	r = spec_resolve(spec, &s);
	if (r < 0)
		return r;
	r = caps_intern(d, s.caps, s.caps_count, caps);
	if (r < 0)
		return r;
	r = domain_lock(d);
	if (r < 0)
		return r;
	for (uint32_t i = 0; i < count; i++) {
		r = define_locked(d, first + i, caps, s.home_node);
		if (r == -EEXIST)
			continue;
		PF_ASSERT(r == 0);
		bind_home(d, first + i, s.home_node);
		(void)pending_push(d, first + i, 0); /* full: the sweep queues it */
		defined++;
	}
	domain_unlock(d);
	if (defined > 0)
		domain_publish_pending(d);
	return defined;
}

PF_API int pf_vnode_define(struct pf_domain *d, uint32_t id, const struct pf_vnode_spec *spec)
{
	int r;

	if (d == NULL || id >= d->lim.vnodes_max)
		return -EINVAL;
	r = pf_vnode_define_range(d, id, 1, spec);
	if (r < 0)
		return r;
	return r == 1 ? 0 : -EEXIST;
}

static int caps_cover(const uint64_t have[2], const uint64_t need[2])
{
	return (need[0] & ~have[0]) == 0 && (need[1] & ~have[1]) == 0;
}

/* The inbox position a new owner starts reading from, the sequence of the state it will
 * load (*ret_seq), both hints from the unverified header, and the freed position
 * (*ret_head). */
static uint64_t cursor_start(struct pf_domain *d, uint32_t id, uint64_t ckpt, uint32_t *ret_seq,
			     uint64_t *ret_head)
{
	struct dom_vnode *v = &d->vnodes[id];
	/* Relaxed: the owner (us, now) is the only one that moves head forward, and a stale
	 * owner's late CAS-max can only move it to a position it had consumed. */
	uint64_t head = pf_load_relaxed(&v->inbox_head);
	/* Relaxed: senders' hint; used only as an upper bound for validation. */
	uint64_t tail = pf_load_relaxed(&v->inbox_tail);
	uint64_t pos = head;

	*ret_head = head;
	*ret_seq = ckpt_state_seq(d, id, ckpt, &pos);
	/* A header from shared memory: use it only if it is plausible (load re-checks). A
	 * buffer index past the pool was counted by ckpt_state_seq() already. */
	if (ckpt_buf(ckpt) < d->lim.ckpt_bufs &&
	    (*ret_seq == 0 || pos - head > d->lim.inbox_slots || pos - head > tail - head)) {
		counter_add(d, PF_COUNTER_SHM_INVALID, 1);
		return head;
	}
	return pos;
}

static void handle_link(struct pf_member *m, struct pf_vnode *h)
{
	(void)pthread_mutex_lock(&m->lock);
	h->next = &m->owned;
	h->prev = m->owned.prev;
	m->owned.prev->next = h;
	m->owned.prev = h;
	m->owned_count++;
	(void)pthread_mutex_unlock(&m->lock);
	/* Relaxed: only writer (this member); statistics for tools. */
	pf_store_relaxed(&m->rec->vnodes_owned, m->owned_count);
	pf_fetch_add_relaxed(&m->rec->claims, 1);
}

void handle_unlink(struct pf_vnode *h)
{
	struct pf_member *m = h->member;

	(void)pthread_mutex_lock(&m->lock);
	h->prev->next = h->next;
	h->next->prev = h->prev;
	PF_ASSERT(m->owned_count > 0);
	m->owned_count--;
	(void)pthread_mutex_unlock(&m->lock);
	ckpt_handle_release(h);
	/* Relaxed: only writer; a statistic. */
	pf_store_relaxed(&m->rec->vnodes_owned, m->owned_count);
	free(h);
}

/* 1 when pending_pos value pos is the adoption mark of an epoch after epoch. */
static int mark_newer(uint64_t pos, uint32_t epoch)
{
	return pos != PENDING_POS_NONE && (pos & PENDING_POS_ADOPTED) != 0 &&
	       (int32_t)((uint32_t)pos - epoch) > 0;
}

/* Mark VNode id's placement of epoch adopted: 1 when this call marked it, 0 when it was
 * (or a newer one was) adopted already. */
static int adopt_mark(struct pf_domain *d, uint32_t id, uint32_t epoch)
{
	const uint64_t mark = PENDING_POS_ADOPTED | epoch;
	/* Relaxed: a first look; the CAS decides. */
	uint64_t pos = pf_load_relaxed(&d->vnodes[id].pending_pos);

	/* [R48] pairs with [A48] in pending_push() (core/domain.c): a pusher that sees the
	 * mark sees the placement it marks (acquired by the caller) and keeps it. */
	while (pos != mark && !mark_newer(pos, epoch) &&
	       !pf_cas_release(&d->vnodes[id].pending_pos, &pos, mark))
		pf_cpu_relax();
	return pos != mark && !mark_newer(pos, epoch);
}

/* CAS a PENDING VNode (observed as w) to ours; on success build the handle. */
static int claim_take(struct pf_member *m, uint32_t id, uint64_t w, struct pf_vnode **ret)
{
	struct pf_vnode *h = PF_FAULT_FAIL(ALLOC) ? NULL : calloc(1, sizeof(*h));
	uint64_t c;

	if (h == NULL)
		return -ENOMEM;
	if (own_place(m->d, id, w, m->slot, m->gen, &c) < 0) {
		free(h);
		return -EAGAIN;
	}
	/* Ours without an entry: marked, so that the sweep does not deliver it to us again. */
	(void)adopt_mark(m->d, id, own_epoch(w) + 1);
	handle_attach(m, h, id, own_epoch(w) + 1, c);
	*ret = h;
	return 0;
}

void handle_attach(struct pf_member *m, struct pf_vnode *h, uint32_t id, uint32_t epoch,
		   uint64_t ckpt)
{
	struct pf_domain *d = m->d;

	PF_ASSERT(id < d->lim.vnodes_max);
	PF_ASSERT(ckpt_epoch(ckpt) == epoch || (int32_t)(ckpt_epoch(ckpt) - epoch) > 0);
	h->member = m;
	h->id = id;
	h->epoch = epoch;
	h->held = h->pub = CKPT_BUF_NONE;
	h->caching = 0;
	h->cursor = cursor_start(d, id, ckpt, &h->seq, &h->committed);
	/* Free nothing on the header's word: it is unverified, and a claimer stalled since
	 * its seal may read a buffer that a newer owner has rewritten meanwhile, with that
	 * owner's unpublished inbox position. The verified load, or our first commit, frees. */
	h->freed = h->committed;
	handle_link(m, h);
}

PF_API int pf_vnode_adopt(struct pf_member *m, struct pf_vnode **ret)
{
	struct pf_domain *d;
	struct pf_vnode *h;

	if (m == NULL || ret == NULL)
		return -EINVAL;
	d = m->d;
	if (!member_is_live(m))
		return -ESTALE;
	/* The handle before the dequeue: once an entry is taken and marked there is nothing
	 * to undo (a placer may fill the ring meanwhile, and an entry put back could find no
	 * room: the VNode would stay ours with nothing left to adopt it by). */
	if (ring_mpmc_count(assign_ring(d, m->slot)) == 0)
		return -EAGAIN; /* nothing placed on us: no allocation */
	h = PF_FAULT_FAIL(ALLOC) ? NULL : calloc(1, sizeof(*h));
	if (h == NULL)
		return -ENOMEM;
	for (;;) {
		uint32_t id;
		uint64_t w, c;

		if (ring_mpmc_try_dequeue(assign_ring(d, m->slot), &id) < 0) {
			free(h);
			return -EAGAIN;
		}
		if (id >= d->lim.vnodes_max) {
			counter_add(d, PF_COUNTER_SHM_INVALID, 1);
			continue;
		}
		/* [A10] pairs with [R10] in own_place(): the placement is ours to adopt. */
		w = pf_load_acquire(&d->own[id]);
		if (!own_is_owned(w) || own_slot(w) != m->slot ||
		    own_gen(w) != (m->gen & OWN_GEN_MASK))
			continue; /* a previous generation's, or taken back meanwhile */
		/* An entry can be stale yet match: placed here, returned, placed here again
		 * while the first entry still waited. Adopt each epoch once: the mark names
		 * the epoch, and whatever else the word holds (an older epoch's mark, or a
		 * position a pusher wrote late, after this placement took its entry) is no
		 * adoption of this one. */
		if (!adopt_mark(d, id, own_epoch(w)))
			continue; /* adopted already, or placed anew and adopted since our look */
		c = own_seal(d, id, own_epoch(w));
		handle_attach(m, h, id, own_epoch(w), c);
		*ret = h;
		return 0;
	}
}

PF_API int pf_vnode_claim(struct pf_member *m, uint32_t flags, uint64_t timeout_ns,
			  struct pf_vnode **ret_vnode)
{
	uint64_t deadline, now;

	if (m == NULL || ret_vnode == NULL || (flags & ~PF_CLAIM_NOWAIT) != 0)
		return -EINVAL;
	deadline = deadline_after(timeout_ns);
	for (;;) {
		uint32_t events;
		int r = pf_vnode_adopt(m, ret_vnode);

		if (r != -EAGAIN)
			return r;
		if (member_is_draining(m))
			return -EAGAIN; /* cordoned (pflight/drain.h): nothing new for us */
		if (flags & PF_CLAIM_NOWAIT) {
			if (placer_round(m) > 0)
				continue; /* some of it may be ours */
			return -EAGAIN;
		}
		now = now_ns();
		if (now >= deadline)
			return -ETIMEDOUT;
		/* Its spin and its parks run the placement round (core/wait.c). */
		r = member_wait_events(m, PF_WAIT_PLACEMENT, deadline - now, &events);
		if (r < 0)
			return r;
	}
}

PF_API int pf_vnode_claim_id(struct pf_member *m, uint32_t id, struct pf_vnode **ret_vnode)
{
	uint64_t w;

	if (m == NULL || ret_vnode == NULL || id >= m->d->lim.vnodes_max)
		return -EINVAL;
	if (!member_is_live(m))
		return -ESTALE;
	if (member_is_draining(m))
		return -EAGAIN; /* cordoned: nothing new for us */
	/* [A10] pairs with [R10]: the requirements are complete once PENDING is seen. */
	w = pf_load_acquire(&m->d->own[id]);
	if (own_state(w) == PF_VNODE_UNASSIGNED)
		return -ENOENT;
	if (own_state(w) != PF_VNODE_PENDING)
		return -EBUSY;
	if (!caps_cover(m->caps, m->d->vnodes[id].caps))
		return -EPERM;
	return claim_take(m, id, w, ret_vnode);
}

PF_API int pf_vnode_release(struct pf_vnode *h)
{
	struct pf_domain *d;
	uint64_t w;
	int r = 0;

	if (h == NULL)
		return -EINVAL;
	d = h->member->d;
	PF_FAULT_POINT(RELEASE_AFTER_CKPT);
	if (!handle_owns(h, &w)) {
		r = -ESTALE;
	} else {
		PF_FAULT_POINT(RELEASE_BEFORE_CAS); /* the word may change here: the CAS decides */
		if (own_release(d, h->id, w, OWN_RELEASE_PUBLISH) == 0)
			r = -ESTALE;
	}
	if (r == -ESTALE)
		counter_add(d, PF_COUNTER_STALE_REFUSED, 1);
	handle_unlink(h);
	return r;
}

/* Owned word w of VNode id back to PENDING with epoch + 1, queued: 1, or 0 when another
 * supervisor (or the owner) changed it first. */
static uint32_t return_one(struct pf_domain *d, uint32_t id, uint64_t w)
{
	if (own_release(d, id, w, 0) == 0)
		return 0;
	PF_FAULT_POINT(REPAIR_MID_SCAN);
	return 1;
}

uint32_t vnodes_return_owned(struct pf_domain *d, uint32_t slot, uint32_t gen)
{
	uint32_t moved = 0;

	for (uint32_t id = 0; id < d->lim.vnodes_max; id++) {
		/* Relaxed: a scan; the CAS below re-validates and orders. */
		uint64_t w = pf_load_relaxed(&d->own[id]);

		if (!own_is_owned(w) || own_slot(w) != slot || own_gen(w) != (gen & OWN_GEN_MASK))
			continue;
		moved += return_one(d, id, w);
	}
	if (moved > 0)
		domain_publish_pending(d);
	return moved;
}

uint32_t vnodes_return_owned_by(struct pf_domain *d, const uint32_t *gen_of)
{
	uint32_t moved = 0;

	for (uint32_t id = 0; id < d->lim.vnodes_max; id++) {
		/* Relaxed: a scan; the CAS below re-validates and orders. */
		uint64_t w = pf_load_relaxed(&d->own[id]);
		uint32_t slot = own_slot(w);

		if (!own_is_owned(w) || slot >= d->lim.members_max || gen_of[slot] == UINT32_MAX ||
		    own_gen(w) != (gen_of[slot] & OWN_GEN_MASK))
			continue;
		moved += return_one(d, id, w);
	}
	if (moved > 0)
		domain_publish_pending(d);
	return moved;
}

uint32_t vnodes_return_listed(struct pf_domain *d, uint32_t slot, uint32_t gen, const uint64_t *ids)
{
	uint32_t moved = 0;

	for (uint32_t k = 0; k < (d->lim.vnodes_max + 63) / 64; k++) {
		for (uint64_t bits = ids[k]; bits != 0; bits &= bits - 1) {
			uint32_t id = k * 64 + (uint32_t)__builtin_ctzll(bits);
			/* Relaxed: the CAS below re-validates and orders. */
			uint64_t w = pf_load_relaxed(&d->own[id]);

			PF_ASSERT(id < d->lim.vnodes_max);
			if (!own_is_owned(w) || own_slot(w) != slot ||
			    own_gen(w) != (gen & OWN_GEN_MASK))
				continue;
			moved += return_one(d, id, w);
		}
	}
	if (moved > 0)
		domain_publish_pending(d);
	return moved;
}

PF_API uint32_t pf_vnode_id(const struct pf_vnode *h)
{
	PF_ASSERT(h != NULL);
	return h->id;
}

PF_API uint64_t pf_vnode_epoch(const struct pf_vnode *h)
{
	PF_ASSERT(h != NULL);
	return h->epoch;
}

PF_API const char *pf_vnode_state_name(uint32_t state)
{
	static const char *const names[] = {
		[PF_VNODE_UNASSIGNED] = "unassigned", [PF_VNODE_PENDING] = "pending",
		[PF_VNODE_ACTIVE] = "active",         [PF_VNODE_MIGRATING] = "migrating",
		[PF_VNODE_DRAINING] = "draining",     [PF_VNODE_LEAVING] = "leaving",
		[PF_VNODE_ARRIVING] = "arriving",     [PF_VNODE_REMOTE] = "remote",
	};

	return state < PF_ARRAY_SIZE(names) ? names[state] : NULL;
}

_Static_assert(sizeof(struct pf_vnode_owner) == 8, "pf_vnode_owner is ABI: 8 bytes");
_Static_assert(PF_VNODE_STATE_MAX < PF_VNODE_OWNER_INVALID, "a state must not read as invalid");

PF_API int pf_vnode_owners(struct pf_domain *d, uint32_t first, uint32_t count,
			   struct pf_vnode_owner *ret_owners)
{
	uint32_t invalid = 0;

	if (d == NULL || ret_owners == NULL || first > d->lim.vnodes_max ||
	    count > d->lim.vnodes_max - first || count > INT32_MAX)
		return -EINVAL;
	for (uint32_t i = 0; i < count; i++) {
		/* Relaxed: a snapshot of states for maps and counts, as pf_domain_info() counts
		 * them; nothing is read through the word. */
		uint64_t w = pf_load_relaxed(&d->own[first + i]);
		struct pf_vnode_owner *o = &ret_owners[i];
		int owned = own_is_owned(w);

		o->state = (uint8_t)own_state(w);
		o->reserved0 = 0;
		o->owner_generation = owned ? (uint16_t)own_gen(w) : 0;
		o->owner_slot = owned ? own_slot(w) : UINT32_MAX;
		if (own_state(w) > PF_VNODE_STATE_MAX ||
		    (owned && own_slot(w) >= d->lim.members_max)) {
			o->state = PF_VNODE_OWNER_INVALID;
			o->owner_slot = UINT32_MAX;
			o->owner_generation = 0;
			invalid++;
		}
	}
	if (invalid > 0)
		counter_add(d, PF_COUNTER_SHM_INVALID, invalid);
	return (int)count;
}

PF_API int pf_vnode_info(struct pf_domain *d, uint32_t id, struct pf_vnode_info *info)
{
	struct dom_vnode *v;
	uint64_t w, c;
	int r;

	if (d == NULL || info == NULL || info->size < sizeof(*info) || id >= d->lim.vnodes_max)
		return -EINVAL;
	r = vnode_record_check(d, id);
	if (r < 0) {
		counter_add(d, PF_COUNTER_SHM_INVALID, 1);
		return r;
	}
	v = &d->vnodes[id];
	/* [A10] pairs with [R10]: requirements are complete once defined. */
	w = pf_load_acquire(&d->own[id]);
	/* Relaxed: a snapshot for tools; fields may be from different instants. */
	c = pf_load_relaxed(&v->ckpt);
	memset(info, 0, sizeof(*info));
	info->size = sizeof(*info);
	info->id = id;
	info->state = own_state(w);
	info->owner_slot = own_is_owned(w) ? own_slot(w) : UINT32_MAX;
	info->host = own_in_transit(w) ? own_slot(w) : UINT32_MAX;
	info->owner_generation = own_gen(w);
	info->epoch = own_epoch(w);
	info->checkpoint_seq = ckpt_state_seq(d, id, c, NULL);
	if (own_state(w) != PF_VNODE_UNASSIGNED) {
		/* Relaxed: a snapshot for tools. */
		info->pending_reason = pf_load_relaxed(&v->pending_reason);
		info->home_node = v->home_node;
		info->caps[0] = v->caps[0];
		info->caps[1] = v->caps[1];
	} else {
		info->home_node = -1;
	}
	/* Relaxed: same snapshot. */
	info->inbox_depth = pf_load_relaxed(&v->inbox_tail) - pf_load_relaxed(&v->inbox_head);
	if (info->inbox_depth > d->lim.inbox_slots)
		info->inbox_depth = d->lim.inbox_slots;
	return 0;
}
