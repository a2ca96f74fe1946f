/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/ctl/test_ctl_policy.c
 * Goal: policies judge exactly as pflight/policy.h says (each check refuses on its own
 * and names itself and its rule; any matching rule allows; the refusal names the rule
 * that got furthest; vnodes_per_member_max does not apply to can-register; fail closed
 * when no rule applies in the namespace); a subject read from /proc is this process as
 * the kernel knows it (uid, gid, executable, its sha256), and a recycled or missing pid is
 * refused; the admission gate admits with the trust given, refuses with the rule named
 * (-EPERM, or -EKEYREJECTED for token checks) and leaves nothing behind, times out, fails
 * closed (-EHOSTDOWN) or open as the gate says when its keeper is gone, lets joiners go on
 * when it opens, records a review; and an operator's migrate goes only to a member the
 * filters and the can-handoff hook allow.
 * Method: subjects built by hand against rule tables; the gate with a keeper thread in
 * this process deciding what the test tells it to, joins from the test thread.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "pflight/pflight.h"
#include "shm/pf_atomic.h"
#include "tests/common/test_util.h"

static struct pf_manifest_policy pol;

static struct pf_policy_subject subject(void)
{
	static const char *const caps[] = {"gpu", "ssd"};
	struct pf_policy_subject s;

	memset(&s, 0, sizeof(s));
	s.size = sizeof(s);
	s.uid = 1000;
	s.gid = 100;
	s.groups_count = 2;
	s.groups[0] = 100;
	s.groups[1] = 27;
	(void)snprintf(s.exe, sizeof(s.exe), "/usr/bin/worker");
	(void)snprintf(s.sha256, sizeof(s.sha256), "%064d", 7);
	s.caps = caps;
	s.caps_count = 2;
	s.trust_ppm = 500000;
	s.vnodes = 3;
	(void)snprintf(s.namespace_name, sizeof(s.namespace_name), "prod");
	return s;
}

static struct pf_manifest_rule *rule(uint32_t i)
{
	memset(&pol.rules[i], 0, sizeof(pol.rules[i]));
	if (pol.rules_count <= i)
		pol.rules_count = i + 1;
	return &pol.rules[i];
}

static struct pf_policy_verdict judge(uint32_t action, const struct pf_policy_subject *s)
{
	struct pf_policy_verdict v = {.size = sizeof(v)};

	assert_int_equal(pf_policy_eval(&pol, action, s, &v), 0);
	return v;
}

static void expect_refused(uint32_t action, const struct pf_policy_subject *s, uint32_t rule_i,
			   uint32_t check)
{
	struct pf_policy_verdict v = judge(action, s);

	assert_int_equal(v.allowed, 0);
	assert_int_equal(v.rule, rule_i);
	assert_int_equal(v.check, check);
	assert_non_null(strstr(v.reason, pf_policy_check_name(check)));
	assert_non_null(strstr(v.reason, pf_policy_action_name(action)));
}

