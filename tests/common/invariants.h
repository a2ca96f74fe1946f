/* SPDX-License-Identifier: MIT */
/*
 * tests/common/invariants.h: checks ARCHITECTURE.md section 3, invariants 1-4 and 7, on a
 * quiescent domain (nobody claims, commits, sends or joins while it runs, and a
 * supervisor has repaired every dead member).
 *
 * What it reads is the shared layout itself (core/layout.h), through the internal
 * handle, so it sees what a peer would see and trusts none of it.
 */
#ifndef PF_TEST_INVARIANTS_H
#define PF_TEST_INVARIANTS_H

#include <stddef.h>
#include <stdint.h>

#include "pflight/domain.h"

/*
 * Optional content check of a committed checkpoint: return 0 if bytes are a state some
 * worker committed for VNode id, or a negative errno and a reason in why.
 */
typedef int (*invariants_state_fn)(void *arg, uint32_t id, const void *bytes, size_t len, char *why,
				   size_t why_len);

struct invariants_report {
	/* In: set by the caller before invariants_check() (zero: no content check). */
	invariants_state_fn state_check;
	void *state_arg;
	/* Out: what the scan found. */
	uint32_t vnodes_defined;
	uint32_t vnodes_pending;
	uint32_t vnodes_owned;
	uint32_t checkpoints; /* VNodes with a committed checkpoint */
	uint32_t members_free;
	uint32_t members_joining;
	uint32_t members_live;   /* ACTIVE or DRAINING */
	uint32_t members_dead;   /* DEAD|REPAIRED */
	uint32_t inbox_writing;  /* slots left WRITING (a sender died mid-send) */
	uint32_t pending_queued; /* entries in the pending ring */
	uint32_t violations;
	char first[256]; /* the first violation, human readable; empty when none */
};

/* 1 when the process named by (pid, start time) still exists. */
int invariants_process_alive(int pid, uint64_t start_time);

/*
 * 1 when every dead member has been repaired: no JOINING, ACTIVE or DRAINING slot names a
 * process that is gone, and no DEAD slot waits for repair. Tests call it (stepping a
 * supervisor) before invariants_check().
 */
int invariants_repaired(struct pf_domain *d);

/*
 * Check invariants 1-4 and 7 and fill *ret. Returns 0 when none is violated, -EPROTO when one
 * is (ret->first says which), -EINVAL for bad arguments. The pending-ring check pushes
 * one duplicate entry and takes one entry out and back in (harmless: claimers drop stale
 * entries), so the ring must be quiescent too.
 */
int invariants_check(struct pf_domain *d, struct invariants_report *ret);

#endif /* PF_TEST_INVARIANTS_H */
