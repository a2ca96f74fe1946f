/* SPDX-License-Identifier: MIT */
/*
 * tools/pflightd/hosts_impl.h: the host agent's state and its migration protocol, shared
 * by hosts.c, emigrate.c and immigrate.c.
 *
 * The protocol, one link frame type per step (integers little-endian; `mig` is the
 * source's id of the move, unique per source daemon run):
 *
 *   source -> target                         target -> source
 *   BEGIN   mig, vnode, chunk_bytes           ACCEPT  mig   or REFUSE mig, errno, reason
 *   CHUNK   mig, round, a chunk record        (its bytes checked against its digest)
 *   ROUND   mig, round, chunks                ROUND_OK mig, round
 *      ... rounds of changed chunks while the VNode runs; then the source stops it
 *      (LEAVING) and sends the chunks that changed since the last round ...
 *   FINAL   mig, preamble, header record
 *   MSG     mig, a message record (each waiting message, in order)
 *   SEAL    mig, digest table record, signature record
 *                                             PREPARED mig, epoch here (ARRIVING, all of
 *                                             it verified and installed) or REFUSE
 *   COMMIT  mig   (after the source's REMOTE) DONE mig (PENDING here: it resumes)
 *   ABORT   mig   (the source kept it)        (ARRIVING undone)
 *   QUERY   vnode, epoch (a target after a cut)  ANSWER vnode, epoch, committed
 *
 * At most one owner: the target makes the VNode PENDING (placeable) only on COMMIT, which
 * the source sends only after its own word says REMOTE; a source that has not committed
 * may roll back at any time (nothing the target holds can be placed); a target that holds
 * a prepared arrival when the connection ends asks the source, on the next connection,
 * whether it committed (QUERY), and until it knows, keeps the VNode ARRIVING: unserved,
 * never doubled.
 */
#ifndef PFLIGHTD_HOSTS_IMPL_H
#define PFLIGHTD_HOSTS_IMPL_H

#include <sys/socket.h>

#include "shm/le.h"
#include "tools/pflightd/hosts.h"

enum hosts_frame {
	HF_BEGIN = 1,
	HF_ACCEPT = 2,
	HF_REFUSE = 3,
	HF_CHUNK = 4,
	HF_ROUND = 5,
	HF_ROUND_OK = 6,
	HF_FINAL = 7,
	HF_MSG = 8,
	HF_SEAL = 9,
	HF_PREPARED = 10,
	HF_COMMIT = 11,
	HF_DONE = 12,
	HF_ABORT = 13,
	HF_QUERY = 14,
	HF_ANSWER = 15,
	HF_FWD = 16,       /* vnode, epoch, first position, count, then each message */
	HF_FWD_ACK = 17,   /* vnode, epoch, the position after the last one delivered */
	HF_DELIVERED = 18, /* source -> target, before FINAL: mig, the position (in the
			    * target's inbox) after the last message the target had forwarded
			    * to the source and the source delivered: the target drops those */
};

#define HOSTS_FORWARD_MAX 4096u /* VNodes away (and senders' high-water marks) tracked */
#define HOSTS_WAITING_MAX 4096u /* moves asked for while every slot was busy */

/* A VNode owned by another host whose messages here are forwarded (forward.c). */
struct forward_vnode {
	uint32_t used;
	uint32_t inflight; /* a batch sent, not yet acknowledged */
	uint32_t vnode;
	int32_t entry;
	uint64_t upto;     /* the position after the batch in flight */
	uint64_t first;    /* its first position */
	uint64_t retry_ns; /* not before then */
};

/* Where delivery of forwarded messages from one host for one VNode stands here. In a file
 * mapping (forward_open()), so a daemon killed at any instruction leaves it exact: a send
 * under way (pending) is settled at the next start by pf_transit_sent(). */
struct forward_mark {
	uint8_t peer_key[PF_PACKET_KEY_BYTES]; /* the sending host's */
	uint32_t vnode;
	uint32_t valid;   /* 0: nothing delivered yet */
	uint64_t next;    /* the source's position after the last one delivered */
	uint64_t pend;    /* pending: the source's position of the message being sent */
	uint64_t pend_at; /* and the inbox position it claimed here, UINT64_MAX: none yet */
	uint32_t pending;
	uint32_t reserved0;
};

