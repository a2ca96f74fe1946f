/* SPDX-License-Identifier: MIT */
/*
 * net/xport_uring_rx.c: the receive side of the io_uring backend.
 *
 * Two ways in, chosen at create and by the kernel:
 *  - multishot: one recv armed per connection (IORING_RECV_MULTISHOT) that takes a
 *    buffer from the ring's provided buffer ring for each completion; the kernel ends it
 *    when the buffers run out (-ENOBUFS) or for its own reasons (no IORING_CQE_F_MORE),
 *    and it is armed again when the next poll begins, after buffers went back;
 *  - plain: one recv at a time into the connection's own buffer, armed again once the
 *    bytes it brought are consumed.
 *
 * Reassembly. A buffer may hold the end of one frame, several whole frames and the start
 * of another. A frame that lies whole inside one buffer is handed out in place (a FRAME
 * event pointing into the buffer: no copy); the buffer then goes back to the kernel only
 * when the next poll begins, as the event's data must stay valid until then. A frame that
 * spans buffers is copied into the connection's frame buffer, which can hold one frame: a
 * frame handed out from it in this round must not be overwritten, so the copy of the next
 * one waits for the next round.
 *
 * Parking. When poll's event array is full, or the frame buffer is still lent, the rest of
 * the buffer is parked (one at most per instance: poll stops reaping then, so nothing
 * overtakes it) and the next poll goes on from there before it reaps anything else.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "net/xport_uring.h"

static uint8_t *buf_addr(const struct pf_xport *x, uint32_t bid)
{
	PF_ASSERT(bid < x->o.recv_buffers);
	return x->bufs + (size_t)bid * x->o.recv_buffer_bytes;
}

/* Give a provided buffer back to the kernel (seen by it at the next commit). */
static void buf_give(struct pf_xport *x, uint32_t bid)
{
	uint8_t *p = buf_addr(x, bid);

	XU_CHECK_REGION(p, x->o.recv_buffer_bytes);
	io_uring_buf_ring_add(x->br, p, x->o.recv_buffer_bytes, (unsigned short)bid,
			      io_uring_buf_ring_mask(x->o.recv_buffers), (int)x->br_added);
	x->br_added++;
	PF_ASSERT(x->br_added <= x->o.recv_buffers);
}

static void bufs_commit(struct pf_xport *x)
{
	if (x->br_added == 0)
		return;
	io_uring_buf_ring_advance(x->br, (int)x->br_added);
	x->br_added = 0;
}

/* Map n bytes of private anonymous memory, or NULL. */
static void *map_anon(size_t n)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static int bufs_register(struct pf_xport *x)
{
	struct io_uring_buf_reg reg = {
		.ring_addr = (uintptr_t)x->br,
		.ring_entries = x->o.recv_buffers,
		.bgid = XU_BGID,
	};

	io_uring_buf_ring_init(x->br);
	return io_uring_register_buf_ring(&x->ring, &reg, 0);
}

int xu_bufs_setup(struct pf_xport *x)
{
	long page = sysconf(_SC_PAGESIZE);

	PF_ASSERT(PF_IS_POW2(x->o.recv_buffers) && x->br == NULL);
	if (x->o.flags & PF_XPORT_F_NO_MULTISHOT)
		return 0;
	x->br_bytes = PF_ALIGN_UP((size_t)x->o.recv_buffers * sizeof(struct io_uring_buf),
				  (size_t)(page > 0 ? page : 4096));
	x->bufs_bytes = (size_t)x->o.recv_buffers * x->o.recv_buffer_bytes;
	x->br = map_anon(x->br_bytes);
	x->bufs = map_anon(x->bufs_bytes);
	x->deferred = calloc(x->o.recv_buffers, sizeof(*x->deferred));
	if (x->br == NULL || x->bufs == NULL || x->deferred == NULL) {
		xu_bufs_teardown(x);
		return -ENOMEM;
	}
	if (bufs_register(x) < 0) {
		xu_bufs_teardown(x); /* an older kernel: plain recv instead */
		return 0;
	}
	for (uint32_t i = 0; i < x->o.recv_buffers; i++)
		buf_give(x, i);
	bufs_commit(x);
	x->features |= PF_XPORT_FEAT_PROVIDED_BUF_RING | PF_XPORT_FEAT_MULTISHOT_RECV;
	return 0;
}

/* Unmap the buffers; the ring forgets its registration when it exits. */
void xu_bufs_teardown(struct pf_xport *x)
{
	if (x->br != NULL)
		(void)munmap(x->br, x->br_bytes);
	if (x->bufs != NULL)
		(void)munmap(x->bufs, x->bufs_bytes);
	free(x->deferred);
	x->br = NULL;
	x->bufs = NULL;
	x->deferred = NULL;
	x->features &= ~(uint64_t)(PF_XPORT_FEAT_PROVIDED_BUF_RING | PF_XPORT_FEAT_MULTISHOT_RECV);
}

