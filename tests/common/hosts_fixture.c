/* SPDX-License-Identifier: MIT */
/* tests/common/hosts_fixture.c: see hosts_fixture.h. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xxhash.h>

#include "pf_config.h"
#include "tests/common/cut_proxy.h"
#include "tests/common/hosts_fixture.h"
#include "tests/common/proc_util.h"
#include "tests/common/test_util.h"

static struct hf *the; /* for atexit: one fixture per process */

static void hex(char *out, const unsigned char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		(void)snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static void reap(pid_t *pid, int sig)
{
	if (*pid > 0 && kill(*pid, sig) == 0)
		(void)waitpid(*pid, NULL, 0);
	*pid = -1;
}

static void cleanup(void)
{
	struct hf *h = the;

	if (h == NULL)
		return;
	for (int i = 0; i < HF_HOSTS; i++) {
		for (int k = 0; k < HF_WORKERS_MAX; k++)
			reap(&h->worker[i][k], SIGKILL);
		reap(&h->daemon[i], SIGKILL);
	}
	if (!h->passed || getenv("HF_SHOW_LOGS") != NULL)
		for (int i = 0; i < HF_HOSTS; i++) {
			proc_print_file(h->dlog[i]);
			proc_print_file(h->wlog[i]);
			if (getenv("HF_SHOW_LOGS") != NULL)
				proc_print_file(h->audit[i]);
		}
	for (int i = 0; i < HF_HOSTS; i++)
		(void)pf_domain_unlink(h->name[i]);
	proc_rm_dir(h->dir);
	if (h->guard_fd >= 0)
		(void)close(h->guard_fd);
	if (h->guard > 0)
		(void)waitpid(h->guard, NULL, 0);
	the = NULL;
}

/* A process that outlives a killed test for a moment: it removes the segments and the
 * directory once the pipe's write end (held by the test alone) closes. */
static void guard_start(struct hf *h)
{
	int fds[2];
	char c;

	CHECK(pipe2(fds, O_CLOEXEC) == 0);
	h->guard = fork();
	CHECK(h->guard >= 0);
	if (h->guard == 0) {
		(void)close(fds[1]);
		(void)setpgid(0, 0); /* a timeout that kills the test's group spares it */
		while (read(fds[0], &c, 1) > 0)
			;
		test_sleep_ns(300000000); /* the children die of their death signal meanwhile */
		for (int i = 0; i < HF_HOSTS; i++)
			(void)pf_domain_unlink(h->name[i]);
		proc_rm_dir(h->dir);
		_exit(0);
	}
	(void)close(fds[0]);
	h->guard_fd = fds[1];
}

static void make_keys(struct hf *h)
{
	for (int i = 0; i < HF_KEYS; i++) {
		char path[160];

		CHECK(pf_audit_keygen(h->pk[i], h->sk[i]) == 0);
		hex(h->pub[i], h->pk[i], 32);
		if (i == HF_KEYS - 1)
			continue; /* the stranger's key stays in memory */
		(void)snprintf(path, sizeof(path), "%s/%d.key", h->dir, i);
		CHECK(pf_audit_key_save(path, NULL, h->pk[i], h->sk[i], NULL) == 0);
	}
}

void hf_write_manifest(struct hf *h, int i)
{
	FILE *f = fopen(h->manifest[i], "w");
	unsigned peer_port = h->o.peer_port[i] != 0 ? h->o.peer_port[i] : h->port[1 - i];

	CHECK(f != NULL);
	fprintf(f,
		"apiVersion: pflight/v1\nkind: Domain\nmetadata:\n  name: %s\n"
		"membership:\n  vnodes_max: %u\n  members_max: %u\n  inbox_slots: %u\n"
		"  state_bytes_max: %llu\n  heartbeat_misses: 20\n"
		"governance:\n  audit:\n    path: %s\n    fsync: head\n"
		"transport:\n  name: host-%c\n  key: %s/%d.key\n  port: %u\n"
		"  zero_copy_threshold: %u\n"
		"  peers:\n    - name: host-%c\n      address: 127.0.0.1\n      port: %u\n"
		"      key: %s\napi:\n  enabled: false\n",
		h->name[i], h->o.vnodes_max, h->o.members_max, h->o.inbox_slots,
		(unsigned long long)h->o.state_bytes_max, h->audit[i], 'a' + i, h->dir, i,
		h->port[i], h->o.zero_copy_threshold, 'a' + (1 - i), peer_port, h->pub[1 - i]);
	CHECK(fclose(f) == 0);
}

void hf_init(struct hf *h, const char *test, const char *daemon_path, const char *worker_path,
	     const struct hf_opts *o)
{
	CHECK(the == NULL);
	memset(h, 0, sizeof(*h));
	h->o = (struct hf_opts){
		.vnodes_max = 16, .members_max = 8, .inbox_slots = 256, .state_bytes_max = 4096};
	if (o != NULL)
		h->o = *o;
	h->daemon_path = daemon_path;
	h->worker_path = worker_path;
	h->guard = -1;
	h->guard_fd = -1;
	for (int i = 0; i < HF_HOSTS; i++) {
		h->daemon[i] = -1;
		for (int k = 0; k < HF_WORKERS_MAX; k++)
			h->worker[i][k] = -1;
	}
	(void)snprintf(h->dir, sizeof(h->dir), "/tmp/pft-%s-XXXXXX", test);
	CHECK(mkdtemp(h->dir) != NULL);
	for (int i = 0; i < HF_HOSTS; i++) {
		char tag[48];

		(void)snprintf(tag, sizeof(tag), "%s-%c", test, 'a' + i);
		test_domain_name(h->name[i], sizeof(h->name[i]), tag);
		(void)snprintf(h->sock[i], sizeof(h->sock[i]), "%s/%d.sock", h->dir, i);
		(void)snprintf(h->audit[i], sizeof(h->audit[i]), "%s/%d.audit.jsonl", h->dir, i);
		(void)snprintf(h->dlog[i], sizeof(h->dlog[i]), "%s/%d.log", h->dir, i);
		(void)snprintf(h->wlog[i], sizeof(h->wlog[i]), "%s/%d.worker.log", h->dir, i);
		(void)snprintf(h->manifest[i], sizeof(h->manifest[i]), "%s/%d.yaml", h->dir, i);
		/* Below the ephemeral range, from the pid: other tests' processes miss them. */
		h->port[i] = 14000u + ((unsigned)getpid() % 3000u) * 2u + (unsigned)i;
	}
	the = h;
	(void)signal(SIGPIPE, SIG_IGN); /* a peer gone is an error to see, not a death */
	guard_start(h);
	atexit(cleanup);
	make_keys(h);
	for (int i = 0; i < HF_HOSTS; i++)
		hf_write_manifest(h, i);
}

/* The log of daemon i from byte `at` on (its last start's lines), into buf. */
static void log_since(struct hf *h, int i, long at, char *buf, size_t cap)
{
	FILE *f = fopen(h->dlog[i], "r");
	size_t n = 0;

	if (f != NULL && fseek(f, at, SEEK_SET) == 0)
		n = fread(buf, 1, cap - 1, f);
	if (f != NULL)
		(void)fclose(f);
	buf[n] = '\0';
}

/* One start of daemon i: 0 once ready, -EADDRINUSE when it exited because its transport
 * port was still taken; anything else fails the test. */
static int start_once(struct hf *h, int i, uint64_t deadline, const char *fault)
{
	char *argv[] = {(char *)h->daemon_path,
			"--foreground",
			"--manifest",
			h->manifest[i],
			"--control",
			h->sock[i],
			NULL};
	char buf[4096];
	long at = 0;
	FILE *f = fopen(h->dlog[i], "a");

	/* Wait for this start's "ready", not a previous run's: remember where the log was. */
	if (f != NULL) {
		at = ftell(f);
		(void)fclose(f);
	}
	h->daemon[i] = proc_spawn_env(argv, h->dlog[i], "PF_FAULT", fault);
	for (;;) {
		log_since(h, i, at, buf, sizeof(buf));
		if (strstr(buf, " ready: ") != NULL)
			return 0;
		if (waitpid(h->daemon[i], NULL, WNOHANG) != 0) {
			h->daemon[i] = -1;
			log_since(h, i, at, buf, sizeof(buf));
			CHECK(strstr(buf, "transport: Address already in use") != NULL);
			return -EADDRINUSE;
		}
		CHECK(proc_now_ns() < deadline);
		proc_nap();
	}
}

struct cut_proxy *hf_start_relayed(struct hf *h)
{
	struct cut_proxy *proxy = cut_proxy_start(h->port[1]);

	h->o.peer_port[0] = cut_proxy_port(proxy);
	hf_write_manifest(h, 0);
	hf_start_daemon(h, 0);
	hf_start_daemon(h, 1);
	return proxy;
}

void hf_start_daemon(struct hf *h, int i)
{
	hf_start_daemon_faulty(h, i, NULL);
}

void hf_start_daemon_faulty(struct hf *h, int i, const char *fault)
{
	uint64_t deadline = proc_now_ns() + HF_WAIT_NS;
	int tries = 0;

	/* A daemon killed a moment ago may still hold its transport port (seen right after a
	 * kill -9 with connections open): that start fails, and is tried again, and said. */
	while (start_once(h, i, deadline, fault) == -EADDRINUSE) {
		if (tries++ == 0)
			fprintf(stderr,
				"host-%c: pflightd refused to start, \"transport: Address "
				"already in use\"; trying again\n",
				'a' + i);
		test_sleep_ns(100000000);
	}
	if (tries > 0)
		fprintf(stderr, "host-%c: pflightd started after %d refusals\n", 'a' + i, tries);
	if (h->dom[i] == NULL)
		CHECK(pf_domain_open(h->name[i], &h->dom[i]) == 0);
}

int hf_fault_test_args(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s <pflightd> <hosts_fault_worker>\n", argv[0]);
		return 2;
	}
	if (!PF_FAULT_INJECTION) {
		printf("SKIP: needs -Dfault_injection=true\n");
		return 77;
	}
	return -1;
}

