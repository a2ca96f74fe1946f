/* SPDX-License-Identifier: MIT */
/*
 * tests/integration/test_governance.c
 * Goal: pflightd holds its domain to the PhoenixFile's governance, end to end with real
 * processes: can-register refuses by uid, capabilities, executable path and digest (each
 * refusal names its rule and check, in the joiner's error and in the audit log); a
 * reload that tightens the rules reviews live members and drains the ones now refused;
 * can-assign bounds the VNodes one member is given; tokens_required refuses joiners
 * without a join token, a token's trust becomes the member's, a token cannot grant
 * capabilities it does not list, an expired or forged token is refused; an operator's
 * migrate goes only to a member can-handoff allows and moves the VNode with its state;
 * the segment and the control socket refuse another uid; and a stop with on_stop: drain
 * drains every member first. Every counter ends exact and the audit log verifies.
 * Method: one daemon, its manifest rewritten and reloaded with SIGHUP between phases;
 * joins from this process (short, or from an adopter thread that heartbeats) and from
 * the example counter worker; every wait polls with a generous deadline.
 */
#include <errno.h>
#include <grp.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/domain_impl.h"
#include "pflight/pflight.h"
#include "shm/pf_atomic.h"
#include "tests/common/counter_check.h"
#include "tests/common/proc_util.h"
#include "tests/common/test_util.h"
#include "tools/examples/counter.h"

#define WAIT_NS (30ull * 1000000000ull)
#define VNODES 12u
#define MSGS 10u
#define WORKERS_MAX 10

static const char *daemon_path, *worker_path, *cli_path;
static char name[64], dir[64], manifest[128], audit[128], key[128], control[128], dlog[128];
static char worker_abs[4096];
static pid_t daemon_pid = -1, workers[WORKERS_MAX];
static int nworkers, passed;
static int w_hi, w_lo; /* the token workers of trust 0.9 and 0.5 */
static uint64_t sent;
static unsigned char sk[PF_AUDIT_SECRET_KEY_BYTES];

static void cleanup(void)
{
	for (int i = 0; i < nworkers; i++)
		if (workers[i] > 0 && kill(workers[i], SIGKILL) == 0)
			(void)waitpid(workers[i], NULL, 0);
	if (daemon_pid > 0 && kill(daemon_pid, SIGKILL) == 0)
		(void)waitpid(daemon_pid, NULL, 0);
	if (!passed) {
		char path[160];

		proc_print_file(dlog);
		for (int i = 0; i < nworkers; i++) {
			(void)snprintf(path, sizeof(path), "%s/worker-%d.log", dir, i);
			proc_print_file(path);
		}
	}
	(void)pf_domain_unlink(name);
	if (passed)
		proc_rm_dir(dir);
}

/* The manifest: the fixed part, then this phase's policies (YAML under governance:). */
static void write_manifest(int tokens, const char *policies)
{
	FILE *f = fopen(manifest, "w");

	CHECK(f != NULL);
	fprintf(f,
		"apiVersion: pflight/v1\nkind: Domain\n"
		"metadata:\n  name: %s\n  namespace: prod\n"
		"membership:\n  members_max: 8\n  vnodes_max: 32\n"
		"  heartbeat_interval: 100ms\n  heartbeat_misses: 50\n"
		"  drain_timeout: 2s\n  on_stop: drain\n"
		"scheduling:\n  rebalance:\n    moves_fraction: 0\n"
		"governance:\n  credentials:\n    signing_key_path: %s\n    tokens_required: %s\n"
		"  audit:\n    path: %s\n    sign_every: 16\n"
		"  policies:\n%s",
		name, key, tokens ? "true" : "false", audit, policies);
	CHECK(fclose(f) == 0);
}

static int daemon_log_count(const char *text)
{
	char buf[16384];
	int n = 0;
	FILE *f = fopen(dlog, "r");

	if (f == NULL)
		return 0;
	while (fgets(buf, sizeof(buf), f) != NULL)
		n += strstr(buf, text) != NULL;
	(void)fclose(f);
	return n;
}

