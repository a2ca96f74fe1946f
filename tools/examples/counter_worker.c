/* SPDX-License-Identifier: MIT */
/*
 * tools/examples/counter_worker.c: the smallest useful PhoenixFlight worker.
 *
 * It joins a domain (with an embedded supervisor, so the workers repair each other when
 * one dies), takes the counter VNodes placed on it (pf_vnode_claim: pflightd's scheduler
 * places them, or without a daemon the workers' own placement rounds), and for each one:
 * loads the last checkpoint, applies the increment messages waiting in the inbox, and
 * commits the new state. Between passes it sleeps in its member's wait, which any new
 * message, placement or move request ends. When a rebalancer asks to move one
 * (pf_vnode_move_target), it applies and commits what waits, then hands the VNode over
 * (pf_vnode_handoff); the target resumes from that checkpoint. Because a message leaves the inbox
 * only when a checkpoint taken after it is committed, a worker killed at any instant loses nothing
 * and applies nothing twice: the next owner reloads the last state and receives again exactly what
 * that state had not seen. Each message carries its sequence number, and the state counts
 * duplicates and gaps, so the demo can prove it. A VNode whose checkpoint fails its check
 * (pf_checkpoint_load() says -EBADMSG: a corrupted segment) is held and not served, with a
 * line on stderr, rather than taking down each worker it is placed on; a message slot that
 * fails its check is counted as malformed.
 *
 *   pflight-counter-worker <domain> <vnodes> [--caps a,b] [--token TOKEN] [--control PATH]
 *                          [--drain-on-exit MS] [--define N]
 *
 * <vnodes> is the capacity it declares (what it holds at full load), which is what a
 * scheduler's load, spread and rebalancing count its VNodes against; it is not a limit:
 * the worker takes and serves every VNode placed on it.
 * --caps: the capabilities it declares (default "counter"). --token (or $PFLIGHT_TOKEN):
 * a join token presented to the host's pflightd before joining (pf_control_present() of
 * pflight/token.h, in libpflight-ctl; --control names the socket, pflight/control.h), for
 * the trust and capabilities it grants; a refused join says which rule refused it.
 * --define N: define counter VNodes 0..N-1 first (those that exist already are left as
 * they are), so that one worker can set a domain up.
 *
 * Drains: when its member is cordoned (`pflight drain`), it stops taking VNodes, keeps
 * serving the ones it holds and hands each over when asked, and leaves once the drain
 * is over. Stops on SIGTERM or SIGINT: with --drain-on-exit it first cordons itself and
 * is drained the same way (at most MS milliseconds; whatever is left then is released with
 * its last checkpoint), else its states are committed and it releases and leaves.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pflight/pflight.h"
#include "tools/examples/counter.h"

#define BATCH_MAX 64 /* messages applied per VNode before moving on */
#define IDLE_WAIT_NS                                                                               \
	UINT64_C(50000000)                     /* nothing to do: wait this long at most (a stop    \
						* signal is looked for between waits) */
#define DRAIN_WAIT_NS (120ull * 1000000000ull) /* cordoned by someone else: serve this long */
#define CAPS_MAX 16
/* VNodes served between two beats of a pass. A VNode costs microseconds (its inbox, its move
 * request: cache misses at a million), and a loaded host may give us a third of a CPU, so a
 * beat every 4,096 could come after more than the 150 ms a member is allowed: every 256 is
 * under 10 ms of wall time even then, and costs one store per 256 VNodes. */
#define SERVE_BEAT_EVERY 256

struct options {
	const char *domain;
	uint32_t vnodes;
	uint32_t caps_count;
	const char *caps[CAPS_MAX];
	char caps_text[512];
	const char *token;
	const char *control;
	uint64_t drain_ns; /* --drain-on-exit; 0: leave at once */
	uint32_t define;   /* --define: VNodes 0..define-1 to define first */
};

struct owned {
	struct pf_vnode *v;
	struct counter_state st;
	int poisoned; /* its last checkpoint failed its check: held, not served */
};

/* SIGTERM and SIGINT stay blocked and are polled, so no handler shares state with us. */
static int stop_requested(void)
{
	sigset_t pending;

	return sigpending(&pending) == 0 &&
	       (sigismember(&pending, SIGTERM) == 1 || sigismember(&pending, SIGINT) == 1);
}

