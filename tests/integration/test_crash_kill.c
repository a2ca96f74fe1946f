/* SPDX-License-Identifier: MIT */
/*
 * tests/integration/test_crash_kill.c
 * Goal: ARCHITECTURE.md section 3, invariants 1-4, survive kill -9 at random moments and
 * inside every critical window of join, claim, commit, send, receive, release and
 * repair; and every message sent takes effect exactly once.
 * Method: one domain (16 members, 256 VNodes, 16-slot inboxes). A sender process sends
 * sequence-numbered increments to random VNodes; worker processes (each a member with
 * its own embedded supervisor) claim VNodes, apply messages to a self-validating state
 * and commit it, release now and then. A supervisor process runs pf_supervisor threads;
 * the parent steps one more (it stays single-threaded: a child forked from a threaded
 * ASan process can inherit the allocator's lock held). The parent kills a
 * worker, the sender or the supervisor process each round, or restarts one with a
 * fault point armed so that the process kills itself inside the window; restarts what died; pauses
 * everyone, waits for repair and checks the invariants (tests/common/invariants.c). At the end it
 * drains, checks exactly-once per VNode against the sender's books, claims every
 * PENDING VNode with a fresh member, sends through every inbox, and fills every slot.
 * Stall rounds (as root): every child runs as an unprivileged uid, and now and then a
 * worker is restarted as another uid with a fault point that SIGSTOPs it inside a commit
 * (before its copy, mid-copy, or before its publishing CAS). Past the heartbeat timeout
 * the supervisors, which may not kill another uid, declare it hung and its VNodes are
 * placed again, and the parent waits until the VNode of the stopped commit is sealed with a
 * newer epoch; others apply and commit more; then it is continued, its commit must be
 * refused (-ESTALE), and it finds itself fenced out, leaves and joins again. Nothing it
 * wrote may reach a reader: the invariants and the exactly-once books say so. Only that
 * worker, once stopped, may find itself declared dead while alive: any other live member
 * judged dead fails the run, and so does a root run in which no stall round stalled.
 * Usage: test_crash_kill [kills]   (or PF_CRASH_KILLS=n; PF_CRASH_SEED=n to replay)
 * Exit: 0 pass, 1 fail, 77 not built with -Dfault_injection=true.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "pf_config.h"

#if !PF_FAULT_INJECTION
int main(void)
{
	printf("test_crash_kill: skipped: needs -Dfault_injection=true\n");
	return 77;
}
#else

#include "core/member_impl.h"
#include "pflight/pflight.h"
#include "shm/fault.h"
#include "shm/pf_atomic.h"
#include "tests/common/invariants.h"
#include "tests/common/test_util.h"

#define VNODES 256u
#define MEMBERS 16u
#define WORKERS 6u
#define PROCS (WORKERS + 2u) /* workers 0..5, the sender, the supervisor process */
#define SENDER WORKERS
#define SUPERVISOR (WORKERS + 1u)
#define INBOX_SLOTS 16u
/* VNodes one worker holds at most: all of them, since a member takes what is placed on
 * it (a VNode placed and never claimed would wait for its member's death). */
#define OWN_MAX VNODES
#define EPOCH_BITS 16384u
#define UNSURE_MAX 16384u
#define GAPS_MAX 8192u
#define KILLS_DEFAULT 500u
#define TIME_CAP_S 75.0 /* the default run stops killing after this */
#define GRACE_NS UINT64_C(20000000)
#define FAULT_NONE FAULT_POINT_COUNT
/* Stall rounds: children run as CHILD_UID, a stalled worker i as STALL_UID - i, all in
 * SHARED_GID, the domain's group; only root can arrange that. */
#define CHILD_UID 65534
#define STALL_UID 65533
#define SHARED_GID 65534
#define STALL_EVERY 5u /* rounds */
#define STALL_SEALED 1u
#define STALL_CHECKED 2u

struct msg {
	uint32_t vnode;
	uint32_t reserved;
	uint64_t seq;
	uint64_t sum; /* XXH3 of the fields above */
};

/* The state every worker checkpoints: self-validating, so a torn copy is recognised
 * whatever the library's own checksum says. */
struct state {
	uint32_t vnode;
	int32_t writer;    /* pid of the committer */
	uint64_t counter;  /* messages applied */
	uint64_t last_seq; /* highest sequence applied */
	uint64_t epoch;    /* ownership epoch of the commit */
	uint64_t sum;      /* XXH3 of the fields above */
};

struct gap {
	_Atomic uint64_t vnode, from, to;
};

/* Test bookkeeping shared by the parent and every child (anonymous shared mapping). */
struct shared {
	_Atomic uint32_t stop;       /* workers commit, leave and exit */
	_Atomic uint32_t send_stop;  /* the sender exits */
	_Atomic uint32_t no_release; /* drain: keep what you hold */
	_Atomic uint32_t pause;      /* odd: everyone waits at the top of its loop */
	_Atomic uint32_t ack[PROCS]; /* the pause value each process saw */
	/* The sender's books: sent_hi is the highest sequence given to pf_send that
	 * returned 0 or whose outcome is unknown (the sender died inside the call); those
	 * unknown ones are listed in unsure. */
	_Atomic uint64_t inflight; /* (vnode + 1) << 32 | seq while inside pf_send */
	_Atomic uint64_t sent_hi[VNODES];
	_Atomic uint32_t unsure_n;
	_Atomic uint64_t unsure[UNSURE_MAX]; /* vnode << 32 | seq */
	/* What workers saw. */
	_Atomic uint32_t failures;
	_Atomic uint32_t fail_taken;
	char fail_msg[256];
	_Atomic uint32_t gaps_n;
	struct gap gaps[GAPS_MAX];
	_Atomic uint64_t epochs[VNODES][EPOCH_BITS / 64];
	_Atomic uint64_t sends, inbox_full, claims, commits, applied, releases, stale;
	_Atomic uint64_t join_retries, join_timeouts, declared_dead, stall_refused;
	_Atomic uint64_t member_of[PROCS]; /* pf_member_id() of each worker's membership */
	/* Stall rounds: the commit a stalled worker stopped in (vnode << 32 | epoch); and
	 * STALL_SEALED once the parent saw that VNode sealed with a newer epoch before it
	 * continued the worker, STALL_CHECKED once the worker checked that commit's result. */
	_Atomic uint64_t stall_commit[PROCS];
	_Atomic uint32_t stall_sealed[PROCS];
};

static struct shared *sh;
static char dom_name[64];
static uint64_t rng_state;

/* In a worker started by spawn_stalled(): SIGSTOP inside the nth commit (at fp). */
struct stall {
	uint32_t proc;
	enum fault_point fp; /* FAULT_NONE: an ordinary worker (and the parent) */
	uint64_t nth;
	uint32_t fenced; /* times found declared dead after the stop */
};
static struct stall stall = {.fp = FAULT_NONE};

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static uint64_t rnd_below(uint64_t n)
{
	return n == 0 ? 0 : rnd() % n;
}

