/* SPDX-License-Identifier: MIT */
/*
 * core/transit.c: a VNode's moves between hosts, the half each host keeps
 * (pflight/transit.h).
 *
 * Why no member holds a VNode between hosts. The daemon could have joined its own domain
 * as a member and moved VNodes through its handles, reusing the claim and commit paths.
 * But a member's VNodes are released to PENDING by the repair of its death, and a VNode
 * that is ARRIVING must never become PENDING on its own: the source may still serve it,
 * and the two hosts would both place it. So the cross-host states name a host, not a
 * member (own_in_transit()); no repair, claim, placement or drain takes them; the daemon
 * that moves them is the only writer, through core/ownership.c's transitions, and a
 * daemon that died leaves them for the next one to settle with the other host.
 *
 * What a fenced owner may still write, and why none of it reaches the other host: leave
 * seals the new epoch before it returns, so the owner's commits fail from then on
 * (core/checkpoint.c, core/ownership.c); pf_transit_read() copies the state the
 * descriptor names, which only a publish at the sealed epoch could change, and nobody
 * holds that epoch. Its receives return -ESTALE; its inbox frees stop at its own last
 * commit's position, which is where pf_transit_read() starts the messages.
 *
 * The installed state of an arrival: written into a buffer held by HOLD_HOST (no member
 * may write it), published at the arrival's epoch (sealed by arrive: a late publish of
 * any earlier owner fails), then let go as a member's handle lets go of what it
 * published. Its inbox position is the inbox's freed position: the next owner reads what
 * waited here, then what the packet carried (pf_transit_deliver() appends it while the
 * VNode is ARRIVING, so before anything a member could consume).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/checkpoint.h"
#include "core/member_impl.h"
#include "core/ownership.h"
#include "pflight/transit.h"
#include "shm/fault.h"
#include "shm/pf_assert.h"

_Static_assert(PF_TRANSIT_HOST_UNKNOWN == OWN_HOST_UNKNOWN, "a host index fits the slot field");

/* The ownership word, with acquire: [A10] pairs with [R10] in core/ownership.c. */
static uint64_t word(struct pf_domain *d, uint32_t id)
{
	return pf_load_acquire(&d->own[id]);
}

static int at(uint64_t w, uint32_t state, uint32_t epoch)
{
	return own_state(w) == state && own_epoch(w) == epoch;
}

PF_API int pf_transit_leave(struct pf_domain *d, uint32_t id, uint32_t host, uint32_t *ret_epoch)
{
	uint64_t w;

	if (d == NULL || id >= d->lim.vnodes_max || host > PF_TRANSIT_HOST_UNKNOWN ||
	    ret_epoch == NULL)
		return -EINVAL;
	PF_FAULT_POINT(TRANSIT_BEFORE_LEAVE); /* a source about to stop the VNode */
	w = word(d, id);
	if (own_state(w) == PF_VNODE_UNASSIGNED)
		return -ENOENT;
	if (own_in_transit(w))
		return -EBUSY;
	if (!own_is_owned(w) && own_state(w) != PF_VNODE_PENDING) {
		counter_add(d, PF_COUNTER_SHM_INVALID, 1);
		return -EBADMSG;
	}
	if (own_epoch(w) >= PF_TRANSIT_EPOCH_MAX)
		return -EOVERFLOW;
	if (own_leave(d, id, w, host) < 0)
		return -EAGAIN;
	*ret_epoch = own_epoch(w) + 1;
	return 0;
}

PF_API int pf_transit_read(struct pf_domain *d, uint32_t id, uint32_t epoch, void *buf, size_t cap,
			   size_t *ret_len, uint64_t *ret_seq, uint64_t *ret_inbox_from)
{
	uint64_t seq = 0, from = 0;
	int r;

	if (d == NULL || id >= d->lim.vnodes_max || ret_len == NULL || ret_seq == NULL ||
	    ret_inbox_from == NULL || (buf == NULL && cap > 0))
		return -EINVAL;
	if (!at(word(d, id), PF_VNODE_LEAVING, epoch))
		return -ESTALE;
	if (buf == NULL && cap == 0) {
		const void *bytes;

		r = ckpt_view(d, id, &bytes, ret_len, &seq, &from); /* the header alone */
	} else
		r = ckpt_read(d, id, buf, cap, ret_len, &seq, &from);
	if (r == -ENOENT)
		/* Relaxed: nobody consumed anything; the freed position is the start. */
		from = pf_load_relaxed(&d->vnodes[id].inbox_head);
	if (r == 0 || r == -ENOENT) {
		*ret_seq = seq;
		*ret_inbox_from = from;
	}
	/* Still ours? A stay or left by another thread of the daemon is a caller error, but
	 * the copy is then not the final state: say so. */
	if (!at(word(d, id), PF_VNODE_LEAVING, epoch))
		return -ESTALE;
	return r == -EBUSY ? -EAGAIN : r;
}

