/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_migrate_live.c: the pause and the downtime of a VNode that runs while it
 * moves between the two hosts (see bench_migrate.c for the lines).
 *
 * Each host has a serving member of the benchmark's own (a thread joined to the host's
 * domain): it claims the VNode as soon as the host's daemon places it, loads its state and
 * notes CLOCK_MONOTONIC when pf_checkpoint_load() returns, then applies the messages that
 * reach it (struct counter_msg of tools/examples/counter.h, numbered by the sender) and
 * commits the whole state after each batch; the downtime's member also rewrites a slice
 * of the state at a steady rate and commits it. A member that finds the VNode gone
 * (-ESTALE: its host stopped it for the move) releases its handle.
 *
 * What is measured: the time during which the VNode can neither receive nor apply a
 * message. It starts when the source's daemon stops it (its ownership word leaves ACTIVE
 * for LEAVING: from then on its owner's pf_recv() and commits fail) and ends when the
 * target's member has it and has loaded its state (it receives from the next call on).
 * Both hosts run on this machine, so CLOCK_MONOTONIC is shared. The end is exact (the
 * member notes it); the start is seen by the benchmark's main thread, which polls the
 * source's word (pf_vnode_owners, one VNode) every POLL_STOP_NS from the request on: the
 * stop lies between the last look that saw the VNode running and the first that did not.
 * The value reported is from that last look: an upper bound, at most one poll interval
 * (plus a wake-up) above the true pause; the lower bound goes to stderr. The same looks
 * (both hosts' words) time the steps in between: source REMOTE (the target prepared it,
 * the source committed), target PENDING (placeable), target ACTIVE (its member claimed
 * it). The daemon's own pause_us (stop -> target prepared) is reported beside it.
 *
 * Pause: a VNode of PAUSE_STATE_BYTES, PAUSE_MOVES moves alternating a->b, b->a, while a
 * sender process (forked) sends numbered messages every SEND_PERIOD_NS, always to host a
 * (forwarded while the VNode is on b). Between moves the benchmark waits until the new
 * owner has applied a message. At the end every message must have been applied exactly
 * once: the state keeps a bitmap of the numbers applied, so a message lost or applied
 * twice fails the run, and one applied after a later one is counted (reordered). Baseline:
 * a raw TCP exchange of the same state bytes there and 8 bytes back over the same path.
 *
 * Downtime: a VNode of DOWNTIME_STATE_BYTES whose owner rewrites DIRTY_BYTES (1%) every
 * DIRTY_PERIOD_NS (100 ms) and commits: 10% of its state per second. A commit copies the
 * whole state (64 MiB, pf_checkpoint_commit has no partial form), so a faster cadence of
 * smaller slices would cost the owner more than the move (1% every 10 ms would be 100% a
 * second, and 6.4 GB/s of commits). DOWNTIME_MOVES moves, 300 ms apart; the
 * vnode_emigrated records give the rounds and the bytes sent twice (bytes_sent -
 * state_bytes). Baseline: a raw TCP exchange of 64 KiB (one chunk) and 8 bytes back.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench_core.h"
#include "bench/bench_migrate.h"
#include "shm/pf_assert.h"
#include "tools/examples/counter.h" /* the message: struct counter_msg */

#define PAUSE_STATE_BYTES (64u << 10)
#define PAUSE_MOVES 1000u
#define SEND_PERIOD_NS 200000L /* the sender: 5,000 messages per second */
#define DOWNTIME_STATE_BYTES (64u << 20)
#define DOWNTIME_MOVES 6u
#define DIRTY_BYTES (DOWNTIME_STATE_BYTES / 100u)
#define DIRTY_PERIOD_NS 100000000ull
#define POLL_STOP_NS 50000L       /* the main thread's look at the source's word */
#define SERVE_WAIT_NS 20000000ull /* a member's wait when nothing comes */
#define RECV_BATCH 256u           /* messages applied before a commit */
#define EXCHANGE_ROUNDS 1000u
#define GOAL_PAUSE_P50_US 100.0
#define GOAL_PAUSE_P99_US 1000.0
#define GOAL_DOWNTIME_MS 10.0

/* The pause VNode's state: these counts at its start, then from SEEN_AT on a bitmap of the
 * sequence numbers applied, so that a message applied twice is told from one applied late
 * (after a later one: reordered). The downtime VNode rewrites only from DIRTY_AT on. */
