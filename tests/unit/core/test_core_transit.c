/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/core/test_core_transit.c
 * Goal: the cross-host transitions (core/transit.c, pflight/transit.h) keep each host's
 * half of a move exact. A VNode that leaves fences its owner at once: the owner's commit,
 * receive and release are refused, and the state read for the packet is its last commit.
 * A VNode between hosts is taken by no claim, placement or repair. A move rolled back
 * returns the VNode with its state and messages; one committed frees what was carried and
 * keeps what came later. An arrival refuses a packet older than what the host knows,
 * installs the state at a new epoch that a stale writer cannot publish over, and the
 * member placed next loads that state and receives the waiting messages, then the carried
 * ones, in order. A daemon that died mid-install leaves no buffer held. A daemon killed
 * at any instruction of a forwarded message's send can tell afterwards whether it went in,
 * before and after the owner received and freed it and after the slot was reused.
 * Method: two domains in one process stand for the two hosts; the "daemon" is the test
 * calling pf_transit_*; members are joined in the test's thread.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/member_impl.h"
#include "pflight/pflight.h"
#include "shm/fault.h"
#include "tests/common/test_util.h"

static char name_a[64], name_b[64];
static struct pf_domain *a, *b;

static struct pf_domain *make(char *name, size_t cap, const char *which)
{
	struct pf_domain_opts o;
	struct pf_domain *d = NULL;

	test_domain_name(name, cap, which);
	pf_domain_opts_init(&o);
	o.flags = PF_DOMAIN_REPLACE;
	o.members_max = 4;
	o.vnodes_max = 16;
	o.caps_max = 4;
	o.inbox_slots = 8;
	o.msg_bytes_max = 64;
	o.state_bytes_max = 4096;
	o.slot_grace_ns = 0;
	assert_int_equal(pf_domain_create(name, &o, &d), 0);
	return d;
}

static int setup(void **state)
{
	(void)state;
	a = make(name_a, sizeof(name_a), "transit-a");
	b = make(name_b, sizeof(name_b), "transit-b");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	pf_domain_destroy(a);
	pf_domain_destroy(b);
	return 0;
}

static struct pf_member *join(struct pf_domain *d)
{
	struct pf_member *m = NULL;

	assert_int_equal(pf_member_join(d, NULL, &m), 0);
	return m;
}

static struct pf_vnode *claim(struct pf_member *m, uint32_t id)
{
	struct pf_vnode *v = NULL;

	assert_int_equal(pf_vnode_claim_id(m, id, &v), 0);
	return v;
}

static uint32_t state_of(struct pf_domain *d, uint32_t id, uint64_t *epoch, uint32_t *host)
{
	struct pf_vnode_info vi = {.size = sizeof(vi)};

	assert_int_equal(pf_vnode_info(d, id, &vi), 0);
	if (epoch != NULL)
		*epoch = vi.epoch;
	if (host != NULL)
		*host = vi.host;
	return vi.state;
}

static uint64_t counter(struct pf_domain *d, enum pf_counter which)
{
	uint64_t v[PF_COUNTER_COUNT] = {0};

	assert_int_equal(pf_domain_counters(d, v, PF_COUNTER_COUNT), PF_COUNTER_COUNT);
	return v[which];
}

#if PF_FAULT_INJECTION
/* At the verify of a LEAVING VNode (transit_before_verify): the move is undone (stay) and a
 * new owner commits another state, all before the verify reads the header. */
struct undone {
	struct pf_member *m;
	struct pf_vnode *v2; /* the new owner's handle */
	uint32_t id, epoch;
};

static void undo_and_commit(void *arg, enum fault_point point)
{
	struct undone *u = arg;

	(void)point;
	assert_int_equal(pf_transit_stay(a, u->id, u->epoch), 0);
	u->v2 = claim(u->m, u->id);
	assert_int_equal(pf_checkpoint_commit(u->v2, pf_vnode_epoch(u->v2), "another state", 13),
			 0);
}

/* A verify that lost its VNode to a stay and a new commit says -ESTALE and counts no
 * corrupt checkpoint: the state it found is sound, only no longer the one it meant. */
static void test_verify_of_undone_move(void **state)
{
	struct pf_member *m = join(a);
	struct pf_vnode *v;
	struct undone u = {.m = m, .id = 14};
	const void *view = NULL;
	size_t len = 0;
	uint64_t seq = 0, from = 0, corrupt;

	(void)state;
	assert_int_equal(pf_vnode_define(a, u.id, NULL), 0);
	v = claim(m, u.id);
	assert_int_equal(pf_checkpoint_commit(v, pf_vnode_epoch(v), "state-1", 7), 0);
	assert_int_equal(pf_transit_leave(a, u.id, 3, &u.epoch), 0);
	assert_int_equal(pf_transit_view(a, u.id, u.epoch, &view, &len, &seq, &from), 0);
	corrupt = counter(a, PF_COUNTER_CKPT_CORRUPT);
	fault_set_hook(FAULT_TRANSIT_BEFORE_VERIFY, undo_and_commit, &u);
	assert_int_equal(pf_transit_verify(a, u.id, u.epoch, len, seq), -ESTALE);
	fault_set_hook(FAULT_TRANSIT_BEFORE_VERIFY, NULL, NULL);
	assert_int_equal(counter(a, PF_COUNTER_CKPT_CORRUPT), corrupt);
	assert_int_equal(state_of(a, u.id, NULL, NULL), PF_VNODE_ACTIVE);
	assert_int_equal(pf_vnode_release(v), -ESTALE); /* the fenced handle, freed */
	assert_int_equal(pf_vnode_release(u.v2), 0);
	assert_int_equal(pf_member_leave(m), 0);
}
#endif

