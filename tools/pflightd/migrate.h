/* SPDX-License-Identifier: MIT */
/*
 * tools/pflightd/migrate.h: an operator's request to move a VNode to a member, the one path
 * every front end of the daemon takes (the control socket's `migrate`, the REST API's
 * POST /api/v1/vnodes/{id}/migrate).
 *
 * The request goes through the scheduler's filters and the can-assign and can-handoff
 * hooks (pf_sched_migrate with the caller's own governor), and is audited either way: a
 * `migrate_request` record with where the VNode goes and at which epoch, or a
 * `migrate_refused` record with the error and the reason (a policy's own words when a
 * policy refused). Who asked is the caller's to say, as JSON members spliced into both
 * records ("by_uid" and "by_pid" on the socket, "by_api" with the client's address on
 * HTTP).
 *
 * A migrator belongs to one thread: its scheduler object and governor are not shared
 * (pf_sched_migrate is one CAS, so any number of migrators may ask at once).
 */
#ifndef PFLIGHTD_MIGRATE_H
#define PFLIGHTD_MIGRATE_H

#include <stdint.h>

#include "pflight/pflight.h"
#include "tools/pflightd/cmdq.h"
#include "tools/pflightd/govern.h"

#define MIGRATE_REASON_MAX 256u /* bytes of a refusal's reason, with the NUL */

struct migrator {
	struct pf_domain *domain;
	struct pf_sched *sched;  /* its thread's, judging with gov */
	struct governor gov;     /* its thread's: the hooks, and why a policy refused */
	struct cmdq *to_auditor; /* migrate_request and migrate_refused records */
	uint64_t migrates;       /* requests written */
	uint64_t refused;
};

struct migrate_outcome {
	int r;             /* 0, or pf_sched_migrate()'s negative errno */
	const char *error; /* "not_owned", "already_there", "no_member", "refused", "busy",
			    * "error"; NULL when requested */
	char reason[MIGRATE_REASON_MAX]; /* a sentence, when refused */
	int32_t from;                    /* the owner's slot when asked, -1: none */
	uint32_t to_slot;
	uint32_t to_generation;
	uint32_t reserved0;
	uint64_t epoch; /* the ownership epoch the move request is for */
};

/* Set m up for the calling thread: a governor over the manifest's policies (a reload
 * hands it new ones with governor_set()) and a scheduler object judging with it. 0 or a
 * negative errno, with nothing left to undo. */
int migrator_init(struct migrator *m, struct pf_domain *domain, const struct pf_manifest *manifest,
		  struct cmdq *to_auditor);
/* Free what migrator_init() set up. Idempotent; accepts a migrator whose init failed. */
void migrator_fini(struct migrator *m);

/*
 * Ask for VNode `vnode` to move to member `slot`, on behalf of `by` (JSON object members
 * without braces, e.g. "\"by_uid\":0,\"by_pid\":12", spliced into the audit records;
 * by_log names the asker in the daemon's log). Fills *out and returns out->r. A record
 * the auditor's queue cannot take is logged, not retried.
 */
int migrate_ask(struct migrator *m, uint32_t vnode, uint32_t slot, const char *by,
		const char *by_log, struct migrate_outcome *out);

#endif /* PFLIGHTD_MIGRATE_H */
