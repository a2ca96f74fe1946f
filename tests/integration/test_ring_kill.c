/* SPDX-License-Identifier: MIT */
/*
 * tests/integration/test_ring_kill.c
 * Goal: the MPMC ring survives producers and consumers killed with SIGKILL at any
 * instruction, across processes on a real shared segment: it never wedges, never
 * duplicates an item, and loses only items a killed consumer had already taken (at most
 * BURST per killed consumer); ring_mpmc_consumed() tells apart entries still in the ring
 * from those taken. Method: rounds; in each, 2 forked producers and 2 forked consumers
 * (single-item or burst; some consumers slow, so that the ring also runs full) work on
 * one ring that lives on across rounds; the parent kills random children at random
 * moments and replaces them, and some children are armed with the fault points
 * RING_ENQ_AFTER_SLOT / RING_DEQ_AFTER_SLOT so that they die exactly between their slot
 * CAS and their hint CAS. At the end of a round the parent kills all
 * children, validates the ring, drains it, accounts for every item id and checks the ring
 * still fills and empties. Exit status: 0 pass, 1 fail.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shm/fault.h"
#include "shm/pf_atomic.h"
#include "shm/ring_mpmc.h"
#include "shm/segment.h"

#define RING_SLOTS 256u
#define IDS_MAX (1u << 20) /* item ids per round */
#define BURST 8u           /* largest burst: what one killed consumer may lose */
#define PRODUCERS 2u
#define CONSUMERS 2u
#define CHILDREN (PRODUCERS + CONSUMERS)
#define ROUNDS 150u
#define RANDOM_KILLS_PER_ROUND 3u
#define KILLS_MIN 200u

/* Per item id word: state bits, then a consumption count in the bits above. */
#define ITEM_ALLOC 1u /* a producer took the id and is about to enqueue it */
#define ITEM_DONE 2u  /* the enqueue returned */
#define ITEM_POS 4u   /* pos[id] holds its position */
#define ITEM_COUNT_ONE 8u

struct ctl {
	_Atomic uint64_t next_id;
	_Atomic uint32_t bad_value;
	uint32_t reserved;
};

struct layout {
	struct ctl *ctl;
	struct ring_mpmc *mem;
	struct ring_mpmc_view ring; /* private: inherited by fork */
	_Atomic uint32_t *item;
	_Atomic uint64_t *pos;
	size_t ring_bytes;
};

struct child {
	pid_t pid;
	bool consumer;
};