static void test_policy_each_check(void **state)
{
	struct pf_policy_subject s = subject();
	struct pf_manifest_rule *r;

	(void)state;
	memset(&pol, 0, sizeof(pol));
	assert_int_equal(judge(PF_POLICY_CAN_REGISTER, &s).allowed, 1); /* no rule: allow */
	r = rule(0);
	assert_int_equal(judge(PF_POLICY_CAN_REGISTER, &s).allowed, 1); /* empty rule */
	r->uids_count = 1;
	r->uids[0] = 1001;
	expect_refused(PF_POLICY_CAN_REGISTER, &s, 0, PF_POLICY_UIDS);
	r->uids[0] = 1000;
	r->gids_count = 1;
	r->gids[0] = 5;
	expect_refused(PF_POLICY_CAN_REGISTER, &s, 0, PF_POLICY_GIDS);
	r->gids[0] = 27; /* a supplementary group is enough */
	assert_int_equal(judge(PF_POLICY_CAN_REGISTER, &s).allowed, 1);
	r->executables_count = 1;
	(void)snprintf(r->executables[0], sizeof(r->executables[0]), "/usr/bin/other");
	expect_refused(PF_POLICY_CAN_REGISTER, &s, 0, PF_POLICY_EXECUTABLES);
	(void)snprintf(r->executables[0], sizeof(r->executables[0]), "/usr/bin/worker");
	r->sha256_count = 1;
	(void)snprintf(r->sha256[0], sizeof(r->sha256[0]), "%064d", 8);
	expect_refused(PF_POLICY_CAN_REGISTER, &s, 0, PF_POLICY_SHA256);
	(void)snprintf(r->sha256[0], sizeof(r->sha256[0]), "%064d", 7);
	assert_int_equal(judge(PF_POLICY_CAN_REGISTER, &s).allowed, 1);
	s.sha256[0] = '\0'; /* not computed: a digest rule cannot match */
	expect_refused(PF_POLICY_CAN_REGISTER, &s, 0, PF_POLICY_SHA256);
	s = subject();
	r->capabilities_count = 1;
	(void)snprintf(r->capabilities[0], sizeof(r->capabilities[0]), "gpu");
	expect_refused(PF_POLICY_CAN_REGISTER, &s, 0, PF_POLICY_CAPABILITIES);
	assert_non_null(strstr(judge(PF_POLICY_CAN_REGISTER, &s).reason, "ssd"));
	r->capabilities_count = 2;
	(void)snprintf(r->capabilities[1], sizeof(r->capabilities[1]), "ssd");
	r->min_trust_ppm = 600000;
	expect_refused(PF_POLICY_CAN_REGISTER, &s, 0, PF_POLICY_MIN_TRUST);
	r->min_trust_ppm = 500000;
	r->vnodes_per_member_max = 3;
	assert_int_equal(judge(PF_POLICY_CAN_REGISTER, &s).allowed, 1); /* not for joins */
	expect_refused(PF_POLICY_CAN_ASSIGN, &s, 0, PF_POLICY_VNODES_MAX);
	expect_refused(PF_POLICY_CAN_HANDOFF, &s, 0, PF_POLICY_VNODES_MAX);
	r->vnodes_per_member_max = 4;
	assert_int_equal(judge(PF_POLICY_CAN_ASSIGN, &s).allowed, 1);
	r->namespaces_count = 1;
	(void)snprintf(r->namespaces[0], sizeof(r->namespaces[0]), "staging");
	expect_refused(PF_POLICY_CAN_ASSIGN, &s, 0, PF_POLICY_NAMESPACES); /* fail closed */
	(void)snprintf(r->namespaces[0], sizeof(r->namespaces[0]), "prod");
	assert_int_equal(judge(PF_POLICY_CAN_ASSIGN, &s).rule, 0);
}

static void test_policy_rules_and_naming(void **state)
{
	struct pf_policy_subject s = subject();
	struct pf_policy_verdict v = {.size = sizeof(v)};

	(void)state;
	memset(&pol, 0, sizeof(pol));
	rule(0)->uids_count = 1; /* rule 0 fails at uids (early) */
	pol.rules[0].uids[0] = 1;
	rule(1)->min_trust_ppm = 900000; /* rule 1 fails at min_trust (further) */
	expect_refused(PF_POLICY_CAN_REGISTER, &s, 1, PF_POLICY_MIN_TRUST);
	rule(2)->gids_count = 1; /* rule 2 matches: allowed, and it is named */
	pol.rules[2].gids[0] = 100;
	v = judge(PF_POLICY_CAN_REGISTER, &s);
	assert_int_equal(v.allowed, 1);
	assert_int_equal(v.rule, 2);
	assert_int_equal(v.check, PF_POLICY_ALLOWED);
	/* Bad arguments. */
	assert_int_equal(pf_policy_eval(NULL, 0, &s, &v), -EINVAL);
	assert_int_equal(pf_policy_eval(&pol, 3, &s, &v), -EINVAL);
	v.size = 4;
	assert_int_equal(pf_policy_eval(&pol, 0, &s, &v), -EINVAL);
	v.size = sizeof(v);
	pol.rules_count = PF_MANIFEST_RULES_MAX + 1;
	assert_int_equal(pf_policy_eval(&pol, 0, &s, &v), -EINVAL);
	assert_int_equal(pf_policy_needs_sha256(&pol), 0);
	pol.rules_count = 3;
	pol.rules[1].sha256_count = 1;
	assert_int_equal(pf_policy_needs_sha256(&pol), 1);
	assert_null(pf_policy_check_name(PF_POLICY_CHECK_MAX + 1));
	assert_null(pf_policy_action_name(3));
}