static double elapsed_s(uint64_t start_ns)
{
	return (double)(now_ns() - start_ns) / 1e9;
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Record a failure (the first message is kept); any process. */
static void fail(const char *fmt, ...)
{
	uint32_t expected = 0;
	va_list ap;

	/* Relaxed: a count; the message below is read after every child has exited. */
	pf_fetch_add_relaxed(&sh->failures, 1);
	/* Relaxed: a once-flag; the parent reads fail_msg after waitpid(). */
	if (!pf_cas_relaxed(&sh->fail_taken, &expected, 1))
		return;
	va_start(ap, fmt);
	(void)vsnprintf(sh->fail_msg, sizeof(sh->fail_msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "[%d] FAILURE: %s\n", (int)getpid(), sh->fail_msg);
}

static uint64_t msg_sum(const struct msg *m)
{
	return XXH3_64bits(m, offsetof(struct msg, sum));
}

static uint64_t state_sum(const struct state *s)
{
	return XXH3_64bits(s, offsetof(struct state, sum));
}

static int state_valid(uint32_t id, const void *bytes, size_t len, char *why, size_t why_len)
{
	struct state s;

	if (len != sizeof(s)) {
		(void)snprintf(why, why_len, "length %zu", len);
		return -EBADMSG;
	}
	memcpy(&s, bytes, sizeof(s));
	if (s.sum != state_sum(&s) || s.vnode != id) {
		(void)snprintf(why, why_len, "self-checksum or vnode id (%u) wrong", s.vnode);
		return -EBADMSG;
	}
	if (s.counter > s.last_seq) {
		(void)snprintf(why, why_len, "counter %llu above last seq %llu",
			       (unsigned long long)s.counter, (unsigned long long)s.last_seq);
		return -EBADMSG;
	}
	/* Relaxed: the sender's books only grow; a committed seq was sent before. */
	if (s.last_seq > pf_load_relaxed(&sh->sent_hi[id])) {
		(void)snprintf(why, why_len, "last seq %llu never sent",
			       (unsigned long long)s.last_seq);
		return -EBADMSG;
	}
	return 0;
}

static int state_check_cb(void *arg, uint32_t id, const void *bytes, size_t len, char *why,
			  size_t why_len)
{
	(void)arg;
	return state_valid(id, bytes, len, why, why_len);
}

/* Wait at the top of a loop while the parent pauses everyone (beating meanwhile). */
static void pause_point(uint32_t proc, struct pf_member *m)
{
	/* [A20] pairs with [R20] in pause_all(): a pause is seen before we act again. */
	uint32_t p = pf_load_acquire(&sh->pause);

	if ((p & 1) == 0)
		return;
	/* [R21] pairs with [A21] in pause_all(): all we did is done before the ack. */
	pf_store_release(&sh->ack[proc], p);
	/* Relaxed: a spin; the parent's next step is another store to pause. */
	while (pf_load_relaxed(&sh->pause) == p) {
		if (m != NULL)
			pf_member_heartbeat(m);
		(void)usleep(500);
	}
}

/* ---- worker --------------------------------------------------------------------- */

struct held {
	struct pf_vnode *h;
	uint32_t id;
	uint32_t epoch;
	uint32_t dirty;
	struct state st;
};

struct worker {
	uint32_t proc;
	struct pf_domain *d;
	struct pf_member *m;
	struct held held[OWN_MAX];
	uint32_t n;
};

static void held_drop(struct worker *w, uint32_t i)
{
	(void)pf_vnode_release(w->held[i].h);
	w->held[i] = w->held[--w->n];
}

/* Mark (vnode, epoch) as claimed: a second claim of the same epoch is invariant 1 broken. */
static void epoch_record(uint32_t id, uint32_t epoch)
{
	uint64_t bit;

	if (epoch >= EPOCH_BITS)
		return;
	bit = UINT64_C(1) << (epoch % 64);
	/* acq_rel RMW: [A22] pairs with [R22] of the other claimer of the same bit. */
	if (pf_fetch_or_acq_rel(&sh->epochs[id][epoch / 64], bit) & bit)
		fail("vnode %u: epoch %u claimed twice", id, epoch);
}

static void adopt(struct worker *w, struct pf_vnode *h)
{
	struct held *o = &w->held[w->n];
	char why[128];
	size_t len = 0;
	int r;

	memset(o, 0, sizeof(*o));
	o->h = h;
	o->id = pf_vnode_id(h);
	o->epoch = (uint32_t)pf_vnode_epoch(h);
	epoch_record(o->id, o->epoch);
	/* Relaxed: statistics. */
	pf_fetch_add_relaxed(&sh->claims, 1);
	r = pf_checkpoint_load(h, &o->st, sizeof(o->st), &len);
	if (r == -ENOENT) {
		o->st.vnode = o->id;
	} else if (r == -ESTALE) {
		(void)pf_vnode_release(h);
		return;
	} else if (r < 0) {
		fail("vnode %u: checkpoint load returns %d", o->id, r);
		(void)pf_vnode_release(h);
		return;
	} else if (state_valid(o->id, &o->st, len, why, sizeof(why)) < 0) {
		fail("vnode %u: loaded state invalid: %s", o->id, why);
	} else if (o->st.epoch >= o->epoch) {
		fail("vnode %u: loaded state of epoch %llu, claim epoch %u", o->id,
		     (unsigned long long)o->st.epoch, o->epoch);
	}
	w->n++;
}

static void gap_record(uint32_t id, uint64_t from, uint64_t to)
{
	/* Relaxed: read by the parent after every child exited. */
	uint32_t i = pf_fetch_add_relaxed(&sh->gaps_n, 1);

	if (i >= GAPS_MAX)
		return;
	/* Relaxed: as above. */
	pf_store_relaxed(&sh->gaps[i].vnode, id);
	pf_store_relaxed(&sh->gaps[i].from, from);
	pf_store_relaxed(&sh->gaps[i].to, to);
}

static void apply(struct held *o, const struct msg *msg, size_t len)
{
	if (len != sizeof(*msg) || msg->sum != msg_sum(msg) || msg->vnode != o->id) {
		fail("vnode %u: torn or misrouted message (len %zu, vnode %u)", o->id, len,
		     msg->vnode);
		return;
	}
	if (msg->seq <= o->st.last_seq) {
		fail("vnode %u: seq %llu applied twice (last %llu, epoch %u)", o->id,
		     (unsigned long long)msg->seq, (unsigned long long)o->st.last_seq, o->epoch);
		return;
	}
	if (msg->seq != o->st.last_seq + 1)
		gap_record(o->id, o->st.last_seq, msg->seq);
	o->st.counter++;
	o->st.last_seq = msg->seq;
	o->dirty++;
	/* Relaxed: statistics. */
	pf_fetch_add_relaxed(&sh->applied, 1);
}

/* 1 once a stalled worker has stopped at its fault point (and been continued). */
static int stall_stopped(void)
{
	return stall.fp != FAULT_NONE && fault_hits(stall.fp) >= stall.nth;
}

/* The commit a stalled worker stopped in returned r: refused if the parent saw its VNode
 * sealed with a newer epoch before continuing it (else the round gave up waiting). */
static void stall_commit_check(const struct held *o, int r)
{
	/* [A24] pairs with [R24] in stall_round(): the seal was seen before our SIGCONT. */
	if (pf_load_acquire(&sh->stall_sealed[stall.proc]) != STALL_SEALED)
		return;
	if (r != -ESTALE)
		fail("worker %u: commit of vnode %u (epoch %u) stopped past its death and its "
		     "seal returns %d, not -ESTALE",
		     stall.proc, o->id, o->epoch, r);
	else
		/* Relaxed: statistics, read after we exit. */
		pf_fetch_add_relaxed(&sh->stall_refused, 1);
	/* [R25] pairs with [A25] in stall_wait_checked(): checked, the parent may go on. */
	pf_store_release(&sh->stall_sealed[stall.proc], STALL_CHECKED);
}

static int commit(struct held *o)
{
	int armed = stall.fp != FAULT_NONE && !stall_stopped(), r;

	if (o->dirty == 0)
		return 0;
	o->st.epoch = o->epoch;
	o->st.writer = (int32_t)getpid();
	o->st.sum = state_sum(&o->st);
	if (armed)
		/* Relaxed: read by the parent once waitpid() told it we stopped. */
		pf_store_relaxed(&sh->stall_commit[stall.proc], (uint64_t)o->id << 32 | o->epoch);
	r = pf_checkpoint_commit(o->h, o->epoch, &o->st, sizeof(o->st));
	if (armed && stall_stopped())
		stall_commit_check(o, r);
	if (r == 0) {
		o->dirty = 0;
		/* Relaxed: statistics. */
		pf_fetch_add_relaxed(&sh->commits, 1);
	} else if (r != -ESTALE) {
		fail("vnode %u: commit returns %d", o->id, r);
	}
	return r;
}

/* Receive a batch for one held VNode and commit it. 1 when it did work, -ESTALE when the
 * VNode is no longer ours. */
static int serve(struct held *o)
{
	int did = 0;

	for (int i = 0; i < 8; i++) {
		struct msg msg;
		size_t len = 0;
		int r = pf_recv(o->h, &msg, sizeof(msg), &len);

		if (r == -EAGAIN)
			break;
		if (r == -ESTALE)
			return r;
		if (r < 0) {
			fail("vnode %u: recv returns %d", o->id, r);
			break;
		}
		apply(o, &msg, len);
		did = 1;
	}
	if (commit(o) == -ESTALE)
		return -ESTALE;
	return did;
}

static int worker_join(struct worker *w)
{
	struct pf_member_opts o;

	pf_member_opts_init(&o);
	o.flags = PF_MEMBER_SUPERVISE;
	for (int tries = 0; tries < 2000; tries++) {
		int r;

		pause_point(w->proc, NULL);
		/* Relaxed: the stop flag is polled. */
		if (pf_load_relaxed(&sh->stop) != 0)
			_exit(0);
		r = pf_member_join(w->d, &o, &w->m);
		if (r == 0)
			return 0;
		if (r == -ETIMEDOUT) {
			/* A supervisor declared this live joiner dead: only a joiner stopped
			 * for longer than the join timeout (1 s) may be. */
			fail("worker %u: join refused with -ETIMEDOUT (declared dead while "
			     "joining)",
			     w->proc);
			/* Relaxed: statistics. */
			pf_fetch_add_relaxed(&sh->join_timeouts, 1);
		} else if (r != -EUSERS) {
			return r;
		}
		/* Relaxed: statistics. */
		pf_fetch_add_relaxed(&sh->join_retries, 1);
		(void)usleep(2000);
	}
	return -EUSERS;
}

static void worker_step(struct worker *w)
{
	struct pf_vnode *h;
	int busy = 0;

	if (w->n < OWN_MAX && pf_vnode_claim(w->m, PF_CLAIM_NOWAIT, 0, &h) == 0) {
		adopt(w, h);
		busy = 1;
	}
	for (uint32_t i = 0; i < w->n;) {
		int r = serve(&w->held[i]);

		if (r == -ESTALE) {
			/* Relaxed: statistics. */
			pf_fetch_add_relaxed(&sh->stale, 1);
			held_drop(w, i);
			continue;
		}
		busy |= r;
		i++;
	}
	/* Relaxed: a flag read each step. */
	if (w->n > 0 && pf_load_relaxed(&sh->no_release) == 0 && rnd_below(64) == 0) {
		uint32_t i = (uint32_t)rnd_below(w->n);

		if (commit(&w->held[i]) == 0) {
			/* Relaxed: statistics. */
			pf_fetch_add_relaxed(&sh->releases, 1);
		}
		held_drop(w, i);
	}
	if (!busy)
		(void)usleep(300);
}

static void worker_start(struct worker *w)
{
	int r = worker_join(w);

	if (r < 0) {
		fail("worker %u: join returns %d", w->proc, r);
		_exit(11);
	}
	/* Relaxed: read by the parent to watch a stalled worker's slot. */
	pf_store_relaxed(&sh->member_of[w->proc], pf_member_id(w->m));
}

static _Noreturn void worker_main(uint32_t proc, enum fault_point fp, uint64_t nth,
				  enum fault_mode mode)
{
	struct worker w = {.proc = proc};

	if (pf_domain_open(dom_name, &w.d) < 0)
		_exit(10);
	if (fp != FAULT_NONE)
		fault_arm(fp, nth, mode);
	if (fp != FAULT_NONE && mode == FAULT_MODE_STOP)
		stall = (struct stall){.proc = proc, .fp = fp, .nth = nth};
	worker_start(&w);
	/* Relaxed: the stop flag is polled. */
	while (pf_load_relaxed(&sh->stop) == 0) {
		pf_member_heartbeat(w.m);
		pause_point(proc, w.m);
		/* Declared dead while alive: fenced out of all it held; leave and join again.
		 * Only a stalled worker, once stopped past the heartbeat timeout, may be (once);
		 * any other live, beating member judged dead is a supervisor's error. */
		if (!member_is_live(w.m)) {
			if (!stall_stopped())
				fail("worker %u: declared dead while alive and never stopped",
				     proc);
			else if (stall.fenced++ > 0)
				fail("worker %u: declared dead again after its stall", proc);
			/* Relaxed: statistics. */
			pf_fetch_add_relaxed(&sh->declared_dead, 1);
			while (w.n > 0)
				held_drop(&w, 0);
			if (pf_member_leave(w.m) != -ESTALE)
				fail("worker %u: leave after being declared dead is not -ESTALE",
				     proc);
			worker_start(&w);
			continue;
		}
		worker_step(&w);
	}
	for (uint32_t i = 0; i < w.n; i++)
		(void)commit(&w.held[i]);
	while (w.n > 0)
		held_drop(&w, 0);
	(void)pf_member_leave(w.m);
	_exit(0);
}

/* ---- sender --------------------------------------------------------------------- */

/* A previous sender died inside pf_send: its message may or may not be in the inbox. */
static void sender_resolve(void)
{
	/* [A23] pairs with [R23] in sender_main(): the dead sender's books are complete. */
	uint64_t x = pf_load_acquire(&sh->inflight);
	uint32_t v, n;
	uint64_t seq;

	if (x == 0)
		return;
	v = (uint32_t)(x >> 32) - 1;
	seq = x & UINT32_MAX;
	/* Relaxed: we are the only sender now. */
	if (v < VNODES && pf_load_relaxed(&sh->sent_hi[v]) < seq) {
		n = pf_load_relaxed(&sh->unsure_n);
		if (n < UNSURE_MAX) {
			/* Relaxed: the only writer; read after the sender exits. */
			pf_store_relaxed(&sh->unsure[n], (uint64_t)v << 32 | seq);
			pf_store_relaxed(&sh->unsure_n, n + 1);
		}
		/* Relaxed: the only writer. */
		pf_store_relaxed(&sh->sent_hi[v], seq);
	}
	/* Relaxed: the only writer. */
	pf_store_relaxed(&sh->inflight, 0);
}

static _Noreturn void sender_main(enum fault_point fp, uint64_t nth)
{
	struct pf_domain *d;
	uint32_t sent = 0;

	if (pf_domain_open(dom_name, &d) < 0)
		_exit(10);
	sender_resolve();
	if (fp != FAULT_NONE)
		fault_arm(fp, nth, FAULT_MODE_KILL);
	/* Relaxed: the stop flag is polled. */
	while (pf_load_relaxed(&sh->send_stop) == 0) {
		uint32_t v = (uint32_t)rnd_below(VNODES);
		struct msg m = {.vnode = v};
		int r;

		pause_point(SENDER, NULL);
		/* Relaxed: the only writer of sent_hi. */
		m.seq = pf_load_relaxed(&sh->sent_hi[v]) + 1;
		m.sum = msg_sum(&m);
		/* [R23] pairs with [A23] in sender_resolve(): in flight before the send. */
		pf_store_release(&sh->inflight, (uint64_t)(v + 1) << 32 | m.seq);
		r = pf_send(d, v, &m, sizeof(m));
		if (r == 0)
			/* [R23] again: the count is stored before in-flight is cleared. */
			pf_store_release(&sh->sent_hi[v], m.seq);
		/* [R23] again: cleared after the books. */
		pf_store_release(&sh->inflight, 0);
		if (r == 0) {
			/* Relaxed: statistics. */
			pf_fetch_add_relaxed(&sh->sends, 1);
		} else if (r == -EAGAIN) {
			/* Relaxed: statistics. */
			pf_fetch_add_relaxed(&sh->inbox_full, 1);
		} else {
			fail("send to %u returns %d", v, r);
		}
		if (++sent % 16 == 0)
			(void)usleep(200);
	}
	_exit(0);
}

/* ---- supervisor process ---------------------------------------------------------- */

static _Noreturn void supervisor_main(enum fault_point fp, uint64_t nth)
{
	struct pf_supervisor *s;
	struct pf_domain *d;

	if (pf_domain_open(dom_name, &d) < 0)
		_exit(10);
	if (fp != FAULT_NONE)
		fault_arm(fp, nth, FAULT_MODE_KILL);
	if (pf_supervisor_create(d, NULL, &s) < 0 || pf_supervisor_start(s) < 0)
		_exit(13);
	/* Relaxed: the stop flag is polled. */
	while (pf_load_relaxed(&sh->stop) == 0) {
		pause_point(SUPERVISOR, NULL);
		(void)usleep(2000);
	}
	pf_supervisor_destroy(s);
	_exit(0);
}

/* ---- parent: processes ---------------------------------------------------------- */

struct proc {
	pid_t pid;
	enum fault_point fp;
	int killed_by_us;
};

static struct proc procs[PROCS];
static uint64_t kills, fault_kills, fault_kills_by_point[FAULT_POINT_COUNT];
static uint64_t worker_deaths_other, stalls, stalls_by_point[FAULT_POINT_COUNT];
static uint64_t stall_tries, stall_misses; /* rounds run; those whose worker never stopped */
static int stall_rounds;                   /* root: children can be given uids */

static const enum fault_point worker_points[] = {
	FAULT_JOIN_TAKEN,          FAULT_JOIN_AFTER_SLOT,     FAULT_JOIN_AFTER_IDENTITY,
	FAULT_JOIN_AFTER_FUTEX,    FAULT_JOIN_BEFORE_ACTIVE,  FAULT_JOIN_AFTER_ACTIVE,
	FAULT_CLAIM_AFTER_POP,     FAULT_CLAIM_AFTER_CAS,     FAULT_CLAIM_AFTER_SEAL,
	FAULT_CKPT_MID_COPY,       FAULT_CKPT_BEFORE_PUBLISH, FAULT_CKPT_AFTER_PUBLISH,
	FAULT_CKPT_MID_FREE,       FAULT_RECV_MID_COPY,       FAULT_RELEASE_AFTER_CKPT,
	FAULT_RELEASE_BEFORE_CAS,  FAULT_RELEASE_AFTER_CAS,   FAULT_REPAIR_MID_SCAN,
	FAULT_RING_ENQ_AFTER_SLOT, FAULT_RING_DEQ_AFTER_SLOT,
};
static const enum fault_point sender_points[] = {
	FAULT_SEND_AFTER_CLAIM,
	FAULT_SEND_MID_COPY,
	FAULT_SEND_BEFORE_PUBLISH,
};
static const char *const point_names[FAULT_POINT_COUNT] = {
#define NAME(id, name) [FAULT_##id] = name,
	PF_FAULT_POINTS(NAME)
#undef NAME
};

/* The n-th hit to die on: early for points hit once per life, later for busy ones. */
static uint64_t nth_for(enum fault_point fp)
{
	switch (fp) {
	case FAULT_JOIN_TAKEN:
	case FAULT_JOIN_AFTER_SLOT:
	case FAULT_JOIN_AFTER_IDENTITY:
	case FAULT_JOIN_AFTER_FUTEX:
	case FAULT_JOIN_BEFORE_ACTIVE:
	case FAULT_JOIN_AFTER_ACTIVE:
	case FAULT_REPAIR_MID_SCAN:
		return 1 + rnd_below(2);
	case FAULT_RELEASE_AFTER_CKPT:
	case FAULT_RELEASE_BEFORE_CAS:
	case FAULT_RELEASE_AFTER_CAS:
		return 1 + rnd_below(3);
	case FAULT_SEND_AFTER_CLAIM:
	case FAULT_SEND_MID_COPY:
	case FAULT_SEND_BEFORE_PUBLISH:
		return 1 + rnd_below(2000);
	default:
		return 1 + rnd_below(60);
	}
}

/* A child drops root for uid: CHILD_UID, or for stalled worker i STALL_UID - i. The
 * supervisors, in the other children, then may kill hung children but not a stalled one:
 * not even one stalled earlier, which works on as an ordinary worker with its own uid. */
static void child_identity(uid_t uid)
{
	if (!stall_rounds)
		return;
	if (setgroups(0, NULL) != 0 || setgid(SHARED_GID) != 0 || setuid(uid) != 0) {
		perror("dropping root");
		_exit(14);
	}
}

static const enum fault_point stall_points[] = {
	FAULT_CKPT_BEFORE_COPY,
	FAULT_CKPT_MID_COPY,
	FAULT_CKPT_BEFORE_PUBLISH,
};

/* Start worker i as STALL_UID - i, armed to SIGSTOP itself inside a commit. */
static void spawn_stalled(uint32_t i, enum fault_point fp)
{
	uint64_t nth = 1 + rnd_below(8), seed = rnd() | 1;
	pid_t pid;

	/* Relaxed: the child starts after fork(), which orders these. */
	pf_store_relaxed(&sh->stall_commit[i], 0);
	pf_store_relaxed(&sh->stall_sealed[i], 0);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		exit(1);
	}
	if (pid == 0) {
		rng_state = seed;
		child_identity(STALL_UID - i);
		worker_main(i, fp, nth, FAULT_MODE_STOP);
	}
	procs[i].pid = pid;
	procs[i].fp = FAULT_NONE;
	procs[i].killed_by_us = 0;
}

static void spawn(uint32_t i, int arm)
{
	enum fault_point fp = FAULT_NONE;
	uint64_t nth = 0, seed;
	pid_t pid;

	if (arm && i == SENDER)
		fp = sender_points[rnd_below(PF_ARRAY_SIZE(sender_points))];
	else if (arm && i == SUPERVISOR)
		fp = FAULT_REPAIR_MID_SCAN;
	else if (arm)
		fp = worker_points[rnd_below(PF_ARRAY_SIZE(worker_points))];
	if (fp != FAULT_NONE)
		nth = nth_for(fp);
	seed = rnd() | 1;
	pid = fork();
	if (pid < 0) {
		perror("fork");
		exit(1);
	}
	if (pid == 0) {
		rng_state = seed;
		child_identity(CHILD_UID);
		if (i == SENDER)
			sender_main(fp, nth);
		if (i == SUPERVISOR)
			supervisor_main(fp, nth);
		worker_main(i, fp, nth, FAULT_MODE_KILL);
	}
	procs[i].pid = pid;
	procs[i].fp = fp;
	procs[i].killed_by_us = 0;
}

/* Account for a child that ended, and start its successor. */
static void ended(uint32_t i, int status)
{
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
		kills++;
		if (!procs[i].killed_by_us && procs[i].fp != FAULT_NONE) {
			fault_kills++;
			fault_kills_by_point[procs[i].fp]++;
		} else if (!procs[i].killed_by_us) {
			worker_deaths_other++; /* a supervisor killed it as hung */
		}
	} else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fail("child %u (pid %d) ended with status %#x", i, (int)procs[i].pid, status);
	}
	procs[i].pid = 0;
}