static uint32_t xorshift(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static size_t ring_offset(void)
{
	return PF_ALIGN_UP(sizeof(struct ctl), (size_t)4096);
}

static size_t layout_bytes(void)
{
	return ring_offset() + PF_ALIGN_UP(ring_mpmc_bytes(RING_SLOTS), (size_t)4096) +
	       IDS_MAX * sizeof(_Atomic uint32_t) + IDS_MAX * sizeof(_Atomic uint64_t);
}

static struct layout map_layout(void *base)
{
	unsigned char *b = base;
	struct layout l = {.ring_bytes = ring_mpmc_bytes(RING_SLOTS)};
	size_t off = ring_offset();

	l.ctl = base;
	l.mem = (struct ring_mpmc *)(b + off);
	off += PF_ALIGN_UP(l.ring_bytes, (size_t)4096);
	l.pos = (_Atomic uint64_t *)(b + off);
	off += IDS_MAX * sizeof(_Atomic uint64_t);
	l.item = (_Atomic uint32_t *)(b + off);
	return l;
}

/* All child accesses below are relaxed: the parent reads the shared words only after
 * every child is dead and reaped, and the ring itself orders the items. */
static _Noreturn void run_producer(const struct layout *l, uint32_t rng, bool burst)
{
	uint32_t v[BURST];

	for (;;) {
		uint32_t k = burst ? 1 + xorshift(&rng) % BURST : 1, sent = 0;
		/* Relaxed: an id allocator; only uniqueness matters. */
		uint64_t id0 = pf_fetch_add_relaxed(&l->ctl->next_id, k);

		if (id0 >= IDS_MAX) {
			usleep(1000); /* ids of this round used up: idle until killed */
			continue;
		}
		k = (uint32_t)PF_MIN((uint64_t)k, IDS_MAX - id0);
		for (uint32_t i = 0; i < k; i++) {
			v[i] = (uint32_t)(id0 + i);
			/* Relaxed: read by the parent after this process died. */
			pf_fetch_add_relaxed(&l->item[v[i]], ITEM_ALLOC);
		}
		while (sent < k) {
			uint32_t got;
			uint64_t pos;

			if (!burst) {
				got = ring_mpmc_try_enqueue(&l->ring, v[0], &pos) == 0;
				if (got == 1) {
					/* Relaxed: read by the parent after this process died. */
					pf_store_relaxed(&l->pos[v[0]], pos);
					/* Relaxed: as above; each bit is added once per id. */
					pf_fetch_add_relaxed(&l->item[v[0]], ITEM_DONE | ITEM_POS);
				}
			} else {
				got = ring_mpmc_enqueue_burst(&l->ring, v + sent, k - sent);
				for (uint32_t i = 0; i < got; i++) {
					/* Relaxed: read by the parent after this process died. */
					pf_fetch_add_relaxed(&l->item[v[sent + i]], ITEM_DONE);
				}
			}
			sent += got;
			if (got == 0)
				sched_yield();
		}
	}
}

static _Noreturn void run_consumer(const struct layout *l, uint32_t rng, bool burst, bool slow)
{
	uint32_t out[BURST];

	for (;;) {
		uint32_t got;

		if (burst)
			got = ring_mpmc_dequeue_burst(&l->ring, out, 1 + xorshift(&rng) % BURST);
		else
			got = ring_mpmc_try_dequeue(&l->ring, &out[0]) == 0;
		if (got == 0)
			sched_yield();
		else if (slow)
			usleep(xorshift(&rng) % 64); /* let the ring fill up: full-ring paths */
		for (uint32_t i = 0; i < got; i++) {
			if (out[i] >= IDS_MAX) {
				/* Relaxed: a flag the parent reads after the round. */
				pf_store_relaxed(&l->ctl->bad_value, 1);
				continue;
			}
			/* Relaxed: a counter the parent reads after this process died. */
			pf_fetch_add_relaxed(&l->item[out[i]], ITEM_COUNT_ONE);
		}
	}
}

static pid_t spawn(const struct layout *l, bool consumer, uint32_t *rng)
{
	uint32_t seed = xorshift(rng) | 1, roll = xorshift(rng);
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	(void)roll;
#if PF_FAULT_INJECTION
	/* Die exactly between a slot CAS and the hint CAS, after a random number of them. */
	if (roll % 3 == 0)
		fault_arm(consumer ? FAULT_RING_DEQ_AFTER_SLOT : FAULT_RING_ENQ_AFTER_SLOT,
			  1 + (roll >> 3) % 3000, FAULT_MODE_KILL);
#endif
	if (consumer)
		run_consumer(l, seed, (roll >> 1) & 1, (roll >> 2) & 1);
	run_producer(l, seed, (roll >> 1) & 1);
}

struct stats {
	unsigned kills, fault_kills, consumer_kills, producer_kills;
	unsigned long long consumed, drained, lost;
};

static bool reap(struct child *c, bool wait_it, struct stats *st)
{
	int status;
	pid_t r = waitpid(c->pid, &status, wait_it ? 0 : WNOHANG);

	if (r != c->pid)
		return false;
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
		fprintf(stderr, "FAIL: child %d ended with status %#x\n", (int)c->pid, status);
		exit(1);
	}
	st->kills++;
	if (c->consumer)
		st->consumer_kills++;
	else
		st->producer_kills++;
	c->pid = 0;
	return true;
}

static void sleep_us(unsigned us)
{
	struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)us * 1000};

	nanosleep(&ts, NULL);
}