void xu_recv_arm(struct pf_xport *x, struct xu_conn *c)
{
	bool multishot = (x->features & PF_XPORT_FEAT_MULTISHOT_RECV) != 0;
	struct io_uring_sqe *sqe;

	PF_ASSERT(c->state == XU_OPEN && !c->recv_armed && c->fd >= 0);
	if (!multishot && c->rxbuf == NULL && (c->rxbuf = malloc(x->o.recv_buffer_bytes)) == NULL) {
		xu_conn_fail(x, c, -ENOMEM); /* first plain recv of this slot only */
		return;
	}
	if ((sqe = xu_sqe(x)) == NULL) {
		xu_list_push(x, c, XU_ON_REARM);
		return;
	}
	if (multishot) {
		io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
		sqe->flags |= IOSQE_BUFFER_SELECT;
		sqe->buf_group = XU_BGID;
		x->stats.recv_multishot_arms++;
	} else {
		XU_CHECK_REGION(c->rxbuf, x->o.recv_buffer_bytes);
		io_uring_prep_recv(sqe, c->fd, c->rxbuf, x->o.recv_buffer_bytes, 0);
		x->stats.recv_plain_arms++;
	}
	io_uring_sqe_set_data64(sqe, xu_ud(XU_OP_RECV, c->gen, xu_slot_of(x, c), 0));
	c->recv_armed = true;
	c->inflight++;
	c->inflight_fd++;
}

/* A buffer is consumed: back to the kernel now, or when the next round begins if a FRAME
 * event of this round points into it. bid -1 is the connection's own rxbuf. */
static void buf_done(struct pf_xport *x, struct xu_conn *c, int32_t bid, bool lent)
{
	if (bid >= 0) {
		if (lent)
			x->deferred[x->deferred_count++] = (uint16_t)bid;
		else
			buf_give(x, (uint32_t)bid);
		PF_ASSERT(x->deferred_count <= x->o.recv_buffers);
		return;
	}
	if (c->state != XU_OPEN || c->recv_armed)
		return;
	if (lent)
		xu_list_push(x, c, XU_ON_REARM);
	else
		xu_recv_arm(x, c);
}

static void park(struct pf_xport *x, struct xu_conn *c, int32_t bid, const uint8_t *p, uint32_t n)
{
	PF_ASSERT(!x->park.on && n > 0);
	x->park = (struct xu_park){
		.on = true, .slot = (uint16_t)xu_slot_of(x, c), .bid = bid, .p = p, .n = n};
	x->stats.parks++;
}

/* Take the length prefix bytes; false when the connection failed on a bad length. */
static bool take_header(struct pf_xport *x, struct xu_conn *c, const uint8_t **p, uint32_t *n)
{
	uint32_t take = PF_MIN(XU_HDR_BYTES - c->hdr_have, *n);

	PF_ASSERT(c->hdr_have < XU_HDR_BYTES && take > 0);
	memcpy(c->hdr + c->hdr_have, *p, take);
	c->hdr_have += take;
	*p += take;
	*n -= take;
	if (c->hdr_have < XU_HDR_BYTES)
		return true;
	c->frame_len = (uint32_t)c->hdr[0] | (uint32_t)c->hdr[1] << 8 | (uint32_t)c->hdr[2] << 16 |
		       (uint32_t)c->hdr[3] << 24;
	c->frame_have = 0;
	if (c->frame_len == 0 || c->frame_len > x->o.frame_bytes_max) {
		xu_conn_fail(x, c, -EPROTO); /* the peer's error: report, never assert */
		return false;
	}
	return true;
}

static void frame_out(struct pf_xport *x, struct xu_conn *c, const uint8_t *data)
{
	struct pf_xport_event *ev = xu_emit(x, PF_XPORT_EV_FRAME, xu_conn_id(x, c));

	PF_ASSERT(ev != NULL); /* the caller checked for room */
	ev->data = data;
	ev->len = c->frame_len;
	c->hdr_have = 0;
}

/*
 * Parse n bytes at p of buffer bid. Returns false when it parked the rest (or the
 * connection failed meanwhile: then the rest is dropped and it returns true).
 */