/* The file: a header, then the marks (host byte order; it never leaves the host). */
#define FORWARD_MARKS_MAGIC "PFFWD01"
struct forward_marks {
	char magic[8];
	uint32_t count;
	uint32_t max;
	uint64_t reserved;
	struct forward_mark mark[HOSTS_FORWARD_MAX];
};

/* The chunk of a move: about state_bytes_max / HOSTS_CHUNKS_AIM, a power of two within
 * [HOSTS_CHUNK_MIN, HOSTS_CHUNK_MAX]. Small states get small chunks, so a commit that
 * changed a few bytes costs the final round (and the pause) one small chunk to hash on
 * each side; large ones get chunks below the zero-copy threshold's default and a digest
 * table of a few thousand entries. */
#define HOSTS_CHUNK_MIN (8u << 10)
#define HOSTS_CHUNK_MAX (256u << 10)
#define HOSTS_CHUNKS_AIM 1024u
uint32_t hosts_chunk_bytes(uint32_t state_bytes_max);

#define HOSTS_NONE UINT32_MAX
#define HOSTS_ROUNDS_MAX 8u           /* pre-copy rounds before the stop */
#define HOSTS_STOP_BYTES (256u << 10) /* stop once a round changed less than this */
#define HOSTS_MIGRATE_TIMEOUT_NS (30ull * 1000000000ull) /* a move not done by then rolls back */
#define HOSTS_RETRY_NS (200ull * 1000000ull) /* a peer that could not be reached: wait */

enum conn_state { CONN_FREE = 0, CONN_CONNECTING, CONN_HANDSHAKE, CONN_READY };

struct hosts_conn {
	uint32_t state;    /* enum conn_state */
	uint32_t conn;     /* the transport's id */
	int32_t peer;      /* outbound: the peer dialed; inbound: known once ready (-1) */
	uint32_t outbound; /* 1: we connected */
	struct pf_link *link;
	uint64_t sends; /* frames queued and not yet SENT */
	/* Frames sealed when the transport's queue was full, oldest first: their sequence
	 * numbers are taken, so they go, in order, before anything sealed later. */
	struct hosts_out *waiting, *waiting_tail;
};

struct hosts_peer {
	struct pf_link_peer id; /* name and key, as the link wants them */
	struct sockaddr_storage addr;
	socklen_t addr_len;
	int32_t conn;      /* our outbound connection's entry, -1: none */
	uint64_t retry_ns; /* not before then after a failure */
};

/* A frame in flight: what the transport reads until its SENT event (its cookie). */
struct hosts_out {
	uint8_t head[PF_LINK_HEAD_BYTES];
	uint8_t tag[PF_LINK_TAG_BYTES];
	uint32_t entry; /* the connection's entry */
	uint32_t owned; /* 1: body is ours to free */
	void *body;
	size_t body_len;
	void (*done)(struct hosts *h, void *arg, int error); /* on SENT, may be NULL */
	void *done_arg;
	struct iovec iov[PF_XPORT_IOV_MAX]; /* what the transport is given: head, body, tag */
	unsigned iov_count;
	struct hosts_out *next; /* in the connection's waiting list */
};

enum emig_phase {
	EM_FREE = 0,
	EM_CONNECT,      /* waiting for the link */
	EM_BEGUN,        /* BEGIN sent, waiting for ACCEPT */
	EM_ROUND,        /* a round's chunks going out */
	EM_ROUND_WAIT,   /* its ROUND sent, waiting for ROUND_OK */
	EM_FINAL,        /* stopped: final chunks, messages and seal going out */
	EM_PREPARE_WAIT, /* waiting for PREPARED */
	EM_DONE_WAIT,    /* committed; waiting for DONE (informational) */
};

