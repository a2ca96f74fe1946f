/* SPDX-License-Identifier: MIT */
/*
 * net/xport_uring.c: the io_uring TCP backend of the transport (pflight/xport.h):
 * instance life, listen, connect, close, registered buffers, and its ops table.
 *
 * Design. One io_uring per instance, driven by one thread; nothing here synchronises.
 * Every socket operation is an SQE: accept (one armed per listener while a slot is free),
 * connect (linked to an IORING_OP_LINK_TIMEOUT of connect_timeout_ns), recv (multishot
 * into the provided buffer ring, or plain: xport_uring_rx.c), send chains
 * (xport_uring_tx.c). The API calls between polls only queue work (send() not even an
 * SQE); poll() submits it all in one io_uring_enter, waits in the same one, and turns
 * CQEs into events (xport_uring_poll.c).
 *
 * What the kernel offers is probed at create, never assumed from the liburing we were
 * built against (STYLE 10.8): the opcodes without which nothing works (accept, connect,
 * send, sendmsg, recv, timeout, link timeout, cancel: -EOPNOTSUPP without them), and the
 * optional ones with their fallbacks: SEND_ZC (else copied sends; and registered buffers
 * are only useful through it), the provided buffer ring (else plain recv), multishot
 * recv (a kernel that refuses it makes the first recv fail with -EINVAL: plain recv from
 * then on). features() reports what was chosen.
 *
 * Ownership of memory the kernel sees: the provided buffers and the slots' buffers are the
 * instance's and outlive every SQE (destroy() drains before it frees); the caller's send
 * memory is lent from send() to its SENT event, which for a zero-copy send waits for the
 * kernel's notification. In ASan builds each region is checked as its SQE is queued.
 *
 * Progress: every call but poll() and destroy() is wait-free apart from its system calls
 * (listen and connect make a socket; close shuts one down); poll() blocks up to its
 * timeout; destroy() up to XU_DRAIN_NS.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "net/xport_uring.h"

/* Opcodes the backend cannot do without. */
static const uint8_t required_ops[] = {
	IORING_OP_ACCEPT, IORING_OP_CONNECT, IORING_OP_SEND,         IORING_OP_SENDMSG,
	IORING_OP_RECV,   IORING_OP_TIMEOUT, IORING_OP_LINK_TIMEOUT, IORING_OP_ASYNC_CANCEL,
};

static int ring_init(struct pf_xport *x)
{
	struct io_uring_params p;
	int r;

	memset(&p, 0, sizeof(p));
	/* A bigger completion queue: multishot recv posts many CQEs per SQE. */
	p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
	p.cq_entries = x->o.sq_entries * 4;
	if (x->o.flags & PF_XPORT_F_SQPOLL) {
		p.flags |= IORING_SETUP_SQPOLL | IORING_SETUP_SQ_AFF;
		p.sq_thread_cpu = (uint32_t)x->o.sqpoll_cpu;
		p.sq_thread_idle = 50; /* ms of spinning before the poller sleeps */
	}
	r = io_uring_queue_init_params(x->o.sq_entries, &x->ring, &p);
	if (r == -EINVAL) {
		p.flags &= ~(uint32_t)IORING_SETUP_SUBMIT_ALL; /* before 5.18 */
		r = io_uring_queue_init_params(x->o.sq_entries, &x->ring, &p);
	}
	if (r == 0 && (x->o.flags & PF_XPORT_F_SQPOLL))
		x->features |= PF_XPORT_FEAT_SQPOLL;
	return r;
}

static int probe(struct pf_xport *x)
{
	struct io_uring_probe *p = io_uring_get_probe_ring(&x->ring);
	bool zc;

	if (p == NULL)
		return -EOPNOTSUPP; /* before 5.6: too old for the rest anyway */
	for (size_t i = 0; i < PF_ARRAY_SIZE(required_ops); i++) {
		if (!io_uring_opcode_supported(p, required_ops[i])) {
			io_uring_free_probe(p);
			return -EOPNOTSUPP;
		}
	}
	zc = io_uring_opcode_supported(p, IORING_OP_SEND_ZC);
	x->sendmsg_zc = zc && io_uring_opcode_supported(p, IORING_OP_SENDMSG_ZC);
	io_uring_free_probe(p);
	if (zc && !(x->o.flags & PF_XPORT_F_NO_ZC) && x->o.zc_threshold_bytes != 0)
		x->features |= PF_XPORT_FEAT_SEND_ZC | PF_XPORT_FEAT_REGISTERED_BUFFERS;
	return 0;
}

