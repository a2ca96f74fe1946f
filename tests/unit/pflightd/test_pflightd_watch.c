/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/pflightd/test_pflightd_watch.c
 * Goal: the daemon's auditor records every ownership change of a VNode in its lineage,
 * once: define, a worker's own claim, a release (with why: released, owner_left,
 * owner_died, drain_release), a drain move (from and to), changes between two looks
 * counted in `skipped`; a placement is recorded from its explanation and never again as
 * a claim, even when the watcher meets the VNode before the explanation is readable; an
 * explanation read after its epoch was recorded stays outside the lineage; a restarted
 * auditor records nothing of what it found; epochs in a lineage never go down; a pass
 * reads a bounded chunk and sweeps are paced; a failed append is retried, not lost.
 * Method: the auditor agent (tools/pflightd/auditor.c with watch.c) stepped from this
 * thread over an embedded domain; members joined here (and one in a forked child that is
 * killed); the pacing is set to zero so every pass sweeps, except where a test checks it.
 */
#include <errno.h>
#include <jansson.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "tests/common/test_util.h"
#include "tools/pflightd/daemon.h"
#include "tools/pflightd/log.h"

#define VNODES 64u
#define RECS_MAX 64
#define SETTLE_NS 200000000ull /* long enough that a test step never crosses it */

static char name[64], dir[64], path[128];
static struct pf_domain *dom;
static struct pf_audit *log_handle;
static struct cmdq *queue;
static struct auditor aud;

struct rec {
	char event[PF_AUDIT_EVENT_MAX + 1];
	json_t *d;
};
static struct rec recs[RECS_MAX];
static int nrecs;

static void open_auditor(void)
{
	struct pf_audit_opts o;

	pf_audit_opts_init(&o);
	o.host = "test-host";
	o.fsync_policy = PF_AUDIT_FSYNC_HEAD;
	assert_int_equal(pf_audit_open(path, &o, &log_handle, NULL), 0);
	assert_int_equal(cmdq_create(&queue), 0);
	assert_int_equal(auditor_init(&aud, dom, log_handle, queue), 0);
	aud.watch.chunk_ns = 0; /* every pass sweeps the whole (small) table */
	aud.watch.sweep_ns = 0;
	aud.watch.settle_ns = 0;
}

static void close_auditor(void)
{
	auditor_fini(&aud);
	assert_int_equal(pf_audit_close(log_handle), 0);
	cmdq_destroy(queue);
}

static int setup(void **state)
{
	struct pf_domain_opts o;

	(void)state;
	test_domain_name(name, sizeof(name), "watch");
	(void)snprintf(dir, sizeof(dir), "/tmp/pft-watch-XXXXXX");
	assert_non_null(mkdtemp(dir));
	(void)snprintf(path, sizeof(path), "%s/audit.jsonl", dir);
	pf_domain_opts_init(&o);
	o.flags = PF_DOMAIN_REPLACE;
	o.members_max = 8;
	o.vnodes_max = VNODES;
	o.slot_grace_ns = 1000000; /* 1 ms */
	assert_int_equal(pf_domain_create(name, &o, &dom), 0);
	open_auditor();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (int i = 0; i < nrecs; i++)
		json_decref(recs[i].d);
	nrecs = 0;
	close_auditor();
	assert_int_equal(pf_domain_destroy(dom), 0);
	(void)unlink(path);
	(void)rmdir(dir);
	return 0;
}

/* Step the auditor until two passes in a row do nothing and nothing waits to settle. */
static void quiesce(void)
{
	int idle = 0;

	for (int i = 0; i < 1000 && idle < 2; i++)
		idle = auditor_do_work(&aud) == 0 && aud.watch.q_count == 0 ? idle + 1 : 0;
	assert_int_equal(idle, 2);
}

/* Let what waits to settle come due, then quiesce. */
static void settle(void)
{
	struct timespec ts = {0, (long)SETTLE_NS + 50000000L};

	(void)nanosleep(&ts, NULL);
	quiesce();
}

