/* SPDX-License-Identifier: MIT */
/*
 * tools/pflightd/daemon.h: the daemon's three agents and their state.
 *
 *   conductor  steps a pf_supervisor (deaths, hangs, pending-queue and slot sweeps) and
 *              tells the auditor which member it repaired and why (CMD_DEATH);
 *   scheduler  places PENDING VNodes (pf_sched_run) and runs rebalancing rounds; takes
 *              new rebalancing and drain options from its queue (CMD_REBALANCE); steps
 *              the drain of every DRAINING member (pf_sched_drain_step) and tells the
 *              auditor how it goes (drain_start, drain_step, drain_done, retire);
 *   auditor    the only writer of the audit log: placement explanations, ownership
 *              changes no placement explains (its watcher, watch.h: define, claim, move,
 *              release), membership changes (join, leave, death) and records sent by
 *              others (CMD_RECORD).
 * Each agent's state is touched only by the thread that runs it, and by the main
 * thread before the runner starts and after it stopped.
 */
#ifndef PFLIGHTD_DAEMON_H
#define PFLIGHTD_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "pflight/pflight.h"
#include "tools/pflightd/cmdq.h"
#include "tools/pflightd/govern.h"
#include "tools/pflightd/watch.h"

#define SCHED_BUDGET 256u /* placements per do_work: bounded work, one pass of a burst */
#define EXPLAIN_BATCH 64u /* explanations read at once */
#define EXPLAIN_READS 16  /* reads per do_work at most: 1,024 explanations */
#define REBALANCE_PERIOD_NS 1000000000u /* a rebalancing round each second at most */
#define DRAIN_PERIOD_NS 10000000u       /* drain steps every 10 ms: a scan of the VNodes each */
#define DRAIN_RECORD_NS 200000000u      /* drain_step records at most every 200 ms per member */

#define GRANTS_MAX 64u /* join tokens accepted and not yet used: one per joining process */

/* A join token accepted on the control socket for one process, waiting for its join. */
struct grant {
	int32_t pid; /* 0: free */
	uint32_t trust_ppm;
	uint64_t start_time;
	uint64_t until_ns; /* forgotten then */
	char caps[PF_TOKEN_CAPS_MAX + 1];
};

/* The conductor's admission work (admission.c). */
struct admission {
	struct pf_domain *domain;
	struct governor gov;
	struct cmdq *inbox; /* CMD_GRANT, CMD_GOVERNANCE */
	struct cmdq *to_auditor;
	uint32_t strict;  /* the gate fails closed: policies or tokens are in force */
	uint32_t version; /* membership version of the last review */
	uint32_t rejudge; /* 1 after a reload: review every live member */
	uint32_t reserved0;
	struct grant grants[GRANTS_MAX];
	uint64_t admitted;
	uint64_t refused;
	uint64_t reviewed;
};

struct conductor {
	struct pf_supervisor *supervisor;
	struct pf_domain *domain;
	struct cmdq *to_auditor;
	struct admission admission;
	uint64_t repairs;
	uint64_t quarantines;     /* members quarantined by our supervisor */
	int wake_fd;              /* an eventfd written when the membership moved, or -1 */
	uint32_t membership_seen; /* the version last told through wake_fd */
};

/* A drain the scheduler agent is stepping: it started when the agent first saw the
 * member DRAINING (the deadline counts from then). */
struct drain_slot {
	uint32_t active;
	uint32_t generation;
	uint64_t start_ns;
	uint64_t recorded_ns; /* last drain_step record */
	uint32_t recorded_owned;
	uint32_t reserved0;
	struct pf_drain_report rep;
};

struct scheduler {
	struct pf_domain *domain;
	struct pf_sched *sched;
	/* scheduler_poke(): another thread made VNodes placeable (an arrival from another
	 * host): place at the next pass, not after RETRY_NS. A flag, set by any thread. */
	_Atomic uint32_t place_now;
	struct governor gov; /* can-assign and can-handoff */
	struct cmdq *inbox;
	struct cmdq *to_auditor;
	struct pf_rebalance_opts rebalance;
	uint64_t drain_timeout_ns; /* membership.drain_timeout */
	uint32_t drain_parallel;   /* membership.drain_parallel */
	uint32_t members_max;
	struct drain_slot *drains; /* [members_max] */
	uint64_t next_drain_ns;
	uint64_t drained;
	uint64_t period_ns;
	uint64_t next_round_ns;
	uint64_t next_place_ns; /* after an idle pass: not before this, unless */
	uint32_t version;       /* ... the membership version moved from this */
	uint32_t held_rounds;   /* rounds in a row that asked nothing yet held work back */
	uint64_t placed;
	uint64_t moves;
};

/* What the auditor last saw in a member slot. */
struct seen_member {
	uint32_t live; /* 1: ACTIVE or DRAINING when last seen, and not yet reported gone */
	uint32_t generation;
	int32_t pid;
	uint32_t reserved0;
};

/* The auditor's open batches of VNode records (abatch.c). */
#define ABATCH_OPEN 16          /* batches open at once: kinds of change, streams of ids */
#define ABATCH_RANGES 1024u     /* ranges of one batch */
#define ABATCH_SHARED_BYTES 256 /* a batch's shared details */
_Static_assert(ABATCH_RANGES <= PF_AUDIT_BATCH_RANGES_MAX, "one append takes a batch");

