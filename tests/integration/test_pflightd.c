/* SPDX-License-Identifier: MIT */
/*
 * tests/integration/test_pflightd.c
 * Goal: pflightd supervises, schedules and audits a domain of real worker processes; a
 * worker killed with SIGKILL, a daemon restarted mid-run and a worker drained through
 * `pflight drain` while messages flow lose no message; and the audit log it leaves
 * verifies (hash chain and signatures with the daemon's public key) and holds placement,
 * death, drain and admission records; its control socket answers status and checks join
 * tokens (admitted; refused when expired, forged, for another domain or another uid).
 * Method: write a small PhoenixFile into a temp dir (audit log and key there too), start
 * the real pflightd and three example counter workers (paths given by meson), define
 * more VNodes than the workers claim on their own (so the daemon's scheduler must place
 * the rest), send numbered increments in three phases: all up; after a worker is killed
 * and its VNodes are owned again; after the daemon was stopped with SIGTERM and started
 * again (it adopts the domain); while a spare worker joins and `pflight drain` empties a
 * worker (which then exits 0). Every counter's checkpoint must then equal the messages
 * sent, with no duplicate and no gap. Every wait polls with a deadline, generous for a
 * loaded two-core machine, and members may miss heartbeats for 2 s before they count as
 * hung (a starved worker killed as hung would be a different test).
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pflight/pflight.h"
#include "tests/common/counter_check.h"
#include "tests/common/proc_util.h"
#include "tools/common/build_info.h"
#include "tests/common/test_util.h"
#include "tools/examples/counter.h"

#define WORKERS 3
#define VNODES 24u       /* defined by the test */
#define WORKER_VNODES 16 /* what each worker is told: it claims 6 itself, adopts up to 16 */
#define PHASE_MSGS 20u   /* per VNode and phase; 3 phases stay below the 64 inbox slots */
#define WAIT_NS (30ull * 1000000000ull)

static const char *daemon_path, *worker_path, *cli_path;
static char name[64], dir[64], manifest[128], audit[128], key_pub[128], control[128];
static pid_t daemon_pid = -1, workers[WORKERS + 1]; /* the last: the spare */
static uint64_t sent;
static int passed;

static void fail_logs(void)
{
	uint64_t values[PF_COUNTER_COUNT];
	struct pf_domain *d;
	char path[128];

	if (pf_domain_open(name, &d) == 0) {
		int n = pf_domain_counters(d, values, PF_COUNTER_COUNT);

		for (int i = 0; i < n; i++)
			if (values[i] != 0)
				fprintf(stderr, "counter %s = %llu\n", pf_counter_name((uint32_t)i),
					(unsigned long long)values[i]);
		pf_domain_close(d);
	}

	for (int i = 1; i <= 2; i++) {
		(void)snprintf(path, sizeof(path), "%s/pflightd-%d.log", dir, i);
		proc_print_file(path);
	}
	(void)snprintf(path, sizeof(path), "%s/workers.log", dir);
	proc_print_file(path);
}

/* On any exit: no process or segment left behind; on failure, the logs; on success,
 * the temp dir goes too. */
static void cleanup(void)
{
	for (int i = 0; i <= WORKERS; i++) {
		int status = 0;

		if (workers[i] > 0 && waitpid(workers[i], &status, WNOHANG) == workers[i])
			fprintf(stderr, "worker %d had exited: status 0x%x\n", i, status);
		else if (workers[i] > 0 && kill(workers[i], SIGKILL) == 0)
			(void)waitpid(workers[i], NULL, 0);
	}
	if (daemon_pid > 0 && kill(daemon_pid, SIGKILL) == 0)
		(void)waitpid(daemon_pid, NULL, 0);
	if (!passed)
		fail_logs();
	(void)pf_domain_unlink(name);
	if (passed)
		proc_rm_dir(dir);
}

static void start_daemon(int n)
{
	char log[128];
	char *argv[] = {
		(char *)daemon_path, "--foreground", "--manifest", manifest, "--control", control,
		"--log-level",       "debug",        NULL};

	(void)snprintf(log, sizeof(log), "%s/pflightd-%d.log", dir, n);
	daemon_pid = proc_spawn(argv, log);
	CHECK(proc_wait_log(daemon_pid, log, " ready: ", WAIT_NS) == 0);
	CHECK(proc_file_has(log, n == 1 ? "created" : "adopted"));
}

static void stop(pid_t *pid, int expect_status)
{
	int status = 0;

	CHECK(kill(*pid, SIGTERM) == 0);
	CHECK(waitpid(*pid, &status, 0) == *pid);
	*pid = -1;
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == expect_status);
}