/* Kill every child, then account for every id of the round. Returns 0 or 1 (failure). */
static int finish_round(const struct layout *l, struct child *ch, struct stats *st,
			unsigned consumer_kills0, unsigned producer_kills0, uint8_t *in_ring)
{
	/* Relaxed: every child is dead and reaped below, before these are read. */
	uint64_t ids, lost_done = 0, lost_any = 0;
	unsigned ck, pk;
	uint32_t out[BURST], got, v;
	int r;

	for (unsigned i = 0; i < CHILDREN; i++) {
		(void)kill(ch[i].pid, SIGKILL);
		(void)reap(&ch[i], true, st);
	}
	ck = st->consumer_kills - consumer_kills0;
	pk = st->producer_kills - producer_kills0;
	/* Relaxed: all writers are dead. */
	ids = PF_MIN(pf_load_relaxed(&l->ctl->next_id), (uint64_t)IDS_MAX);
	r = ring_mpmc_check(&l->ring);
	if (r != 0) {
		fprintf(stderr, "FAIL: ring_mpmc_check() = %d after the round\n", r);
		return 1;
	}
	/* Predict from ring_mpmc_consumed() which completed, unconsumed items are still in
	 * the ring; the drain below must find exactly those. */
	memset(in_ring, 0, IDS_MAX);
	for (uint64_t id = 0; id < ids; id++) {
		/* Relaxed: all writers are dead. */
		uint32_t w = pf_load_relaxed(&l->item[id]);

		if ((w & ITEM_POS) && w < ITEM_COUNT_ONE)
			/* Relaxed: all writers are dead. */
			in_ring[id] = !ring_mpmc_consumed(&l->ring, pf_load_relaxed(&l->pos[id]));
	}
	while ((got = ring_mpmc_dequeue_burst(&l->ring, out, BURST)) != 0) {
		for (uint32_t i = 0; i < got; i++) {
			if (out[i] >= ids) {
				fprintf(stderr, "FAIL: drained unknown value %u\n", out[i]);
				return 1;
			}
			if (in_ring[out[i]] == 0 &&
			    (pf_load_relaxed(&l->item[out[i]]) & ITEM_POS)) {
				fprintf(stderr, "FAIL: id %u in ring but reported consumed\n",
					out[i]);
				return 1;
			}
			in_ring[out[i]] = 2;
			/* Relaxed: single process now. */
			pf_fetch_add_relaxed(&l->item[out[i]], ITEM_COUNT_ONE);
			st->drained++;
		}
	}
	for (uint64_t id = 0; id < ids; id++) {
		/* Relaxed: single process now. */
		uint32_t w = pf_load_relaxed(&l->item[id]), n = w / ITEM_COUNT_ONE;

		if (n > 1 || (n == 1 && !(w & ITEM_ALLOC))) {
			fprintf(stderr, "FAIL: id %llu consumed %u times (state %#x)\n",
				(unsigned long long)id, n, w & 7);
			return 1;
		}
		if (in_ring[id] == 1) {
			fprintf(stderr, "FAIL: id %llu reported in ring, not found\n",
				(unsigned long long)id);
			return 1;
		}
		if (n == 0 && (w & ITEM_DONE))
			lost_done++;
		if (n == 0 && (w & ITEM_ALLOC))
			lost_any++;
		st->consumed += n;
	}
	st->lost += lost_done;
	if (lost_done > (uint64_t)BURST * ck || lost_any > (uint64_t)BURST * (ck + pk)) {
		fprintf(stderr,
			"FAIL: lost %llu completed / %llu started items, %u consumer "
			"and %u producer kills\n",
			(unsigned long long)lost_done, (unsigned long long)lost_any, ck, pk);
		return 1;
	}
	/* Relaxed: written by children, read after the round. */
	if (pf_load_relaxed(&l->ctl->bad_value) != 0) {
		fprintf(stderr, "FAIL: a consumer took a value no producer enqueued\n");
		return 1;
	}
	/* Not wedged: the ring fills exactly to capacity and empties in order. */
	for (v = 0; v < RING_SLOTS; v++) {
		if (ring_mpmc_try_enqueue(&l->ring, v, NULL) != 0)
			break;
	}
	if (v != RING_SLOTS || ring_mpmc_try_enqueue(&l->ring, 0, NULL) != -EAGAIN) {
		fprintf(stderr, "FAIL: ring took %u items, not %u\n", v, RING_SLOTS);
		return 1;
	}
	for (v = 0; v < RING_SLOTS; v++) {
		uint32_t x;

		if (ring_mpmc_try_dequeue(&l->ring, &x) != 0 || x != v) {
			fprintf(stderr, "FAIL: ring gave back item %u wrong\n", v);
			return 1;
		}
	}
	if (ring_mpmc_try_dequeue(&l->ring, &v) != -EAGAIN)
		return 1;
	memset((void *)l->item, 0, IDS_MAX * sizeof(*l->item));
	/* Relaxed: no child alive. */
	pf_store_relaxed(&l->ctl->next_id, 0);
	return 0;
}

