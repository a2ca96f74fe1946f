/* SPDX-License-Identifier: MIT */
/*
 * net/xport_uring_tx.c: the send side of the io_uring backend.
 *
 * Queue. Each connection has a ring of send_queue_frames_max records, allocated with the
 * slot: send() copies the caller's iovec array and the frame's length prefix into the next
 * record and nothing else (no allocation, no system call). Records [q_head, q_tx) were
 * handed to the kernel whole and wait only to be reported; [q_tx, q_tail) wait to go.
 *
 * Order. A connection has at most one send chain in flight: up to XU_CHAIN_MAX SQEs linked
 * with IOSQE_IO_LINK, each with MSG_WAITALL, so the kernel runs them one after the other
 * and a short one (an error part-way) fails the rest of the chain (-ECANCELED) instead of
 * letting later bytes overtake. CQEs of a chain arrive in chain order, so each result
 * simply advances the queue's position by its byte count; when the chain is over, the next
 * one starts where the bytes stopped. Frames of one connection therefore leave in order
 * and never interleave, whatever was short.
 *
 * Batching. A chain is at most two SQEs: a zero-copy one at its head, then one copied
 * batch, the segments of as many queued frames as fit (XU_BATCH_IOV iovecs in all) in one
 * sendmsg, up to the next segment that goes zero-copy. A payload segment of
 * zc_threshold_bytes or more goes zero-copy: alone, IORING_OP_SEND_ZC in its fixed-buffer
 * form, when it lies inside a registered buffer; otherwise gathered with the zero-copy
 * segments after it (and their length prefixes) into one IORING_OP_SENDMSG_ZC of about
 * XU_ZC_BATCH_BYTES at most (IORING_OP_SEND_ZC alone on kernels without it). A zero-copy
 * SQE's first CQE carries the result; with IORING_CQE_F_MORE a second one
 * (IORING_CQE_F_NOTIF) follows when the kernel no longer needs the pages, and only then
 * are the frames it carried reported SENT: their memory is the caller's again. The pages
 * come back only once the peer has the bytes, so a zero-copy SQE that carried the whole
 * queue would let it run dry while it waits: hence the bound in bytes.
 *
 * Why a zero-copy send only heads a chain: one cancelled because an earlier link failed
 * completes with -ECANCELED and no IORING_CQE_F_MORE, yet posts a notification later
 * anyway (seen on 6.18), so F_MORE would not say whether one is coming. At the head of a
 * chain it always runs, and then F_MORE is exact: set whenever a notification follows.
 *
 * Idle timeout. A tick (IORING_OP_TIMEOUT, idle_timeout_ns / 4) runs while some connection
 * has sends outstanding; a connection whose sends made no progress for idle_timeout_ns
 * is closed with -ETIMEDOUT.
 */
#include <errno.h>
#include <string.h>

#include "net/xport_uring.h"

/* The position of the next byte to send: record (free-running), segment, offset in it.
 * Segment 0 is the length prefix, segment i > 0 the caller's iov[i - 1]. */
struct cursor {
	uint32_t rec, seg, off;
};

static struct xu_send *rec_at(const struct pf_xport *x, const struct xu_conn *c, uint32_t i)
{
	return &c->q[i % x->o.send_queue_frames_max];
}

static void seg_of(const struct xu_send *s, uint32_t seg, const uint8_t **base, uint32_t *len)
{
	PF_ASSERT(seg <= s->iov_count);
	if (seg == 0) {
		*base = s->hdr;
		*len = XU_HDR_BYTES;
		return;
	}
	*base = s->iov[seg - 1].iov_base;
	*len = (uint32_t)s->iov[seg - 1].iov_len;
}

static struct cursor cursor_first(const struct pf_xport *x, const struct xu_conn *c)
{
	const struct xu_send *s = rec_at(x, c, c->q_tx);
	struct cursor cur = {.rec = c->q_tx, .seg = 0, .off = s->done};
	const uint8_t *base;
	uint32_t len;

	PF_ASSERT(s->done < s->bytes);
	for (;;) {
		seg_of(s, cur.seg, &base, &len);
		if (cur.off < len)
			return cur;
		cur.off -= len;
		cur.seg++;
	}
}