static void start_daemon(void)
{
	char *argv[] = {
		(char *)daemon_path, "--foreground", "--manifest", manifest, "--control", control,
		"--log-level",       "debug",        NULL};

	daemon_pid = proc_spawn(argv, dlog);
	CHECK(proc_wait_log(daemon_pid, dlog, " ready: ", WAIT_NS) == 0);
}

/* Rewrite the policies and SIGHUP; wait until the daemon says it applied them. */
static void reload(int tokens, const char *policies)
{
	int before = daemon_log_count("reload: applied");
	uint64_t deadline = proc_now_ns() + WAIT_NS;

	write_manifest(tokens, policies);
	CHECK(kill(daemon_pid, SIGHUP) == 0);
	while (daemon_log_count("reload: applied") == before && proc_now_ns() < deadline)
		proc_nap();
	CHECK(daemon_log_count("reload: applied") > before);
	(void)usleep(50000); /* the agents take their copies at their next pass */
}

static int audit_count(const char *event, const char *k, const char *v)
{
	return proc_audit_count(audit, event, k, v);
}

/* Wait until the audit log holds at least n such records. */
static void wait_audit(const char *event, const char *k, const char *v, int n)
{
	uint64_t deadline = proc_now_ns() + WAIT_NS;

	while (audit_count(event, k, v) < n && proc_now_ns() < deadline)
		(void)usleep(10000);
	if (audit_count(event, k, v) < n)
		fprintf(stderr, "audit: want %d %s %s=%s, have %d\n", n, event, k ? k : "",
			v ? v : "", audit_count(event, k, v));
	CHECK(audit_count(event, k, v) >= n);
}

static int join_here(struct pf_domain *d, const char *cap, struct pf_member **m,
		     struct pf_member_refusal *why)
{
	const char *caps[] = {cap};
	struct pf_member_opts o;

	pf_member_opts_init(&o);
	o.caps = caps;
	o.caps_count = 1;
	o.refusal = why;
	return pf_member_join(d, &o, m);
}

/* A worker process; extra arguments after <domain> <vnodes>. Returns its index. */
static int start_worker(const char *const *extra)
{
	char log[160], vn[16];
	char *argv[16] = {(char *)worker_path, name, vn};
	int n = 3;

	(void)snprintf(vn, sizeof(vn), "%u", VNODES);
	(void)snprintf(log, sizeof(log), "%s/worker-%d.log", dir, nworkers);
	for (int i = 0; extra != NULL && extra[i] != NULL && n < 15; i++)
		argv[n++] = (char *)extra[i];
	argv[n] = NULL;
	CHECK(nworkers < WORKERS_MAX);
	workers[nworkers] = proc_spawn(argv, log);
	return nworkers++;
}

/* The slot of worker i once it is an ACTIVE member. */
static uint32_t worker_slot(struct pf_domain *d, int i)
{
	uint64_t deadline = proc_now_ns() + WAIT_NS;

	while (proc_now_ns() < deadline) {
		for (uint32_t s = 0; s < 8; s++) {
			struct pf_member_info mi = {.size = sizeof(mi)};

			if (pf_member_info(d, s, &mi) == 0 && mi.pid == workers[i] &&
			    mi.state == PF_MEMBER_ACTIVE)
				return s;
		}
		CHECK(waitpid(workers[i], NULL, WNOHANG) == 0);
		proc_nap();
	}
	CHECK(0);
	return UINT32_MAX;
}

/* Worker i must exit with status `code` and its log must hold `text`. */
static void worker_exits(int i, int code, const char *text)
{
	char log[160];
	int status = 0;

	CHECK(waitpid(workers[i], &status, 0) == workers[i]);
	workers[i] = -1;
	(void)snprintf(log, sizeof(log), "%s/worker-%d.log", dir, i);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != code || !proc_file_has(log, text)) {
		proc_print_file(log);
		fprintf(stderr, "worker %d: status 0x%x, want exit %d and \"%s\"\n", i, status,
			code, text);
	}
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == code);
	CHECK(proc_file_has(log, text));
}