static void send_str(struct pf_domain *d, uint32_t id, const char *s)
{
	assert_int_equal(pf_send(d, id, s, strlen(s)), 0);
}

/* Leave fences the owner; the packet reads its last commit and every waiting message. */
static void test_leave_fences_owner(void **state)
{
	struct pf_member *m = join(a);
	struct pf_vnode *v;
	char buf[4096];
	size_t len;
	uint64_t seq, from, cursor;
	uint32_t epoch, host;

	(void)state;
	assert_int_equal(pf_vnode_define(a, 1, NULL), 0);
	v = claim(m, 1);
	send_str(a, 1, "m0");
	send_str(a, 1, "m1");
	assert_int_equal(pf_recv(v, buf, sizeof(buf), &len), 0); /* m0 read, then committed */
	assert_int_equal(pf_checkpoint_commit(v, pf_vnode_epoch(v), "state-1", 7), 0);
	assert_int_equal(pf_recv(v, buf, sizeof(buf), &len), 0); /* m1 read, not committed */

	assert_int_equal(pf_transit_leave(a, 1, 3, &epoch), 0);
	assert_int_equal(epoch, pf_vnode_epoch(v) + 1);
	assert_int_equal(state_of(a, 1, NULL, &host), PF_VNODE_LEAVING);
	assert_int_equal(host, 3);
	assert_int_equal(pf_transit_leave(a, 1, 3, &epoch), -EBUSY);
	/* The fenced owner: nothing it does reaches the packet. */
	assert_int_equal(pf_checkpoint_commit(v, pf_vnode_epoch(v), "state-2", 7), -ESTALE);
	assert_int_equal(pf_recv(v, buf, sizeof(buf), &len), -ESTALE);
	assert_int_equal(pf_vnode_release(v), -ESTALE);
	assert_int_equal(state_of(a, 1, NULL, NULL), PF_VNODE_LEAVING);

	assert_int_equal(pf_transit_read(a, 1, epoch, buf, sizeof(buf), &len, &seq, &from), 0);
	assert_int_equal(len, 7);
	assert_memory_equal(buf, "state-1", 7);
	assert_int_equal(seq, 1);
	{
		/* The header alone says the same, copying nothing. */
		size_t hlen = 0;
		uint64_t hseq = 0, hfrom = 0;

		assert_int_equal(pf_transit_read(a, 1, epoch, NULL, 0, &hlen, &hseq, &hfrom), 0);
		assert_int_equal(hlen, len);
		assert_int_equal(hseq, seq);
		assert_int_equal(hfrom, from);
		assert_int_equal(pf_transit_read(a, 1, epoch + 1, NULL, 0, &hlen, &hseq, &hfrom),
				 -ESTALE);
	}
	{
		/* Where it lies: the same bytes; their check is pf_transit_verify(), which refuses
		 * one byte changed there (and counts it) and passes again once it is back. */
		const void *view = NULL;
		size_t vlen = 0;
		uint64_t vseq = 0, vfrom = 0, corrupt = counter(a, PF_COUNTER_CKPT_CORRUPT);
		char *at;

		assert_int_equal(pf_transit_view(a, 1, epoch, &view, &vlen, &vseq, &vfrom), 0);
		assert_int_equal(vlen, len);
		assert_memory_equal(view, "state-1", 7);
		assert_int_equal(vseq, seq);
		assert_int_equal(vfrom, from);
		assert_int_equal(pf_transit_verify(a, 1, epoch, vlen, vseq), 0);
		assert_int_equal(pf_transit_view(a, 1, epoch + 1, &view, &vlen, &vseq, &vfrom),
				 -ESTALE);
		assert_int_equal(pf_transit_verify(a, 1, epoch + 1, vlen, vseq), -ESTALE);
		assert_int_equal(pf_transit_verify(a, 99, epoch, vlen, vseq), -EINVAL);
		/* Not the state that was read (another length or commit): refused, counted. */
		assert_int_equal(pf_transit_verify(a, 1, epoch, vlen - 1, vseq), -EBADMSG);
		assert_int_equal(pf_transit_verify(a, 1, epoch, vlen, vseq + 1), -EBADMSG);
		assert_int_equal(counter(a, PF_COUNTER_CKPT_CORRUPT), corrupt + 2);
		at = (char *)(uintptr_t)view; /* a corrupt writer's doing */
		at[3] ^= 1;
		assert_int_equal(pf_transit_view(a, 1, epoch, &view, &vlen, &vseq, &vfrom), 0);
		assert_ptr_equal(view, at);
		assert_int_equal(pf_transit_verify(a, 1, epoch, vlen, vseq), -EBADMSG);
		assert_int_equal(counter(a, PF_COUNTER_CKPT_CORRUPT), corrupt + 3);
		at[3] ^= 1;
		assert_int_equal(pf_transit_verify(a, 1, epoch, vlen, vseq), 0);
	}
	assert_int_equal(pf_transit_read(a, 1, epoch + 1, buf, sizeof(buf), &len, &seq, &from),
			 -ESTALE);
	cursor = from; /* m1 was not consumed by the commit: it travels */
	assert_int_equal(pf_transit_message(a, 1, &cursor, buf, sizeof(buf), &len), 0);
	assert_memory_equal(buf, "m1", 2);
	send_str(a, 1, "m2"); /* sent while it leaves: waits too */
	assert_int_equal(pf_transit_message(a, 1, &cursor, buf, sizeof(buf), &len), 0);
	assert_memory_equal(buf, "m2", 2);
	assert_int_equal(pf_transit_message(a, 1, &cursor, buf, sizeof(buf), &len), -EAGAIN);

	/* No claim takes it while it leaves. */
	assert_int_equal(pf_vnode_claim_id(m, 1, &v), -EBUSY);

	/* Rolled back: PENDING at a new epoch, claimed with the state and both messages. */
	assert_int_equal(pf_transit_stay(a, 1, epoch), 0);
	assert_int_equal(pf_transit_stay(a, 1, epoch), -ESTALE);
	v = claim(m, 1);
	assert_int_equal(pf_vnode_epoch(v), epoch + 2);
	assert_int_equal(pf_checkpoint_load(v, buf, sizeof(buf), &len), 0);
	assert_memory_equal(buf, "state-1", 7);
	assert_int_equal(pf_recv(v, buf, sizeof(buf), &len), 0);
	assert_memory_equal(buf, "m1", 2);
	assert_int_equal(pf_recv(v, buf, sizeof(buf), &len), 0);
	assert_memory_equal(buf, "m2", 2);
	assert_int_equal(pf_checkpoint_commit(v, pf_vnode_epoch(v), "state-3", 7), 0);
	assert_int_equal(pf_vnode_release(v), 0);
	assert_int_equal(pf_member_leave(m), 0);
}