struct live_state {
	uint64_t applied; /* messages applied, duplicates included */
	uint64_t last_seq;
	uint64_t duplicates; /* a sequence number applied before: applied twice */
	uint64_t late;       /* applied after a higher one: reordered */
	uint64_t malformed;
};
#define SEEN_AT 64u
#define DIRTY_AT PAUSE_STATE_BYTES
_Static_assert(sizeof(struct live_state) <= SEEN_AT, "counts before the bitmap");

/* A serving member on one host. Its thread writes the fields below mu; the main thread
 * reads them under mu. */
struct server {
	struct pf_domain *d;
	const char *host;
	size_t state_bytes;
	size_t dirty_bytes; /* 0: no rewriting */
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
	int error;          /* a negative errno that ended the thread, 0 */
	uint64_t loads;     /* VNodes claimed and loaded */
	uint64_t t_load_ns; /* the last load's return */
	uint64_t applied_since_load;
	uint64_t commits;
};

/* What the serving thread holds while it owns the VNode. */
struct owned {
	struct pf_vnode *v;
	uint64_t epoch;
	uint8_t *state;
	uint64_t next_dirty_ns;
	size_t dirty_at;
	int uncommitted; /* applied or rewritten since the last commit that went through */
};

static void fail_server(struct server *s, const char *what, int r)
{
	fprintf(stderr, "bench_migrate: member on %s: %s: %s\n", s->host, what, strerror(-r));
	pthread_mutex_lock(&s->mu);
	s->error = r;
	s->stop = 1;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* A VNode placed here: load its state (a fresh VNode starts at zero and commits it). */
static int adopt(struct server *s, struct owned *o, struct pf_vnode *v)
{
	size_t len = 0;
	uint64_t t;
	int r;

	o->v = v;
	o->epoch = pf_vnode_epoch(v);
	o->uncommitted = 0;
	r = pf_checkpoint_load(v, o->state, s->state_bytes, &len);
	t = bench_now_ns(); /* it can receive from here on */
	if (r == -ENOENT) {
		memset(o->state, 0, s->state_bytes);
		r = pf_checkpoint_commit(v, o->epoch, o->state, s->state_bytes);
	}
	if (r < 0)
		return r;
	pthread_mutex_lock(&s->mu);
	s->t_load_ns = t;
	s->loads++;
	s->applied_since_load = 0;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	o->next_dirty_ns = bench_now_ns() + DIRTY_PERIOD_NS;
	return 0;
}

/* Rewrite the next slice of the state when its time has come: 1 when it did. */
static int dirty(struct server *s, struct owned *o)
{
	uint64_t now = bench_now_ns();

	if (s->dirty_bytes == 0 || now < o->next_dirty_ns)
		return 0;
	if (o->dirty_at < DIRTY_AT || o->dirty_at + s->dirty_bytes > s->state_bytes)
		o->dirty_at = DIRTY_AT;
	memset(o->state + o->dirty_at, (int)(now & 0xff), s->dirty_bytes);
	o->dirty_at += s->dirty_bytes;
	o->next_dirty_ns = now + DIRTY_PERIOD_NS;
	return 1;
}

/* One numbered message onto the state. */
static void apply(struct live_state *st, uint8_t *seen, size_t seen_bytes,
		  const struct counter_msg *m)
{
	uint64_t bit = m->seq - 1;

	st->applied++;
	if (m->seq == 0 || bit / 8 >= seen_bytes) {
		st->malformed++;
		return;
	}
	if (seen[bit / 8] & (1u << (bit % 8)))
		st->duplicates++;
	seen[bit / 8] |= (uint8_t)(1u << (bit % 8));
	if (m->seq < st->last_seq)
		st->late++;
	else
		st->last_seq = m->seq;
}

/* Apply what waits, rewrite what is due, commit: 0, or -ESTALE when the VNode has gone. */
static int serve(struct server *s, struct owned *o)
{
	size_t seen_bytes = (s->state_bytes < DIRTY_AT ? s->state_bytes : DIRTY_AT) - SEEN_AT;
	struct live_state st;
	struct counter_msg msg;
	uint32_t applied = 0;
	size_t len = 0;
	int r = 0;

	memcpy(&st, o->state, sizeof(st));
	while (applied < RECV_BATCH && (r = pf_recv(o->v, &msg, sizeof(msg), &len)) == 0 &&
	       len == sizeof(msg)) {
		apply(&st, o->state + SEEN_AT, seen_bytes, &msg);
		applied++;
	}
	if (r < 0 && r != -EAGAIN)
		return r;
	memcpy(o->state, &st, sizeof(st));
	o->uncommitted |= dirty(s, o) || applied > 0;
	if (!o->uncommitted)
		return 0;
	r = pf_checkpoint_commit(o->v, o->epoch, o->state, s->state_bytes);
	o->uncommitted = r != 0;
	if (r == -ENOBUFS)
		r = 0; /* no free buffer this time (pflight/vnode.h): the next pass commits */
	pthread_mutex_lock(&s->mu);
	s->applied_since_load += applied;
	s->commits += r == 0;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int stopping(struct server *s)
{
	int stop;

	pthread_mutex_lock(&s->mu);
	stop = s->stop;
	pthread_mutex_unlock(&s->mu);
	return stop;
}

/* One pass: claim when nothing is held, else wait for work and serve. 0 or an error. */
static int pass(struct server *s, struct pf_member *m, struct owned *o)
{
	uint32_t ev = 0;
	int r;

	if (o->v == NULL) {
		struct pf_vnode *v = NULL;

		r = pf_vnode_claim(m, 0, SERVE_WAIT_NS, &v);
		if (r == -ETIMEDOUT)
			return 0;
		return r < 0 ? r : adopt(s, o, v);
	}
	r = pf_member_wait(m, s->dirty_bytes != 0 ? DIRTY_PERIOD_NS / 4 : SERVE_WAIT_NS, &ev);
	if (r < 0 && r != -ETIMEDOUT)
		return r;
	r = serve(s, o);
	if (r == -ESTALE) {
		(void)pf_vnode_release(o->v); /* stopped for the move: let the handle go */
		o->v = NULL;
		r = 0;
	}
	return r;
}

static void *server_main(void *arg)
{
	struct server *s = arg;
	struct owned o = {0};
	struct pf_member_opts opts;
	struct pf_member *m = NULL;
	int r;

	o.state = malloc(s->state_bytes);
	if (o.state == NULL) {
		fail_server(s, "state buffer", -ENOMEM);
		return NULL;
	}
	pf_member_opts_init(&opts);
	r = pf_member_join(s->d, &opts, &m);
	while (r == 0 && !stopping(s))
		r = pass(s, m, &o);
	if (r < 0)
		fail_server(s, "serving", r);
	if (m != NULL)
		(void)pf_member_leave(m); /* what it holds goes back PENDING with its state */
	free(o.state);
	return NULL;
}

static void server_start(struct server *s, struct bench_host *h, size_t state_bytes,
			 size_t dirty_bytes)
{
	memset(s, 0, sizeof(*s));
	s->d = h->d;
	s->host = h->name;
	s->state_bytes = state_bytes;
	s->dirty_bytes = dirty_bytes;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	bench_check(-pthread_create(&s->th, NULL, server_main, s), "pthread_create");
}

static void server_stop(struct server *s)
{
	pthread_mutex_lock(&s->mu);
	s->stop = 1;
	pthread_mutex_unlock(&s->mu);
	(void)pthread_join(s->th, NULL);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
}

/* Wait until s has loaded more than `loads` VNodes (and, when applied, applied a message
 * since): 0 with the load's time, or -ETIMEDOUT, or the member's error. */
static int server_wait(struct server *s, uint64_t loads, int applied, uint64_t timeout_ns,
		       uint64_t *ret_t_load)
{
	struct timespec until;
	int r = 0;

	(void)clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += (time_t)(timeout_ns / 1000000000ull);
	until.tv_nsec += (long)(timeout_ns % 1000000000ull);
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&s->mu);
	while (r == 0 && s->error == 0 &&
	       (s->loads <= loads || (applied && s->applied_since_load == 0)))
		r = -pthread_cond_timedwait(&s->cv, &s->mu, &until);
	if (ret_t_load != NULL)
		*ret_t_load = s->t_load_ns;
	r = s->error != 0 ? s->error : r;
	pthread_mutex_unlock(&s->mu);
	return r;
}

/* ---- the sender ------------------------------------------------------------------------ */

struct sender_shared {
	_Atomic uint32_t stop;
	uint32_t reserved;
	_Atomic uint64_t sent;
};

/* The forked sender: numbered counter messages to VNode id every SEND_PERIOD_NS, always to
 * host a, the VNode's first host: while the VNode is away its messages are forwarded, in
 * the order sent (a sender that switched hosts as the VNode moves could see its messages
 * overtake each other, which the runtime does not promise to prevent). */
static void sender_main(const struct bench_hosts *hs, uint32_t id, struct sender_shared *sh)
{
	const struct timespec period = {0, SEND_PERIOD_NS};
	struct pf_domain *d = NULL;
	uint64_t seq = 0;

	if (pf_domain_open(hs->h[0].domain, &d) < 0)
		_exit(1);
	/* Relaxed: a stop flag, polled; what the parent reads after it is ordered by our exit
	 * (waitpid). */
	while (pf_load_relaxed(&sh->stop) == 0) {
		struct counter_msg m = {.vnode = id, .seq = seq + 1, .inc = 1};
		int r = pf_send(d, id, &m, sizeof(m));

		if (r == 0) {
			seq++;
			pf_store_relaxed(&sh->sent, seq); /* Relaxed: read after our exit */
		} else if (r != -EAGAIN) {
			_exit(2);
		}
		(void)nanosleep(&period, NULL);
	}
	pf_domain_close(d);
	_exit(0);
}

static pid_t sender_start(const struct bench_hosts *hs, uint32_t id, struct sender_shared *sh)
{
	pid_t parent = getpid(), pid = fork();

	if (pid == 0) {
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
			_exit(126);
		sender_main(hs, id, sh);
	}
	bench_check(pid < 0 ? -errno : 0, "fork sender");
	return pid;
}

static uint64_t sender_stop(pid_t pid, struct sender_shared *sh)
{
	int status = 0;

	pf_store_relaxed(&sh->stop, 1); /* Relaxed: polled; the exit orders the rest */
	(void)waitpid(pid, &status, 0);
	bench_check(WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO, "sender");
	return pf_load_relaxed(&sh->sent); /* Relaxed: after waitpid */
}

/* ---- moves ---------------------------------------------------------------------------- */

struct live_run {
	struct mig_ctx *c;
	struct bench_hosts hs;
	struct server srv[2];
	int at; /* the host whose member serves the VNode now */
};

static struct live_run *running; /* whose members run: stopped first at exit */

static void servers_stop(struct live_run *lr)
{
	if (running != lr)
		return;
	running = NULL;
	for (int i = 0; i < 2; i++)
		server_stop(&lr->srv[i]);
}

/* At exit (a setup error): the members leave before their domains go (bench_hosts.c's
 * handler, registered before this one, runs after it). */
static void servers_stop_at_exit(void)
{
	if (running != NULL)
		servers_stop(running);
}

static void live_failed(struct live_run *lr, const char *what)
{
	bench_hosts_show_log(&lr->hs, 0);
	bench_hosts_show_log(&lr->hs, 1);
	bench_check(-EIO, what);
}

/* Instants of one move, CLOCK_MONOTONIC ns; 0: not seen (a state that lasted less than a
 * poll interval). */
struct move_times {
	uint64_t run;     /* the last look that saw the VNode running at the source (before it) */
	uint64_t stop;    /* the first look that saw it stopped there (after it) */
	uint64_t remote;  /* the source's word REMOTE: committed */
	uint64_t pending; /* the target's word PENDING: waiting for the placement */
	uint64_t owned;   /* the target's word ACTIVE: claimed by its member */
	uint64_t load;    /* the target's member has loaded the state (its own clock read) */
};

static void first_seen(uint64_t *t, int cond, uint64_t now)
{
	if (cond && *t == 0)
		*t = now;
}

/* Whether s has loaded more than `loads` VNodes (or failed); *ret_t the last load. */
static int loaded(struct server *s, uint64_t loads, uint64_t *ret_t)
{
	int r;

	pthread_mutex_lock(&s->mu);
	r = s->loads > loads || s->error != 0;
	*ret_t = s->t_load_ns;
	pthread_mutex_unlock(&s->mu);
	return r;
}

/* Poll both words from the request on (mt->run set to the request's instant) until the
 * target's member has loaded the VNode. */
static void watch_move(struct live_run *lr, int from, uint64_t loads, struct move_times *mt)
{
	struct server *dst = &lr->srv[1 - from];
	uint64_t deadline = mt->run + MIG_MOVE_TIMEOUT_NS;
	const struct timespec nap = {0, POLL_STOP_NS};

	for (;;) {
		struct pf_vnode_owner src, tgt;
		uint64_t before = bench_now_ns(), after;
		int r = pf_vnode_owners(lr->hs.h[from].d, 0, 1, &src);

		if (r == 1)
			r = pf_vnode_owners(lr->hs.h[1 - from].d, 0, 1, &tgt);
		after = bench_now_ns();
		if (r != 1)
			live_failed(lr, "pf_vnode_owners");
		if (mt->stop == 0 && src.state < PF_VNODE_LEAVING) {
			mt->run = before;
		} else if (src.state < PF_VNODE_LEAVING && tgt.state != PF_VNODE_ACTIVE) {
			live_failed(lr, "the move was rolled back (the daemons' logs say why)");
		} else {
			first_seen(&mt->stop, 1, after);
			first_seen(&mt->remote, src.state == PF_VNODE_REMOTE, after);
			first_seen(&mt->pending, tgt.state == PF_VNODE_PENDING, after);
			first_seen(&mt->owned, tgt.state == PF_VNODE_ACTIVE, after);
			if (loaded(dst, loads, &mt->load))
				return;
		}
		if (after > deadline)
			live_failed(lr, "the move did not end in time");
		(void)nanosleep(&nap, NULL);
	}
}

/* Move VNode 0 to the other host and time it (see struct move_times); with applied, also
 * wait until the new owner has applied a message. */
static void live_move(struct live_run *lr, int applied, struct move_times *mt)
{
	int from = lr->at, to = 1 - lr->at;
	struct server *dst = &lr->srv[to];
	char req[96], reply[PF_CONTROL_REPLY_MAX];
	uint64_t loads, t;

	pthread_mutex_lock(&dst->mu);
	loads = dst->loads;
	pthread_mutex_unlock(&dst->mu);
	(void)snprintf(req, sizeof(req), "migrate-host 0 %s", lr->hs.h[to].name);
	memset(mt, 0, sizeof(*mt));
	mt->run = bench_now_ns();
	if (bench_hosts_request(&lr->hs, from, req, reply, sizeof(reply)) < 0)
		live_failed(lr, reply);
	watch_move(lr, from, loads, mt);
	if (server_wait(dst, loads, applied, MIG_MOVE_TIMEOUT_NS, &t) < 0)
		live_failed(lr, "the target's member did not load the VNode in time");
	lr->at = to;
}

/* The watching thread (this one) as SCHED_FIFO while it watches, when allowed: it wakes on
 * time between the daemons' passes, so the stop's two bounds stay a poll interval apart. */
static int watch_priority(int on)
{
	struct sched_param sp = {.sched_priority = on ? 1 : 0};

	return -pthread_setschedparam(pthread_self(), on ? SCHED_FIFO : SCHED_OTHER, &sp);
}

static void live_start(struct live_run *lr, struct mig_ctx *c, const struct bench_hosts_cfg *cfg)
{
	memset(lr, 0, sizeof(*lr));
	lr->c = c;
	bench_hosts_start(&lr->hs, c->pflightd, c->ns, c->cpus, cfg);
	bench_check(pf_vnode_define(lr->hs.h[0].d, 0, NULL), "pf_vnode_define");
}

static void servers_start(struct live_run *lr, size_t state_bytes, size_t dirty_bytes)
{
	static int registered;

	if (!registered && atexit(servers_stop_at_exit) == 0)
		registered = 1;
	for (int i = 0; i < 2; i++)
		server_start(&lr->srv[i], &lr->hs.h[i], state_bytes, dirty_bytes);
	running = lr;
	if (server_wait(&lr->srv[0], 0, 0, MIG_MOVE_TIMEOUT_NS, NULL) < 0)
		live_failed(lr, "host-a's member did not take the VNode");
}

/* ---- audit records ----------------------------------------------------------------------- */

struct emigrated {
	uint32_t count, cap;
	double *pause_us, *rounds, *resent_bytes;
};

static int collect(json_t *details, void *arg)
{
	struct emigrated *e = arg;
	uint64_t sent = (uint64_t)json_integer_value(json_object_get(details, "bytes_sent"));
	uint64_t state = (uint64_t)json_integer_value(json_object_get(details, "state_bytes"));

	if (e->count == e->cap)
		return 0;
	e->pause_us[e->count] = (double)json_integer_value(json_object_get(details, "pause_us"));
	e->rounds[e->count] = (double)json_integer_value(json_object_get(details, "rounds"));
	e->resent_bytes[e->count] = sent > state ? (double)(sent - state) : 0;
	e->count++;
	return 0;
}

/* Every vnode_emigrated record of both hosts (waiting until moves of them are written). */
static void emigrated_read(struct live_run *lr, uint32_t moves, struct emigrated *e)
{
	int per[2] = {(int)(moves + 1) / 2, (int)moves / 2};

	e->cap = moves;
	e->count = 0;
	e->pause_us = calloc(moves, sizeof(double));
	e->rounds = calloc(moves, sizeof(double));
	e->resent_bytes = calloc(moves, sizeof(double));
	bench_check(e->pause_us && e->rounds && e->resent_bytes ? 0 : -ENOMEM, "records");
	for (int i = 0; i < 2; i++) {
		(void)bench_hosts_audit_wait(&lr->hs, i, "vnode_emigrated", per[i], 10000000000ull);
		(void)bench_hosts_audit_each(&lr->hs, i, "vnode_emigrated", collect, e);
	}
	if (e->count != moves)
		fprintf(stderr, "bench_migrate: %u vnode_emigrated records for %u moves\n",
			e->count, moves);
}

static void emigrated_free(struct emigrated *e)
{
	free(e->pause_us);
	free(e->rounds);
	free(e->resent_bytes);
}

/* ---- lines ------------------------------------------------------------------------------- */

struct dist_line {
	const char *subject;
	const char *unit;
	double value, value_min, value_max;
	const char *baseline; /* NULL: none */
	double baseline_value;
	double goal; /* on the value; 0: informational */
	uint64_t iterations;
	uint32_t elem_bytes;
	unsigned samples;
};

static void emit_dist(const struct mig_ctx *c, const struct dist_line *l)
{
	struct bench_result r = {
		.subject = l->subject,
		.metric = strcmp(l->unit, "us") == 0 || strcmp(l->unit, "ms") == 0 ? "latency"
										   : "count",
		.unit = l->unit,
		.value = l->value,
		.baseline = l->baseline,
		.baseline_value = l->baseline_value,
		.higher_is_better = false,
		.goal = l->goal,
		.goal_on_value = l->goal > 0,
		.iterations = l->iterations,
		.batch = 1,
		.elem_bytes = l->elem_bytes,
		.samples = l->samples,
		.value_min = l->value_min,
		.value_max = l->value_max,
	};

	mig_emit(c, &r);
}

/* The p-th percentile of v[0..n) (sorted in place), and its spread. */
static double pct(double *v, uint32_t n, double p)
{
	return n > 0 ? bench_percentile(v, n, p) : 0;
}

/* Wait until the owner's committed state shows every message sent; then count what was
 * lost, applied twice or reordered. */
static void check_delivery(struct live_run *lr, uint64_t sent)
{
	uint64_t deadline = bench_now_ns() + 10000000000ull;
	const struct timespec nap = {0, 2000000};
	struct live_state st = {0};
	uint8_t *buf = malloc(PAUSE_STATE_BYTES);
	size_t len = 0;

	bench_check(buf != NULL ? 0 : -ENOMEM, "state buffer");
	while (bench_now_ns() < deadline) {
		int r = pf_checkpoint_read(lr->hs.h[lr->at].d, 0, buf, PAUSE_STATE_BYTES, &len,
					   NULL);

		if (r == 0 && len >= sizeof(st)) {
			memcpy(&st, buf, sizeof(st));
			if (st.applied - st.duplicates >= sent)
				break;
		}
		(void)nanosleep(&nap, NULL);
	}
	free(buf);
	fprintf(stderr,
		"bench_migrate: %s: pause run: %llu messages sent, %llu applied: %llu lost, %llu "
		"applied twice, %llu reordered, %llu malformed\n",
		lr->c->placement, (unsigned long long)sent, (unsigned long long)st.applied,
		(unsigned long long)(sent - (st.applied - st.duplicates)),
		(unsigned long long)st.duplicates, (unsigned long long)st.late,
		(unsigned long long)st.malformed);
	if (st.applied - st.duplicates != sent || st.duplicates != 0 || st.malformed != 0)
		lr->c->failed = 1;
}

/* The moves' timings, in microseconds: the pause's upper and lower bounds and where it
 * went (from the stop seen). */
enum { T_HI, T_LO, T_REMOTE, T_PENDING, T_OWNED, T_LOADING, T_COUNT };

struct timings {
	uint32_t n, cap;
	double *v[T_COUNT];
};

static void timings_init(struct timings *t, uint32_t cap)
{
	t->n = 0;
	t->cap = cap;
	for (int k = 0; k < T_COUNT; k++) {
		t->v[k] = calloc(cap, sizeof(double));
		bench_check(t->v[k] != NULL ? 0 : -ENOMEM, "timings");
	}
}

static void timings_fini(struct timings *t)
{
	for (int k = 0; k < T_COUNT; k++)
		free(t->v[k]);
}

static double us_between(uint64_t from, uint64_t to)
{
	return to > from ? (double)(to - from) / 1e3 : 0;
}

static void timings_add(struct timings *t, const struct move_times *mt)
{
	uint64_t owned = mt->owned != 0 ? mt->owned : mt->load;
	uint64_t pending = mt->pending != 0 ? mt->pending : owned;
	uint32_t i = t->n++;

	PF_ASSERT(i < t->cap);
	t->v[T_HI][i] = us_between(mt->run, mt->load);
	t->v[T_LO][i] = us_between(mt->stop, mt->load);
	t->v[T_REMOTE][i] = us_between(mt->stop, mt->remote != 0 ? mt->remote : pending);
	t->v[T_PENDING][i] = us_between(mt->stop, pending);
	t->v[T_OWNED][i] = us_between(mt->stop, owned);
	t->v[T_LOADING][i] = us_between(owned, mt->load);
}

/* Where the pause went, p50 and p99 of each step from the stop seen (stderr). */
static void timings_print(const struct mig_ctx *c, const char *what, struct timings *t)
{
	static const char *const name[T_COUNT] = {
		"pause (upper bound)",       "pause (lower bound)",
		"source REMOTE (committed)", "target PENDING (placeable)",
		"target ACTIVE (claimed)",   "claimed -> loaded"};

	for (int k = 0; k < T_COUNT; k++) {
		double v50 = bench_percentile(t->v[k], t->n, 50);
		double v99 = bench_percentile(t->v[k], t->n, 99);

		fprintf(stderr, "bench_migrate: %s: %s: %s%s p50 %.1f us, p99 %.1f us\n",
			c->placement, what, k >= T_REMOTE && k < T_LOADING ? "stop -> " : "",
			name[k], v50, v99);
	}
}

static void emit_pause(struct live_run *lr, struct timings *t, struct emigrated *e)
{
	double raw50, raw99, *hi = t->v[T_HI];
	struct dist_line l = {.unit = "us",
			      .baseline = "raw TCP exchange: 64 KiB there, 8 bytes back",
			      .iterations = t->n,
			      .elem_bytes = PAUSE_STATE_BYTES,
			      .samples = t->n};

	mig_raw_exchange_us(lr->c, PAUSE_STATE_BYTES, EXCHANGE_ROUNDS, &raw50, &raw99);
	l.value_min = pct(hi, t->n, 0);
	l.value_max = pct(hi, t->n, 100);
	l.subject = "pause_p50";
	l.value = pct(hi, t->n, 50);
	l.baseline_value = raw50;
	l.goal = GOAL_PAUSE_P50_US;
	emit_dist(lr->c, &l);
	l.subject = "pause_p99";
	l.value = pct(hi, t->n, 99);
	l.baseline_value = raw99;
	l.goal = GOAL_PAUSE_P99_US;
	emit_dist(lr->c, &l);
	l.samples = e->count;
	l.value_min = pct(e->pause_us, e->count, 0);
	l.value_max = pct(e->pause_us, e->count, 100);
	l.goal = 0;
	l.subject = "pause_daemon_p50";
	l.value = pct(e->pause_us, e->count, 50);
	l.baseline_value = raw50;
	emit_dist(lr->c, &l);
	l.subject = "pause_daemon_p99";
	l.value = pct(e->pause_us, e->count, 99);
	l.baseline_value = raw99;
	emit_dist(lr->c, &l);
}

void mig_pause(struct mig_ctx *c)
{
	const struct bench_hosts_cfg cfg = {.tag = "pause",
					    .vnodes_max = 2,
					    .members_max = 4,
					    .inbox_slots = 4096,
					    .state_bytes_max = PAUSE_STATE_BYTES,
					    .message_bytes_max = 240,
					    .pflightd_args = c->pflightd_args};
	struct sender_shared *sh = bench_shared_alloc(sizeof(*sh));
	struct live_run lr;
	struct emigrated e;
	struct timings t;
	uint64_t t0, sent;
	pid_t sender;

	timings_init(&t, PAUSE_MOVES);
	live_start(&lr, c, &cfg);
	sender = sender_start(&lr.hs, 0, sh); /* forked before the members' threads */
	servers_start(&lr, PAUSE_STATE_BYTES, 0);
	t0 = bench_now_ns();
	(void)watch_priority(1);
	for (uint32_t k = 0; k < PAUSE_MOVES; k++) {
		struct move_times mt;

		live_move(&lr, 1, &mt);
		timings_add(&t, &mt);
	}
	(void)watch_priority(0);
	fprintf(stderr, "bench_migrate: %s: %u moves of a 64 KiB VNode in %.2f s\n", c->placement,
		PAUSE_MOVES, (double)(bench_now_ns() - t0) / 1e9);
	sent = sender_stop(sender, sh);
	check_delivery(&lr, sent);
	servers_stop(&lr);
	emigrated_read(&lr, PAUSE_MOVES, &e);
	emit_pause(&lr, &t, &e);
	timings_print(c, "pause", &t);
	emigrated_free(&e);
	timings_fini(&t);
	bench_hosts_stop(&lr.hs);
	(void)munmap(sh, sizeof(*sh));
}

static void emit_downtime(struct live_run *lr, struct timings *t, struct emigrated *e)
{
	double raw50, raw99, ms[DOWNTIME_MOVES];
	struct dist_line l = {
		.iterations = t->n, .elem_bytes = DOWNTIME_STATE_BYTES, .samples = t->n};

	for (uint32_t k = 0; k < t->n; k++)
		ms[k] = t->v[T_HI][k] / 1e3;
	mig_raw_exchange_us(lr->c, 64u << 10, EXCHANGE_ROUNDS, &raw50, &raw99);
	l.subject = "downtime_64MiB";
	l.unit = "ms";
	l.value = pct(ms, t->n, 50);
	l.value_min = pct(ms, t->n, 0);
	l.value_max = pct(ms, t->n, 100);
	l.baseline = "raw TCP exchange: 64 KiB (one chunk) there, 8 bytes back";
	l.baseline_value = raw50 / 1e3;
	l.goal = GOAL_DOWNTIME_MS;
	emit_dist(lr->c, &l);
	l.subject = "downtime_64MiB_max";
	l.value = l.value_max;
	emit_dist(lr->c, &l);
	l.baseline = NULL;
	l.goal = 0;
	l.samples = e->count;
	l.subject = "rounds_64MiB";
	l.unit = "rounds";
	l.value = pct(e->rounds, e->count, 50);
	l.value_min = pct(e->rounds, e->count, 0);
	l.value_max = pct(e->rounds, e->count, 100);
	emit_dist(lr->c, &l);
	l.subject = "resent_bytes_64MiB";
	l.unit = "bytes";
	l.value = pct(e->resent_bytes, e->count, 50);
	l.value_min = pct(e->resent_bytes, e->count, 0);
	l.value_max = pct(e->resent_bytes, e->count, 100);
	emit_dist(lr->c, &l);
	fprintf(stderr, "bench_migrate: %s: downtime: daemon pause_us p50 %.0f, max %.0f\n",
		lr->c->placement, pct(e->pause_us, e->count, 50), pct(e->pause_us, e->count, 100));
}

void mig_downtime(struct mig_ctx *c)
{
	const struct bench_hosts_cfg cfg = {.tag = "downtime",
					    .vnodes_max = 2,
					    .members_max = 4,
					    .inbox_slots = 64,
					    .state_bytes_max = DOWNTIME_STATE_BYTES,
					    .message_bytes_max = 240,
					    .pflightd_args = c->pflightd_args};
	struct live_run lr;
	struct emigrated e;
	struct timings t;

	timings_init(&t, DOWNTIME_MOVES);
	live_start(&lr, c, &cfg);
	servers_start(&lr, DOWNTIME_STATE_BYTES, DIRTY_BYTES);
	for (uint32_t k = 0; k < DOWNTIME_MOVES; k++) {
		const struct timespec settle = {0, 300000000L}; /* rewrites on the new host first */
		struct move_times mt;

		(void)nanosleep(&settle, NULL);
		(void)watch_priority(1);
		live_move(&lr, 0, &mt);
		(void)watch_priority(0);
		timings_add(&t, &mt);
		fprintf(stderr, "bench_migrate: %s: 64 MiB %s -> %s: downtime %.2f ms (>= %.2f)\n",
			c->placement, lr.hs.h[1 - lr.at].name, lr.hs.h[lr.at].name,
			t.v[T_HI][k] / 1e3, t.v[T_LO][k] / 1e3);
	}
	servers_stop(&lr);
	emigrated_read(&lr, DOWNTIME_MOVES, &e);
	emit_downtime(&lr, &t, &e);
	timings_print(c, "downtime", &t);
	emigrated_free(&e);
	timings_fini(&t);
	bench_hosts_stop(&lr.hs);
}