static void token(char *out, size_t cap, const char *caps, uint32_t trust_ppm, int ttl,
		  const unsigned char *key_sk)
{
	struct pf_token_claims cl;

	memset(&cl, 0, sizeof(cl));
	cl.size = sizeof(cl);
	cl.expires = (uint64_t)((int64_t)time(NULL) + ttl);
	cl.trust_ppm = trust_ppm;
	cl.uid = PF_TOKEN_NO_UID;
	(void)snprintf(cl.domain, sizeof(cl.domain), "%s", name);
	(void)snprintf(cl.caps, sizeof(cl.caps), "%s", caps);
	CHECK(pf_token_issue(key_sk, &cl, out, cap) > 0);
}

static uint32_t complete(struct pf_domain *d)
{
	return counters_complete(d, VNODES, sent);
}

static uint32_t slot_of(struct pf_member *m)
{
	return (uint32_t)pf_member_id(m);
}

/* Phase 1: can-register by uid and by capabilities. */
static void phase_register(struct pf_domain *d)
{
	struct pf_member_refusal why = {.size = sizeof(why)};
	struct pf_member_info mi = {.size = sizeof(mi)};
	struct pf_member *m;
	char pol[256];

	(void)snprintf(pol, sizeof(pol),
		       "    can_register:\n      - uids: [%u]\n        capabilities: [counter]\n",
		       (unsigned)geteuid());
	reload(0, pol);
	CHECK(join_here(d, "counter", &m, &why) == 0);
	CHECK(pf_member_info(d, slot_of(m), &mi) == 0);
	CHECK(mi.admission == PF_ADMISSION_GRANTED && mi.trust_ppm == 500000);
	CHECK(pf_member_leave(m) == 0);
	CHECK(join_here(d, "ssd", &m, &why) == -EPERM);
	CHECK(why.action == PF_POLICY_CAN_REGISTER && why.rule == 0 &&
	      why.check == PF_POLICY_CAPABILITIES);
	(void)snprintf(pol, sizeof(pol), "    can_register:\n      - uids: [%u]\n",
		       (unsigned)geteuid() + 1);
	reload(0, pol);
	CHECK(join_here(d, "counter", &m, &why) == -EPERM && why.check == PF_POLICY_UIDS);
	wait_audit("admit", "check", "allowed", 1);
	wait_audit("admit_refused", "check", "capabilities", 1);
	wait_audit("admit_refused", "check", "uids", 1);
	printf("can_register: admitted by uid; refused by capabilities and by uid\n");
}

struct adopter {
	struct pf_domain *d;
	_Atomic uint32_t stop;
	_Atomic uint32_t slot; /* UINT32_MAX until joined */
	int r;
};

/* A member that only adopts what the scheduler places on it, and beats. */
static void *adopter_main(void *arg)
{
	struct adopter *a = arg;
	struct pf_member *m;
	struct pf_vnode *v;

	a->r = join_here(a->d, "counter", &m, NULL);
	if (a->r < 0)
		return NULL;
	pf_store_release(&a->slot, slot_of(m));  /* [R1] pairs with [A1] in phase_assign(). */
	while (pf_load_relaxed(&a->stop) == 0) { /* Relaxed: a stop flag. */
		pf_member_heartbeat(m);
		while (pf_vnode_adopt(m, &v) == 0)
			;
		(void)usleep(1000);
	}
	a->r = pf_member_leave(m);
	return NULL;
}

