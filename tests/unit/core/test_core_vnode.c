/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/core/test_core_vnode.c
 * Goal: the member and VNode API keeps its contract on one process: Algorithm 1 refuses
 * each bad join with its errno and leaves nothing behind; claims raise the epoch and take
 * what a placer placed (the members' own round without a daemon); stale epochs are refused;
 * checkpoints round-trip and a corrupted one is never returned; messages wait in the inbox across a
 * change of owner and are freed only by a checkpoint; a member whose thread dies is repaired by a
 * supervisor (robust futex) with its VNodes back in PENDING at epoch + 1.
 * Method: real segments; a member's death is a joining thread that exits.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/member_impl.h"
#include "pflight/pflight.h"
#include "shm/fault.h"
#include "tests/common/test_util.h"

static char name[64];
static struct pf_domain *dom;

static int setup(void **state)
{
	struct pf_domain_opts o;

	(void)state;
	test_domain_name(name, sizeof(name), "vnode");
	pf_domain_opts_init(&o);
	o.flags = PF_DOMAIN_REPLACE;
	o.members_max = 8;
	o.vnodes_max = 64;
	o.caps_max = 4;
	o.inbox_slots = 8;
	o.msg_bytes_max = 64;
	o.state_bytes_max = 256;
	o.slot_grace_ns = 0;
	return pf_domain_create(name, &o, &dom);
}

static int teardown(void **state)
{
	(void)state;
	return pf_domain_destroy(dom);
}

static struct pf_member *join(const char *const *caps, uint32_t n)
{
	struct pf_member_opts o;
	struct pf_member *m = NULL;

	pf_member_opts_init(&o);
	o.caps = caps;
	o.caps_count = n;
	assert_int_equal(pf_member_join(dom, &o, &m), 0);
	return m;
}

static int refuse_all(void *arg, const struct pf_member_identity *id, const char *const *caps,
		      uint32_t count)
{
	(void)caps;
	(void)count;
	assert_int_equal(id->pid, getpid());
	assert_true(id->start_time > 0);
	(*(int *)arg)++;
	return -EPERM;
}

static void test_member_join_refusals(void **state)
{
	const char *too_many[PF_MEMBER_CAPS_MAX + 1];
	const char *bad_name[] = {"has space"};
	const char *five[] = {"a", "b", "c", "d", "e"};
	struct pf_domain_info info = {.size = sizeof(info)};
	struct pf_member_opts o;
	struct pf_member *m = NULL, *ms[8];
	int calls = 0;

	(void)state;
	for (size_t i = 0; i < PF_ARRAY_SIZE(too_many); i++)
		too_many[i] = "x";
	pf_member_opts_init(&o);
	o.caps = too_many;
	o.caps_count = PF_MEMBER_CAPS_MAX + 1;
	assert_int_equal(pf_member_join(dom, &o, &m), -E2BIG);
	o.caps = bad_name;
	o.caps_count = 1;
	assert_int_equal(pf_member_join(dom, &o, &m), -EINVAL);
	o.caps = five; /* the directory holds 4 */
	o.caps_count = 5;
	assert_int_equal(pf_member_join(dom, &o, &m), -ENOSPC);
	pf_member_opts_init(&o);
	o.can_register = refuse_all;
	o.policy_arg = &calls;
	assert_int_equal(pf_member_join(dom, &o, &m), -EPERM);
	assert_int_equal(calls, 1);
	pf_member_opts_init(&o);
	o.flags = 0x100;
	assert_int_equal(pf_member_join(dom, &o, &m), -EINVAL);
	assert_null(m);
	assert_int_equal(pf_domain_info(dom, &info), 0);
	assert_int_equal(info.members_active, 0);
	for (int i = 0; i < 8; i++)
		ms[i] = join(NULL, 0);
	assert_int_equal(pf_member_join(dom, NULL, &m), -EUSERS);
	for (int i = 0; i < 8; i++)
		assert_int_equal(pf_member_leave(ms[i]), 0);
	assert_int_equal(pf_domain_info(dom, &info), 0);
	assert_int_equal(info.members_active, 0);
}

static void test_member_join_info_leave(void **state)
{
	const char *caps[] = {"gpu", "net:10g"};
	struct pf_member_info mi = {.size = sizeof(mi)};
	struct pf_domain_info di = {.size = sizeof(di)};
	struct pf_member *m;
	uint32_t slot;

	(void)state;
	m = join(caps, 2);
	slot = (uint32_t)pf_member_id(m);
	assert_int_equal(pf_member_info(dom, slot, &mi), 0);
	assert_int_equal(mi.state, PF_MEMBER_ACTIVE);
	assert_int_equal(mi.pid, getpid());
	assert_true(mi.generation >= 1);
	assert_int_equal(pf_capability_find(dom, "gpu") >= 0, 1);
	assert_int_equal(pf_capability_find(dom, "net:10g") >= 0, 1);
	assert_int_equal(pf_capability_find(dom, "tpu"), -ENOENT);
	assert_string_equal(pf_capability_name(dom, (uint32_t)pf_capability_find(dom, "gpu")),
			    "gpu");
	assert_int_equal(mi.caps[0], 3);
	pf_member_heartbeat(m);
	pf_member_heartbeat(m);
	assert_int_equal(pf_member_info(dom, slot, &mi), 0);
	assert_int_equal(mi.heartbeat, 2);
	assert_int_equal(pf_domain_info(dom, &di), 0);
	assert_int_equal(di.members_active, 1);
	assert_int_equal(pf_member_leave(m), 0);
	assert_int_equal(pf_member_info(dom, slot, &mi), -ENOENT);
}

/* The bulk read of ownership agrees with pf_vnode_info() on every VNode, owned, pending or
 * never defined, and refuses a range past the table. */
static void test_vnode_owners_match_info(void **state)
{
	struct pf_vnode_owner own[64];
	struct pf_member *m;
	struct pf_vnode *v;

	(void)state;
	m = join(NULL, 0);
	assert_int_equal(pf_vnode_define_range(dom, 8, 16, NULL), 16);
	assert_int_equal(pf_vnode_claim_id(m, 10, &v), 0);
	assert_int_equal(pf_vnode_owners(dom, 0, 64, own), 64);
	for (uint32_t id = 0; id < 64; id++) {
		struct pf_vnode_info vi = {.size = sizeof(vi)};

		assert_int_equal(pf_vnode_info(dom, id, &vi), 0);
		assert_int_equal(own[id].state, vi.state);
		assert_int_equal(own[id].owner_slot, vi.owner_slot);
		if (vi.state == PF_VNODE_ACTIVE)
			assert_int_equal(own[id].owner_generation, vi.owner_generation);
	}
	assert_int_equal(own[10].state, PF_VNODE_ACTIVE);
	assert_int_equal(own[10].owner_slot, (uint32_t)pf_member_id(m));
	assert_int_equal(own[9].state, PF_VNODE_PENDING);
	assert_int_equal(own[7].state, PF_VNODE_UNASSIGNED);
	assert_int_equal(pf_vnode_owners(dom, 60, 4, own), 4);
	assert_int_equal(pf_vnode_owners(dom, 64, 0, own), 0);
	assert_int_equal(pf_vnode_owners(dom, 60, 5, own), -EINVAL);
	assert_int_equal(pf_vnode_owners(dom, 65, 0, own), -EINVAL);
	assert_int_equal(pf_vnode_owners(NULL, 0, 1, own), -EINVAL);
	assert_int_equal(pf_vnode_owners(dom, 0, 1, NULL), -EINVAL);
	assert_int_equal(pf_member_leave(m), 0);
}

/* Without a daemon the members place: a claim by a member that cannot take the VNode
 * still places it, on the one that can, who then gets it from its own claim. */
static void test_vnode_claim_placed(void **state)
{
	const char *gpu[] = {"gpu"};
	struct pf_vnode_spec spec;
	struct pf_vnode_info vi = {.size = sizeof(vi)};
	struct pf_member *plain, *g;
	struct pf_vnode *v, *w;

	(void)state;
	plain = join(NULL, 0);
	g = join(gpu, 1);
	pf_vnode_spec_init(&spec);
	spec.caps = gpu;
	spec.caps_count = 1;
	assert_int_equal(pf_vnode_define(dom, 5, &spec), 0);
	assert_int_equal(pf_vnode_define(dom, 5, &spec), -EEXIST);
	assert_int_equal(pf_vnode_define(dom, 64, NULL), -EINVAL);
	assert_int_equal(pf_vnode_claim_id(plain, 5, &v), -EPERM);
	assert_int_equal(pf_vnode_claim_id(plain, 6, &v), -ENOENT);
	assert_int_equal(pf_vnode_claim(plain, PF_CLAIM_NOWAIT, 0, &v), -EAGAIN);
	assert_int_equal(pf_vnode_claim(plain, 0, 2000000, &v), -ETIMEDOUT);
	assert_int_equal(pf_vnode_info(dom, 5, &vi), 0); /* placed on g by plain's round */
	assert_int_equal(vi.state, PF_VNODE_ACTIVE);
	assert_int_equal(vi.owner_slot, (uint32_t)pf_member_id(g));
	assert_int_equal(pf_vnode_claim_id(plain, 5, &v), -EBUSY);
	assert_int_equal(pf_vnode_claim(g, PF_CLAIM_NOWAIT, 0, &v), 0);
	assert_int_equal(pf_vnode_id(v), 5);
	assert_int_equal(pf_vnode_epoch(v), 1);
	assert_int_equal(pf_vnode_claim_id(g, 5, &w), -EBUSY);
	assert_int_equal(pf_vnode_info(dom, 5, &vi), 0);
	assert_int_equal(vi.state, PF_VNODE_ACTIVE);
	assert_int_equal(vi.owner_slot, (uint32_t)pf_member_id(g));
	assert_int_equal(pf_member_vnodes(g), 1);
	assert_int_equal(pf_vnode_release(v), 0);
	assert_int_equal(pf_vnode_info(dom, 5, &vi), 0);
	assert_int_equal(vi.state, PF_VNODE_PENDING);
	assert_int_equal(vi.epoch, 2);
	assert_int_equal(pf_vnode_claim_id(g, 5, &v), 0);
	assert_int_equal(pf_vnode_epoch(v), 3);
	assert_int_equal(pf_member_leave(plain), 0);
	assert_int_equal(pf_member_leave(g), 0); /* releases v */
	assert_int_equal(pf_vnode_info(dom, 5, &vi), 0);
	assert_int_equal(vi.state, PF_VNODE_PENDING);
	assert_int_equal(vi.epoch, 4);
}

/* A VNode released while the pending queue is full waits for the supervisor's sweep to
 * queue it, and the sweep takes its pending_pos for a queue position: it must say "not
 * queued", not the mark its adoption left (a "position" of 2^62 and more, whose answer
 * depends on an unrelated slot of the ring). */
static void test_vnode_release_pending_full(void **state)
{
	struct pf_member *m = join(NULL, 0);
	struct pf_vnode_info vi = {.size = sizeof(vi)};
	struct pf_vnode *v;

	(void)state;
	assert_int_equal(pf_vnode_define(dom, 9, NULL), 0);
	assert_int_equal(pf_vnode_claim(m, PF_CLAIM_NOWAIT, 0, &v), 0);
	/* The rest of the queue: entries of VNode 63, never defined. */
	while (ring_mpmc_try_enqueue(&dom->pending, 63, NULL) == 0) {
	}
	assert_int_equal(pf_vnode_release(v), 0);
	assert_int_equal(pf_vnode_info(dom, 9, &vi), 0);
	assert_int_equal(vi.state, PF_VNODE_PENDING);
	/* Relaxed: this thread's own release wrote it. */
	assert_true(pf_load_relaxed(&dom->vnodes[9].pending_pos) == PENDING_POS_NONE);
	assert_int_equal(pf_member_leave(m), 0);
}

#if PF_FAULT_INJECTION
static struct pf_sched *early_placer; /* places from inside the next queue push */

static void place_mid_push(void *arg, enum fault_point point)
{
	struct pf_sched *s = early_placer;

	(void)arg;
	(void)point;
	early_placer = NULL; /* once: the placement's own push to the assignment ring */
	if (s != NULL)
		assert_int_equal(pf_sched_run(s, 4), 1);
}
#endif

/* A VNode queued again is placed by a placer that takes its entry before the pusher has
 * written the entry's position as the sweep's hint: the hint, written late over what the
 * placement left, must not keep the owner from adopting its placement (a VNode owned and
 * never served, its inbox full, until its owner leaves). */
static void test_vnode_adopt_after_late_hint(void **state)
{
#if PF_FAULT_INJECTION
	struct pf_member *m = join(NULL, 0);
	struct pf_vnode_info vi = {.size = sizeof(vi)};
	struct pf_vnode *v;

	(void)state;
	assert_int_equal(pf_vnode_define(dom, 7, NULL), 0);
	assert_int_equal(pf_vnode_claim(m, PF_CLAIM_NOWAIT, 0, &v), 0);
	assert_int_equal(pf_vnode_epoch(v), 1);
	assert_int_equal(pf_sched_create(dom, NULL, &early_placer), 0);
	{
		struct pf_sched *s = early_placer;

		fault_set_hook(FAULT_RING_ENQ_AFTER_SLOT, place_mid_push, NULL);
		assert_int_equal(pf_vnode_release(v), 0); /* its push places it again, on m */
		fault_set_hook(FAULT_RING_ENQ_AFTER_SLOT, NULL, NULL);
		assert_null(early_placer);
		pf_sched_destroy(s);
	}
	assert_int_equal(pf_vnode_info(dom, 7, &vi), 0);
	assert_int_equal(vi.state, PF_VNODE_ACTIVE);
	assert_int_equal(vi.owner_slot, (uint32_t)pf_member_id(m));
	assert_int_equal(vi.epoch, 3);
	assert_int_equal(pf_vnode_claim(m, PF_CLAIM_NOWAIT, 0, &v), 0);
	assert_int_equal(pf_vnode_id(v), 7);
	assert_int_equal(pf_vnode_epoch(v), 3);
	assert_int_equal(pf_member_leave(m), 0);
#else
	(void)state;
	skip();
#endif
}

/* A placer killed inside its delivery, after its item is in the member's assignment ring
 * and before the ring's tail hint moves: the member's claim still finds the placement
 * (an emptiness judged by the hints alone would leave it there until another placement
 * on the member moved the tail, and in a quiet domain the VNode owned and never served). */
static void test_vnode_adopt_after_placer_killed(void **state)
{
#if PF_FAULT_INJECTION
	struct pf_member *m = join(NULL, 0);
	struct pf_vnode_info vi = {.size = sizeof(vi)};
	struct pf_vnode *v;
	int status;
	pid_t pid;

	(void)state;
	assert_int_equal(pf_vnode_define(dom, 11, NULL), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct pf_sched *s;

		if (pf_sched_create(dom, NULL, &s) < 0)
			_exit(2);
		fault_arm(FAULT_RING_ENQ_AFTER_SLOT, 1, FAULT_MODE_KILL); /* the delivery's */
		(void)pf_sched_run(s, 4);
		_exit(3); /* the fault point did not kill us */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	assert_int_equal(pf_vnode_info(dom, 11, &vi), 0);
	assert_int_equal(vi.state, PF_VNODE_ACTIVE);
	assert_int_equal(vi.owner_slot, (uint32_t)pf_member_id(m));
	assert_int_equal(pf_vnode_claim(m, PF_CLAIM_NOWAIT, 0, &v), 0);
	assert_int_equal(pf_vnode_id(v), 11);
	assert_int_equal(pf_vnode_epoch(v), vi.epoch);
	assert_int_equal(pf_member_leave(m), 0);
#else
	(void)state;
	skip();
#endif
}

/* A placer killed between the ownership CAS and its delivery: the VNode is ACTIVE on a live
 * member that was never told. The sweep delivers it again, and the member adopts it. */
static void test_vnode_placed_undelivered_redelivered(void **state)
{
#if PF_FAULT_INJECTION
	struct pf_member *m = join(NULL, 0);
	struct pf_vnode_info vi = {.size = sizeof(vi)};
	struct pf_supervisor_opts so;
	struct pf_supervisor *sup;
	struct pf_vnode *v;
	int status;
	pid_t pid;

	(void)state;
	assert_int_equal(pf_vnode_define(dom, 12, NULL), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct pf_sched *s;

		if (pf_sched_create(dom, NULL, &s) < 0)
			_exit(2);
		fault_arm(FAULT_CLAIM_AFTER_CAS, 1, FAULT_MODE_KILL);
		(void)pf_sched_run(s, 4);
		_exit(3); /* the fault point did not kill us */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	assert_int_equal(pf_vnode_info(dom, 12, &vi), 0);
	assert_int_equal(vi.state, PF_VNODE_ACTIVE);
	assert_int_equal(vi.owner_slot, (uint32_t)pf_member_id(m));
	pf_supervisor_opts_init(&so);
	so.sweep_interval_ns = 1;
	assert_int_equal(pf_supervisor_create(dom, &so, &sup), 0);
	(void)pf_supervisor_check(sup);
	assert_int_equal(pf_vnode_claim(m, PF_CLAIM_NOWAIT, 0, &v), 0);
	assert_int_equal(pf_vnode_id(v), 12);
	assert_int_equal(pf_vnode_epoch(v), vi.epoch);
	(void)pf_supervisor_check(sup); /* adopted: not delivered again */
	assert_int_equal(pf_vnode_claim(m, PF_CLAIM_NOWAIT, 0, &v), -EAGAIN);
	pf_supervisor_destroy(sup);
	assert_int_equal(pf_member_leave(m), 0);
#else
	(void)state;
	skip();
#endif
}

static void test_checkpoint_roundtrip_and_fencing(void **state)
{
	char buf[256], big[257];
	struct pf_member *m;
	struct pf_vnode *v, *v2;
	size_t len;
	uint64_t seq;
	uint64_t epoch;

	(void)state;
	m = join(NULL, 0);
	assert_int_equal(pf_vnode_define(dom, 1, NULL), 0);
	assert_int_equal(pf_vnode_claim_id(m, 1, &v), 0);
	epoch = pf_vnode_epoch(v);
	assert_int_equal(pf_checkpoint_load(v, buf, sizeof(buf), &len), -ENOENT);
	assert_int_equal(pf_checkpoint_commit(v, epoch, "hello", 5), 0);
	assert_int_equal(pf_checkpoint_commit(v, epoch, "world!", 6), 0);
	assert_int_equal(pf_checkpoint_load(v, buf, sizeof(buf), &len), 0);
	assert_int_equal(len, 6);
	assert_memory_equal(buf, "world!", 6);
	assert_int_equal(pf_checkpoint_load(v, buf, 3, &len), -ENOBUFS);
	assert_int_equal(len, 6);
	assert_int_equal(pf_checkpoint_commit(v, epoch, big, sizeof(big)), -EMSGSIZE);
	assert_int_equal(pf_checkpoint_commit(v, epoch + 1, "x", 1), -ESTALE);
	assert_int_equal(pf_checkpoint_read(dom, 1, buf, sizeof(buf), &len, &seq), 0);
	assert_int_equal(seq, 2);
	assert_memory_equal(buf, "world!", 6);
	/* A new owner seals the descriptor: the old handle's commit is refused. */
	assert_int_equal(pf_vnode_release(v), 0);
	assert_int_equal(pf_vnode_claim_id(m, 1, &v2), 0);
	assert_int_equal(pf_vnode_epoch(v2), epoch + 2);
	assert_int_equal(pf_checkpoint_load(v2, buf, sizeof(buf), &len), 0);
	assert_memory_equal(buf, "world!", 6);
	assert_int_equal(pf_member_leave(m), 0);
}

static uint64_t counter_of(enum pf_counter which)
{
	uint64_t v[PF_COUNTER_COUNT];

	assert_int_equal(pf_domain_counters(dom, v, PF_COUNTER_COUNT), PF_COUNTER_COUNT);
	return v[which];
}

static void test_checkpoint_corruption_detected(void **state)
{
	struct pf_member *m;
	struct pf_vnode *v;
	struct dom_ckpt_hdr *slot;
	char buf[64];
	size_t len;
	uint64_t c, corrupt;

	(void)state;
	m = join(NULL, 0);
	assert_int_equal(pf_vnode_define(dom, 2, NULL), 0);
	assert_int_equal(pf_vnode_claim_id(m, 2, &v), 0);
	assert_int_equal(pf_checkpoint_commit(v, pf_vnode_epoch(v), "abcdefgh", 8), 0);
	c = atomic_load(&dom->vnodes[2].ckpt);
	slot = ckpt_buffer(dom, ckpt_buf(c));
	/* Each field of the record corrupted once is refused, and the bytes never leak. */
	((unsigned char *)(slot + 1))[3] ^= 1;
	memset(buf, 'z', sizeof(buf));
	assert_int_equal(pf_checkpoint_load(v, buf, sizeof(buf), &len), -EBADMSG);
	assert_true(memcmp(buf, "abcdefgh", 8) != 0);
	((unsigned char *)(slot + 1))[3] ^= 1;
	assert_int_equal(pf_checkpoint_load(v, buf, sizeof(buf), &len), 0);
	slot->inbox_pos ^= 1;
	assert_int_equal(pf_checkpoint_load(v, buf, sizeof(buf), &len), -EBADMSG);
	slot->inbox_pos ^= 1;
	slot->len = 300;
	assert_int_equal(pf_checkpoint_load(v, buf, sizeof(buf), &len), -EBADMSG);
	slot->len = 7;
	assert_int_equal(pf_checkpoint_load(v, buf, sizeof(buf), &len), -EBADMSG);
	slot->len = 8;
	slot->seq++;
	assert_int_equal(pf_checkpoint_load(v, buf, sizeof(buf), &len), -EBADMSG);
	slot->seq--;
	slot->vnode = 3;
	assert_int_equal(pf_checkpoint_load(v, buf, sizeof(buf), &len), -EBADMSG);
	slot->vnode = 2;
	slot->epoch += 5;
	assert_int_equal(pf_checkpoint_load(v, buf, sizeof(buf), &len), -EBADMSG);
	slot->epoch -= 5;
	slot->checksum ^= 1;
	corrupt = counter_of(PF_COUNTER_CKPT_CORRUPT);
	assert_int_equal(pf_checkpoint_load(v, buf, sizeof(buf), &len), -EBADMSG);
	assert_int_equal(pf_checkpoint_read(dom, 2, buf, sizeof(buf), &len, NULL), -EBADMSG);
	assert_int_equal(counter_of(PF_COUNTER_CKPT_CORRUPT), corrupt + 2); /* once each */
	slot->checksum ^= 1;
	assert_int_equal(pf_checkpoint_load(v, buf, sizeof(buf), &len), 0);
	assert_memory_equal(buf, "abcdefgh", 8);
	/* A descriptor naming a buffer past the pool: refused and counted, never followed. */
	atomic_store(&dom->vnodes[2].ckpt,
		     ckpt_word(ckpt_epoch(c), ckpt_tag(c), dom->lim.ckpt_bufs));
	assert_int_equal(pf_checkpoint_load(v, buf, sizeof(buf), &len), -EBADMSG);
	assert_int_equal(pf_checkpoint_read(dom, 2, buf, sizeof(buf), &len, NULL), -EBADMSG);
	assert_int_equal(counter_of(PF_COUNTER_CKPT_CORRUPT), corrupt + 4);
	atomic_store(&dom->vnodes[2].ckpt, c);
	assert_int_equal(pf_checkpoint_read(dom, 2, buf, sizeof(buf), &len, NULL), 0);
	assert_memory_equal(buf, "abcdefgh", 8);
	assert_int_equal(pf_member_leave(m), 0);
}

/* A claim that finds the descriptor naming a buffer past the pool counts that once (the
 * counters are exact), starts reading at the inbox head and loads nothing. */
static void test_checkpoint_claim_bad_buffer_counted_once(void **state)
{
	struct pf_member *m;
	struct pf_vnode *v;
	uint64_t c, invalid;
	char buf[16];
	size_t len;

	(void)state;
	m = join(NULL, 0);
	assert_int_equal(pf_vnode_define(dom, 6, NULL), 0);
	assert_int_equal(pf_vnode_claim_id(m, 6, &v), 0);
	assert_int_equal(pf_checkpoint_commit(v, pf_vnode_epoch(v), "x", 1), 0);
	assert_int_equal(pf_vnode_release(v), 0);
	c = atomic_load(&dom->vnodes[6].ckpt);
	atomic_store(&dom->vnodes[6].ckpt,
		     ckpt_word(ckpt_epoch(c), ckpt_tag(c), dom->lim.ckpt_bufs));
	invalid = counter_of(PF_COUNTER_SHM_INVALID);
	assert_int_equal(pf_vnode_claim_id(m, 6, &v), 0);
	assert_int_equal(counter_of(PF_COUNTER_SHM_INVALID), invalid + 1);
	assert_int_equal(pf_checkpoint_load(v, buf, sizeof(buf), &len), -EBADMSG);
	assert_int_equal(pf_vnode_release(v), 0);
	assert_int_equal(pf_member_leave(m), 0);
}

/* Every buffer taken by others (as by stalled writers fenced out): a commit returns
 * -ENOBUFS, writes nothing and keeps the last committed state; once one buffer is given
 * back, the next commit goes in. */
static void test_checkpoint_commit_out_of_buffers(void **state)
{
	struct pf_member *m, *x;
	struct pf_vnode *v;
	uint32_t who, taken = 0;
	char buf[64];
	size_t len;

	(void)state;
	m = join(NULL, 0);
	x = join(NULL, 0);
	who = hold_member((uint32_t)pf_member_id(x), (uint32_t)(pf_member_id(x) >> 32));
	assert_int_equal(pf_vnode_define(dom, 4, NULL), 0);
	assert_int_equal(pf_vnode_claim_id(m, 4, &v), 0);
	assert_int_equal(pf_checkpoint_commit(v, pf_vnode_epoch(v), "first", 6), 0);
	for (uint32_t b = 0; b < dom->lim.ckpt_bufs; b++) {
		uint64_t w = atomic_load(&dom->ckpt_hold[b]);

		if (hold_state(w) == HOLD_FREE) {
			atomic_store(&dom->ckpt_hold[b],
				     hold_word(hold_version(w) + 1, HOLD_HELD, who));
			taken++;
		}
	}
	assert_true(taken + 1 >= dom->lim.ckpt_bufs); /* all but the one named */
	assert_int_equal(pf_checkpoint_commit(v, pf_vnode_epoch(v), "second", 7), -ENOBUFS);
	assert_int_equal(pf_checkpoint_read(dom, 4, buf, sizeof(buf), &len, NULL), 0);
	assert_string_equal(buf, "first");
	/* One given back: the retry goes in. */
	atomic_store(
		&dom->ckpt_hold[dom->lim.ckpt_bufs - 1],
		hold_word(hold_version(atomic_load(&dom->ckpt_hold[dom->lim.ckpt_bufs - 1])) + 1,
			  HOLD_FREE, 0));
	assert_int_equal(pf_checkpoint_commit(v, pf_vnode_epoch(v), "second", 7), 0);
	assert_int_equal(pf_checkpoint_load(v, buf, sizeof(buf), &len), 0);
	assert_string_equal(buf, "second");
	for (uint32_t b = 0; b < dom->lim.ckpt_bufs; b++) {
		uint64_t w = atomic_load(&dom->ckpt_hold[b]);

		if (hold_state(w) == HOLD_HELD && hold_who(w) == who)
			atomic_store(&dom->ckpt_hold[b],
				     hold_word(hold_version(w) + 1, HOLD_FREE, 0));
	}
	assert_int_equal(pf_member_leave(x), 0);
	assert_int_equal(pf_member_leave(m), 0);
}

/* A VNode whose home buffers are both taken (as by stalled writers fenced out) takes a
 * spare, not another VNode's home buffer: each VNode's state stays on its NUMA home, and
 * one displaced VNode does not displace the next. */
static void test_checkpoint_displaced_takes_spare(void **state)
{
	uint32_t homes = 2 * dom->lim.vnodes_max, who;
	struct pf_member *m, *x;
	struct pf_vnode *v;

	(void)state;
	m = join(NULL, 0);
	x = join(NULL, 0);
	who = hold_member((uint32_t)pf_member_id(x), (uint32_t)(pf_member_id(x) >> 32));
	for (uint32_t b = 0; b < 2; b++) /* VNode 0's home buffers */
		atomic_store(&dom->ckpt_hold[b], hold_word(1, HOLD_HELD, who));
	assert_int_equal(pf_vnode_define(dom, 0, NULL), 0);
	assert_int_equal(pf_vnode_claim_id(m, 0, &v), 0);
	for (int i = 0; i < 4; i++) /* two buffers taken, then the two kept in turn */
		assert_int_equal(pf_checkpoint_commit(v, pf_vnode_epoch(v), "s", 2), 0);
	for (uint32_t b = 2; b < homes; b++)
		if (hold_state(atomic_load(&dom->ckpt_hold[b])) != HOLD_FREE)
			fail_msg("VNode %u's home buffer %u taken by VNode 0", b / 2, b);
	assert_true(ckpt_buf(atomic_load(&dom->vnodes[0].ckpt)) >= homes);
	assert_int_equal(pf_vnode_release(v), 0);
	for (uint32_t b = 0; b < 2; b++)
		atomic_store(&dom->ckpt_hold[b], hold_word(2, HOLD_FREE, 0));
	assert_int_equal(pf_member_leave(x), 0);
	assert_int_equal(pf_member_leave(m), 0);
}

static void test_inbox_survives_owner_change(void **state)
{
	struct pf_member *m;
	struct pf_vnode *v;
	char buf[64], big[65];
	size_t len;
	int i;

	(void)state;
	m = join(NULL, 0);
	assert_int_equal(pf_send(dom, 9, "x", 1), -ENOENT);
	assert_int_equal(pf_vnode_define(dom, 9, NULL), 0);
	assert_int_equal(pf_send(dom, 9, big, sizeof(big)), -EMSGSIZE);
	assert_int_equal(pf_send(dom, 64, "x", 1), -EINVAL);
	for (i = 0; i < 8; i++)
		assert_int_equal(pf_send(dom, 9, &i, sizeof(i)), 0);
	assert_int_equal(pf_send(dom, 9, &i, sizeof(i)), -EAGAIN); /* 8 slots: full */
	assert_int_equal(pf_vnode_claim_id(m, 9, &v), 0);
	for (i = 0; i < 3; i++) {
		assert_int_equal(pf_recv(v, buf, sizeof(buf), &len), 0);
		assert_int_equal(len, sizeof(int));
		assert_memory_equal(buf, &i, sizeof(i));
	}
	/* Released without a checkpoint: the next owner reads all 8 again. */
	assert_int_equal(pf_vnode_release(v), 0);
	assert_int_equal(pf_vnode_claim_id(m, 9, &v), 0);
	for (i = 0; i < 5; i++) {
		assert_int_equal(pf_recv(v, buf, sizeof(buf), &len), 0);
		assert_memory_equal(buf, &i, sizeof(i));
	}
	assert_int_equal(pf_recv(v, buf, 2, &len), -ENOBUFS);
	assert_int_equal(len, sizeof(int));
	/* A checkpoint taken after 5 frees those 5: 5 more fit, and the next owner resumes
	 * at message 5. */
	assert_int_equal(pf_checkpoint_commit(v, pf_vnode_epoch(v), "s5", 2), 0);
	for (i = 8; i < 13; i++)
		assert_int_equal(pf_send(dom, 9, &i, sizeof(i)), 0);
	assert_int_equal(pf_send(dom, 9, &i, sizeof(i)), -EAGAIN);
	assert_int_equal(pf_vnode_release(v), 0);
	assert_int_equal(pf_vnode_claim_id(m, 9, &v), 0);
	assert_int_equal(pf_checkpoint_load(v, buf, sizeof(buf), &len), 0);
	for (i = 5; i < 13; i++) {
		assert_int_equal(pf_recv(v, buf, sizeof(buf), &len), 0);
		assert_memory_equal(buf, &i, sizeof(i));
	}
	assert_int_equal(pf_recv(v, buf, sizeof(buf), &len), -EAGAIN);
	assert_int_equal(pf_member_leave(m), 0);
}

/* A sender stalled inside its copy is skipped, and its slot is not reused until it lets
 * go or is dead: otherwise its late copy would overwrite another sender's message. */
static void test_inbox_skipped_sender_keeps_its_slot(void **state)
{
	struct dom_vnode *v = &dom->vnodes[10];
	struct dom_inbox_slot *s0 = inbox_slot(dom, 10, 0), *s2 = inbox_slot(dom, 10, 2);
	struct pf_member *m;
	struct pf_vnode *h;
	char buf[64];
	size_t len;
	pid_t dead;
	int x = 7;

	(void)state;
	m = join(NULL, 0);
	assert_int_equal(pf_vnode_define(dom, 10, NULL), 0);
	assert_int_equal(pf_vnode_claim_id(m, 10, &h), 0);
	/* Position 0: claimed by a live sender (us) that never finishes. */
	atomic_store(&s0->word, inbox_word(0, (uint32_t)getpid(), INBOX_WRITING));
	atomic_store(&v->inbox_tail, 1);
	assert_int_equal(pf_send(dom, 10, &x, sizeof(x)), 0); /* position 1 */
	assert_int_equal(pf_recv(h, buf, sizeof(buf), &len), 0);
	assert_memory_equal(buf, &x, sizeof(x));
	assert_int_equal(atomic_load(&s0->word), inbox_word(0, (uint32_t)getpid(), INBOX_SKIP));
	assert_int_equal(pf_checkpoint_commit(h, pf_vnode_epoch(h), "c", 1), 0);
	assert_int_equal(atomic_load(&v->inbox_head), 0); /* held by the live sender */
	assert_int_equal(pf_recv(h, buf, sizeof(buf), &len), -EAGAIN);
	assert_int_equal(atomic_load(&v->inbox_head), 0);
	/* The sender lets go: the next empty receive frees both positions. */
	atomic_store(&s0->word, inbox_word(0, 0, INBOX_SKIP));
	assert_int_equal(pf_recv(h, buf, sizeof(buf), &len), -EAGAIN);
	assert_int_equal(atomic_load(&v->inbox_head), 2);
	/* A dead sender's slot is freed at once. */
	dead = fork();
	if (dead == 0)
		_exit(0);
	assert_int_equal(waitpid(dead, NULL, 0), dead);
	atomic_store(&s2->word, inbox_word(0, (uint32_t)dead, INBOX_WRITING));
	atomic_store(&v->inbox_tail, 3);
	assert_int_equal(pf_send(dom, 10, &x, sizeof(x)), 0); /* position 3 */
	assert_int_equal(pf_recv(h, buf, sizeof(buf), &len), 0);
	assert_int_equal(pf_checkpoint_commit(h, pf_vnode_epoch(h), "d", 1), 0);
	assert_int_equal(atomic_load(&v->inbox_head), 4);
	assert_int_equal(pf_member_leave(m), 0);
}

/* Options structs: an older (shorter) struct keeps the defaults of what it lacks, a newer
 * (longer) one is accepted when the bytes we do not know are zero, refused otherwise. */
static void test_options_size_rule(void **state)
{
	struct {
		struct pf_vnode_spec spec;
		uint64_t newer[2];
	} big;
	struct pf_vnode_info vi = {.size = sizeof(vi)};
	struct pf_vnode_spec spec;

	(void)state;
	memset(&big, 0, sizeof(big));
	pf_vnode_spec_init(&big.spec);
	big.spec.size = sizeof(big);
	big.spec.home_node = 1;
	assert_int_equal(pf_vnode_define(dom, 30, &big.spec), 0);
	assert_int_equal(pf_vnode_info(dom, 30, &vi), 0);
	assert_int_equal(vi.home_node, 1);
	big.newer[1] = 7;
	assert_int_equal(pf_vnode_define(dom, 31, &big.spec), -EINVAL);
	pf_vnode_spec_init(&spec);
	spec.size = 4; /* shorter than any struct ever published */
	assert_int_equal(pf_vnode_define(dom, 31, &spec), -EINVAL);
	assert_int_equal(pf_vnode_info(dom, 31, &vi), 0);
	assert_int_equal(vi.state, PF_VNODE_UNASSIGNED); /* nothing defined by a refusal */
}

struct doomed {
	struct pf_member *m;
	uint32_t slot;
};

static void *doomed_main(void *arg)
{
	struct doomed *dd = arg;
	struct pf_vnode *v;

	assert_int_equal(pf_member_join(dom, NULL, &dd->m), 0);
	dd->slot = (uint32_t)pf_member_id(dd->m);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pf_vnode_claim(dd->m, PF_CLAIM_NOWAIT, 0, &v), 0);
	assert_int_equal(pf_checkpoint_commit(v, pf_vnode_epoch(v), "kept", 4), 0);
	return NULL; /* the joining thread exits: the kernel marks the futex OWNER_DIED */
}

static void test_supervisor_repairs_dead_thread(void **state)
{
	struct pf_supervisor *sup;
	struct pf_member_info mi = {.size = sizeof(mi)};
	struct pf_domain_info di = {.size = sizeof(di)};
	struct doomed dd;
	pthread_t t;
	uint64_t values[PF_COUNTER_COUNT];
	struct pf_member *m;
	struct pf_vnode *v;
	char buf[16];
	size_t len;
	int found = 0;

	(void)state;
	assert_int_equal(pf_vnode_define_range(dom, 20, 4, NULL), 4);
	assert_int_equal(pthread_create(&t, NULL, doomed_main, &dd), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(pf_supervisor_create(dom, NULL, &sup), 0);
	assert_int_equal(pf_supervisor_check(sup), 1);
	assert_int_equal(pf_member_info(dom, dd.slot, &mi), 0);
	assert_int_equal(mi.state, PF_MEMBER_DEAD);
	assert_int_equal(pf_domain_info(dom, &di), 0);
	assert_int_equal(di.vnodes_pending, 4);
	assert_int_equal(di.members_active, 0);
	assert_int_equal(pf_domain_counters(dom, values, PF_COUNTER_COUNT), PF_COUNTER_COUNT);
	assert_int_equal(values[PF_COUNTER_DEATHS], 1);
	assert_int_equal(values[PF_COUNTER_VNODES_REPAIRED], 4);
	/* The dead handle is fenced out. */
	assert_int_equal(pf_member_leave(dd.m), -ESTALE);
	/* A new member takes all four, at epoch 3, with the checkpoint kept. */
	m = join(NULL, 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pf_vnode_claim(m, PF_CLAIM_NOWAIT, 0, &v), 0);
		assert_int_equal(pf_vnode_epoch(v), 3);
		if (pf_checkpoint_load(v, buf, sizeof(buf), &len) == 0) {
			assert_memory_equal(buf, "kept", 4);
			found++;
		}
	}
	assert_int_equal(found, 1);
	assert_int_equal(pf_supervisor_check(sup), 0);
	/* The failure is remembered for this executable: members of it, live or new, are
	 * now half as reliable. */
	assert_int_equal(pf_member_info(dom, (uint32_t)pf_member_id(m), &mi), 0);
	assert_int_equal(mi.reliability_ppm, PF_PPM / 2);
	assert_int_equal(pf_member_leave(m), 0);
	pf_supervisor_destroy(sup);
}

/* Regression (test_crash_kill): a slot whose previous holder was killed still reads
 * TID|OWNER_DIED and that holder's (gone) pid until its next joiner has written its own
 * identity; a supervisor scanning in that window must not declare the joiner dead. */
static void test_supervisor_spares_joiner_in_dead_slot(void **state)
{
	struct pf_supervisor *sup;
	struct dom_member *rec = &dom->members[0];
	uint64_t joining = member_word(2, PF_MEMBER_JOINING, 0, MEMBER_FLAG_INIT);
	pid_t gone = fork();

	(void)state;
	assert_true(gone >= 0);
	if (gone == 0)
		_exit(0);
	assert_int_equal(waitpid(gone, NULL, 0), gone);
	/* What a killed generation 1 leaves, then a joiner of generation 2 before
	 * record_init(). Relaxed: single-threaded set-up. */
	pf_store_relaxed(&rec->pid, (int32_t)gone);
	pf_store_relaxed(&rec->futex, 0x1234u | FUTEX_WORD_OWNER_DIED);
	pf_store_relaxed(&rec->state, joining);
	assert_int_equal(pf_supervisor_create(dom, NULL, &sup), 0);
	assert_int_equal(pf_supervisor_check(sup), 0);
	/* Relaxed: single-threaded check. */
	assert_int_equal(pf_load_relaxed(&rec->state), joining);
	pf_supervisor_destroy(sup);
	/* Relaxed: hand the slot back for teardown. */
	pf_store_relaxed(&rec->futex, 0);
	pf_store_relaxed(&rec->state, member_word(2, PF_MEMBER_FREE, 0, 0));
}

/* Regression (test_pflightd): a supervisor that saw a member JOINING must start timing
 * its heartbeat when it first sees it ACTIVE, not from the moment of the JOINING scan:
 * a fast-polling supervisor (pflightd's conductor) killed fresh members as hung before
 * their first beat. */
static void test_supervisor_times_heartbeat_from_active(void **state)
{
	struct pf_supervisor *sup;
	struct dom_member *rec = &dom->members[1];

	(void)state;
	/* A joiner of generation 1 with its identity and futex written (our own live
	 * thread), then ACTIVE with no beat yet. Relaxed: single-threaded set-up. */
	pf_store_relaxed(&rec->pid, (int32_t)getpid());
	pf_store_relaxed(&rec->futex, (uint32_t)gettid());
	pf_store_relaxed(&rec->heartbeat, 0);
	pf_store_relaxed(&rec->state, member_word(1, PF_MEMBER_JOINING, 0, 0));
	assert_int_equal(pf_supervisor_create(dom, NULL, &sup), 0);
	assert_int_equal(pf_supervisor_check(sup), 0);
	/* Relaxed: the same. */
	pf_store_relaxed(&rec->state, member_word(1, PF_MEMBER_ACTIVE, 0, 0));
	assert_int_equal(pf_supervisor_check(sup), 0);
	/* Relaxed: the same. */
	assert_int_equal(member_word_state(pf_load_relaxed(&rec->state)), PF_MEMBER_ACTIVE);
	pf_supervisor_destroy(sup);
	/* Relaxed: hand the slot back for teardown. */
	pf_store_relaxed(&rec->futex, 0);
	pf_store_relaxed(&rec->state, member_word(1, PF_MEMBER_FREE, 0, 0));
}

/* Every state has its name, as pflight and the REST API print it; nothing else has one. */
static void test_vnode_state_names(void **state)
{
	static const char *const want[] = {"unassigned", "pending", "active",   "migrating",
					   "draining",   "leaving", "arriving", "remote"};

	(void)state;
	for (uint32_t s = 0; s < sizeof(want) / sizeof(want[0]); s++)
		assert_string_equal(pf_vnode_state_name(s), want[s]);
	assert_int_equal(PF_VNODE_STATE_MAX + 1, sizeof(want) / sizeof(want[0]));
	assert_null(pf_vnode_state_name(PF_VNODE_STATE_MAX + 1));
	assert_null(pf_vnode_state_name(UINT32_MAX));
}

/* A capability entry's length, scribbled past its name field or off its name's end, is
 * refused where it bounds the read: no name is reported, nothing past the entry is read;
 * and a name once read is a private copy. */
static void test_capability_name_scribbled_length(void **state)
{
	static const uint32_t lens[] = {PF_CAP_NAME_MAX + 1, 48, 4096, UINT32_MAX, 2};
	const char *caps[] = {"gpu"}, *got;
	struct pf_member *m;
	struct dom_cap *c;
	uint32_t saved;
	int i;

	(void)state;
	m = join(caps, 1);
	i = pf_capability_find(dom, "gpu");
	assert_true(i >= 0);
	c = &dom->caps[i];
	saved = c->name_len;
	for (size_t k = 0; k < PF_ARRAY_SIZE(lens); k++) {
		c->name_len = lens[k];
		assert_null(pf_capability_name(dom, (uint32_t)i));
	}
	c->name_len = saved;
	got = pf_capability_name(dom, (uint32_t)i);
	assert_string_equal(got, "gpu");
	/* Once read, the name is this process's: the directory's bytes scribbled afterwards
	 * (its NUL too, so a reader of the mapping would run on into the next entry) change
	 * neither the string handed out nor the next answer. */
	memset(c->name, 'X', sizeof(c->name));
	assert_string_equal(got, "gpu");
	assert_string_equal(pf_capability_name(dom, (uint32_t)i), "gpu");
	assert_int_equal(pf_member_leave(m), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vnode_state_names),
		cmocka_unit_test_setup_teardown(test_member_join_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_member_join_info_leave, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vnode_claim_placed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vnode_owners_match_info, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vnode_release_pending_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capability_name_scribbled_length, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_vnode_adopt_after_late_hint, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vnode_adopt_after_placer_killed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_vnode_placed_undelivered_redelivered, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_checkpoint_roundtrip_and_fencing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_checkpoint_corruption_detected, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_checkpoint_claim_bad_buffer_counted_once,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_checkpoint_commit_out_of_buffers, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_checkpoint_displaced_takes_spare, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_inbox_survives_owner_change, setup, teardown),
		cmocka_unit_test_setup_teardown(test_options_size_rule, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inbox_skipped_sender_keeps_its_slot, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_supervisor_repairs_dead_thread, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_supervisor_times_heartbeat_from_active, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_supervisor_spares_joiner_in_dead_slot, setup,
						teardown),
	};

	return cmocka_run_group_tests_name("core_vnode", tests, NULL, NULL);
}