static void reap(int restart)
{
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG | WUNTRACED);

		if (pid <= 0)
			return;
		if (WIFSTOPPED(status)) {
			/* A stalled worker that stopped after its round gave up waiting. */
			(void)kill(pid, SIGCONT);
			continue;
		}
		for (uint32_t i = 0; i < PROCS; i++) {
			if (procs[i].pid != pid)
				continue;
			ended(i, status);
			if (restart)
				spawn(i, rnd_below(100) < 60);
		}
	}
}

static void kill_one(void)
{
	uint64_t pick = rnd_below(16);
	uint32_t i = pick == 0 ? SUPERVISOR : pick < 3 ? SENDER : (uint32_t)rnd_below(WORKERS);
	int status;

	if (procs[i].pid == 0)
		return;
	procs[i].killed_by_us = 1;
	(void)kill(procs[i].pid, SIGKILL);
	if (waitpid(procs[i].pid, &status, 0) == procs[i].pid) {
		ended(i, status);
		spawn(i, rnd_below(100) < 60);
	}
}

/* Pause every child at the top of its loop; returns once all live ones acknowledged. */
static void pause_all(void)
{
	/* Relaxed: only the parent writes pause. */
	uint32_t p = pf_load_relaxed(&sh->pause) + 1;
	uint64_t deadline = now_ns() + UINT64_C(5000000000);

	/* [R20] pairs with [A20] in pause_point(). */
	pf_store_release(&sh->pause, p);
	for (;;) {
		uint32_t waiting = 0;

		reap(0);
		for (uint32_t i = 0; i < PROCS; i++)
			/* [A21] pairs with [R21] in pause_point(). */
			if (procs[i].pid != 0 && pf_load_acquire(&sh->ack[i]) != p)
				waiting++;
		if (waiting == 0)
			return;
		if (now_ns() > deadline) {
			for (uint32_t i = 0; i < PROCS; i++)
				/* [A21] pairs with [R21] in pause_point(). */
				if (procs[i].pid != 0 && pf_load_acquire(&sh->ack[i]) != p)
					printf("  pause: child %u (pid %d, fault %s) did not "
					       "stop\n",
					       i, (int)procs[i].pid,
					       procs[i].fp == FAULT_NONE
						       ? "none"
						       : point_names[procs[i].fp]);
			return;
		}
		(void)usleep(200);
	}
}