/* Commit a move from a to b, then back; the messages carried and the late ones. */
static void test_move_there_and_back(void **state)
{
	struct pf_member *ma = join(a), *mb = join(b);
	const char *caps[] = {"gpu"};
	struct pf_vnode_spec spec;
	struct pf_vnode *v;
	char st[4096], buf[64];
	size_t len, sl;
	uint64_t seq, from, cursor, e64;
	uint32_t ea, eb, host;

	(void)state;
	pf_vnode_spec_init(&spec);
	spec.caps = caps;
	spec.caps_count = 1;
	assert_int_equal(pf_vnode_define(a, 2, &spec), 0);
	assert_int_equal(pf_member_leave(ma), 0);
	{
		struct pf_member_opts o;

		pf_member_opts_init(&o);
		o.caps = caps;
		o.caps_count = 1;
		assert_int_equal(pf_member_join(a, &o, &ma), 0);
	}
	v = claim(ma, 2);
	memset(st, 0x5a, sizeof(st));
	assert_int_equal(pf_checkpoint_commit(v, pf_vnode_epoch(v), st, sizeof(st)), 0);
	send_str(a, 2, "x0");
	send_str(a, 2, "x1");

	/* a: leave and read. */
	assert_int_equal(pf_transit_leave(a, 2, 1, &ea), 0);
	assert_int_equal(pf_transit_read(a, 2, ea, st, sizeof(st), &sl, &seq, &from), 0);
	cursor = from;
	assert_int_equal(pf_transit_message(a, 2, &cursor, buf, sizeof(buf), &len), 0);
	assert_int_equal(pf_transit_message(a, 2, &cursor, buf, sizeof(buf), &len), 0);
	assert_memory_equal(buf, "x1", 2);

	/* b: a VNode it never saw arrives; its member lacks "gpu": it waits PENDING. */
	assert_int_equal(pf_transit_arrive(b, 2, 0, ea, caps, 1, -1, &eb), 0);
	assert_int_equal(eb, ea + 1);
	assert_int_equal(pf_transit_arrive(b, 2, 0, ea, caps, 1, -1, &eb), -EBUSY);
	assert_int_equal(pf_transit_install(b, 2, eb, st, sl, seq, 2), 0);
	assert_int_equal(pf_transit_install(b, 2, eb + 1, st, sl, seq, 2), -ESTALE);
	{
		struct iovec carried[2] = {{"x0", 2}, {"x1", 2}};

		assert_int_equal(pf_transit_deliver(b, 2, eb, carried, 2), 0);
	}
	assert_int_equal(pf_vnode_claim_id(mb, 2, &v), -EBUSY); /* ARRIVING: nobody's yet */

	/* a commits: REMOTE; what was carried is freed, a late message stays. */
	send_str(a, 2, "late");
	assert_int_equal(pf_transit_left(a, 2, ea, ea, cursor), -EINVAL);
	assert_int_equal(pf_transit_left(a, 2, ea, eb, cursor), 0);
	assert_int_equal(state_of(a, 2, &e64, &host), PF_VNODE_REMOTE);
	assert_int_equal(e64, eb);
	assert_int_equal(host, 1);
	assert_int_equal(pf_transit_message(a, 2, &cursor, buf, sizeof(buf), &len), 0);
	assert_memory_equal(buf, "late", 4);
	assert_int_equal(pf_vnode_claim_id(ma, 2, &v), -EBUSY);

	/* b: arrived; a member with "gpu" claims it and finds the state and messages. */
	assert_int_equal(pf_transit_arrived(b, 2, eb), 0);
	assert_int_equal(pf_member_leave(mb), 0);
	{
		struct pf_member_opts o;

		pf_member_opts_init(&o);
		o.caps = caps;
		o.caps_count = 1;
		assert_int_equal(pf_member_join(b, &o, &mb), 0);
	}
	assert_int_equal(pf_vnode_claim_id(mb, 2, &v), 0);
	assert_int_equal(pf_vnode_epoch(v), eb + 1);
	assert_int_equal(pf_checkpoint_load(v, st, sizeof(st), &sl), 0);
	assert_int_equal(sl, 4096);
	assert_int_equal((unsigned char)st[4095], 0x5a);
	assert_int_equal(pf_recv(v, buf, sizeof(buf), &len), 0);
	assert_memory_equal(buf, "x0", 2);
	assert_int_equal(pf_recv(v, buf, sizeof(buf), &len), 0);
	assert_memory_equal(buf, "x1", 2);
	assert_int_equal(pf_recv(v, buf, sizeof(buf), &len), -EAGAIN);
	memset(st, 0x6b, 100);
	assert_int_equal(pf_checkpoint_commit(v, pf_vnode_epoch(v), st, 100), 0);

	/* And back to a: a packet at b's leave epoch is newer than a's REMOTE epoch. */
	assert_int_equal(pf_transit_leave(b, 2, 0, &eb), 0);
	assert_int_equal(pf_transit_read(b, 2, eb, st, sizeof(st), &sl, &seq, &from), 0);
	assert_int_equal(pf_transit_arrive(a, 2, 1, eb - 5, caps, 1, -1, &ea), -ESTALE);
	assert_int_equal(pf_transit_arrive(a, 2, 1, eb, NULL, 0, -1, &ea), -EPROTO);
	assert_int_equal(pf_transit_arrive(a, 2, 1, eb, caps, 1, -1, &ea), 0);
	assert_int_equal(pf_transit_install(a, 2, ea, st, sl, seq, 2), 0);
	{
		/* What b's packet carried goes before what waited here: "late" was sent
		 * after them. */
		struct iovec carried[2] = {{"b0", 2}, {"b1", 2}};

		assert_int_equal(pf_transit_deliver(a, 2, ea, carried, 2), 0);
	}
	assert_int_equal(pf_transit_left(b, 2, eb, ea, from), 0);
	assert_int_equal(pf_transit_arrived(a, 2, ea), 0);
	assert_int_equal(pf_vnode_claim_id(ma, 2, &v), 0);
	assert_int_equal(pf_checkpoint_load(v, st, sizeof(st), &sl), 0);
	assert_int_equal(sl, 100);
	assert_int_equal((unsigned char)st[0], 0x6b);
	/* The carried messages first, then the late one sent to a while the VNode was on b. */
	assert_int_equal(pf_recv(v, buf, sizeof(buf), &len), 0);
	assert_memory_equal(buf, "b0", 2);
	assert_int_equal(pf_recv(v, buf, sizeof(buf), &len), 0);
	assert_memory_equal(buf, "b1", 2);
	assert_int_equal(pf_recv(v, buf, sizeof(buf), &len), 0);
	assert_memory_equal(buf, "late", 4);
	assert_int_equal(pf_recv(v, buf, sizeof(buf), &len), -EAGAIN);
	assert_int_equal(pf_vnode_release(v), 0);
	assert_int_equal(pf_member_leave(ma), 0);
	assert_int_equal(pf_member_leave(mb), 0);
}