static json_int_t rec_epoch(int i);

/* A batch record carries, for each VNode, the epoch it reaches (the range's value); the
 * epoch it came from is that of its record before. Spelled out here as a record about the
 * VNode alone spells it, so that both are checked alike. */
static void batch_fields(json_t *d, const struct pf_audit_record *r)
{
	json_int_t to = (json_int_t)r->value, from = nrecs > 0 ? rec_epoch(nrecs - 1) : 0;

	assert_true(json_is_integer(json_object_get(d, "count")));
	json_object_set_new(d, "batch", json_true());
	json_object_set_new(d, "epoch", json_integer(to));
	json_object_set_new(d, "to_epoch", json_integer(to));
	json_object_set_new(d, "from_epoch", json_integer(from));
	json_object_set_new(d, "skipped", json_integer(to - from > 1 ? to - from - 1 : 0));
}

static int collect(const struct pf_audit_record *r, void *arg)
{
	(void)arg;
	assert_true(nrecs < RECS_MAX);
	(void)snprintf(recs[nrecs].event, sizeof(recs[nrecs].event), "%s", r->event);
	recs[nrecs].d = json_loads(r->details, 0, NULL);
	assert_non_null(recs[nrecs].d);
	if (r->flags & PF_AUDIT_RECORD_BATCH)
		batch_fields(recs[nrecs].d, r);
	nrecs++;
	return 0;
}

static json_int_t rec_int(int i, const char *key)
{
	json_t *v = json_object_get(recs[i].d, key);

	assert_true(json_is_integer(v));
	return json_integer_value(v);
}

static const char *rec_str(int i, const char *key)
{
	const char *v = json_string_value(json_object_get(recs[i].d, key));

	assert_non_null(v);
	return v;
}

/* The epoch a record leaves the VNode at. */
static json_int_t rec_epoch(int i)
{
	json_t *v = json_object_get(recs[i].d, "to_epoch");

	return json_is_integer(v) ? json_integer_value(v) : rec_int(i, "epoch");
}

/* Read vnode's lineage into recs; its epochs must never go down. Returns the count. */
static int lineage(uint32_t vnode)
{
	int n;

	for (int i = 0; i < nrecs; i++)
		json_decref(recs[i].d);
	nrecs = 0;
	n = pf_audit_lineage(path, vnode, collect, NULL);
	assert_int_equal(n, nrecs);
	for (int i = 1; i < nrecs; i++)
		assert_true(rec_epoch(i) >= rec_epoch(i - 1));
	return nrecs;
}

static void expect_events(uint32_t vnode, const char *const *events, int count)
{
	assert_int_equal(lineage(vnode), count);
	for (int i = 0; i < count; i++)
		assert_string_equal(recs[i].event, events[i]);
}

static const char *member_str(struct pf_member *m, char *buf, size_t cap)
{
	uint64_t id = pf_member_id(m);

	(void)snprintf(buf, cap, "%u.%u", (uint32_t)id, (uint32_t)(id >> 32));
	return buf;
}

/* Records in the whole log (the chain verified on the way). */
static uint64_t log_records(void)
{
	struct pf_audit_report rep = {.size = sizeof(rep)};

	assert_int_equal(pf_audit_verify(path, NULL, &rep), 0);
	return rep.records;
}