static void resume_all(void)
{
	/* [R20] pairs with [A20] in pause_point(). Relaxed load: only we write it. */
	pf_store_release(&sh->pause, pf_load_relaxed(&sh->pause) + 1);
	/* Children that died while paused come back now. */
	for (uint32_t i = 0; i < PROCS; i++)
		if (procs[i].pid == 0)
			spawn(i, rnd_below(100) < 60);
}

/* Step a supervisor until every dead member is repaired (or 3 s pass). */
static void wait_repaired(struct pf_domain *d, struct pf_supervisor *step)
{
	uint64_t deadline = now_ns() + UINT64_C(3000000000);

	do {
		(void)pf_supervisor_check(step);
		if (invariants_repaired(d))
			return;
		(void)usleep(1000);
	} while (now_ns() < deadline);
	printf("  repair: not finished after 3 s\n");
}

static int check_now(struct pf_domain *d, struct pf_supervisor *step, const char *when)
{
	struct invariants_report rep = {.state_check = state_check_cb};

	wait_repaired(d, step);
	if (invariants_check(d, &rep) == 0)
		return 0;
	fail("invariants (%s, after %llu kills): %u violations, first: %s", when,
	     (unsigned long long)kills, rep.violations, rep.first);
	return -1;
}

/* ---- parent: the end ------------------------------------------------------------ */