static uint64_t own_start_time(void)
{
	char path[64], buf[1024], *p;
	unsigned long long st = 0;
	FILE *f;

	(void)snprintf(path, sizeof(path), "/proc/%d/stat", (int)getpid());
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof(buf), f));
	(void)fclose(f);
	p = strrchr(buf, ')');
	assert_non_null(p);
	/* Field 22 is the start time; p points at the end of field 2. */
	for (int field = 2; field < 22 && p != NULL; field++)
		p = strchr(p + 1, ' ');
	assert_non_null(p);
	assert_int_equal(sscanf(p + 1, "%llu", &st), 1);
	assert_true(st > 0);
	return st;
}

static void test_policy_subject_from_proc(void **state)
{
	unsigned char digest[crypto_hash_sha256_BYTES], buf[65536];
	char hex[65], exe[256];
	crypto_hash_sha256_state hs;
	struct pf_policy_subject s = {.size = sizeof(s)};
	uint64_t start = own_start_time();
	ssize_t n;
	FILE *f;
	pid_t child;

	(void)state;
	assert_int_equal(pf_policy_subject_read(getpid(), start, PF_POLICY_SUBJECT_SHA256, &s), 0);
	assert_int_equal(s.uid, geteuid());
	assert_int_equal(s.gid, getegid());
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	assert_true(n > 0);
	exe[n] = '\0';
	assert_string_equal(s.exe, exe);
	assert_int_equal(sodium_init() >= 0, 1);
	crypto_hash_sha256_init(&hs);
	f = fopen("/proc/self/exe", "rb");
	assert_non_null(f);
	while ((n = (ssize_t)fread(buf, 1, sizeof(buf), f)) > 0)
		crypto_hash_sha256_update(&hs, buf, (unsigned long long)n);
	(void)fclose(f);
	crypto_hash_sha256_final(&hs, digest);
	sodium_bin2hex(hex, sizeof(hex), digest, sizeof(digest));
	assert_string_equal(s.sha256, hex);
	/* Without the flag: no digest. A wrong start time: another process. Gone: -ESRCH. */
	assert_int_equal(pf_policy_subject_read(getpid(), 0, 0, &s), 0);
	assert_string_equal(s.sha256, "");
	assert_int_equal(pf_policy_subject_read(getpid(), start + 1, 0, &s), -ESRCH);
	child = fork();
	assert_true(child >= 0);
	if (child == 0)
		_exit(0);
	assert_int_equal(waitpid(child, NULL, 0), child);
	assert_int_equal(pf_policy_subject_read(child, 0, 0, &s), -ESRCH);
	assert_int_equal(pf_policy_subject_read(0, 0, 0, &s), -EINVAL);
	assert_int_equal(pf_policy_subject_read(getpid(), 0, 8, &s), -EINVAL);
}

/* ---- the gate ---- */

enum keeper_mode { KEEP_ADMIT, KEEP_REFUSE, KEEP_REFUSE_TOKEN, KEEP_SILENT };

static char name[64];
static struct pf_domain *dom;
static pthread_t keeper;
static _Atomic uint32_t keeper_stop, keeper_mode, keeper_decided;

static void *keeper_main(void *arg)
{
	struct pf_admission_request req = {.size = sizeof(req)};
	uint32_t cursor = 0;

	(void)arg;
	while (pf_load_relaxed(&keeper_stop) == 0) { /* Relaxed: a test's stop flag. */
		struct pf_policy_verdict v = {.size = sizeof(v)};
		uint32_t mode = pf_load_relaxed(&keeper_mode); /* Relaxed: set before joins. */

		if (pf_admission_pending(dom, &cursor, &req) < 0 || mode == KEEP_SILENT) {
			(void)usleep(200);
			continue;
		}
		v.action = PF_POLICY_CAN_REGISTER;
		v.allowed = mode == KEEP_ADMIT;
		v.rule = mode == KEEP_ADMIT ? PF_POLICY_NO_RULE : 1;
		v.check = mode == KEEP_ADMIT    ? PF_POLICY_ALLOWED
			  : mode == KEEP_REFUSE ? PF_POLICY_EXECUTABLES
						: PF_POLICY_TOKEN_REQUIRED;
		if (pf_admission_decide(dom, req.slot, req.generation, &v, 777000, 0) == 0)
			pf_fetch_add_relaxed(&keeper_decided, 1); /* Relaxed: a count. */
	}
	return NULL;
}

