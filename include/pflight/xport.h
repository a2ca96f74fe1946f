/* SPDX-License-Identifier: MIT */
/*
 * pflight/xport.h: the host-to-host transport, the byte mover under Flight Packet
 * migration. It knows nothing of VNodes, packets or signatures: it moves frames.
 *
 * Frames. A connection carries frames over TCP. On the wire each frame is a 4-byte
 * little-endian length (of the payload, 1..frame_bytes_max) followed by the payload. The
 * receiver reassembles and delivers whole frames only: a length of 0 or over
 * frame_bytes_max is a protocol error (the connection is closed with -EPROTO), and a
 * stream that ends inside a frame delivers nothing of that frame.
 *
 * Backends. A backend is an ops table (struct pf_xport_ops) found by name with
 * pf_xport_find(): "uring" (io_uring TCP, built always) today, a DPDK backend later,
 * behind the same table, so callers do not change. The table's size is its first member:
 * check it before using a field appended later.
 *
 * Events. Everything that happens arrives through poll() as events (ACCEPTED, CONNECTED,
 * FRAME, SENT, CLOSED); nothing is called back. Per connection, events come in this
 * order: ACCEPTED or CONNECTED first (or, for a connect that fails, only CLOSED), then
 * FRAME and SENT events, and CLOSED last; after CLOSED nothing more names that id.
 * Frames arrive in the order they were sent; SENT events come in the order of the sends.
 *
 * Connection ids. An id names one connection for its whole life and is not reused while
 * any event of it is pending: after its CLOSED event the id may be given again, to a later
 * connection, but only after many (at least 65,535) other connections used its slot.
 * Reconnecting is the caller's decision: a closed connection stays closed, and the
 * transport never retries a connect or a send by itself.
 *
 * Backpressure. send() takes a frame or refuses it with -EAGAIN when the connection's
 * queue (bytes or frames not yet completed) is full; a SENT event frees room. A queue
 * always takes a frame when it is empty, whatever its size, so -EAGAIN always has a SENT
 * event to wait for. A connection whose queued bytes make no progress for idle_timeout_ns
 * (the peer stopped reading, or vanished without a reset) is closed with -ETIMEDOUT.
 *
 * Memory. The transport allocates when it is created and when a connection slot is used
 * for the first time (its frame buffer, frame_bytes_max bytes, and its send queue, both
 * kept for the slot's later connections); nothing is allocated on the data path. A frame's
 * memory stays the caller's: it must stay unchanged until the SENT event with the frame's
 * cookie, because a zero-copy send lets the network card (or the kernel) read it until
 * then. A FRAME event's data is the transport's, valid until the next poll() call.
 *
 * Threads. One instance is driven by one thread at a time: no two calls on one instance
 * may run at once, and the ops do not synchronise. Different instances are independent.
 * No function blocks except poll() (up to its timeout) and destroy() (while it drains).
 * None logs. After fork(), the child must not use the parent's instances (their sockets
 * are shared with the parent); it may create its own.
 *
 * Interface notes (what changed from the first sketch of this table, and why):
 *  - send_queue_frames_max bounds a connection's queued frames as well as its bytes, so a
 *    stream of tiny frames is bounded too and the queue needs no allocation per send;
 *  - iov_count is at most PF_XPORT_IOV_MAX, so a queued frame's iovec array is copied
 *    into the connection's queue (the caller's array may be reused at once; only the
 *    memory it points to must stay);
 *  - SENT with error 0 means the frame was handed to the kernel whole and its memory is
 *    free again, not that the peer received it: acknowledgements are the layer above's.
 */
#ifndef PFLIGHT_XPORT_H
#define PFLIGHT_XPORT_H

#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "pflight/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One transport instance (a backend's): created by its ops' create(), driven by one thread. */
struct pf_xport;