static int unsure_has(uint32_t v, uint64_t seq)
{
	/* Relaxed: the sender has exited. */
	uint32_t n = PF_MIN(pf_load_relaxed(&sh->unsure_n), UNSURE_MAX);

	for (uint32_t i = 0; i < n; i++)
		/* Relaxed: as above. */
		if (pf_load_relaxed(&sh->unsure[i]) == ((uint64_t)v << 32 | seq))
			return 1;
	return 0;
}

static uint32_t unsure_count(uint32_t v, uint64_t upto)
{
	/* Relaxed: the sender has exited. */
	uint32_t n = PF_MIN(pf_load_relaxed(&sh->unsure_n), UNSURE_MAX), c = 0;

	for (uint32_t i = 0; i < n; i++) {
		/* Relaxed: as above. */
		uint64_t x = pf_load_relaxed(&sh->unsure[i]);

		c += (uint32_t)(x >> 32) == v && (x & UINT32_MAX) <= upto;
	}
	return c;
}

/* The highest sequence of v that was certainly sent. */
static uint64_t sure_max(uint32_t v)
{
	/* Relaxed: the sender has exited. */
	uint64_t s = pf_load_relaxed(&sh->sent_hi[v]);

	while (s > 0 && unsure_has(v, s))
		s--;
	return s;
}

static int read_state(struct pf_domain *d, uint32_t v, struct state *st)
{
	size_t len = 0;
	int r;

	memset(st, 0, sizeof(*st));
	for (int i = 0; i < 16; i++) {
		r = pf_checkpoint_read(d, v, st, sizeof(*st), &len, NULL);
		if (r != -EBUSY)
			break;
	}
	if (r == -ENOENT) {
		st->vnode = v;
		return 0;
	}
	return r;
}

static void vnode_where(struct pf_domain *d, uint32_t v);

/* Drain: every message certainly sent is applied and committed (or 30 s pass; then where
 * each VNode still behind stands, while its owner may still be there to be seen). */
static void wait_drained(struct pf_domain *d)
{
	uint64_t deadline = now_ns() + UINT64_C(30000000000);

	while (now_ns() < deadline) {
		uint32_t behind = 0;
		struct state st;

		reap(1);
		for (uint32_t v = 0; v < VNODES; v++)
			if (read_state(d, v, &st) < 0 || st.last_seq < sure_max(v))
				behind++;
		if (behind == 0)
			return;
		(void)usleep(20000);
	}
	for (uint32_t v = 0; v < VNODES; v++) {
		struct state st;

		if (read_state(d, v, &st) < 0 || st.last_seq < sure_max(v))
			vnode_where(d, v);
	}
}

/* Where VNode v stands, for a failure message: its state, owner and that member's state,
 * epoch, commits and inbox depth (a VNode stranded with a full inbox reads as messages
 * behind, as a lost one does). */