static void write_manifest(void)
{
	FILE *f = fopen(manifest, "w");

	CHECK(f != NULL);
	fprintf(f,
		"apiVersion: pflight/v1\nkind: Domain\nmetadata:\n  name: %s\n"
		"membership:\n  members_max: 8\n  vnodes_max: 64\n"
		"  heartbeat_interval: 100ms\n  heartbeat_misses: 20\n"
		"scheduling:\n  rebalance:\n    cooldown: 200ms\n"
		"governance:\n  credentials:\n    signing_key_path: %s/audit.key\n"
		"  audit:\n    path: %s\n    sign_every: 16\n",
		name, dir, audit);
	CHECK(fclose(f) == 0);
}

/* VNodes owned by a member other than `not_slot` (UINT32_MAX: any member). */
static uint32_t owned(struct pf_domain *d, uint32_t not_slot)
{
	struct pf_vnode_info vi = {.size = sizeof(vi)};
	uint32_t n = 0;

	for (uint32_t id = 0; id < VNODES; id++)
		if (pf_vnode_info(d, id, &vi) == 0 &&
		    (vi.state == PF_VNODE_ACTIVE || vi.state == PF_VNODE_MIGRATING) &&
		    vi.owner_slot != not_slot)
			n++;
	return n;
}

static void wait_owned(struct pf_domain *d, uint32_t not_slot)
{
	uint64_t deadline = proc_now_ns() + WAIT_NS;

	while (owned(d, not_slot) != VNODES && proc_now_ns() < deadline)
		proc_nap();
	CHECK(owned(d, not_slot) == VNODES);
}

static uint32_t slot_of(struct pf_domain *d, pid_t pid)
{
	struct pf_member_info mi = {.size = sizeof(mi)};

	for (uint32_t s = 0; s < 8; s++)
		if (pf_member_info(d, s, &mi) == 0 && mi.pid == pid && mi.state == PF_MEMBER_ACTIVE)
			return s;
	return UINT32_MAX;
}

static void send_phase(struct pf_domain *d)
{
	counters_send(d, VNODES, PHASE_MSGS, &sent, WAIT_NS);
}

static uint32_t complete(struct pf_domain *d)
{
	return counters_complete(d, VNODES, sent);
}

static void count_events(int *placements, int *deaths, int *starts, int *stops)
{
	char line[70000];
	FILE *f = fopen(audit, "r");

	CHECK(f != NULL);
	while (fgets(line, sizeof(line), f) != NULL) {
		json_t *rec = json_loads(line, 0, NULL);
		const char *ev;

		CHECK(rec != NULL);
		ev = json_string_value(json_object_get(rec, "event"));
		CHECK(ev != NULL);
		*placements += strcmp(ev, "placement") == 0;
		*deaths += strcmp(ev, "death") == 0;
		*starts += strcmp(ev, "daemon_start") == 0;
		*stops += strcmp(ev, "daemon_stop") == 0;
		json_decref(rec);
	}
	(void)fclose(f);
}

static int audit_has(const char *event)
{
	char line[70000];
	FILE *f = fopen(audit, "r");
	int n = 0;

	CHECK(f != NULL);
	while (fgets(line, sizeof(line), f) != NULL) {
		json_t *rec = json_loads(line, 0, NULL);
		const char *ev = json_string_value(json_object_get(rec, "event"));

		n += ev != NULL && strcmp(ev, event) == 0;
		json_decref(rec);
	}
	(void)fclose(f);
	return n;
}

static void verify_audit(void)
{
	unsigned char pk[PF_AUDIT_PUBLIC_KEY_BYTES];
	struct pf_audit_report rep;
	int placements = 0, deaths = 0, starts = 0, stops = 0;
	char rev[128];

	memset(&rep, 0, sizeof(rep));
	rep.size = sizeof(rep);
	CHECK(pf_audit_pubkey_load(key_pub, pk) == 0);
	if (pf_audit_verify(audit, pk, &rep) != 0)
		fprintf(stderr, "audit: %s at line %llu: %s\n", pf_audit_fault_name(rep.fault),
			(unsigned long long)rep.bad_line, rep.reason);
	CHECK(rep.fault == PF_AUDIT_FAULT_NONE && rep.heads >= 2 && rep.unsigned_tail == 0);
	count_events(&placements, &deaths, &starts, &stops);
	printf("audit: %llu records, %llu signed heads, %d placements, %d deaths\n",
	       (unsigned long long)rep.records, (unsigned long long)rep.heads, placements, deaths);
	CHECK(placements >= 1 && deaths >= 1 && starts == 2 && stops == 2);
	/* Each start says which build it was, as `pflightd --version` does. */
	CHECK(proc_version(daemon_path, "pflightd", rev, sizeof(rev)) == 0);
	CHECK(proc_audit_count(audit, "daemon_start", "version", PF_VERSION_STRING) == 2);
	CHECK(proc_audit_count(audit, "daemon_start", "revision", rev) == 2);
	CHECK(audit_has("drain_start") == 1 && audit_has("drain_done") == 1);
	CHECK(audit_has("token_accepted") == 1 && audit_has("token_refused") == 4);
	/* Every worker joined through the daemon's admission gate. */
	CHECK(audit_has("admit") == WORKERS + 1 && audit_has("admit_refused") == 0);
}

