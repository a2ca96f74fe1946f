/* SPDX-License-Identifier: MIT */
/*
 * net/xport_uring.h: the io_uring TCP backend's internals, shared by its files:
 *   xport_uring.c       instance life (create, destroy), listen, connect, close, fd,
 *                       features, registered buffers, the ops table
 *   xport_uring_conn.c  connection slots, ids, closing, the deferred-event lists
 *   xport_uring_rx.c    receive: provided buffer ring or plain recv, frame reassembly
 *   xport_uring_tx.c    send queues, batching, zero copy, the idle-timeout tick
 *   xport_uring_poll.c  poll(): submission, completion dispatch, accept and connect
 * The design (what is in flight when, who may emit which event) is at the top of
 * xport_uring.c.
 */
#ifndef PF_NET_XPORT_URING_H
#define PF_NET_XPORT_URING_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "net/xport.h"
#include "shm/pf_assert.h"
#include "shm/pf_compiler.h"

/*
 * Sanitizer hook for io_uring buffers (STYLE 10.8): the kernel reads and writes what an
 * SQE points to out of ASan's sight, so in ASan builds every region is checked just
 * before its SQE is queued. Compiles away elsewhere.
 */
#if PF_ASAN
#include <sanitizer/asan_interface.h>
#define XU_CHECK_REGION(p, n)                                                                      \
	PF_ASSERT((n) == 0 || __asan_region_is_poisoned((void *)(uintptr_t)(p), (n)) == NULL)
#else
#define XU_CHECK_REGION(p, n) ((void)sizeof((p) != NULL), (void)sizeof(n))
#endif

#define XU_NIL 0xffffu   /* end of a slot list */
#define XU_BATCH_IOV 64u /* iovecs one send chain carries: many small frames per syscall */
#define XU_ZC_BATCH_BYTES (256u << 10) /* a zero-copy sendmsg stops gathering here */
#define XU_CHAIN_MAX 2u /* linked send SQEs per chain: one zero-copy, one copied batch */

/* A zero-copy send's aux: the first record it carries, how many more, and whether it
 * sent from a registered buffer. */
#define XU_AUX_REC_MASK 0xffffu /* PF_XPORT_SEND_FRAMES_MAX records */
#define XU_AUX_SPAN_SHIFT 16
#define XU_AUX_SPAN_MAX 128u /* > XU_BATCH_IOV: each record spanned adds an iovec */
#define XU_AUX_FIXED 0x800000u
#define XU_SEND_FLAGS (MSG_NOSIGNAL | MSG_WAITALL) /* WAITALL: a short send breaks the chain */
_Static_assert(XU_AUX_SPAN_MAX > XU_BATCH_IOV, "a batch spans at most one record per iovec");
_Static_assert(PF_XPORT_SEND_FRAMES_MAX - 1 <= XU_AUX_REC_MASK, "record index in aux");
#define XU_BGID 7u              /* the provided buffer group (one per ring) */
#define XU_HDR_BYTES 4u         /* the little-endian length before each payload */
#define XU_DRAIN_NS 1000000000u /* destroy() waits this long at most for the kernel */

/* What an SQE was, in the top byte of its user_data. */
enum xu_op {
	XU_OP_RECV = 1,
	XU_OP_SEND = 2,    /* send or sendmsg, copied by the kernel */
	XU_OP_SEND_ZC = 3, /* zero copy: a result CQE, then (F_MORE) a notification CQE */
	XU_OP_CONNECT = 4,
	XU_OP_CONNECT_TIMEOUT = 5, /* the link timeout after a connect */
	XU_OP_ACCEPT = 6,
	XU_OP_CANCEL = 7,
	XU_OP_TICK = 8, /* the idle-timeout clock */
};

/* user_data = op << 56 | gen << 40 | slot << 24 | aux (a send record, a listener). */
static inline uint64_t xu_ud(enum xu_op op, uint32_t gen, uint32_t slot, uint32_t aux)
{
	PF_ASSERT(gen <= 0xffffu && slot <= 0xffffu && aux <= 0xffffffu);
	return (uint64_t)op << 56 | (uint64_t)gen << 40 | (uint64_t)slot << 24 | aux;
}
#define XU_UD_OP(ud) ((enum xu_op)((ud) >> 56))
#define XU_UD_GEN(ud) ((uint32_t)((ud) >> 40) & 0xffffu)
#define XU_UD_SLOT(ud) ((uint32_t)((ud) >> 24) & 0xffffu)
#define XU_UD_AUX(ud) ((uint32_t)(ud)&0xffffffu)

/* A connection id is gen << 16 | slot, gen never 0, so no id is 0. */
#define XU_ID(gen, slot) ((uint32_t)(gen) << 16 | (uint32_t)(slot))