static void test_pflightd_watch_claim_release_define(void **state)
{
	static const char *const ev[] = {"define", "claim", "release", "claim"};
	struct pf_member *a;
	struct pf_vnode *v;
	char an[24];

	(void)state;
	assert_int_equal(pf_vnode_define(dom, 0, NULL), 0);
	quiesce();
	expect_events(0, ev, 1);
	assert_int_equal(rec_int(0, "epoch"), 0);
	assert_int_equal(pf_member_join(dom, NULL, &a), 0);
	assert_int_equal(pf_vnode_claim_id(a, 0, &v), 0);
	quiesce();
	expect_events(0, ev, 2);
	assert_string_equal(rec_str(1, "to"), member_str(a, an, sizeof(an)));
	assert_int_equal(rec_int(1, "from_epoch"), 0);
	assert_int_equal(rec_int(1, "to_epoch"), 1);
	assert_int_equal(rec_int(1, "skipped"), 0);
	assert_int_equal(pf_vnode_release(v), 0);
	quiesce();
	expect_events(0, ev, 3);
	assert_string_equal(rec_str(2, "from"), an);
	assert_string_equal(rec_str(2, "reason"), "released");
	assert_int_equal(rec_int(2, "to_epoch"), 2);
	/* Claim, release, claim between two looks: one claim, two changes unseen. */
	assert_int_equal(pf_vnode_claim_id(a, 0, &v), 0);
	assert_int_equal(pf_vnode_release(v), 0);
	assert_int_equal(pf_vnode_claim_id(a, 0, &v), 0);
	quiesce();
	expect_events(0, ev, 4);
	assert_int_equal(rec_int(3, "from_epoch"), 2);
	assert_int_equal(rec_int(3, "to_epoch"), 5);
	assert_int_equal(rec_int(3, "skipped"), 2);
	assert_true(aud.watch.epochs_unseen >= 2);
	assert_int_equal(pf_member_leave(a), 0);
}

/* The scheduler CASes ownership before it writes the explanation: the watcher may meet
 * the placed VNode first. It must wait, and the placement must win. */
static void test_pflightd_watch_placement_not_claim(void **state)
{
	static const char *const placed[] = {"define", "placement"};
	static const char *const claimed[] = {"define", "claim"};
	struct pf_sched *s;
	struct pf_member *a;
	struct pf_vnode *v;
	uint64_t deferred;

	(void)state;
	assert_int_equal(pf_member_join(dom, NULL, &a), 0);
	assert_int_equal(pf_sched_create(dom, NULL, &s), 0);
	assert_int_equal(pf_vnode_define_range(dom, 0, 4, NULL), 4);
	quiesce();
	/* In order: explanation read before the scan. */
	assert_int_equal(pf_sched_place(s, 0, NULL), 0);
	quiesce();
	expect_events(0, placed, 2);
	assert_int_equal(rec_int(1, "epoch"), 1);
	/* Out of order: the scan meets it first and parks it. */
	aud.watch.settle_ns = SETTLE_NS;
	deferred = aud.watch.deferred;
	assert_int_equal(pf_sched_place(s, 1, NULL), 0);
	assert_int_equal(watch_scan(&aud.watch, VNODES, mono_ns()), 0);
	assert_int_equal(aud.watch.deferred, deferred + 1);
	assert_true(auditor_do_work(&aud) > 0);
	settle();
	expect_events(1, placed, 2);
	/* A worker's own claim has no explanation: it is recorded once it settled. */
	assert_int_equal(pf_vnode_claim_id(a, 2, &v), 0);
	assert_int_equal(watch_scan(&aud.watch, VNODES, mono_ns()), 0);
	assert_int_equal(auditor_do_work(&aud), 0);
	expect_events(2, claimed, 1);
	settle();
	expect_events(2, claimed, 2);
	aud.watch.settle_ns = 0;
	/* An explanation read after the watcher recorded its epoch: outside the lineage. */
	assert_int_equal(pf_sched_place(s, 3, NULL), 0);
	assert_int_equal(watch_scan(&aud.watch, VNODES, mono_ns()), 0);
	assert_int_equal(watch_pass(&aud.watch, mono_ns()), 1);
	assert_int_equal(aud.watch.placements_late, 0);
	quiesce();
	expect_events(3, claimed, 2);
	assert_int_equal(aud.watch.placements_late, 1);
	pf_sched_destroy(s);
	assert_int_equal(pf_member_leave(a), 0);
}