static int gate_setup(void **state)
{
	struct pf_domain_opts o;

	(void)state;
	test_domain_name(name, sizeof(name), "policy");
	pf_domain_opts_init(&o);
	o.flags = PF_DOMAIN_REPLACE;
	o.members_max = 8;
	o.vnodes_max = 16;
	if (pf_domain_create(name, &o, &dom) < 0)
		return -1;
	pf_store_relaxed(&keeper_stop, 0); /* Relaxed: before the thread starts. */
	pf_store_relaxed(&keeper_mode, KEEP_ADMIT);
	return pthread_create(&keeper, NULL, keeper_main, NULL) == 0 ? 0 : -1;
}

static int gate_teardown(void **state)
{
	(void)state;
	pf_store_relaxed(&keeper_stop, 1); /* Relaxed: a test's stop flag. */
	(void)pthread_join(keeper, NULL);
	return pf_domain_destroy(dom);
}

static int join(struct pf_member **m, struct pf_member_refusal *why, uint32_t timeout_ms)
{
	static const char *const caps[] = {"gpu"};
	struct pf_member_opts o;

	pf_member_opts_init(&o);
	o.caps = caps;
	o.caps_count = 1;
	o.refusal = why;
	o.admission_timeout_ms = timeout_ms;
	return pf_member_join(dom, &o, m);
}

static uint32_t slot_of(struct pf_member *m)
{
	return (uint32_t)pf_member_id(m);
}

static uint32_t members_in_use(void)
{
	struct pf_member_info mi = {.size = sizeof(mi)};
	uint32_t n = 0;

	for (uint32_t s = 0; s < 8; s++)
		n += pf_member_info(dom, s, &mi) == 0 && mi.state != PF_MEMBER_FREE;
	return n;
}

static void test_gate_admits_and_refuses(void **state)
{
	struct pf_member_refusal why = {.size = sizeof(why)};
	struct pf_member_info mi = {.size = sizeof(mi)};
	struct pf_member *m = NULL, *m2 = NULL;
	uint64_t joins[PF_COUNTER_COUNT];

	(void)state;
	assert_int_equal(pf_admission_gate(dom, getpid(), PF_ADMISSION_STRICT), 0);
	pf_store_relaxed(&keeper_mode, KEEP_ADMIT); /* Relaxed: read by the keeper's loop. */
	assert_int_equal(join(&m, &why, 2000), 0);
	assert_int_equal(pf_member_info(dom, slot_of(m), &mi), 0);
	assert_int_equal(mi.state, PF_MEMBER_ACTIVE);
	assert_int_equal(mi.trust_ppm, 777000);
	assert_int_equal(mi.admission, PF_ADMISSION_GRANTED);
	/* Refused by a policy rule: -EPERM, the rule named, nothing left behind. */
	pf_store_relaxed(&keeper_mode, KEEP_REFUSE); /* Relaxed: as above. */
	assert_int_equal(join(&m2, &why, 2000), -EPERM);
	assert_int_equal(why.action, PF_POLICY_CAN_REGISTER);
	assert_int_equal(why.rule, 1);
	assert_int_equal(why.check, PF_POLICY_EXECUTABLES);
	assert_int_equal(members_in_use(), 1);
	pf_store_relaxed(&keeper_mode, KEEP_REFUSE_TOKEN); /* Relaxed: as above. */
	assert_int_equal(join(&m2, &why, 2000), -EKEYREJECTED);
	assert_int_equal(why.check, PF_POLICY_TOKEN_REQUIRED);
	assert_int_equal(members_in_use(), 1);
	assert_int_equal(pf_domain_counters(dom, joins, PF_COUNTER_COUNT), PF_COUNTER_COUNT);
	assert_int_equal(joins[PF_COUNTER_JOIN_REFUSED], 2);
	assert_int_equal(joins[PF_COUNTER_JOINS], 1);
	/* Nobody decides: the join gives up after its timeout, and gives its slot back. */
	pf_store_relaxed(&keeper_mode, KEEP_SILENT); /* Relaxed: as above. */
	assert_int_equal(join(&m2, &why, 60), -ETIMEDOUT);
	assert_int_equal(members_in_use(), 1);
	assert_int_equal(pf_member_leave(m), 0);
}