static int slots_init(struct pf_xport *x)
{
	uint32_t n = x->o.conns_max;

	x->conns = calloc(n, sizeof(*x->conns));
	x->free_slots = calloc(n, sizeof(*x->free_slots));
	if (x->conns == NULL || x->free_slots == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		x->conns[i].fd = -1;
		x->conns[i].gen = 1;
		x->free_slots[i] = (uint16_t)(n - 1 - i); /* slot 0 first */
	}
	x->free_count = n;
	x->ready_head = x->ready_tail = XU_NIL;
	x->tx_head = x->tx_tail = XU_NIL;
	x->rearm_head = x->rearm_tail = XU_NIL;
	return 0;
}

static void free_instance(struct pf_xport *x, bool ring_up)
{
	if (ring_up)
		io_uring_queue_exit(&x->ring);
	xu_conns_free_all(x);
	for (uint32_t i = 0; i < x->listeners_count; i++)
		(void)close(x->listeners[i].fd);
	if (x->efd >= 0)
		(void)close(x->efd);
	xu_bufs_teardown(x);
	free(x);
}

static int uring_create(const struct pf_xport_opts *opts, struct pf_xport **ret_xport)
{
	struct pf_xport *x;
	int r;

	if (ret_xport == NULL)
		return -EINVAL;
	x = calloc(1, sizeof(*x));
	if (x == NULL)
		return -ENOMEM;
	x->efd = -1;
	r = xport_opts_resolve(opts, &x->o);
	if (r < 0) {
		free(x);
		return r;
	}
	r = ring_init(x);
	if (r < 0) {
		free(x);
		return r;
	}
	r = probe(x);
	if (r == 0)
		r = xu_bufs_setup(x);
	if (r == 0)
		r = slots_init(x);
	if (r == 0 && (x->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
		r = -errno; /* made now so that fd() cannot fail for want of descriptors */
	if (r < 0) {
		free_instance(x, true);
		return r;
	}
	PF_ASSERT(x->free_count == x->o.conns_max);
	*ret_xport = x;
	return 0;
}

static bool busy(const struct pf_xport *x)
{
	for (uint32_t i = 0; i < x->listeners_count; i++)
		if (x->listeners[i].armed)
			return true;
	for (uint32_t i = 0; i < x->o.conns_max; i++)
		if (x->conns[i].inflight != 0)
			return true;
	return x->tick_armed;
}

/* Close everything, then reap until the kernel is done with every buffer (bounded). */
static void drain(struct pf_xport *x)
{
	struct pf_xport_event scratch[1];
	uint64_t deadline = xu_now_ns() + XU_DRAIN_NS;
	struct io_uring_sqe *sqe;

	x->destroying = true;
	for (uint32_t i = 0; i < x->o.conns_max; i++) {
		struct xu_conn *c = &x->conns[i];

		if (c->state == XU_OPEN || c->state == XU_CONNECTING)
			xu_conn_fail(x, c, -ECANCELED);
	}
	for (uint32_t i = 0; i < x->listeners_count; i++)
		(void)shutdown(x->listeners[i].fd, SHUT_RDWR); /* ends its accept */
	if ((sqe = xu_sqe(x)) != NULL) {
		io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY); /* the tick, stragglers */
		io_uring_sqe_set_data64(sqe, xu_ud(XU_OP_CANCEL, 0, 0, 0));
	}
	while (busy(x) && xu_now_ns() < deadline) {
		struct __kernel_timespec ts = {.tv_sec = 0, .tv_nsec = 10000000};
		struct io_uring_cqe *cqe;

		x->ev = scratch; /* closing connections report nothing during a drain */
		x->ev_n = 0;
		x->ev_max = 1;
		(void)io_uring_submit_and_wait_timeout(&x->ring, &cqe, 1, &ts, NULL);
		(void)xu_reap(x);
	}
	x->ev = NULL;
}

static void uring_destroy(struct pf_xport *x)
{
	if (x == NULL)
		return;
	drain(x);
	free_instance(x, true);
}

static int addr_check(const struct sockaddr *addr, socklen_t addr_len)
{
	if (addr == NULL)
		return -EINVAL;
	if (addr->sa_family == AF_INET)
		return addr_len == sizeof(struct sockaddr_in) ? 0 : -EINVAL;
	if (addr->sa_family == AF_INET6)
		return addr_len == sizeof(struct sockaddr_in6) ? 0 : -EINVAL;
	return -EAFNOSUPPORT;
}

/* The port a bound socket got, host order. */
static uint16_t bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return 0;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static int uring_listen(struct pf_xport *x, const struct sockaddr *addr, socklen_t addr_len,
			uint32_t *ret_listener, uint16_t *ret_port)
{
	int fd, r, one = 1;

	if (x == NULL || ret_listener == NULL)
		return -EINVAL;
	if ((r = addr_check(addr, addr_len)) < 0)
		return r;
	if (x->listeners_count >= PF_XPORT_LISTENERS_MAX)
		return -ENOSPC;
	fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)); /* quick restarts */
	if (bind(fd, addr, addr_len) < 0 || listen(fd, SOMAXCONN) < 0) {
		r = -errno;
		(void)close(fd);
		return r;
	}
	PF_ASSERT(x->listeners_count < PF_XPORT_LISTENERS_MAX);
	x->listeners[x->listeners_count] = (struct xu_listener){.fd = fd};
	*ret_listener = x->listeners_count++;
	if (ret_port != NULL)
		*ret_port = bound_port(fd);
	xu_accept_arm(x, *ret_listener);
	xu_kick(x);
	return 0;
}