static void vnode_where(struct pf_domain *d, uint32_t v)
{
	struct pf_vnode_info vi = {.size = sizeof(vi)};
	struct pf_member_info mi = {.size = sizeof(mi)};
	int r = pf_vnode_info(d, v, &vi);

	if (r < 0) {
		printf("  vnode %u: info %d\n", v, r);
		return;
	}
	if (pf_member_info(d, vi.owner_slot, &mi) < 0)
		mi.state = UINT32_MAX;
	printf("  vnode %u: %s, owner slot %u gen %u (member %s, gen %u), epoch %llu, %llu "
	       "commits, inbox %llu, pending reason %u\n",
	       v, pf_vnode_state_name(vi.state) ? pf_vnode_state_name(vi.state) : "?",
	       vi.owner_slot, vi.owner_generation,
	       pf_member_state_name(mi.state) ? pf_member_state_name(mi.state) : "?", mi.generation,
	       (unsigned long long)vi.epoch, (unsigned long long)vi.checkpoint_seq,
	       (unsigned long long)vi.inbox_depth, vi.pending_reason);
	if (vi.state == PF_VNODE_ACTIVE && vi.owner_slot < MEMBERS) {
		uint32_t words = 0;

		for (uint32_t u = 0; u < VNODES; u++) {
			/* Relaxed: a diagnostic snapshot. */
			uint64_t x = pf_load_relaxed(&d->own[u]);

			words += own_is_owned(x) && own_slot(x) == vi.owner_slot &&
				 own_gen(x) == (vi.owner_generation & OWN_GEN_MASK);
		}
		/* Relaxed: as above. */
		printf("  owner: %u handles, %u ownership words, %u in its assignment ring\n",
		       pf_load_relaxed(&d->members[vi.owner_slot].vnodes_owned), words,
		       ring_mpmc_count(assign_ring(d, vi.owner_slot)));
	}
	{
		/* Relaxed: a diagnostic snapshot. */
		uint64_t pos = pf_load_relaxed(&d->vnodes[v].pending_pos);
		uint64_t sweep = pf_load_relaxed(&d->ctl->sweep_time_ns);
		uint64_t lease = pf_load_relaxed(&d->ctl->place_lease);

		printf("  vnode %u: pending_pos %#llx (consumed %d), pending ring %u, last sweep "
		       "%.3f s ago, lease %#llx, pending version %u\n",
		       v, (unsigned long long)pos,
		       pos == PENDING_POS_NONE ? -1 : (int)ring_mpmc_consumed(&d->pending, pos),
		       ring_mpmc_count(&d->pending), (double)(now_ns() - sweep) / 1e9,
		       (unsigned long long)lease, pf_load_relaxed(&d->ctl->pending_version));
		{ /* the queue around its head, and the VNode's own entry */
			const struct ring_mpmc_view *rg = &d->pending;
			const _Atomic uint64_t *slot = (const _Atomic uint64_t *)(rg->ring + 1);
			/* Relaxed: as above. */
			uint64_t hd = pf_load_relaxed(&rg->ring->head);
			/* Relaxed: as above. */
			uint64_t tl = pf_load_relaxed(&rg->ring->tail);

			printf("  ring: head %#llx tail %#llx order %u mask %#x\n",
			       (unsigned long long)hd, (unsigned long long)tl, rg->order, rg->mask);
			for (uint64_t q = hd - 2; q != hd + 6; q++) {
				/* Relaxed: as above. */
				uint64_t sw = pf_load_relaxed(&slot[q & rg->mask]);

				printf("    pos %#llx: seq %#x (empty lap %#llx) value %u\n",
				       (unsigned long long)q, (uint32_t)(sw >> 32),
				       (unsigned long long)((q >> rg->order) << 1), (uint32_t)sw);
			}
			if (pos != PENDING_POS_NONE) {
				/* Relaxed: as above. */
				uint64_t sw = pf_load_relaxed(&slot[pos & rg->mask]);

				printf("    own pos %#llx: seq %#x (empty lap %#llx) value %u\n",
				       (unsigned long long)pos, (uint32_t)(sw >> 32),
				       (unsigned long long)((pos >> rg->order) << 1), (uint32_t)sw);
			}
		}
	}
}

/* Exactly-once per VNode against the sender's books. */
static void check_exactly_once(struct pf_domain *d)
{
	/* Relaxed: every child has exited. */
	uint32_t gaps = PF_MIN(pf_load_relaxed(&sh->gaps_n), GAPS_MAX);

	for (uint32_t v = 0; v < VNODES; v++) {
		struct state st;
		/* Relaxed: as above. */
		uint64_t hi = pf_load_relaxed(&sh->sent_hi[v]);
		uint32_t unsure = unsure_count(v, hi);

		if (read_state(d, v, &st) < 0) {
			fail("vnode %u: final checkpoint unreadable", v);
			continue;
		}
		if (st.last_seq < sure_max(v) || st.last_seq > hi) {
			fail("vnode %u: lost messages: last applied %llu, sent %llu (%u unsure)", v,
			     (unsigned long long)st.last_seq, (unsigned long long)hi, unsure);
			vnode_where(d, v);
		} else if (st.counter + unsure < hi || st.counter > hi)
			fail("vnode %u: applied %llu, sent %llu of which %u unsure", v,
			     (unsigned long long)st.counter, (unsigned long long)hi, unsure);
		else if (st.last_seq - st.counter > unsure_count(v, st.last_seq))
			fail("vnode %u: %llu messages below %llu missing, only %u unsure", v,
			     (unsigned long long)(st.last_seq - st.counter),
			     (unsigned long long)st.last_seq, unsure_count(v, st.last_seq));
	}
	for (uint32_t i = 0; i < gaps; i++) {
		/* Relaxed: as above. */
		uint32_t v = (uint32_t)pf_load_relaxed(&sh->gaps[i].vnode);
		uint64_t from = pf_load_relaxed(&sh->gaps[i].from);
		uint64_t to = pf_load_relaxed(&sh->gaps[i].to);

		for (uint64_t s = from + 1; s < to; s++)
			if (!unsure_has(v, s))
				fail("vnode %u: seq %llu skipped but was certainly sent", v,
				     (unsigned long long)s);
	}
}

/* A fresh member claims every PENDING VNode, drains it, and proves its inbox still takes
 * a message; then members_max members join at once (no slot leaked). */