static void test_gate_keeper_gone_and_open(void **state)
{
	struct pf_member_info mi = {.size = sizeof(mi)};
	struct pf_member *m = NULL;
	pid_t dead = fork();

	(void)state;
	assert_true(dead >= 0);
	if (dead == 0)
		_exit(0);
	assert_int_equal(waitpid(dead, NULL, 0), dead);
	pf_store_relaxed(&keeper_mode, KEEP_SILENT); /* Relaxed: read by the keeper's loop. */
	/* Strict: policies are in force and their keeper is gone: fail closed. */
	assert_int_equal(pf_admission_gate(dom, dead, PF_ADMISSION_STRICT), 0);
	assert_int_equal(join(&m, NULL, 2000), -EHOSTDOWN);
	assert_int_equal(members_in_use(), 0);
	/* Not strict: the joiner goes on without a decision. */
	assert_int_equal(pf_admission_gate(dom, dead, 0), 0);
	assert_int_equal(join(&m, NULL, 2000), 0);
	assert_int_equal(pf_member_info(dom, slot_of(m), &mi), 0);
	assert_int_equal(mi.admission, PF_ADMISSION_NONE);
	/* A review records the verdict on a live member and changes nothing else. */
	{
		struct pf_policy_verdict v = {.size = sizeof(v),
					      .action = PF_POLICY_CAN_REGISTER,
					      .rule = 0,
					      .check = PF_POLICY_UIDS};

		assert_int_equal(pf_admission_decide(dom, slot_of(m), mi.generation + 1, &v, 0, 0),
				 -ESTALE);
		assert_int_equal(pf_admission_decide(dom, slot_of(m), mi.generation, &v, 0, 0), 0);
		assert_int_equal(pf_member_info(dom, slot_of(m), &mi), 0);
		assert_int_equal(mi.admission, PF_ADMISSION_REFUSED);
		assert_int_equal(mi.admission_detail, (0u << 16) | (0u << 8) | PF_POLICY_UIDS);
		assert_int_equal(mi.state, PF_MEMBER_ACTIVE);
		v.allowed = 1; /* allowed with a failed check: not a verdict anyone writes */
		assert_int_equal(pf_admission_decide(dom, slot_of(m), mi.generation, &v, 0, 0),
				 -EINVAL);
		v.check = PF_POLICY_ALLOWED; /* allowed on a token: the slot says so */
		assert_int_equal(pf_admission_decide(dom, slot_of(m), mi.generation, &v, 0,
						     PF_ADMISSION_BY_TOKEN),
				 0);
		assert_int_equal(pf_member_info(dom, slot_of(m), &mi), 0);
		assert_int_equal(mi.admission, PF_ADMISSION_GRANTED);
		assert_int_equal(mi.admission_detail, PF_ADMISSION_BY_TOKEN);
		v.allowed = 0; /* a refusal cannot be on a token */
		v.check = PF_POLICY_UIDS;
		assert_int_equal(pf_admission_decide(dom, slot_of(m), mi.generation, &v, 0,
						     PF_ADMISSION_BY_TOKEN),
				 -EINVAL);
	}
	assert_int_equal(pf_member_leave(m), 0);
	/* Open: no decision needed at all. */
	assert_int_equal(pf_admission_gate(dom, 0, 0), 0);
	assert_int_equal(join(&m, NULL, 2000), 0);
	assert_int_equal(pf_member_leave(m), 0);
	assert_int_equal(pf_admission_gate(dom, -1, 0), -EINVAL);
	assert_int_equal(pf_admission_gate(dom, 0, 2), -EINVAL);
}

/* ---- migrate ---- */

static _Atomic uint32_t handoff_refuse_slot = UINT32_MAX;

static int handoff_hook(void *arg, uint32_t vnode, uint32_t slot)
{
	(void)arg;
	(void)vnode;
	/* Relaxed: set by the test thread that also calls the scheduler. */
	return slot == pf_load_relaxed(&handoff_refuse_slot) ? -EPERM : 0;
}

