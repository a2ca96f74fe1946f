/* SPDX-License-Identifier: MIT */
/*
 * pflight/policy.h: governance policies (can-register, can-assign, can-handoff) and the
 * admission gate through which a gatekeeper (pflightd) decides every join.
 *
 * Policies. Each action has a list of rules (struct pf_manifest_rule, from the
 * PhoenixFile's governance.policies). An action with no rule allows everything. Otherwise
 * a subject is allowed when at least one rule matches it; a rule matches when, in this
 * order, the domain's namespace is in its `namespaces`, the subject's uid is in `uids`,
 * its gid or one of its supplementary groups is in `gids`, its executable path is in
 * `executables`, the sha256 of its executable is in `sha256`, every capability it declares
 * is in `capabilities`, its trust is at least `min_trust`, and (can-assign and can-handoff
 * only) one more VNode keeps it within `vnodes_per_member_max`; an empty list or a zero
 * bound does not restrict. A refusal names one rule and the check that failed: the rule
 * that got furthest through that order (the first of them on a tie), so a one-rule policy
 * names exactly what is wrong. Rules whose namespaces exclude the domain's do not apply;
 * when no rule applies the action refuses (fail closed), naming the namespaces check.
 * can-assign and can-handoff are applied by schedulers that install them as hooks
 * (pf_sched_opts: pflightd's does) to every placement, rebalancing move, drain move and
 * migration. Workers take what the placer decided (pf_vnode_claim); while pflightd runs
 * it is the placer, so every placement passes the hooks. A worker that claims a given
 * VNode by id (pf_vnode_claim_id), or members placing for themselves while no daemon
 * runs, are judged only at their join.
 *
 * The admission gate. A gatekeeper that closes the gate (pf_admission_gate) makes every
 * pf_member_join() in the domain wait, after it has written its identity and taken its
 * liveness futex, for the gatekeeper's decision: admitted (the member becomes ACTIVE with
 * the trust the gatekeeper gives it) or refused (the join returns -EPERM or -EKEYREJECTED
 * and, through pf_member_opts.refusal, the rule and check that refused). The gatekeeper
 * finds waiting joiners with pf_admission_pending() and answers with
 * pf_admission_decide(); the decision is kept in the member's slot
 * (pf_member_info().admission), so a restarted gatekeeper knows whom it admitted. A member
 * that joined while the gate was open has no decision; the gatekeeper may review it with
 * pf_admission_decide() and cordon it when refused.
 *
 * What the gate can prove: the gatekeeper reads a joiner's uid, groups and executable
 * from /proc, not from what the joiner wrote, a join token presented over the daemon's
 * control socket is bound to the presenter by SO_PEERCRED, and pf_admission_verify() has
 * the kernel show that the process a joiner names is the one holding its slot. It cannot
 * stop a process that may write the segment from writing anything into it: the segment's
 * permissions (governance.segment_mode, governance.group) are the boundary; inside it, the
 * gate holds well-behaved processes to the policy, and a gatekeeper that finds an ACTIVE
 * member it never admitted reviews it like any other.
 */
#ifndef PFLIGHT_POLICY_H
#define PFLIGHT_POLICY_H

#include <stdint.h>
#include <sys/types.h>

#include "pflight/common.h"
#include "pflight/domain.h"
#include "pflight/manifest.h"

