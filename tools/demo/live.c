/* SPDX-License-Identifier: MIT */
/*
 * tools/demo/live.c: the main job of `scripts/demo`: a host running pflightd, with a
 * dashboard to watch it by.
 *
 * Starts pflightd on its embedded default (no manifest: domain limits, scheduling and
 * governance all as documented), with its REST API and dashboard on loopback, then
 * example counter workers (one defines the counter VNodes), and keeps steady traffic of
 * numbered increments flowing to the VNodes. Every few seconds it injects a little churn,
 * in turn: a worker killed with SIGKILL, a worker started, a worker drained (cordoned:
 * pflightd moves its VNodes with their state, then it leaves), a worker started. It prints
 * the dashboard's URL first and one line per event and every few seconds after.
 *
 * On Ctrl-C (or after --duration seconds) the churn and the traffic stop, every counter
 * is checked against the messages sent to it (no duplicate, no gap: nothing lost through
 * the kills and drains), and everything it started is stopped; the domain goes with the
 * daemon (--destroy-on-exit).
 *
 *   pflight-demo-live --daemon PATH --worker PATH [--workers N] [--vnodes N]
 *                     [--rate MSGS_PER_S] [--port PORT] [--duration S] [--name NAME]
 *
 * Exit status: 0 when every counter is exact, 1 when not (or something failed), 2 for bad
 * usage.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pflight/pflight.h"
#include "tools/examples/counter.h"

#define WORKERS_MAX 16u
#define CHURN_EVERY_NS (8ull * 1000000000ull)  /* one churn event this often */
#define STATUS_EVERY_NS (5ull * 1000000000ull) /* and a status line this often */
#define START_TIMEOUT_NS (30ull * 1000000000ull)
#define SETTLE_TIMEOUT_NS (60ull * 1000000000ull)
#define TICK_NS 10000000L /* traffic is sent in 10 ms ticks */

struct live {
	const char *daemon_path, *worker_path;
	char name[PF_DOMAIN_NAME_MAX + 1];
	char dir[64], log[128], url[96];
	uint32_t workers, vnodes, rate, port;
	uint64_t duration_ns; /* 0: until a signal */
	pid_t daemon;
	pid_t pids[WORKERS_MAX];
	struct pf_domain *d;
	uint64_t *sent;
	uint64_t sent_total, refused;
	uint32_t next_vnode, churn_step, kills, drains;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void nap_ns(long ns)
{
	struct timespec ts = {ns / 1000000000L, ns % 1000000000L};

	(void)nanosleep(&ts, NULL);
}

static int stop_asked(void)
{
	sigset_t pending;

	return sigpending(&pending) == 0 &&
	       (sigismember(&pending, SIGINT) == 1 || sigismember(&pending, SIGTERM) == 1);
}

static pid_t spawn(char *const argv[], const char *log)
{
	pid_t pid = fork();

	if (pid == 0) {
		sigset_t none;
		FILE *f = fopen(log, "a");

		/* A group of its own: Ctrl-C at the terminal is the demo's to handle. */
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
static uint32_t api_port(const struct live *lv)
{
	char line[512];
	unsigned port = 0;
	FILE *f = fopen(lv->log, "r");

	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		const char *p = strstr(line, "api listening on 127.0.0.1:");

		if (p != NULL)
			(void)sscanf(p + strlen("api listening on 127.0.0.1:"), "%u", &port);
	}
	if (f != NULL)
		(void)fclose(f);
	return port;
}

static int start_daemon(struct live *lv)
{
	char audit[96], control[96], port[16];
	char *argv[] = {(char *)lv->daemon_path,
			"--foreground",
			"--domain",
			lv->name,
			"--audit",
			audit,
			"--control",
			control,
			"--api-port",
			port,
			"--destroy-on-exit",
			NULL};
	uint64_t deadline = mono_ns() + START_TIMEOUT_NS;

	(void)snprintf(audit, sizeof(audit), "%s/audit.jsonl", lv->dir);
	(void)snprintf(control, sizeof(control), "%s/control.sock", lv->dir);
	(void)snprintf(port, sizeof(port), "%u", lv->port);
	lv->daemon = spawn(argv, lv->log);
	while ((lv->port = api_port(lv)) == 0 && mono_ns() < deadline) {
		if (waitpid(lv->daemon, NULL, WNOHANG) != 0) {
			fprintf(stderr, "demo: pflightd stopped; its log is %s\n", lv->log);
			lv->daemon = -1;
			return -ECHILD;
		}
		nap_ns(20000000L);
	}
	if (lv->port == 0)
		return -ETIMEDOUT;
	(void)snprintf(lv->url, sizeof(lv->url), "http://127.0.0.1:%u/", lv->port);
	return pf_domain_open(lv->name, &lv->d);
}

/* A worker in the first free place. */
static int start_worker(struct live *lv)
{
	char vn[16], log[128];
	char *argv[] = {(char *)lv->worker_path, lv->name, vn, "--drain-on-exit", "3000", NULL};
	uint32_t i = 0;

	while (i < lv->workers && lv->pids[i] > 0)
		i++;
	if (i == lv->workers)
		return -EUSERS;
	(void)snprintf(vn, sizeof(vn), "%u", lv->vnodes);
	(void)snprintf(log, sizeof(log), "%s/workers.log", lv->dir);
	lv->pids[i] = spawn(argv, log);
	return lv->pids[i] > 0 ? (int)i : -errno;
}

/* Reap workers that left (drained, or killed): their place is free again. */
static void reap(struct live *lv)
{
	for (uint32_t i = 0; i < lv->workers; i++)
		if (lv->pids[i] > 0 && waitpid(lv->pids[i], NULL, WNOHANG) == lv->pids[i])
			lv->pids[i] = 0;
}

static uint32_t running(const struct live *lv)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < lv->workers; i++)
		n += lv->pids[i] > 0;
	return n;
}