/* An arrival rolled back; a state older than the host's is refused; a daemon's death. */
static void test_arrival_undone_and_recovered(void **state)
{
	struct pf_member *mb = join(b);
	struct pf_vnode *v;
	char st[64] = "old-state";
	size_t len;
	uint32_t eb, e2;
	uint64_t e64;

	(void)state;
	assert_int_equal(pf_transit_arrive(b, 3, 2, 10, NULL, 0, -1, &eb), 0);
	assert_int_equal(eb, 11);
	assert_int_equal(pf_transit_install(b, 3, eb, st, 9, 4, 0), 0);
	assert_int_equal(pf_transit_unarrive(b, 3, eb), 0);
	assert_int_equal(state_of(b, 3, &e64, NULL), PF_VNODE_REMOTE);
	assert_int_equal(e64, 11);
	/* A repair or a placement never takes a REMOTE VNode. */
	assert_int_equal(pf_vnode_claim_id(mb, 3, &v), -EBUSY);
	/* A packet from before what b knows (epoch 10 < 11) is refused; a newer one arrives,
	 * and one that never committed makes b forget the state installed before. */
	assert_int_equal(pf_transit_arrive(b, 3, 2, 10, NULL, 0, -1, &e2), -ESTALE);
	assert_int_equal(pf_transit_arrive(b, 3, 2, 11, NULL, 0, -1, &e2), 0);
	assert_int_equal(e2, 12);
	assert_int_equal(pf_transit_install(b, 3, e2, NULL, 0, 0, 0), 0);
	assert_int_equal(pf_transit_arrived(b, 3, e2), 0);
	assert_int_equal(pf_vnode_claim_id(mb, 3, &v), 0);
	assert_int_equal(pf_checkpoint_load(v, st, sizeof(st), &len), -ENOENT);
	assert_int_equal(pf_vnode_release(v), 0);

	/* A daemon killed while it held a buffer it was writing: the next one settles it. */
	{
		struct pf_domain *d = b;
		uint32_t buf = 2 * 4;
		uint64_t w = hold_word(7, HOLD_HELD, HOLD_HOST);

		pf_store_relaxed(&d->ckpt_hold[buf], w);
		assert_int_equal(pf_transit_recover(b), 1);
		assert_int_equal(hold_state(pf_load_relaxed(&d->ckpt_hold[buf])), HOLD_FREE);
		assert_int_equal(pf_transit_recover(b), 0);
	}
	assert_int_equal(pf_member_leave(mb), 0);
}