/* The connect SQE linked to its timeout; the caller reserved two SQEs. */
static void connect_prep(struct pf_xport *x, struct xu_conn *c)
{
	uint32_t slot = xu_slot_of(x, c);
	struct io_uring_sqe *sqe = io_uring_get_sqe(&x->ring);
	struct io_uring_sqe *to = io_uring_get_sqe(&x->ring);

	PF_ASSERT(sqe != NULL && to != NULL);
	c->connect_ts.tv_sec = (long long)(x->o.connect_timeout_ns / 1000000000u);
	c->connect_ts.tv_nsec = (long long)(x->o.connect_timeout_ns % 1000000000u);
	XU_CHECK_REGION(&c->addr, c->addr_len);
	XU_CHECK_REGION(&c->connect_ts, sizeof(c->connect_ts));
	io_uring_prep_connect(sqe, c->fd, (struct sockaddr *)&c->addr, c->addr_len);
	io_uring_sqe_set_data64(sqe, xu_ud(XU_OP_CONNECT, c->gen, slot, 0));
	sqe->flags |= IOSQE_IO_LINK;
	io_uring_prep_link_timeout(to, &c->connect_ts, 0);
	io_uring_sqe_set_data64(to, xu_ud(XU_OP_CONNECT_TIMEOUT, c->gen, slot, 0));
	c->connect_armed = true;
	c->inflight += 2;
	c->inflight_fd += 1; /* the timeout does not use the socket */
}

static int uring_connect(struct pf_xport *x, const struct sockaddr *addr, socklen_t addr_len,
			 uint64_t cookie, uint32_t *ret_conn)
{
	struct xu_conn *c;
	int fd, r, one = 1;

	if (x == NULL || ret_conn == NULL)
		return -EINVAL;
	if ((r = addr_check(addr, addr_len)) < 0)
		return r;
	if (x->free_count <= x->accepts_armed)
		return -EUSERS; /* the rest wait for peers of our listeners */
	if (!xu_sqe_reserve(x, 2))
		return -EAGAIN; /* the kernel refused a submit: try again after a poll */
	fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* frames are whole */
	r = xu_conn_alloc(x, fd, XU_CONNECTING, &c);
	if (r < 0) {
		(void)close(fd);
		return r;
	}
	PF_ASSERT(c->state == XU_CONNECTING && c->fd == fd && addr_len <= sizeof(c->addr));
	memcpy(&c->addr, addr, addr_len);
	c->addr_len = addr_len;
	c->cookie = cookie;
	connect_prep(x, c);
	*ret_conn = xu_conn_id(x, c);
	xu_kick(x);
	return 0;
}

static int uring_close(struct pf_xport *x, uint32_t conn)
{
	struct xu_conn *c;

	if (x == NULL)
		return -EINVAL;
	c = xu_conn_get(x, conn);
	if (c == NULL || c->state == XU_CLOSING)
		return -ENOTCONN;
	xu_conn_fail(x, c, 0);
	xu_kick(x);
	return 0;
}

