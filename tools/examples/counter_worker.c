/* SPDX-License-Identifier: MIT */
/*
 * tools/examples/counter_worker.c: the smallest useful PhoenixFlight worker.
 *
 * It joins a domain (with an embedded supervisor, so the workers repair each other when
 * one dies), adopts the counter VNodes a scheduler placed on it and claims its share of
 * the rest, and for each one: loads the last checkpoint, applies the increment messages
 * waiting in the inbox, and commits the new state. When a rebalancer asks to move one
 * (pf_vnode_move_target), it applies and commits what waits, then hands the VNode over
 * (pf_vnode_handoff); the target resumes from that checkpoint. Because a message leaves the inbox
 * only when a checkpoint taken after it is committed, a worker killed at any instant loses nothing
 * and applies nothing twice: the next owner reloads the last state and receives again exactly what
 * that state had not seen. Each message carries its sequence number, and the state counts
 * duplicates and gaps, so the demo can prove it.
 *
 *   pflight-counter-worker <domain> <vnodes>
 *
 * It takes up to ceil(vnodes / members) VNodes, so VNodes spread over the members that
 * are there when they are defined, and the survivors of a crash share the dead one's.
 * Stops cleanly on SIGTERM or SIGINT (its states are committed; it releases and leaves).
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

#define BATCH_MAX 64          /* messages applied per VNode before moving on */
#define IDLE_SLEEP_NS 200000L /* nothing to do: sleep 200 us (workers share 2 cores) */

struct owned {
	struct pf_vnode *v;
	struct counter_state st;
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
	if (r < 0 || len != sizeof(o->st)) {
		fprintf(stderr, "counter-worker: vnode %u: checkpoint refused (%s)\n",
			pf_vnode_id(v), strerror(r < 0 ? -r : EBADMSG));
		return r < 0 ? r : -EBADMSG;
	}
	return 0;
}

/* Apply what waits in the inbox; commit if anything changed. Returns messages applied. */
static int drain(struct owned *o)
{
	struct counter_msg msg;
	size_t len;
	int n = 0, r;

	while (n < BATCH_MAX) {
		r = pf_recv(o->v, &msg, sizeof(msg), &len);
		if (r == -EAGAIN)
			break;
		if (r < 0)
			return r;
		if (len != sizeof(msg) || msg.vnode != pf_vnode_id(o->v)) {
			o->st.malformed++;
			continue;
		}
		counter_apply(&o->st, &msg);
		n++;
	}
	if (n > 0) {
		r = pf_checkpoint_commit(o->v, pf_vnode_epoch(o->v), &o->st, sizeof(o->st));
		if (r < 0)
			return r;
	}
	return n;
}

/* Our fair share of the VNodes, recomputed whenever the membership changes. */
static uint32_t share(struct pf_domain *d, uint32_t vnodes, uint32_t *version)
{
	int members = pf_domain_membership(d, version);

	if (members <= 0)
		return vnodes;
	return (vnodes + (uint32_t)members - 1) / (uint32_t)members;
}

/* Take what the scheduler placed on us (any number), then claim up to our share. Returns
 * VNodes taken, or a negative errno (-ESTALE: declared dead, stop). */
static int take(struct pf_member *m, struct owned *own, uint32_t *count, uint32_t vnodes,
		uint32_t target)
{
	struct pf_vnode *v;
	int taken = 0, r;

	while (*count < vnodes) {
		r = pf_vnode_adopt(m, &v);
		if (r == -EAGAIN && *count < target)
			r = pf_vnode_claim(m, PF_CLAIM_NOWAIT, 0, &v);
		if (r == -EAGAIN)
			break;
		if (r < 0)
			return r;
		r = adopt(&own[*count], v);
		if (r < 0)
			return r;
		(*count)++;
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
static int serve(struct owned *own, uint32_t *count)
{
	int work = 0;

	for (uint32_t i = 0; i < *count; i++) {
		int n;

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

static int run(struct pf_member *m, uint32_t vnodes)
{
	struct pf_domain *d = pf_member_domain(m);
	struct owned *own = calloc(vnodes, sizeof(*own));
	uint32_t count = 0, target = 0, seen = UINT32_MAX, version = 0;
	int r = 0;

	if (own == NULL)
		return -ENOMEM;
	while (!stop_requested()) {
		int work;

		pf_member_heartbeat(m);
		(void)pf_domain_membership(d, &version);
		if (version != seen)
			target = share(d, vnodes, &seen);
		r = take(m, own, &count, vnodes, target);
		if (r < 0)
			break;
		work = r;
		r = serve(own, &count);
		if (r < 0)
			break;
		work += r;
		r = 0;
		if (work == 0) {
			struct timespec ts = {0, IDLE_SLEEP_NS};

			(void)nanosleep(&ts, NULL);
		}
	}
	free(own);
	return r;
}

int main(int argc, char **argv)
{
	struct pf_member_opts mo;
	struct pf_domain *d;
	struct pf_member *m;
	sigset_t stop;
	const char *caps[] = {"counter"};
	unsigned long vnodes;
	char *end;
	int r;

	if (argc != 3) {
		fprintf(stderr, "usage: %s <domain> <vnodes>\n", argv[0]);
		return 2;
	}
	errno = 0;
	vnodes = strtoul(argv[2], &end, 10);
	if (errno != 0 || *end != '\0' || vnodes == 0 || vnodes > PF_VNODES_MAX) {
		fprintf(stderr, "counter-worker: bad VNode count '%s'\n", argv[2]);
		return 2;
	}
	(void)sigemptyset(&stop);
	(void)sigaddset(&stop, SIGTERM);
	(void)sigaddset(&stop, SIGINT);
	(void)sigprocmask(SIG_BLOCK, &stop, NULL);
	r = pf_domain_open(argv[1], &d);
	if (r < 0) {
		fprintf(stderr, "counter-worker: open %s: %s\n", argv[1], strerror(-r));
		return 1;
	}
	pf_member_opts_init(&mo);
	mo.flags = PF_MEMBER_SUPERVISE;
	mo.caps = caps;
	mo.caps_count = 1;
	r = pf_member_join(d, &mo, &m);
	if (r < 0) {
		fprintf(stderr, "counter-worker: join: %s\n", strerror(-r));
		pf_domain_close(d);
		return 1;
	}
	r = run(m, (uint32_t)vnodes);
	if (r < 0 && r != -ESTALE)
		fprintf(stderr, "counter-worker: %s\n", strerror(-r));
	/* -ESTALE with a clean leave: drained (pflight drain), not declared dead. */
	if (pf_member_leave(m) == 0 && r == -ESTALE)
		r = 0;
	pf_domain_close(d);
	return r < 0 ? 1 : 0;
}