#define ABATCH_HOLD_NS 100000000u /* a batch is written once open this long (100 ms) */

struct abatch {
	uint32_t gen; /* its place in the order batches are written, 0: free */
	uint32_t n;   /* ranges */
	uint32_t vnodes;
	uint64_t opened_ns;
	char event[PF_AUDIT_EVENT_MAX + 1];
	char shared[ABATCH_SHARED_BYTES]; /* the details its VNodes share (a JSON object) */
	char single[1024];                /* the first VNode's own details: a batch of one */
	struct pf_audit_range ranges[ABATCH_RANGES];
};

struct abatches {
	struct abatch b[ABATCH_OPEN];
	uint32_t *pend; /* [vnodes_max]: the batch of each VNode's newest change */
	uint32_t vnodes_max;
	uint32_t next_gen;
	uint64_t records; /* records written from batches (batch records and single ones) */
	uint64_t vnodes;  /* VNode changes they carried */
};

struct auditor {
	struct pf_domain *domain;
	struct pf_audit *log;
	struct cmdq *inbox;
	uint32_t members_max;
	uint32_t version;         /* membership version of the last scan */
	struct seen_member *seen; /* [members_max] */
	uint64_t cursor;          /* next explanation sequence number */
	uint64_t placements;      /* placement records appended */
	uint64_t unplaced;        /* decisions that placed nothing (not recorded) */
	uint64_t lost;            /* explanations overwritten before they were read */
	uint64_t append_errors;
	struct watch watch;      /* ownership changes no placement explains */
	struct abatches batches; /* VNode records waiting to be written together */
	struct pf_sched_decision batch[EXPLAIN_BATCH];
	uint64_t seqs[EXPLAIN_BATCH];
};

/* The daemon's clock: CLOCK_MONOTONIC in ns (every *_ns time of the agents and the API). */
static inline uint64_t mono_ns(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Close the domain's admission gate (held while the daemon runs) and take its decisions.
 * 0 or a negative errno. */
int admission_init(struct admission *a, struct pf_domain *domain, const struct pf_manifest *m,
		   struct cmdq *inbox, struct cmdq *to_auditor);
/* Open the gate again unless policies keep it closed. Idempotent. */
void admission_fini(struct admission *a);
int admission_do_work(struct admission *a);

/* wake_fd: an eventfd the conductor writes whenever it finds the membership moved (a death,
 * a join, a leave), so that a thread parked on it (the REST API's, which times recoveries)
 * looks at once; -1: none. */
int conductor_init(struct conductor *c, struct pf_domain *domain, const struct pf_manifest *m,
		   struct cmdq *inbox, struct cmdq *to_auditor, int wake_fd);
void conductor_fini(struct conductor *c);
int conductor_do_work(void *arg);
int conductor_park(void *arg, uint64_t ns);

int scheduler_init(struct scheduler *s, struct pf_domain *domain, struct cmdq *inbox,
		   struct cmdq *to_auditor, const struct pf_rebalance_opts *rebalance,
		   const struct pf_manifest *m);
void scheduler_fini(struct scheduler *s);
int scheduler_do_work(void *arg);
/* Ask for a placement pass at once (any thread); runner_kick() ends the park. */
void scheduler_poke(struct scheduler *s);

/* Snapshot the member table (members found now are listed, not recorded as joins),
 * subscribe to placement explanations and take the VNode table as seen (watch_init). */
int auditor_init(struct auditor *a, struct pf_domain *domain, struct pf_audit *log,
		 struct cmdq *inbox);
void auditor_fini(struct auditor *a);
int auditor_do_work(void *arg);

/* Stopping (no runner thread any more): read the last explanations, then record every
 * ownership change since the watcher's last look (watch_final). Returns records appended. */
int auditor_flush(struct auditor *a);

/* Append a record now, logging a failure once (the auditor's thread, or the main thread
 * while no runner thread runs). */
int auditor_append(struct auditor *a, const char *event, const char *subject, const char *details,
		   uint32_t vnode);

/* Members the auditor saw live at its last scan. */
uint32_t auditor_live(const struct auditor *a);

/* The batches of VNode records (abatch.c; the auditor's thread). abatch_add() puts one
 * change in a batch (0), or refuses it (-EAGAIN, -ENOSPC...: an older batch could not be
 * written; the caller tries again later); abatch_flush() writes every open batch, oldest
 * first (0, or the first errno: the rest stay open). */
int abatch_init(struct abatches *bs, uint32_t vnodes_max);
void abatch_fini(struct abatches *bs);
int abatch_add(struct auditor *a, const struct watch_rec *rec);
int abatch_flush(struct auditor *a);
/* Write, oldest first, the batches open ABATCH_HOLD_NS or longer (0, or the first errno). */
int abatch_flush_due(struct auditor *a, uint64_t now_ns);
bool abatch_pending(struct auditor *a, uint32_t vnode);

/* A death cause for logs and audit records; "unknown" for a value the library lacks. */
static inline const char *daemon_cause_name(uint32_t cause)
{
	const char *name = pf_death_cause_name(cause);

	return name != NULL ? name : "unknown";
}

#endif /* PFLIGHTD_DAEMON_H */
