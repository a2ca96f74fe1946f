/* SPDX-License-Identifier: MIT */
/*
 * tools/pflightd/http.h: the REST API agent (http.c; routes and handlers in http_api.c).
 *
 * http_create() binds the listening socket and loads (or creates) the bearer token; the
 * agent's do_work and park run in a thread of their own (a dedicated runner: see the top
 * of http.c for why), and http_destroy() closes every connection after that thread
 * stopped.
 */
#ifndef PFLIGHTD_HTTP_H
#define PFLIGHTD_HTTP_H

#include <stdint.h>

#include "pflight/pflight.h"
#include "tools/pflightd/cmdq.h"

#define HTTP_TOKEN_BYTES 32u   /* random bytes of a token pflightd creates (64 hex digits) */
#define HTTP_TOKEN_MIN 16u     /* characters a token file must hold, at least */
#define HTTP_TOKEN_MAX 256u    /* and at most */
#define HTTP_PARK_NS 20000000u /* idle: new audit records reach event streams this fast */
#define HTTP_STREAMS_MAX 32u   /* event streams at once: each holds a line buffer */

struct http_config {
	const struct pf_manifest *manifest; /* the api section, and the policies for migrate */
	const char *domain_name;
	struct pf_domain *domain;
	const char *audit_path;  /* read: tail, verify, the event stream */
	struct pf_audit *log;    /* the auditor's log: its lineage index (GET a VNode) */
	const unsigned char *pk; /* the audit log's public key (verify) */
	struct cmdq *to_auditor; /* drain_request, migrate_request, migrate_refused */
	struct cmdq *inbox;      /* CMD_GOVERNANCE: new policies for migrate's judge */
	uint64_t start_ns;       /* CLOCK_MONOTONIC when the daemon started (uptime) */
	int32_t port;            /* --api-port; -1: the manifest's api.port */
	int wake_fd;             /* an eventfd the conductor writes when the membership moved
				  * (park returns then, and drains it), or -1 */
	/* GET /api/v1/cluster: the directory's snapshot (directory_json()), or NULL when this
	 * host is in no cluster. */
	char *(*cluster_json)(void *arg);
	void *cluster_arg;
};

struct http;

/*
 * Start serving (nothing is answered until do_work runs). Returns 0 and *ret_http, or
 * a negative errno after logging why: -ELOOP (the token file is a symbolic link), -EPERM
 * (it breaks the rule for the daemon's secrets of pflight/audit.h: another uid's, readable
 * or writable by group or others, not a regular file, or in a directory others may write
 * to), -EBADMSG (it holds no usable token),
 * -EADDRINUSE (the address cannot be bound: in use, or not this host's), -ENOMEM, or the
 * errno of opening or creating the token file. The daemon runs on without the API.
 */
int http_create(const struct http_config *cfg, struct http **ret_http);

/* The agent (agent.h): serve what is ready, follow the audit log, wake event streams. */
int http_do_work(void *arg);
/* Sleep until a socket or wake_fd is ready, ns passed, or a death's recovery is due for a
 * look (the metrics, http_metrics.c). */
int http_park(void *arg, uint64_t ns);

/* The port bound (the manifest's, or the one the system picked for port 0). */
uint16_t http_port(const struct http *h);

/* Close every connection and free. Call after the agent's thread stopped. Accepts NULL. */
void http_destroy(struct http *h);

#endif /* PFLIGHTD_HTTP_H */