enum xu_state {
	XU_FREE = 0,
	XU_CONNECTING = 1,
	XU_OPEN = 2,
	XU_CLOSING = 3, /* waiting for its SQEs to end; then SENT..., CLOSED, FREE */
};

/* Which deferred-work lists a slot is on (xu_conn.lists). */
#define XU_ON_READY 0x1u /* has SENT or CLOSED events to report */
#define XU_ON_TX 0x2u    /* has bytes to send and no send in flight */
#define XU_ON_REARM 0x4u /* its recv is to be armed when the next poll begins */

/* One queued frame: the header, then the caller's segments. */
struct xu_send {
	uint64_t cookie;
	uint32_t bytes;      /* on the wire: XU_HDR_BYTES + payload */
	uint32_t done;       /* bytes the kernel took */
	uint32_t zc_pending; /* zero-copy notifications still to come */
	uint16_t iov_count;
	uint8_t hdr[XU_HDR_BYTES];
	struct iovec iov[PF_XPORT_IOV_MAX];
};

struct xu_conn {
	int fd;
	uint16_t gen;
	uint8_t state;        /* enum xu_state */
	uint8_t lists;        /* XU_ON_* */
	int32_t error;        /* the CLOSED event's */
	uint32_t inflight;    /* SQEs whose last CQE is still to come */
	uint32_t inflight_fd; /* of those, the ones that use the socket (not notifications) */
	uint32_t listener;
	uint16_t next_ready, next_tx, next_rearm;
	bool recv_armed, send_armed, connect_armed;
	bool abort;           /* close with a reset: something was cut mid-stream */
	uint64_t cookie;      /* the connect's */
	uint64_t progress_ns; /* last time queued bytes moved (or the queue started) */

	/* Receive: the frame being reassembled. */
	uint8_t hdr[XU_HDR_BYTES];
	uint32_t hdr_have, frame_len, frame_have;
	uint64_t fbuf_round; /* the poll round a frame was last delivered from fbuf */
	uint8_t *fbuf;       /* frame_bytes_max, for frames that span buffers */
	uint8_t *rxbuf;      /* recv_buffer_bytes, the plain recv's target (no multishot) */

	/* Send: records [q_head, q_tx) sent whole, [q_tx, q_tail) not yet; free-running. */
	struct xu_send *q;
	uint32_t q_head, q_tx, q_tail;
	uint64_t q_bytes;    /* of the records not yet reported */
	uint32_t chain_left; /* linked send SQEs whose result CQE is still to come */
	struct msghdr msgs[XU_CHAIN_MAX];
	struct iovec batch[XU_BATCH_IOV];

	/* Connect: kept here because the SQEs point to them until they are submitted. */
	struct sockaddr_storage addr;
	socklen_t addr_len;
	struct __kernel_timespec connect_ts;
};

struct xu_listener {
	int fd;
	bool armed; /* an accept is in flight */
};

/* Counters for tests and benchmarks (xport_uring_stats()): which paths really ran. */
struct xu_stats {
	uint64_t submits;
	uint64_t send_ops, sendmsg_ops, send_zc_ops, sendmsg_zc_ops, send_zc_fixed_ops, zc_notifs;
	uint64_t recv_multishot_arms, recv_plain_arms, recv_enobufs;
	uint64_t frames_zero_copy, frames_copied, parks;
};

/* A receive buffer partly parsed when poll's event array filled (or the frame buffer it
 * needs still holds a frame handed out in this round). */
struct xu_park {
	bool on;
	uint16_t slot;
	int32_t bid; /* provided buffer id, -1: the connection's rxbuf */
	const uint8_t *p;
	uint32_t n;
};

struct pf_xport {
	struct io_uring ring;
	struct pf_xport_opts o;
	uint64_t features; /* PF_XPORT_FEAT_* */
	int efd;           /* eventfd registered with the ring */
	bool efd_used;     /* fd() was asked for: keep it truthful */
	bool kicked;       /* efd written since the last poll() */
	bool tick_armed;
	bool destroying;
	bool sendmsg_zc; /* the kernel has IORING_OP_SENDMSG_ZC: zero-copy sends gather */
	uint64_t round;  /* poll() calls so far */

	struct xu_conn *conns;
	uint16_t *free_slots; /* stack of free slot indices */
	uint32_t free_count;
	struct xu_listener listeners[PF_XPORT_LISTENERS_MAX];
	uint32_t listeners_count;
	uint32_t accepts_armed; /* each holds one free slot for its peer */
	uint16_t ready_head, ready_tail, tx_head, tx_tail, rearm_head, rearm_tail;

	/* Provided buffer ring (multishot receive). */
	struct io_uring_buf_ring *br;
	size_t br_bytes;
	uint8_t *bufs;
	size_t bufs_bytes;
	uint32_t br_added;  /* buffers added since the last advance */
	uint16_t *deferred; /* buffers lent to the last round's FRAME events */
	uint32_t deferred_count;
	struct xu_park park;

