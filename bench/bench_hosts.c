/* SPDX-License-Identifier: MIT */
/* bench/bench_hosts.c: see bench_hosts.h. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench_core.h"
#include "bench/bench_hosts.h"

#define READY_TEXT " ready: "
#define READY_TIMEOUT_NS (30ull * 1000000000ull)
#define STOP_TIMEOUT_NS (10ull * 1000000000ull)
#define ARGS_MAX 24
#define PAIRS_MAX 8 /* pairs up at once (the atexit handler's table) */

static struct bench_hosts *live[PAIRS_MAX];
static unsigned pairs_started;

static void nap_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	(void)nanosleep(&ts, NULL);
}

static void stop_all(void)
{
	for (int i = 0; i < PAIRS_MAX; i++)
		if (live[i] != NULL)
			bench_hosts_stop(live[i]);
}

static void track(struct bench_hosts *hs, int add)
{
	static int registered;

	if (!registered && atexit(stop_all) == 0)
		registered = 1;
	for (int i = 0; i < PAIRS_MAX; i++) {
		if (add && live[i] == NULL) {
			live[i] = hs;
			return;
		}
		if (!add && live[i] == hs)
			live[i] = NULL;
	}
	bench_check(add ? -ENOSPC : 0, "bench_hosts: too many pairs");
}

