/* SPDX-License-Identifier: MIT */
/*
 * tests/stress/test_stress_admission.c
 * Goal: the admission gate (core/admission.c) keeps its word under races, and TSan sees
 * no data race: a joiner is made ACTIVE only by its own CAS or the gatekeeper's, never
 * both; a refused or timed-out joiner leaves no slot behind; an admitted member carries
 * the trust and the decision the gatekeeper gave; the gate opening and closing under
 * waiting joiners never strands one. Method: in one process, joiner threads join and
 * leave in a loop with short admission timeouts while a keeper thread admits, refuses or
 * ignores each waiting joiner at random and a toggler opens and closes the gate; at the
 * end no slot may be held and every outcome must be one pf_member_join() documents.
 * Runs a few seconds; PF_STRESS_SECONDS makes it longer.
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

#define JOINERS 4
#define TRUST_GIVEN 654321u

static struct pf_domain *dom;
static _Atomic int stop;
static _Atomic uint64_t admitted, refused, timed_out, ungated, failures;

static void fail(const char *what, int r)
{
	fprintf(stderr, "stress_admission: %s: %d\n", what, r);
	pf_fetch_add_relaxed(&failures, 1); /* Relaxed: a count, read after the joins. */
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Decide waiting joiners at random: admit, refuse, or leave them to time out. */
static void *keeper_main(void *arg)
{
	struct pf_admission_request q = {.size = sizeof(q)};
	uint32_t cursor = 0, seed = 7, ignored[16] = {0}; /* per slot: a generation ignored */

	(void)arg;
	while (!pf_load_acquire(&stop)) { /* [A1] pairs with [R1] in main(). */
		struct pf_policy_verdict v = {.size = sizeof(v), .rule = PF_POLICY_NO_RULE};
		uint32_t roll;

		if (pf_admission_pending(dom, &cursor, &q) < 0) {
			(void)sched_yield();
			continue;
		}
		if (q.slot < 16 && ignored[q.slot] == q.generation)
			continue;
		seed = seed * 1103515245u + 12345u;
		roll = (seed >> 16) % 3;
		if (roll == 2 && q.slot < 16) {
			ignored[q.slot] = q.generation; /* it times out, or the gate opens */
			continue;
		}
		v.action = PF_POLICY_CAN_REGISTER;
		v.allowed = roll == 0;
		v.check = v.allowed ? PF_POLICY_ALLOWED : PF_POLICY_UIDS;
		(void)pf_admission_decide(dom, q.slot, q.generation, &v, TRUST_GIVEN, 0);
	}
	return NULL;
}

/* Open and close the gate now and then, under waiting joiners. */
static void *toggler_main(void *arg)
{
	int closed = 1;

	(void)arg;
	while (!pf_load_acquire(&stop)) {           /* [A1] pairs with [R1] in main(). */
		struct timespec ts = {0, 20000000}; /* longer than a joiner waits */

		(void)nanosleep(&ts, NULL);
		closed = !closed;
		(void)pf_admission_gate(dom, closed ? (int32_t)getpid() : 0, 0);
	}
	return NULL;
}

/* One join: check what came back against what the member's slot says. */
static void join_once(void)
{
	struct pf_member_refusal why = {.size = sizeof(why)};
	struct pf_member_info mi = {.size = sizeof(mi)};
	struct pf_member_opts o;
	struct pf_member *m;
	int r;

	pf_member_opts_init(&o);
	o.admission_timeout_ms = 5;
	o.refusal = &why;
	r = pf_member_join(dom, &o, &m);
	if (r == -EPERM) {
		if (why.check != PF_POLICY_UIDS)
			fail("refusal names the wrong check", (int)why.check);
		pf_fetch_add_relaxed(&refused, 1); /* Relaxed: counts. */
		return;
	}
	if (r == -ETIMEDOUT) {
		pf_fetch_add_relaxed(&timed_out, 1); /* Relaxed: a count. */
		return;
	}
	if (r != 0) {
		fail("join", r);
		return;
	}
	if (pf_member_info(dom, (uint32_t)pf_member_id(m), &mi) != 0 ||
	    mi.state != PF_MEMBER_ACTIVE)
		fail("joined but not ACTIVE", (int)mi.state);
	else if (mi.admission == PF_ADMISSION_GRANTED && mi.trust_ppm != TRUST_GIVEN)
		fail("admitted without the trust given", (int)mi.trust_ppm);
	else if (mi.admission == PF_ADMISSION_REFUSED)
		fail("joined although refused", 0);
	/* Relaxed: counts. */
	pf_fetch_add_relaxed(mi.admission == PF_ADMISSION_GRANTED ? &admitted : &ungated, 1);
	r = pf_member_leave(m);
	if (r != 0)
		fail("leave", r);
}