struct emigration {
	uint32_t phase; /* enum emig_phase */
	uint32_t vnode;
	uint32_t peer;
	int32_t entry; /* connection entry, -1 */
	uint64_t mig;
	uint32_t round;
	uint32_t epoch; /* LEAVING epoch once stopped, else 0 */
	uint32_t chunk_bytes;
	uint32_t chunk_count;
	uint64_t len;         /* state bytes of this round's state */
	uint64_t seq;         /* its commit count when the round began (valid once `copied`) */
	uint32_t copied;      /* len and seq are known */
	uint32_t same;        /* no commit since the last round: no chunk changed */
	const uint8_t *final; /* after the stop, unless `same`: the state in the arena */
	uint64_t arena_bytes; /* final chunks' bytes sent straight from there */
	uint32_t registered;  /* final lies in a buffer registered with the transport */
	uint32_t reserved0;
	uint32_t verify_due; /* its checksum is still to be verified here (before COMMIT) */
	uint8_t (*sent)[PF_PACKET_DIGEST_BYTES]; /* digest of each chunk the target has */
	uint8_t (*xxh)[16];                      /* and its XXH3-128, to find what changed */
	uint8_t *have;                           /* 1: the target has chunk i at sent[i] */
	uint64_t inflight;                       /* frames of this move not yet SENT */
	uint64_t changed_bytes;                  /* this round's */
	uint64_t bytes_sent;
	uint64_t carried_to; /* inbox position after the last message carried */
	uint64_t started_ns, stopped_ns, deadline_ns;
	uint32_t messages;
	uint32_t cursor;         /* the next chunk of this round to look at */
	uint64_t inbox_from;     /* first message the final state had not consumed */
	struct pf_vnode_info vi; /* as it was when stopped: owner, requirements */
	uint64_t lineage_seq;    /* the newest audit record about it here at the stop */
	uint8_t lineage_hash[PF_PACKET_DIGEST_BYTES];
	char by[96]; /* who asked, for the audit records */
};

enum immig_phase {
	IM_FREE = 0,
	IM_RECEIVING, /* BEGIN accepted: chunks, rounds, FINAL, messages */
	IM_PREPARED,  /* verified and installed: ARRIVING here, waiting for COMMIT */
	IM_ASKING,    /* prepared, its connection lost: QUERY the source when we can */
};

struct immigration {
	uint32_t active; /* enum immig_phase */
	uint32_t vnode;
	int32_t entry;
	int32_t peer;
	uint64_t mig;
	uint32_t chunk_bytes;
	uint32_t epoch; /* once PREPARED: the ARRIVING epoch here */
	uint8_t *state; /* staging, domain state_bytes_max, when no buffer could be held */
	uint8_t *dst;   /* where chunks go: held buffer `buf`'s bytes (held), or state */
	uint32_t held;  /* 1: checkpoint buffer `buf` is held for it (pf_transit_hold()) */
	uint32_t buf;
	uint8_t (*digest)[PF_PACKET_DIGEST_BYTES];
	uint8_t *have;
	uint32_t *lens;
	uint32_t chunks_cap;
	uint32_t messages;
	uint32_t drop_valid; /* HF_DELIVERED came: drop what we forwarded before drop_upto */
	uint64_t drop_upto;
	struct pf_packet_header *header; /* from FINAL */
	uint8_t *head_rec;               /* preamble + header record, as received */
	size_t head_rec_len;
	struct iovec *msgs;
	uint32_t msgs_cap;
	uint32_t reserved0;
	uint64_t bytes;
};

struct hosts {
	const struct pf_xport_ops *ops;
	struct pf_xport *x;
	struct pf_domain *domain;
	struct cmdq *inbox;
	struct cmdq *to_auditor;
	struct pf_audit *log; /* read only: a VNode's lineage head, for the packet */
	void (*on_arrival)(void *arg);
	void *on_arrival_arg;
	unsigned char sk[PF_AUDIT_SECRET_KEY_BYTES];
	char name[PF_PACKET_HOST_NAME_MAX + 1];
	uint16_t port;
	uint16_t reserved0;
	uint32_t peers_count;
	struct hosts_peer peers[PF_MANIFEST_PEERS_MAX];
	struct pf_link_peer link_peers[PF_MANIFEST_PEERS_MAX];
	struct hosts_conn conns[HOSTS_CONNS_MAX];
	struct emigration out[HOSTS_MIGRATIONS_MAX];
	struct immigration in[HOSTS_MIGRATIONS_MAX];
	uint64_t next_mig;
	uint32_t state_bytes_max;
	uint32_t msg_bytes_max;
	uint32_t trust_floor_ppm;
	uint32_t reserved1;
	char namespace_name[PF_DOMAIN_NAME_MAX + 1];
	struct forward_vnode fwd[HOSTS_FORWARD_MAX];
	uint32_t fwd_count;
	uint32_t fwd_cursor;
	uint64_t fwd_sweep_ns;       /* the next sweep not before (forward.c) */
	struct forward_marks *marks; /* mapped (or allocated when there is no file) */
	uint32_t marks_mapped;
	uint32_t reserved2;
	uint64_t forwarded;
	/* Moves asked for while every slot was busy, in order (a ring), and a drain of every
	 * VNode here to one peer (drain_peer, HOSTS_NONE: none) by id from drain_cursor. */
	struct hosts_wait {
		uint32_t vnode, peer;
		char by[96];
	} waiting[HOSTS_WAITING_MAX];
	uint32_t waiting_head, waiting_tail;
	uint32_t drain_peer;
	uint32_t drain_cursor;
	uint32_t vnodes_max;
	uint32_t drain_moved;
	char drain_by[96];
	uint64_t refused_links;
	uint64_t moves_out, moves_in, rollbacks;
	/* The moves' final states registered with the transport (emigrate.c): reg_on when it
	 * can use registered buffers and zero copy can take a chunk (zc_threshold > 0 and at
	 * most this host's chunk). */
	uint32_t zc_threshold;
	uint32_t reg_on;
	uint32_t reg_count;
	uint32_t reg_stale; /* a change waits for the zero-copy sends from the set to end */
	struct iovec reg[HOSTS_MIGRATIONS_MAX];
};