/* Limits. Each bounds memory the transport sets aside per instance or per connection. */
#define PF_XPORT_CONNS_MAX 1024u /* connections at once: per-slot buffers stay bounded */
#define PF_XPORT_FRAME_BYTES_MAX (64u << 20)      /* largest payload; a Flight Packet chunk fits */
#define PF_XPORT_SEND_FRAMES_MAX 65536u           /* queued frames per connection */
#define PF_XPORT_IOV_MAX 8u                       /* iovec segments of one frame */
#define PF_XPORT_LISTENERS_MAX 16u                /* listening sockets per instance */
#define PF_XPORT_REGISTERED_BUFFERS_MAX 64u       /* register_buffers() count */
#define PF_XPORT_RECV_BUFFERS_MAX 32768u          /* provided receive buffers (kernel limit) */
#define PF_XPORT_RECV_BUFFER_BYTES_MAX (1u << 20) /* each */
#define PF_XPORT_SQ_ENTRIES_MAX 32768u            /* io_uring's own limit */

/* Defaults (pf_xport_opts_init()). */
#define PF_XPORT_CONNS_DEFAULT 64u
#define PF_XPORT_SQ_ENTRIES_DEFAULT 256u
#define PF_XPORT_FRAME_BYTES_DEFAULT ((1u << 20) + 4096u) /* a 1 MiB chunk and its header */
#define PF_XPORT_SEND_QUEUE_BYTES_DEFAULT (8u << 20)
#define PF_XPORT_SEND_QUEUE_FRAMES_DEFAULT 256u
/*
 * Payload segments of at least this many bytes go by zero-copy send (IORING_OP_SEND_ZC)
 * when the kernel has it. Measured with bench/bench_xport.c (`scripts/bench xport`) over
 * loopback, where the kernel copies a zero-copy send's pages anyway when it hands them to
 * the local receiver: zero copy cannot gain anything there, so the figure is the crossover
 * of its overhead (pinning pages, a notification per send), not of its benefit. Zero copy
 * ran at 0.2-0.35x the copied sends' throughput up to 64 KiB frames, 0.45x at 128 KiB,
 * 0.5-0.55x at 256 KiB, and from 512 KiB on at 0.5-0.75x (run to run), where it stopped
 * improving: above that its cost per byte is what it is (a raw SEND_ZC loop shows the
 * same), and on a real NIC the copy it saves is worth more. From registered buffers (the
 * fixed form, no pinning per send) it ran at 0.1-0.3x up to 32 KiB, 0.5-0.6x at 64-256 KiB
 * and 0.6-0.7x from 512 KiB on: above plain zero copy, still below a copy on loopback.
 * Re-measure on the NIC that carries migrations; set 0 (or PF_XPORT_F_NO_ZC) to turn it off.
 */
#define PF_XPORT_ZC_THRESHOLD_DEFAULT (512u << 10)
#define PF_XPORT_RECV_BUFFERS_DEFAULT 64u
#define PF_XPORT_RECV_BUFFER_BYTES_DEFAULT (64u << 10)
#define PF_XPORT_CONNECT_TIMEOUT_NS_DEFAULT UINT64_C(2000000000) /* 2 s: a LAN answers in ms */
#define PF_XPORT_IDLE_TIMEOUT_NS_DEFAULT UINT64_C(10000000000)   /* 10 s without progress */

/* Flags of struct pf_xport_opts. */
#define PF_XPORT_F_SQPOLL 0x1u       /* kernel thread polls the submission queue (pinned) */
#define PF_XPORT_F_NO_MULTISHOT 0x2u /* plain recv into a per-connection buffer */
#define PF_XPORT_F_NO_ZC 0x4u        /* never zero-copy send */
#define PF_XPORT_F_ALL 0x7u

struct pf_xport_opts {
	uint32_t size;                  /* sizeof(struct pf_xport_opts) */
	uint32_t flags;                 /* PF_XPORT_F_* */
	uint32_t conns_max;             /* connections at once, 1..PF_XPORT_CONNS_MAX */
	uint32_t sq_entries;            /* submission ring size, 8..PF_XPORT_SQ_ENTRIES_MAX */
	uint32_t frame_bytes_max;       /* largest payload, 1..PF_XPORT_FRAME_BYTES_MAX */
	uint32_t send_queue_bytes_max;  /* per connection, not yet SENT, before -EAGAIN */
	uint32_t send_queue_frames_max; /* per connection, 1..PF_XPORT_SEND_FRAMES_MAX */
	uint32_t zc_threshold_bytes;    /* segments this long or longer go zero-copy; 0: never */
	int32_t sqpoll_cpu;          /* with PF_XPORT_F_SQPOLL: the CPU its thread is pinned to */
	uint32_t recv_buffers;       /* provided buffers, a power of two */
	uint32_t recv_buffer_bytes;  /* each (and the per-connection buffer without multishot) */
	uint32_t reserved0;          /* must be zero */
	uint64_t connect_timeout_ns; /* a connect not done by then closes with -ETIMEDOUT */
	uint64_t idle_timeout_ns;    /* queued bytes stuck this long: -ETIMEDOUT; 0: never */
	uint64_t reserved[4];        /* must be zero */
};