void hf_kill_daemon(struct hf *h, int i)
{
	reap(&h->daemon[i], SIGKILL);
}

int hf_wait_fault(struct hf *h, int i, int stopped, uint64_t timeout_ns)
{
	uint64_t deadline = proc_now_ns() + timeout_ns;
	int status;

	for (;;) {
		pid_t r = waitpid(h->daemon[i], &status, WNOHANG | (stopped ? WUNTRACED : 0));

		if (r == h->daemon[i] && stopped)
			return WIFSTOPPED(status) && WSTOPSIG(status) == SIGSTOP ? 0 : -1;
		if (r == h->daemon[i]) {
			h->daemon[i] = -1;
			return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL ? 0 : -1;
		}
		if (proc_now_ns() > deadline)
			return -1;
		proc_nap();
	}
}

int hf_start_worker(struct hf *h, int i, const char *const *extra)
{
	char *argv[16] = {(char *)h->worker_path, h->name[i]};
	int n = 2, k = 0;

	while (k < HF_WORKERS_MAX && h->worker[i][k] > 0)
		k++;
	CHECK(k < HF_WORKERS_MAX);
	for (; extra != NULL && extra[n - 2] != NULL && n < 15; n++)
		argv[n] = (char *)extra[n - 2];
	argv[n] = NULL;
	h->worker[i][k] = proc_spawn(argv, h->wlog[i]);
	return k;
}

