/* SPDX-License-Identifier: MIT */
/*
 * tests/integration/hosts_fault_worker.c: the worker of the cross-host fault tests.
 *
 * Goal: serve VNodes the way tools/examples/counter_worker.c does (claim, load the last
 * checkpoint, apply the inbox, commit; hand over when a rebalancer asks), with what the
 * fault tests need besides: numbered messages from several senders, each sequence checked
 * on its own (tests/common/fault_state.h), and a state of any size up to the domain's
 * state_bytes_max, part of which is rewritten at every commit, so that a move has many
 * chunks to send and pre-copy rounds have changed ones.
 * Method: one member, one thread. The state is the fault_state header, then a body filled
 * with a pattern of the VNode's id when it starts; each commit rewrites touch bytes of the
 * body at a rotating offset, and the header carries XXH3-64 of the whole body, which the
 * worker checks on every load (a state that arrives altered says so on stderr and is held,
 * not served) and the tests check on the final owner.
 *
 *   hosts_fault_worker <domain> [--define N] [--state-bytes B] [--touch-bytes T]
 *                      [--track-bytes K]
 *
 * --define N: define VNodes 0..N-1 first. --state-bytes: the state's length (default the
 * header alone). --touch-bytes: body bytes rewritten per commit (default 0).
 * --track-bytes: the body's first K bytes keep a bitmap of the numbers applied per sender
 * (fault_track_set()), so a lost message shows (K a multiple of 32; default 0). Stops on
 * SIGTERM: commits, releases and leaves.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#include "pflight/pflight.h"
#include "tests/common/fault_state.h"

#define BATCH_MAX 64                    /* messages applied per VNode before moving on */
#define IDLE_WAIT_NS UINT64_C(20000000) /* nothing to do: wait this long at most */
#define HELD_MAX 64u                    /* VNodes one worker serves at once */

struct options {
	const char *domain;
	uint32_t define;
	size_t state_bytes;
	size_t touch_bytes;
	uint32_t track_bytes;
};

struct owned {
	struct pf_vnode *v;
	uint8_t *buf;           /* state_bytes: the fault_state header, then the body */
	int held;               /* its state failed our check: not served */
	uint64_t hold_until_ns; /* a FAULT_HOLD message asked us to leave its inbox alone */
};

static struct options opt;

static struct fault_state *st_of(struct owned *o)
{
	return (struct fault_state *)(void *)o->buf;
}