/* Phase 2: can-assign gives one member at most 3 VNodes; the rest wait, for a reason. */
static void phase_assign(struct pf_domain *d)
{
	struct adopter a = {.d = d, .slot = UINT32_MAX};
	uint64_t deadline = proc_now_ns() + WAIT_NS;
	uint32_t slot, held = 0, refused = 0;
	pthread_t t;

	reload(0, "    can_assign:\n      - vnodes_per_member_max: 3\n");
	CHECK(pthread_create(&t, NULL, adopter_main, &a) == 0);
	while ((slot = pf_load_acquire(&a.slot)) == UINT32_MAX && proc_now_ns() < deadline)
		proc_nap(); /* [A1] pairs with [R1] in adopter_main(). */
	CHECK(slot != UINT32_MAX);
	CHECK(pf_vnode_define_range(d, 0, VNODES, NULL) == (int)VNODES);
	while ((held != 3 || refused != VNODES - 3) && proc_now_ns() < deadline) {
		held = refused = 0;
		for (uint32_t id = 0; id < VNODES; id++) {
			struct pf_vnode_info vi = {.size = sizeof(vi)};

			CHECK(pf_vnode_info(d, id, &vi) == 0);
			held += vi.state == PF_VNODE_ACTIVE && vi.owner_slot == slot;
			refused += vi.state == PF_VNODE_PENDING &&
				   vi.pending_reason == PF_SCHED_FILTER_POLICY;
		}
		proc_nap();
	}
	CHECK(held == 3 && refused == VNODES - 3);
	wait_audit("policy_refusal", "check", "vnodes_per_member_max", 1);
	pf_store_relaxed(&a.stop, 1); /* Relaxed: a stop flag. */
	CHECK(pthread_join(t, NULL) == 0 && a.r == 0);
	printf("can_assign: one member held 3 VNodes, %u waited with reason policy\n", refused);
}

static void sha256_hex(const char *path, char hex[65])
{
	unsigned char digest[crypto_hash_sha256_BYTES], buf[65536];
	crypto_hash_sha256_state st;
	FILE *f = fopen(path, "rb");
	size_t n;

	CHECK(f != NULL);
	crypto_hash_sha256_init(&st);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		crypto_hash_sha256_update(&st, buf, n);
	(void)fclose(f);
	crypto_hash_sha256_final(&st, digest);
	sodium_bin2hex(hex, 65, digest, sizeof(digest));
}

/* Phase 3: executables and sha256; a tightening reload drains a member it now refuses. */
static void phase_executable(struct pf_domain *d)
{
	struct pf_member_refusal why = {.size = sizeof(why)};
	struct pf_member *m;
	char pol[4400], hex[65];
	int w;

	(void)snprintf(pol, sizeof(pol), "    can_register:\n      - executables: [%s]\n",
		       worker_abs);
	reload(0, pol);
	CHECK(join_here(d, "counter", &m, &why) == -EPERM && why.check == PF_POLICY_EXECUTABLES);
	w = start_worker(NULL);
	(void)worker_slot(d, w);
	sha256_hex(worker_abs, hex);
	(void)snprintf(pol, sizeof(pol), "    can_register:\n      - sha256: [\"%s\"]\n", hex);
	reload(0, pol);
	wait_audit("review", "allowed", "true", 1);
	(void)snprintf(pol, sizeof(pol), "    can_register:\n      - sha256: [\"%064d\"]\n", 0);
	reload(0, pol);
	wait_audit("review", "check", "sha256", 1);
	wait_audit("review", "cordoned", "true", 1);
	/* Refused, cordoned, drained: nobody else may take its VNodes, so the drain
	 * deadline releases them with their checkpoints; the worker then leaves. */
	worker_exits(w, 0, "");
	wait_audit("drain_start", NULL, NULL, 1);
	printf("executables, sha256: the worker binary admitted, then reviewed and drained\n");
}