/* The member slot of worker pid, or UINT32_MAX. */
static uint32_t slot_of(struct live *lv, pid_t pid)
{
	struct pf_domain_info di = {.size = sizeof(di)};

	(void)pf_domain_info(lv->d, &di);
	for (uint32_t s = 0; s < di.members_max; s++) {
		struct pf_member_info mi = {.size = sizeof(mi)};

		if (pf_member_info(lv->d, s, &mi) == 0 && mi.pid == pid &&
		    mi.state == PF_MEMBER_ACTIVE)
			return s;
	}
	return UINT32_MAX;
}

static int wait_members(struct live *lv, uint32_t want)
{
	uint64_t deadline = mono_ns() + START_TIMEOUT_NS;

	while (pf_domain_membership(lv->d, NULL) < (int)want) {
		if (mono_ns() > deadline)
			return -ETIMEDOUT;
		nap_ns(20000000L);
	}
	return 0;
}

static void status(struct live *lv, const char *event)
{
	struct pf_domain_info di = {.size = sizeof(di)};

	(void)pf_domain_info(lv->d, &di);
	printf("%-34s members %u, VNodes %u owned / %u pending, messages sent %llu\n", event,
	       di.members_active, di.vnodes_active, di.vnodes_pending,
	       (unsigned long long)lv->sent_total);
}

/* One churn event, in turn: kill, start, drain, start. */
static void churn(struct live *lv)
{
	char what[64];
	uint32_t step = lv->churn_step++ % 4, i = lv->churn_step % lv->workers;

	reap(lv);
	if (step == 1 || step == 3 || running(lv) < 2) {
		int k = start_worker(lv);

		(void)snprintf(what, sizeof(what), k >= 0 ? "worker started (pid %d)" : "no room",
			       k >= 0 ? (int)lv->pids[k] : 0);
		status(lv, what);
		return;
	}
	while (lv->pids[i] <= 0)
		i = (i + 1) % lv->workers;
	if (step == 0) {
		(void)kill(lv->pids[i], SIGKILL);
		lv->kills++;
		(void)snprintf(what, sizeof(what), "kill -9 worker pid %d", (int)lv->pids[i]);
	} else {
		uint32_t slot = slot_of(lv, lv->pids[i]);

		if (slot != UINT32_MAX && pf_member_cordon(lv->d, slot, 0) == 0)
			lv->drains++;
		(void)snprintf(what, sizeof(what), "drain member %u (pid %d)", slot,
			       (int)lv->pids[i]);
	}
	status(lv, what);
}