static int uring_register_buffers(struct pf_xport *x, const struct iovec *iov, unsigned count)
{
	int r;

	if (x == NULL || count > PF_XPORT_REGISTERED_BUFFERS_MAX || (count > 0 && iov == NULL))
		return -EINVAL;
	for (unsigned i = 0; i < count; i++)
		if (iov[i].iov_base == NULL || iov[i].iov_len == 0 || iov[i].iov_len > (1u << 30))
			return -EINVAL;
	if (!(x->features & PF_XPORT_FEAT_REGISTERED_BUFFERS))
		return -EOPNOTSUPP;
	if (x->fixed_inflight != 0)
		return -EBUSY; /* unregistering would wait for the kernel to let go */
	if (x->reg_count > 0) {
		(void)io_uring_unregister_buffers(&x->ring); /* nothing uses them: see above */
		x->reg_count = 0;
	}
	if (count == 0)
		return 0;
	r = io_uring_register_buffers(&x->ring, iov, count);
	if (r < 0)
		return r;
	memcpy(x->reg, iov, count * sizeof(*iov));
	x->reg_count = count;
	return 0;
}

static int uring_send(struct pf_xport *x, uint32_t conn, const struct iovec *iov,
		      unsigned iov_count, uint64_t cookie)
{
	return x == NULL ? -EINVAL : xu_send(x, conn, iov, iov_count, cookie);
}

static int uring_poll(struct pf_xport *x, struct pf_xport_event *ret_events, unsigned max,
		      uint64_t timeout_ns)
{
	return x == NULL ? -EINVAL : xu_poll(x, ret_events, max, timeout_ns);
}

/* The eventfd is registered with the ring only once asked for: until then no CQE pays for
 * signalling it. What was already there when it is asked for is covered by a kick. */
static int uring_fd(struct pf_xport *x)
{
	int r;

	if (x == NULL)
		return -EINVAL;
	if (!x->efd_used) {
		r = io_uring_register_eventfd(&x->ring, x->efd);
		if (r < 0)
			return r;
		x->efd_used = true;
		xu_kick(x);
	}
	return x->efd;
}

static int uring_features(struct pf_xport *x, uint64_t *ret_features)
{
	if (x == NULL || ret_features == NULL)
		return -EINVAL;
	*ret_features = x->features;
	return 0;
}

static int uring_stats(struct pf_xport *x, struct pf_xport_stats *ret)
{
	struct pf_xport_stats s = {.size = sizeof(s)};
	uint32_t size;

	if (x == NULL || ret == NULL ||
	    ret->size < offsetof(struct pf_xport_stats, sends_copied) + sizeof(s.sends_copied))
		return -EINVAL;
	size = ret->size < sizeof(s) ? ret->size : (uint32_t)sizeof(s);
	s.submits = x->stats.submits;
	s.sends_copied = x->stats.send_ops + x->stats.sendmsg_ops;
	s.sends_zero_copy = x->stats.send_zc_ops + x->stats.sendmsg_zc_ops;
	s.sends_zero_copy_fixed = x->stats.send_zc_fixed_ops;
	s.zc_notifications = x->stats.zc_notifs;
	s.frames_received = x->stats.frames_zero_copy + x->stats.frames_copied;
	s.recv_no_buffer = x->stats.recv_enobufs;
	s.size = size; /* what was filled: a larger, newer caller's later fields were not */
	memcpy(ret, &s, size);
	return 0;
}

const struct pf_xport_ops xport_uring_ops = {
	.size = sizeof(struct pf_xport_ops),
	.name = "uring",
	.create = uring_create,
	.destroy = uring_destroy,
	.listen = uring_listen,
	.connect = uring_connect,
	.register_buffers = uring_register_buffers,
	.send = uring_send,
	.poll = uring_poll,
	.close = uring_close,
	.fd = uring_fd,
	.features = uring_features,
	.stats = uring_stats,
};

int xport_uring_conn_fd(struct pf_xport *x, uint32_t conn)
{
	struct xu_conn *c = x != NULL ? xu_conn_get(x, conn) : NULL;

	if (c == NULL || c->state != XU_OPEN || c->fd < 0)
		return -ENOTCONN;
	return c->fd;
}

void xport_uring_stats(const struct pf_xport *x, struct xu_stats *ret_stats)
{
	PF_ASSERT(x != NULL && ret_stats != NULL);
	*ret_stats = x->stats;
}
