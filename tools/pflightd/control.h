/* SPDX-License-Identifier: MIT */
/*
 * tools/pflightd/control.h: the daemon's control socket.
 *
 * An AF_UNIX SOCK_SEQPACKET socket (pflight/control.h: where it is, and the client side),
 * served by the main thread between signal polls (and, in invoker mode, the agents'
 * passes). One request per connection, one message each way:
 *
 *   "status"                 -> {"ok":true,"domain":...,"pid":...,"members_active":..., ...}
 *   "join-token <token>"     -> {"ok":true,"domain":...,"caps":"a,b","trust_ppm":...,
 *                                "expires":...,"peer_pid":...,"peer_uid":...}
 *                               or {"ok":false,"error":"expired"|"forged"|...}
 *   "migrate <vnode> <slot>" -> {"ok":true,"vnode":...,"from":"s.g","to":"s.g","epoch":...}
 *                               or {"ok":false,"error":"not_owned"|"already_there"|
 *                                   "no_member"|"refused"|"busy"|"forbidden",
 *                                   "reason":"..."}
 *   "export <vnode>" + a file descriptor open for writing (SCM_RIGHTS)
 *                            -> {"ok":true,"vnode":...,"epoch":...,"seq":...,
 *                                "state_bytes":...,"messages":...,"file_bytes":...}
 *   "import" + a file descriptor open for reading
 *                            -> {"ok":true,"vnode":...,"epoch":...,...}
 *                               or
 * {"ok":false,"error":"malformed"|"corrupt"|"bad_signature"|"untrusted"|
 *                                   "lives_here"|"stale"|"too_large"|...,"reason":"..."}
 *
 * The client is identified with SO_PEERCRED, and pinned with a pidfd (SO_PEERPIDFD where
 * the kernel has it, else pidfd_open) while its start time is read, so a grant names the
 * very process that connected. A join token (pflight/token.h) is checked with the
 * daemon's public key, against its own domain name and, when the token names a uid,
 * against the peer's uid; an accepted token becomes a grant the conductor applies when
 * that process joins (admission.c). migrate is for the daemon's own uid and root: it
 * writes a move request through the scheduler's filters and policy hooks (migrate.h,
 * shared with the REST API); the owner then hands the VNode over with its state. Every decision
 * is audited (token_accepted, token_refused, migrate_request, migrate_refused).
 * The socket file gets the segment's permission bits and group (governance.segment_mode
 * and governance.group): who may attach may also talk to the daemon.
 *
 * Nobody is waited for. The main thread also takes signals, pings the watchdog and, in
 * invoker mode, runs the conductor and the other agents: a client that connects and sends
 * nothing must not hold any of that, nor the next client. So the socket and every
 * connection are non-blocking, and one epoll descriptor (control_poll_fd()) gathers the
 * listening socket and the connections still to send their request: the main loop polls
 * it with the signalfd, and control_serve() takes what is ready, accepting (a request
 * already there is answered at once, the usual case) or answering a connection whose
 * request came. A connection waits in a table of CONTROL_CONNS_MAX entries for at most
 * CONTROL_CLIENT_TIMEOUT_MS; when the table is full the oldest is closed to make room, so
 * silent clients cost a bounded table, never a wait. A reply is sent with MSG_DONTWAIT:
 * the socket's buffer of a fresh connection always holds one. The main loop rather than a
 * thread of its own: what a request uses (the main thread's migrator and governor, which
 * a reload updates from that thread, the counters the status reply reads) stays with one
 * thread, and no request needs more than a pass's worth of work.
 */
#ifndef PFLIGHTD_CONTROL_H
#define PFLIGHTD_CONTROL_H

#include <stdint.h>
#include <sys/types.h>

#include "pflight/pflight.h"
#include "tools/pflightd/cmdq.h"
#include "tools/pflightd/govern.h"
#include "tools/pflightd/migrate.h"
#include "tools/pflightd/hosts.h"
#include "tools/pflightd/porter.h"

struct directory;

#define CONTROL_REQUEST_MAX 2048u        /* bytes of one request */
#define CONTROL_REPLY_MAX 1024u          /* bytes of one reply */
#define CONTROL_CLIENT_TIMEOUT_MS 10000u /* for a connection to send its request */
#define CONTROL_CONNS_MAX 32u            /* connections waiting for their request */
#define CONTROL_ACCEPT_BUDGET 16u        /* connections accepted per control_serve() */

/* A connection that has not sent its request yet. */
struct control_conn {
	int fd; /* -1: a free entry */
	uint32_t reserved0;
	uint64_t accepted_ns;  /* mono_ns(): its time runs out CONTROL_CLIENT_TIMEOUT_MS on */
	uint64_t accepted_seq; /* the lowest goes first when the table is full */
};

struct control {
	int fd;   /* listening socket, -1 when none */
	int epfd; /* epoll: fd and the waiting connections (control_poll_fd()), -1 when none */
	struct control_conn conns[CONTROL_CONNS_MAX];
	uint32_t conns_count;   /* entries in use */
	uint64_t conns_seq;     /* connections kept so far */
	uint64_t conns_dropped; /* closed without a request: timed out or made room */
	char path[PF_CONTROL_PATH_MAX];
	dev_t dev; /* the socket file we bound: only that one is ever removed */
	ino_t ino; /* 0: none */
	const char *domain_name;
	struct pf_domain *domain;
	struct cmdq *to_auditor;
	struct cmdq *to_conductor; /* grants */
	struct migrator mig;       /* the main thread's scheduler and governor (migrate.h) */
	struct porter porter;      /* export and import (porter.h) */
	struct hosts *hosts;       /* moves between hosts (hosts.h), NULL: no peers */
	struct directory *dir;     /* the cluster's directory (directory.h), NULL: none */
	struct cmdq *to_hosts;
	unsigned char pk[PF_AUDIT_PUBLIC_KEY_BYTES];
	uint64_t admitted;
	uint64_t refused;
};

/* Bind and listen at path, creating its directory when it is the default /run/pflight;
 * give the file `mode` (rw bits kept) and group gid (-1: none). Nothing at path is
 * removed but a socket of this uid that nobody listens on (a daemon of this domain that
 * died: the caller holds the audit log's lock, so none runs); anything else there is
 * refused, left as it is: -EEXIST (not a socket), -EPERM (another uid's socket: it bound
 * the path first), -EADDRINUSE (a process listens on it). Returns 0, or one of those,
 * -ENAMETOOLONG, or the errno of mkdir/socket/bind/listen/chmod/chown, with why (cap
 * bytes) saying it in words; c->fd is -1 on failure. */
int control_open(struct control *c, const char *path, uint32_t mode, int32_t gid, char *why,
		 size_t cap);

/* What the main loop polls for POLLIN (-1 when there is no socket). */
int control_poll_fd(const struct control *c);

/* Take what is ready without waiting: accept new connections (at most
 * CONTROL_ACCEPT_BUDGET), answer those whose request came, close those that ran out of
 * time. Returns how many connections were answered or closed. */
int control_serve(struct control *c);

/* Close, and remove the socket file if it is still the one control_open() bound (a file
 * put in its place since is not ours). Idempotent. */
void control_close(struct control *c);

#endif /* PFLIGHTD_CONTROL_H */