PF_API int pf_transit_chunk(struct pf_domain *d, uint32_t id, uint64_t off, void *buf, size_t cap,
			    size_t *ret_copied, size_t *ret_len, uint64_t *ret_seq)
{
	if (d == NULL || id >= d->lim.vnodes_max || (buf == NULL && cap > 0) ||
	    ret_copied == NULL || ret_len == NULL || ret_seq == NULL)
		return -EINVAL;
	*ret_copied = 0;
	*ret_len = 0;
	*ret_seq = 0;
	return ckpt_range(d, id, off, buf, cap, ret_copied, ret_len, ret_seq);
}

PF_API int pf_transit_view(struct pf_domain *d, uint32_t id, uint32_t epoch, const void **ret_bytes,
			   size_t *ret_len, uint64_t *ret_seq, uint64_t *ret_inbox_from)
{
	uint64_t seq = 0, from = 0;
	int r;

	if (d == NULL || id >= d->lim.vnodes_max || ret_bytes == NULL || ret_len == NULL ||
	    ret_seq == NULL || ret_inbox_from == NULL)
		return -EINVAL;
	if (!at(word(d, id), PF_VNODE_LEAVING, epoch))
		return -ESTALE;
	*ret_bytes = NULL;
	*ret_len = 0;
	r = ckpt_view(d, id, ret_bytes, ret_len, &seq, &from);
	if (r == -ENOENT)
		/* Relaxed: as in pf_transit_read(). */
		from = pf_load_relaxed(&d->vnodes[id].inbox_head);
	if (r == 0 || r == -ENOENT) {
		*ret_seq = seq;
		*ret_inbox_from = from;
	}
	if (!at(word(d, id), PF_VNODE_LEAVING, epoch))
		return -ESTALE;
	return r;
}

PF_API int pf_transit_verify(struct pf_domain *d, uint32_t id, uint32_t epoch, size_t len,
			     uint64_t seq)
{
	int r;

	if (d == NULL || id >= d->lim.vnodes_max)
		return -EINVAL;
	if (!at(word(d, id), PF_VNODE_LEAVING, epoch))
		return -ESTALE;
	PF_FAULT_POINT(TRANSIT_BEFORE_VERIFY);
	r = ckpt_verify(d, id, len, seq);
	if (!at(word(d, id), PF_VNODE_LEAVING, epoch))
		return -ESTALE; /* a stay and a new owner's commit: nothing to count */
	if (r == -EBADMSG)      /* the state nobody could replace fails: counted once, here */
		counter_add(d, PF_COUNTER_CKPT_CORRUPT, 1);
	return r;
}

PF_API int pf_transit_message(struct pf_domain *d, uint32_t id, uint64_t *cursor, void *buf,
			      size_t cap, size_t *ret_len)
{
	uint32_t s;

	if (d == NULL || id >= d->lim.vnodes_max || cursor == NULL || ret_len == NULL ||
	    (buf == NULL && cap > 0))
		return -EINVAL;
	s = own_state(word(d, id));
	if (s != PF_VNODE_LEAVING && s != PF_VNODE_REMOTE)
		return -ESTALE;
	return inbox_peek(d, id, cursor, buf, cap, ret_len);
}

PF_API int pf_transit_stay(struct pf_domain *d, uint32_t id, uint32_t epoch)
{
	uint64_t w;

	if (d == NULL || id >= d->lim.vnodes_max)
		return -EINVAL;
	w = word(d, id);
	if (!at(w, PF_VNODE_LEAVING, epoch) || own_stay(d, id, w) < 0)
		return -ESTALE;
	return 0;
}