/* Fill opts with the defaults above (SQPOLL off, sqpoll_cpu -1). */
PF_API void pf_xport_opts_init(struct pf_xport_opts *opts);

enum pf_xport_event_type {
	PF_XPORT_EV_ACCEPTED = 1,  /* a peer connected to one of our listeners */
	PF_XPORT_EV_CONNECTED = 2, /* our connect() succeeded */
	PF_XPORT_EV_FRAME = 3,     /* a whole frame arrived */
	PF_XPORT_EV_SENT = 4,      /* a send() finished: its memory is the caller's again */
	PF_XPORT_EV_CLOSED = 5,    /* the connection is gone; the last event of its id */
};

struct pf_xport_event {
	uint32_t type;     /* enum pf_xport_event_type */
	uint32_t conn;     /* connection id */
	int32_t error;     /* CLOSED: 0 (closed by us, or the peer's orderly end) or a negative
			    * errno: -ECONNRESET (reset, or the stream ended inside a frame),
			    * -ETIMEDOUT (connect or idle timeout), -EPROTO (a bad length),
			    * -ECONNREFUSED, -EHOSTUNREACH, ... SENT: 0, or -ECANCELED (the
			    * connection closed first) */
	uint32_t listener; /* ACCEPTED: which listener */
	uint64_t cookie;   /* SENT: the send's cookie; CONNECTED and CLOSED: the connect's */
	const void *data;  /* FRAME: the payload, valid until the next poll() */
	uint64_t len;      /* FRAME: payload bytes */
};

/* Bits of features(): what this instance uses, which the running kernel made possible. */
#define PF_XPORT_FEAT_SEND_ZC 0x1u            /* zero-copy send above zc_threshold_bytes */
#define PF_XPORT_FEAT_MULTISHOT_RECV 0x2u     /* one armed recv per connection */
#define PF_XPORT_FEAT_PROVIDED_BUF_RING 0x4u  /* receive buffers picked by the kernel */
#define PF_XPORT_FEAT_REGISTERED_BUFFERS 0x8u /* register_buffers() memory sent without pinning */
#define PF_XPORT_FEAT_SQPOLL 0x10u            /* kernel thread polls the submission queue */

/*
 * What an instance did since it was created (stats()): which send and receive paths ran,
 * so that an operator sees whether zero copy, and zero copy from registered memory, are
 * really taken. Every field counts io_uring operations or frames, never bytes.
 */
struct pf_xport_stats {
	uint32_t size; /* set by the caller: sizeof(struct pf_xport_stats) */
	uint32_t reserved0;
	uint64_t submits;               /* io_uring_enter calls that submitted work */
	uint64_t sends_copied;          /* send and sendmsg operations: the kernel copied */
	uint64_t sends_zero_copy;       /* SEND_ZC and SENDMSG_ZC from unregistered memory */
	uint64_t sends_zero_copy_fixed; /* SEND_ZC from a register_buffers() buffer */
	uint64_t zc_notifications;      /* the kernel let go of zero-copy pages */
	uint64_t frames_received;       /* frames handed out by FRAME events */
	uint64_t recv_no_buffer;        /* receives that found no provided buffer free */
};

/*
 * A backend. Every function returns a negative errno on failure; besides those listed,
 * each returns -EINVAL for a NULL xport or out-pointer. Every function may be called only
 * by the instance's one driving thread (see the top of this file) and none is
 * async-signal-safe.
 */
struct pf_xport_ops {
	uint32_t size; /* sizeof(struct pf_xport_ops): check before using a later field */
	uint32_t reserved0;
	const char *name; /* "uring" */

