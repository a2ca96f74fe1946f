/* SPDX-License-Identifier: MIT */
/*
 * core/supervisor.c: learning of deaths and repairing slot by slot (see
 * pflight/supervisor.h for the contract).
 *
 * Detection. Each live member's futex word holds its joining thread's TID. A supervisor
 * sets FUTEX_WAITERS on it (so the kernel's robust-list walk wakes a waiter when the
 * thread dies) and sleeps in futex_waitv(2) on up to 126 such words, plus the domain's
 * membership version (joins re-arm the set) and a private stop word. The kernel wakes
 * one waiter per death; that waiter wakes every other sleeper on the word, so all
 * supervisors learn of it. Hung members: neither the heartbeat counter nor the work the
 * member does inside the library (claims, commits, messages received) has moved for
 * heartbeat_misses intervals; the supervisor marks the generation HUNG in its state word
 * (a CAS from the word it judged, so a supervisor stalled since its look, whose member died
 * and whose slot another took, judges nobody), pins the process with a pidfd and kills it
 * only if the kernel confirms it is the member (start time, uid, a mapping of this
 * segment: never on a pid read from shared memory alone), and repairs once the kernel has
 * released its futex (or at once if it may not kill it: the epochs still fence the hung
 * process out). Whoever declares a
 * generation marked HUNG dead declares it hung, however it learnt of the death.
 *
 * Starved is not hung. On a loaded host a member may show no progress because it got no CPU:
 * runnable, waiting on a run queue. From half the allowance on, the supervisor reads the
 * joining thread's state and CPU time from the kernel (/proc/<pid>/task/<tid>/stat and
 * schedstat; the time a task waited is only accounted once it runs again, so it cannot
 * tell); while the thread is runnable, ran at most a quarter of each (half-window or longer)
 * span between two probes, and had less than a heartbeat interval of CPU in all since its
 * last sign of life, the verdict waits, up to STARVE_WINDOWS_MAX allowances in all. A
 * thread that ran, sleeps (D included) or is stopped, the thread asking itself, or one whose
 * figures cannot be read (hidepid, another pid namespace) is judged as before. The pid and
 * tid are the member's to write: the process must have the start time it joined with and
 * the thread must be one of its own, and a tid that changes gets no more grace. Every
 * supervisor judges alone: the grace holds only where each of them can read the figures. The
 * statistics are the kernel's, not the member's: a member cannot buy time by writing shared memory.
 *
 * Repair. CAS the state word to DEAD, keeping the generation's facts (the death and its
 * cause are counted from that word, core/tally.c); the first repair counts the VNodes the
 * dead (slot, generation) owns (tally_repair_census(), whose scan lists them, so the
 * table is scanned once before the first goes back), then every one goes back to
 * PENDING with epoch + 1 (a CAS each, so several supervisors may repair at once and a
 * supervisor that dies mid-repair leaves work the next check resumes: DEAD without
 * REPAIRED means "not finished"); then set free_at and CAS to DEAD|REPAIRED ([R5]). A
 * joiner reuses the slot only after free_at.
 *
 * Sweep (one supervisor per interval, elected by CAS on sweep_time_ns): queue again every
 * PENDING VNode whose last pending-ring entry was consumed without a claim (its claimer
 * died between pop and CAS), return VNodes whose owner's slot no longer carries the
 * owner's generation, publish the queue when it is not empty (its pusher may have died
 * before its publish), and check that every live member's process still exists.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/checkpoint.h"
#include "core/member_impl.h"
#include "core/ownership.h"
#include "core/tally.h"
#include "core/validate.h"
#include "pflight/supervisor.h"
#include "shm/fault.h"
#include "shm/pf_assert.h"

#define SHARD_SLOTS 126u                     /* futex_waitv takes 128: + membership + stop */
#define JOIN_TIMEOUT_NS UINT64_C(1000000000) /* a joiner without a futex for 1 s is dead */
#define KILL_WAIT_NS UINT64_C(200000000)     /* after SIGKILL, wait this long for the futex */
#define STARVE_WINDOWS_MAX 50u /* a starved member waits at most this many allowances */
#define DEFAULT_SWEEP_NS UINT64_C(50000000)
/* Longest sleep between checks: bounds detection if a death's single kernel wake-up is
 * lost (its waiter died in the same instant), at 100 wake-ups a second per thread. */
#define POLL_MAX_NS UINT64_C(10000000)

struct track {
	uint32_t gen;
	uint32_t killed;
	uint64_t hb;
	uint64_t hb_change_ns;
	uint64_t joining_since_ns;
	uint64_t killed_ns;
	uint32_t pinned;   /* the supervisor's pins[] slot holds this generation's record */
	uint32_t reported; /* on_repair was called for this generation */
	/* Starvation probe (see "Starved is not hung"): the thread probed (0: none yet since
	 * the last progress) and its CPU time when first probed and at probe_ns (0: no probe
	 * running), and the time given for starvation so far. */
	uint32_t probe_tid;
	uint32_t reserved0;
	uint64_t probe_ns, probe_run_ns, first_run_ns;
	uint64_t starved_ns;
};

struct shard {
	struct pf_supervisor *sup;
	uint32_t lo, hi;
	pthread_t thread;
	int started;
};

