/* SPDX-License-Identifier: MIT */
/*
 * tests/stress/test_stress_domain.c
 * Goal: the domain's lock-free paths (ownership CAS and epochs, checkpoint descriptors,
 * inbox slots, the pending ring, member slots) keep their invariants when many threads
 * race on them, and TSan sees no data race. Method: in one process (so TSan can see every
 * access), member threads claim, drain, commit and release counter VNodes while sender
 * threads push numbered increments; members also leave and re-join. At the end one
 * member claims every VNode and checks each counter equals what was sent, with no
 * duplicate and no gap. Runs a few seconds; PF_STRESS_SECONDS makes it longer.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pflight/pflight.h"
#include "shm/pf_atomic.h"
#include "tests/common/test_util.h"
#include "tools/examples/counter.h"

#define VNODES 128u
#define MEMBERS 3
#define SENDERS 2
#define OWNED_MAX VNODES

static struct pf_domain *dom;
static _Atomic int stop_senders, stop_members;
static uint64_t sent[VNODES]; /* written by the one sender of each VNode */
static _Atomic uint64_t failures;

static uint64_t mono_ns(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void fail(const char *what, int r)
{
	fprintf(stderr, "stress_domain: %s: %d\n", what, r);
	pf_fetch_add_relaxed(&failures, 1);
}

static void *sender_main(void *arg)
{
	uint32_t me = (uint32_t)(uintptr_t)arg;

	while (!pf_load_acquire(&stop_senders)) {
		for (uint32_t id = me; id < VNODES; id += SENDERS) {
			struct counter_msg msg = {.vnode = id, .seq = sent[id] + 1, .inc = 1};
			int r = pf_send(dom, id, &msg, sizeof(msg));

			if (r == 0)
				sent[id]++;
			else if (r != -EAGAIN)
				fail("send", r);
		}
	}
	return NULL;
}

struct owned {
	struct pf_vnode *v;
	struct counter_state st;
};

static int adopt(struct owned *o, struct pf_vnode *v)
{
	size_t len;
	int r;

	memset(o, 0, sizeof(*o));
	o->v = v;
	r = pf_checkpoint_load(v, &o->st, sizeof(o->st), &len);
	if (r == -ENOENT)
		return 0;
	if (r < 0 || len != sizeof(o->st))
		return r < 0 ? r : -EBADMSG;
	return 0;
}

static int drain(struct owned *o)
{
	struct counter_msg msg;
	size_t len;
	int n = 0, r;

	while ((r = pf_recv(o->v, &msg, sizeof(msg), &len)) == 0) {
		counter_apply(&o->st, &msg);
		n++;
	}
	if (r != -EAGAIN)
		return r;
	if (n > 0)
		return pf_checkpoint_commit(o->v, pf_vnode_epoch(o->v), &o->st, sizeof(o->st));
	return 0;
}

static int member_round(struct pf_member *m, struct owned *own, uint32_t *count, unsigned *seed,
			int rounds)
{
	struct pf_vnode *v;
	int r;

	for (int k = 0; k < rounds; k++) {
		if (*count < VNODES / MEMBERS + 2 &&
		    pf_vnode_claim(m, PF_CLAIM_NOWAIT, 0, &v) == 0) {
			r = adopt(&own[*count], v);
			if (r < 0)
				return r;
			(*count)++;
		}
		for (uint32_t i = 0; i < *count; i++) {
			r = drain(&own[i]);
			if (r < 0)
				return r;
		}
		if (*count > 0 && rand_r(seed) % 8 == 0) {
			uint32_t i = (uint32_t)rand_r(seed) % *count;

			r = pf_vnode_release(own[i].v);
			if (r < 0)
				return r;
			own[i] = own[--(*count)];
		}
		pf_member_heartbeat(m);
	}
	return 0;
}

static void *member_main(void *arg)
{
	struct owned *own = calloc(OWNED_MAX, sizeof(*own));
	unsigned seed = (unsigned)(uintptr_t)arg * 7919u + 1;

	while (own != NULL && !pf_load_acquire(&stop_members)) {
		struct pf_member *m;
		uint32_t count = 0;
		int r = pf_member_join(dom, NULL, &m);

		if (r == -EUSERS) {
			usleep(1000); /* every slot is inside its grace period: the rule works */
			continue;
		}
		if (r < 0) {
			fail("join", r);
			break;
		}
		r = member_round(m, own, &count, &seed, 200 + (int)(rand_r(&seed) % 200));
		if (r < 0)
			fail("member round", r);
		/* Commit what we applied, then leave: our VNodes go back to PENDING. */
		for (uint32_t i = 0; i < count && r == 0; i++)
			if ((r = drain(&own[i])) < 0)
				fail("final drain", r);
		r = pf_member_leave(m);
		if (r < 0)
			fail("leave", r);
	}
	free(own);
	return NULL;
}

static int check_final(void)
{
	struct owned *own = calloc(VNODES, sizeof(*own));
	struct pf_member *m;
	uint32_t bad = 0;
	int r;

	if (own == NULL)
		return -ENOMEM;
	while ((r = pf_member_join(dom, NULL, &m)) == -EUSERS)
		usleep(1000);
	if (r < 0)
		return r;
	for (uint32_t i = 0; i < VNODES; i++) {
		struct pf_vnode *v;

		r = pf_vnode_claim(m, 0, UINT64_C(2000000000), &v);
		if (r < 0) {
			fprintf(stderr, "stress_domain: only %u VNodes claimable at the end (%d)\n",
				i, r);
			return r;
		}
		r = adopt(&own[i], v);
		if (r == 0)
			r = drain(&own[i]);
		if (r < 0)
			return r;
	}
	for (uint32_t i = 0; i < VNODES; i++) {
		uint32_t id = pf_vnode_id(own[i].v);
		struct counter_state *st = &own[i].st;

		if (st->value != sent[id] || st->dups != 0 || st->gaps != 0) {
			fprintf(stderr, "vnode %u: value %llu sent %llu dups %llu gaps %llu\n", id,
				(unsigned long long)st->value, (unsigned long long)sent[id],
				(unsigned long long)st->dups, (unsigned long long)st->gaps);
			bad++;
		}
	}
	(void)pf_member_leave(m);
	free(own);
	return bad == 0 ? 0 : -EBADMSG;
}

int main(void)
{
	pthread_t senders[SENDERS], members[MEMBERS];
	struct pf_domain_opts o;
	const char *env = getenv("PF_STRESS_SECONDS");
	uint64_t seconds = env != NULL ? strtoull(env, NULL, 10) : 2, total = 0;
	char name[64];
	int r;

	test_domain_name(name, sizeof(name), "stressdom");
	pf_domain_opts_init(&o);
	o.flags = PF_DOMAIN_REPLACE;
	o.members_max = 8;
	o.vnodes_max = VNODES;
	o.inbox_slots = 16;
	o.msg_bytes_max = sizeof(struct counter_msg);
	o.state_bytes_max = sizeof(struct counter_state);
	o.slot_grace_ns = 1000000;
	r = pf_domain_create(name, &o, &dom);
	if (r < 0) {
		fprintf(stderr, "create: %d\n", r);
		return 1;
	}
	if (pf_vnode_define_range(dom, 0, VNODES, NULL) != (int)VNODES)
		return 1;
	for (uintptr_t i = 0; i < SENDERS; i++)
		(void)pthread_create(&senders[i], NULL, sender_main, (void *)i);
	for (uintptr_t i = 0; i < MEMBERS; i++)
		(void)pthread_create(&members[i], NULL, member_main, (void *)i);
	{
		uint64_t end = mono_ns() + (seconds == 0 ? 1 : seconds) * 1000000000u;

		while (mono_ns() < end)
			usleep(10000);
	}
	pf_store_release(&stop_senders, 1);
	for (int i = 0; i < SENDERS; i++)
		(void)pthread_join(senders[i], NULL);
	pf_store_release(&stop_members, 1);
	for (int i = 0; i < MEMBERS; i++)
		(void)pthread_join(members[i], NULL);
	for (uint32_t i = 0; i < VNODES; i++)
		total += sent[i];
	r = check_final();
	printf("stress_domain: %llu messages to %u VNodes through %d members: %s\n",
	       (unsigned long long)total, VNODES, MEMBERS, r == 0 ? "exact" : "WRONG");
	(void)pf_domain_destroy(dom);
	return r == 0 && pf_load_relaxed(&failures) == 0 ? 0 : 1;
}