/* hosts.c */
uint64_t hosts_now_ns(void);
/* Queue one frame of type on connection entry: body[0..count) (copied into one heap
 * buffer when copy, else kept by pointer until SENT), covered as pf_link_seal() says;
 * done(arg, error) on its SENT event. 0, or -EAGAIN (copy 0 only: the transport is full and
 * frames wait; nothing was sealed, try again at a later step), or another negative errno
 * (the connection is closed). A copied frame is always taken: it waits in order behind
 * what the transport could not take yet. */
int hosts_send(struct hosts *h, uint32_t entry, uint32_t type, const struct iovec *body,
	       unsigned count, uint32_t covered, int copy,
	       void (*done)(struct hosts *h, void *arg, int error), void *arg);
/* The ready outbound connection to peer, starting a connect when there is none: its
 * entry, or -EAGAIN (connecting: ask again), or a negative errno. */
int hosts_conn_to(struct hosts *h, uint32_t peer);
void hosts_conn_close(struct hosts *h, uint32_t entry, int error);
void hosts_audit(struct hosts *h, const char *event, uint32_t vnode, const char *fmt, ...)
	pf_printf_like(4, 5);

/* emigrate.c: this host as the source. */
int emigrate_start(struct hosts *h, uint32_t vnode, uint32_t peer, const char *by);
/* A move asked for: started now, or queued while every slot is busy. */
int emigrate_ask(struct hosts *h, uint32_t vnode, uint32_t peer, const char *by);
/* Move every VNode of this host to peer, HOSTS_MIGRATIONS_MAX at a time. */
void emigrate_drain(struct hosts *h, uint32_t peer, const char *by);
int emigrate_step(struct hosts *h); /* drive every move; work count */
void emigrate_frame(struct hosts *h, uint32_t entry, const struct pf_link_frame *f);
void emigrate_conn_lost(struct hosts *h, uint32_t entry);
void emigrate_recover(struct hosts *h); /* at start: LEAVING words left by a dead daemon */

/* forward.c: messages sent here to VNodes owned elsewhere. */
void forward_track(struct hosts *h, uint32_t vnode);
int forward_step(struct hosts *h);
void forward_receive(struct hosts *h, uint32_t entry, const struct pf_link_frame *f);
void forward_acked(struct hosts *h, uint32_t entry, const struct pf_link_frame *f);
void forward_conn_lost(struct hosts *h, uint32_t entry);
/* Where delivery of what peer forwarded for vnode stands here: 1 and *ret_upto, or 0. */
int forward_delivered(struct hosts *h, int32_t peer, uint32_t vnode, uint64_t *ret_upto);
/* Map the marks file at path (NULL: keep them in memory), emptied when fresh (a domain
 * created now); settle what a killed daemon left pending. 0, or a negative errno. */
int forward_open(struct hosts *h, const char *path, int fresh);
void forward_close(struct hosts *h);

/* immigrate.c: this host as the target. */
void immigrate_frame(struct hosts *h, uint32_t entry, const struct pf_link_frame *f);
void immigrate_conn_lost(struct hosts *h, uint32_t entry);
void immigrate_conn_ready(struct hosts *h, uint32_t entry); /* ask about what waits */
void immigrate_fini(struct hosts *h);
int immigrate_step(struct hosts *h);     /* connect to sources it must ask; work count */
void immigrate_recover(struct hosts *h); /* at start: ARRIVING words left by a dead daemon */

#endif /* PFLIGHTD_HOSTS_IMPL_H */