static void cursor_next(const struct pf_xport *x, const struct xu_conn *c, struct cursor *cur)
{
	cur->off = 0;
	if (++cur->seg > rec_at(x, c, cur->rec)->iov_count) {
		cur->rec++;
		cur->seg = 0;
	}
}

static bool zc_wanted(const struct pf_xport *x, uint32_t seg, uint32_t bytes)
{
	return seg > 0 && (x->features & PF_XPORT_FEAT_SEND_ZC) != 0 &&
	       bytes >= x->o.zc_threshold_bytes;
}

/* The registered buffer that holds [p, p + n), or -1. */
static int reg_index(const struct pf_xport *x, const uint8_t *p, uint32_t n)
{
	for (uint32_t i = 0; i < x->reg_count; i++) {
		const uint8_t *b = x->reg[i].iov_base;

		if (p >= b && (size_t)(p - b) + n <= x->reg[i].iov_len)
			return (int)i;
	}
	return -1;
}

enum way {
	WAY_COPY,  /* copied by the kernel: sendmsg */
	WAY_ZC,    /* zero copy, gathered with its neighbours: sendmsg_zc (or send_zc alone) */
	WAY_FIXED, /* zero copy from a registered buffer: send_zc alone, fixed */
};

/* How the segment at cur goes. A length prefix goes zero-copy with its payload when that
 * goes WAY_ZC and one sendmsg_zc can carry both; otherwise it is copied. */
static enum way seg_way(const struct pf_xport *x, const struct xu_conn *c, const struct cursor *cur)
{
	const struct xu_send *s = rec_at(x, c, cur->rec);
	uint32_t seg = cur->seg, off = cur->off, len;
	const uint8_t *base;

	PF_ASSERT(cur->rec != c->q_tail && c->q_tail - cur->rec <= x->o.send_queue_frames_max);
	if (seg == 0) {
		if (!x->sendmsg_zc || s->iov_count == 0)
			return WAY_COPY;
		seg = 1; /* decided by the payload's first segment */
		off = 0;
	}
	seg_of(s, seg, &base, &len);
	if (!zc_wanted(x, seg, len - off))
		return WAY_COPY;
	if (reg_index(x, base + off, len - off) >= 0)
		return cur->seg == 0 ? WAY_COPY : WAY_FIXED;
	return WAY_ZC;
}

/* The segment at cur into c->batch[*used], checked for ASan; the cursor moves on. */
static void batch_add(struct pf_xport *x, struct xu_conn *c, struct cursor *cur, uint32_t *used)
{
	const uint8_t *base;
	uint32_t len;

	PF_ASSERT(*used < XU_BATCH_IOV && cur->rec != c->q_tail);
	seg_of(rec_at(x, c, cur->rec), cur->seg, &base, &len);
	XU_CHECK_REGION(base + cur->off, len - cur->off);
	c->batch[(*used)++] = (struct iovec){(void *)(uintptr_t)(base + cur->off), len - cur->off};
	cursor_next(x, c, cur);
}

/* batch[first..used) as one SQE: send (or send_zc) when it is one segment, else sendmsg. */
static void prep_batch(struct pf_xport *x, struct xu_conn *c, struct io_uring_sqe *sqe,
		       uint32_t first, uint32_t used, uint32_t op, bool zc)
{
	const struct iovec *v = &c->batch[first];
	struct msghdr *m = &c->msgs[op];

	PF_ASSERT(used > first && op < XU_CHAIN_MAX);
	if (used - first == 1 && zc) {
		io_uring_prep_send_zc(sqe, c->fd, v->iov_base, v->iov_len, XU_SEND_FLAGS, 0);
		x->stats.send_zc_ops++;
		return;
	}
	if (used - first == 1) {
		io_uring_prep_send(sqe, c->fd, v->iov_base, v->iov_len, XU_SEND_FLAGS);
		x->stats.send_ops++;
		return;
	}
	*m = (struct msghdr){.msg_iov = &c->batch[first], .msg_iovlen = used - first};
	XU_CHECK_REGION(m, sizeof(*m));
	XU_CHECK_REGION(m->msg_iov, m->msg_iovlen * sizeof(struct iovec));
	if (zc) {
		io_uring_prep_sendmsg_zc(sqe, c->fd, m, XU_SEND_FLAGS);
		x->stats.sendmsg_zc_ops++;
	} else {
		io_uring_prep_sendmsg(sqe, c->fd, m, XU_SEND_FLAGS);
		x->stats.sendmsg_ops++;
	}
}

