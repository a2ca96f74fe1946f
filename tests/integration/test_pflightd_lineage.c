/* SPDX-License-Identifier: MIT */
/*
 * tests/integration/test_pflightd_lineage.c
 * Goal: `pflight audit lineage` tells where a VNode has been and why. After a real
 * pflightd supervised example workers through a kill -9 and a `pflight drain`, every
 * VNode of the killed worker that was still on it when it died has, in its lineage and in
 * order: the record that put it there (placement, claim or move), a `release` from it
 * with reason owner_died, and a later placement or claim at a higher epoch; the drained
 * member's VNodes left it by `move` records from it (why: drain), or at its deadline by a
 * `drain_release`; no lineage's epochs go down and no epoch is recorded twice as an
 * arrival (a placement is never also a claim); the log verifies with the daemon's key
 * (`pflight audit verify`) and `pflight --json audit lineage` agrees with the library.
 * Method: a PhoenixFile in a temp dir, the real daemon and three counter workers (paths
 * from meson). While the killed worker's VNodes are placed again, the survivors are
 * stopped (SIGSTOP, well inside their heartbeat allowance): only the daemon's scheduler
 * can take them, and its explanations prove each one passed through PENDING. A survivor
 * claiming one on its own within microseconds of the repair would be recorded as one
 * change with an unseen step (`skipped`), which is right but not what this test checks;
 * the unit test test_pflightd_watch covers claims. Waits poll with generous deadlines.
 */
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pflight/pflight.h"
#include "tests/common/proc_util.h"
#include "tests/common/test_util.h"

#define WORKERS 3
#define VNODES 24u
#define WAIT_NS (30ull * 1000000000ull)
#define RECS_MAX 256

static const char *daemon_path, *worker_path, *cli_path;
static char name[64], dir[64], manifest[128], audit[128], key_pub[128], wlog[128], dlog[128],
	clilog[128];
static pid_t daemon_pid = -1, workers[WORKERS + 1];
static int passed;

struct rec {
	char event[PF_AUDIT_EVENT_MAX + 1];
	json_t *d;
};
static struct rec recs[RECS_MAX];
static int nrecs;

static void cleanup(void)
{
	for (int i = 0; i <= WORKERS; i++)
		if (workers[i] > 0 && kill(workers[i], SIGKILL) == 0)
			(void)waitpid(workers[i], NULL, 0);
	if (daemon_pid > 0 && kill(daemon_pid, SIGKILL) == 0)
		(void)waitpid(daemon_pid, NULL, 0);
	(void)pf_domain_unlink(name);
	if (!passed) {
		proc_print_file(dlog);
		proc_print_file(wlog);
		proc_print_file(clilog);
		return;
	}
	proc_rm_dir(dir);
}

static void write_manifest(void)
{
	FILE *f = fopen(manifest, "w");

	CHECK(f != NULL);
	/* 50 missed beats of 100 ms: a survivor stopped for a moment is not declared hung. */
	fprintf(f,
		"apiVersion: pflight/v1\nkind: Domain\nmetadata:\n  name: %s\n"
		"membership:\n  members_max: 8\n  vnodes_max: 64\n"
		"  heartbeat_interval: 100ms\n  heartbeat_misses: 50\n"
		"scheduling:\n  rebalance:\n    cooldown: 200ms\n"
		"governance:\n  credentials:\n    signing_key_path: %s/audit.key\n"
		"  audit:\n    path: %s\n    sign_every: 16\n",
		name, dir, audit);
	CHECK(fclose(f) == 0);
}