struct pf_supervisor {
	struct pf_domain *d;
	struct pf_supervisor_opts o;
	struct track *track; /* one per slot; a slot is only touched by its shard's thread */
	/* With PF_SUPERVISOR_QUARANTINE, one per slot (NULL otherwise): the record of the slot's
	 * live generation as first seen, whose fixed fields later looks compare against
	 * (pflight/supervisor.h, "Quarantine"); same thread rule as track. */
	struct member_snap *pins;
	struct shard *shards;
	uint32_t nshards;
	_Atomic uint32_t stop; /* private futex: wakes the shard threads */
	int running;
	int self; /* our pid: our own members are not watched here (see arm()) */
};

PF_API const char *pf_death_cause_name(uint32_t cause)
{
	switch (cause) {
	case PF_DEATH_EXITED:
		return "exited";
	case PF_DEATH_HUNG:
		return "hung";
	case PF_DEATH_VANISHED:
		return "vanished";
	case PF_DEATH_QUARANTINED:
		return "quarantined";
	default:
		return NULL;
	}
}

PF_API void pf_supervisor_opts_init(struct pf_supervisor_opts *opts)
{
	PF_ASSERT(opts != NULL);
	memset(opts, 0, sizeof(*opts));
	opts->size = sizeof(*opts);
	opts->sweep_interval_ns = DEFAULT_SWEEP_NS;
}

PF_API int pf_supervisor_create(struct pf_domain *d, const struct pf_supervisor_opts *opts,
				struct pf_supervisor **ret)
{
	struct pf_supervisor *s;

	if (d == NULL || ret == NULL)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	pf_supervisor_opts_init(&s->o);
	if (opts != NULL &&
	    (opts_copy(&s->o, sizeof(s->o), opts,
		       offsetof(struct pf_supervisor_opts, on_quarantine)) < 0 ||
	     (s->o.flags & ~(PF_SUPERVISOR_QUARANTINE | PF_SUPERVISOR_ALL_REPAIRS)) != 0)) {
		free(s);
		return -EINVAL;
	}
	if (s->o.sweep_interval_ns == 0)
		s->o.sweep_interval_ns = DEFAULT_SWEEP_NS;
	s->d = d;
	s->self = getpid();
	s->nshards = (d->lim.members_max + SHARD_SLOTS - 1) / SHARD_SLOTS;
	s->track = calloc(d->lim.members_max, sizeof(*s->track));
	s->shards = calloc(s->nshards, sizeof(*s->shards));
	if ((s->o.flags & PF_SUPERVISOR_QUARANTINE) != 0)
		s->pins = calloc(d->lim.members_max, sizeof(*s->pins));
	if (s->track == NULL || s->shards == NULL ||
	    ((s->o.flags & PF_SUPERVISOR_QUARANTINE) != 0 && s->pins == NULL)) {
		free(s->track);
		free(s->shards);
		free(s->pins);
		free(s);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < s->nshards; i++) {
		s->shards[i].sup = s;
		s->shards[i].lo = i * SHARD_SLOTS;
		s->shards[i].hi = PF_MIN((i + 1) * SHARD_SLOTS, d->lim.members_max);
	}
	*ret = s;
	return 0;
}

/* Finish (or help finish) the repair of a DEAD member. Returns 1 if we completed it. */
static int repair(struct pf_supervisor *s, uint32_t slot, uint64_t w)
{
	struct pf_domain *d = s->d;
	struct dom_member *rec = &d->members[slot];
	uint32_t gen = member_word_gen(w);
	/* The census's scan lists what it counted, and the returns take that list: one scan
	 * of the VNode table before the first VNode goes back, not two. Without the list
	 * (no memory), or when an earlier repair took the census, the returns scan. */
	uint64_t *owned = calloc((d->lim.vnodes_max + 63) / 64, sizeof(*owned)), done;

	PF_ASSERT(member_word_state(w) == PF_MEMBER_DEAD);
	if (tally_repair_census(d, slot, gen, owned) && owned != NULL)
		(void)vnodes_return_listed(d, slot, gen, owned);
	else
		(void)vnodes_return_owned(d, slot, gen);
	free(owned);
	/* Its checkpoint buffers and its slot, if its process is gone already (else the sweep
	 * retries: a stalled or unkillable one keeps them, fenced out of every reader). */
	(void)member_reclaim(d, slot);
	/* Relaxed: a time published by the release CAS below. */
	pf_store_relaxed(&rec->free_at_ns, now_ns() + d->lim.slot_grace_ns);
	done = w | MEMBER_FLAG_REPAIRED;
	/* [R5] pairs with [A5] in slot_take(): free_at is visible before the slot is. */
	if (!pf_cas_release(&rec->state, &w, done))
		return 0; /* another supervisor finished first */
	domain_publish_membership(d);
	/* What the vnodes_repaired counter says of this repair, whoever returned them. */
	if (s->o.on_repair != NULL)
		s->o.on_repair(s->o.arg, slot, gen, member_word_cause(w),
			       tally_repaired_vnodes(d, slot, gen));
	if (s->track[slot].gen == gen)
		s->track[slot].reported = 1;
	return 1;
}