static void start_workers(struct pf_domain *d)
{
	char vn[16], log[128];
	char *argv[] = {(char *)worker_path, name, vn, NULL};
	uint64_t deadline = proc_now_ns() + WAIT_NS;

	(void)snprintf(vn, sizeof(vn), "%d", WORKER_VNODES);
	(void)snprintf(log, sizeof(log), "%s/workers.log", dir);
	for (int i = 0; i < WORKERS; i++)
		workers[i] = proc_spawn(argv, log);
	while (pf_domain_membership(d, NULL) != WORKERS && proc_now_ns() < deadline)
		proc_nap();
	CHECK(pf_domain_membership(d, NULL) == WORKERS);
}

/* A spare worker joins; `pflight drain` empties worker 1 while a phase of messages is
 * sent; the drained worker exits 0 and its VNodes are owned by the others. */
static void drain_phase(struct pf_domain *d)
{
	char vn[16], slot_s[16], log[128], cli_log[128];
	char *wargv[] = {(char *)worker_path, name, vn, NULL};
	char *cargv[] = {(char *)cli_path, "--domain",  name, "--json", "drain",
			 slot_s,           "--timeout", "60", NULL};
	uint32_t slot = slot_of(d, workers[1]);
	uint64_t deadline = proc_now_ns() + WAIT_NS;
	int status = 0;
	pid_t cli;

	CHECK(slot != UINT32_MAX);
	(void)snprintf(vn, sizeof(vn), "%d", WORKER_VNODES);
	(void)snprintf(log, sizeof(log), "%s/workers.log", dir);
	(void)snprintf(cli_log, sizeof(cli_log), "%s/cli.log", dir);
	(void)snprintf(slot_s, sizeof(slot_s), "%u", slot);
	workers[WORKERS] = proc_spawn(wargv, log);
	while (pf_domain_membership(d, NULL) != WORKERS && proc_now_ns() < deadline)
		proc_nap();
	CHECK(pf_domain_membership(d, NULL) == WORKERS);
	cli = proc_spawn(cargv, cli_log);
	send_phase(d); /* messages flow while the drain runs */
	CHECK(waitpid(cli, &status, 0) == cli);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		proc_print_file(cli_log);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(proc_file_has(cli_log, "\"done\": true"));
	CHECK(waitpid(workers[1], &status, 0) == workers[1]);
	workers[1] = -1;
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	wait_owned(d, slot);
	printf("drain: member %u emptied through the CLI while messages flowed\n", slot);
}

/* One request on the control socket; the reply parsed (caller frees). */
static json_t *control_ask(const char *req)
{
	char reply[PF_CONTROL_REPLY_MAX];
	json_t *doc;

	CHECK(pf_control_request(control, (uint32_t)geteuid(), req, reply, sizeof(reply), 0) > 0);
	doc = json_loads(reply, 0, NULL);
	if (doc == NULL)
		fprintf(stderr, "control: not JSON: %s\n", reply);
	CHECK(doc != NULL);
	return doc;
}

/* Ask for join with a token for domain dom, good for ttl seconds, signed with sk. */
static json_t *control_join(const unsigned char *sk, const char *dom, uint32_t uid, int ttl)
{
	struct pf_token_claims cl;
	char req[PF_TOKEN_TEXT_MAX + 16];

	memset(&cl, 0, sizeof(cl));
	cl.size = sizeof(cl);
	cl.expires = (uint64_t)time(NULL) + (uint64_t)(int64_t)ttl;
	cl.trust_ppm = 700000;
	cl.uid = uid;
	(void)snprintf(cl.domain, sizeof(cl.domain), "%s", dom);
	(void)snprintf(cl.caps, sizeof(cl.caps), "gpu,ssd");
	memcpy(req, "join-token ", 11);
	CHECK(pf_token_issue(sk, &cl, req + 11, sizeof(req) - 11) > 0);
	return control_ask(req);
}

static const char *reply_str(json_t *doc, const char *key)
{
	const char *v = json_string_value(json_object_get(doc, key));

	return v != NULL ? v : "";
}