/* A zero-copy SQE from cur: one registered segment, or the WAY_ZC segments that follow. */
static void prep_zc(struct pf_xport *x, struct xu_conn *c, struct io_uring_sqe *sqe,
		    struct cursor *cur, uint32_t *used, uint32_t op)
{
	uint32_t first = cur->rec, last = cur->rec, k0 = *used, aux;

	if (seg_way(x, c, cur) == WAY_FIXED) {
		batch_add(x, c, cur, used);
		io_uring_prep_send_zc_fixed(sqe, c->fd, c->batch[k0].iov_base, c->batch[k0].iov_len,
					    XU_SEND_FLAGS, 0,
					    (unsigned)reg_index(x, c->batch[k0].iov_base,
								(uint32_t)c->batch[k0].iov_len));
		x->fixed_inflight++;
		x->stats.send_zc_fixed_ops++;
		aux = XU_AUX_FIXED;
	} else {
		uint64_t bytes = 0;

		/* Bounded in bytes too: the pages come back only when the peer has them, so
		 * one notification per window of the queue keeps the queue flowing. */
		while (*used < XU_BATCH_IOV && cur->rec != c->q_tail && bytes < XU_ZC_BATCH_BYTES &&
		       seg_way(x, c, cur) == WAY_ZC && (x->sendmsg_zc || *used == k0)) {
			last = cur->rec;
			batch_add(x, c, cur, used);
			bytes += c->batch[*used - 1].iov_len;
		}
		prep_batch(x, c, sqe, k0, *used, op, true);
		aux = 0;
	}
	PF_ASSERT(*used > k0 && last - first < XU_AUX_SPAN_MAX);
	for (uint32_t r = first; r != last + 1; r++)
		rec_at(x, c, r)->zc_pending++; /* each waits for this SQE's notification */
	aux |= (first % x->o.send_queue_frames_max) | (last - first) << XU_AUX_SPAN_SHIFT;
	io_uring_sqe_set_data64(sqe, xu_ud(XU_OP_SEND_ZC, c->gen, xu_slot_of(x, c), aux));
}

/* A copied SQE: the WAY_COPY segments from cur, as many as fit. */
static void prep_copy(struct pf_xport *x, struct xu_conn *c, struct io_uring_sqe *sqe,
		      struct cursor *cur, uint32_t *used, uint32_t op)
{
	uint32_t k0 = *used;

	while (*used < XU_BATCH_IOV && cur->rec != c->q_tail && seg_way(x, c, cur) == WAY_COPY)
		batch_add(x, c, cur, used);
	prep_batch(x, c, sqe, k0, *used, op, false);
	io_uring_sqe_set_data64(sqe, xu_ud(XU_OP_SEND, c->gen, xu_slot_of(x, c), 0));
}

/* Start one send chain from the first unsent byte. */
static void tx_issue(struct pf_xport *x, struct xu_conn *c)
{
	struct io_uring_sqe *sqes[XU_CHAIN_MAX];
	struct cursor cur = cursor_first(x, c);
	uint32_t ops = 0, used = 0;

	if (!xu_sqe_reserve(x, XU_CHAIN_MAX)) {
		xu_list_push(x, c, XU_ON_TX); /* the next poll tries again */
		return;
	}
	while (ops < XU_CHAIN_MAX && cur.rec != c->q_tail && used < XU_BATCH_IOV) {
		bool zc = seg_way(x, c, &cur) != WAY_COPY;

		if (zc && ops > 0)
			break; /* a zero-copy send only heads a chain (top of this file) */
		sqes[ops] = io_uring_get_sqe(&x->ring);
		PF_ASSERT(sqes[ops] != NULL); /* reserved above */
		if (zc)
			prep_zc(x, c, sqes[ops], &cur, &used, ops);
		else
			prep_copy(x, c, sqes[ops], &cur, &used, ops);
		ops++;
	}
	PF_ASSERT(ops > 0 && used <= XU_BATCH_IOV);
	for (uint32_t i = 0; i + 1 < ops; i++)
		sqes[i]->flags |= IOSQE_IO_LINK;
	c->chain_left = ops;
	c->inflight += ops;
	c->inflight_fd += ops;
	c->send_armed = true;
}

