/* SPDX-License-Identifier: MIT */
/*
 * pflight/member.h: joining a domain as a member, heartbeats, and leaving.
 *
 * pf_member_join() is Algorithm 1 of the design, step by step: validate the identity
 * (pid, process start time, uid); ask the can-register policy; intern the declared
 * capabilities; add the member to the registry; set it ACTIVE; publish the membership
 * change (waiters wake on a futex, nobody polls); return. A step that refuses returns
 * its own errno and leaves nothing half-registered.
 *
 * Liveness: the joining thread holds a robust futex in the member's slot for as long as
 * it is a member. When the thread or its process dies, the kernel releases that futex
 * before it tears the process down, so supervisors learn of the death within
 * microseconds whatever the process's size. Keep the joining thread alive while the
 * member exists; its exit counts as the member's death. A member that is alive but
 * shows no sign of it for the domain's heartbeat misses (heartbeat_interval x
 * heartbeat_misses, pflight/domain.h) is declared hung and killed (SIGKILL through a
 * pidfd) before its VNodes are placed again. Signs of life: a pf_member_heartbeat(), the
 * wait (it beats while parked), and work done inside the library: each VNode taken
 * (pf_vnode_claim(), pf_vnode_adopt()), each checkpoint committed, each message received.
 * So a worker that takes many placements in one pass is not judged hung for it. The rule
 * for a worker's author: never let a heartbeat interval go by without one of these; a loop
 * that runs longer without them (computing, I/O, a pass over many VNodes that finds
 * nothing to receive) calls pf_member_heartbeat() as it goes. The allowance counts time
 * the member could use: a joining thread that is runnable but got almost no CPU (a loaded
 * host), as the kernel reports it, is given more, up to 50 allowances; one that ran, sleeps
 * or is stopped without a sign of life is hung.
 */
#ifndef PFLIGHT_MEMBER_H
#define PFLIGHT_MEMBER_H

#include <stdint.h>
#include <sys/types.h>

#include "pflight/common.h"
#include "pflight/domain.h"