/* This tick's share of the traffic, round-robin over the VNodes; a full inbox is passed
 * over (its owner is behind: the next round tries again). */
static void traffic(struct live *lv, uint32_t count)
{
	for (uint32_t k = 0; k < count; k++) {
		uint32_t id = lv->next_vnode;
		struct counter_msg m = {.vnode = id, .seq = lv->sent[id] + 1, .inc = 1};

		lv->next_vnode = (id + 1) % lv->vnodes;
		if (pf_send(lv->d, id, &m, sizeof(m)) == 0) {
			lv->sent[id]++;
			lv->sent_total++;
		} else {
			lv->refused++;
		}
	}
}

/* Every counter's checkpoint equals the messages sent to it, once settled. */
static int verify(struct live *lv)
{
	uint64_t deadline = mono_ns() + SETTLE_TIMEOUT_NS, applied = 0, dups = 0, gaps = 0;
	uint32_t id = 0, bad = 0;

	while (id < lv->vnodes && mono_ns() < deadline) {
		struct counter_state st;
		size_t len = 0;

		if (pf_checkpoint_read(lv->d, id, &st, sizeof(st), &len, NULL) == 0 &&
		    len == sizeof(st) && st.last_seq >= lv->sent[id])
			id++;
		else if (lv->sent[id] == 0)
			id++;
		else
			nap_ns(1000000L);
	}
	for (id = 0; id < lv->vnodes; id++) {
		struct counter_state st;
		size_t len = 0;

		memset(&st, 0, sizeof(st));
		(void)pf_checkpoint_read(lv->d, id, &st, sizeof(st), &len, NULL);
		applied += st.value;
		dups += st.dups;
		gaps += st.gaps;
		bad += st.value != lv->sent[id] || st.dups != 0 || st.gaps != 0;
	}
	printf("\ncheck: %u counters, %llu messages sent, %llu applied, %llu duplicates, %llu "
	       "gaps (workers killed: %u, drained: %u): %s\n",
	       lv->vnodes, (unsigned long long)lv->sent_total, (unsigned long long)applied,
	       (unsigned long long)dups, (unsigned long long)gaps, lv->kills, lv->drains,
	       bad == 0 ? "every counter equals the messages sent to it" : "MISMATCH");
	return bad == 0 ? 0 : -EBADMSG;
}

static void stop_all(struct live *lv)
{
	for (uint32_t i = 0; i < lv->workers; i++)
		if (lv->pids[i] > 0)
			(void)kill(lv->pids[i], SIGKILL);
	for (uint32_t i = 0; i < lv->workers; i++)
		if (lv->pids[i] > 0)
			(void)waitpid(lv->pids[i], NULL, 0);
	if (lv->d != NULL)
		pf_domain_close(lv->d);
	if (lv->daemon > 0) {
		(void)kill(lv->daemon, SIGTERM);
		(void)waitpid(lv->daemon, NULL, 0);
	}
}

static int run(struct live *lv)
{
	uint64_t start, next_churn, next_status;
	int r = start_daemon(lv);

	if (r < 0) {
		fprintf(stderr, "demo: pflightd did not come up (%s); its log: %s\n", strerror(-r),
			lv->log);
		return r;
	}
	printf("pflightd runs domain %s; its log and audit log are in %s\n\n", lv->name, lv->dir);
	printf("    dashboard:  %s\n", lv->url);
	printf("    API token:  %s/audit.jsonl.api-token (for drain and retire buttons)\n\n",
	       lv->dir);
	printf("Ctrl-C stops the demo and checks every counter.\n\n");
	for (uint32_t i = 0; i < lv->workers - 1; i++)
		(void)start_worker(lv);
	/* The VNodes once the workers are members, so the first to join does not take all. */
	r = wait_members(lv, lv->workers - 1);
	if (r == 0)
		r = pf_vnode_define_range(lv->d, 0, lv->vnodes, NULL);
	if (r < 0) {
		fprintf(stderr, "demo: the workers did not come up: %s\n", strerror(-r));
		return r;
	}
	status(lv, "started:");
	start = mono_ns();
	next_churn = start + CHURN_EVERY_NS;
	next_status = start + STATUS_EVERY_NS / 2;
	while (!stop_asked() && (lv->duration_ns == 0 || mono_ns() - start < lv->duration_ns)) {
		uint64_t now = mono_ns();

		traffic(lv, lv->rate / (uint32_t)(1000000000L / TICK_NS));
		if (now >= next_churn) {
			churn(lv);
			next_churn = now + CHURN_EVERY_NS;
		} else if (now >= next_status) {
			status(lv, "status:");
			next_status = now + STATUS_EVERY_NS;
		}
		nap_ns(TICK_NS);
	}
	reap(lv);
	while (running(lv) < 2 && start_worker(lv) >= 0)
		; /* someone must serve the last messages */
	return verify(lv);
}