/* A repaired generation (word w): told once to on_repair under PF_SUPERVISOR_ALL_REPAIRS when
 * this supervisor had seen it live and another finished its repair. */
static int repaired_elsewhere(struct pf_supervisor *s, uint32_t slot, uint64_t w)
{
	struct track *t = &s->track[slot];
	uint32_t gen = member_word_gen(w);

	if ((s->o.flags & PF_SUPERVISOR_ALL_REPAIRS) == 0 || s->o.on_repair == NULL ||
	    t->gen != gen || t->reported)
		return 0;
	t->reported = 1;
	s->o.on_repair(s->o.arg, slot, gen, member_word_cause(w),
		       tally_repaired_vnodes(s->d, slot, gen));
	return 0;
}

/* CAS a live or joining slot to DEAD, then repair it. A generation judged hung dies hung,
 * whatever the caller saw of its death (its futex released, its process gone). */
static int declare_dead_why(struct pf_supervisor *s, uint32_t slot, uint64_t w, uint32_t cause,
			    const char *field, int32_t pid)
{
	struct pf_domain *d = s->d;
	struct dom_member *rec = &d->members[slot];
	uint64_t dead = member_word(member_word_gen(w), PF_MEMBER_DEAD,
				    (w & MEMBER_FLAG_HUNG) != 0 ? PF_DEATH_HUNG : cause,
				    member_word_facts(w));

	/* [R5] pairs with [A5] in slot_take() and check_slot(): acq_rel, so everything the
	 * member published is visible to our repair. */
	if (!pf_cas_acq_rel(&rec->state, &w, dead))
		return 0; /* changed under us: the next check looks again */
	/* A quarantine is told before its repair, by the supervisor whose CAS declared it. */
	if (field != NULL && s->o.on_quarantine != NULL)
		s->o.on_quarantine(s->o.arg, slot, member_word_gen(w), pid, field);
	/* Relaxed: a time for people; the state word orders what matters. */
	pf_store_relaxed(&rec->dead_time_ns, now_ns());
	/* Relaxed: identity of the generation we just declared dead. */
	history_record_failure(d, pf_load_relaxed(&rec->identity_key));
	/* The kernel woke one sleeper on this futex; wake the other supervisors too. */
	futex_wake_shared(&rec->futex, INT_MAX);
	domain_publish_membership(d);
	/* [F43] seq_cst fence: the DEAD store above before the repair's loads of the ownership
	 * words (Dekker); pairs with [F43] in deliver() (core/ownership.c). */
	pf_fence_seq_cst();
	return repair(s, slot, dead);
}

static int declare_dead(struct pf_supervisor *s, uint32_t slot, uint64_t w, uint32_t cause)
{
	return declare_dead_why(s, slot, w, cause, NULL, 0);
}

int supervisor_declare_dead(struct pf_supervisor *s, uint32_t slot, uint32_t gen, uint32_t cause)
{
	struct dom_member *rec;
	uint64_t w;
	uint32_t st;

	if (s == NULL || slot >= s->d->lim.members_max || pf_death_cause_name(cause) == NULL)
		return -EINVAL;
	rec = &s->d->members[slot];
	/* [A5] pairs with [R5] in pf_member_join(): the generation we are told of. */
	w = pf_load_acquire(&rec->state);
	st = member_word_state(w);
	if (member_word_gen(w) != gen ||
	    (st != PF_MEMBER_ACTIVE && st != PF_MEMBER_DRAINING && st != PF_MEMBER_JOINING))
		return -ENOENT;
	if (declare_dead(s, slot, w, cause) == 0) {
		/* [A5] pairs with [R5] in repair(): another supervisor may have finished. */
		w = pf_load_acquire(&rec->state);
		if (member_word_gen(w) != gen || member_word_state(w) != PF_MEMBER_DEAD)
			return -EAGAIN;
	}
	PF_ASSERT(member_word_gen(w) == gen);
	return (int)tally_repaired_vnodes(s->d, slot, gen);
}

/* 1 when the process pinned by pidfd fd, pid pid, is the member its record claims: the
 * start time recorded, the uid recorded, a mapping of this domain's segment; read from
 * /proc while the pidfd pins it, the start time last (the pid then still named that
 * process when its uid and maps were read). A record proves nothing by itself: any
 * writer of the segment can write any pid and start time (public in /proc) into it. */
static int kill_allowed(struct pf_domain *d, struct dom_member *rec, int pid, uint64_t start)
{
	/* Relaxed: the judged generation's identity, proved by the caller's CAS; and only a
	 * claim, which the kernel's answers below check. */
	uint32_t uid = pf_load_relaxed(&rec->uid);
	uint64_t now_start;
	struct stat st;

	if (fstat(d->seg.fd, &st) < 0)
		return 0;
	if (identity_start_time(pid, &now_start) < 0 || now_start != start)
		return 0;
	if (identity_is_member(pid, uid, (uint64_t)st.st_dev, (uint64_t)st.st_ino) != 1)
		return 0;
	return identity_start_time(pid, &now_start) == 0 && now_start == start;
}

