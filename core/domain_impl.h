/* SPDX-License-Identifier: MIT */
/*
 * core/domain_impl.h: the process-local domain handle and helpers shared by core/.
 *
 * The handle holds a validated copy of the limits, the base of every region and a view of
 * every ring (its geometry validated at open, shm/ring_mpmc.h), so no code path re-reads a
 * limit, a size or a ring's geometry from shared memory after open.
 */
#ifndef PF_CORE_DOMAIN_IMPL_H
#define PF_CORE_DOMAIN_IMPL_H

#include <stdint.h>
#include <string.h>
#include <time.h>

#include "core/layout.h"
#include "shm/pf_assert.h"
#include "shm/pf_atomic.h"
#include "shm/pf_compiler.h"
#include "shm/ring_mpmc.h"
#include "shm/segment.h"

struct pf_domain {
	struct shm_segment seg;
	struct dom_limits lim; /* validated copy */
	struct dom_control *ctl;
	struct dom_cap *caps;
	struct dom_member *members;
	_Atomic uint64_t *own;
	struct dom_vnode *vnodes;
	struct ring_mpmc_view pending; /* the pending queue */
	unsigned char *ckpt;           /* checkpoint buffers (core/checkpoint.c) */
	_Atomic uint64_t *ckpt_hold;   /* their holder words */
	_Atomic uint32_t ckpt_cursor;  /* where this process looks for a free buffer next */
	_Atomic uint32_t caps_seen;    /* the highest capability count seen (core/validate.c) */
	/* Capability names as this process validated them (core/capability.c): a name is
	 * fixed once interned, so what pf_capability_name() hands out is a private copy that a
	 * later scribble on the directory cannot change or unterminate. name_state: 0 none
	 * yet, 1 being copied, 2 copied. */
	_Atomic uint32_t name_state[PF_CAPS_MAX];
	char names[PF_CAPS_MAX][PF_CAP_NAME_MAX + 1];
	unsigned char *inbox;
	struct ring_mpmc_view *assign; /* members_max assignment rings (views, private) */
	struct dom_explain *explain;
	struct dom_history *history;
	char name[PF_DOMAIN_NAME_MAX + 1];
	int self_pid;         /* who we are, as inbox slots record a writer (see inbox.c) */
	struct pf_numa *numa; /* the machine's topology, opened on first need */
	int numa_nodes;       /* its node count; 0: not opened yet */
};

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}

/* now + timeout_ns, UINT64_MAX (no deadline) when that does not fit. */
static inline uint64_t deadline_from(uint64_t now, uint64_t timeout_ns)
{
	return timeout_ns > UINT64_MAX - now ? UINT64_MAX : now + timeout_ns;
}

/* now_ns() + timeout_ns, as deadline_from(). */
static inline uint64_t deadline_after(uint64_t timeout_ns)
{
	return deadline_from(now_ns(), timeout_ns);
}

/*
 * Copy a caller's options struct (its first member is `uint32_t size`) over `out`, which
 * already holds the defaults (STYLE 10.4). A shorter struct, from an older caller, keeps
 * the defaults of the fields it lacks; a longer one, from a newer caller, is accepted only
 * if every byte this library does not know is zero. min_size is the oldest size ever
 * published. Sets out's size to out_size. 0 or -EINVAL.
 */
static inline int opts_copy(void *out, size_t out_size, const void *in, size_t min_size)
{
	const unsigned char *src = in;
	uint32_t in_size, own = (uint32_t)out_size;

	memcpy(&in_size, in, sizeof(in_size));
	if (in_size < min_size)
		return -EINVAL;
	for (size_t i = out_size; i < in_size; i++)
		if (src[i] != 0)
			return -EINVAL;
	memcpy(out, in, PF_MIN((size_t)in_size, out_size));
	memcpy(out, &own, sizeof(own));
	return 0;
}

/* One more attempt counted by a statistic (claim_races and the others after
 * slots_freed): the membership events are counted from the member table (core/tally.c). */
static inline void counter_add(struct pf_domain *d, enum pf_counter c, uint64_t n)
{
	PF_ASSERT(c > PF_COUNTER_SLOTS_FREED && c < PF_COUNTER_COUNT);
	/* Relaxed: statistic, no ordering. */
	pf_fetch_add_relaxed(&d->ctl->counters[c], n);
}

static inline uint64_t domain_assign_ring_bytes(const struct dom_limits *lim)
{
	return PF_ALIGN_UP((uint64_t)ring_mpmc_bytes(lim->assign_slots), UINT64_C(64));
}

/* The ring of VNode ids placed on member `slot` (< members_max: a slot read from shared
 * memory is bounded by its reader first) and not adopted yet. */
static inline const struct ring_mpmc_view *assign_ring(const struct pf_domain *d, uint32_t slot)
{
	PF_ASSERT(slot < d->lim.members_max);
	return &d->assign[slot];
}

/* Checkpoint buffer `buf` (< ckpt_bufs); VNode id's home buffers are 2 id and 2 id + 1. */
static inline struct dom_ckpt_hdr *ckpt_buffer(struct pf_domain *d, uint32_t buf)
{
	return (struct dom_ckpt_hdr *)(d->ckpt + (uint64_t)buf * d->lim.ckpt_slot_bytes);
}