/* Each joiner thread joins and leaves until told to stop (its join anchors its member). */
static void *joiner_main(void *arg)
{
	(void)arg;
	while (!pf_load_acquire(&stop)) /* [A1] pairs with [R1] in main(). */
		join_once();
	return NULL;
}

static uint32_t slots_in_use(void)
{
	struct pf_member_info mi = {.size = sizeof(mi)};
	uint32_t n = 0;

	for (uint32_t s = 0; s < 16; s++)
		n += pf_member_info(dom, s, &mi) == 0 &&
		     (mi.state == PF_MEMBER_ACTIVE || mi.state == PF_MEMBER_JOINING ||
		      mi.state == PF_MEMBER_DRAINING);
	return n;
}

int main(void)
{
	pthread_t joiners[JOINERS], keeper, toggler;
	const char *env = getenv("PF_STRESS_SECONDS");
	uint64_t seconds = env != NULL ? strtoull(env, NULL, 10) : 3, end;
	struct pf_domain_opts o;
	char name[64];

	test_domain_name(name, sizeof(name), "stress-admission");
	pf_domain_opts_init(&o);
	o.flags = PF_DOMAIN_REPLACE;
	o.members_max = 16;
	o.vnodes_max = 16;
	o.slot_grace_ns = 0;
	CHECK(pf_domain_create(name, &o, &dom) == 0);
	CHECK(pf_admission_gate(dom, getpid(), 0) == 0);
	CHECK(pthread_create(&keeper, NULL, keeper_main, NULL) == 0);
	CHECK(pthread_create(&toggler, NULL, toggler_main, NULL) == 0);
	for (int i = 0; i < JOINERS; i++)
		CHECK(pthread_create(&joiners[i], NULL, joiner_main, NULL) == 0);
	end = mono_ns() + seconds * 1000000000u;
	while (mono_ns() < end)
		(void)usleep(10000);
	pf_store_release(&stop, 1); /* [R1] pairs with [A1] in every thread's loop. */
	for (int i = 0; i < JOINERS; i++)
		CHECK(pthread_join(joiners[i], NULL) == 0);
	CHECK(pthread_join(keeper, NULL) == 0);
	CHECK(pthread_join(toggler, NULL) == 0);
	/* Relaxed: the threads were joined. */
	printf("stress_admission: %llu admitted, %llu refused, %llu timed out, %llu joined "
	       "with the gate open\n",
	       (unsigned long long)pf_load_relaxed(&admitted),
	       (unsigned long long)pf_load_relaxed(&refused),
	       (unsigned long long)pf_load_relaxed(&timed_out),
	       (unsigned long long)pf_load_relaxed(&ungated));
	CHECK(slots_in_use() == 0);
	CHECK(pf_load_relaxed(&failures) == 0); /* Relaxed: the threads were joined. */
	/* Every outcome happened: the test exercised what it claims to. */
	CHECK(pf_load_relaxed(&admitted) > 0 && pf_load_relaxed(&refused) > 0);
	CHECK(pf_load_relaxed(&timed_out) > 0 && pf_load_relaxed(&ungated) > 0);
	CHECK(pf_domain_destroy(dom) == 0);
	return 0;
}