/* SIGKILL the process of the live generation whose word we judged, *w, with pid the pid
 * we read of it. First the word is marked HUNG, by a CAS from *w (then *w is the marked
 * word): it says so to whoever sees the death, and it proves that pid and the start time
 * read before it are that generation's (the slot had not moved on; a joiner writes its
 * identity only after its CAS that moves it on). Then the pidfd pins that process, and it
 * is killed only if the kernel confirms it is the member (kill_allowed()). 0 killed,
 * -ESTALE the word is no longer *w (dead, left, taken again since our look: kill nobody),
 * -EPERM not shown to be the member (a forged record, or one we may not read: counted as
 * a bad shared word when the process is there but is not the member), or -errno of the
 * kill. */
static int kill_hung(struct pf_domain *d, struct dom_member *rec, uint64_t *w, int pid)
{
	/* Relaxed: the judged generation's identity, which the CAS below proves; read before
	 * it. */
	uint64_t start = pf_load_relaxed(&rec->start_time), hung = *w | MEMBER_FLAG_HUNG;
	int fd, r = 0;

	/* [R5] pairs with [A5] in check_slot() and slot_take(): the judgement before the death
	 * it causes; acq_rel as every transition of the word. */
	if (!pf_cas_acq_rel(&rec->state, w, hung))
		return -ESTALE;
	*w = hung;
	fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0)
		return -errno;
	if (!kill_allowed(d, rec, pid, start)) {
		counter_add(d, PF_COUNTER_SHM_INVALID, 1);
		r = -EPERM;
	} else if (syscall(SYS_pidfd_send_signal, fd, SIGKILL, NULL, 0) < 0) {
		r = -errno;
	}
	(void)close(fd);
	return r;
}

/* The first pinned field that *m no longer holds, or NULL. */
static const char *pin_moved(const struct member_snap *p, const struct member_snap *m)
{
	if (m->pid != p->pid)
		return "pid";
	if (m->tid != p->tid)
		return "tid";
	if (m->uid != p->uid)
		return "uid";
	if (m->gid != p->gid)
		return "gid";
	if (m->start_time != p->start_time)
		return "start_time";
	if (m->join_time_ns != p->join_time_ns)
		return "join_time_ns";
	if (m->caps[0] != p->caps[0] || m->caps[1] != p->caps[1])
		return "caps";
	if (m->caps_declared != p->caps_declared)
		return "caps_declared";
	if (m->numa_node != p->numa_node)
		return "numa_node";
	if (m->cpu != p->cpu)
		return "cpu";
	if (m->identity_key != p->identity_key)
		return "identity_key";
	if (m->trust_ppm != p->trust_ppm)
		return "trust_ppm";
	if (m->vnode_capacity != p->vnode_capacity)
		return "vnode_capacity";
	return NULL;
}

/* Quarantine: the record of live generation w (its futex held) checked against the limits
 * and against the pin taken at first sight. NULL when it holds (or the slot moved on while
 * read: the next check judges the new generation), else the field that failed. */
static const char *record_fault(struct pf_supervisor *s, uint32_t slot, uint64_t w, struct track *t)
{
	struct member_snap m;
	const char *field = NULL;

	member_record_read(s->d, slot, &m);
	if (!member_record_stable(s->d, slot, &m))
		return NULL;
	if (m.state != w)
		return NULL; /* moved since our caller's look (a drain, a death): look again */
	if (member_snap_fault(s->d, &m, &field) < 0)
		return field;
	if (!t->pinned) {
		s->pins[slot] = m;
		t->pinned = 1;
		return NULL;
	}
	return pin_moved(&s->pins[slot], &m);
}

/* What says a member is alive: its heartbeat, and the work it does inside the library (the
 * VNodes it takes, the checkpoints it commits, the messages it receives), so that a member
 * busy adopting a million placements in one pass is not judged hung for not beating between
 * them (pflight/member.h, "Liveness"). A sum of counters that only grow: it moves whenever
 * one of them does (short of a 2^64 wrap in one look). */
static uint64_t progress(struct dom_member *rec)
{
	/* Relaxed: the member's own statistics; we only need to see them move. */
	return pf_load_relaxed(&rec->heartbeat) + pf_load_relaxed(&rec->claims) +
	       /* Relaxed: as above. */
	       pf_load_relaxed(&rec->commits) + pf_load_relaxed(&rec->received);
}

/* The member's joining thread as the kernel sees it, 0, or -1 when it cannot tell: the pid
 * and tid are the member's to write (its record, its futex word), so the process must be the
 * one that joined (its start time) and the tid one of its threads (the /proc path). */
static int member_thread(struct dom_member *rec, int pid, uint32_t tid, uint64_t *ret_run,
			 char *ret_state)
{
	/* Relaxed: the generation's fixed identity, acquired with its state word by our caller;
	 * checked against the kernel's below. */
	uint64_t start = pf_load_relaxed(&rec->start_time), now_start;

	if (identity_stat(pid, &now_start, NULL) < 0 || now_start != start)
		return -1;
	return identity_thread_cpu(pid, tid, ret_run, ret_state) < 0 ? -1 : 0;
}

/* Whether a member without progress for `age` (window: its allowance) is starved rather
 * than hung, 1 to wait for the next look. From half the window on, its joining thread is
 * probed: starved while it is runnable, ran at most a quarter of each half window at least
 * measured, and ran less than a heartbeat interval of CPU in all without a sign of life
 * (however small its share, a thread that had that much had time to beat). */