/* A drain: moves from the cordoned member, then releases at the deadline. */
static void test_pflightd_watch_drain_move_and_release(void **state)
{
	struct pf_vnode *hv[4];
	struct pf_member *a, *b;
	struct pf_drain_report rep = {.size = sizeof(rep)};
	struct pf_drain_opts o;
	struct pf_sched *s;
	uint32_t slot_a, moved = 0;
	char an[24], bn[24];

	(void)state;
	assert_int_equal(pf_member_join(dom, NULL, &a), 0);
	assert_int_equal(pf_member_join(dom, NULL, &b), 0);
	slot_a = (uint32_t)pf_member_id(a);
	assert_int_equal(pf_vnode_define_range(dom, 0, 4, NULL), 4);
	for (uint32_t i = 0; i < 4; i++)
		assert_int_equal(pf_vnode_claim_id(a, i, &hv[i]), 0);
	quiesce();
	assert_int_equal(pf_member_cordon(dom, slot_a, 0), 0);
	quiesce();
	assert_int_equal(pf_sched_create(dom, NULL, &s), 0);
	pf_drain_opts_init(&o);
	o.parallel = 2;
	assert_int_equal(pf_sched_drain_step(s, slot_a, &o, &rep), 2);
	for (uint32_t i = 0; i < 4; i++) {
		if (pf_vnode_move_target(hv[i], NULL) != 1)
			continue;
		assert_int_equal(pf_vnode_handoff(hv[i]), 0);
		hv[i] = NULL;
		moved++;
	}
	assert_int_equal(moved, 2);
	quiesce();
	for (uint32_t i = 0; i < 4; i++) {
		if (hv[i] != NULL)
			continue;
		assert_int_equal(lineage(i), 3);
		assert_string_equal(recs[2].event, "move");
		assert_string_equal(rec_str(2, "from"), member_str(a, an, sizeof(an)));
		assert_string_equal(rec_str(2, "to"), member_str(b, bn, sizeof(bn)));
		assert_string_equal(rec_str(2, "why"), "drain");
		assert_int_equal(rec_int(2, "to_epoch"), rec_int(2, "from_epoch") + 1);
	}
	o.deadline_ns = 1; /* long past: the rest goes back to PENDING */
	for (int i = 0; i < 10 && !rep.done; i++)
		assert_true(pf_sched_drain_step(s, slot_a, &o, &rep) >= 0);
	assert_true(rep.done);
	quiesce();
	for (uint32_t i = 0; i < 4; i++) {
		if (hv[i] == NULL)
			continue;
		assert_int_equal(lineage(i), 3);
		assert_string_equal(recs[2].event, "release");
		assert_string_equal(rec_str(2, "reason"), "drain_release");
		assert_int_equal(pf_vnode_release(hv[i]), -ESTALE);
	}
	pf_sched_destroy(s);
	assert_int_equal(pf_member_leave(a), 0);
	assert_int_equal(pf_member_leave(b), 0);
}

/* A member in a child process claims a VNode and is killed; a supervisor repairs it. */
static pid_t child_claims(uint32_t id)
{
	int fds[2];
	char c = 0;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct pf_domain *d;
		struct pf_member *m;
		struct pf_vnode *v;

		if (pf_domain_open(name, &d) != 0 || pf_member_join(d, NULL, &m) != 0 ||
		    pf_vnode_claim_id(m, id, &v) != 0)
			_exit(1);
		c = 1;
		if (write(fds[1], &c, 1) != 1)
			_exit(1);
		for (;;)
			(void)pause();
	}
	(void)close(fds[1]);
	assert_int_equal(read(fds[0], &c, 1), 1);
	(void)close(fds[0]);
	return pid;
}