/* Carried messages go before the waiting ones only with room for all of them: all or
 * nothing. The inbox holds 8; 7 wait here, 2 are carried: refused, nothing placed; with 6
 * waiting they fit, and come out first. */
static void test_deliver_room(void **state)
{
	struct pf_member *m;
	struct pf_vnode *v = NULL;
	struct iovec carried[2] = {{"c0", 2}, {"c1", 2}};
	char buf[64];
	size_t len;
	uint32_t e1, e2, e3;

	(void)state;
	assert_int_equal(pf_transit_arrive(b, 10, 1, 5, NULL, 0, -1, &e1), 0);
	assert_int_equal(pf_transit_unarrive(b, 10, e1), 0); /* REMOTE: senders queue here */
	for (int i = 0; i < 7; i++)
		send_str(b, 10, "w");
	assert_int_equal(pf_transit_arrive(b, 10, 1, e1, NULL, 0, -1, &e2), 0);
	assert_int_equal(pf_transit_install(b, 10, e2, NULL, 0, 0, 2), 0);
	assert_int_equal(pf_transit_deliver(b, 10, e2, carried, 2), -EAGAIN);
	assert_int_equal(pf_transit_unarrive(b, 10, e2), 0);
	{
		uint64_t head, tail;

		assert_int_equal(pf_transit_inbox(b, 10, &head, &tail), 0);
		assert_int_equal(tail - head, 7); /* nothing was placed */
		/* One forwarded away (acknowledged and freed): room for both now. */
		assert_int_equal(pf_transit_forwarded(b, 10, e2, head + 1), 0);
	}
	assert_int_equal(pf_transit_arrive(b, 10, 1, e2, NULL, 0, -1, &e3), 0);
	assert_int_equal(pf_transit_install(b, 10, e3, "st", 2, 1, 2), 0);
	assert_int_equal(pf_transit_deliver(b, 10, e3, carried, 2), 0);
	assert_int_equal(pf_transit_arrived(b, 10, e3), 0);
	m = join(b);
	assert_int_equal(pf_vnode_claim_id(m, 10, &v), 0);
	assert_int_equal(pf_checkpoint_load(v, buf, sizeof(buf), &len), 0);
	assert_int_equal(pf_recv(v, buf, sizeof(buf), &len), 0);
	assert_memory_equal(buf, "c0", 2);
	assert_int_equal(pf_recv(v, buf, sizeof(buf), &len), 0);
	assert_memory_equal(buf, "c1", 2);
	for (int i = 0; i < 6; i++) {
		assert_int_equal(pf_recv(v, buf, sizeof(buf), &len), 0);
		assert_memory_equal(buf, "w", 1);
	}
	assert_int_equal(pf_recv(v, buf, sizeof(buf), &len), -EAGAIN);
	assert_int_equal(pf_vnode_release(v), 0);
	assert_int_equal(pf_member_leave(m), 0);
}

/* An arrival undone after its messages were placed takes them back: the VNode keeps only
 * what was sent here (nothing forwarded back to the source, nothing delivered twice by the
 * next arrival, which carries them again). */
static void test_undone_takes_messages_back(void **state)
{
	struct iovec carried[3] = {{"c0", 2}, {"c1", 2}, {"c2", 2}};
	uint64_t head0, tail0, head, tail, cursor;
	uint32_t e1, e2, e3;
	char buf[16];
	size_t len;

	(void)state;
	assert_int_equal(pf_transit_arrive(b, 11, 1, 3, NULL, 0, -1, &e1), 0);
	assert_int_equal(pf_transit_unarrive(b, 11, e1), 0);
	send_str(b, 11, "local");
	assert_int_equal(pf_transit_inbox(b, 11, &head0, &tail0), 0);
	assert_int_equal(pf_transit_arrive(b, 11, 1, e1, NULL, 0, -1, &e2), 0);
	assert_int_equal(pf_transit_install(b, 11, e2, "s", 1, 1, 3), 0);
	assert_int_equal(pf_transit_deliver(b, 11, e2, carried, 3), 0);
	assert_int_equal(pf_transit_unarrive(b, 11, e2), 0);
	assert_int_equal(pf_transit_inbox(b, 11, &head, &tail), 0);
	assert_int_equal(head, head0);
	assert_int_equal(tail, tail0);
	cursor = head;
	assert_int_equal(pf_transit_message(b, 11, &cursor, buf, sizeof(buf), &len), 0);
	assert_memory_equal(buf, "local", 5);
	assert_int_equal(pf_transit_message(b, 11, &cursor, buf, sizeof(buf), &len), -EAGAIN);
	/* The next arrival carries them again: once each, before the local one. */
	assert_int_equal(pf_transit_arrive(b, 11, 1, e2, NULL, 0, -1, &e3), 0);
	assert_int_equal(pf_transit_install(b, 11, e3, "s", 1, 1, 3), 0);
	assert_int_equal(pf_transit_deliver(b, 11, e3, carried, 3), 0);
	assert_int_equal(pf_transit_inbox(b, 11, &head, &tail), -ESTALE); /* not REMOTE */
	assert_int_equal(pf_transit_arrived(b, 11, e3), 0);
	{
		struct pf_member *m = join(b);
		struct pf_vnode *v = claim(m, 11);
		const char *want[] = {"c0", "c1", "c2", "local"};

		assert_int_equal(pf_checkpoint_load(v, buf, sizeof(buf), &len), 0);
		for (int i = 0; i < 4; i++) {
			assert_int_equal(pf_recv(v, buf, sizeof(buf), &len), 0);
			assert_memory_equal(buf, want[i], strlen(want[i]));
		}
		assert_int_equal(pf_recv(v, buf, sizeof(buf), &len), -EAGAIN);
		assert_int_equal(pf_vnode_release(v), 0);
		assert_int_equal(pf_member_leave(m), 0);
	}
}