#ifdef __cplusplus
extern "C" {
#endif

enum pf_policy_action {
	PF_POLICY_CAN_REGISTER = 0,
	PF_POLICY_CAN_ASSIGN = 1,
	PF_POLICY_CAN_HANDOFF = 2,
};

/* The check that refused; PF_POLICY_ALLOWED when nothing did. */
enum pf_policy_check {
	PF_POLICY_ALLOWED = 0,
	PF_POLICY_NAMESPACES = 1,     /* no rule applies in the domain's namespace */
	PF_POLICY_UIDS = 2,           /* uid not listed */
	PF_POLICY_GIDS = 3,           /* neither the gid nor a supplementary group listed */
	PF_POLICY_EXECUTABLES = 4,    /* executable path not listed */
	PF_POLICY_SHA256 = 5,         /* executable digest not listed */
	PF_POLICY_CAPABILITIES = 6,   /* a declared capability not listed */
	PF_POLICY_MIN_TRUST = 7,      /* trust below the rule's minimum */
	PF_POLICY_VNODES_MAX = 8,     /* one more VNode would exceed the rule's bound */
	PF_POLICY_TOKEN_REQUIRED = 9, /* governance.credentials.tokens_required, none shown */
	PF_POLICY_TOKEN_CAPS = 10,    /* a declared capability the join token does not grant */
	PF_POLICY_IDENTITY = 11,      /* the process could not be inspected (gone, refused) */
};
#define PF_POLICY_CHECK_MAX PF_POLICY_IDENTITY
#define PF_POLICY_NO_RULE 0xffu /* verdict.rule when no rule is named */

/* Stable lower-case names ("can_register", "uids"), or NULL for an unknown value. */
PF_API const char *pf_policy_action_name(uint32_t action);
PF_API const char *pf_policy_check_name(uint32_t check);

#define PF_POLICY_GROUPS_MAX 64u /* supplementary groups kept; more are ignored */

/* What a policy judges. Capability names point at storage the caller keeps alive. */
struct pf_policy_subject {
	uint32_t size; /* sizeof(struct pf_policy_subject) */
	uint32_t uid;  /* effective uid */
	uint32_t gid;  /* effective gid */
	uint32_t groups_count;
	uint32_t groups[PF_POLICY_GROUPS_MAX];
	char exe[PF_MANIFEST_PATH_MAX];          /* executable path, "" when unknown */
	char sha256[PF_MANIFEST_SHA256_HEX + 1]; /* lower-case hex, "" when not computed */
	const char *const *caps;                 /* declared capability names */
	uint32_t caps_count;
	uint32_t trust_ppm;
	uint32_t vnodes; /* held now (can-assign, can-handoff) */
	uint32_t reserved0;
	char namespace_name[PF_DOMAIN_NAME_MAX + 1]; /* the domain's namespace */
};

struct pf_policy_verdict {
	uint32_t size;    /* sizeof(struct pf_policy_verdict) */
	uint32_t allowed; /* 1 or 0 */
	uint32_t action;  /* enum pf_policy_action */
	uint32_t rule;    /* index of the rule named, or PF_POLICY_NO_RULE */
	uint32_t check;   /* enum pf_policy_check */
	uint32_t reserved0;
	char reason[200]; /* "can_register rule 0: uid 1001 not in uids", or "allowed ..." */
};

/*
 * Judge subject against policy for action (see the top of this file). Fills *ret (its
 * size set by the caller) and returns 0 whether or not it allows; -EINVAL for NULL
 * arguments, unknown sizes or action, or more rules than PF_MANIFEST_RULES_MAX. Pure: no
 * I/O, any thread. A rule with sha256 entries never matches a subject whose sha256 is "".
 */
PF_API int pf_policy_eval(const struct pf_manifest_policy *policy, uint32_t action,
			  const struct pf_policy_subject *subject, struct pf_policy_verdict *ret);

/* 1 when some rule of policy lists sha256 digests (the subject then needs one). */
PF_API int pf_policy_needs_sha256(const struct pf_manifest_policy *policy);

#define PF_POLICY_SUBJECT_SHA256 0x1u /* also hash the executable (reads the whole file) */

/*
 * Fill the identity part of *ret (uid, gid, groups, exe, and sha256 with
 * PF_POLICY_SUBJECT_SHA256) from /proc/<pid>, for the process started at start_time
 * (clock ticks since boot, as pf_member_info() reports; 0: do not check). caps,
 * trust and vnodes are left zero for the caller. The executable is hashed through
 * /proc/<pid>/exe, so a binary replaced on disk after start is judged as it runs. Returns 0,
 * or -ESRCH (no such process, or pid now names another process), -EACCES (/proc refused),
 * -EINVAL (bad arguments), -EIO (hashing failed), -ENOMEM. Blocking (file I/O).
 */
PF_API int pf_policy_subject_read(pid_t pid, uint64_t start_time, uint32_t flags,
				  struct pf_policy_subject *ret);

/* The admission status of a member (pf_member_info().admission). */
enum pf_admission_status {
	PF_ADMISSION_NONE = 0,    /* joined while the gate was open; never reviewed */
	PF_ADMISSION_GRANTED = 1, /* admitted at the gate, or reviewed and allowed */
	PF_ADMISSION_REFUSED = 2, /* reviewed and refused (the gatekeeper cordons it) */
};

#define PF_ADMISSION_STRICT 0x1u /* pf_admission_gate(): joins fail while the keeper is gone */
/* pf_admission_decide() flag, and pf_member_info().admission_detail bit: admitted on the
 * strength of a join token (so a later tokens_required does not refuse it). */
#define PF_ADMISSION_BY_TOKEN 0x1000000u

/*
 * Close the gate with keeper_pid (the caller's own pid, normally) as the gatekeeper, or
 * open it (keeper_pid 0). With PF_ADMISSION_STRICT, a joiner whose gatekeeper is gone
 * fails with -EHOSTDOWN (policies in force: fail closed); without it, the joiner goes on
 * without a decision (the next gatekeeper reviews it). Opening wakes every waiting
 * joiner; they then join without a decision. 0 or -EINVAL. Lock-free; any process.
 */
PF_API int pf_admission_gate(struct pf_domain *domain, int32_t keeper_pid, uint32_t flags);

/* A joiner waiting at the gate. */
struct pf_admission_request {
	uint32_t size; /* set by the caller */
	uint32_t slot;
	uint32_t generation;
	int32_t pid;
	uint64_t start_time;
	uint32_t uid; /* as the joiner wrote it: check /proc (pf_policy_subject_read) */
	uint32_t gid;
	uint64_t caps[2]; /* declared capabilities, interned (pf_capability_name) */
	uint32_t vnode_capacity;
	uint32_t reserved0;
};

/*
 * The next joiner waiting at the gate in a slot >= *cursor: 0, *ret filled and *cursor
 * moved past it; -ENOENT when there is none up to the last slot (*cursor is reset to 0
 * for the next scan); -EINVAL. A snapshot: decide with the slot and generation it gives.
 */
PF_API int pf_admission_pending(struct pf_domain *domain, uint32_t *cursor,
				struct pf_admission_request *ret);

/*
 * Whether the joiner of request q is the process it names: the kernel must show that a
 * thread of process q->pid (started at q->start_time) holds the robust futex of slot
 * q->slot, linked from its own memory (pflight/member.h: the joining thread holds it while
 * it waits). What a joiner writes into its slot (pid, start time) is only a claim, and
 * everything the gate judges (uid, executable, a join token's grant) is read of the
 * process it names: decide nothing on a claim this refuses. Returns 0 when shown, or
 *   -EPERM    no thread of that process holds this slot: the claim is not that process's
 *   -ESRCH    the process is gone, or its pid names another process now
 *   -ESTALE   the slot no longer holds that generation waiting at the gate
 *   -EACCES   this process may not inspect that one (get_robust_list(2) and
 *             process_vm_readv(2) need the rights of ptrace: root, or the same uid)
 *   -EINVAL   bad arguments
 */
PF_API int pf_admission_verify(struct pf_domain *domain, const struct pf_admission_request *q);

/*
 * Decide member (slot, generation) with verdict (verdict->allowed), giving trust_ppm
 * (0..PF_PPM) when allowed; flags: PF_ADMISSION_BY_TOKEN or 0. For a joiner waiting at
 * the gate: allowed makes it ACTIVE with that trust, a member from that instant (counted
 * in joins and members_active whether or not it wakes: cordoned or killed before it
 * does, it has joined); refused makes its pf_member_join() fail (counted in join_refused).
 * Either is one CAS against the joiner's giving up: whichever comes first holds. For a
 * member already ACTIVE or DRAINING (a review): the decision is recorded and nothing else
 * changes (trust stays; cordon a refused member with pf_member_cordon()).
 * Returns 0 when recorded, or:
 *   -ESTALE   the slot no longer holds that generation waiting or live (it gave up, died
 *             or left): nothing recorded
 *   -EINVAL   bad arguments or flags
 * Lock-free; the gatekeeper's thread.
 */
PF_API int pf_admission_decide(struct pf_domain *domain, uint32_t slot, uint32_t generation,
			       const struct pf_policy_verdict *verdict, uint32_t trust_ppm,
			       uint32_t flags);

#ifdef __cplusplus
}
#endif

#endif /* PFLIGHT_POLICY_H */