void hf_kill_worker(struct hf *h, int i, int k, int sig)
{
	if (sig == SIGKILL) {
		reap(&h->worker[i][k], SIGKILL);
		return;
	}
	CHECK(kill(h->worker[i][k], sig) == 0);
}

/* SIGTERM, then SIGKILL after 5 s: 1 when it exited with status 0. */
static int stop(pid_t *pid)
{
	uint64_t deadline = proc_now_ns() + 5000000000ull;
	int status = 0;

	if (*pid <= 0)
		return 1;
	(void)kill(*pid, SIGTERM);
	while (waitpid(*pid, &status, WNOHANG) == 0) {
		if (proc_now_ns() > deadline) {
			(void)kill(*pid, SIGKILL);
			(void)waitpid(*pid, &status, 0);
			break;
		}
		proc_nap();
	}
	*pid = -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

void hf_finish(struct hf *h)
{
	int ok = 1;

	for (int i = 0; i < HF_HOSTS; i++)
		for (int k = 0; k < HF_WORKERS_MAX; k++)
			ok &= stop(&h->worker[i][k]);
	for (int i = 0; i < HF_HOSTS; i++) {
		if (h->dom[i] != NULL)
			pf_domain_close(h->dom[i]);
		h->dom[i] = NULL;
		ok &= stop(&h->daemon[i]);
	}
	CHECK(ok); /* every worker and daemon stopped cleanly on SIGTERM */
	h->passed = 1;
}

int hf_migrate(struct hf *h, int from, uint32_t v)
{
	char req[96], reply[PF_CONTROL_REPLY_MAX];
	int r;

	(void)snprintf(req, sizeof(req), "migrate-host %u host-%c", v, 'a' + (1 - from));
	r = pf_control_request(h->sock[from], (uint32_t)geteuid(), req, reply, sizeof(reply), 0);
	if (r < 0)
		return r;
	if (strstr(reply, "\"ok\":true") == NULL) {
		fprintf(stderr, "migrate %u from host %d: %s\n", v, from, reply);
		return -EPROTO;
	}
	return 0;
}

/* pf_vnode_info() refusals that went away when read again (see hf_info_refusals()). */
static pthread_mutex_t refusals_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t refusals;

uint64_t hf_info_refusals(void)
{
	uint64_t n;

	CHECK(pthread_mutex_lock(&refusals_lock) == 0);
	n = refusals;
	CHECK(pthread_mutex_unlock(&refusals_lock) == 0);
	return n;
}

uint32_t hf_state(struct hf *h, int i, uint32_t v, struct pf_vnode_info *vi)
{
	struct pf_vnode_info mine = {.size = sizeof(mine)};
	int r = -EINVAL;

	if (vi == NULL)
		vi = &mine;
	for (int tries = 0; tries < 100 && r < 0; tries++) {
		vi->size = sizeof(*vi);
		r = pf_vnode_info(h->dom[i], v, vi);
		if (r == -EBADMSG || r == -EPROTO) { /* a record read while it changed, or bad */
			CHECK(pthread_mutex_lock(&refusals_lock) == 0);
			refusals++;
			CHECK(pthread_mutex_unlock(&refusals_lock) == 0);
		} else if (r < 0) {
			break;
		}
	}
	if (r < 0)
		fprintf(stderr, "pf_vnode_info(host-%c, VNode %u): %s, a hundred times\n", 'a' + i,
			v, strerror(-r));
	CHECK(r == 0);
	return vi->state;
}

int hf_live(uint32_t state)
{
	return state == PF_VNODE_PENDING || state == PF_VNODE_ACTIVE ||
	       state == PF_VNODE_MIGRATING || state == PF_VNODE_DRAINING;
}

int hf_both_live(struct hf *h, uint32_t v, int x)
{
	struct pf_vnode_info a1, b, a2;

	(void)hf_state(h, x, v, &a1);
	(void)hf_state(h, 1 - x, v, &b);
	(void)hf_state(h, x, v, &a2);
	return hf_live(a1.state) && hf_live(a2.state) && a1.epoch == a2.epoch && hf_live(b.state);
}

int hf_owner(struct hf *h, uint32_t v)
{
	/* Target first, then source: whichever way it moves, a host that can place it read
	 * first and the other after can both be live only if both are at once. */
	int a, b;

	CHECK(!hf_both_live(h, v, 0) && !hf_both_live(h, v, 1));
	b = hf_live(hf_state(h, 1, v, NULL));
	a = hf_live(hf_state(h, 0, v, NULL));
	return a && !b ? 0 : b && !a ? 1 : -1;
}

int hf_wait_live(struct hf *h, int i, uint32_t v, uint64_t timeout_ns)
{
	uint64_t deadline = proc_now_ns() + timeout_ns;

	while (!hf_live(hf_state(h, i, v, NULL))) {
		if (proc_now_ns() > deadline)
			return -ETIMEDOUT;
		proc_nap();
	}
	return 0;
}

int hf_settle(struct hf *h, uint32_t v, uint64_t timeout_ns)
{
	uint64_t deadline = proc_now_ns() + timeout_ns;

	for (;;) {
		int at = hf_owner(h, v);
		uint32_t other = at >= 0 ? hf_state(h, 1 - at, v, NULL) : PF_VNODE_UNASSIGNED;

		if (at >= 0 && (other == PF_VNODE_REMOTE || other == PF_VNODE_UNASSIGNED))
			return at;
		if (proc_now_ns() > deadline)
			return -1;
		proc_nap();
	}
}

int hf_send_msg(struct hf *h, int i, const struct fault_msg *m)
{
	uint64_t deadline = proc_now_ns() + HF_WAIT_NS;
	int r;

	while ((r = pf_send(h->dom[i], m->vnode, m, sizeof(*m))) == -EAGAIN) {
		CHECK(proc_now_ns() < deadline);
		proc_nap();
	}
	CHECK(r == 0 || r == -ENOENT);
	return r;
}

int hf_send(struct hf *h, int i, uint32_t v, uint32_t sender, uint64_t seq)
{
	struct fault_msg m = {.vnode = v, .sender = sender, .seq = seq, .inc = 1};

	return hf_send_msg(h, i, &m);
}

/* The sampler's and the sender's state, under bg.lock. */
static struct {
	pthread_mutex_t lock;
	struct hf *h;
	pthread_t sampler, sender;
	int sampling, sending, doubled;
	uint32_t watched, looks_per_nap, send_to;
	uint64_t nap_ns, period_ns;
	uint64_t *sent;
} bg = {.lock = PTHREAD_MUTEX_INITIALIZER, .watched = UINT32_MAX};

static int bg_get(const int *flag)
{
	int v;

	CHECK(pthread_mutex_lock(&bg.lock) == 0);
	v = *flag;
	CHECK(pthread_mutex_unlock(&bg.lock) == 0);
	return v;
}

static void bg_set(int *flag, int value)
{
	CHECK(pthread_mutex_lock(&bg.lock) == 0);
	*flag = value;
	CHECK(pthread_mutex_unlock(&bg.lock) == 0);
}

static void *sampler_main(void *arg)
{
	(void)arg;
	for (uint64_t looks = 0; bg_get(&bg.sampling); looks++) {
		uint32_t v;

		CHECK(pthread_mutex_lock(&bg.lock) == 0);
		v = bg.watched;
		CHECK(pthread_mutex_unlock(&bg.lock) == 0);
		if (v != UINT32_MAX && hf_both_live(bg.h, v, (int)(looks & 1))) {
			fprintf(stderr, "VNode %u placeable on both hosts at once\n", v);
			CHECK(pthread_mutex_lock(&bg.lock) == 0);
			bg.doubled++;
			CHECK(pthread_mutex_unlock(&bg.lock) == 0);
		}
		if (looks % bg.looks_per_nap == bg.looks_per_nap - 1)
			test_sleep_ns(bg.nap_ns);
	}
	return NULL;
}

void hf_sampler_start(struct hf *h, uint32_t looks_per_nap, uint64_t nap_ns)
{
	CHECK(looks_per_nap > 0 && !bg_get(&bg.sampling));
	bg.h = h;
	bg.looks_per_nap = looks_per_nap;
	bg.nap_ns = nap_ns;
	bg.doubled = 0;
	bg_set(&bg.sampling, 1);
	CHECK(pthread_create(&bg.sampler, NULL, sampler_main, NULL) == 0);
}

void hf_watch(uint32_t v)
{
	CHECK(pthread_mutex_lock(&bg.lock) == 0);
	bg.watched = v;
	CHECK(pthread_mutex_unlock(&bg.lock) == 0);
}

int hf_sampler_stop(void)
{
	bg_set(&bg.sampling, 0);
	CHECK(pthread_join(bg.sampler, NULL) == 0);
	return bg.doubled;
}

static void *sender_main(void *arg)
{
	(void)arg;
	while (bg_get(&bg.sending)) {
		CHECK(hf_send(bg.h, 0, bg.send_to, 0, *bg.sent + 1) == 0);
		(*bg.sent)++;
		test_sleep_ns(bg.period_ns);
	}
	return NULL;
}

void hf_sender_start(struct hf *h, uint32_t v, uint64_t *sent, uint64_t period_ns)
{
	CHECK(!bg_get(&bg.sending));
	bg.h = h;
	bg.send_to = v;
	bg.sent = sent;
	bg.period_ns = period_ns;
	bg_set(&bg.sending, 1);
	CHECK(pthread_create(&bg.sender, NULL, sender_main, NULL) == 0);
}

void hf_sender_stop(void)
{
	bg_set(&bg.sending, 0);
	CHECK(pthread_join(bg.sender, NULL) == 0);
}

void hf_send_n(struct hf *h, int i, uint32_t v, uint64_t *sent, uint32_t n)
{
	for (uint32_t k = 0; k < n; k++) {
		CHECK(hf_send(h, i, v, 0, *sent + 1) == 0);
		(*sent)++;
	}
}

int hf_read_state(struct hf *h, int i, uint32_t v, struct fault_state *st)
{
	size_t cap = (size_t)h->o.state_bytes_max, len = 0;
	uint8_t *buf = malloc(cap);
	int r;

	CHECK(buf != NULL);
	r = pf_checkpoint_read(h->dom[i], v, buf, cap, &len, NULL);
	if (r == 0 && len < sizeof(*st))
		r = -EBADMSG;
	if (r == 0) {
		memcpy(st, buf, sizeof(*st));
		if (st->magic != FAULT_STATE_MAGIC ||
		    st->body_hash != XXH3_64bits(buf + sizeof(*st), len - sizeof(*st)))
			r = -EBADMSG;
	}
	free(buf);
	return r;
}

int hf_missing(struct hf *h, int i, uint32_t v, const uint64_t sent[FAULT_SENDERS],
	       uint32_t *ret_sender, uint64_t *ret_seq)
{
	size_t cap = (size_t)h->o.state_bytes_max, len = 0;
	uint8_t *buf = malloc(cap);
	struct fault_state st;
	int r, n = 0;

	CHECK(buf != NULL);
	r = pf_checkpoint_read(h->dom[i], v, buf, cap, &len, NULL);
	memcpy(&st, buf, sizeof(st));
	if (r == 0 && (len < sizeof(st) || sizeof(st) + st.track_bytes > len))
		r = -EBADMSG;
	for (uint32_t s = 0; r == 0 && s < FAULT_SENDERS; s++) {
		const uint8_t *map = fault_track(buf, st.track_bytes, s);
		uint64_t bits = (uint64_t)(st.track_bytes / FAULT_SENDERS) * 8u;

		for (uint64_t seq = 1; seq <= sent[s] && seq <= bits; seq++) {
			if (map[(seq - 1) / 8] & (1u << ((seq - 1) % 8)))
				continue;
			if (n++ == 0) {
				*ret_sender = s;
				*ret_seq = seq;
			}
		}
	}
	free(buf);
	return r < 0 ? r : n;
}

void hf_print_state(uint32_t v, int at, const struct fault_state *st,
		    const uint64_t sent[FAULT_SENDERS])
{
	fprintf(stderr, "VNode %u on host %d: commits %llu dups %llu gaps %llu malformed %llu\n", v,
		at, (unsigned long long)st->commits, (unsigned long long)st->dups,
		(unsigned long long)st->gaps, (unsigned long long)st->malformed);
	for (uint32_t s = 0; s < FAULT_SENDERS; s++)
		if (sent[s] != 0 || st->applied[s] != 0)
			fprintf(stderr, "  sender %u: sent %llu, applied %llu, last %llu\n", s,
				(unsigned long long)sent[s], (unsigned long long)st->applied[s],
				(unsigned long long)st->last_seq[s]);
	for (uint32_t k = 0; k < st->anomalies_count && k < FAULT_ANOMALIES_MAX; k++)
		fprintf(stderr, "  %s: sender %u got %llu after %llu (commit %llu)\n",
			st->anomalies[k].dup ? "dup" : "gap", st->anomalies[k].sender,
			(unsigned long long)st->anomalies[k].seq,
			(unsigned long long)st->anomalies[k].last,
			(unsigned long long)st->anomalies[k].commits);
}

static int caught_up(const struct fault_state *st, const uint64_t sent[FAULT_SENDERS])
{
	for (uint32_t s = 0; s < FAULT_SENDERS; s++)
		if (st->last_seq[s] < sent[s])
			return 0;
	return 1;
}

int hf_wait_caught_up(struct hf *h, uint32_t v, const uint64_t sent[FAULT_SENDERS],
		      uint64_t timeout_ns, struct fault_state *st)
{
	uint64_t deadline = proc_now_ns() + timeout_ns;
	int at = -1, r = -ENOENT;

	memset(st, 0, sizeof(*st));
	while (proc_now_ns() < deadline) {
		at = hf_owner(h, v);
		r = at >= 0 ? hf_read_state(h, at, v, st) : -EAGAIN;
		if ((r == 0 && caught_up(st, sent)) || r == -EBADMSG)
			break;
		proc_nap();
	}
	if (r == 0 && !caught_up(st, sent))
		r = -ETIMEDOUT;
	if (r == 0)
		test_sleep_ns(20000000); /* anything applied past the last one shows now */
	if (r == 0 && (at = hf_owner(h, v)) >= 0)
		r = hf_read_state(h, at, v, st);
	return r < 0 ? r : at < 0 ? -ENOENT : at;
}

int hf_wait_applied(struct hf *h, uint32_t v, const uint64_t sent[FAULT_SENDERS],
		    uint64_t timeout_ns)
{
	struct fault_state st;
	int at = hf_wait_caught_up(h, v, sent, timeout_ns, &st), exact = 1;

	for (uint32_t s = 0; at >= 0 && s < FAULT_SENDERS; s++)
		exact &= st.last_seq[s] == sent[s] && st.applied[s] == sent[s];
	if (at >= 0 && exact && st.dups == 0 && st.gaps == 0 && st.malformed == 0)
		return 0;
	fprintf(stderr, "VNode %u: %s\n", v,
		at == -EBADMSG     ? "its state fails its body hash"
		: at == -ETIMEDOUT ? "not every message applied in time"
		: at < 0           ? "no owner with a readable state"
				   : "not every message applied exactly once");
	hf_print_state(v, at, &st, sent);
	return -1;
}

/* The VNode a record is about: its subject "vnode:<id>", or UINT32_MAX. */
static uint32_t subject_vnode(json_t *rec)
{
	const char *s = json_string_value(json_object_get(rec, "subject"));
	char *end;
	unsigned long v;

	if (s == NULL || strncmp(s, "vnode:", 6) != 0)
		return UINT32_MAX;
	v = strtoul(s + 6, &end, 10);
	return *end == '\0' && v < UINT32_MAX ? (uint32_t)v : UINT32_MAX;
}

static int field_is(json_t *rec, const char *key, const char *value)
{
	json_t *f = json_object_get(json_object_get(rec, "details"), key);
	char num[32];

	if (json_is_string(f))
		return strcmp(json_string_value(f), value) == 0;
	if (json_is_boolean(f))
		return strcmp(json_is_true(f) ? "true" : "false", value) == 0;
	if (json_is_integer(f)) {
		(void)snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(f));
		return strcmp(num, value) == 0;
	}
	return 0;
}