PF_API int pf_transit_left(struct pf_domain *d, uint32_t id, uint32_t epoch, uint32_t remote_epoch,
			   uint64_t carried_to)
{
	uint64_t w;

	if (d == NULL || id >= d->lim.vnodes_max || (int32_t)(remote_epoch - epoch) <= 0)
		return -EINVAL;
	w = word(d, id);
	if (!at(w, PF_VNODE_LEAVING, epoch) || own_left(d, id, w, remote_epoch) < 0)
		return -ESTALE;
	(void)inbox_free_upto(d, id, carried_to);
	return 0;
}

/* UNASSIGNED: write the requirements, then arrive (the CAS publishes them), under the
 * control lock that serialises definitions. */
static int arrive_new(struct pf_domain *d, uint32_t id, uint32_t host, uint32_t epoch,
		      const uint64_t caps[2], int32_t home)
{
	struct dom_vnode *v = &d->vnodes[id];
	uint64_t w;
	int r = domain_lock(d);

	if (r < 0)
		return r;
	/* Relaxed: re-validated by the CAS below; definitions are serialised by the lock. */
	w = pf_load_relaxed(&d->own[id]);
	if (own_state(w) != PF_VNODE_UNASSIGNED) {
		domain_unlock(d);
		return -EAGAIN;
	}
	v->caps[0] = caps[0];
	v->caps[1] = caps[1];
	v->home_node = home;
	/* Relaxed: published by the arrive transition below. */
	pf_store_relaxed(&v->pending_pos, PENDING_POS_NONE);
	r = own_arrive(d, id, w, host, epoch);
	domain_unlock(d);
	return r;
}

PF_API int pf_transit_arrive(struct pf_domain *d, uint32_t id, uint32_t host, uint64_t packet_epoch,
			     const char *const *caps, uint32_t caps_count, int32_t home_node,
			     uint32_t *ret_epoch)
{
	uint64_t w, want[2];
	uint32_t epoch;
	int r;

	if (d == NULL || id >= d->lim.vnodes_max || host > PF_TRANSIT_HOST_UNKNOWN ||
	    ret_epoch == NULL || (caps == NULL && caps_count > 0) || caps_count > PF_CAPS_MAX ||
	    home_node < -1)
		return -EINVAL;
	w = word(d, id);
	if (own_state(w) != PF_VNODE_UNASSIGNED && own_state(w) != PF_VNODE_REMOTE)
		return -EBUSY;
	if (own_state(w) == PF_VNODE_REMOTE && packet_epoch < own_epoch(w))
		return -ESTALE;
	if (packet_epoch >= PF_TRANSIT_EPOCH_MAX || own_epoch(w) >= PF_TRANSIT_EPOCH_MAX)
		return -EOVERFLOW;
	epoch = (uint32_t)(packet_epoch > own_epoch(w) ? packet_epoch : own_epoch(w)) + 1;
	r = caps_intern(d, caps, caps_count, want);
	if (r < 0)
		return r;
	if (own_state(w) == PF_VNODE_UNASSIGNED)
		r = arrive_new(d, id, host, epoch, want, home_node);
	else if (d->vnodes[id].caps[0] != want[0] || d->vnodes[id].caps[1] != want[1])
		return -EPROTO; /* requirements are fixed once defined */
	else
		r = own_arrive(d, id, w, host, epoch);
	if (r < 0)
		return r;
	*ret_epoch = epoch;
	return 0;
}

PF_API int pf_transit_install(struct pf_domain *d, uint32_t id, uint32_t epoch, const void *state,
			      size_t len, uint64_t seq, uint32_t carried)
{
	uint64_t head;

	if (d == NULL || id >= d->lim.vnodes_max || (state == NULL && len > 0))
		return -EINVAL;
	if (!at(word(d, id), PF_VNODE_ARRIVING, epoch))
		return -ESTALE;
	/* Relaxed: nobody frees an ARRIVING VNode's inbox; the freed position is where its
	 * waiting messages start. */
	head = pf_load_relaxed(&d->vnodes[id].inbox_head) - carried;
	if (len == 0 && seq == 0)
		return ckpt_forget(d, id, epoch); /* its inbox: from the freed position anyway */
	return ckpt_install(d, id, epoch, (uint32_t)seq, state, len, head);
}