static int starved(const struct pf_supervisor *s, struct track *t, struct dom_member *rec,
		   uint32_t f, uint64_t age, uint64_t window, uint64_t now)
{
	/* Relaxed: the pid only names the process to probe; member_thread() checks it. */
	int pid = pf_load_relaxed(&rec->pid);
	uint32_t tid = f & FUTEX_WORD_TID_MASK;
	uint64_t run = 0, interval = s->d->lim.heartbeat_interval_ns;
	char state = 0;

	/* The thread asking cannot be the starved one. */
	if (age < window / 2 || t->killed || t->starved_ns >= window * STARVE_WINDOWS_MAX ||
	    (pid == s->self && tid == (uint32_t)syscall(SYS_gettid)))
		return 0;
	if (t->probe_ns != 0 && now - t->probe_ns < window / 2)
		return 1; /* too short to tell a slice from a share: measure on, no reads */
	if ((t->probe_tid != 0 && tid != t->probe_tid) ||
	    member_thread(rec, pid, tid, &run, &state) < 0 || state != 'R' ||
	    (t->probe_tid != 0 && (run < t->probe_run_ns || run - t->first_run_ns >= interval)))
		return 0; /* another thread named, unreadable, not runnable, or had its time */
	if (t->probe_tid == 0) { /* the first probe proves nothing yet: one more look */
		t->probe_tid = tid;
		t->first_run_ns = run;
	} else if (run - t->probe_run_ns > (now - t->probe_ns) / 4) {
		return 0; /* it ran: no progress is its own */
	}
	if (age >= window)
		t->starved_ns += t->probe_ns != 0 ? now - t->probe_ns : window / 2;
	t->probe_ns = now;
	t->probe_run_ns = run;
	return 1;
}

static int check_live(struct pf_supervisor *s, uint32_t slot, uint64_t w, uint64_t now)
{
	struct pf_domain *d = s->d;
	struct dom_member *rec = &d->members[slot];
	struct track *t = &s->track[slot];
	/* [A8] pairs with [R8] in robust_acquire() and [R9] in robust_release(). */
	uint32_t f = pf_load_acquire(&rec->futex);
	uint64_t hb, window;
	int pid, r;

	/* Exited, or hung if a supervisor judged this very generation hung (its word says so,
	 * whichever supervisor it was: declare_dead()). */
	if ((f & FUTEX_WORD_OWNER_DIED) != 0 || (f & FUTEX_WORD_TID_MASK) == 0)
		return declare_dead(s, slot, w, PF_DEATH_EXITED);
	/* First sight of this generation live: time its heartbeat from now. A track that
	 * check_joining() started for it has no heartbeat time yet; keeping its zero made a
	 * fast-polling supervisor kill every new member as hung before its first beat. */
	if (t->gen != member_word_gen(w) || t->hb_change_ns == 0) {
		memset(t, 0, sizeof(*t));
		t->gen = member_word_gen(w);
		t->hb_change_ns = now;
	}
	if ((s->o.flags & PF_SUPERVISOR_QUARANTINE) != 0) {
		const char *field = record_fault(s, slot, w, t);

		if (field != NULL) {
			counter_add(d, PF_COUNTER_SHM_INVALID, 1);
			return declare_dead_why(s, slot, w, PF_DEATH_QUARANTINED, field,
						t->pinned ? s->pins[slot].pid : 0);
		}
	}
	hb = progress(rec);
	if (hb != t->hb) {
		t->hb = hb;
		t->hb_change_ns = now;
		t->probe_tid = 0;
		t->probe_ns = 0;
		t->starved_ns = 0;
		return 0;
	}
	window = d->lim.heartbeat_interval_ns * d->lim.heartbeat_misses;
	if (starved(s, t, rec, f, now - t->hb_change_ns, window, now) ||
	    now - t->hb_change_ns < window + t->starved_ns)
		return 0;
	if (!t->killed) {
		t->killed = 1;
		t->killed_ns = now;
		/* Relaxed: identity of the generation acquired by our caller; kill_hung() proves
		 * it is still that generation's. */
		pid = pf_load_relaxed(&rec->pid);
		/* Never our own process: that would kill this supervisor and every member it
		 * hosts. A hung thread of ours is fenced out by its epoch instead. */
		if (pid == s->self)
			return declare_dead(s, slot, w, PF_DEATH_HUNG);
		PF_FAULT_POINT(SUPERVISE_BEFORE_KILL);
		r = kill_hung(d, rec, &w, pid);
		if (r == 0)
			return 0; /* the futex release will tell us; repair then */
		if (r == -ESTALE) {
			t->killed = 0; /* the word moved on: the next check judges it afresh */
			return 0;
		}
	} else if (now - t->killed_ns < KILL_WAIT_NS) {
		return 0;
	}
	return declare_dead(s, slot, w, PF_DEATH_HUNG);
}