static inline struct dom_inbox_slot *inbox_slot(struct pf_domain *d, uint32_t id, uint64_t pos)
{
	uint64_t index = (uint64_t)id * d->lim.inbox_slots + (pos & (d->lim.inbox_slots - 1));

	return (struct dom_inbox_slot *)(d->inbox + index * d->lim.inbox_slot_bytes);
}

/* Domain names become file names (the segment, the control socket): 1..PF_DOMAIN_NAME_MAX
 * of [A-Za-z0-9._-], not starting with '.'. 0, -ENAMETOOLONG, or -EINVAL (NULL, empty, a
 * leading dot, another character). */
int domain_name_check(const char *name);

/* Control-plane lock (robust): 0, or -ENOTRECOVERABLE. On EOWNERDEAD the state it
 * protects is re-validated by `repair` before the lock is marked consistent. */
int domain_lock(struct pf_domain *d);
void domain_unlock(struct pf_domain *d);

/* Membership change: bump the version and wake everyone sleeping on it. */
void domain_publish_membership(struct pf_domain *d);
/* A VNode became PENDING: bump the version and wake sleeping claimers. */
void domain_publish_pending(struct pf_domain *d);

/* Queue a PENDING VNode for placement (records the ring position) and, when `publish`,
 * wake sleeping claimers. 0 or -EAGAIN (ring full: the sweep queues it later). */
int pending_push(struct pf_domain *d, uint32_t id, int publish);

/* Futex helpers (shared futexes: they work across processes). */
int futex_wait_shared(_Atomic uint32_t *word, uint32_t expected, uint64_t timeout_ns);
void futex_wake_shared(_Atomic uint32_t *word, int count);

/* The bytes of the segment pf_domain_create() would map for opts (NULL: the defaults),
 * without creating anything: 0, or the errno it would return for them (-EINVAL, -EFBIG). A
 * caller with a budget (the simulator's) refuses before anything is mapped. */
int domain_segment_bytes(const struct pf_domain_opts *opts, uint64_t *ret_bytes)
	PF_PRIVATE_EXPORT(domain_segment_bytes);

/* Capabilities: intern names into a bit set (under the control lock). */
int caps_intern(struct pf_domain *d, const char *const *names, uint32_t count,
		uint64_t ret_bits[2]);
int caps_name_valid(const char *name);

/* Failure history (core/history.c): record one failure of identity `key`, and the
 * reliability (0..PF_PPM) that history gives a member of that key now. */
void history_record_failure(struct pf_domain *d, uint64_t key);
uint32_t history_reliability(struct pf_domain *d, uint64_t key);

/* The identity key of this process: uid and executable path. */
uint64_t identity_key(uint32_t uid);

/* Identity of a process: start time in clock ticks since boot, and its state letter
 * (ret_state may be NULL), from /proc/<pid>/stat. 0, or -ESRCH when it is gone. */
int identity_stat(int pid, uint64_t *ret_start_time, char *ret_state);
/* Thread tid of process pid: its CPU time so far in ns (task/<tid>/schedstat) and its state
 * letter (task/<tid>/stat: 'R' running or runnable). 0, -ESRCH (no such thread of that
 * process), or another -errno. */
int identity_thread_cpu(int pid, uint32_t tid, uint64_t *ret_run_ns, char *ret_state);
int identity_start_time(int pid, uint64_t *ret_start_time) PF_PRIVATE_EXPORT(identity_start_time);

/* 1 when process pid is the member a record describes as far as the kernel can tell:
 * its effective uid is uid and it maps the file (dev, ino), this domain's segment, from its
 * start (a line of /proc/<pid>/maps names it at offset 0, as pf_domain_open() maps it); 0 when it
 * is not; -errno when that cannot be read (a process of another uid to an unprivileged reader). A
 * record in shared memory proves nothing by itself: any writer of the segment can name any process
 * in it. */
int identity_is_member(int pid, uint32_t uid, uint64_t dev, uint64_t ino);

/* 1 when thread tid of process pid holds the robust futex at futex_off in the file (dev,
 * ino), this domain's segment, as the kernel shows it: the thread's robust list head (whose
 * address the kernel keeps, in the thread's own memory) names, as its first node or the
 * one being linked, the node of that futex at an address where pid maps the segment. 0
 * when it does not (pid may be any process: a record's claim proves nothing), -errno when
 * it cannot be read (-EPERM: the caller may not inspect pid). The caller pins pid. */
int identity_holds_futex(int pid, int tid, uint64_t dev, uint64_t ino, uint64_t futex_off);

/* 1 when the process (pid, start_time) no longer runs: no thread of it is left (gone,
 * or a zombie with no other thread; a zombie leader whose other threads run is alive),
 * or its pid now names another process. start_time 0 skips that last check. */
int identity_gone(int pid, uint64_t start_time);

#endif /* PF_CORE_DOMAIN_IMPL_H */