PF_API int pf_transit_hold(struct pf_domain *d, uint32_t id, uint32_t *ret_buf, void **ret_bytes)
{
	uint32_t b;

	if (d == NULL || id >= d->lim.vnodes_max || ret_buf == NULL || ret_bytes == NULL)
		return -EINVAL;
	b = ckpt_host_take(d, id);
	if (b == CKPT_BUF_NONE)
		return -ENOBUFS;
	*ret_buf = b;
	*ret_bytes = ckpt_host_bytes(d, b);
	return 0;
}

PF_API int pf_transit_unhold(struct pf_domain *d, uint32_t buf)
{
	if (d == NULL || !ckpt_host_held(d, buf))
		return -EINVAL;
	ckpt_host_give(d, buf);
	return 0;
}

PF_API int pf_transit_install_held(struct pf_domain *d, uint32_t id, uint32_t epoch, uint32_t buf,
				   size_t len, uint64_t seq, uint32_t carried)
{
	uint64_t head;

	if (d == NULL || id >= d->lim.vnodes_max || !ckpt_host_held(d, buf))
		return -EINVAL;
	if (len > d->lim.state_bytes_max || (seq == 0 && len > 0)) {
		ckpt_host_give(d, buf);
		return -EINVAL;
	}
	if (!at(word(d, id), PF_VNODE_ARRIVING, epoch)) {
		ckpt_host_give(d, buf);
		return -ESTALE;
	}
	/* Relaxed: as in pf_transit_install(). */
	head = pf_load_relaxed(&d->vnodes[id].inbox_head) - carried;
	if (len == 0 && seq == 0) {
		ckpt_host_give(d, buf);
		return ckpt_forget(d, id, epoch); /* never committed */
	}
	return ckpt_host_publish(d, id, epoch, (uint32_t)seq, buf, len, head);
}

PF_API int pf_transit_deliver(struct pf_domain *d, uint32_t id, uint32_t epoch,
			      const struct iovec *msgs, uint32_t count)
{
	if (d == NULL || id >= d->lim.vnodes_max || (msgs == NULL && count > 0))
		return -EINVAL;
	for (uint32_t i = 0; i < count; i++)
		if (msgs[i].iov_base == NULL && msgs[i].iov_len > 0)
			return -EINVAL;
	if (!at(word(d, id), PF_VNODE_ARRIVING, epoch))
		return -ESTALE;
	return inbox_prepend(d, id, msgs, count);
}

PF_API int pf_transit_drop(struct pf_domain *d, uint32_t id, uint32_t epoch, uint64_t upto)
{
	if (d == NULL || id >= d->lim.vnodes_max)
		return -EINVAL;
	if (!at(word(d, id), PF_VNODE_ARRIVING, epoch))
		return -ESTALE;
	(void)inbox_free_upto(d, id, upto);
	return 0;
}

PF_API int pf_transit_arrived(struct pf_domain *d, uint32_t id, uint32_t epoch)
{
	uint64_t w;

	if (d == NULL || id >= d->lim.vnodes_max)
		return -EINVAL;
	w = word(d, id);
	if (!at(w, PF_VNODE_ARRIVING, epoch) || own_arrived(d, id, w) < 0)
		return -ESTALE;
	return 0;
}

PF_API int pf_transit_unarrive(struct pf_domain *d, uint32_t id, uint32_t epoch)
{
	uint64_t w;

	if (d == NULL || id >= d->lim.vnodes_max)
		return -EINVAL;
	w = word(d, id);
	if (!at(w, PF_VNODE_ARRIVING, epoch))
		return -ESTALE;
	/* What the packet carried is the source's again: not received here, and not seen by
	 * the forwarder once the VNode is REMOTE (so taken back while still ARRIVING). */
	(void)inbox_unprepend(d, id);
	return own_unarrive(d, id, w) < 0 ? -ESTALE : 0;
}

#define SNAPSHOT_TRIES 64 /* a snapshot racing an owner that keeps committing gives up after */

/* The messages from cursor on, each through fn; -ESTALE when a slot changed under us. */
static int snapshot_messages(struct pf_domain *d, uint32_t id, uint64_t cursor, void *msg,
			     pf_transit_message_fn fn, void *arg, uint32_t *ret_count)
{
	uint32_t index = 0;

	*ret_count = 0;
	for (uint32_t i = 0; i <= d->lim.inbox_slots; i++) {
		size_t len = 0;
		int r = inbox_look(d, id, &cursor, msg, d->lim.msg_bytes_max, &len);

		if (r == -EAGAIN)
			return 0;
		if (r < 0)
			return r;
		r = fn(arg, index++, msg, len);
		if (r < 0)
			return r;
		*ret_count = index;
	}
	return 0;
}