struct doomed {
	uint32_t ids[2];
	struct pf_member *m;
};

/* A member's joining thread claims two VNodes, then exits: the kernel releases its robust
 * futex, and a supervisor's pass declares it dead. */
static void *doomed_main(void *arg)
{
	struct doomed *dd = arg;
	dd->m = join(a);
	for (int i = 0; i < 2; i++)
		(void)claim(dd->m, dd->ids[i]);
	return NULL;
}

/* A member dies owning one VNode that left meanwhile and one it still held: its repair
 * returns the one it held to PENDING and leaves the leaving one alone. */
static void test_repair_leaves_transit_alone(void **state)
{
	struct doomed dd = {{5, 6}, NULL};
	struct pf_supervisor *sup;
	pthread_t t;
	uint32_t e;
	uint64_t e64;

	(void)state;
	assert_int_equal(pf_vnode_define_range(a, 5, 2, NULL), 2);
	assert_int_equal(pthread_create(&t, NULL, doomed_main, &dd), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(pf_transit_leave(a, 5, 0, &e), 0);
	assert_int_equal(pf_supervisor_create(a, NULL, &sup), 0);
	assert_int_equal(pf_supervisor_check(sup), 1);
	pf_supervisor_destroy(sup);
	assert_int_equal(pf_member_leave(dd.m), -ESTALE); /* the dead handle, freed */
	assert_int_equal(state_of(a, 5, &e64, NULL), PF_VNODE_LEAVING);
	assert_int_equal(e64, e);
	assert_int_equal(state_of(a, 6, NULL, NULL), PF_VNODE_PENDING);
	assert_int_equal(pf_transit_stay(a, 5, e), 0);
	assert_int_equal(state_of(a, 5, &e64, NULL), PF_VNODE_PENDING);
	assert_int_equal(e64, e + 1);
}

struct snap {
	uint32_t count;
	uint32_t first[64];
};

static int snap_msg(void *arg, uint32_t index, const void *bytes, size_t len)
{
	struct snap *sn = arg;

	assert_true(index <= sn->count && len == sizeof(uint32_t));
	if (index >= 64)
		return -E2BIG;
	memcpy(&sn->first[index], bytes, sizeof(uint32_t));
	sn->count = index + 1;
	return 0;
}

struct churn {
	struct pf_vnode *v;
	_Atomic uint32_t stop;
	_Atomic uint32_t applied;
};

/* The owner: receive numbered messages, keep their count as the state, commit each. */
static void *churn_main(void *arg)
{
	struct churn *ch = arg;

	while (!pf_load_relaxed(&ch->stop)) {
		uint32_t n;
		size_t len;

		if (pf_recv(ch->v, &n, sizeof(n), &len) != 0)
			continue;
		uint32_t next = pf_load_relaxed(&ch->applied) + 1;

		assert_int_equal(n, next - 1);
		assert_int_equal(
			pf_checkpoint_commit(ch->v, pf_vnode_epoch(ch->v), &next, sizeof(next)), 0);
		pf_store_relaxed(&ch->applied, next); /* Relaxed: a progress count */
	}
	return NULL;
}

/* A snapshot of a VNode its owner keeps changing is consistent: the state says N messages
 * were applied, and the messages it carries are exactly N, N + 1, ... in order. */
static void test_snapshot_consistent(void **state)
{
	struct pf_member *m = join(a);
	struct churn ch = {0};
	pthread_t t;
	uint32_t sent = 0, snaps = 0, mid = 0;

	(void)state;
	assert_int_equal(pf_vnode_define(a, 8, NULL), 0);
	ch.v = claim(m, 8);
	assert_int_equal(pthread_create(&t, NULL, churn_main, &ch), 0);
	for (int round = 0; round < 200000 && (mid < 100 || pf_load_relaxed(&ch.applied) < 20000);
	     round++) {
		struct snap sn = {0};
		uint32_t st = 0, epoch, nmsg = 0;
		uint64_t seq;
		size_t len;
		int r;

		while (sent < 1000000 && pf_send(a, 8, &sent, sizeof(sent)) == 0)
			sent++;
		r = pf_transit_snapshot(a, 8, &st, sizeof(st), &len, &seq, &epoch, &nmsg, snap_msg,
					&sn);
		if (r == -EBUSY)
			continue; /* the owner committed under every try */
		assert_int_equal(r, 0);
		if (seq == 0)
			st = 0;
		assert_true(nmsg <= sn.count);
		for (uint32_t i = 0; i < nmsg; i++)
			assert_int_equal(sn.first[i], st + i);
		snaps++;
		mid += st > 0 && nmsg > 0; /* taken mid-stream: state and messages both */
	}
	pf_store_relaxed(&ch.stop, 1);
	assert_int_equal(pthread_join(t, NULL), 0);
	print_message("snapshots %u (%u mid-stream), applied %u\n", snaps, mid,
		      (unsigned)pf_load_relaxed(&ch.applied));
	assert_true(snaps > 0 && mid >= 100);
	assert_int_equal(pf_vnode_release(ch.v), 0);
	assert_int_equal(pf_member_leave(m), 0);
	{
		struct snap sn = {0};
		uint32_t st, epoch, nmsg;
		uint64_t seq;
		size_t len;

		assert_int_equal(pf_transit_snapshot(a, 9, &st, sizeof(st), &len, &seq, &epoch,
						     &nmsg, snap_msg, &sn),
				 -ENOENT);
		/* VNode 2 is back on a (PENDING) with 100 bytes of state: too many for st. */
		assert_int_equal(pf_transit_snapshot(a, 2, &st, sizeof(st), &len, &seq, &epoch,
						     &nmsg, snap_msg, &sn),
				 -ENOBUFS);
		assert_int_equal(len, 100);
	}
}

/* Case c of test_forwarded_send_once: kill a sender at point (none: let it finish). */
static void forwarded_case(struct pf_domain *f, const char *name, uint32_t id, int point,
			   uint64_t *pos)
{
	const uint64_t tag = 0x5046000000000000ull | id;
	int in = point < 0 || point == FAULT_SEND_AFTER_PUBLISH, status;
	struct pf_member *m;
	struct pf_vnode *v = NULL;
	char buf[64];
	size_t len;
	uint32_t got = 0;
	pid_t pid;

	assert_int_equal(pf_vnode_define(f, id, NULL), 0);
	*pos = UINT64_MAX;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct pf_domain *own = NULL; /* its own handle: the slot names this process */

		if (pf_domain_open(name, &own) < 0)
			_exit(4);
#if PF_FAULT_INJECTION
		if (point >= 0)
			fault_arm((enum fault_point)point, 1, FAULT_MODE_KILL);
#endif
		_exit(pf_transit_send(own, id, "fwd", 3, tag, pos) == 0 ? 0 : 3);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(point < 0 ? WIFEXITED(status) && WEXITSTATUS(status) == 0
			      : WIFSIGNALED(status));
	/* Not stored: the sender died before its claim was known; it never publishes. */
	assert_int_equal(*pos != UINT64_MAX ? pf_transit_sent(f, id, *pos, tag) : 0, in);
	send_str(f, id, "after"); /* queues behind a dead sender's slot: it gets skipped */
	m = join(f);
	assert_int_equal(pf_vnode_claim_id(m, id, &v), 0);
	while (pf_recv(v, buf, sizeof(buf), &len) == 0)
		got += len == 3 && memcmp(buf, "fwd", 3) == 0;
	assert_int_equal(got, (uint32_t)in);
	/* Received and freed: the slot's lap moved on; the answer stays. */
	assert_int_equal(pf_checkpoint_commit(v, pf_vnode_epoch(v), "s", 1), 0);
	if (*pos != UINT64_MAX) {
		assert_int_equal(pf_transit_sent(f, id, *pos, tag), in);
		assert_int_equal(pf_transit_sent(f, id, *pos, tag + 1), 0);
		/* Every slot reused by local sends: still the same answer. */
		for (int i = 0; i < 8; i++)
			send_str(f, id, "l");
		assert_int_equal(pf_transit_sent(f, id, *pos, tag), in);
	}
	assert_int_equal(pf_vnode_release(v), 0);
	assert_int_equal(pf_member_leave(m), 0);
}

/* A forwarded message's send killed at each point: whether it went in is told exactly by
 * pf_transit_sent(), and agrees with what the owner receives. */
static void test_forwarded_send_once(void **state)
{
	static const int points[] = {
		-1,
#if PF_FAULT_INJECTION
		FAULT_SEND_AFTER_CLAIM,
		FAULT_SEND_MID_COPY,
		FAULT_SEND_BEFORE_PUBLISH,
		FAULT_SEND_AFTER_PUBLISH,
#endif
	};
	char name[64];
	struct pf_domain *f = make(name, sizeof(name), "transit-fwd");
	uint64_t *pos = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	(void)state;
	assert_true(pos != MAP_FAILED);
	assert_int_equal(pf_transit_send(f, 0, "x", 1, 0, pos), -EINVAL); /* tag 0: no name */
	assert_int_equal(pf_transit_sent(f, 0, 0, 0), -EINVAL);
	for (uint32_t c = 0; c < sizeof(points) / sizeof(points[0]); c++)
		forwarded_case(f, name, c, points[c], pos);
	assert_int_equal(munmap(pos, 4096), 0);
	pf_domain_destroy(f);
}

/* A state received in place: held, written, installed at the arrival's epoch only, loaded
 * by the next owner; a held buffer is given back by a refused install, by unhold, and by
 * the recovery after a daemon's death (here: every buffer held, none given back). */
static void test_install_in_place(void **state)
{
	char name[64], buf[64];
	struct pf_domain *f = make(name, sizeof(name), "transit-held");
	struct pf_member *m;
	struct pf_vnode *v = NULL;
	uint32_t hb, e, n = 0;
	void *bytes;
	size_t len;

	(void)state;
	assert_int_equal(pf_transit_hold(f, 3, &hb, &bytes), 0);
	memcpy(bytes, "held-state", 10);
	assert_int_equal(pf_transit_arrive(f, 3, 1, 5, NULL, 0, -1, &e), 0);
	assert_int_equal(pf_transit_install_held(f, 3, e + 1, hb, 10, 7, 0), -ESTALE);
	assert_int_equal(pf_transit_unhold(f, hb), -EINVAL); /* let go by the refusal */
	assert_int_equal(pf_transit_hold(f, 3, &hb, &bytes), 0);
	memcpy(bytes, "held-state", 10);
	assert_int_equal(pf_transit_install_held(f, 3, e, 1u << 30, 10, 7, 0), -EINVAL);
	assert_int_equal(pf_transit_install_held(f, 3, e, hb, 10, 0, 0), -EINVAL);
	assert_int_equal(pf_transit_hold(f, 3, &hb, &bytes), 0);
	memcpy(bytes, "held-state", 10);
	assert_int_equal(pf_transit_install_held(f, 3, e, hb, 10, 7, 0), 0);
	assert_int_equal(pf_transit_unhold(f, hb), -EINVAL);
	assert_int_equal(pf_transit_arrived(f, 3, e), 0);
	m = join(f);
	assert_int_equal(pf_vnode_claim_id(m, 3, &v), 0);
	assert_int_equal(pf_checkpoint_load(v, buf, sizeof(buf), &len), 0);
	assert_int_equal(len, 10);
	assert_memory_equal(buf, "held-state", 10);
	assert_int_equal(pf_vnode_release(v), 0);
	assert_int_equal(pf_member_leave(m), 0);
	/* Every free buffer held and never given back, as by a daemon killed meanwhile. */
	while (pf_transit_hold(f, 4, &hb, &bytes) == 0)
		n++;
	assert_true(n > 0);
	assert_int_equal(pf_transit_hold(f, 4, &hb, &bytes), -ENOBUFS);
	assert_int_equal(pf_transit_recover(f), (int)n);
	assert_int_equal(pf_transit_hold(f, 4, &hb, &bytes), 0);
	assert_int_equal(pf_transit_unhold(f, hb), 0);
	pf_domain_destroy(f);
}

/* Pre-copy reads of a running VNode: any range of its last commit, its length and commit
 * count alone, nothing past the end, and a refusal before any commit. */
static void test_chunk_ranges(void **state)
{
	char name[64], buf[16];
	struct pf_domain *f = make(name, sizeof(name), "transit-chunk");
	struct pf_member *m = join(f);
	struct pf_vnode *v;
	size_t copied, len;
	uint64_t seq;

	(void)state;
	assert_int_equal(pf_vnode_define(f, 2, NULL), 0);
	assert_int_equal(pf_transit_chunk(f, 2, 0, buf, sizeof(buf), &copied, &len, &seq), -ENOENT);
	v = claim(m, 2);
	assert_int_equal(pf_checkpoint_commit(v, pf_vnode_epoch(v), "0123456789", 10), 0);
	assert_int_equal(pf_transit_chunk(f, 2, 0, NULL, 0, &copied, &len, &seq), 0);
	assert_int_equal(copied, 0);
	assert_int_equal(len, 10);
	assert_int_equal(seq, 1);
	assert_int_equal(pf_transit_chunk(f, 2, 4, buf, 4, &copied, &len, &seq), 0);
	assert_int_equal(copied, 4);
	assert_memory_equal(buf, "4567", 4);
	assert_int_equal(pf_transit_chunk(f, 2, 8, buf, sizeof(buf), &copied, &len, &seq), 0);
	assert_int_equal(copied, 2); /* to the end, no further */
	assert_memory_equal(buf, "89", 2);
	assert_int_equal(pf_transit_chunk(f, 2, 10, buf, sizeof(buf), &copied, &len, &seq), 0);
	assert_int_equal(copied, 0);
	assert_int_equal(pf_checkpoint_commit(v, pf_vnode_epoch(v), "abc", 3), 0);
	assert_int_equal(pf_transit_chunk(f, 2, 0, buf, sizeof(buf), &copied, &len, &seq), 0);
	assert_int_equal(copied, 3);
	assert_memory_equal(buf, "abc", 3);
	assert_int_equal(seq, 2);
	assert_int_equal(pf_transit_chunk(f, 2, 0, NULL, 4, &copied, &len, &seq), -EINVAL);
	assert_int_equal(pf_transit_chunk(f, 99, 0, buf, 4, &copied, &len, &seq), -EINVAL);
	assert_int_equal(pf_vnode_release(v), 0);
	assert_int_equal(pf_member_leave(m), 0);
	pf_domain_destroy(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_leave_fences_owner),
#if PF_FAULT_INJECTION
		cmocka_unit_test(test_verify_of_undone_move),
#endif
		cmocka_unit_test(test_move_there_and_back),
		cmocka_unit_test(test_arrival_undone_and_recovered),
		cmocka_unit_test(test_repair_leaves_transit_alone),
		cmocka_unit_test(test_snapshot_consistent),
		cmocka_unit_test(test_deliver_room),
		cmocka_unit_test(test_undone_takes_messages_back),
		cmocka_unit_test(test_forwarded_send_once),
		cmocka_unit_test(test_install_in_place),
		cmocka_unit_test(test_chunk_ranges),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