/* Take a newly claimed VNode: its last state, or a zero counter. */
static int adopt(struct owned *o, struct pf_vnode *v)
{
	size_t len = 0;
	int r;

	memset(o, 0, sizeof(*o));
	o->v = v;
	r = pf_checkpoint_load(v, &o->st, sizeof(o->st), &len);
	if (r == -ENOENT)
		return 0;
	if (r == -EBADMSG || r == -ENOBUFS || (r == 0 && len != sizeof(o->st))) {
		/* Not a state we can go on from (a checksum failed, or it is not a counter):
		 * hold it unserved, so that it does not take down one worker after another, and
		 * say so; its messages wait in its inbox for whoever repairs it. */
		fprintf(stderr,
			"counter-worker: vnode %u: checkpoint refused (%s): held, not served\n",
			pf_vnode_id(v), strerror(r < 0 ? -r : EBADMSG));
		memset(&o->st, 0, sizeof(o->st));
		o->poisoned = 1;
		return 0;
	}
	return r;
}

/* Take a message of len bytes (longer than a counter message) out of the inbox. */
static int skip_long(struct pf_vnode *v, size_t len)
{
	void *buf = malloc(len);
	size_t got = 0;
	int r;

	if (buf == NULL)
		return -ENOMEM;
	r = pf_recv(v, buf, len, &got);
	free(buf);
	return r == -EAGAIN || r == -EBADMSG ? 0 : r;
}

/* Apply what waits in the inbox; commit if anything changed. Returns messages applied. */
static int drain(struct owned *o)
{
	struct counter_msg msg;
	size_t len;
	int n = 0, bad = 0, r;

	if (o->poisoned)
		return 0;
	while (n + bad < BATCH_MAX) {
		r = pf_recv(o->v, &msg, sizeof(msg), &len);
		if (r == -EAGAIN)
			break;
		if (r == -EBADMSG || r == -ENOBUFS) {
			/* A slot that failed its check (skipped), or a message longer than any
			 * counter message: not one of ours. */
			if (r == -ENOBUFS && (r = skip_long(o->v, len)) < 0)
				return r;
			o->st.malformed++;
			bad++;
			continue;
		}
		if (r < 0)
			return r;
		if (len != sizeof(msg) || msg.vnode != pf_vnode_id(o->v)) {
			o->st.malformed++;
			bad++;
			continue;
		}
		counter_apply(&o->st, &msg);
		n++;
	}
	if (n + bad > 0) {
		r = pf_checkpoint_commit(o->v, pf_vnode_epoch(o->v), &o->st, sizeof(o->st));
		if (r < 0)
			return r;
	}
	return n;
}

/* The VNodes we hold: grown as they come. */
struct held {
	struct owned *own;
	uint32_t count;
	uint32_t max;
};

/* Take everything placed (or handed) on us: the capacity we declared is what the placement
 * weighs, not a limit, and a VNode placed on us and not taken is served by nobody. Returns
 * VNodes taken, or a negative errno (-ESTALE: declared dead, stop). */
static int take(struct pf_member *m, struct held *h)
{
	struct pf_vnode *v;
	int taken = 0, r;

	for (;;) {
		if (h->count == h->max) {
			uint32_t max = h->max * 2;
			struct owned *grown = realloc(h->own, max * sizeof(*grown));

			if (grown == NULL)
				return -ENOMEM;
			h->own = grown;
			h->max = max;
		}
		r = pf_vnode_claim(m, PF_CLAIM_NOWAIT, 0, &v);
		if (r == -EAGAIN)
			break;
		if (r < 0)
			return r;
		r = adopt(&h->own[h->count], v);
		if (r < 0)
			return r;
		h->count++;
		taken++;
	}
	return taken;
}

/* A rebalancer asked to move this VNode: apply and commit what waits, then hand it over
 * (what arrives after the commit waits in the inbox for the target). */
static int move(struct owned *o)
{
	int r;

	do {
		r = drain(o);
	} while (r == BATCH_MAX);
	if (r < 0 && r != -ESTALE)
		return r;
	r = pf_vnode_handoff(o->v);
	return r == -ENOENT ? 0 : 1; /* 1: the handle is gone (handed over, or fenced out) */
}