static int check_joining(struct pf_supervisor *s, uint32_t slot, uint64_t w, uint64_t now)
{
	struct dom_member *rec = &s->d->members[slot];
	struct track *t = &s->track[slot];
	/* [A8] pairs with [R8] in robust_acquire(). */
	uint32_t f = pf_load_acquire(&rec->futex);
	/* Relaxed: written by the joiner before its futex; a stale 0 only delays us. */
	int pid = pf_load_relaxed(&rec->pid);

	if (t->gen != member_word_gen(w) || t->joining_since_ns == 0) {
		memset(t, 0, sizeof(*t));
		t->gen = member_word_gen(w);
		t->joining_since_ns = now;
	}
	/* INIT: futex and pid are still the previous generation's (a predecessor killed
	 * with OWNER_DIED set, its pid gone): only the timeout may judge the joiner. */
	if ((w & MEMBER_FLAG_INIT) != 0)
		return now - t->joining_since_ns > JOIN_TIMEOUT_NS
			       ? declare_dead(s, slot, w, PF_DEATH_VANISHED)
			       : 0;
	if ((f & FUTEX_WORD_OWNER_DIED) != 0)
		return declare_dead(s, slot, w, PF_DEATH_EXITED);
	if ((f & FUTEX_WORD_TID_MASK) != 0)
		return 0;
	/* Relaxed: see pid above. */
	if (identity_gone(pid, pf_load_relaxed(&rec->start_time)) ||
	    now - t->joining_since_ns > JOIN_TIMEOUT_NS)
		return declare_dead(s, slot, w, PF_DEATH_VANISHED);
	return 0;
}

static int check_slot(struct pf_supervisor *s, uint32_t slot, uint64_t now)
{
	/* [A5] pairs with [R5] in pf_member_join(): identity is complete once ACTIVE. */
	uint64_t w = pf_load_acquire(&s->d->members[slot].state);

	/* A word no correct writer produces is acted on only where the member is live with a
	 * generation (its quarantine, or its liveness as before); any other is left alone
	 * (a repair of generation 0, or of no known state, would be of nobody). */
	if (!member_word_valid(w) && !((member_word_state(w) == PF_MEMBER_ACTIVE ||
					member_word_state(w) == PF_MEMBER_DRAINING) &&
				       member_word_gen(w) != 0)) {
		counter_add(s->d, PF_COUNTER_SHM_INVALID, 1);
		return 0;
	}
	switch (member_word_state(w)) {
	case PF_MEMBER_ACTIVE:
	case PF_MEMBER_DRAINING:
		return check_live(s, slot, w, now);
	case PF_MEMBER_JOINING:
		return check_joining(s, slot, w, now);
	case PF_MEMBER_DEAD:
		return (w & MEMBER_FLAG_REPAIRED) ? repaired_elsewhere(s, slot, w)
						  : repair(s, slot, w);
	default:
		return 0;
	}
}

/* 1 when owned word w of VNode id was adopted by its owner (the mark of its epoch). */
static int adopted(struct pf_domain *d, uint32_t id, uint64_t w)
{
	/* Relaxed: a hint; a placement judged not adopted is delivered once more, which its
	 * owner's adoption drops if it was. */
	return pf_load_relaxed(&d->vnodes[id].pending_pos) == (PENDING_POS_ADOPTED | own_epoch(w));
}

/* Placements on a live member that was never told of them: its placer died between the
 * ownership CAS and the delivery (or is about to deliver; a second entry of an epoch is not
 * adopted twice). Only a slot whose ownership words (words[], counted by the scan) outnumber
 * the handles it counts, with nothing left in its ring, is looked at again, so the steady
 * state reads no VNode record. A handle gone stale but not yet released hides one such
 * placement until the member lets go of it. */
static void sweep_undelivered(struct pf_domain *d, uint32_t *words)
{
	uint32_t suspects = 0;

	for (uint32_t slot = 0; slot < d->lim.members_max; slot++) {
		/* Relaxed: the member's own count of its handles, a statistic; a stale value
		 * costs one more look or one sweep's delay. */
		if (words[slot] != 0 &&
		    (words[slot] <= pf_load_relaxed(&d->members[slot].vnodes_owned) ||
		     ring_mpmc_count(assign_ring(d, slot)) != 0))
			words[slot] = 0;
		suspects += words[slot] != 0;
	}
	for (uint32_t id = 0; suspects != 0 && id < d->lim.vnodes_max; id++) {
		/* Relaxed: a scan; own_redeliver() delivers only to that generation, ACTIVE. */
		uint64_t w = pf_load_relaxed(&d->own[id]);

		if (own_is_owned(w) && own_slot(w) < d->lim.members_max &&
		    words[own_slot(w)] != 0 && !adopted(d, id, w))
			(void)own_redeliver(d, id, w);
	}
}

/* VNodes owned by a generation that no longer holds its slot: return them; then those
 * placed on a live member that was never told of them: deliver them again. */