static int parse(struct live *lv, int argc, char **argv)
{
	static const struct option opts[] = {
		{"daemon", required_argument, NULL, 'D'},
		{"worker", required_argument, NULL, 'w'},
		{"workers", required_argument, NULL, 'n'},
		{"vnodes", required_argument, NULL, 'v'},
		{"rate", required_argument, NULL, 'r'},
		{"port", required_argument, NULL, 'p'},
		{"duration", required_argument, NULL, 'd'},
		{"name", required_argument, NULL, 'N'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	unsigned long v;
	char *end;
	int c;

	lv->workers = 5;
	lv->vnodes = 256;
	lv->rate = 2000;
	lv->port = 7421;
	(void)snprintf(lv->name, sizeof(lv->name), "demo");
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'D' || c == 'w' || c == 'N') {
			if (c == 'N')
				(void)snprintf(lv->name, sizeof(lv->name), "%s", optarg);
			else
				*(c == 'D' ? &lv->daemon_path : &lv->worker_path) = optarg;
			continue;
		}
		if (c == '?')
			return -EINVAL;
		if (c == 'h')
			return 1;
		errno = 0;
		v = strtoul(optarg, &end, 10);
		if (errno != 0 || *end != '\0' || v > 1000000000ul)
			return -EINVAL;
		if (c == 'n')
			lv->workers = (uint32_t)v;
		else if (c == 'v')
			lv->vnodes = (uint32_t)v;
		else if (c == 'r')
			lv->rate = (uint32_t)v;
		else if (c == 'p')
			lv->port = (uint32_t)v;
		else
			lv->duration_ns = (uint64_t)v * 1000000000u;
	}
	if (lv->daemon_path == NULL || lv->worker_path == NULL || lv->workers < 3 ||
	    lv->workers > WORKERS_MAX || lv->vnodes == 0 || lv->vnodes > 1024 || lv->port > 65535 ||
	    optind != argc)
		return -EINVAL;
	return 0;
}

int main(int argc, char **argv)
{
	struct live lv;
	sigset_t stop;
	int r;

	memset(&lv, 0, sizeof(lv));
	lv.daemon = -1;
	r = parse(&lv, argc, argv);
	if (r != 0) {
		fprintf(r > 0 ? stdout : stderr,
			"usage: %s --daemon PATH --worker PATH [--workers N (3..16)] "
			"[--vnodes N (1..1024)] [--rate MSGS_PER_S] [--port PORT] "
			"[--duration S] [--name NAME]\n",
			argv[0]);
		return r > 0 ? 0 : 2;
	}
	(void)snprintf(lv.dir, sizeof(lv.dir), "/tmp/pflight-demo-XXXXXX");
	lv.sent = calloc(lv.vnodes, sizeof(*lv.sent));
	if (lv.sent == NULL || mkdtemp(lv.dir) == NULL)
		return 1;
	(void)snprintf(lv.log, sizeof(lv.log), "%s/pflightd.log", lv.dir);
	(void)sigemptyset(&stop);
	(void)sigaddset(&stop, SIGINT);
	(void)sigaddset(&stop, SIGTERM);
	(void)sigprocmask(SIG_BLOCK, &stop, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	r = run(&lv);
	stop_all(&lv);
	free(lv.sent);
	return r < 0 ? 1 : 0;
}