static void test_pflightd_watch_release_reasons(void **state)
{
	struct pf_supervisor *sup;
	struct pf_member *c;
	struct pf_vnode *v;
	int repaired = 0;
	pid_t pid;

	(void)state;
	assert_int_equal(pf_vnode_define_range(dom, 0, 2, NULL), 2);
	/* owner_left: the owner left; its slot is free when the watcher looks. */
	assert_int_equal(pf_member_join(dom, NULL, &c), 0);
	assert_int_equal(pf_vnode_claim_id(c, 0, &v), 0);
	quiesce();
	assert_int_equal(pf_member_leave(c), 0);
	quiesce();
	assert_int_equal(lineage(0), 3);
	assert_string_equal(recs[2].event, "release");
	assert_string_equal(rec_str(2, "reason"), "owner_left");
	/* owner_died: kill -9, then a supervisor's repair. */
	pid = child_claims(1);
	quiesce();
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	assert_int_equal(pf_supervisor_create(dom, NULL, &sup), 0);
	for (int i = 0; i < 5000 && repaired == 0; i++) {
		struct timespec ts = {0, 1000000};

		repaired = pf_supervisor_check(sup);
		(void)nanosleep(&ts, NULL);
	}
	assert_int_equal(repaired, 1);
	pf_supervisor_destroy(sup);
	quiesce();
	assert_int_equal(lineage(1), 3);
	assert_string_equal(recs[1].event, "claim");
	assert_string_equal(recs[2].event, "release");
	assert_string_equal(rec_str(2, "reason"), "owner_died");
	assert_string_equal(rec_str(2, "from"), rec_str(1, "to"));
}

/* A restarted auditor takes what it finds as seen: no record until something changes. */
static void test_pflightd_watch_restart_records_nothing(void **state)
{
	struct pf_vnode *v[3];
	struct pf_member *a;
	uint64_t before;

	(void)state;
	assert_int_equal(pf_member_join(dom, NULL, &a), 0);
	assert_int_equal(pf_vnode_define_range(dom, 0, 5, NULL), 5);
	for (uint32_t i = 0; i < 3; i++)
		assert_int_equal(pf_vnode_claim_id(a, i, &v[i]), 0);
	quiesce();
	close_auditor();
	open_auditor();
	assert_int_equal(aud.watch.defined_at_start, 5);
	assert_int_equal(aud.watch.owned_at_start, 3);
	before = log_records();
	quiesce();
	assert_int_equal(log_records(), before);
	assert_int_equal(lineage(0), 2); /* define, claim: from before the restart */
	assert_int_equal(pf_vnode_release(v[0]), 0);
	quiesce();
	assert_int_equal(log_records(), before + 1);
	assert_int_equal(lineage(0), 3);
	assert_string_equal(recs[2].event, "release");
	assert_int_equal(pf_member_leave(a), 0);
}

static int fail_appends;
static uint64_t counted;

static int count_record(void *arg, const struct watch_rec *rec)
{
	(void)arg;
	if (fail_appends)
		return -EIO;
	counted += strcmp(rec->event, "define") == 0 && rec->vnode < 10000;
	return 0;
}

/* Chunks of `budget` at most, one per chunk_ns, a new sweep at most every sweep_ns; an
 * append that fails is tried again at the next sweep. */