static uint32_t sweep_orphans(struct pf_domain *d)
{
	uint32_t moved = 0, *words = calloc(d->lim.members_max, sizeof(*words));

	for (uint32_t id = 0; id < d->lim.vnodes_max; id++) {
		/* Relaxed: a scan; re-validated by the CAS below. */
		uint64_t w = pf_load_relaxed(&d->own[id]), m;
		uint32_t slot, st;

		if (!own_is_owned(w))
			continue;
		slot = own_slot(w);
		if (slot >= d->lim.members_max) {
			counter_add(d, PF_COUNTER_SHM_INVALID, 1);
		} else {
			/* [A5] pairs with [R5]: the slot's current generation. */
			m = pf_load_acquire(&d->members[slot].state);
			st = member_word_state(m);
			if ((member_word_gen(m) & OWN_GEN_MASK) == own_gen(w) &&
			    (st == PF_MEMBER_ACTIVE || st == PF_MEMBER_DRAINING ||
			     (st == PF_MEMBER_DEAD && !(m & MEMBER_FLAG_REPAIRED)))) {
				if (st == PF_MEMBER_ACTIVE && words != NULL)
					words[slot]++;
				continue; /* a live owner, or a repair in progress */
			}
		}
		moved += own_release(d, id, w, 0);
	}
	if (words != NULL) /* without memory, the next sweep looks */
		sweep_undelivered(d, words);
	free(words);
	return moved;
}

static uint32_t sweep_pending(struct pf_domain *d)
{
	uint32_t queued = 0;

	for (uint32_t id = 0; id < d->lim.vnodes_max; id++) {
		/* Relaxed: a scan; a VNode wrongly queued twice is dropped by its claimer. */
		uint64_t w = pf_load_relaxed(&d->own[id]);
		uint64_t pos;

		if (own_state(w) != PF_VNODE_PENDING)
			continue;
		/* Relaxed: a hint, see pending_push(). */
		pos = pf_load_relaxed(&d->vnodes[id].pending_pos);
		if (pos != PENDING_POS_NONE && !ring_mpmc_consumed(&d->pending, pos))
			continue;
		if (pending_push(d, id, 0) == 0)
			queued++;
	}
	counter_add(d, PF_COUNTER_PENDING_REQUEUED, queued);
	return queued;
}

static void sweep_processes(struct pf_supervisor *s)
{
	struct pf_domain *d = s->d;

	for (uint32_t slot = 0; slot < d->lim.members_max; slot++) {
		struct dom_member *rec = &d->members[slot];
		/* [A5] pairs with [R5] in pf_member_join(). */
		uint64_t w = pf_load_acquire(&rec->state);
		uint32_t st = member_word_state(w);

		if (st != PF_MEMBER_ACTIVE && st != PF_MEMBER_DRAINING)
			continue;
		/* Relaxed: identity is fixed for this generation. */
		if (identity_gone(pf_load_relaxed(&rec->pid), pf_load_relaxed(&rec->start_time)))
			(void)declare_dead(s, slot, w, PF_DEATH_VANISHED);
	}
}

/* Slots whose member is dead or drained away, still attached to it (its checkpoint buffers
 * with them): reclaimed once its process is gone (core/member.c). */
static void sweep_held(struct pf_domain *d)
{
	for (uint32_t slot = 0; slot < d->lim.members_max; slot++) {
		/* [A5] pairs with [R5]: the state its entries are judged under. */
		uint64_t w = pf_load_acquire(&d->members[slot].state);
		uint32_t st = member_word_state(w);

		if (st == PF_MEMBER_FREE || st == PF_MEMBER_RETIRED ||
		    (st == PF_MEMBER_DEAD && (w & MEMBER_FLAG_REPAIRED) != 0))
			(void)member_reclaim(d, slot);
	}
}

static void maybe_sweep(struct pf_supervisor *s, uint64_t now)
{
	struct pf_domain *d = s->d;
	/* Relaxed: an election by CAS; the sweep itself re-validates everything. */
	uint64_t last = pf_load_relaxed(&d->ctl->sweep_time_ns);

	if (now - last < s->o.sweep_interval_ns)
		return;
	/* Relaxed: see above; only one supervisor wins each interval. */
	if (!pf_cas_relaxed(&d->ctl->sweep_time_ns, &last, now))
		return;
	sweep_processes(s);
	sweep_held(d);
	/* Whatever waits in the queue is published, not only what this sweep queued: a
	 * process killed between its push and its publish (a repair's scan, a release) left
	 * VNodes queued, not consumed, under the pending version the members' last fruitless
	 * round saw, and nobody else would tell them. */
	if (sweep_orphans(d) + sweep_pending(d) > 0 || ring_mpmc_count(&d->pending) > 0)
		domain_publish_pending(d);
}

static int check_range(struct pf_supervisor *s, uint32_t lo, uint32_t hi)
{
	uint64_t now = now_ns();
	int repaired = 0;

	for (uint32_t slot = lo; slot < hi; slot++)
		repaired += check_slot(s, slot, now);
	return repaired;
}

PF_API int pf_supervisor_check(struct pf_supervisor *s)
{
	int repaired;

	if (s == NULL)
		return -EINVAL;
	repaired = check_range(s, 0, s->d->lim.members_max);
	maybe_sweep(s, now_ns());
	return repaired;
}

