/* SPDX-License-Identifier: MIT */
/*
 * tools/pflightd/govern.h: the daemon's view of governance: the policies in force and what
 * /proc says about each member, for judging joins (the conductor's admission), placements
 * and moves (the scheduler's can-assign and can-handoff hooks) and migrations (the main
 * thread). Each thread that judges owns its own governor: nothing here is shared, and a
 * reload hands each one its own copy of the new policies (CMD_GOVERNANCE).
 *
 * A refusal by can-assign or can-handoff is audited once per member, action, rule and
 * check (a `policy_refusal` record), not once per decision: a member the policy keeps out
 * would otherwise add a record for every placement it is passed over for.
 */
#ifndef PFLIGHTD_GOVERN_H
#define PFLIGHTD_GOVERN_H

#include <stdint.h>

#include "pflight/pflight.h"
#include "tools/pflightd/cmdq.h"

#define TRUST_DEFAULT_PPM 500000u /* a member without a credential starts half trusted */

/* What /proc said about one membership (slot, generation). */
struct member_subject {
	uint32_t gen;         /* 0: nothing read yet */
	int32_t err;          /* pf_policy_subject_read()'s error, or 0 */
	uint32_t refused_key; /* the last refusal audited: gen-free key + 1; 0: none */
	uint32_t reserved0;
	struct pf_policy_subject s;
};

struct governor {
	struct pf_domain *domain;
	struct pf_manifest_governance *gov; /* owned */
	char namespace_name[PF_DOMAIN_NAME_MAX + 1];
	uint32_t members_max;
	uint32_t need_sha256;        /* some rule of some action lists digests */
	struct member_subject *subj; /* [members_max] */
	struct cmdq *to_auditor;     /* refusals by the hooks are audited; NULL: not */
	uint64_t refusals;
};

/* Copy m's governance and namespace. 0 or -ENOMEM. */
int governor_init(struct governor *g, struct pf_domain *domain, const struct pf_manifest *m,
		  struct cmdq *to_auditor);
void governor_fini(struct governor *g);

/* Take the policies of a reload (ownership passes to g; the old ones are freed). */
void governor_set(struct governor *g, struct pf_manifest_governance *gov);

/* A heap copy of gov for CMD_GOVERNANCE, or NULL. */
struct pf_manifest_governance *governor_copy(const struct pf_manifest_governance *gov);

const struct pf_manifest_governance *governor_policies(const struct governor *g);

/*
 * Judge membership (slot, gen) of process (pid, start_time), declaring caps, at trust
 * trust_ppm and holding vnodes, for action. Identity comes from /proc (cached per
 * membership); a process that cannot be read is refused with PF_POLICY_IDENTITY. Fills
 * *v and returns 0, or -EINVAL.
 */
int governor_judge(struct governor *g, uint32_t action, uint32_t slot, uint32_t gen, int32_t pid,
		   uint64_t start_time, const uint64_t caps[2], uint32_t trust_ppm, uint32_t vnodes,
		   struct pf_policy_verdict *v);

/* Judge the member now in slot (its attributes read from the domain). 0, -ENOENT. */
int governor_judge_member(struct governor *g, uint32_t action, uint32_t slot,
			  struct pf_policy_verdict *v);

/* pf_sched_policy_fn hooks over a struct governor (arg). */
int governor_can_assign(void *arg, uint32_t vnode, uint32_t slot);
int governor_can_handoff(void *arg, uint32_t vnode, uint32_t slot);

/* A scheduler object of the calling thread whose can-assign and can-handoff hooks judge
 * with g (which must outlive it). 0, or pf_sched_create()'s errno. */
int governor_sched_create(struct governor *g, struct pf_sched **ret_sched);

/* The names of the capabilities in caps, into names[] (at most cap of them): the count. */
uint32_t governor_cap_names(struct pf_domain *domain, const uint64_t caps[2], const char **names,
			    uint32_t cap);

#endif /* PFLIGHTD_GOVERN_H */