/* The control socket: status, and join tokens admitted or refused for each reason. */
static void control_phase(void)
{
	unsigned char pk[PF_AUDIT_PUBLIC_KEY_BYTES], sk[PF_AUDIT_SECRET_KEY_BYTES];
	unsigned char opk[PF_AUDIT_PUBLIC_KEY_BYTES], osk[PF_AUDIT_SECRET_KEY_BYTES];
	char key[160];
	json_t *doc;

	(void)snprintf(key, sizeof(key), "%s/audit.key", dir);
	CHECK(pf_audit_key_load(key, pk, sk, NULL) == 0 && pf_audit_keygen(opk, osk) == 0);
	doc = control_ask("status");
	CHECK(json_is_true(json_object_get(doc, "ok")) &&
	      strcmp(reply_str(doc, "domain"), name) == 0);
	CHECK(json_integer_value(json_object_get(doc, "members_active")) == WORKERS);
	json_decref(doc);
	doc = control_join(sk, name, (uint32_t)getuid(), 60);
	CHECK(json_is_true(json_object_get(doc, "ok")) &&
	      strcmp(reply_str(doc, "caps"), "gpu,ssd") == 0);
	CHECK(json_integer_value(json_object_get(doc, "trust_ppm")) == 700000);
	CHECK(json_integer_value(json_object_get(doc, "peer_pid")) == getpid());
	json_decref(doc);
	doc = control_join(sk, name, PF_TOKEN_NO_UID, -1);
	CHECK(strcmp(reply_str(doc, "error"), "expired") == 0);
	json_decref(doc);
	doc = control_join(osk, name, PF_TOKEN_NO_UID, 60);
	CHECK(strcmp(reply_str(doc, "error"), "forged") == 0);
	json_decref(doc);
	doc = control_join(sk, "some-other-domain", PF_TOKEN_NO_UID, 60);
	CHECK(strcmp(reply_str(doc, "error"), "other_domain") == 0);
	json_decref(doc);
	doc = control_join(sk, name, (uint32_t)getuid() + 1, 60);
	CHECK(strcmp(reply_str(doc, "error"), "wrong_uid") == 0);
	json_decref(doc);
	doc = control_ask("frobnicate");
	CHECK(json_is_false(json_object_get(doc, "ok")));
	json_decref(doc);
}

static void run(void)
{
	struct pf_domain *d;
	uint64_t deadline;
	uint32_t dead;

	start_daemon(1);
	CHECK(pf_domain_open(name, &d) == 0);
	start_workers(d);
	CHECK(pf_vnode_define_range(d, 0, VNODES, NULL) == (int)VNODES);
	wait_owned(d, UINT32_MAX);
	send_phase(d);
	control_phase();

	dead = slot_of(d, workers[0]);
	CHECK(dead != UINT32_MAX);
	CHECK(kill(workers[0], SIGKILL) == 0);
	CHECK(waitpid(workers[0], NULL, 0) == workers[0]);
	workers[0] = -1;
	wait_owned(d, dead);
	send_phase(d);

	stop(&daemon_pid, 0);
	start_daemon(2);
	send_phase(d);
	drain_phase(d);
	deadline = proc_now_ns() + WAIT_NS;
	while (complete(d) != VNODES && proc_now_ns() < deadline)
		proc_nap();
	CHECK(complete(d) == VNODES);
	printf("counters: %u VNodes at %llu messages each, none lost or applied twice\n", VNODES,
	       (unsigned long long)sent);

	for (int i = 2; i <= WORKERS; i++)
		stop(&workers[i], 0);
	stop(&daemon_pid, 0);
	pf_domain_close(d);
}

int main(int argc, char **argv)
{
	CHECK(argc == 4);
	daemon_path = argv[1];
	worker_path = argv[2];
	cli_path = argv[3];
	test_domain_name(name, sizeof(name), "pflightd");
	(void)snprintf(dir, sizeof(dir), "/tmp/pft-pflightd-XXXXXX");
	CHECK(mkdtemp(dir) != NULL);
	(void)snprintf(manifest, sizeof(manifest), "%s/phoenixfile.yaml", dir);
	(void)snprintf(audit, sizeof(audit), "%s/audit.jsonl", dir);
	(void)snprintf(key_pub, sizeof(key_pub), "%s/audit.key.pub", dir);
	(void)snprintf(control, sizeof(control), "%s/control.sock", dir);
	for (int i = 0; i <= WORKERS; i++)
		workers[i] = -1;
	(void)pf_domain_unlink(name);
	CHECK(atexit(cleanup) == 0);
	write_manifest();
	run();
	verify_audit();
	passed = 1;
	printf("pflightd: supervised, placed, survived a kill -9 and its own restart, audited\n");
	return 0;
}