/* Phase 4: tokens. */
static void phase_tokens(struct pf_domain *d)
{
	unsigned char opk[PF_AUDIT_PUBLIC_KEY_BYTES], osk[PF_AUDIT_SECRET_KEY_BYTES];
	struct pf_member_info mi = {.size = sizeof(mi)};
	char t[PF_TOKEN_TEXT_MAX];
	const char *args[] = {"--token", t, "--control", control, NULL};
	int w;

	reload(1, "    can_register: []\n");
	w = start_worker(NULL);
	worker_exits(w, 1, "token_required");
	token(t, sizeof(t), "gpu", 900000, 60, sk);
	w = start_worker(args);
	worker_exits(w, 1, "token_caps");
	token(t, sizeof(t), "counter", 900000, -1, sk);
	w = start_worker(args);
	worker_exits(w, 1, "join token refused");
	CHECK(pf_audit_keygen(opk, osk) == 0);
	token(t, sizeof(t), "counter", 900000, 60, osk);
	w = start_worker(args);
	worker_exits(w, 1, "join token refused");
	token(t, sizeof(t), "counter", 900000, 60, sk);
	w_hi = start_worker(args);
	CHECK(pf_member_info(d, worker_slot(d, w_hi), &mi) == 0 && mi.trust_ppm == 900000);
	token(t, sizeof(t), "counter,extra", 500000, 60, sk);
	w_lo = start_worker(args);
	CHECK(pf_member_info(d, worker_slot(d, w_lo), &mi) == 0 && mi.trust_ppm == 500000);
	wait_audit("admit_refused", "check", "token_required", 1);
	wait_audit("admit_refused", "check", "token_caps", 1);
	wait_audit("token_refused", "error", "expired", 1);
	wait_audit("token_refused", "error", "forged", 1);
	wait_audit("admit", "credential", "token", 2);
	printf("tokens: required; trust from the token; caps bounded; expired, forged refused\n");
}

/* Phase 4b: a writer of the segment borrows a token holder's pid. A process presents a
 * good join token (its grant waits for its join); another, a worker without a token,
 * stopped at its join after it wrote its identity, gets that identity rewritten to the
 * holder's pid and start time, as any writer of the segment could, and goes on to the
 * gate. The kernel shows the holder holds no such slot: refused, on the identity check,
 * and the grant stays unused. */
static void phase_borrowed_pid(struct pf_domain *d)
{
	char t[PF_TOKEN_TEXT_MAX];
	pid_t holder;
	int w, status = 0;
	uint32_t slot = UINT32_MAX;
	uint64_t deadline;

	token(t, sizeof(t), "counter", 900000, 60, sk);
	holder = fork();
	CHECK(holder >= 0);
	if (holder == 0) {
		if (pf_control_present(control, 0, t, NULL) != 0)
			_exit(3);
		pause();
		_exit(0);
	}
	wait_audit("token_accepted", NULL, NULL, 3);
	CHECK(setenv("PF_FAULT", "join_after_futex:1:stop", 1) == 0);
	w = start_worker(NULL);
	CHECK(unsetenv("PF_FAULT") == 0);
	CHECK(waitpid(workers[w], &status, WUNTRACED) == workers[w] && WIFSTOPPED(status));
	deadline = proc_now_ns() + WAIT_NS;
	while (slot == UINT32_MAX && proc_now_ns() < deadline) {
		for (uint32_t s = 0; s < d->lim.members_max; s++)
			if (member_word_state(pf_load_relaxed(&d->members[s].state)) ==
				    PF_MEMBER_JOINING &&
			    pf_load_relaxed(&d->members[s].pid) == workers[w])
				slot = s;
		proc_nap();
	}
	CHECK(slot != UINT32_MAX);
	/* The forgery. */
	pf_store_relaxed(&d->members[slot].pid, (int32_t)holder);
	pf_store_relaxed(&d->members[slot].start_time, proc_start_time(holder));
	CHECK(kill(workers[w], SIGCONT) == 0);
	worker_exits(w, 1, "identity");
	wait_audit("admit_refused", "check", "identity", 1);
	CHECK(kill(holder, SIGKILL) == 0);
	CHECK(waitpid(holder, &status, 0) == holder);
	printf("tokens: a joiner claiming a token holder's pid is refused on its identity\n");
}