#ifdef __cplusplus
extern "C" {
#endif

struct pf_member;

/* Who is asking to join: what the can-register hook sees. */
struct pf_member_identity {
	pid_t pid;
	uid_t uid;
	gid_t gid;
	uint32_t reserved;
	uint64_t start_time; /* process start, clock ticks since boot (/proc/<pid>/stat) */
};

/*
 * can-register policy hook: return 0 to admit, a negative errno to refuse (that errno
 * is what pf_member_join() returns; -EPERM is the usual one).
 */
typedef int (*pf_member_policy_fn)(void *arg, const struct pf_member_identity *identity,
				   const char *const *caps, uint32_t caps_count);

/* Join flags. */
#define PF_MEMBER_SUPERVISE 0x1u /* run an embedded supervisor thread in this process */

/* How long a join waits at a closed admission gate (pflight/policy.h) by default: the
 * gatekeeper answers in well under a millisecond when it runs; 5 s covers a daemon
 * being restarted. */
#define PF_ADMISSION_TIMEOUT_MS_DEFAULT 5000u

/* Why the gatekeeper refused a join (pflight/policy.h has the names of the values). */
struct pf_member_refusal {
	uint32_t size;   /* set by the caller: sizeof(struct pf_member_refusal) */
	uint32_t action; /* enum pf_policy_action */
	uint32_t rule;   /* index of the rule named, PF_POLICY_NO_RULE when none */
	uint32_t check;  /* enum pf_policy_check */
};

struct pf_member_opts {
	uint32_t size;                    /* sizeof(struct pf_member_opts) */
	uint32_t flags;                   /* PF_MEMBER_* */
	const char *const *caps;          /* capability names this member provides */
	uint32_t caps_count;              /* 0..PF_MEMBER_CAPS_MAX */
	int32_t numa_node;                /* -1: the node of the CPU the caller runs on */
	pf_member_policy_fn can_register; /* NULL: only the domain's uid/gid rule */
	void *policy_arg;
	uint32_t vnode_capacity; /* VNodes it holds at full load, 0: PF_MEMBER_CAPACITY_DEFAULT */
	uint32_t admission_timeout_ms; /* at a closed gate, 0: PF_ADMISSION_TIMEOUT_MS_DEFAULT */
	struct pf_member_refusal *refusal; /* may be NULL: filled when the gatekeeper refuses */
	uint64_t reserved[2];              /* must be zero */
};

/* Fill opts with defaults (no capabilities, node from the CPU, no hook). */
PF_API void pf_member_opts_init(struct pf_member_opts *opts);

/*
 * Join `domain` as a new member (Algorithm 1). Returns 0 and *ret_member, or:
 *   -EINVAL      bad arguments, a capability name empty, too long (> PF_CAP_NAME_MAX)
 *                or with characters outside [A-Za-z0-9._:/-]
 *   -E2BIG       more than PF_MEMBER_CAPS_MAX capabilities
 *   -ESRCH       this process's identity cannot be read (/proc unavailable)
 *   -EPERM       the uid is neither the domain owner's nor in its group, or the
 *                can-register hook refused with -EPERM (or its own errno)
 *   -ENOSPC      the capability directory is full
 *   -EUSERS      every member slot is in use or inside its grace period
 *   -ENOTSUP     the robust-futex liveness protocol is not available here
 *   -ENOMEM      no memory for the handle
 * and when a gatekeeper has closed the domain's admission gate (pflight/policy.h):
 *   -EPERM       refused by a policy rule (opts->refusal, when given, names it)
 *   -EKEYREJECTED  refused for want of a join token granting what it declares (a token
 *                is presented to the gatekeeper before joining: pf_control_present())
 *   -ETIMEDOUT   no decision within opts->admission_timeout_ms, or this joiner was
 *                declared dead meanwhile (stopped past its join or heartbeat timeout)
 *   -EHOSTDOWN   the gate is strict and its gatekeeper is not running
 * A joiner the gatekeeper admitted has joined, whatever happened to its slot before it
 * woke: cordoned (DRAINING), it returns 0 and serves until drained; drained away already,
 * it returns 0 too, and pf_member_leave() then returns 0 as for any drained member.
 * Blocking (it may wait on the capability lock, and at a closed gate for the decision);
 * any thread; the calling thread becomes the member's liveness anchor.
 */
PF_API int pf_member_join(struct pf_domain *domain, const struct pf_member_opts *opts,
			  struct pf_member **ret_member);

/*
 * Leave gracefully: every VNode still owned goes back to PENDING (epoch + 1) with its
 * last committed checkpoint and its inbox, the slot is marked FREE after the grace
 * period, and the change is published. Commit checkpoints first if you want the latest
 * state kept. Must run on the joining thread. Frees the handle whatever the result.
 * Returns 0, or -ESTALE when the member had already been declared dead (its VNodes were
 * repaired by a supervisor). Accepts NULL (returns 0). To leave with every VNode handed to
 * another member rather than released, cordon yourself first (pf_member_cordon(), pflight/
 * drain.h), keep serving and honouring move requests until your slot is no longer
 * DRAINING, then leave: a daemon drains you like any cordoned member.
 */
PF_API int pf_member_leave(struct pf_member *member);

/* Beat: one relaxed counter store in the member's slot, no syscall. Wait-free. */
PF_API void pf_member_heartbeat(struct pf_member *member);

/*
 * Waiting for work. A worker's loop is: serve what it owns (pf_recv, commit, hand over on
 * a move request, pf_vnode_claim what was placed on it), then wait. One wait covers every
 * kind of work a member can get:
 */
#define PF_WAIT_MESSAGE 0x1u    /* a message waits on a VNode this member owns */
#define PF_WAIT_PLACEMENT 0x2u  /* a VNode was placed or handed to it: pf_vnode_claim() */
#define PF_WAIT_MOVE 0x4u       /* a move request names one of its VNodes */
#define PF_WAIT_MEMBERSHIP 0x8u /* the membership changed since the last report */
#define PF_WAIT_ALL 0xfu

/*
 * Who places VNodes. With pflightd running, its scheduler places (with the domain's
 * policies). Without one (embedded mode, or the daemon is gone), the members place
 * themselves: a member inside pf_vnode_claim() or one of the waits below that finds
 * VNodes waiting for an owner runs a short placement round for the whole domain (the
 * domain's strategy, every member a candidate; one member at a time). So as long as some
 * member waits or claims, nothing waits unplaced.
 *
 * Liveness: the wait beats for the member while it is parked (and the thread behind
 * pf_member_wait_fd() beats while the member is armed); taking VNodes, committing and
 * receiving count as signs of life too (above). Otherwise, beat at least once per
 * heartbeat interval (pflight/domain.h) or be declared hung.
 */

/*
 * Wait until one of the PF_WAIT_* events is there, or timeout_ns (UINT64_MAX: none; counted
 * from the end of the first batch of looks at the sources, so the wait outlasts the call's
 * timeout by that batch: microseconds, more for a member owning many VNodes). Spins
 * briefly (a hand-off on a hot pair costs well under a microsecond), then parks on a futex
 * that whoever gives this member work rings. Returns 0 and *ret_events (a mask, never 0),
 * or -ETIMEDOUT, -ESTALE (no longer a member: declared dead, drained away), -EINVAL.
 * Events are hints, reported again while true: a message stays reported until received,
 * a placement until claimed, a move request until acted on; a membership change once.
 * Blocking. Call from the thread that serves the member's VNodes (it reads their handles'
 * read positions); any number of members of one process may wait at once, but one thread
 * per member: pf_member_wait(), pf_member_poll(), pf_member_wait_arm() and
 * pf_vnode_claim() share the member's wait state and must not run at once for one member.
 */
PF_API int pf_member_wait(struct pf_member *member, uint64_t timeout_ns, uint32_t *ret_events);

/* The same look without waiting: 0 and *ret_events (0 when nothing), -ESTALE, -EINVAL. */
PF_API int pf_member_poll(struct pf_member *member, uint32_t *ret_events);

/*
 * A file descriptor for the member's wait, to put in the application's own epoll, poll or
 * io_uring loop: an eventfd that becomes readable when work may have arrived. The first
 * call starts one thread in this process that watches the member's bell and the domain's
 * versions; the fd is the member's (closed by pf_member_leave()). Protocol, edge-triggered:
 *   before sleeping on the fd, call pf_member_wait_arm(): 0 means armed, sleep;
 *   1 means events are already there (in *ret_events, rarely none: look), do not sleep;
 *   when the fd is readable, read it (8 bytes, non-blocking), then pf_member_poll() and
 *   serve what it reports (poll also disarms).
 * Returns the fd (>= 0), or -ENOMEM, -EMFILE/-ENFILE (no eventfd), -EAGAIN (no thread).
 */
PF_API int pf_member_wait_fd(struct pf_member *member);
PF_API int pf_member_wait_arm(struct pf_member *member, uint32_t *ret_events);

/* The member's identity in the domain: slot in the low 32 bits, generation above. */
PF_API uint64_t pf_member_id(const struct pf_member *member);

/* Number of VNodes this member holds now (its own count). */
PF_API uint32_t pf_member_vnodes(const struct pf_member *member);

/* The domain this member joined. */
PF_API struct pf_domain *pf_member_domain(const struct pf_member *member);

/* Member states as shown by pf_member_info(). */
enum pf_member_state {
	PF_MEMBER_FREE = 0,
	PF_MEMBER_JOINING = 1,
	PF_MEMBER_ACTIVE = 2,
	PF_MEMBER_DRAINING = 3,
	PF_MEMBER_RETIRED = 4,
	PF_MEMBER_DEAD = 5,
};

struct pf_member_info {
	uint32_t size; /* set by the caller */
	uint32_t slot;
	uint32_t generation;
	uint32_t state; /* enum pf_member_state */
	pid_t pid;
	uid_t uid;
	uint64_t start_time;
	int32_t numa_node;
	int32_t cpu;
	uint64_t caps[2];         /* capability bit set (bit = directory index) */
	uint64_t heartbeat;       /* counter */
	uint32_t vnodes_owned;    /* as the member last counted them; DEAD: what it held when it
				   * died (they are placed again: pf_vnode_info() says where) */
	uint32_t admission;       /* enum pf_admission_status (pflight/policy.h) */
	uint64_t join_time_ns;    /* CLOCK_MONOTONIC */
	uint32_t reliability_ppm; /* 0..PF_PPM (pflight/sched.h) */
	uint32_t trust_ppm;
	uint32_t cpu_ppm;
	uint32_t mem_ppm;
	uint32_t vnode_capacity;
	uint32_t admission_detail; /* REFUSED: action << 16 | rule << 8 | check; GRANTED:
				    * PF_ADMISSION_BY_TOKEN when on a join token */
	uint64_t cordon_ns;        /* DRAINING: CLOCK_MONOTONIC of the cordon; else 0 */
	uint32_t vnodes_placed;    /* placed on it by a scheduler, not adopted yet */
	uint32_t death_cause;      /* DEAD: enum pf_death_cause (pflight/supervisor.h); else 0 */
	uint64_t dead_ns;          /* DEAD: CLOCK_MONOTONIC when it was declared dead; else 0 */
	uint64_t reserved[1];
};

/*
 * Read one member slot without joining (supervisors, tools). Returns 0, -EINVAL, -ENOENT
 * for a FREE slot, -EBADMSG (a field no correct writer produces) or -EPROTO (a reserved
 * field set) when the record fails validation, -EAGAIN when new members kept taking the
 * slot while it was read (retry). Every field returned was validated and belongs to the
 * generation returned; within that generation they may be from different instants.
 */
PF_API int pf_member_info(struct pf_domain *domain, uint32_t slot, struct pf_member_info *info);

/* "free", "joining", "active", "draining", "retired" or "dead" (enum pf_member_state), or
 * NULL for a value that is none of them. */
PF_API const char *pf_member_state_name(uint32_t state);

/* Name of a capability interned at `index`, or NULL. The string is this process's copy of
 * the name as validated when first asked for (names never change once interned): valid
 * while the domain stays open, whatever is written into the directory afterwards. */
PF_API const char *pf_capability_name(struct pf_domain *domain, uint32_t index);

/* Directory index of a capability name: 0.., or -ENOENT / -EINVAL. */
PF_API int pf_capability_find(struct pf_domain *domain, const char *name);

#ifdef __cplusplus
}
#endif

#endif /* PFLIGHT_MEMBER_H */
