/* SPDX-License-Identifier: MIT */
/*
 * shm/ring_spsc.c: formatting and validation of the single-producer/single-consumer ring.
 *
 * The data path lives inline in ring_spsc.h (protocol block there). This file holds the
 * slow paths: sizing, formatting, and the validator an attaching process runs on a ring
 * another process wrote, which checks every field before any index is trusted.
 */
#include <errno.h>
#include <string.h>

#include "shm/ring_spsc.h"

static unsigned order_of(uint32_t slots)
{
	unsigned order = 0;

	while ((UINT32_C(1) << order) < slots)
		order++;
	return order;
}

size_t ring_spsc_bytes(uint32_t slots)
{
	if (!PF_IS_POW2(slots) || slots < (UINT32_C(1) << RING_SPSC_ORDER_MIN) ||
	    slots > (UINT32_C(1) << RING_SPSC_ORDER_MAX))
		return 0;
	return sizeof(struct ring_spsc) + (size_t)slots * sizeof(uint64_t);
}

int ring_spsc_init(struct ring_spsc *r, size_t bytes, uint32_t slots)
{
	size_t need = ring_spsc_bytes(slots);
	struct ring_spsc_view v;

	if (r == NULL || need == 0 || bytes < need)
		return -EINVAL;
	memset(r, 0, need); /* not yet shared: nobody else may look at it */
	r->magic = RING_SPSC_MAGIC;
	r->order = order_of(slots);
	r->mask = slots - 1;
	PF_ASSERT(ring_spsc_attach(r, bytes, slots, &v) == 0);
	PF_ASSERT(ring_spsc_capacity(&v) == slots);
	return 0;
}

int ring_spsc_attach(struct ring_spsc *r, size_t bytes, uint32_t slots,
		     struct ring_spsc_view *ret_view)
{
	struct ring_spsc_view v;
	size_t need = ring_spsc_bytes(slots);
	int rc;

	if (r == NULL || ret_view == NULL || need == 0)
		return -EINVAL;
	if (bytes < need)
		return -EOVERFLOW;
	v.ring = r;
	v.mask = slots - 1;
	v.order = order_of(slots);
	rc = ring_spsc_check(&v);
	if (rc < 0)
		return rc;
	*ret_view = v;
	return 0;
}

int ring_spsc_check(const struct ring_spsc_view *v)
{
	const struct ring_spsc *r;
	uint32_t tail, head, slots;

	if (v == NULL || v->ring == NULL)
		return -EINVAL;
	r = v->ring;
	/* Each configuration word is read once and compared with the view's: a peer may be
	 * writing them right now, and nothing computed here comes from them. */
	if (r->magic != RING_SPSC_MAGIC)
		return -EBADMSG;
	if (r->order != v->order || r->mask != v->mask)
		return -EPROTO;
	for (size_t i = 0; i < PF_ARRAY_SIZE(r->reserved); i++) {
		if (r->reserved[i] != 0)
			return -EPROTO;
	}
	slots = v->mask + 1;
	/* Relaxed: a snapshot for validation of a quiescent ring; head first, so that a
	 * consumer running anyway cannot make head pass the tail we read. */
	head = pf_load_relaxed(&r->head);
	/* Relaxed: as above. */
	tail = pf_load_relaxed(&r->tail);
	if (tail - head > slots || tail - r->head_cache > slots || r->tail_cache - head > slots)
		return -ERANGE;
	return 0;
}