/* Arm FUTEX_WAITERS on a live member's futex; returns the value to wait for, or 0. */
static uint32_t arm(struct dom_member *rec, int self)
{
	/* [A5] pairs with [R5]. */
	uint64_t w = pf_load_acquire(&rec->state);
	uint32_t st = member_word_state(w), f;

	if (st != PF_MEMBER_ACTIVE && st != PF_MEMBER_DRAINING && st != PF_MEMBER_JOINING)
		return 0;
	/* Not our own process's members: the kernel wakes a single waiter when a robust
	 * futex's owner dies, and if that waiter is a thread of the dying process the wake
	 * is lost with it. Our own members' deaths are for the other supervisors to see.
	 * Relaxed: identity is fixed for the generation we acquired. */
	if (pf_load_relaxed(&rec->pid) == self)
		return 0;
	/* Relaxed: the CAS below and the kernel's own compare decide. */
	f = pf_load_relaxed(&rec->futex);
	if ((f & FUTEX_WORD_TID_MASK) == 0 || (f & FUTEX_WORD_OWNER_DIED) != 0)
		return 0;
	if ((f & FUTEX_WORD_WAITERS) == 0) {
		uint32_t armed = f | FUTEX_WORD_WAITERS;

		/* Relaxed: only the kernel and the owner's release read this bit. */
		if (!pf_cas_relaxed(&rec->futex, &f, armed))
			return 0; /* changed: the caller's next check sees why */
		f = armed;
	}
	return f;
}

static int wait_range(struct pf_supervisor *s, uint32_t lo, uint32_t hi, uint64_t timeout_ns)
{
	struct futex_waitv wv[SHARD_SLOTS + 2];
	struct pf_domain *d = s->d;
	struct timespec ts;
	uint64_t deadline;
	uint32_t n = 0;
	long r;

	memset(wv, 0, sizeof(wv));
	/* Relaxed: the kernel compares the value again before sleeping. */
	wv[n].val = pf_load_relaxed(&s->stop);
	wv[n].uaddr = (uintptr_t)&s->stop;
	wv[n++].flags = FUTEX_32 | FUTEX_PRIVATE_FLAG;
	/* Relaxed: as above. */
	wv[n].val = pf_load_relaxed(&d->ctl->membership_version);
	wv[n].uaddr = (uintptr_t)&d->ctl->membership_version;
	wv[n++].flags = FUTEX_32;
	for (uint32_t slot = lo; slot < hi && n < PF_ARRAY_SIZE(wv); slot++) {
		uint32_t f = arm(&d->members[slot], s->self);

		if (f == 0)
			continue;
		wv[n].val = f;
		wv[n].uaddr = (uintptr_t)&d->members[slot].futex;
		wv[n++].flags = FUTEX_32;
	}
	timeout_ns = PF_MIN(timeout_ns, PF_MIN(d->lim.heartbeat_interval_ns, POLL_MAX_NS));
	deadline = now_ns() + timeout_ns;
	ts.tv_sec = (time_t)(deadline / 1000000000u);
	ts.tv_nsec = (long)(deadline % 1000000000u);
	r = syscall(SYS_futex_waitv, wv, n, 0, &ts, CLOCK_MONOTONIC);
	if (r >= 0 || errno == EAGAIN)
		return 0;
	return -errno;
}

PF_API int pf_supervisor_wait(struct pf_supervisor *s, uint64_t timeout_ns)
{
	if (s == NULL)
		return -EINVAL;
	return wait_range(s, 0, PF_MIN(s->d->lim.members_max, SHARD_SLOTS), timeout_ns);
}

static void *shard_main(void *arg)
{
	struct shard *sh = arg;
	struct pf_supervisor *s = sh->sup;

	/* Relaxed: a stop flag; the futex wake delivers it promptly. */
	while (pf_load_relaxed(&s->stop) == 0) {
		(void)check_range(s, sh->lo, sh->hi);
		if (sh->lo == 0)
			maybe_sweep(s, now_ns());
		(void)wait_range(s, sh->lo, sh->hi, s->o.sweep_interval_ns);
	}
	return NULL;
}

PF_API int pf_supervisor_start(struct pf_supervisor *s)
{
	if (s == NULL)
		return -EINVAL;
	if (s->running)
		return -EALREADY;
	/* Relaxed: no thread runs yet. */
	pf_store_relaxed(&s->stop, 0);
	for (uint32_t i = 0; i < s->nshards; i++) {
		if (pthread_create(&s->shards[i].thread, NULL, shard_main, &s->shards[i]) != 0) {
			s->running = 1;
			pf_supervisor_stop(s);
			return -EAGAIN;
		}
		s->shards[i].started = 1;
	}
	s->running = 1;
	return 0;
}

PF_API void pf_supervisor_stop(struct pf_supervisor *s)
{
	if (s == NULL || !s->running)
		return;
	/* Relaxed: the flag is read after the wake; the futex orders the hand-off. */
	pf_store_relaxed(&s->stop, 1);
	(void)syscall(SYS_futex, &s->stop, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
	for (uint32_t i = 0; i < s->nshards; i++) {
		if (s->shards[i].started)
			(void)pthread_join(s->shards[i].thread, NULL);
		s->shards[i].started = 0;
	}
	s->running = 0;
}

PF_API void pf_supervisor_destroy(struct pf_supervisor *s)
{
	if (s == NULL)
		return;
	pf_supervisor_stop(s);
	free(s->track);
	free(s->pins);
	free(s->shards);
	free(s);
}