	struct iovec reg[PF_XPORT_REGISTERED_BUFFERS_MAX];
	uint32_t reg_count;
	uint32_t fixed_inflight; /* zero-copy sends from reg[] not yet notified */

	struct __kernel_timespec tick_ts;
	struct xu_stats stats;

	/* poll()'s output while it runs. */
	struct pf_xport_event *ev;
	uint32_t ev_n, ev_max;
};

/* Clock for timeouts: CLOCK_MONOTONIC in ns. */
uint64_t xu_now_ns(void);

/* The next SQE, submitting what is queued first if the ring is full (rare); NULL only when
 * the kernel refused that submit. */
struct io_uring_sqe *xu_sqe(struct pf_xport *x);

/* Room for n SQEs in a row (a linked chain must not be split by a submit). false: none
 * could be made (the kernel refused a submit); try again later. */
bool xu_sqe_reserve(struct pf_xport *x, unsigned n);

/* Submit what is queued; counts it. */
void xu_submit(struct pf_xport *x);

/* Make fd() readable: work was queued between polls (only once fd() was asked for). */
void xu_kick(struct pf_xport *x);

/* The next event slot of the running poll(), or NULL when its array is full. */
static inline struct pf_xport_event *xu_emit(struct pf_xport *x, uint32_t type, uint32_t conn)
{
	struct pf_xport_event *ev;

	if (x->ev == NULL || x->ev_n >= x->ev_max)
		return NULL;
	ev = &x->ev[x->ev_n++];
	*ev = (struct pf_xport_event){.type = type, .conn = conn};
	return ev;
}

static inline bool xu_ev_full(const struct pf_xport *x)
{
	return x->ev_n >= x->ev_max;
}

static inline uint32_t xu_slot_of(const struct pf_xport *x, const struct xu_conn *c)
{
	PF_ASSERT(c >= x->conns && c < x->conns + x->o.conns_max);
	return (uint32_t)(c - x->conns);
}

static inline uint32_t xu_conn_id(const struct pf_xport *x, const struct xu_conn *c)
{
	return XU_ID(c->gen, xu_slot_of(x, c));
}

/* xport_uring_conn.c */
struct xu_conn *xu_conn_get(struct pf_xport *x, uint32_t id);
int xu_conn_alloc(struct pf_xport *x, int fd, enum xu_state state, struct xu_conn **ret_c);
void xu_conn_fail(struct pf_xport *x, struct xu_conn *c, int error);
void xu_conn_op_done(struct pf_xport *x, struct xu_conn *c, bool fd_part, bool whole);
void xu_conns_free_all(struct pf_xport *x);
void xu_list_push(struct pf_xport *x, struct xu_conn *c, uint8_t list);
struct xu_conn *xu_list_pop(struct pf_xport *x, uint8_t list);
void xu_drain_ready(struct pf_xport *x);

/* xport_uring_rx.c */
int xu_bufs_setup(struct pf_xport *x);
void xu_bufs_teardown(struct pf_xport *x);
void xu_recv_arm(struct pf_xport *x, struct xu_conn *c);
void xu_on_recv(struct pf_xport *x, struct xu_conn *c, int res, uint32_t flags);
void xu_rx_round_begin(struct pf_xport *x);
void xu_rx_rearm(struct pf_xport *x);
bool xu_rx_resume(struct pf_xport *x);
void xu_rx_drop(struct pf_xport *x, struct xu_conn *c);
void xu_rx_commit(struct pf_xport *x);

/* xport_uring_tx.c */
int xu_send(struct pf_xport *x, uint32_t conn, const struct iovec *iov, unsigned iov_count,
	    uint64_t cookie);
void xu_tx_flush(struct pf_xport *x);
void xu_on_send(struct pf_xport *x, struct xu_conn *c, uint64_t ud, int res, uint32_t flags);
bool xu_tx_report(struct pf_xport *x, struct xu_conn *c);
void xu_tick_arm(struct pf_xport *x);
void xu_on_tick(struct pf_xport *x);

/* xport_uring_poll.c */
int xu_poll(struct pf_xport *x, struct pf_xport_event *ret_events, unsigned max,
	    uint64_t timeout_ns);
void xu_accept_arm(struct pf_xport *x, uint32_t listener);
void xu_accept_rearm_all(struct pf_xport *x);
int xu_reap(struct pf_xport *x);

/*
 * For tests (tests/common/xport_lossy.c cuts a stream under the backend): the socket of an
 * open connection, or -ENOTCONN. The fd stays the transport's: shutdown(2) it, never close.
 */
int xport_uring_conn_fd(struct pf_xport *x, uint32_t conn);

/* For tests and benchmarks: the counters of which paths ran. */
void xport_uring_stats(const struct pf_xport *x, struct xu_stats *ret_stats);

#endif /* PF_NET_XPORT_URING_H */