void xu_tx_flush(struct pf_xport *x)
{
	struct xu_conn *c;
	uint32_t budget = x->o.conns_max; /* each slot is on the list once */

	while (budget-- > 0 && (c = xu_list_pop(x, XU_ON_TX)) != NULL) {
		if (c->state == XU_OPEN && !c->send_armed && c->q_tx != c->q_tail)
			tx_issue(x, c);
	}
}

int xu_send(struct pf_xport *x, uint32_t conn, const struct iovec *iov, unsigned iov_count,
	    uint64_t cookie)
{
	struct xu_conn *c = xu_conn_get(x, conn);
	uint32_t used, segs = 0;
	struct xu_send *s;
	uint64_t total = 0;

	if (c == NULL || (c->state != XU_OPEN && c->state != XU_CONNECTING))
		return -ENOTCONN;
	if (iov == NULL || iov_count == 0 || iov_count > PF_XPORT_IOV_MAX)
		return -EINVAL;
	for (unsigned i = 0; i < iov_count; i++) {
		if (iov[i].iov_base == NULL && iov[i].iov_len != 0)
			return -EINVAL;
		total += PF_MIN(iov[i].iov_len, (size_t)PF_XPORT_FRAME_BYTES_MAX + 1);
	}
	if (total == 0)
		return -EINVAL;
	if (total > x->o.frame_bytes_max)
		return -EMSGSIZE;
	used = c->q_tail - c->q_head;
	if (used >= x->o.send_queue_frames_max ||
	    (used > 0 && c->q_bytes + XU_HDR_BYTES + total > x->o.send_queue_bytes_max))
		return -EAGAIN;
	s = rec_at(x, c, c->q_tail);
	*s = (struct xu_send){.cookie = cookie, .bytes = (uint32_t)total + XU_HDR_BYTES};
	for (unsigned i = 0; i < iov_count; i++)
		if (iov[i].iov_len != 0)
			s->iov[segs++] = iov[i];
	s->iov_count = (uint16_t)segs;
	for (uint32_t i = 0; i < XU_HDR_BYTES; i++)
		s->hdr[i] = (uint8_t)(total >> (8 * i)); /* little-endian on the wire */
	if (used == 0)
		c->progress_ns = xu_now_ns(); /* the idle clock starts with the queue */
	c->q_tail++;
	c->q_bytes += s->bytes;
	PF_ASSERT(c->q_tail - c->q_head <= x->o.send_queue_frames_max);
	PF_ASSERT(c->q_bytes <= (uint64_t)x->o.send_queue_bytes_max + s->bytes);
	if (c->state == XU_OPEN && !c->send_armed)
		xu_list_push(x, c, XU_ON_TX);
	xu_tick_arm(x);
	xu_kick(x);
	return 0;
}

/* res bytes went out: move q_tx past each record sent whole. */
static void advance(struct pf_xport *x, struct xu_conn *c, uint32_t res)
{
	while (res > 0) {
		struct xu_send *s = rec_at(x, c, c->q_tx);
		uint32_t take = PF_MIN(s->bytes - s->done, res);

		PF_ASSERT(c->q_tx != c->q_tail && take > 0);
		s->done += take;
		res -= take;
		if (s->done == s->bytes) {
			c->q_tx++;
			xu_list_push(x, c, XU_ON_READY);
		}
	}
}

/* A zero-copy SQE is over: the records it spanned no longer wait for it. */
static void zc_release(struct pf_xport *x, struct xu_conn *c, uint32_t aux)
{
	uint32_t first = aux & XU_AUX_REC_MASK, n = x->o.send_queue_frames_max;
	uint32_t span = ((aux >> XU_AUX_SPAN_SHIFT) & (XU_AUX_SPAN_MAX - 1)) + 1;

	PF_ASSERT(first < n && span <= n);
	for (uint32_t i = 0; i < span; i++) {
		struct xu_send *s = &c->q[(first + i) % n];

		PF_ASSERT(s->zc_pending > 0);
		s->zc_pending--;
	}
	if (aux & XU_AUX_FIXED) {
		PF_ASSERT(x->fixed_inflight > 0);
		x->fixed_inflight--;
	}
}

