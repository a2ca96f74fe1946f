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
 * daemon (--destroy-on-exit). The host itself (processes, traffic, churn, the check) is
 * tools/demo/host.c, which the balance benchmark and its integration test run too.
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

#include "tools/demo/host.h"

#define STATUS_EVERY_NS (5ull * 1000000000ull) /* a status line this often */

struct live {
	struct host h;
	uint32_t rate;
	uint64_t duration_ns; /* 0: until a signal */
};

static int stop_asked(void)
{
	sigset_t pending;

	return sigpending(&pending) == 0 &&
	       (sigismember(&pending, SIGINT) == 1 || sigismember(&pending, SIGTERM) == 1);
}

static void status(struct live *lv, const char *event)
{
	struct pf_domain_info di = {.size = sizeof(di)};

	(void)pf_domain_info(lv->h.d, &di);
	printf("%-34s members %u, VNodes %u owned / %u pending, messages sent %llu\n", event,
	       di.members_active, di.vnodes_active, di.vnodes_pending,
	       (unsigned long long)lv->h.sent_total);
}

static void on_churn(void *arg, uint64_t at_ns, const char *what)
{
	(void)at_ns;
	status(arg, what);
}

static void on_status(void *arg, uint64_t at_ns, uint64_t settled_ns)
{
	(void)at_ns;
	(void)settled_ns;
	status(arg, "status:");
}

static int on_stop(void *arg)
{
	(void)arg;
	return stop_asked();
}

static int run(struct live *lv)
{
	struct host *h = &lv->h;
	struct host_loop loop = {.run_ns = lv->duration_ns,
				 .churn_ns = HOST_CHURN_EVERY_NS,
				 .sample_ns = STATUS_EVERY_NS,
				 .first_sample_ns = STATUS_EVERY_NS / 2,
				 .rate = lv->rate,
				 .on_churn = on_churn,
				 .on_sample = on_status,
				 .stop = on_stop,
				 .arg = lv};
	int r = host_start(h);

	if (r < 0)
		return r;
	printf("pflightd runs domain %s; its log and audit log are in %s\n\n", h->name, h->dir);
	printf("    dashboard:  %s\n", h->url);
	printf("    API token:  %s/audit.jsonl.api-token (drain, retire, simulate)\n\n", h->dir);
	printf("Ctrl-C stops the demo and checks every counter.\n\n");
	status(lv, "started:");
	host_run(h, &loop);
	return host_verify(h);
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

	lv->h.workers = 5;
	lv->h.vnodes = 256;
	lv->rate = 2000;
	lv->h.port = 7421;
	(void)snprintf(lv->h.name, sizeof(lv->h.name), "demo");
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'D' || c == 'w' || c == 'N') {
			if (c == 'N')
				(void)snprintf(lv->h.name, sizeof(lv->h.name), "%s", optarg);
			else
				*(c == 'D' ? &lv->h.daemon_path : &lv->h.worker_path) = optarg;
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
			lv->h.workers = (uint32_t)v;
		else if (c == 'v')
			lv->h.vnodes = (uint32_t)v;
		else if (c == 'r')
			lv->rate = (uint32_t)v;
		else if (c == 'p')
			lv->h.port = (uint32_t)v;
		else
			lv->duration_ns = (uint64_t)v * 1000000000u;
	}
	if (lv->h.daemon_path == NULL || lv->h.worker_path == NULL || lv->h.workers < 3 ||
	    lv->h.workers > HOST_WORKERS_MAX || lv->h.vnodes == 0 || lv->h.vnodes > 1024 ||
	    lv->h.port > 65535 || optind != argc)
		return -EINVAL;
	return 0;
}

int main(int argc, char **argv)
{
	struct live lv;
	int r;

	memset(&lv, 0, sizeof(lv));
	r = parse(&lv, argc, argv);
	if (r != 0) {
		fprintf(r > 0 ? stdout : stderr,
			"usage: %s --daemon PATH --worker PATH [--workers N (3..16)] "
			"[--vnodes N (1..1024)] [--rate MSGS_PER_S] [--port PORT] "
			"[--duration S] [--name NAME]\n",
			argv[0]);
		return r > 0 ? 0 : 2;
	}
	host_block_signals();
	r = run(&lv);
	host_stop(&lv.h);
	return r < 0 ? 1 : 0;
}