static int run(const struct layout *l, uint32_t rng)
{
	struct child ch[CHILDREN];
	struct stats st = {0};
	uint8_t *in_ring = malloc(IDS_MAX);
	struct timespec t0, t1;
	int failed = 0;

	if (in_ring == NULL)
		return 1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned round = 0; round < ROUNDS && !failed; round++) {
		unsigned ck0 = st.consumer_kills, pk0 = st.producer_kills;

		for (unsigned i = 0; i < CHILDREN; i++) {
			ch[i].consumer = i >= PRODUCERS;
			ch[i].pid = spawn(l, ch[i].consumer, &rng);
		}
		for (unsigned k = 0; k < RANDOM_KILLS_PER_ROUND; k++) {
			unsigned victim = xorshift(&rng) % CHILDREN;

			sleep_us(xorshift(&rng) % 8000);
			(void)kill(ch[victim].pid, SIGKILL);
			/* Replace the victim and any child a fault point killed meanwhile. */
			for (unsigned i = 0; i < CHILDREN; i++) {
				if (reap(&ch[i], i == victim, &st)) {
					if (i != victim)
						st.fault_kills++;
					ch[i].pid = spawn(l, ch[i].consumer, &rng);
				}
			}
		}
		sleep_us(xorshift(&rng) % 8000);
		for (unsigned i = 0; i < CHILDREN; i++) {
			/* A fault-point death before the final kill counts as such. */
			if (reap(&ch[i], false, &st)) {
				st.fault_kills++;
				ch[i].pid = spawn(l, ch[i].consumer, &rng);
			}
		}
		failed = finish_round(l, ch, &st, ck0, pk0, in_ring);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	fprintf(stderr,
		"%u rounds, %u kills (%u by fault point; %u consumers, %u producers), "
		"%llu items consumed by children, %llu drained, %llu lost with killed consumers, "
		"%.1f s\n",
		ROUNDS, st.kills, st.fault_kills, st.consumer_kills, st.producer_kills,
		st.consumed - st.drained, st.drained, st.lost,
		(double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	free(in_ring);
	if (!failed && st.kills < KILLS_MIN) {
		fprintf(stderr, "FAIL: only %u kills\n", st.kills);
		failed = 1;
	}
	return failed;
}

int main(void)
{
	char name[64];
	struct shm_segment seg;
	struct layout l;
	int r, failed;

	if (!PF_FAULT_INJECTION)
		fprintf(stderr, "note: built without -Dfault_injection=true: random kills only\n");
	snprintf(name, sizeof(name), "pf-test-ringkill-%d", (int)getpid());
	r = shm_segment_create(name, layout_bytes(), 0600, -1, &seg);
	if (r < 0) {
		fprintf(stderr, "shm_segment_create: %s\n", strerror(-r));
		return 1;
	}
	l = map_layout(seg.base);
	failed = ring_mpmc_init(l.mem, l.ring_bytes, RING_SLOTS) != 0 ||
		 ring_mpmc_attach(l.mem, l.ring_bytes, RING_SLOTS, &l.ring) != 0;
	if (!failed)
		failed = run(&l, (uint32_t)getpid() * 2654435761u | 1);
	shm_segment_close(&seg);
	(void)shm_segment_unlink(name);
	fprintf(stderr, "%s\n", failed ? "FAIL" : "PASS");
	return failed;
}
