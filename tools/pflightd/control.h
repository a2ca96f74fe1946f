/* SPDX-License-Identifier: MIT */
/*
 * tools/pflightd/control.h: the daemon's control socket.
 *
 * An AF_UNIX SOCK_SEQPACKET socket (pflight/control.h: where it is, and the client side),
 * served by the main thread between signal polls. One request per connection, one
 * message each way:
 *
 *   "status"                 -> {"ok":true,"domain":...,"pid":...,"members_active":..., ...}
 *   "join-token <token>"     -> {"ok":true,"domain":...,"caps":"a,b","trust_ppm":...,
 *                                "expires":...,"peer_pid":...,"peer_uid":...}
 *                               or {"ok":false,"error":"expired"|"forged"|...}
 *   "migrate <vnode> <slot>" -> {"ok":true,"vnode":...,"from":"s.g","to":"s.g","epoch":...}
 *                               or {"ok":false,"error":"not_owned"|"already_there"|
 *                                   "no_member"|"refused"|"busy"|"forbidden",
 *                                   "reason":"..."}
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
 * A client gets CONTROL_CLIENT_TIMEOUT_MS to send its request; the main thread waits
 * for no one longer than that.
 */
#ifndef PFLIGHTD_CONTROL_H
#define PFLIGHTD_CONTROL_H

#include <stdint.h>
#include <sys/types.h>

#include "pflight/pflight.h"
#include "tools/pflightd/cmdq.h"
#include "tools/pflightd/govern.h"
#include "tools/pflightd/migrate.h"

#define CONTROL_REQUEST_MAX 2048u /* bytes of one request */
#define CONTROL_REPLY_MAX 1024u   /* bytes of one reply */
#define CONTROL_CLIENT_TIMEOUT_MS 100
#define CONTROL_ACCEPT_BUDGET 16u /* connections served per control_serve() */

struct control {
	int fd; /* listening socket, -1 when none */
	char path[PF_CONTROL_PATH_MAX];
	dev_t dev; /* the socket file we bound: only that one is ever removed */
	ino_t ino; /* 0: none */
	const char *domain_name;
	struct pf_domain *domain;
	struct cmdq *to_auditor;
	struct cmdq *to_conductor; /* grants */
	struct migrator mig;       /* the main thread's scheduler and governor (migrate.h) */
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

/* Serve the connections waiting now (at most CONTROL_ACCEPT_BUDGET). Returns how many. */
int control_serve(struct control *c);

/* Close, and remove the socket file if it is still the one control_open() bound (a file
 * put in its place since is not ours). Idempotent. */
void control_close(struct control *c);

#endif /* PFLIGHTD_CONTROL_H */