	/*
	 * Create an instance with opts (NULL: the defaults; a shorter, older struct keeps the
	 * defaults of what it lacks). Probes the running kernel for each feature and falls
	 * back where one is missing (features() says what was chosen). Returns 0 and
	 * *ret_xport, or:
	 *   -EINVAL      bad opts: a size below the first published one, a reserved byte or
	 *                unknown flag set, a value out of range, recv_buffers not a power of
	 *                two, PF_XPORT_F_SQPOLL without sqpoll_cpu
	 *   -ENOSYS, -EPERM  io_uring is not available to this process (kernel, seccomp,
	 *                sysctl kernel.io_uring_disabled)
	 *   -EOPNOTSUPP  the kernel lacks an opcode the backend cannot do without (accept,
	 *                connect, send, recv, timeouts, cancel)
	 *   -ENOMEM, -EMFILE, -ENFILE  no memory, no file descriptor
	 * Blocking (system calls); the calling thread need not be the one that drives it.
	 */
	int (*create)(const struct pf_xport_opts *opts, struct pf_xport **ret_xport);

	/*
	 * Close every connection and listener abruptly (peers see a reset), wait for the
	 * kernel to finish with every buffer (bounded: at most about a second), and free the
	 * instance. No events are reported; frames not yet SENT may be lost, and their memory
	 * is the caller's again when destroy returns. Accepts NULL.
	 */
	void (*destroy)(struct pf_xport *xport);

	/*
	 * Listen on addr (AF_INET or AF_INET6; port 0: the kernel picks one). Returns 0,
	 * *ret_listener (the id ACCEPTED events name) and *ret_port (the port bound, host
	 * order; may be NULL), or:
	 *   -EINVAL        bad address or length
	 *   -EAFNOSUPPORT  not AF_INET or AF_INET6
	 *   -ENOSPC        PF_XPORT_LISTENERS_MAX listeners already
	 *   -EADDRINUSE, -EACCES, -EADDRNOTAVAIL  from bind(2)
	 *   -EMFILE, -ENFILE, -ENOMEM
	 * A listener lives until destroy. While it waits for a peer it holds one free
	 * connection slot for it (so a peer the kernel accepted always has one); with no slot
	 * to hold, accepting stops until one frees, and the kernel's backlog keeps peers
	 * waiting meanwhile.
	 */
	int (*listen)(struct pf_xport *xport, const struct sockaddr *addr, socklen_t addr_len,
		      uint32_t *ret_listener, uint16_t *ret_port);

	/*
	 * Start connecting to addr (AF_INET or AF_INET6). Asynchronous: returns 0 and
	 * *ret_conn at once; a CONNECTED event (with cookie) follows, or a CLOSED event (with
	 * cookie and -ECONNREFUSED, -ETIMEDOUT after connect_timeout_ns, -ENETUNREACH, ...).
	 * Frames may be sent before CONNECTED: they go out once connected. Returns, besides:
	 *   -EINVAL        bad address or length
	 *   -EAFNOSUPPORT  not AF_INET or AF_INET6
	 *   -EUSERS        no free slot: conns_max connections already, or the free ones are
	 *                  held by listeners waiting for peers (CLOSED events free slots)
	 *   -EAGAIN        the submission queue is full and the kernel refused to take it
	 *                  (rare): poll(), then retry
	 *   -EMFILE, -ENFILE, -ENOMEM
	 */
	int (*connect)(struct pf_xport *xport, const struct sockaddr *addr, socklen_t addr_len,
		       uint64_t cookie, uint32_t *ret_conn);

	/*
	 * Register memory that sends may come from without being pinned per send (io_uring
	 * fixed buffers): a zero-copy send of a segment that lies inside one of them uses it.
	 * Replaces any earlier set; count 0 unregisters. The memory must stay mapped while
	 * registered, and is pinned (RLIMIT_MEMLOCK applies). Returns 0, or:
	 *   -EINVAL      count over PF_XPORT_REGISTERED_BUFFERS_MAX, iov NULL with count > 0,
	 *                an empty or over-1-GiB buffer
	 *   -EBUSY       a zero-copy send from the registered buffers still waits for its
	 *                SENT event (replace them between bursts)
	 *   -EOPNOTSUPP  this instance does not use registered buffers (features() lacks
	 *                PF_XPORT_FEAT_REGISTERED_BUFFERS): sends work the same, unregistered
	 *   -ENOMEM, -EFAULT  the kernel could not pin the memory (memlock limit)
	 */
	int (*register_buffers)(struct pf_xport *xport, const struct iovec *iov, unsigned count);