static uint64_t body_hash(const uint8_t *buf)
{
	return XXH3_64bits(buf + sizeof(struct fault_state),
			   opt.state_bytes - sizeof(struct fault_state));
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int stop_requested(void)
{
	sigset_t pending;

	return sigpending(&pending) == 0 &&
	       (sigismember(&pending, SIGTERM) == 1 || sigismember(&pending, SIGINT) == 1);
}

/* Take a newly claimed VNode: its last state, or a fresh one. 0, 1 when it was taken from
 * us already (released), or a negative errno. */
static int adopt(struct owned *o, struct pf_vnode *v)
{
	size_t len = 0;
	int r;

	o->v = v;
	o->held = 0;
	o->hold_until_ns = 0;
	o->buf = malloc(opt.state_bytes);
	if (o->buf == NULL)
		return -ENOMEM;
	r = pf_checkpoint_load(v, o->buf, opt.state_bytes, &len);
	if (r == -ENOENT) {
		uint32_t id = pf_vnode_id(v);

		memset(o->buf, 0, sizeof(struct fault_state));
		for (size_t i = sizeof(struct fault_state); i < opt.state_bytes; i++)
			o->buf[i] = (uint8_t)(i * 31u + id);
		st_of(o)->magic = FAULT_STATE_MAGIC;
		st_of(o)->track_bytes = opt.track_bytes;
		memset(o->buf + sizeof(struct fault_state), 0, opt.track_bytes);
		st_of(o)->body_hash = body_hash(o->buf);
		return 0;
	}
	if (r == -ESTALE) {
		free(o->buf); /* taken from us before we loaded it: not ours to serve */
		(void)pf_vnode_release(v);
		return 1;
	}
	if (r < 0 || len != opt.state_bytes || st_of(o)->magic != FAULT_STATE_MAGIC ||
	    st_of(o)->track_bytes != opt.track_bytes || st_of(o)->body_hash != body_hash(o->buf)) {
		fprintf(stderr, "fault-worker: vnode %u: state refused (%s, %zu bytes): held\n",
			pf_vnode_id(v), r < 0 ? strerror(-r) : "its check failed", len);
		o->held = 1;
	}
	return r == -EBADMSG || r >= 0 ? 0 : r;
}

static int commit(struct owned *o)
{
	struct fault_state *st = st_of(o);
	size_t body = opt.state_bytes - sizeof(*st) - st->track_bytes;

	st->commits++;
	if (opt.touch_bytes > 0 && body > 0) {
		size_t at = (size_t)((st->commits * opt.touch_bytes) % body);
		size_t n = opt.touch_bytes < body - at ? opt.touch_bytes : body - at;

		memset(o->buf + sizeof(*st) + st->track_bytes + at, (int)(st->commits & 0xff), n);
	}
	st->body_hash = body_hash(o->buf);
	return pf_checkpoint_commit(o->v, pf_vnode_epoch(o->v), o->buf, opt.state_bytes);
}

/* Apply what waits; commit if anything was read. Messages applied, or a negative errno. */
static int drain(struct owned *o)
{
	struct fault_msg msg;
	size_t len;
	int n = 0, r;

	if (o->held || now_ns() < o->hold_until_ns)
		return 0;
	while (n < BATCH_MAX && now_ns() >= o->hold_until_ns) {
		r = pf_recv(o->v, &msg, sizeof(msg), &len);
		if (r == -EAGAIN)
			break;
		if (r == -ENOBUFS || r == -EBADMSG ||
		    (r == 0 && (len != sizeof(msg) || msg.vnode != pf_vnode_id(o->v) ||
				msg.sender >= FAULT_SENDERS))) {
			st_of(o)->malformed++;
			n++;
			if (r == -ENOBUFS)
				return -EMSGSIZE; /* not ours to skip: say so */
			continue;
		}
		if (r < 0)
			return r;
		fault_apply(st_of(o), &msg);
		fault_track_set(o->buf, st_of(o)->track_bytes, &msg);
		n++;
		if (msg.inc >= FAULT_HOLD)
			o->hold_until_ns = now_ns() + (msg.inc - FAULT_HOLD) * 1000000u;
	}
	if (n > 0 && (r = commit(o)) < 0)
		return r;
	return n;
}

static void drop(struct owned *own, uint32_t *count, uint32_t i)
{
	free(own[i].buf);
	own[i] = own[--(*count)];
}

/* One pass: take what was placed on us, serve what we hold. Work done, or a negative errno. */
static int pass(struct pf_member *m, struct owned *own, uint32_t *count)
{
	struct pf_vnode *v;
	int work = 0, r;

	pf_member_heartbeat(m);
	while (*count < HELD_MAX && (r = pf_vnode_claim(m, PF_CLAIM_NOWAIT, 0, &v)) == 0) {
		if ((r = adopt(&own[*count], v)) < 0)
			return r;
		*count += r == 0;
		work++;
	}
	for (uint32_t i = 0; i < *count; i++) {
		if (pf_vnode_move_target(own[i].v, NULL) == 1) {
			while ((r = drain(&own[i])) == BATCH_MAX)
				;
			(void)pf_vnode_handoff(own[i].v);
			drop(own, count, i--);
			work++;
			continue;
		}
		r = drain(&own[i]);
		if (r == -ESTALE) {
			(void)pf_vnode_release(own[i].v);
			drop(own, count, i--);
			continue;
		}
		if (r < 0)
			return r;
		work += r;
	}
	return work;
}

static int run(struct pf_member *m)
{
	struct owned own[HELD_MAX];
	uint32_t count = 0, events;
	int r = 0;

	while (!stop_requested()) {
		r = pass(m, own, &count);
		if (r < 0)
			break;
		if (r == 0 && pf_member_wait(m, IDLE_WAIT_NS, &events) == -ESTALE) {
			fprintf(stderr, "fault-worker: declared dead or drained: leaving\n");
			r = -ESTALE;
			break;
		}
	}
	for (uint32_t i = 0; i < count; i++) {
		(void)pf_vnode_release(own[i].v);
		free(own[i].buf);
	}
	return r;
}

static int parse(int argc, char **argv)
{
	char *end;

	if (argc < 2 || argc % 2 != 0)
		return -EINVAL;
	opt.domain = argv[1];
	opt.state_bytes = sizeof(struct fault_state);
	for (int i = 2; i + 1 < argc; i += 2) {
		unsigned long long v = strtoull(argv[i + 1], &end, 10);

		if (*end != '\0')
			return -EINVAL;
		if (strcmp(argv[i], "--define") == 0 && v > 0 && v <= PF_VNODES_MAX)
			opt.define = (uint32_t)v;
		else if (strcmp(argv[i], "--state-bytes") == 0 && v >= sizeof(struct fault_state))
			opt.state_bytes = (size_t)v;
		else if (strcmp(argv[i], "--track-bytes") == 0 && v % (8 * FAULT_SENDERS) == 0)
			opt.track_bytes = (uint32_t)v;
		else if (strcmp(argv[i], "--touch-bytes") == 0)
			opt.touch_bytes = (size_t)v;
		else
			return -EINVAL;
	}
	if (sizeof(struct fault_state) + opt.track_bytes > opt.state_bytes)
		return -EINVAL;
	return 0;
}

int main(int argc, char **argv)
{
	struct pf_member_opts mo;
	struct pf_domain *d;
	struct pf_member *m;
	sigset_t stop;
	int r;

	if (parse(argc, argv) < 0) {
		fprintf(stderr,
			"usage: %s <domain> [--define N] [--state-bytes B] "
			"[--touch-bytes T] [--track-bytes K]\n",
			argv[0]);
		return 2;
	}
	(void)sigemptyset(&stop);
	(void)sigaddset(&stop, SIGTERM);
	(void)sigaddset(&stop, SIGINT);
	(void)sigprocmask(SIG_BLOCK, &stop, NULL);
	r = pf_domain_open(opt.domain, &d);
	if (r < 0) {
		fprintf(stderr, "fault-worker: open %s: %s\n", opt.domain, strerror(-r));
		return 1;
	}
	r = opt.define > 0 ? pf_vnode_define_range(d, 0, opt.define, NULL) : 0;
	pf_member_opts_init(&mo);
	mo.flags = PF_MEMBER_SUPERVISE;
	mo.vnode_capacity = HELD_MAX;
	if (r >= 0)
		r = pf_member_join(d, &mo, &m);
	if (r >= 0) {
		r = run(m);
		if (pf_member_leave(m) == 0 && r == -ESTALE)
			r = 0;
	}
	if (r < 0)
		fprintf(stderr, "fault-worker: %s\n", strerror(-r));
	pf_domain_close(d);
	return r < 0 ? 1 : 0;
}