static uint32_t free_slot(void)
{
	struct pf_member_info mi = {.size = sizeof(mi)};
	uint32_t slot = 0;

	while (slot < 8 && pf_member_info(dom, slot, &mi) == 0)
		slot++;
	assert_true(slot < 8);
	return slot;
}

static void test_migrate(void **state)
{
	static const char *const gpu[] = {"gpu"};
	struct pf_sched_decision dec = {.size = sizeof(dec)};
	struct pf_member *a, *b, *c, *d;
	struct pf_vnode_spec spec;
	struct pf_sched_opts so;
	struct pf_member_opts mo;
	struct pf_sched *s;
	struct pf_vnode *v, *got;
	uint32_t target = 0;

	(void)state;
	assert_int_equal(pf_admission_gate(dom, 0, 0), 0);
	pf_member_opts_init(&mo);
	mo.caps = gpu;
	mo.caps_count = 1;
	assert_int_equal(pf_member_join(dom, &mo, &a), 0);
	assert_int_equal(pf_member_join(dom, &mo, &b), 0);
	assert_int_equal(pf_member_join(dom, &mo, &c), 0);
	assert_int_equal(pf_member_join(dom, NULL, &d), 0); /* no gpu */
	pf_vnode_spec_init(&spec);
	spec.caps = gpu;
	spec.caps_count = 1;
	assert_int_equal(pf_vnode_define(dom, 5, &spec), 0);
	assert_int_equal(pf_vnode_define(dom, 6, &spec), 0);
	pf_sched_opts_init(&so);
	so.can_handoff = handoff_hook;
	assert_int_equal(pf_sched_create(dom, &so, &s), 0);
	assert_int_equal(pf_sched_migrate(s, 5, slot_of(b), &dec), -ENOENT); /* pending */
	assert_int_equal(pf_vnode_claim_id(a, 5, &v), 0);
	assert_int_equal(pf_sched_migrate(s, 5, slot_of(a), &dec), -EALREADY);
	assert_int_equal(pf_sched_migrate(s, 5, free_slot(), &dec), -ESRCH);
	assert_int_equal(pf_sched_migrate(s, 5, slot_of(d), &dec), -EPERM);
	assert_int_equal(dec.reason, PF_SCHED_FILTER_CAPS);
	pf_store_relaxed(&handoff_refuse_slot, slot_of(c)); /* Relaxed: same thread. */
	assert_int_equal(pf_sched_migrate(s, 5, slot_of(c), &dec), -EPERM);
	assert_int_equal(dec.reason, PF_SCHED_FILTER_POLICY);
	assert_int_equal(pf_sched_migrate(s, 5, slot_of(b), &dec), 0);
	assert_int_equal(dec.reason, PF_SCHED_PLACED);
	assert_int_equal(dec.winner_slot, slot_of(b));
	assert_int_equal(pf_sched_migrate(s, 5, slot_of(b), &dec), -EBUSY);
	assert_int_equal(pf_vnode_move_target(v, &target), 1);
	assert_int_equal(target, slot_of(b));
	assert_int_equal(pf_checkpoint_commit(v, pf_vnode_epoch(v), "x", 1), 0);
	assert_int_equal(pf_vnode_handoff(v), 0);
	assert_int_equal(pf_vnode_adopt(b, &got), 0);
	assert_int_equal(pf_vnode_id(got), 5);
	assert_int_equal(pf_sched_migrate(NULL, 5, 0, &dec), -EINVAL);
	assert_int_equal(pf_sched_migrate(s, 16, 0, &dec), -EINVAL);
	pf_sched_destroy(s);
	assert_int_equal(pf_member_leave(a), 0);
	assert_int_equal(pf_member_leave(b), 0);
	assert_int_equal(pf_member_leave(c), 0);
	assert_int_equal(pf_member_leave(d), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_each_check),
		cmocka_unit_test(test_policy_rules_and_naming),
		cmocka_unit_test(test_policy_subject_from_proc),
		cmocka_unit_test_setup_teardown(test_gate_admits_and_refuses, gate_setup,
						gate_teardown),
		cmocka_unit_test_setup_teardown(test_gate_keeper_gone_and_open, gate_setup,
						gate_teardown),
		cmocka_unit_test_setup_teardown(test_migrate, gate_setup, gate_teardown),
	};

	return cmocka_run_group_tests_name("policy", tests, NULL, NULL);
}