static void stop(pid_t *pid)
{
	int status = 0;

	CHECK(kill(*pid, SIGTERM) == 0);
	CHECK(waitpid(*pid, &status, 0) == *pid);
	*pid = -1;
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* Defined VNodes owned by a member other than not_slot (UINT32_MAX: any). */
static uint32_t owned(struct pf_domain *d, uint32_t not_slot)
{
	struct pf_vnode_info vi = {.size = sizeof(vi)};
	uint32_t n = 0;

	for (uint32_t id = 0; id < VNODES; id++)
		n += pf_vnode_info(d, id, &vi) == 0 && vi.state == PF_VNODE_ACTIVE &&
		     vi.owner_slot != not_slot;
	return n;
}

static void wait_owned(struct pf_domain *d, uint32_t not_slot)
{
	uint64_t deadline = proc_now_ns() + WAIT_NS;

	while (owned(d, not_slot) != VNODES && proc_now_ns() < deadline)
		proc_nap();
	CHECK(owned(d, not_slot) == VNODES);
}

/* The slot of worker pid and its "slot.generation". */
static uint32_t member_of(struct pf_domain *d, pid_t pid, char *who, size_t cap)
{
	struct pf_member_info mi = {.size = sizeof(mi)};

	for (uint32_t s = 0; s < 8; s++) {
		if (pf_member_info(d, s, &mi) == 0 && mi.pid == pid &&
		    mi.state == PF_MEMBER_ACTIVE) {
			(void)snprintf(who, cap, "%u.%u", s, mi.generation);
			return s;
		}
	}
	CHECK(0);
	return UINT32_MAX;
}

/* The VNodes slot owns now, as a bit set. */
static uint64_t held_by(struct pf_domain *d, uint32_t slot)
{
	struct pf_vnode_info vi = {.size = sizeof(vi)};
	uint64_t set = 0;

	for (uint32_t id = 0; id < VNODES; id++)
		if (pf_vnode_info(d, id, &vi) == 0 && vi.state == PF_VNODE_ACTIVE &&
		    vi.owner_slot == slot)
			set |= 1ull << id;
	return set;
}

static int collect(const struct pf_audit_record *r, void *arg)
{
	(void)arg;
	CHECK(nrecs < RECS_MAX);
	(void)snprintf(recs[nrecs].event, sizeof(recs[nrecs].event), "%s", r->event);
	recs[nrecs].d = json_loads(r->details, 0, NULL);
	CHECK(recs[nrecs].d != NULL);
	if (r->flags & PF_AUDIT_RECORD_BATCH) /* a batch gives each VNode its epoch by range */
		json_object_set_new(recs[nrecs].d, "to_epoch", json_integer((json_int_t)r->value));
	nrecs++;
	return 0;
}

static const char *str(int i, const char *key)
{
	const char *v = json_string_value(json_object_get(recs[i].d, key));

	return v != NULL ? v : "";
}

/* The epoch a record leaves the VNode at (-1: a record without one). */
static json_int_t epoch_of(int i)
{
	json_t *v = json_object_get(recs[i].d, "to_epoch");

	if (v == NULL)
		v = json_object_get(recs[i].d, "epoch");
	return json_is_integer(v) ? json_integer_value(v) : -1;
}

/* Records that give the VNode an owner, and that owner. */
static int is_arrival(int i)
{
	return strcmp(recs[i].event, "placement") == 0 || strcmp(recs[i].event, "claim") == 0 ||
	       strcmp(recs[i].event, "move") == 0;
}

static const char *arrival_to(int i)
{
	return strcmp(recs[i].event, "placement") == 0 ? str(i, "member") : str(i, "to");
}

/* Read the lineage of id; check epochs never go down and no epoch arrives twice. */
static int lineage(uint32_t id)
{
	int n;

	for (int i = 0; i < nrecs; i++)
		json_decref(recs[i].d);
	nrecs = 0;
	n = pf_audit_lineage(audit, id, collect, NULL);
	CHECK(n == nrecs && n > 0);
	for (int i = 1; i < nrecs; i++) {
		CHECK(epoch_of(i) >= epoch_of(i - 1));
		CHECK(!(is_arrival(i) && is_arrival(i - 1) && epoch_of(i) == epoch_of(i - 1)));
	}
	return n;
}

static void print_lineage(uint32_t id)
{
	printf("lineage of VNode %u:\n", id);
	for (int i = 0; i < nrecs; i++) {
		char *d = json_dumps(recs[i].d, JSON_COMPACT);

		printf("  %-10s %s\n", recs[i].event, d != NULL ? d : "?");
		free(d);
	}
}

/* Where id left the killed member: 1 when it was a release with reason owner_died
 * followed by a placement or claim at a higher epoch; 0 when it had moved away before
 * the kill; the test fails on anything else. */
static int died_on(uint32_t id, const char *victim)
{
	int at = -1;

	(void)lineage(id);
	for (int i = 0; i < nrecs; i++)
		if (is_arrival(i) && strcmp(arrival_to(i), victim) == 0)
			at = i;
	CHECK(at >= 0 && at + 2 < nrecs);
	if (strcmp(recs[at + 1].event, "move") == 0)
		return 0;
	CHECK(strcmp(recs[at + 1].event, "release") == 0);
	CHECK(strcmp(str(at + 1, "from"), victim) == 0);
	CHECK(strcmp(str(at + 1, "reason"), "owner_died") == 0);
	CHECK(strcmp(recs[at + 2].event, "placement") == 0 ||
	      strcmp(recs[at + 2].event, "claim") == 0);
	CHECK(epoch_of(at + 2) > epoch_of(at + 1));
	return 1;
}

/* Wait until every VNode of set has a lineage record making who its owner. */
static void wait_recorded(uint64_t set, const char *who)
{
	uint64_t deadline = proc_now_ns() + WAIT_NS, missing = set;

	while (missing != 0 && proc_now_ns() < deadline) {
		for (uint32_t id = 0; id < VNODES; id++) {
			/* The log is being written: a torn last line is retried. */
			int r = (missing >> id & 1) != 0
					? pf_audit_lineage(audit, id, collect, NULL)
					: -1;

			for (int i = 0; i < nrecs; i++) {
				if (r >= 0 && is_arrival(i) && strcmp(arrival_to(i), who) == 0)
					missing &= ~(1ull << id);
				json_decref(recs[i].d);
			}
			nrecs = 0;
		}
		proc_nap();
	}
	CHECK(missing == 0);
}

static void start_daemon(void)
{
	char *argv[] = {(char *)daemon_path, "--foreground", "--manifest", manifest,
			"--log-level",       "debug",        NULL};

	daemon_pid = proc_spawn(argv, dlog);
	CHECK(proc_wait_log(daemon_pid, dlog, " ready: ", WAIT_NS) == 0);
}

static void start_workers(struct pf_domain *d, int count)
{
	char *argv[] = {(char *)worker_path, name, "16", NULL};
	uint64_t deadline = proc_now_ns() + WAIT_NS;

	for (int i = 0; i < count; i++)
		workers[i] = proc_spawn(argv, wlog);
	while (pf_domain_membership(d, NULL) != count && proc_now_ns() < deadline)
		proc_nap();
	CHECK(pf_domain_membership(d, NULL) == count);
}

/* Kill worker 0 while the survivors are stopped; the daemon places its VNodes again. */
static uint64_t kill_phase(struct pf_domain *d, char *victim, size_t cap)
{
	uint32_t slot = member_of(d, workers[0], victim, cap);
	uint64_t set = held_by(d, slot);

	CHECK(set != 0);
	wait_recorded(set, victim); /* the log knows they are there */
	for (int i = 1; i < WORKERS; i++)
		CHECK(kill(workers[i], SIGSTOP) == 0);
	CHECK(kill(workers[0], SIGKILL) == 0);
	CHECK(waitpid(workers[0], NULL, 0) == workers[0]);
	workers[0] = -1;
	wait_owned(d, slot);
	for (int i = 1; i < WORKERS; i++)
		CHECK(kill(workers[i], SIGCONT) == 0);
	printf("kill: member %s killed, its VNodes placed again\n", victim);
	return set;
}

/* A spare joins; `pflight drain` empties worker 1, which exits 0. */
static uint64_t drain_phase(struct pf_domain *d, char *drained, size_t cap)
{
	char slot_s[16];
	char *wargv[] = {(char *)worker_path, name, "16", NULL};
	char *cargv[] = {(char *)cli_path, "--domain",  name, "drain",
			 slot_s,           "--timeout", "60", NULL};
	uint32_t slot = member_of(d, workers[1], drained, cap);
	uint64_t deadline = proc_now_ns() + WAIT_NS, set;
	int status = 0;

	workers[WORKERS] = proc_spawn(wargv, wlog);
	while (pf_domain_membership(d, NULL) != WORKERS && proc_now_ns() < deadline)
		proc_nap();
	CHECK(pf_domain_membership(d, NULL) == WORKERS);
	set = held_by(d, slot);
	wait_recorded(set, drained);
	(void)snprintf(slot_s, sizeof(slot_s), "%u", slot);
	CHECK(proc_run(cargv, clilog) == 0);
	CHECK(waitpid(workers[1], &status, 0) == workers[1]);
	workers[1] = -1;
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	wait_owned(d, slot);
	printf("drain: member %s emptied through the CLI\n", drained);
	return set;
}

/* Each VNode the drained member held at the cordon left it by a drain move or a release
 * at the deadline; at least one by a move. */
static void check_drained(uint64_t set, const char *drained)
{
	int moves = 0;

	for (uint32_t id = 0; id < VNODES; id++) {
		int left = 0;

		if ((set >> id & 1) == 0)
			continue;
		(void)lineage(id);
		for (int i = 0; i < nrecs && !left; i++) {
			if (strcmp(str(i, "from"), drained) != 0)
				continue;
			left = 1;
			if (strcmp(recs[i].event, "move") == 0) {
				CHECK(strcmp(str(i, "why"), "drain") == 0);
				moves++;
			} else {
				CHECK(strcmp(recs[i].event, "release") == 0);
				CHECK(strcmp(str(i, "reason"), "drain_release") == 0);
			}
		}
		CHECK(left);
	}
	CHECK(moves >= 1);
	printf("drain: %d VNodes recorded as moved from %s\n", moves, drained);
}

/* `pflight audit verify` with the daemon's key, and `audit lineage --json` for one VNode
 * against the library's count. */
static void check_cli(uint32_t id)
{
	char vn[16], out[160];
	char *verify[] = {(char *)cli_path, "audit", "verify", "--pubkey", key_pub, audit, NULL};
	char *lin[] = {(char *)cli_path, "--json", "audit", "lineage", audit, vn, NULL};
	json_t *doc;

	CHECK(proc_run(verify, clilog) == 0);
	CHECK(proc_file_has(clilog, "OK: "));
	(void)snprintf(vn, sizeof(vn), "%u", id);
	(void)snprintf(out, sizeof(out), "%s/lineage.json", dir);
	CHECK(proc_run(lin, out) == 0);
	doc = json_load_file(out, 0, NULL);
	CHECK(json_is_array(doc) && json_array_size(doc) == (size_t)lineage(id));
	json_decref(doc);
	(void)unlink(out);
}

static void run(void)
{
	char victim[24], drained[24];
	uint64_t died, left;
	struct pf_domain *d;
	int released = 0, shown = 0;

	start_daemon();
	CHECK(pf_domain_open(name, &d) == 0);
	start_workers(d, WORKERS);
	CHECK(pf_vnode_define_range(d, 0, VNODES, NULL) == (int)VNODES);
	wait_owned(d, UINT32_MAX);
	died = kill_phase(d, victim, sizeof(victim));
	left = drain_phase(d, drained, sizeof(drained));
	for (int i = 2; i <= WORKERS; i++)
		stop(&workers[i]);
	stop(&daemon_pid);
	pf_domain_close(d);

	for (uint32_t id = 0; id < VNODES; id++) {
		(void)lineage(id); /* every lineage: epochs in order, no arrival twice */
		if ((died >> id & 1) == 0 || !died_on(id, victim))
			continue;
		released++;
		if (!shown++)
			print_lineage(id);
	}
	CHECK(released >= 1);
	printf("kill: %d VNodes recorded as released by the dead member %s\n", released, victim);
	check_drained(left, drained);
	check_cli(0);
}

int main(int argc, char **argv)
{
	CHECK(argc == 4);
	daemon_path = argv[1];
	worker_path = argv[2];
	cli_path = argv[3];
	test_domain_name(name, sizeof(name), "lineage");
	(void)snprintf(dir, sizeof(dir), "/tmp/pft-lineage-XXXXXX");
	CHECK(mkdtemp(dir) != NULL);
	(void)snprintf(manifest, sizeof(manifest), "%s/phoenixfile.yaml", dir);
	(void)snprintf(audit, sizeof(audit), "%s/audit.jsonl", dir);
	(void)snprintf(key_pub, sizeof(key_pub), "%s/audit.key.pub", dir);
	(void)snprintf(wlog, sizeof(wlog), "%s/workers.log", dir);
	(void)snprintf(dlog, sizeof(dlog), "%s/pflightd.log", dir);
	(void)snprintf(clilog, sizeof(clilog), "%s/cli.log", dir);
	for (int i = 0; i <= WORKERS; i++)
		workers[i] = -1;
	(void)pf_domain_unlink(name);
	CHECK(atexit(cleanup) == 0);
	write_manifest();
	run();
	passed = 1;
	printf("lineage: kill -9 and drain recorded VNode by VNode; the log verifies\n");
	return 0;
}