static void on_notif(struct pf_xport *x, struct xu_conn *c, uint32_t aux)
{
	zc_release(x, c, aux);
	x->stats.zc_notifs++;
	c->progress_ns = xu_now_ns();
	xu_list_push(x, c, XU_ON_READY);
	xu_conn_op_done(x, c, false, true);
}

void xu_on_send(struct pf_xport *x, struct xu_conn *c, uint64_t ud, int res, uint32_t flags)
{
	uint32_t aux = XU_UD_AUX(ud);
	bool zc = XU_UD_OP(ud) == XU_OP_SEND_ZC, more = (flags & IORING_CQE_F_MORE) != 0;

	if (zc && (flags & IORING_CQE_F_NOTIF)) {
		on_notif(x, c, aux);
		return;
	}
	PF_ASSERT(c->chain_left > 0 && c->send_armed);
	if (zc && !more)
		zc_release(x, c, aux); /* no notification will come */
	if (--c->chain_left == 0)
		c->send_armed = false;
	if (res > 0) {
		advance(x, c, (uint32_t)res);
		c->progress_ns = xu_now_ns();
	}
	xu_conn_op_done(x, c, true, !(zc && more));
	if (c->state != XU_OPEN)
		return;
	if (res < 0 && res != -ECANCELED) /* -ECANCELED: an earlier link was short */
		xu_conn_fail(x, c, res);
	else if (!c->send_armed && c->q_tx != c->q_tail)
		xu_list_push(x, c, XU_ON_TX);
}

bool xu_tx_report(struct pf_xport *x, struct xu_conn *c)
{
	bool over = c->state == XU_CLOSING && c->inflight == 0;

	while (c->q_head != c->q_tail) {
		struct xu_send *s = rec_at(x, c, c->q_head);
		bool whole = c->q_head != c->q_tx;
		struct pf_xport_event *ev;

		if (s->zc_pending != 0 || (!whole && !over))
			return true; /* the kernel still has it, or it is still to go */
		ev = xu_emit(x, PF_XPORT_EV_SENT, xu_conn_id(x, c));
		if (ev == NULL)
			return false;
		ev->cookie = s->cookie;
		ev->error = whole ? 0 : -ECANCELED;
		c->q_bytes -= s->bytes;
		c->q_head++;
		if (!whole)
			c->q_tx = c->q_head;
	}
	PF_ASSERT(c->q_bytes == 0);
	return true;
}

void xu_tick_arm(struct pf_xport *x)
{
	uint64_t ns = x->o.idle_timeout_ns / 4;
	struct io_uring_sqe *sqe;

	if (x->tick_armed || x->o.idle_timeout_ns == 0 || x->destroying)
		return;
	if ((sqe = xu_sqe(x)) == NULL)
		return; /* the next send arms it */
	ns = PF_MAX_OF(PF_MIN(ns, UINT64_C(1000000000)), UINT64_C(1000000));
	x->tick_ts.tv_sec = (long long)(ns / 1000000000u);
	x->tick_ts.tv_nsec = (long long)(ns % 1000000000u);
	XU_CHECK_REGION(&x->tick_ts, sizeof(x->tick_ts));
	io_uring_prep_timeout(sqe, &x->tick_ts, 0, 0);
	io_uring_sqe_set_data64(sqe, xu_ud(XU_OP_TICK, 0, 0, 0));
	x->tick_armed = true;
}

void xu_on_tick(struct pf_xport *x)
{
	uint64_t now = xu_now_ns();
	bool again = false;

	PF_ASSERT(x->tick_armed && x->o.idle_timeout_ns != 0);
	x->tick_armed = false;
	for (uint32_t i = 0; i < x->o.conns_max; i++) {
		struct xu_conn *c = &x->conns[i];

		if (c->state != XU_OPEN || c->q_head == c->q_tail)
			continue;
		PF_ASSERT(c->progress_ns <= now);
		if (now - c->progress_ns >= x->o.idle_timeout_ns)
			xu_conn_fail(x, c, -ETIMEDOUT);
		else
			again = true;
	}
	if (again)
		xu_tick_arm(x);
}