/* One pass over our VNodes. Returns messages applied, or a negative errno. */
static int serve(struct pf_member *m, struct owned *own, uint32_t *count)
{
	uint32_t since_beat = 0;
	int work = 0;

	for (uint32_t i = 0; i < *count; i++) {
		int n;

		/* A pass over many VNodes with nothing to receive shows no sign of life by
		 * itself (pflight/member.h, "Liveness"): beat as it goes. Counted apart from i,
		 * which stays put while VNodes leave at that place. */
		if (++since_beat == SERVE_BEAT_EVERY) {
			pf_member_heartbeat(m);
			since_beat = 0;
		}

		if (pf_vnode_move_target(own[i].v, NULL) == 1) {
			n = move(&own[i]);
			if (n < 0)
				return n;
			if (n == 1)
				own[i--] = own[--(*count)];
			continue;
		}
		n = drain(&own[i]);
		if (n == -ESTALE) {
			/* Taken from us (fenced out): drop it; if we were declared dead, the
			 * next claim says so and we stop. */
			(void)pf_vnode_release(own[i].v);
			own[i--] = own[--(*count)];
			continue;
		}
		if (n < 0)
			return n;
		work += n;
	}
	return work;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Our member's state now (FREE once a drain gave the slot back). */
static uint32_t member_state(struct pf_member *m)
{
	struct pf_member_info mi = {.size = sizeof(mi)};
	uint64_t id = pf_member_id(m);

	if (pf_member_info(pf_member_domain(m), (uint32_t)id, &mi) < 0 ||
	    mi.generation != (uint32_t)(id >> 32))
		return PF_MEMBER_FREE;
	return mi.state;
}

/* A stop was asked: cordon ourselves (--drain-on-exit) and go on serving until drained,
 * or stop now. Returns 1 to stop now. */
static int on_stop(struct pf_member *m, const struct options *o, uint64_t *drain_until)
{
	uint64_t id = pf_member_id(m);

	if (*drain_until != 0)
		return 0; /* already draining */
	if (o->drain_ns == 0 || pf_member_cordon(pf_member_domain(m), (uint32_t)id, 0) < 0)
		return 1;
	*drain_until = mono_ns() + o->drain_ns;
	return 0;
}

/* One pass: beat, take (ACTIVE only), serve. 1 when there was work, 0 when none, or a
 * negative errno; *ret_done when a drain is over (nothing held, the slot given back). */
static int pass(struct pf_member *m, struct held *h, uint64_t *drain_until, int *ret_done)
{
	uint32_t st = member_state(m);
	int work = 0, r;

	pf_member_heartbeat(m);
	*ret_done = st != PF_MEMBER_ACTIVE && st != PF_MEMBER_DRAINING;
	if (*ret_done)
		return 0;
	/* Draining: nothing new is placed on us, but what was handed to us just before the
	 * cordon is ours already: take it, to hand it on in turn. */
	r = take(m, h);
	if (r < 0 && r != -ESTALE)
		return r;
	work += r > 0 ? r : 0;
	if (st == PF_MEMBER_DRAINING && *drain_until == 0)
		*drain_until = mono_ns() + DRAIN_WAIT_NS; /* cordoned by an operator */
	r = serve(m, h->own, &h->count);
	if (r < 0)
		return r;
	return work + r > 0;
}

static int run(struct pf_member *m, const struct options *o)
{
	struct held h = {.own = calloc(o->vnodes, sizeof(*h.own)), .max = o->vnodes};
	uint32_t events;
	uint64_t drain_until = 0;
	int r = 0, done = 0;

	if (h.own == NULL)
		return -ENOMEM;
	for (;;) {
		if (stop_requested() && on_stop(m, o, &drain_until))
			break;
		if (drain_until != 0 && mono_ns() >= drain_until)
			break; /* what is left is released with its last checkpoint */
		r = pass(m, &h, &drain_until, &done);
		if (r < 0 || done)
			break;
		/* Nothing done: wait for work (it beats for us meanwhile). */
		if (r == 0 && pf_member_wait(m, IDLE_WAIT_NS, &events) == -ESTALE)
			done = 1;
		r = 0;
	}
	free(h.own);
	if (r < 0)
		return r;
	return done ? -ESTALE : 0; /* -ESTALE: drained (the leave says 0) or declared dead */
}

static int parse(int argc, char **argv, struct options *o)
{
	unsigned long v;
	char *end;

	memset(o, 0, sizeof(*o));
	if (argc < 3)
		return -EINVAL;
	o->domain = argv[1];
	errno = 0;
	v = strtoul(argv[2], &end, 10);
	if (errno != 0 || *end != '\0' || v == 0 || v > PF_VNODES_MAX)
		return -EINVAL;
	o->vnodes = (uint32_t)v;
	o->token = getenv("PFLIGHT_TOKEN");
	(void)snprintf(o->caps_text, sizeof(o->caps_text), "counter");
	for (int i = 3; i < argc; i += 2) {
		const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (val == NULL)
			return -EINVAL;
		if (strcmp(opt, "--token") == 0) {
			o->token = val;
		} else if (strcmp(opt, "--control") == 0) {
			o->control = val;
		} else if (strcmp(opt, "--caps") == 0) {
			if (snprintf(o->caps_text, sizeof(o->caps_text), "%s", val) >=
			    (int)sizeof(o->caps_text))
				return -EINVAL;
		} else if (strcmp(opt, "--define") == 0) {
			v = strtoul(val, &end, 10);
			if (*end != '\0' || v == 0 || v > PF_VNODES_MAX)
				return -EINVAL;
			o->define = (uint32_t)v;
		} else if (strcmp(opt, "--drain-on-exit") == 0) {
			v = strtoul(val, &end, 10);
			if (*end != '\0' || v == 0 || v > 3600000)
				return -EINVAL;
			o->drain_ns = (uint64_t)v * 1000000u;
		} else {
			return -EINVAL;
		}
	}
	for (char *p = o->caps_text; *p != '\0' && o->caps_count < CAPS_MAX;) {
		o->caps[o->caps_count++] = p;
		p += strcspn(p, ",");
		if (*p == ',')
			*p++ = '\0';
	}
	return 0;
}

/* Present our join token to the host's pflightd, when we have one: to a daemon that runs
 * as root or as the owner of the domain's segment, nothing else (pflight/control.h). */
static int present(const struct options *o, struct pf_domain *d)
{
	struct pf_domain_info di = {.size = sizeof(di)};
	struct pf_token_claims cl = {.size = sizeof(cl)};
	char path[PF_CONTROL_PATH_MAX];
	int r = 0;

	if (o->token == NULL || o->token[0] == '\0')
		return 0;
	if (o->control != NULL)
		(void)snprintf(path, sizeof(path), "%s", o->control);
	else
		r = pf_control_path(o->domain, 0, path, sizeof(path));
	if (r >= 0)
		r = pf_domain_info(d, &di);
	if (r >= 0)
		r = pf_control_present(path, di.segment_uid, o->token, &cl);
	if (r < 0)
		fprintf(stderr, "counter-worker: join token refused by %s: %s\n", path,
			strerror(-r));
	return r < 0 ? r : 0;
}

static int join(struct pf_domain *d, const struct options *o, struct pf_member **m)
{
	struct pf_member_refusal why = {.size = sizeof(why)};
	struct pf_member_opts mo;
	int r;

	pf_member_opts_init(&mo);
	mo.flags = PF_MEMBER_SUPERVISE;
	mo.caps = o->caps;
	mo.caps_count = o->caps_count;
	mo.refusal = &why;
	/* What it holds at full load: the scheduler's load (and so its spread and its
	 * rebalancing) counts VNodes against it. */
	mo.vnode_capacity = o->vnodes;
	r = pf_member_join(d, &mo, m);
	if (r == -EPERM || r == -EKEYREJECTED)
		fprintf(stderr, "counter-worker: join refused: %s rule %d (%s)\n",
			pf_policy_action_name(why.action),
			why.rule == PF_POLICY_NO_RULE ? -1 : (int)why.rule,
			pf_policy_check_name(why.check));
	else if (r < 0)
		fprintf(stderr, "counter-worker: join: %s\n", strerror(-r));
	return r;
}

int main(int argc, char **argv)
{
	struct options o;
	struct pf_domain *d;
	struct pf_member *m;
	sigset_t stop;
	int r;

	if (parse(argc, argv, &o) < 0) {
		fprintf(stderr,
			"usage: %s <domain> <vnodes> [--caps a,b] [--token TOKEN] "
			"[--control PATH] [--drain-on-exit MS] [--define N]\n",
			argv[0]);
		return 2;
	}
	(void)sigemptyset(&stop);
	(void)sigaddset(&stop, SIGTERM);
	(void)sigaddset(&stop, SIGINT);
	(void)sigprocmask(SIG_BLOCK, &stop, NULL);
	r = pf_domain_open(o.domain, &d);
	if (r < 0) {
		fprintf(stderr, "counter-worker: open %s: %s\n", o.domain, strerror(-r));
		return 1;
	}
	r = o.define > 0 ? pf_vnode_define_range(d, 0, o.define, NULL) : 0;
	if (r < 0)
		fprintf(stderr, "counter-worker: define %u VNodes: %s\n", o.define, strerror(-r));
	if (r >= 0)
		r = present(&o, d);
	if (r == 0)
		r = join(d, &o, &m);
	if (r < 0) {
		pf_domain_close(d);
		return 1;
	}
	r = run(m, &o);
	if (r < 0 && r != -ESTALE)
		fprintf(stderr, "counter-worker: %s\n", strerror(-r));
	/* -ESTALE with a clean leave: drained, not declared dead. */
	if (pf_member_leave(m) == 0 && r == -ESTALE)
		r = 0;
	pf_domain_close(d);
	return r < 0 ? 1 : 0;
}