static void test_pflightd_watch_pass_is_paced(void **state)
{
	struct pf_domain_opts o;
	struct pf_domain *big;
	struct watch w;
	char big_name[80];
	const uint64_t t0 = 1000000000;

	(void)state;
	(void)snprintf(big_name, sizeof(big_name), "%s-big", name);
	pf_domain_opts_init(&o);
	o.flags = PF_DOMAIN_REPLACE;
	o.vnodes_max = 10000;
	o.inbox_slots = 2;
	o.state_bytes_max = 16;
	assert_int_equal(pf_domain_create(big_name, &o, &big), 0);
	assert_int_equal(watch_init(&w, big, count_record, NULL), 0);
	assert_int_equal(w.budget, WATCH_BUDGET);
	assert_int_equal(pf_vnode_define_range(big, 0, 10000, NULL), 10000);
	fail_appends = 1;
	assert_int_equal(watch_pass(&w, t0), 0);
	assert_int_equal(w.scanned, WATCH_BUDGET);
	assert_int_equal(watch_pass(&w, t0 + 1), 0); /* no chunk before chunk_ns */
	assert_int_equal(w.scanned, WATCH_BUDGET);
	fail_appends = 0;
	assert_int_equal(watch_pass(&w, t0 + WATCH_CHUNK_NS), WATCH_BUDGET);
	assert_int_equal(w.scanned, 2 * WATCH_BUDGET);
	/* Without chunk pacing: chunks up to the table's end, then the sweep pace. */
	w.chunk_ns = 0;
	w.next_chunk_ns = 0;
	while (w.cursor != 0)
		(void)watch_pass(&w, t0 + WATCH_CHUNK_NS);
	assert_int_equal(w.scanned, 10000);
	assert_int_equal(w.sweeps, 1);
	assert_int_equal(watch_pass(&w, t0 + WATCH_SWEEP_NS - 1), 0);
	assert_int_equal(w.scanned, 10000);
	/* The next sweep records what failed in the first chunk. */
	assert_int_equal(watch_pass(&w, t0 + WATCH_SWEEP_NS), WATCH_BUDGET);
	assert_int_equal(w.sweeps, 2);
	while (w.cursor != 0)
		(void)watch_pass(&w, t0 + WATCH_SWEEP_NS);
	assert_int_equal(counted, 10000);
	assert_int_equal(w.records, 10000);
	watch_fini(&w);
	assert_int_equal(pf_domain_destroy(big), 0);
}

/* A record written whose rotation after it failed is not written again: the batch counts
 * as done (the failure is counted), and each VNode has its define once. */
static void test_pflightd_watch_written_then_failed(void **state)
{
	struct pf_audit_opts o;
	char taken[200];
	FILE *f;

	(void)state;
	close_auditor();
	(void)unlink(path);
	(void)snprintf(taken, sizeof(taken), "%s.%020d", path, 1);
	f = fopen(taken, "w"); /* the name the first rotation needs: it fails, EEXIST */
	assert_non_null(f);
	fclose(f);
	pf_audit_opts_init(&o);
	o.host = "test-host";
	o.fsync_policy = PF_AUDIT_FSYNC_HEAD;
	o.rotate_bytes = 1; /* rotate after every record */
	assert_int_equal(pf_audit_open(path, &o, &log_handle, NULL), 0);
	assert_int_equal(cmdq_create(&queue), 0);
	assert_int_equal(auditor_init(&aud, dom, log_handle, queue), 0);
	aud.watch.chunk_ns = 0;
	aud.watch.sweep_ns = 0;
	aud.watch.settle_ns = 0;
	assert_int_equal(pf_vnode_define_range(dom, 0, 8, NULL), 8);
	quiesce();
	quiesce();
	assert_true(aud.append_errors >= 1);
	for (uint32_t v = 0; v < 8; v++) {
		assert_int_equal(lineage(v), 1);
		assert_string_equal(recs[0].event, "define");
	}
	(void)unlink(taken);
}

#define BULK 20000u

/* A VNode's lineage in the log at lp. */
static int bulk_lineage(const char *lp, uint32_t vnode)
{
	for (int i = 0; i < nrecs; i++)
		json_decref(recs[i].d);
	nrecs = 0;
	return pf_audit_lineage(lp, vnode, collect, NULL);
}

/* A bulk change is written as a few batch records, each VNode's lineage intact (define,
 * then its placement on the member that holds it, with its epoch), in a few bytes per
 * VNode; and a batch whose write fails is written later, not lost. */