static void check_claim_all(struct pf_domain *d, struct pf_supervisor *step)
{
	static struct pf_vnode *hs[VNODES];
	struct pf_member *ms[MEMBERS];
	struct pf_member *m;
	uint32_t n = 0;
	uint64_t deadline = now_ns() + UINT64_C(3000000000);

	if (pf_member_join(d, NULL, &m) < 0) {
		fail("fresh member cannot join");
		return;
	}
	while (n < VNODES && now_ns() < deadline) {
		if (pf_vnode_claim(m, PF_CLAIM_NOWAIT, 0, &hs[n]) == 0) {
			n++;
			continue;
		}
		(void)pf_supervisor_check(step); /* the sweep re-queues lost entries */
		(void)usleep(5000);
	}
	if (n != VNODES)
		fail("fresh member claimed %u of %u PENDING VNodes", n, VNODES);
	for (uint32_t i = 0; i < n; i++) {
		struct held o = {.h = hs[i], .id = pf_vnode_id(hs[i])};
		struct msg msg = {.vnode = o.id};
		size_t len = 0;
		int r;

		o.epoch = (uint32_t)pf_vnode_epoch(hs[i]);
		r = pf_checkpoint_load(hs[i], &o.st, sizeof(o.st), &len);
		if (r == -ENOENT)
			o.st.vnode = o.id;
		else if (r < 0)
			fail("vnode %u: final load returns %d", o.id, r);
		while (pf_recv(hs[i], &msg, sizeof(msg), &len) == 0)
			apply(&o, &msg, len); /* only unsure messages may still arrive */
		msg.vnode = o.id;
		msg.seq = o.st.last_seq + 1;
		msg.sum = msg_sum(&msg);
		/* Relaxed: the sender has exited; these books are ours now. */
		pf_store_relaxed(&sh->sent_hi[o.id], msg.seq);
		r = pf_send(d, o.id, &msg, sizeof(msg));
		if (r != 0)
			fail("stuck inbox: vnode %u refuses a send after draining (%d)", o.id, r);
		r = pf_recv(hs[i], &msg, sizeof(msg), &len);
		if (r != 0)
			fail("stuck inbox: vnode %u does not yield its message (%d)", o.id, r);
		else
			apply(&o, &msg, len);
		if (commit(&o) != 0)
			fail("vnode %u: final commit refused", o.id);
		(void)pf_vnode_release(hs[i]);
	}
	(void)pf_member_leave(m);
	(void)usleep((useconds_t)(2 * GRACE_NS / 1000));
	for (uint32_t i = 0; i < MEMBERS; i++) {
		int r = pf_member_join(d, NULL, &ms[i]);

		if (r < 0) {
			fail("leaked slot: join %u of %u returns %d", i + 1, MEMBERS, r);
			for (uint32_t j = 0; j < i; j++)
				(void)pf_member_leave(ms[j]);
			return;
		}
	}
	for (uint32_t i = 0; i < MEMBERS; i++)
		(void)pf_member_leave(ms[i]);
}

/* ---- parent: main --------------------------------------------------------------- */

static int domain_setup(struct pf_domain **ret)
{
	struct pf_domain_opts o;
	int r;

	test_domain_name(dom_name, sizeof(dom_name), "crash");
	pf_domain_opts_init(&o);
	o.flags = PF_DOMAIN_REPLACE;
	o.members_max = MEMBERS;
	o.vnodes_max = VNODES;
	o.caps_max = 4;
	o.inbox_slots = INBOX_SLOTS;
	o.msg_bytes_max = sizeof(struct msg);
	o.state_bytes_max = 128;
	o.heartbeat_interval_ns = UINT64_C(20000000);
	o.heartbeat_misses = 10;
	o.slot_grace_ns = GRACE_NS;
	if (stall_rounds)
		o.gid = SHARED_GID;
	r = pf_domain_create(dom_name, &o, ret);
	if (r < 0)
		return r;
	r = pf_vnode_define_range(*ret, 0, VNODES, NULL);
	return r == (int)VNODES ? 0 : -EPROTO;
}

static uint64_t kills_target(int argc, char **argv)
{
	const char *s = argc > 1 ? argv[1] : getenv("PF_CRASH_KILLS");
	char *end;
	unsigned long long v;

	if (s == NULL)
		return KILLS_DEFAULT;
	errno = 0;
	v = strtoull(s, &end, 10);
	return errno != 0 || *end != '\0' || v == 0 ? KILLS_DEFAULT : v;
}

static void seed_init(void)
{
	const char *s = getenv("PF_CRASH_SEED");

	rng_state = s != NULL ? strtoull(s, NULL, 10) : (now_ns() ^ (uint64_t)getpid());
	if (rng_state == 0)
		rng_state = 1;
	printf("test_crash_kill: seed %llu (PF_CRASH_SEED to replay)\n",
	       (unsigned long long)rng_state);
}

/* Sleep while stepping the parent's supervisor, as a supervisor thread would. */
static void sleep_stepping(struct pf_supervisor *step, uint64_t us)
{
	uint64_t end = now_ns() + us * 1000;

	while (now_ns() < end) {
		(void)pf_supervisor_check(step);
		(void)usleep(2000);
	}
}

/*
 * Wait (3 s at most) until the checkpoint descriptor of the VNode that stalled worker i
 * stopped committing carries an epoch newer than that commit's: from then on its
 * publishing CAS, which expects its own epoch, cannot succeed (core/ownership.c). The
 * member's repair seals it, but a repair that is still running, or whose release CAS is
 * done and its seal not yet, leaves the old epoch there, and then the stale commit may
 * still publish (harmlessly: no newer owner has loaded yet). 1 once sealed.
 */
static int stall_wait_sealed(struct pf_domain *d, uint32_t i)
{
	/* Relaxed: stored before it stopped, which waitpid() told us. */
	uint64_t at = pf_load_relaxed(&sh->stall_commit[i]), deadline;
	uint32_t id = (uint32_t)(at >> 32), epoch = (uint32_t)at;

	if (id >= VNODES) {
		fail("stalled worker %u: stopped in a commit of vnode %u", i, id);
		return 0;
	}
	for (deadline = now_ns() + UINT64_C(3000000000);; (void)usleep(2000)) {
		/* Relaxed: a look; kill(SIGCONT) orders it before the worker's publishing CAS,
		 * which then reads this value or a later one (the epoch only grows). */
		uint64_t c = pf_load_relaxed(&d->vnodes[id].ckpt);

		if ((int32_t)(ckpt_epoch(c) - epoch) > 0)
			return 1;
		if (now_ns() >= deadline) {
			fail("stalled worker %u: 3 s after its death, the descriptor of vnode %u "
			     "is still at epoch %u, that of its commit",
			     i, id, ckpt_epoch(c));
			return 0;
		}
	}
}

/* Wait (3 s at most) until continued stalled worker i has checked its sealed-out commit's
 * result, so that no later round kills it first. */
static void stall_wait_checked(uint32_t i)
{
	uint64_t deadline = now_ns() + UINT64_C(3000000000);
	int status;

	/* [A25] pairs with [R25] in stall_commit_check(). */
	while (pf_load_acquire(&sh->stall_sealed[i]) == STALL_SEALED) {
		if (waitpid(procs[i].pid, &status, WNOHANG) == procs[i].pid) {
			fail("stalled worker %u ended (status %#x) before its commit returned", i,
			     status);
			ended(i, status);
			spawn(i, 0);
			return;
		}
		if (now_ns() >= deadline) {
			fail("stalled worker %u: its commit did not return within 3 s", i);
			return;
		}
		(void)usleep(1000);
	}
}

/*
 * Restart a worker that SIGSTOPs itself inside a commit; once stopped, let the others
 * declare it hung (they may not kill it: another uid) and take its VNodes, then continue
 * it, its commit sealed out. The parent does not step its own supervisor meanwhile: as
 * root it could kill it.
 */