static bool consume(struct pf_xport *x, struct xu_conn *c, int32_t bid, const uint8_t *p,
		    uint32_t n)
{
	bool lent = false;

	PF_ASSERT(n <= x->o.recv_buffer_bytes && !x->park.on);
	while (n > 0 && c->state == XU_OPEN) {
		uint32_t need, take;

		if (c->hdr_have < XU_HDR_BYTES) {
			if (!take_header(x, c, &p, &n))
				break;
			continue;
		}
		PF_ASSERT(c->frame_have < c->frame_len && c->frame_len <= x->o.frame_bytes_max);
		need = c->frame_len - c->frame_have;
		if (xu_ev_full(x) && n >= need)
			goto park_rest; /* this buffer completes a frame: it needs an event */
		if (c->frame_have == 0 && n >= need) {
			frame_out(x, c, p); /* whole in this buffer: lend it, no copy */
			x->stats.frames_zero_copy++;
			lent = true;
			p += need;
			n -= need;
			continue;
		}
		if (c->frame_have == 0 && c->fbuf_round == x->round)
			goto park_rest; /* fbuf holds a frame handed out in this round */
		take = PF_MIN(need, n);
		memcpy(c->fbuf + c->frame_have, p, take);
		c->frame_have += take;
		p += take;
		n -= take;
		if (c->frame_have == c->frame_len) {
			frame_out(x, c, c->fbuf);
			c->fbuf_round = x->round;
			x->stats.frames_copied++;
		}
	}
	buf_done(x, c, bid, lent);
	return true;
park_rest:
	park(x, c, bid, p, n);
	return false;
}

void xu_on_recv(struct pf_xport *x, struct xu_conn *c, int res, uint32_t flags)
{
	bool more = (flags & IORING_CQE_F_MORE) != 0;
	int32_t bid =
		(flags & IORING_CQE_F_BUFFER) ? (int32_t)(flags >> IORING_CQE_BUFFER_SHIFT) : -1;

	if (!more) {
		c->recv_armed = false;
		xu_conn_op_done(x, c, true, true);
	}
	if (res > 0 && c->state == XU_OPEN) {
		const uint8_t *p = bid >= 0 ? buf_addr(x, (uint32_t)bid) : c->rxbuf;

		PF_ASSERT((uint32_t)res <= x->o.recv_buffer_bytes);
		(void)consume(x, c, bid, p, (uint32_t)res);
	} else if (bid >= 0) {
		buf_give(x, (uint32_t)bid); /* a closing connection's bytes: dropped */
	}
	if (c->state != XU_OPEN)
		return;
	if (res == 0) {
		/* The peer's end: orderly between frames, a broken stream inside one. */
		xu_conn_fail(x, c, c->hdr_have != 0 ? -ECONNRESET : 0);
	} else if (res == -EINVAL && bid < 0 && (x->features & PF_XPORT_FEAT_MULTISHOT_RECV)) {
		x->features &= ~(uint64_t)PF_XPORT_FEAT_MULTISHOT_RECV; /* kernel without it */
		xu_list_push(x, c, XU_ON_REARM);
	} else if (res == -ENOBUFS) {
		x->stats.recv_enobufs++; /* armed again after the buffers went back */
		xu_list_push(x, c, XU_ON_REARM);
	} else if (res < 0) {
		xu_conn_fail(x, c, res);
	} else if (!more && bid >= 0) {
		xu_list_push(x, c, XU_ON_REARM); /* the kernel ended the multishot */
	}
}

void xu_rx_round_begin(struct pf_xport *x)
{
	x->round++;
	for (uint32_t i = 0; i < x->deferred_count; i++)
		buf_give(x, x->deferred[i]);
	x->deferred_count = 0;
	bufs_commit(x);
	xu_rx_rearm(x);
}

void xu_rx_rearm(struct pf_xport *x)
{
	struct xu_conn *c;
	uint32_t budget = x->o.conns_max; /* each slot is on the list once */

	while (budget-- > 0 && (c = xu_list_pop(x, XU_ON_REARM)) != NULL) {
		bool parked_here = x->park.on && x->park.slot == xu_slot_of(x, c);

		if (c->state == XU_OPEN && !c->recv_armed && !parked_here)
			xu_recv_arm(x, c);
	}
}

bool xu_rx_resume(struct pf_xport *x)
{
	struct xu_park pk = x->park;
	struct xu_conn *c;

	if (!pk.on)
		return true;
	c = &x->conns[pk.slot];
	x->park.on = false;
	if (c->state != XU_OPEN) {
		buf_done(x, c, pk.bid, false); /* last round's events are over: no longer lent */
		return true;
	}
	PF_ASSERT(pk.bid >= 0 || c->rxbuf != NULL);
	(void)consume(x, c, pk.bid, pk.p, pk.n);
	bufs_commit(x);
	return !x->park.on;
}

void xu_rx_drop(struct pf_xport *x, struct xu_conn *c)
{
	if (!x->park.on || x->park.slot != xu_slot_of(x, c))
		return;
	x->park.on = false;
	/* FRAME events of the last poll may point into it until the next poll begins. */
	if (x->park.bid >= 0)
		x->deferred[x->deferred_count++] = (uint16_t)x->park.bid;
	PF_ASSERT(x->deferred_count <= x->o.recv_buffers);
}

void xu_rx_commit(struct pf_xport *x)
{
	bufs_commit(x);
}
