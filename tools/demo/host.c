/* SPDX-License-Identifier: MIT */
/*
 * tools/demo/host.c: the demo's host (host.h): pflightd and example counter workers as
 * real processes, traffic, churn, balance and the counters' check.
 *
 * pflightd starts on its embedded default (or the manifest given) with its REST API and
 * dashboard on loopback; its log says which port it took. Workers are started with
 * --drain-on-exit and their logs go to one file. The churn is the demo's: kill -9, start,
 * drain (a cordon: pflightd moves the member's VNodes with their state, then it leaves),
 * start; the victim turns over the worker places. Balance is read from the ownership
 * words, not from the members' own counts, which lag by a pass of their loop.
 */
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tools/common/held.h"
#include "tools/demo/host.h"
#include "tools/examples/counter.h"

#define START_TIMEOUT_NS (30ull * 1000000000ull)
#define SETTLE_TIMEOUT_NS (60ull * 1000000000ull)

uint64_t host_now_ns(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void host_nap_ns(long ns)
{
	struct timespec ts = {ns / 1000000000L, ns % 1000000000L};

	(void)nanosleep(&ts, NULL);
}

void host_block_signals(void)
{
	sigset_t stop;

	(void)sigemptyset(&stop);
	(void)sigaddset(&stop, SIGINT);
	(void)sigaddset(&stop, SIGTERM);
	(void)sigprocmask(SIG_BLOCK, &stop, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
}

static pid_t spawn(char *const argv[], const char *log)
{
	pid_t pid = fork();

	if (pid == 0) {
		sigset_t none;
		FILE *f = fopen(log, "a");

		/* A group of its own: Ctrl-C at the terminal is the caller's to handle. */
		(void)setpgid(0, 0);
		(void)sigemptyset(&none);
		(void)sigprocmask(SIG_SETMASK, &none, NULL);
		if (f == NULL || dup2(fileno(f), 1) < 0 || dup2(fileno(f), 2) < 0)
			_exit(127);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

/* The port the daemon's log says its API listens on, once it does: 0 until then. */
static uint32_t api_port(const struct host *h)
{
	char line[512];
	unsigned port = 0;
	FILE *f = fopen(h->log, "r");

	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		const char *p = strstr(line, "api listening on 127.0.0.1:");

		if (p != NULL)
			(void)sscanf(p + strlen("api listening on 127.0.0.1:"), "%u", &port);
	}
	if (f != NULL)
		(void)fclose(f);
	return port;
}

static int start_daemon(struct host *h)
{
	char audit[96], control[96], port[16];
	char *argv[] = {(char *)h->daemon_path,
			"--foreground",
			"--domain",
			h->name,
			"--audit",
			audit,
			"--control",
			control,
			"--api-port",
			port,
			"--destroy-on-exit",
			h->manifest != NULL ? "--manifest" : NULL,
			(char *)h->manifest,
			NULL};
	uint64_t deadline = host_now_ns() + START_TIMEOUT_NS;

	(void)snprintf(audit, sizeof(audit), "%s/audit.jsonl", h->dir);
	(void)snprintf(control, sizeof(control), "%s/control.sock", h->dir);
	(void)snprintf(port, sizeof(port), "%u", h->port);
	h->daemon = spawn(argv, h->log);
	while ((h->port = api_port(h)) == 0 && host_now_ns() < deadline) {
		if (waitpid(h->daemon, NULL, WNOHANG) != 0) {
			fprintf(stderr, "host: pflightd stopped; its log is %s\n", h->log);
			h->daemon = -1;
			return -ECHILD;
		}
		host_nap_ns(20000000L);
	}
	if (h->port == 0)
		return -ETIMEDOUT;
	(void)snprintf(h->url, sizeof(h->url), "http://127.0.0.1:%u/", h->port);
	return pf_domain_open(h->name, &h->d);
}

int host_start_worker(struct host *h)
{
	char vn[16], log[128];
	char *argv[] = {(char *)h->worker_path, h->name, vn, "--drain-on-exit", "3000", NULL};
	uint32_t i = 0;

	while (i < h->workers && h->pids[i] > 0)
		i++;
	if (i == h->workers)
		return -EUSERS;
	(void)snprintf(vn, sizeof(vn), "%u", h->vnodes);
	(void)snprintf(log, sizeof(log), "%s/workers.log", h->dir);
	h->pids[i] = spawn(argv, log);
	return h->pids[i] > 0 ? (int)i : -errno;
}

uint32_t host_reap(struct host *h)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < h->workers; i++) {
		if (h->pids[i] > 0 && waitpid(h->pids[i], NULL, WNOHANG) == h->pids[i])
			h->pids[i] = 0;
		n += h->pids[i] > 0;
	}
	return n;
}

static int wait_members(struct host *h, uint32_t want)
{
	uint64_t deadline = host_now_ns() + START_TIMEOUT_NS;

	while (pf_domain_membership(h->d, NULL) < (int)want) {
		if (host_now_ns() > deadline)
			return -ETIMEDOUT;
		host_nap_ns(20000000L);
	}
	return 0;
}

int host_start(struct host *h)
{
	int r;

	h->daemon = -1;
	if (h->workers < 3 || h->workers > HOST_WORKERS_MAX || h->vnodes == 0)
		return -EINVAL;
	(void)snprintf(h->dir, sizeof(h->dir), "/tmp/pflight-demo-XXXXXX");
	h->sent = calloc(h->vnodes, sizeof(*h->sent));
	if (h->sent == NULL || mkdtemp(h->dir) == NULL)
		return -ENOMEM;
	(void)snprintf(h->log, sizeof(h->log), "%s/pflightd.log", h->dir);
	r = start_daemon(h);
	if (r < 0) {
		fprintf(stderr, "host: pflightd did not come up (%s); its log: %s\n", strerror(-r),
			h->log);
		return r;
	}
	for (uint32_t i = 0; i < h->workers - 1; i++)
		(void)host_start_worker(h);
	r = wait_members(h, h->workers - 1);
	if (r == 0)
		r = pf_vnode_define_range(h->d, 0, h->vnodes, NULL);
	if (r < 0) {
		fprintf(stderr, "host: the workers did not come up: %s\n", strerror(-r));
		return r;
	}
	h->changed_ns = host_now_ns();
	return 0;
}

/* The member slot of worker pid, or UINT32_MAX. */
static uint32_t slot_of(struct host *h, pid_t pid)
{
	struct pf_domain_info di = {.size = sizeof(di)};

	(void)pf_domain_info(h->d, &di);
	for (uint32_t s = 0; s < di.members_max; s++) {
		struct pf_member_info mi = {.size = sizeof(mi)};

		if (pf_member_info(h->d, s, &mi) == 0 && mi.pid == pid &&
		    mi.state == PF_MEMBER_ACTIVE)
			return s;
	}
	return UINT32_MAX;
}

void host_churn(struct host *h, char *what, size_t size)
{
	uint32_t step = h->churn_step++ % 4, i = h->churn_step % h->workers, alive;

	h->changed_ns = host_now_ns();
	alive = host_reap(h); /* an exited worker's place is free for a start */
	if (step == 1 || step == 3 || alive < 2) {
		int k = host_start_worker(h);

		(void)snprintf(what, size, k >= 0 ? "worker started (pid %d)" : "no room",
			       k >= 0 ? (int)h->pids[k] : 0);
		return;
	}
	while (h->pids[i] <= 0)
		i = (i + 1) % h->workers;
	if (step == 0) {
		(void)kill(h->pids[i], SIGKILL);
		h->kills++;
		(void)snprintf(what, size, "kill -9 worker pid %d", (int)h->pids[i]);
	} else {
		uint32_t slot = slot_of(h, h->pids[i]);

		if (slot != UINT32_MAX && pf_member_cordon(h->d, slot, 0) == 0)
			h->drains++;
		(void)snprintf(what, size, "drain member %u (pid %d)", slot, (int)h->pids[i]);
	}
}

void host_traffic(struct host *h, uint32_t count)
{
	for (uint32_t k = 0; k < count; k++) {
		uint32_t id = h->next_vnode;
		struct counter_msg m = {.vnode = id, .seq = h->sent[id] + 1, .inc = 1};

		h->next_vnode = (id + 1) % h->vnodes;
		if (pf_send(h->d, id, &m, sizeof(m)) == 0) {
			h->sent[id]++;
			h->sent_total++;
		} else {
			h->refused++;
		}
	}
}

uint64_t host_settled_ns(struct host *h)
{
	uint32_t version = 0;
	uint64_t now = host_now_ns();

	(void)pf_domain_membership(h->d, &version);
	if (version != h->seen_version) {
		h->seen_version = version;
		h->changed_ns = now;
	}
	return now - h->changed_ns;
}

void host_run(struct host *h, const struct host_loop *l)
{
	uint64_t start = host_now_ns(), next_churn = start + l->churn_ns;
	uint64_t next_sample = start + l->first_sample_ns;
	uint32_t per_tick = l->rate / (uint32_t)(1000000000L / HOST_TICK_NS);

	while (l->run_ns == 0 || host_now_ns() - start < l->run_ns) {
		uint64_t now = host_now_ns(), settled = host_settled_ns(h);

		if (l->stop != NULL && l->stop(l->arg))
			break;
		host_traffic(h, per_tick);
		if (now >= next_churn) {
			char what[64];

			host_churn(h, what, sizeof(what));
			if (l->on_churn != NULL)
				l->on_churn(l->arg, now - start, what);
			next_churn = now + l->churn_ns;
		} else if (now >= next_sample) {
			if (l->on_sample != NULL)
				l->on_sample(l->arg, now - start, settled);
			next_sample = now + l->sample_ns;
		}
		host_nap_ns(HOST_TICK_NS);
	}
}

uint32_t host_balance(struct host *h, double *ret_ratio)
{
	struct pf_domain_info di = {.size = sizeof(di)};
	uint32_t *held, active = 0, max = 0;
	uint64_t total = 0;

	*ret_ratio = HOST_UNPLACED;
	if (pf_domain_info(h->d, &di) < 0 || (held = calloc(di.members_max, sizeof(*held))) == NULL)
		return 0;
	(void)held_count(h->d, h->vnodes, held, di.members_max);
	for (uint32_t s = 0; s < di.members_max; s++) {
		struct pf_member_info mi = {.size = sizeof(mi)};

		if (pf_member_info(h->d, s, &mi) < 0 || mi.state != PF_MEMBER_ACTIVE)
			continue;
		active++;
		total += held[s];
		max = held[s] > max ? held[s] : max;
	}
	free(held);
	if (active > 0 && h->vnodes > 0 && total == h->vnodes)
		*ret_ratio = (double)max * active / (double)total;
	return active;
}

int host_verify(struct host *h)
{
	uint64_t deadline = host_now_ns() + SETTLE_TIMEOUT_NS, applied = 0, dups = 0, gaps = 0;
	uint32_t id = 0, bad = 0;

	while (host_reap(h) < 2 && host_start_worker(h) >= 0)
		; /* someone must serve the last messages */
	while (id < h->vnodes && host_now_ns() < deadline) {
		struct counter_state st;
		size_t len = 0;

		if (pf_checkpoint_read(h->d, id, &st, sizeof(st), &len, NULL) == 0 &&
		    len == sizeof(st) && st.last_seq >= h->sent[id])
			id++;
		else if (h->sent[id] == 0)
			id++;
		else
			host_nap_ns(1000000L);
	}
	for (id = 0; id < h->vnodes; id++) {
		struct counter_state st;
		size_t len = 0;

		memset(&st, 0, sizeof(st));
		(void)pf_checkpoint_read(h->d, id, &st, sizeof(st), &len, NULL);
		applied += st.value;
		dups += st.dups;
		gaps += st.gaps;
		bad += st.value != h->sent[id] || st.dups != 0 || st.gaps != 0;
	}
	printf("\ncheck: %u counters, %llu messages sent, %llu applied, %llu duplicates, %llu "
	       "gaps (workers killed: %u, drained: %u): %s\n",
	       h->vnodes, (unsigned long long)h->sent_total, (unsigned long long)applied,
	       (unsigned long long)dups, (unsigned long long)gaps, h->kills, h->drains,
	       bad == 0 ? "every counter equals the messages sent to it" : "MISMATCH");
	return bad == 0 ? 0 : -EBADMSG;
}

void host_stop(struct host *h)
{
	for (uint32_t i = 0; i < h->workers; i++)
		if (h->pids[i] > 0)
			(void)kill(h->pids[i], SIGKILL);
	for (uint32_t i = 0; i < h->workers; i++)
		if (h->pids[i] > 0)
			(void)waitpid(h->pids[i], NULL, 0);
	memset(h->pids, 0, sizeof(h->pids));
	if (h->d != NULL)
		pf_domain_close(h->d);
	h->d = NULL;
	if (h->daemon > 0) {
		(void)kill(h->daemon, SIGTERM);
		(void)waitpid(h->daemon, NULL, 0);
	}
	h->daemon = -1;
	free(h->sent);
	h->sent = NULL;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	(void)remove(path);
	return 0;
}

void host_remove_dir(struct host *h)
{
	if (h->dir[0] != '\0')
		(void)nftw(h->dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}