/* VNodes owned by slot now; the first in *ret_id. */
static uint32_t owned_by(struct pf_domain *d, uint32_t slot, uint32_t *ret_id)
{
	uint32_t n = 0;

	for (uint32_t id = 0; id < VNODES; id++) {
		struct pf_vnode_info vi = {.size = sizeof(vi)};

		if (pf_vnode_info(d, id, &vi) == 0 && vi.state == PF_VNODE_ACTIVE &&
		    vi.owner_slot == slot && n++ == 0)
			*ret_id = id;
	}
	return n;
}

static int cli(const char *out, char *const args[])
{
	char *argv[16] = {(char *)cli_path, "--domain", name};
	int n = 3;

	for (int i = 0; args[i] != NULL && n < 15; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	return proc_run(argv, out);
}

/* Phase 5: migrate, refused by can-handoff, then allowed once the rule is relaxed. */
static void phase_migrate(struct pf_domain *d)
{
	uint32_t hi = worker_slot(d, w_hi), lo = worker_slot(d, w_lo);
	uint64_t deadline = proc_now_ns() + WAIT_NS;
	char vs[16], ss[16], out[160];
	char *args[] = {"migrate", vs, ss, "--control", control, NULL};
	uint32_t id = 0, other = 0;

	reload(1, "    can_handoff:\n      - min_trust: 0.8\n");
	while ((owned_by(d, hi, &id) + owned_by(d, lo, &other) != VNODES ||
		owned_by(d, hi, &id) == 0) &&
	       proc_now_ns() < deadline)
		proc_nap();
	CHECK(owned_by(d, lo, &other) + owned_by(d, hi, &id) == VNODES && owned_by(d, hi, &id) > 0);
	(void)snprintf(out, sizeof(out), "%s/cli.log", dir);
	(void)snprintf(vs, sizeof(vs), "%u", id);
	(void)snprintf(ss, sizeof(ss), "%u", lo);
	CHECK(cli(out, args) == 1); /* lo's trust 0.5 is below can_handoff's 0.8 */
	CHECK(proc_file_has(out, "min_trust"));
	reload(1, "    can_handoff:\n      - min_trust: 0.4\n");
	CHECK(cli(out, args) == 0);
	CHECK(proc_file_has(out, "on member"));
	wait_audit("migrate_refused", "error", "refused", 1);
	wait_audit("migrate_request", NULL, NULL, 1);
	printf("migrate: refused by can_handoff's min_trust, done once the rule allowed it\n");
}

/* Phase 6: a worker stopped with --drain-on-exit cordons itself and is drained like any
 * member: its VNodes move to the others with their state before it leaves. */
static void phase_leave_drained(struct pf_domain *d)
{
	char t[PF_TOKEN_TEXT_MAX], vs[16], ss[16], out[160];
	const char *wargs[] = {"--token",         t,       "--control", control,
			       "--drain-on-exit", "10000", NULL};
	char *args[] = {"migrate", vs, ss, "--control", control, NULL};
	struct pf_member_info mi = {.size = sizeof(mi)};
	uint32_t slot, id = 0;
	int w;
	char who[32];

	token(t, sizeof(t), "counter", 900000, 60, sk);
	w = start_worker(wargs);
	slot = worker_slot(d, w);
	(void)snprintf(out, sizeof(out), "%s/cli.log", dir);
	for (int k = 0; k < 2; k++) {
		CHECK(owned_by(d, worker_slot(d, w_hi), &id) > 0);
		(void)snprintf(vs, sizeof(vs), "%u", id);
		(void)snprintf(ss, sizeof(ss), "%u", slot);
		CHECK(cli(out, args) == 0);
	}
	CHECK(owned_by(d, slot, &id) == 2);
	CHECK(pf_member_info(d, slot, &mi) == 0);
	(void)snprintf(who, sizeof(who), "%u.%u", slot, mi.generation);
	CHECK(kill(workers[w], SIGTERM) == 0);
	worker_exits(w, 0, "");
	wait_audit("drain_done", "member", who, 1);
	CHECK(owned_by(d, slot, &id) == 0);
	/* Both left by hand-off (the drain's own count: the watcher may see a VNode that
	 * moves twice between two looks as one change, with skipped = 1). */
	CHECK(audit_count("drain_done", "moved", "2") == 1);
	CHECK(audit_count("drain_done", "released", "0") >= 1);
	printf("leave: a worker stopped with --drain-on-exit handed its 2 VNodes over first\n");
}

/* since_cordon_ms of the last drain_start record about member who, or -1. */
static long long last_since_cordon_ms(const char *who)
{
	static char line[70000];
	FILE *f = fopen(audit, "r");
	long long v = -1;

	CHECK(f != NULL);
	while (fgets(line, sizeof(line), f) != NULL) {
		json_t *rec = json_loads(line, 0, NULL), *det = json_object_get(rec, "details");
		const char *ev = json_string_value(json_object_get(rec, "event"));
		const char *m = json_string_value(json_object_get(det, "member"));

		if (ev != NULL && m != NULL && strcmp(ev, "drain_start") == 0 &&
		    strcmp(m, who) == 0)
			v = json_integer_value(json_object_get(det, "since_cordon_ms"));
		json_decref(rec);
	}
	(void)fclose(f);
	return v;
}

/* Phase 7: a drain that policy blocks, its daemon killed and restarted mid-drain: the new
 * daemon counts the deadline from the cordon (kept in the slot), names what blocks it,
 * and releases the VNodes with their checkpoints at that deadline. */
static void phase_restart_mid_drain(struct pf_domain *d)
{
	char out[160], slot_s[16], who[32];
	char *args[] = {"drain", slot_s, "--no-wait", NULL};
	struct pf_member_info mi = {.size = sizeof(mi)};
	uint32_t slot = worker_slot(d, w_lo), id = 0;
	int status = 0;

	reload(1, "    can_handoff:\n      - min_trust: 0.95\n"); /* nobody may receive */
	CHECK(owned_by(d, slot, &id) > 0 && pf_member_info(d, slot, &mi) == 0);
	(void)snprintf(who, sizeof(who), "%u.%u", slot, mi.generation);
	(void)snprintf(slot_s, sizeof(slot_s), "%u", slot);
	(void)snprintf(out, sizeof(out), "%s/cli.log", dir);
	CHECK(cli(out, args) == 0);
	wait_audit("drain_step", "blocked_by", "filter-policy", 1);
	(void)usleep(1000000);
	CHECK(kill(daemon_pid, SIGKILL) == 0);
	CHECK(waitpid(daemon_pid, &status, 0) == daemon_pid);
	start_daemon();
	/* The restarted daemon's drain_start: a second after the cordon, not zero. */
	wait_audit("drain_start", "member", who, 2);
	CHECK(last_since_cordon_ms(who) >= 900);
	worker_exits(w_lo, 0, "");
	wait_audit("drain_done", "member", who, 1);
	CHECK(audit_count("drain_done", "released", "0") >= 1);
	reload(1, "    can_handoff: []\n");
	printf("restart mid-drain: the deadline kept from the cordon; blocked by policy, said "
	       "so\n");
}

/* Another uid may neither attach to the segment nor talk to the daemon (root only). */
static void phase_access(void)
{
	char reply[256];
	int status = 0;
	pid_t pid;

	if (geteuid() != 0) {
		printf("access: not root, cannot become another uid: not checked\n");
		return;
	}
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct pf_domain *d;

		if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
			_exit(2);
		if (pf_domain_open(name, &d) != -EACCES)
			_exit(3);
		if (pf_control_request(control, 0 /* root: the daemon */, "status", reply,
				       sizeof(reply), 0) != -EACCES)
			_exit(4);
		_exit(0);
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fprintf(stderr, "access: child status 0x%x\n", status);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	printf("access: another uid can neither attach nor use the control socket\n");
}

/* Phase 6: stop with on_stop: drain; every member drained, the daemon exits 0. */
static void phase_stop(struct pf_domain *d)
{
	unsigned char pk[PF_AUDIT_PUBLIC_KEY_BYTES];
	struct pf_audit_report rep = {.size = sizeof(rep)};
	int status = 0, drains = audit_count("drain_start", NULL, NULL);

	CHECK(kill(daemon_pid, SIGTERM) == 0);
	CHECK(waitpid(daemon_pid, &status, 0) == daemon_pid);
	daemon_pid = -1;
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(daemon_log_count("members cordoned") == 1);
	worker_exits(w_hi, 0, "");
	CHECK(audit_count("drain_start", NULL, NULL) == drains + 1);
	CHECK(complete(d) == VNODES);
	{
		char pub[160];

		(void)snprintf(pub, sizeof(pub), "%s.pub", key);
		CHECK(pf_audit_pubkey_load(pub, pk) == 0);
	}
	if (pf_audit_verify(audit, pk, &rep) != 0)
		fprintf(stderr, "audit: %s at line %llu: %s\n", pf_audit_fault_name(rep.fault),
			(unsigned long long)rep.bad_line, rep.reason);
	CHECK(rep.fault == PF_AUDIT_FAULT_NONE && rep.unsigned_tail == 0);
	printf("stop: the last member drained first; counters exact; audit verified (%llu "
	       "records)\n",
	       (unsigned long long)rep.records);
}

static void run(void)
{
	unsigned char pk[PF_AUDIT_PUBLIC_KEY_BYTES];
	struct pf_domain *d;
	uint64_t deadline;

	write_manifest(0, "    can_register: []\n");
	start_daemon();
	CHECK(pf_audit_key_load(key, pk, sk, NULL) == 0);
	CHECK(pf_domain_open(name, &d) == 0);
	phase_register(d);
	phase_assign(d);
	phase_executable(d);
	phase_tokens(d);
	phase_borrowed_pid(d);
	phase_migrate(d);
	phase_leave_drained(d);
	phase_access();
	counters_send(d, VNODES, MSGS, &sent, WAIT_NS);
	deadline = proc_now_ns() + WAIT_NS;
	while (complete(d) != VNODES && proc_now_ns() < deadline)
		proc_nap();
	CHECK(complete(d) == VNODES);
	phase_restart_mid_drain(d);
	phase_stop(d);
	pf_domain_close(d);
}

int main(int argc, char **argv)
{
	CHECK(argc == 4);
	daemon_path = argv[1];
	worker_path = argv[2];
	cli_path = argv[3];
	CHECK(realpath(worker_path, worker_abs) != NULL);
	CHECK(sodium_init() >= 0);
	test_domain_name(name, sizeof(name), "governance");
	(void)snprintf(dir, sizeof(dir), "/tmp/pft-governance-XXXXXX");
	CHECK(mkdtemp(dir) != NULL);
	(void)snprintf(manifest, sizeof(manifest), "%s/phoenixfile.yaml", dir);
	(void)snprintf(audit, sizeof(audit), "%s/audit.jsonl", dir);
	(void)snprintf(key, sizeof(key), "%s/audit.key", dir);
	(void)snprintf(control, sizeof(control), "%s/control.sock", dir);
	(void)snprintf(dlog, sizeof(dlog), "%s/pflightd.log", dir);
	(void)pf_domain_unlink(name);
	CHECK(atexit(cleanup) == 0);
	run();
	passed = 1;
	printf("governance: every rule refused what it should, tokens and migrations held, "
	       "counters exact, audit verified\n");
	return 0;
}