static void test_pflightd_watch_bulk_batched(void **state)
{
	struct pf_audit_report rep = {.size = sizeof(rep)};
	struct pf_vnode_info vi = {.size = sizeof(vi)};
	struct pf_member *m[4];
	struct pf_domain_opts o;
	struct pf_domain *big;
	struct pf_audit *lg;
	struct auditor a2;
	struct cmdq *q2;
	struct pf_sched *s;
	struct pf_audit_opts ao;
	struct stat st;
	char big_name[80], lp[160];
	struct pf_vnode *h, **handles = calloc(BULK, sizeof(*handles));
	uint32_t held = 0;

	(void)state;
	(void)snprintf(big_name, sizeof(big_name), "%s-bulk", name);
	(void)snprintf(lp, sizeof(lp), "%s/bulk.jsonl", dir);
	pf_domain_opts_init(&o);
	o.flags = PF_DOMAIN_REPLACE;
	o.vnodes_max = BULK;
	o.members_max = 8;
	o.inbox_slots = 2;
	o.state_bytes_max = 16;
	assert_int_equal(pf_domain_create(big_name, &o, &big), 0);
	pf_audit_opts_init(&ao);
	ao.fsync_policy = PF_AUDIT_FSYNC_HEAD;
	assert_int_equal(pf_audit_open(lp, &ao, &lg, NULL), 0);
	assert_int_equal(cmdq_create(&q2), 0);
	assert_int_equal(auditor_init(&a2, big, lg, q2), 0);
	a2.watch.chunk_ns = 0;
	a2.watch.sweep_ns = 0;
	a2.watch.settle_ns = 0;
	for (int i = 0; i < 4; i++)
		assert_int_equal(pf_member_join(big, NULL, &m[i]), 0);
	assert_int_equal(pf_vnode_define_range(big, 0, BULK, NULL), BULK);
	assert_int_equal(pf_sched_create(big, NULL, &s), 0);
	for (uint32_t v = 0; v < BULK; v++) { /* a pass of the auditor per 64: none lost */
		int r = pf_sched_place(s, v, NULL);

		if (r != 0)
			print_error("place %u: %d\n", v, r);
		assert_int_equal(r, 0);
		if (v % 64 != 63)
			continue;
		(void)auditor_do_work(&a2);
		for (int i = 0; i < 4; i++) /* the members take what was placed on them */
			while (pf_vnode_adopt(m[i], &h) == 0)
				handles[held++] = h;
	}
	for (int i = 0; i < 8; i++)
		(void)auditor_do_work(&a2);
	assert_int_equal(a2.lost, 0);
	assert_int_equal(stat(lp, &st), 0);
	assert_true((uint64_t)st.st_size < 64u * BULK); /* was ~1 KB per VNode, two records */
	assert_true(a2.batches.vnodes >= 2 * BULK);
	assert_true(a2.batches.records < BULK / 10);
	for (uint32_t v = 0; v < BULK; v += 997) {
		char owner[24];

		assert_int_equal(bulk_lineage(lp, v), 2);
		assert_string_equal(recs[0].event, "define");
		assert_string_equal(recs[1].event, "placement");
		assert_int_equal(pf_vnode_info(big, v, &vi), 0);
		assert_int_equal(rec_epoch(1), (json_int_t)vi.epoch);
		(void)snprintf(owner, sizeof(owner), "%u.%u", vi.owner_slot, vi.owner_generation);
		assert_string_equal(rec_str(1, "member"), owner);
	}
	auditor_fini(&a2);
	pf_sched_destroy(s);
	assert_int_equal(pf_audit_close(lg), 0);
	assert_int_equal(pf_audit_verify(lp, NULL, &rep), 0);
	cmdq_destroy(q2);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pf_member_leave(m[i]), 0);
	free(handles);
	assert_int_equal(pf_domain_destroy(big), 0);
	(void)unlink(lp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pflightd_watch_claim_release_define, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pflightd_watch_placement_not_claim, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pflightd_watch_drain_move_and_release, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pflightd_watch_release_reasons, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pflightd_watch_restart_records_nothing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pflightd_watch_pass_is_paced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pflightd_watch_bulk_batched, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pflightd_watch_written_then_failed, setup,
						teardown),
	};

	log_set_level(LOG_ERROR);
	return cmocka_run_group_tests_name("pflightd_watch", tests, NULL, NULL);
}