static void hex(char *out, const unsigned char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		(void)snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* Keys for both hosts, where the manifests name them; their public halves in hex. */
static void make_keys(const struct bench_hosts *hs, char pub[2][65])
{
	for (int i = 0; i < 2; i++) {
		unsigned char pk[PF_AUDIT_PUBLIC_KEY_BYTES], sk[PF_AUDIT_SECRET_KEY_BYTES];
		char path[BENCH_HOSTS_PATH_BYTES];

		(void)snprintf(path, sizeof(path), "%s/%d.key", hs->dir, i);
		bench_check(pf_audit_keygen(pk, sk), "pf_audit_keygen");
		bench_check(pf_audit_key_save(path, NULL, pk, sk, NULL), "pf_audit_key_save");
		hex(pub[i], pk, sizeof(pk));
	}
}

/* Ports below the kernel's ephemeral range, from the pid and the pair's number, so that
 * benchmarks and tests of other processes do not meet them. */
static unsigned port_of(unsigned pair, int i)
{
	return 12000u + ((unsigned)getpid() % 500u) * 16u + (pair % 8u) * 2u + (unsigned)i;
}

static void write_manifest(const struct bench_hosts *hs, int i, const struct bench_hosts_cfg *cfg,
			   char pub[2][65], const char *path)
{
	const struct bench_host *me = &hs->h[i], *peer = &hs->h[1 - i];
	FILE *f = fopen(path, "w");

	bench_check(f != NULL ? 0 : -errno, path);
	fprintf(f,
		"apiVersion: pflight/v1\nkind: Domain\nmetadata:\n  name: %s\n"
		"membership:\n  vnodes_max: %u\n  members_max: %u\n  inbox_slots: %u\n"
		"  state_bytes_max: %lluB\n  message_bytes_max: %uB\n"
		"  heartbeat_interval: 1s\n  heartbeat_misses: 10\n"
		"governance:\n  audit:\n    path: %s\n"
		"transport:\n  name: %s\n  key: %s/%d.key\n  listen: %s\n  port: %u\n"
		"  peers:\n    - name: %s\n      address: %s\n      port: %u\n      key: %s\n"
		"api:\n  enabled: false\n",
		me->domain, cfg->vnodes_max, cfg->members_max, cfg->inbox_slots,
		(unsigned long long)cfg->state_bytes_max, cfg->message_bytes_max, me->audit,
		me->name, hs->dir, i, me->listen, me->port, peer->name, peer->listen, peer->port,
		pub[1 - i]);
	bench_check(fclose(f) == 0 ? 0 : -errno, path);
}

/* The daemon's argv: its options, then cfg's extra arguments (split on spaces). */
static void daemon_argv(const struct bench_hosts *hs, int i, const char *manifest, char *extra,
			char *argv[ARGS_MAX])
{
	int n = 0;
	char *save = NULL;

	argv[n++] = (char *)hs->pflightd;
	argv[n++] = "--foreground";
	argv[n++] = "--destroy-on-exit";
	argv[n++] = "--log-target";
	argv[n++] = "stderr";
	argv[n++] = "--manifest";
	argv[n++] = (char *)manifest;
	argv[n++] = "--control";
	argv[n++] = (char *)hs->h[i].sock;
	for (char *t = strtok_r(extra, " ", &save); t != NULL && n < ARGS_MAX - 1;
	     t = strtok_r(NULL, " ", &save))
		argv[n++] = t;
	argv[n] = NULL;
}

/* fork + exec in host i's namespace (ns_fd, -1: this one) on its CPU, output to its log.
 * Called from the main thread (PR_SET_PDEATHSIG follows the forking thread). */
static pid_t spawn(const struct bench_hosts *hs, int i, char *const argv[], int ns_fd)
{
	pid_t parent = getpid(), pid;
	int log_fd = open(hs->h[i].log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	cpu_set_t set;

	bench_check(log_fd < 0 ? -errno : 0, hs->h[i].log);
	CPU_ZERO(&set);
	CPU_SET(hs->cpu[i], &set);
	pid = fork();
	if (pid == 0) {
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
			_exit(126);
		if ((ns_fd >= 0 && setns(ns_fd, CLONE_NEWNET) < 0) ||
		    sched_setaffinity(0, sizeof(set), &set) < 0 || dup2(log_fd, 1) < 0 ||
		    dup2(log_fd, 2) < 0)
			_exit(126);
		execv(argv[0], argv);
		_exit(127);
	}
	(void)close(log_fd);
	bench_check(pid < 0 ? -errno : 0, "fork");
	return pid;
}

static int file_has(const char *path, const char *text)
{
	char buf[16384];
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	(void)fclose(f);
	buf[n] = '\0';
	return strstr(buf, text) != NULL;
}

int bench_hosts_log_count(const struct bench_hosts *hs, int i, const char *text)
{
	char line[1024];
	FILE *f = fopen(hs->h[i].log, "r");
	int n = 0;

	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		n += strstr(line, text) != NULL;
	if (f != NULL)
		(void)fclose(f);
	return n;
}

void bench_hosts_show_log(const struct bench_hosts *hs, int i)
{
	char line[512];
	FILE *f = fopen(hs->h[i].log, "r");

	fprintf(stderr, "---- %s (%s) ----\n", hs->h[i].log, hs->h[i].name);
	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		fputs(line, stderr);
	if (f != NULL)
		(void)fclose(f);
}

/* Wait until host i's log says ready; exits when the daemon ends first or takes too long. */
static void wait_ready(struct bench_hosts *hs, int i)
{
	uint64_t deadline = bench_now_ns() + READY_TIMEOUT_NS;
	int status;

	while (!file_has(hs->h[i].log, READY_TEXT)) {
		if (waitpid(hs->h[i].pid, &status, WNOHANG) == hs->h[i].pid) {
			hs->h[i].pid = -1;
			bench_hosts_show_log(hs, i);
			bench_check(-ECHILD, "pflightd exited before it was ready");
		}
		if (bench_now_ns() > deadline) {
			bench_hosts_show_log(hs, i);
			bench_check(-ETIMEDOUT, "pflightd not ready");
		}
		nap_ms(5);
	}
}

static int ns_open(const struct netns_pair *ns, int side)
{
	char path[128];
	int fd;

	if (ns == NULL)
		return -1;
	(void)snprintf(path, sizeof(path), "/run/netns/%s", ns->name[side]);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	bench_check(fd < 0 ? -errno : 0, path);
	return fd;
}

static void host_names(struct bench_hosts *hs, const struct bench_hosts_cfg *cfg)
{
	for (int i = 0; i < 2; i++) {
		struct bench_host *h = &hs->h[i];

		(void)snprintf(h->domain, sizeof(h->domain), "pfb-mig-%s-%d-%c", cfg->tag,
			       (int)getpid(), 'a' + i);
		(void)snprintf(h->name, sizeof(h->name), "host-%c", 'a' + i);
		(void)snprintf(h->listen, sizeof(h->listen), "%s",
			       hs->ns != NULL ? hs->ns->addr[i] : "127.0.0.1");
		(void)snprintf(h->sock, sizeof(h->sock), "%s/%d.sock", hs->dir, i);
		(void)snprintf(h->audit, sizeof(h->audit), "%s/%d.audit.jsonl", hs->dir, i);
		(void)snprintf(h->log, sizeof(h->log), "%s/%d.log", hs->dir, i);
		h->port = port_of(pairs_started, i);
		h->pid = -1;
		h->d = NULL;
	}
	pairs_started++;
}

static void start_one(struct bench_hosts *hs, int i, const struct bench_hosts_cfg *cfg,
		      char pub[2][65])
{
	struct pf_domain_info di = {.size = sizeof(di)};
	char manifest[BENCH_HOSTS_PATH_BYTES], extra[256], *argv[ARGS_MAX];
	int ns_fd = ns_open(hs->ns, i), r;

	(void)snprintf(manifest, sizeof(manifest), "%s/%d.yaml", hs->dir, i);
	(void)snprintf(extra, sizeof(extra), "%s", cfg->pflightd_args ? cfg->pflightd_args : "");
	write_manifest(hs, i, cfg, pub, manifest);
	daemon_argv(hs, i, manifest, extra, argv);
	hs->h[i].pid = spawn(hs, i, argv, ns_fd);
	if (ns_fd >= 0)
		(void)close(ns_fd);
	wait_ready(hs, i);
	r = pf_domain_open(hs->h[i].domain, &hs->h[i].d);
	bench_check(r, "pf_domain_open");
	bench_check(pf_domain_info(hs->h[i].d, &di), "pf_domain_info");
	hs->h[i].uid = di.segment_uid;
}

void bench_hosts_start(struct bench_hosts *hs, const char *pflightd, const struct netns_pair *ns,
		       const int cpu[2], const struct bench_hosts_cfg *cfg)
{
	char pub[2][65];

	memset(hs, 0, sizeof(*hs));
	hs->pflightd = pflightd;
	hs->ns = ns;
	hs->cpu[0] = cpu[0];
	hs->cpu[1] = cpu[1];
	(void)snprintf(hs->dir, sizeof(hs->dir), "/tmp/pfb-migrate-XXXXXX");
	bench_check(mkdtemp(hs->dir) != NULL ? 0 : -errno, "mkdtemp");
	track(hs, 1);
	host_names(hs, cfg);
	make_keys(hs, pub);
	for (int i = 0; i < 2; i++)
		start_one(hs, i, cfg, pub);
}

static void stop_daemon(struct bench_host *h)
{
	uint64_t deadline = bench_now_ns() + STOP_TIMEOUT_NS;
	pid_t got = 0;

	if (h->pid <= 0)
		return;
	(void)kill(h->pid, SIGTERM);
	while ((got = waitpid(h->pid, NULL, WNOHANG)) == 0 && bench_now_ns() < deadline)
		nap_ms(2);
	if (got == 0) {
		(void)kill(h->pid, SIGKILL);
		(void)waitpid(h->pid, NULL, 0);
	}
	h->pid = -1;
}

static int remove_one(const char *path, const struct stat *st, int type, struct FTW *at)
{
	(void)st;
	(void)type;
	(void)at;
	(void)remove(path); /* best effort: go on with the rest */
	return 0;
}

void bench_hosts_stop(struct bench_hosts *hs)
{
	for (int i = 0; i < 2; i++) {
		struct bench_host *h = &hs->h[i];

		stop_daemon(h);
		if (h->d != NULL)
			pf_domain_close(h->d);
		h->d = NULL;
		if (h->domain[0] != '\0')
			(void)pf_domain_unlink(h->domain); /* gone already after a clean stop */
		h->domain[0] = '\0';
	}
	if (hs->dir[0] != '\0')
		(void)nftw(hs->dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
	hs->dir[0] = '\0';
	track(hs, 0);
}

int bench_hosts_request(struct bench_hosts *hs, int i, const char *req, char *reply, size_t cap)
{
	int r = pf_control_request(hs->h[i].sock, hs->h[i].uid, req, reply, cap, 0);

	if (r < 0)
		return r;
	return strstr(reply, "\"ok\":true") != NULL ? 0 : -EIO;
}

double bench_hosts_cpu_s(const struct bench_hosts *hs, int i)
{
	char path[64], buf[1024], *s;
	unsigned long long utime = 0, stime = 0;
	FILE *f;
	size_t n;

	(void)snprintf(path, sizeof(path), "/proc/%d/stat", (int)hs->h[i].pid);
	f = fopen(path, "r");
	if (f == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	(void)fclose(f);
	buf[n] = '\0';
	s = strrchr(buf, ')'); /* the command name may hold anything */
	/* After ") ": state (3), then fields 4..13, utime (14), stime (15). */
	if (s == NULL || sscanf(s + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
				&utime, &stime) != 2)
		return 0;
	return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* The event of a record line and its details, when it is one of event's. */
static json_t *record_details(json_t *rec, const char *event)
{
	const char *e = json_string_value(json_object_get(rec, "event"));

	if (e == NULL || strcmp(e, event) != 0)
		return NULL;
	return json_object_get(rec, "details");
}

int bench_hosts_audit_each(const struct bench_hosts *hs, int i, const char *event,
			   bench_audit_fn fn, void *arg)
{
	FILE *f = fopen(hs->h[i].audit, "r");
	char *line = NULL;
	size_t cap = 0;
	int count = 0, r = 0;

	if (f == NULL)
		return 0;
	while (r >= 0 && getline(&line, &cap, f) > 0) {
		json_t *rec = json_loads(line, 0, NULL), *details;

		details = rec != NULL ? record_details(rec, event) : NULL;
		if (details != NULL) {
			count++;
			r = fn != NULL ? fn(details, arg) : 0;
		}
		json_decref(rec);
	}
	free(line);
	(void)fclose(f);
	return r < 0 ? r : count;
}

int bench_hosts_audit_wait(const struct bench_hosts *hs, int i, const char *event, int count,
			   uint64_t timeout_ns)
{
	uint64_t deadline = bench_now_ns() + timeout_ns;
	int n;

	while ((n = bench_hosts_audit_each(hs, i, event, NULL, NULL)) < count &&
	       bench_now_ns() < deadline)
		nap_ms(10);
	return n;
}