int hf_audit_count(struct hf *h, int i, const char *event, uint32_t v, const char *key,
		   const char *value)
{
	static char line[70000];
	FILE *f = fopen(h->audit[i], "r");
	int n = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		json_t *rec = json_loads(line, 0, NULL);
		const char *ev = json_string_value(json_object_get(rec, "event"));

		if (ev != NULL && strcmp(ev, event) == 0 &&
		    (v == UINT32_MAX || subject_vnode(rec) == v) &&
		    (key == NULL || field_is(rec, key, value)))
			n++;
		json_decref(rec);
	}
	(void)fclose(f);
	return n;
}

int hf_audit_last(struct hf *h, int i, const char *event, uint32_t v, char *buf, size_t cap)
{
	static char line[70000];
	FILE *f = fopen(h->audit[i], "r");
	int r = -ENOENT;

	if (f == NULL)
		return r;
	while (fgets(line, sizeof(line), f) != NULL) {
		json_t *rec = json_loads(line, 0, NULL);
		const char *ev = json_string_value(json_object_get(rec, "event"));
		char *text;

		if (ev != NULL && strcmp(ev, event) == 0 &&
		    (v == UINT32_MAX || subject_vnode(rec) == v) &&
		    (text = json_dumps(json_object_get(rec, "details"), JSON_COMPACT)) != NULL) {
			(void)snprintf(buf, cap, "%s", text);
			free(text);
			r = 0;
		}
		json_decref(rec);
	}
	(void)fclose(f);
	return r;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

int hf_audit_repeats(struct hf *h, int i, const char *event, const char *key)
{
	static char line[70000];
	size_t n = 0, cap = 1024;
	int64_t *vals = malloc(cap * sizeof(*vals));
	FILE *f = fopen(h->audit[i], "r");
	int repeats = 0;

	CHECK(vals != NULL);
	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		json_t *rec = json_loads(line, 0, NULL);
		const char *ev = json_string_value(json_object_get(rec, "event"));
		json_t *val = json_object_get(json_object_get(rec, "details"), key);

		if (ev != NULL && strcmp(ev, event) == 0 && json_is_integer(val)) {
			if (n == cap)
				CHECK((vals = realloc(vals, (cap *= 2) * sizeof(*vals))) != NULL);
			vals[n++] = (int64_t)json_integer_value(val);
		}
		json_decref(rec);
	}
	if (f != NULL)
		(void)fclose(f);
	qsort(vals, n, sizeof(*vals), cmp_i64);
	for (size_t k = 1; k < n; k++)
		repeats += vals[k] == vals[k - 1];
	free(vals);
	return repeats;
}

int hf_outcome(struct hf *h, uint32_t v, uint64_t timeout_ns)
{
	uint64_t deadline = proc_now_ns() + timeout_ns;
	int moved = 0, failed = 0;

	while (proc_now_ns() < deadline) {
		moved = hf_audit_count(h, 0, "vnode_emigrated", v, NULL, NULL);
		failed = hf_audit_count(h, 0, "migrate_host_failed", v, NULL, NULL);
		if (moved + failed > 0)
			break;
		test_sleep_ns(5000000);
	}
	return moved + failed == 1 ? moved : -1;
}

int hf_audit_wait(struct hf *h, int i, const char *event, uint32_t v, int n, uint64_t timeout_ns)
{
	uint64_t deadline = proc_now_ns() + timeout_ns;

	while (hf_audit_count(h, i, event, v, NULL, NULL) < n) {
		if (proc_now_ns() > deadline)
			return -ETIMEDOUT;
		test_sleep_ns(10000000);
	}
	return 0;
}