/* One try: 0, -EAGAIN (the owner committed or freed under us: again), or a refusal. */
static int snapshot_once(struct pf_domain *d, uint32_t id, void *buf, size_t cap, size_t *ret_len,
			 uint64_t *ret_seq, uint32_t *ret_epoch, uint32_t *ret_messages, void *msg,
			 pf_transit_message_fn fn, void *arg)
{
	uint64_t w = word(d, id), c, seq = 0, from = 0;
	int r;

	if (own_state(w) == PF_VNODE_UNASSIGNED)
		return -ENOENT;
	if (own_state(w) == PF_VNODE_REMOTE)
		return -EREMOTE;
	if (own_in_transit(w))
		return -EBUSY;
	/* [A12] pairs with [R12] in core/ownership.c: the state it names is complete. */
	c = pf_load_acquire(&d->vnodes[id].ckpt);
	r = ckpt_read_at(d, id, c, buf, cap, ret_len, &seq, &from);
	if (r == -ENOENT)
		/* Relaxed: never committed; the freed position is where its messages start,
		 * re-checked with the descriptor below. */
		from = pf_load_relaxed(&d->vnodes[id].inbox_head);
	else if (r < 0)
		return r;
	r = snapshot_messages(d, id, from, msg, fn, arg, ret_messages);
	if (r == -ESTALE)
		return -EAGAIN;
	if (r < 0)
		return r;
	/* [A12] pairs with [R12] in own_ckpt_publish(): no commit published (and so freed
	 * messages) meanwhile. */
	if (pf_load_acquire(&d->vnodes[id].ckpt) != c)
		return -EAGAIN;
	*ret_seq = seq;
	*ret_epoch = own_epoch(w);
	return 0;
}

PF_API int pf_transit_snapshot(struct pf_domain *d, uint32_t id, void *buf, size_t cap,
			       size_t *ret_len, uint64_t *ret_seq, uint32_t *ret_epoch,
			       uint32_t *ret_messages, pf_transit_message_fn message_fn, void *arg)
{
	void *msg;
	int r = -EBUSY;

	if (d == NULL || id >= d->lim.vnodes_max || ret_len == NULL || ret_seq == NULL ||
	    ret_epoch == NULL || ret_messages == NULL || message_fn == NULL ||
	    (buf == NULL && cap > 0))
		return -EINVAL;
	msg = malloc(d->lim.msg_bytes_max + 1u);
	if (msg == NULL)
		return -ENOMEM;
	for (int i = 0; i < SNAPSHOT_TRIES; i++) {
		r = snapshot_once(d, id, buf, cap, ret_len, ret_seq, ret_epoch, ret_messages, msg,
				  message_fn, arg);
		if (r != -EAGAIN)
			break;
		r = -EBUSY;
	}
	free(msg);
	return r;
}

PF_API int pf_transit_inbox(struct pf_domain *d, uint32_t id, uint64_t *ret_head,
			    uint64_t *ret_tail)
{
	if (d == NULL || id >= d->lim.vnodes_max || ret_head == NULL || ret_tail == NULL)
		return -EINVAL;
	if (own_state(word(d, id)) != PF_VNODE_REMOTE)
		return -ESTALE;
	/* Relaxed: positions as hints; each slot's own word decides what is read there. */
	*ret_head = pf_load_relaxed(&d->vnodes[id].inbox_head);
	*ret_tail = pf_load_relaxed(&d->vnodes[id].inbox_tail);
	return 0;
}

PF_API int pf_transit_forwarded(struct pf_domain *d, uint32_t id, uint32_t epoch, uint64_t upto)
{
	if (d == NULL || id >= d->lim.vnodes_max)
		return -EINVAL;
	if (!at(word(d, id), PF_VNODE_REMOTE, epoch))
		return -ESTALE;
	(void)inbox_free_upto(d, id, upto);
	return 0;
}

PF_API int pf_transit_recover(struct pf_domain *d)
{
	if (d == NULL)
		return -EINVAL;
	return (int)ckpt_reclaim_host(d);
}