	/*
	 * Queue one frame: the concatenation of iov[0..iov_count) (empty segments allowed).
	 * The iovec array is copied; the memory it points to must stay unchanged until the
	 * SENT event with this cookie. Frames on one connection go out in order and never
	 * interleave. Nothing is submitted until the next poll(). Returns 0, or:
	 *   -EAGAIN    the connection's queue is full (send_queue_bytes_max or
	 *              send_queue_frames_max): retry after a SENT event on this connection
	 *   -ENOTCONN  conn names no open connection (never did, closing, or closed)
	 *   -EMSGSIZE  the frame is over frame_bytes_max
	 *   -EINVAL    iov NULL, iov_count 0 or over PF_XPORT_IOV_MAX, an empty frame
	 */
	int (*send)(struct pf_xport *xport, uint32_t conn, const struct iovec *iov,
		    unsigned iov_count, uint64_t cookie);

	/*
	 * Submit what is queued, reap completions, and return up to max events in
	 * ret_events: their number, 0 when timeout_ns passed with none (0: do not wait;
	 * UINT64_MAX: no limit), or -EINVAL (max 0). A signal may end the wait early (0).
	 * Batched: what was queued since the last call goes to the kernel in the one
	 * io_uring_enter that also waits (when nothing is there to return); what the
	 * completions produced (more sends, receives armed again) goes in one more before
	 * returning. A wait that brings only completions without events (zero-copy
	 * notifications) waits again within timeout_ns. Receive buffers lent to the previous
	 * call's FRAME events go back to the kernel when this call begins. Events that did
	 * not fit in max wait, in order, for the next call. Blocking up to timeout_ns.
	 */
	int (*poll)(struct pf_xport *xport, struct pf_xport_event *ret_events, unsigned max,
		    uint64_t timeout_ns);

	/*
	 * Close conn. Frames queued and not wholly sent complete with SENT -ECANCELED, then
	 * CLOSED follows with error 0. Frames already handed to the kernel reach a peer that
	 * keeps reading, unless a frame was cut mid-way or zero-copy pages were still lent to
	 * the kernel: then the connection is reset, so that the kernel lets go at once, and
	 * the peer loses what it had not read yet. Returns 0, or -ENOTCONN (no open
	 * connection by that id: never was, already closing, or closed; a closing one's
	 * CLOSED event is on its way).
	 */
	int (*close)(struct pf_xport *xport, uint32_t conn);

	/*
	 * A file descriptor for the application's own epoll or poll loop: readable when poll()
	 * has events to return or work to submit. Level-triggered as far as the caller is
	 * concerned: poll() clears it and sets it again when events remain. The fd is the
	 * instance's (closed by destroy). Returns the fd (>= 0), or a negative errno from
	 * registering it with the kernel (-ENOMEM, -EBUSY) the first time.
	 */
	int (*fd)(struct pf_xport *xport);

	/* *ret_features: the PF_XPORT_FEAT_* bits this instance uses. Returns 0. */
	int (*features)(struct pf_xport *xport, uint64_t *ret_features);

	/*
	 * The counters since create: fills the first ret_stats->size bytes (a shorter, older
	 * struct gets what it has room for). Returns 0, or -EINVAL (a size below the first
	 * published one, 24 bytes). A later field of this table: check the table's size
	 * first (offsetof(struct pf_xport_ops, stats) < size).
	 */
	int (*stats)(struct pf_xport *xport, struct pf_xport_stats *ret_stats);
};

/*
 * The backend called name: "uring" gives the io_uring TCP backend. Returns NULL for NULL,
 * an unknown name, or a backend this build lacks. The table is static: never freed. Any
 * thread; wait-free.
 */
PF_API const struct pf_xport_ops *pf_xport_find(const char *name);

#ifdef __cplusplus
}
#endif

#endif /* PFLIGHT_XPORT_H */
