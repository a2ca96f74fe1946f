/* SPDX-License-Identifier: MIT */
/*
 * tools/pflightd/hosts.h: the host agent, pflightd's side of moving VNodes between hosts.
 *
 * One agent on a thread of its own drives the transport (pflight/xport.h, io_uring TCP):
 * it listens on transport.listen:port, connects to the peers of transport.peers when it
 * has something for them, runs the link handshake (pflight/link.h) on every connection,
 * and then the migration protocol (hosts_proto.h) on authenticated links only:
 *   emigrate.c  this host as the source of a move (pre-copy rounds, stop, final, commit);
 *   immigrate.c this host as the target (staging, verification, install, resume).
 * The main thread asks it for moves through its command queue (CMD_MIGRATE_HOST).
 *
 * Connections: each host connects to a peer for the moves it starts and the peer answers
 * on that connection; the peer's own moves come on the peer's connection. So every
 * exchange has one connection, and a connection's end ends what ran on it (a source
 * rolls back what was not committed; a target keeps what it prepared until it can ask
 * the source what happened: hosts_proto.h, "after a cut").
 */
#ifndef PFLIGHTD_HOSTS_H
#define PFLIGHTD_HOSTS_H

#include <netinet/in.h>
#include <stdint.h>

#include "pflight/pflight.h"
#include "tools/pflightd/cmdq.h"

#define HOSTS_CONNS_MAX 64u      /* connections at once: a few per peer */
#define HOSTS_MIGRATIONS_MAX 64u /* moves in flight at once, each way */
#define HOSTS_EVENTS_MAX 64u     /* transport events taken per pass */

struct hosts;

/* Start the agent's state: the transport, the listener, the peers. sk is this host's key
 * (copied). marks_path: the file that keeps, across restarts, which forwarded messages
 * were delivered here (NULL: memory only), emptied when the domain is fresh (created by
 * this start). 0, or a negative errno (said in the log). */
int hosts_create(struct pf_domain *domain, const struct pf_manifest *manifest,
		 const unsigned char sk[PF_AUDIT_SECRET_KEY_BYTES], const char *host_name,
		 const char *marks_path, int fresh, struct pf_audit *log, struct cmdq *inbox,
		 struct cmdq *to_auditor, struct hosts **ret_hosts);

/* At start, before the agent runs (hosts_impl.h): settle what a dead daemon left. */
void emigrate_recover(struct hosts *h);
void immigrate_recover(struct hosts *h);
void hosts_destroy(struct hosts *h);

/* Call fn(arg) each time a VNode that arrived becomes placeable here, so the scheduler
 * places it now rather than at the end of its park (pflightd: runner_kick()). */
void hosts_on_arrival(struct hosts *h, void (*fn)(void *arg), void *arg);

/* The agent's pass and park (agent.h). */
int hosts_do_work(void *arg);
int hosts_park(void *arg, uint64_t ns);

/* The port it listens on (what transport.port 0 became). */
uint16_t hosts_port(const struct hosts *h);

/* The index of the peer named `name` in transport.peers, or -ENOENT. Any thread (the
 * table does not change while the daemon runs). */
int hosts_peer_find(const struct hosts *h, const char *name);

#endif /* PFLIGHTD_HOSTS_H */