static void stall_round(struct pf_domain *d)
{
	uint32_t i = (uint32_t)rnd_below(WORKERS);
	enum fault_point fp = stall_points[rnd_below(PF_ARRAY_SIZE(stall_points))];
	uint64_t deadline, member;
	int status;

	if (procs[i].pid == 0)
		return;
	stall_tries++;
	procs[i].killed_by_us = 1;
	(void)kill(procs[i].pid, SIGKILL);
	if (waitpid(procs[i].pid, &status, 0) == procs[i].pid)
		ended(i, status);
	/* Relaxed: written by the new child once joined. */
	pf_store_relaxed(&sh->member_of[i], 0);
	spawn_stalled(i, fp);
	for (deadline = now_ns() + UINT64_C(3000000000); now_ns() < deadline;) {
		pid_t r = waitpid(procs[i].pid, &status, WNOHANG | WUNTRACED);

		if (r == procs[i].pid && WIFSTOPPED(status))
			break;
		if (r == procs[i].pid) {
			ended(i, status);
			spawn(i, 0);
			return;
		}
		(void)usleep(1000);
	}
	if (now_ns() >= deadline) {
		stall_misses++; /* it did not commit that often: a plain worker from now on */
		return;
	}
	/* Relaxed: written before it committed. */
	member = pf_load_relaxed(&sh->member_of[i]);
	for (deadline = now_ns() + UINT64_C(3000000000);
	     now_ns() < deadline && test_member_state(d, member) != PF_MEMBER_DEAD;)
		(void)usleep(2000);
	if (test_member_state(d, member) != PF_MEMBER_DEAD)
		fail("stalled worker %u: not declared hung after 3 s", i);
	else if (stall_wait_sealed(d, i))
		/* [R24] pairs with [A24] in stall_commit_check(): before the SIGCONT below. */
		pf_store_release(&sh->stall_sealed[i], STALL_SEALED);
	(void)usleep(20000 + (useconds_t)rnd_below(50000)); /* others commit over its VNodes */
	stalls++;
	stalls_by_point[fp]++;
	(void)kill(procs[i].pid, SIGCONT);
	stall_wait_checked(i);
}

static void kill_rounds(struct pf_domain *d, struct pf_supervisor *step, uint64_t target,
			uint64_t start)
{
	uint64_t round = 0;

	/* Relaxed: our own failure count. */
	while (kills < target && pf_load_relaxed(&sh->failures) == 0) {
		if (target <= KILLS_DEFAULT && elapsed_s(start) > TIME_CAP_S)
			break;
		sleep_stepping(step, 10000 + rnd_below(50000));
		reap(1);
		if (stall_rounds && round % STALL_EVERY == STALL_EVERY - 1)
			stall_round(d);
		else
			kill_one();
		if (++round % 2 == 0) {
			pause_all();
			(void)check_now(d, step, "periodic");
			resume_all();
		}
		if (round % 50 == 0)
			printf("  %.1f s: %llu kills (%llu by fault points)\n", elapsed_s(start),
			       (unsigned long long)kills, (unsigned long long)fault_kills);
	}
}

/* Wait for child pid to end, continuing it whenever it stops (a stalled worker): 1 when
 * it ended (*status), 0 when it stopped and was continued. */
static int wait_child(pid_t pid, int *status)
{
	if (waitpid(pid, status, WUNTRACED) != pid)
		return 0;
	if (WIFSTOPPED(*status)) {
		(void)kill(pid, SIGCONT);
		return 0;
	}
	return 1;
}

static void finish(struct pf_domain *d, struct pf_supervisor *step)
{
	int status;

	/* Relaxed: the sender polls it. */
	pf_store_relaxed(&sh->send_stop, 1);
	pf_store_relaxed(&sh->no_release, 1);
	while (procs[SENDER].pid != 0) {
		if (wait_child(procs[SENDER].pid, &status))
			ended(SENDER, status);
	}
	/* A sender killed last may have left its books open. */
	sender_resolve();
	wait_drained(d);
	/* Relaxed: the workers poll it. */
	pf_store_relaxed(&sh->stop, 1);
	for (uint32_t i = 0; i < PROCS; i++) {
		while (procs[i].pid != 0) {
			if (wait_child(procs[i].pid, &status))
				ended(i, status);
		}
	}
	(void)check_now(d, step, "final");
	check_exactly_once(d);
	check_claim_all(d, step);
	(void)check_now(d, step, "after claim-all");
}

static void report(uint64_t start)
{
	printf("test_crash_kill: %llu kills (%llu inside fault points, %llu hung-kills) in %.1f "
	       "s\n",
	       (unsigned long long)kills, (unsigned long long)fault_kills,
	       (unsigned long long)worker_deaths_other, elapsed_s(start));
	for (int p = 0; p < FAULT_POINT_COUNT; p++)
		if (fault_kills_by_point[p] > 0)
			printf("  %-22s %llu\n", point_names[p],
			       (unsigned long long)fault_kills_by_point[p]);
	if (!stall_rounds)
		printf("  stall rounds skipped: not root (children cannot be given uids)\n");
	else
		printf("  %llu workers stalled inside a commit, declared hung, sealed out, "
		       "continued (before copy %llu, mid-copy %llu, before publish %llu; %llu "
		       "resumed commits refused); %llu of %llu stall rounds gave up (no commit "
		       "stopped within 3 s)\n",
		       (unsigned long long)stalls,
		       (unsigned long long)stalls_by_point[FAULT_CKPT_BEFORE_COPY],
		       (unsigned long long)stalls_by_point[FAULT_CKPT_MID_COPY],
		       (unsigned long long)stalls_by_point[FAULT_CKPT_BEFORE_PUBLISH],
		       /* Relaxed: every child has exited. */
		       (unsigned long long)pf_load_relaxed(&sh->stall_refused),
		       (unsigned long long)stall_misses, (unsigned long long)stall_tries);
	/* Relaxed: every child has exited. */
	printf("  sends %llu (inbox full %llu, unsure %u), claims %llu, applied %llu, "
	       "commits %llu, releases %llu, stale %llu, join retries %llu (timeouts %llu), "
	       "declared dead while alive %llu\n",
	       (unsigned long long)pf_load_relaxed(&sh->sends),
	       (unsigned long long)pf_load_relaxed(&sh->inbox_full), pf_load_relaxed(&sh->unsure_n),
	       (unsigned long long)pf_load_relaxed(&sh->claims),
	       (unsigned long long)pf_load_relaxed(&sh->applied),
	       (unsigned long long)pf_load_relaxed(&sh->commits),
	       (unsigned long long)pf_load_relaxed(&sh->releases),
	       (unsigned long long)pf_load_relaxed(&sh->stale),
	       (unsigned long long)pf_load_relaxed(&sh->join_retries),
	       (unsigned long long)pf_load_relaxed(&sh->join_timeouts),
	       (unsigned long long)pf_load_relaxed(&sh->declared_dead));
}

int main(int argc, char **argv)
{
	struct pf_supervisor *step = NULL;
	uint64_t target = kills_target(argc, argv), start = now_ns();
	struct pf_domain *d;
	int r;

	setvbuf(stdout, NULL, _IOLBF, 0);
	seed_init();
	stall_rounds = geteuid() == 0;
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	r = domain_setup(&d);
	if (r < 0) {
		fprintf(stderr, "domain setup: %d\n", r);
		return 1;
	}
	if (pf_supervisor_create(d, NULL, &step) < 0) {
		fprintf(stderr, "supervisor setup failed\n");
		return 1;
	}
	for (uint32_t i = 0; i < PROCS; i++)
		spawn(i, 0);
	kill_rounds(d, step, target, start);
	finish(d, step);
	/* Fault points renamed or moved out of the commit would make every stall round an
	 * ordinary kill round, silently. */
	if (stall_tries > 0 && stalls == 0)
		fail("none of %llu stall rounds stopped a worker inside a commit",
		     (unsigned long long)stall_tries);
	pf_supervisor_destroy(step);
	report(start);
	(void)pf_domain_destroy(d);
	/* Relaxed: every child has exited. */
	if (pf_load_relaxed(&sh->failures) != 0 || kills < PF_MIN(target, 200)) {
		printf("test_crash_kill: FAIL: %s\n",
		       sh->fail_msg[0] != '\0' ? sh->fail_msg : "too few kills");
		return 1;
	}
	printf("test_crash_kill: PASS\n");
	return 0;
}

#endif /* PF_FAULT_INJECTION */
