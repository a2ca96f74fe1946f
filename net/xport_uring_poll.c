/* SPDX-License-Identifier: MIT */
/*
 * net/xport_uring_poll.c: poll() of the io_uring backend: one round of giving buffers
 * back, reporting, reaping completions and submitting, and the completions of accept and
 * connect.
 *
 * A round, in order (each step stops when the caller's event array is full):
 *   1. begin: buffers lent to the last round's FRAME events go back to the kernel; recvs
 *      waiting to be armed are armed; a listener waiting for a free slot is armed;
 *   2. the parked buffer, if any, is parsed on (nothing is reaped before it: order);
 *   3. slots on the READY list report SENT and CLOSED events;
 *   4. CQEs are reaped and dispatched (at most one event each, except a recv's, which
 *      parks when the array fills), then READY again;
 *   5. connections with bytes to send get their send chains;
 *   6. with no event yet and time left, arm the recvs that wait for buffers (none are
 *      lent when there is no event), submit and wait in one io_uring_enter, then 2-5
 *      again; otherwise submit what 1-5 queued (one io_uring_enter, none if nothing).
 * ACCEPTED and CONNECTED are emitted by the CQE that causes them, before any FRAME of
 * their connection can be reaped; CLOSED only from READY, once no SQE of the connection is
 * left, so it is last.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "net/xport_uring.h"

uint64_t xu_now_ns(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts); /* cannot fail with a valid clock */
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void xu_submit(struct pf_xport *x)
{
	if (io_uring_sq_ready(&x->ring) == 0)
		return;
	x->stats.submits++;
	(void)io_uring_submit(&x->ring); /* on failure the SQEs stay queued for the next try */
}

struct io_uring_sqe *xu_sqe(struct pf_xport *x)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&x->ring);

	if (sqe != NULL)
		return sqe;
	xu_submit(x);
	if ((sqe = io_uring_get_sqe(&x->ring)) == NULL && (x->features & PF_XPORT_FEAT_SQPOLL)) {
		(void)io_uring_sqring_wait(&x->ring); /* the poller thread frees entries */
		sqe = io_uring_get_sqe(&x->ring);
	}
	return sqe;
}

bool xu_sqe_reserve(struct pf_xport *x, unsigned n)
{
	PF_ASSERT(n <= x->o.sq_entries);
	if (io_uring_sq_space_left(&x->ring) >= n)
		return true;
	xu_submit(x);
	if (io_uring_sq_space_left(&x->ring) < n && (x->features & PF_XPORT_FEAT_SQPOLL))
		(void)io_uring_sqring_wait(&x->ring);
	return io_uring_sq_space_left(&x->ring) >= n;
}

void xu_kick(struct pf_xport *x)
{
	uint64_t one = 1;
	ssize_t w;

	if (!x->efd_used || x->kicked)
		return;
	x->kicked = true;
	w = write(x->efd, &one, sizeof(one));
	(void)w; /* -EAGAIN: the counter is full, so the fd is readable already */
}

void xu_accept_arm(struct pf_xport *x, uint32_t listener)
{
	struct xu_listener *l = &x->listeners[listener];
	struct io_uring_sqe *sqe;

	PF_ASSERT(listener < x->listeners_count && l->fd >= 0);
	if (l->armed || x->free_count <= x->accepts_armed || x->destroying)
		return; /* armed again when a slot frees */
	if ((sqe = xu_sqe(x)) == NULL)
		return; /* armed again at the next round */
	io_uring_prep_accept(sqe, l->fd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, xu_ud(XU_OP_ACCEPT, 0, 0, listener));
	l->armed = true;
	x->accepts_armed++; /* holds a free slot for the peer it will take */
}

void xu_accept_rearm_all(struct pf_xport *x)
{
	for (uint32_t i = 0; i < x->listeners_count; i++)
		xu_accept_arm(x, i);
}

static void on_accept(struct pf_xport *x, uint32_t listener, int res)
{
	struct pf_xport_event *ev;
	struct xu_conn *c;
	int one = 1;

	PF_ASSERT(listener < x->listeners_count && x->listeners[listener].armed);
	PF_ASSERT(x->accepts_armed > 0 && x->free_count >= x->accepts_armed);
	x->listeners[listener].armed = false;
	x->accepts_armed--;
	if (res < 0)
		return; /* -EMFILE, a peer gone before we took it...: armed again next round */
	if (x->destroying || xu_conn_alloc(x, res, XU_OPEN, &c) < 0) {
		(void)close(res); /* destroy, or no memory for a new slot: the peer sees EOF */
		return;
	}
	(void)setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* frames are whole */
	c->listener = listener;
	ev = xu_emit(x, PF_XPORT_EV_ACCEPTED, xu_conn_id(x, c));
	PF_ASSERT(ev != NULL); /* reaping stops while the array is full */
	ev->listener = listener;
	xu_recv_arm(x, c);
	xu_accept_arm(x, listener);
}

static void on_connect(struct pf_xport *x, struct xu_conn *c, int res)
{
	struct pf_xport_event *ev;

	PF_ASSERT(c->connect_armed);
	c->connect_armed = false;
	xu_conn_op_done(x, c, true, true);
	if (c->state != XU_CONNECTING)
		return; /* closed meanwhile: CLOSED reports the caller's close */
	if (res < 0) {
		/* -ECANCELED (or -EINTR): our link timeout cancelled it. */
		xu_conn_fail(x, c, res == -ECANCELED || res == -EINTR ? -ETIMEDOUT : res);
		return;
	}
	c->state = XU_OPEN;
	c->progress_ns = xu_now_ns(); /* the idle clock starts now for sends queued early */
	ev = xu_emit(x, PF_XPORT_EV_CONNECTED, xu_conn_id(x, c));
	PF_ASSERT(ev != NULL); /* reaping stops while the array is full */
	ev->cookie = c->cookie;
	xu_recv_arm(x, c);
	if (c->q_tx != c->q_tail)
		xu_list_push(x, c, XU_ON_TX);
}

