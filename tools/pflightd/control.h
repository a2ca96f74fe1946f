/* SPDX-License-Identifier: MIT */
/*
 * tools/pflightd/control.h: the daemon's control socket.
 *
 * An AF_UNIX SOCK_SEQPACKET socket at <audit log path>.sock, served by the main thread
 * between signal polls. One request per connection, one message each way:
 *
 *   "status"              -> {"ok":true,"domain":...,"pid":...,"members_active":..., ...}
 *   "join-token <token>"  -> {"ok":true,"domain":...,"caps":"a,b","trust_ppm":...,
 *                             "expires":...,"peer_pid":...,"peer_uid":...}
 *                            or {"ok":false,"error":"expired"|"forged"|...}
 *
 * The client is identified with SO_PEERCRED. A join token (pflight/token.h) is checked
 * with the daemon's public key, against its own domain name and, when the token names
 * a uid, against the peer's uid; every admission decision is audited (admit,
 * admit_refused). The answer grants nothing by itself yet: the worker joins as before
 * and the daemon does not yet hold it to the granted capabilities and trust.
 * A client gets CONTROL_CLIENT_TIMEOUT_MS to send its request; the main thread waits
 * for no one longer than that.
 */
#ifndef PFLIGHTD_CONTROL_H
#define PFLIGHTD_CONTROL_H

#include <stdint.h>

#include "pflight/pflight.h"
#include "tools/pflightd/cmdq.h"

#define CONTROL_REQUEST_MAX 2048u /* bytes of one request */
#define CONTROL_REPLY_MAX 1024u   /* bytes of one reply */
#define CONTROL_CLIENT_TIMEOUT_MS 100
#define CONTROL_ACCEPT_BUDGET 16u /* connections served per control_serve() */

struct control {
	int fd; /* listening socket, -1 when none */
	char path[108];
	const char *domain_name;
	struct pf_domain *domain;
	struct cmdq *to_auditor;
	unsigned char pk[PF_AUDIT_PUBLIC_KEY_BYTES];
	uint64_t admitted;
	uint64_t refused;
};

/* Bind and listen at <audit_path>.sock (a stale socket file is replaced: the caller
 * holds the audit log's lock, so no other daemon uses that path). 0, -ENAMETOOLONG, or
 * the socket(2)/bind(2)/listen(2) errno. c->fd is -1 on failure. */
int control_open(struct control *c, const char *audit_path);

/* Serve the connections waiting now (at most CONTROL_ACCEPT_BUDGET). Returns how many. */
int control_serve(struct control *c);

/* Close and remove the socket file. Idempotent. */
void control_close(struct control *c);

#endif /* PFLIGHTD_CONTROL_H */
