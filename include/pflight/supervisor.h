/* SPDX-License-Identifier: MIT */
/*
 * pflight/supervisor.h: learning of members' deaths and repairing them, slot by slot.
 *
 * A supervisor watches the robust futexes of the member slots with futex_waitv(2): the
 * kernel releases a dead thread's robust futexes before it frees the process's memory,
 * so the death is known within microseconds even for a process of many GiB (a pidfd
 * fires only after that teardown). Members alive but hung are caught by their heartbeat
 * counter (heartbeat_misses intervals without a change), killed through a pidfd, and
 * repaired like the dead. What a member record says of its process (pid, start time,
 * uid) is only a claim that any writer of the segment can forge: a supervisor kills only
 * a process the kernel shows to be the member (pinned by the pidfd: the recorded start
 * time and uid, and a mapping of this domain's segment in /proc/<pid>/maps). One it cannot
 * show so (a forged record, or a process of another uid whose maps it may not read) is
 * declared dead without a kill and fenced out by its epochs, like a member the supervisor
 * may not kill. A supervisor never kills its own process: a hung member in it is declared
 * dead and fenced out by its epoch.
 *
 * Quarantine (PF_SUPERVISOR_QUARANTINE, the daemon's supervisor): a live member's record is
 * checked on every pass, against the domain's limits (every field in range, reserved fields
 * zero) and against what the supervisor pinned in its own memory when it first saw that
 * generation live (pid, tid, uid, gid, start time, join time, capabilities, NUMA node, CPU,
 * identity key, trust, capacity: nothing a correct member or supervisor changes while the
 * generation lives). A record that fails is not trusted for anything: its member is
 * declared dead without a kill (cause PF_DEATH_QUARANTINED: fenced out by its epochs, as
 * its process may still run) and repaired like any death; on_quarantine names the field.
 * A record is attributed to its own member: a writer of the segment that corrupts another
 * member's record gets that member quarantined, which docs/security.md counts among the
 * denials of service a writer of the segment can cause.
 *
 * Repair of a dead member: its state word goes to DEAD by CAS; each VNode it owned goes
 * back to PENDING with epoch + 1 by CAS (keeping its last checkpoint and its inbox) and
 * is queued again; the slot becomes reusable only after the domain's grace period, with
 * a new generation, so late readers never see a recycled identity. Every step is a CAS
 * on one word, so any number of supervisors may run at once (the daemon, and in
 * embedded mode the members themselves): there is no single point of failure, and a
 * supervisor that dies mid-repair leaves work the others finish.
 */
#ifndef PFLIGHT_SUPERVISOR_H
#define PFLIGHT_SUPERVISOR_H

#include <stdint.h>

#include "pflight/common.h"
#include "pflight/domain.h"

#ifdef __cplusplus
extern "C" {
#endif

struct pf_supervisor;

/* Why a member was repaired, as passed to the event callback. */
enum pf_death_cause {
	PF_DEATH_EXITED = 1,      /* robust futex released by the kernel (process or thread gone) */
	PF_DEATH_HUNG = 2,        /* heartbeat stopped; killed before repair */
	PF_DEATH_VANISHED = 3,    /* pid gone or reused without a futex release */
	PF_DEATH_QUARANTINED = 4, /* its record failed the supervisor's check; not killed */
};

/* Stable lower-case name of a death cause ("exited", "hung", "vanished", "quarantined"),
 * or NULL. */
PF_API const char *pf_death_cause_name(uint32_t cause);

/* Called after each repair this supervisor finished (with PF_SUPERVISOR_ALL_REPAIRS, also
 * after those it saw finished), from the thread that did it or saw it (keep it short). */
typedef void (*pf_supervisor_event_fn)(void *arg, uint32_t slot, uint32_t generation,
				       uint32_t cause, uint32_t vnodes_repaired);

/* Called when a live member is quarantined, before its repair, from the thread that found
 * it (keep it short): field names the first field of its record that failed ("trust_ppm",
 * "state", ...); pid is the one the supervisor pinned for that generation. */
typedef void (*pf_supervisor_quarantine_fn)(void *arg, uint32_t slot, uint32_t generation,
					    int32_t pid, const char *field);

/* Supervisor flags. */
#define PF_SUPERVISOR_QUARANTINE 0x1u /* check live members' records and quarantine (above) */
/* on_repair also for the repairs another supervisor finished (a worker's embedded one), of
 * every generation this one had seen live: once per generation, when it first sees the slot
 * DEAD and repaired, with the cause and the count from the slot's words. A daemon that must
 * record every death needs it: the slot of a death another supervisor repaired may be taken
 * again before a scan of the table sees it DEAD. */
#define PF_SUPERVISOR_ALL_REPAIRS 0x2u

struct pf_supervisor_opts {
	uint32_t size;                    /* sizeof(struct pf_supervisor_opts) */
	uint32_t flags;                   /* PF_SUPERVISOR_* */
	uint64_t sweep_interval_ns;       /* pending-queue and slot sweep period, default 50 ms */
	pf_supervisor_event_fn on_repair; /* NULL: none */
	void *arg;
	pf_supervisor_quarantine_fn on_quarantine; /* NULL: none */
	uint64_t reserved[3];
};

PF_API void pf_supervisor_opts_init(struct pf_supervisor_opts *opts);

/* Create a supervisor for `domain` (no thread yet). 0, -EINVAL, -ENOMEM. */
PF_API int pf_supervisor_create(struct pf_domain *domain, const struct pf_supervisor_opts *opts,
				struct pf_supervisor **ret_supervisor);

/*
 * One pass, without blocking: find dead and hung members, repair them, sweep the pending
 * queue and free slots whose grace period ended. Returns the number of members repaired
 * (>= 0) or -EINVAL. For callers that step the supervisor themselves (the daemon's
 * conductor agent, deterministic tests).
 */
PF_API int pf_supervisor_check(struct pf_supervisor *supervisor);

/*
 * Sleep until a watched member's futex changes, the membership changes, or timeout_ns
 * passes (at most one heartbeat interval is used, so hangs are still caught). Returns
 * 0 (woken), -ETIMEDOUT, -EINTR. Call pf_supervisor_check() after it.
 */
PF_API int pf_supervisor_wait(struct pf_supervisor *supervisor, uint64_t timeout_ns);

/* Run wait + check on internal threads (one per 127 member slots) until stop. 0, -EALREADY,
 * -EAGAIN (no thread). */
PF_API int pf_supervisor_start(struct pf_supervisor *supervisor);

/* Stop the threads started by pf_supervisor_start() and wait for them. Idempotent. */
PF_API void pf_supervisor_stop(struct pf_supervisor *supervisor);

/* Stop if running and free. Accepts NULL. */
PF_API void pf_supervisor_destroy(struct pf_supervisor *supervisor);

#ifdef __cplusplus
}
#endif

#endif /* PFLIGHT_SUPERVISOR_H */