static void dispatch(struct pf_xport *x, uint64_t ud, int res, uint32_t flags)
{
	enum xu_op op = XU_UD_OP(ud);
	struct xu_conn *c = &x->conns[XU_UD_SLOT(ud) < x->o.conns_max ? XU_UD_SLOT(ud) : 0];

	if (op == XU_OP_TICK) {
		xu_on_tick(x);
		return;
	}
	if (op == XU_OP_CANCEL)
		return;
	if (op == XU_OP_ACCEPT) {
		on_accept(x, XU_UD_AUX(ud), res);
		return;
	}
	/* Our own user_data, echoed: a mismatch is a bug here, not input. */
	PF_ASSERT(XU_UD_SLOT(ud) < x->o.conns_max && c->gen == XU_UD_GEN(ud));
	PF_ASSERT(c->state != XU_FREE && c->inflight > 0);
	if (op == XU_OP_RECV)
		xu_on_recv(x, c, res, flags);
	else if (op == XU_OP_SEND || op == XU_OP_SEND_ZC)
		xu_on_send(x, c, ud, res, flags);
	else if (op == XU_OP_CONNECT)
		on_connect(x, c, res);
	else if (op == XU_OP_CONNECT_TIMEOUT)
		xu_conn_op_done(x, c, false, true);
	else
		PF_ASSERT(!"unknown op in user_data");
}

int xu_reap(struct pf_xport *x)
{
	uint32_t budget = x->ring.cq.ring_entries; /* bounded: the kernel keeps posting */
	int n = 0;

	while (budget-- > 0 && !xu_ev_full(x) && !x->park.on) {
		struct io_uring_cqe *cqe;
		uint64_t ud;
		uint32_t flags;
		int res;

		if (io_uring_peek_cqe(&x->ring, &cqe) != 0) {
			if (!io_uring_cq_has_overflow(&x->ring))
				break;
			(void)io_uring_get_events(&x->ring); /* flush the kernel's backlog */
			continue;
		}
		ud = cqe->user_data;
		res = cqe->res;
		flags = cqe->flags;
		io_uring_cqe_seen(&x->ring, cqe);
		dispatch(x, ud, res, flags);
		n++;
	}
	xu_rx_commit(x);
	PF_ASSERT(x->ev_n <= x->ev_max);
	PF_ASSERT(x->br_added == 0); /* every buffer given back is visible to the kernel */
	return n;
}

/* Steps 2-5 of a round. */
static void collect(struct pf_xport *x)
{
	if (xu_rx_resume(x)) {
		xu_drain_ready(x);
		(void)xu_reap(x);
		xu_drain_ready(x);
	}
	xu_tx_flush(x);
}

static void round_begin(struct pf_xport *x)
{
	uint64_t count;
	ssize_t r;

	if (x->efd_used) {
		r = read(x->efd, &count, sizeof(count));
		(void)r; /* -EAGAIN: nothing was signalled since */
	}
	x->kicked = false;
	xu_rx_round_begin(x);
	xu_accept_rearm_all(x);
}

/* Wait for a CQE until deadline_ns, submitting what is queued in the same enter. */
static bool wait_cqe(struct pf_xport *x, uint64_t deadline_ns)
{
	struct __kernel_timespec ts;
	struct io_uring_cqe *cqe;
	uint64_t now = xu_now_ns(), left;
	int r;

	if (now >= deadline_ns)
		return false;
	left = deadline_ns - now;
	ts.tv_sec = (long long)(left / 1000000000u);
	ts.tv_nsec = (long long)(left % 1000000000u);
	x->stats.submits++;
	r = io_uring_submit_and_wait_timeout(&x->ring, &cqe, 1, &ts, NULL);
	return r >= 0 || r == -ETIME || r == -EBUSY; /* -EINTR etc.: return to the caller */
}

/* Is something left for the next poll, so fd() must stay readable? */
static bool more_to_report(struct pf_xport *x)
{
	return x->park.on || x->ready_head != XU_NIL || io_uring_cq_ready(&x->ring) > 0;
}

int xu_poll(struct pf_xport *x, struct pf_xport_event *ret_events, unsigned max,
	    uint64_t timeout_ns)
{
	uint64_t deadline = UINT64_MAX, now;

	if (ret_events == NULL || max == 0)
		return -EINVAL;
	x->ev = ret_events;
	x->ev_n = 0;
	x->ev_max = max;
	round_begin(x);
	if (timeout_ns != UINT64_MAX) {
		now = xu_now_ns();
		deadline = timeout_ns > UINT64_MAX - now ? UINT64_MAX : now + timeout_ns;
	}
	for (;;) {
		collect(x);
		if (x->ev_n > 0 || timeout_ns == 0)
			break;
		/* No event: nothing is lent, so a recv that waits for buffers (-ENOBUFS, or
		 * ended by the kernel) can be armed now, not after the wait. */
		xu_rx_rearm(x);
		if (!wait_cqe(x, deadline))
			break;
	}
	xu_submit(x);
	if (x->efd_used && more_to_report(x))
		xu_kick(x);
	x->ev = NULL;
	PF_ASSERT(x->ev_n <= max);
	return (int)x->ev_n;
}
