/* SPDX-License-Identifier: MIT */
/*
 * tools/demo/scale.c: a host at scale (scale.h).
 *
 * The daemon runs from a manifest that sets only the domain's name, vnodes_max and where the
 * audit log lives (a private temp directory: the key and the API token go beside it), with
 * --api-port 0 (another pflightd may hold the default port) and --destroy-on-exit, so that
 * its segment goes with it. The audit log is measured as files on disk: the live file and
 * its rotated predecessors (<path>.<first seq>), which is what a retention bound would
 * bound.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tools/common/held.h"
#include "tools/demo/scale.h"

#define START_TIMEOUT_NS (60ull * 1000000000ull) /* pflightd up, a worker a member */
#define STOP_TIMEOUT_NS (60ull * 1000000000ull)  /* pflightd's stop, then SIGKILL */
#define POLL_NS 20000000ull                      /* 20 ms between looks */
#define LOOK_NAP_FACTOR 9ull                     /* nap this many looks' time */
#define ANSWER_MAX (64u << 20)                   /* the largest API answer read */
#define LINE_MAX_BYTES (1u << 20)                /* the longest audit record read */

uint64_t scale_now_ns(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void scale_nap_ns(uint64_t ns)
{
	struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000ull),
			      .tv_nsec = (long)(ns % 1000000000ull)};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static pid_t spawn(char *const argv[], const char *log)
{
	pid_t pid = fork();

	if (pid == 0) {
		sigset_t none;
		FILE *f = fopen(log, "a");

		(void)sigemptyset(&none);
		(void)sigprocmask(SIG_SETMASK, &none, NULL);
		if (f == NULL || dup2(fileno(f), 1) < 0 || dup2(fileno(f), 2) < 0)
			_exit(127);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static int write_manifest(const struct scale *s)
{
	FILE *f = fopen(s->manifest, "w");
	int r;

	if (f == NULL)
		return -errno;
	r = fprintf(f,
		    "apiVersion: pflight/v1\nkind: Domain\nmetadata:\n  name: %s\n"
		    "membership:\n  vnodes_max: %u\ngovernance:\n  audit:\n    path: %s\n",
		    s->name, s->vnodes, s->audit);
	return fclose(f) == 0 && r > 0 ? 0 : -EIO;
}

/* The port the daemon's log says its API listens on, once it does: 0 until then. */
static unsigned api_port(const struct scale *s)
{
	static const char key[] = "api listening on 127.0.0.1:";
	char line[512];
	unsigned port = 0;
	FILE *f = fopen(s->log, "r");

	while (f != NULL && port == 0 && fgets(line, sizeof(line), f) != NULL) {
		const char *p = strstr(line, key);

		if (p != NULL && sscanf(p + strlen(key), "%u", &port) != 1)
			port = 0;
	}
	if (f != NULL)
		(void)fclose(f);
	return port;
}

static int start_daemon(struct scale *s)
{
	char *argv[] = {(char *)s->daemon_path,
			"--foreground",
			"--manifest",
			s->manifest,
			"--control",
			s->control,
			"--api-port",
			"0",
			"--destroy-on-exit",
			NULL};
	uint64_t deadline = scale_now_ns() + START_TIMEOUT_NS;

	s->daemon = spawn(argv, s->log);
	if (s->daemon < 0)
		return -errno;
	while ((s->port = api_port(s)) == 0) {
		if (waitpid(s->daemon, NULL, WNOHANG) != 0) {
			s->daemon = -1;
			return -ECHILD;
		}
		if (scale_now_ns() > deadline)
			return -ETIMEDOUT;
		scale_nap_ns(POLL_NS);
	}
	return pf_domain_open(s->name, &s->d);
}

static int set_paths(struct scale *s)
{
	(void)snprintf(s->name, sizeof(s->name), "pf-%s-%d", s->tag, (int)getpid());
	(void)snprintf(s->dir, sizeof(s->dir), "/tmp/pflight-%s-XXXXXX", s->tag);
	if (mkdtemp(s->dir) == NULL) {
		s->dir[0] = '\0';
		return -errno;
	}
	(void)snprintf(s->manifest, sizeof(s->manifest), "%s/phoenixfile.yaml", s->dir);
	(void)snprintf(s->log, sizeof(s->log), "%s/pflightd.log", s->dir);
	(void)snprintf(s->audit, sizeof(s->audit), "%s/audit.jsonl", s->dir);
	(void)snprintf(s->control, sizeof(s->control), "%s/control.sock", s->dir);
	(void)snprintf(s->workers_log, sizeof(s->workers_log), "%s/workers.log", s->dir);
	return 0;
}

int scale_start(struct scale *s)
{
	int r;

	s->daemon = -1;
	memset(s->pids, 0, sizeof(s->pids));
	if (s->workers == 0 || s->workers > SCALE_WORKERS_MAX || s->vnodes == 0)
		return -EINVAL;
	if (s->worker_capacity == 0)
		s->worker_capacity = s->vnodes / s->workers > 0 ? s->vnodes / s->workers : 1;
	r = set_paths(s);
	if (r == 0)
		r = write_manifest(s);
	if (r == 0)
		r = start_daemon(s);
	if (r < 0) {
		fprintf(stderr, "scale: pflightd did not come up (%s); its log: %s\n", strerror(-r),
			s->log);
		return r;
	}
	for (uint32_t i = 0; i < s->workers && r == 0; i++)
		r = scale_start_worker(s, i);
	if (r < 0)
		fprintf(stderr, "scale: the workers did not come up: %s\n", strerror(-r));
	return r;
}

int scale_start_worker(struct scale *s, uint32_t i)
{
	char cap[16];
	char *argv[] = {(char *)s->worker_path, s->name, cap, NULL};
	uint64_t deadline = scale_now_ns() + START_TIMEOUT_NS;
	int before;

	if (i >= SCALE_WORKERS_MAX || s->pids[i] > 0 || s->d == NULL)
		return -EINVAL;
	before = pf_domain_membership(s->d, NULL);
	(void)snprintf(cap, sizeof(cap), "%u", s->worker_capacity);
	s->pids[i] = spawn(argv, s->workers_log);
	if (s->pids[i] < 0) {
		s->pids[i] = 0;
		return -errno;
	}
	while (pf_domain_membership(s->d, NULL) <= before) {
		if (scale_now_ns() > deadline)
			return -ETIMEDOUT;
		scale_nap_ns(POLL_NS);
	}
	return 0;
}

static void kill_reap(struct scale *s, uint32_t i)
{
	(void)kill(s->pids[i], SIGKILL);
	(void)waitpid(s->pids[i], NULL, 0);
	s->pids[i] = 0;
}

int scale_kill_worker(struct scale *s, uint32_t i)
{
	uint64_t deadline = scale_now_ns() + START_TIMEOUT_NS;
	int before;

	if (i >= SCALE_WORKERS_MAX || s->pids[i] <= 0)
		return -ESRCH;
	before = s->d != NULL ? pf_domain_membership(s->d, NULL) : 0;
	kill_reap(s, i);
	while (s->d != NULL && pf_domain_membership(s->d, NULL) >= before) {
		if (scale_now_ns() > deadline)
			return -ETIMEDOUT;
		scale_nap_ns(POLL_NS);
	}
	return 0;
}

/* held[] over the member slots (tools/common/held.h) and whether each slot is ACTIVE. */
static uint32_t held_active(struct scale *s, uint32_t **ret_held, uint32_t *ret_slots)
{
	struct pf_domain_info di = {.size = sizeof(di)};
	uint32_t *held;

	*ret_held = NULL;
	if (pf_domain_info(s->d, &di) < 0 || (held = calloc(di.members_max, sizeof(*held))) == NULL)
		return 0;
	(void)held_count(s->d, s->vnodes, held, di.members_max);
	for (uint32_t slot = 0; slot < di.members_max; slot++) {
		struct pf_member_info mi = {.size = sizeof(mi)};

		if (pf_member_info(s->d, slot, &mi) < 0 || mi.state != PF_MEMBER_ACTIVE)
			held[slot] = UINT32_MAX; /* not a live member */
	}
	*ret_held = held;
	*ret_slots = di.members_max;
	return 1;
}

uint32_t scale_owned(struct scale *s)
{
	uint32_t *held, slots = 0, n = 0;

	if (!held_active(s, &held, &slots))
		return 0;
	for (uint32_t slot = 0; slot < slots; slot++)
		n += held[slot] != UINT32_MAX ? held[slot] : 0;
	free(held);
	return n;
}

uint32_t scale_balance(struct scale *s, double *ret_max_ratio, double *ret_min_ratio)
{
	uint32_t *held, slots = 0, active = 0, max = 0, min = UINT32_MAX;
	uint64_t total = 0;

	*ret_max_ratio = 0;
	*ret_min_ratio = 0;
	if (!held_active(s, &held, &slots))
		return 0;
	for (uint32_t slot = 0; slot < slots; slot++) {
		if (held[slot] == UINT32_MAX)
			continue;
		active++;
		total += held[slot];
		max = held[slot] > max ? held[slot] : max;
		min = held[slot] < min ? held[slot] : min;
	}
	free(held);
	if (active > 0 && total > 0) {
		*ret_max_ratio = (double)max * active / (double)total;
		*ret_min_ratio = (double)min * active / (double)total;
	}
	return active;
}

/* VNodes the ACTIVE members count as theirs (adopted), or 0 while one of them has VNodes
 * placed on it that it has not adopted yet. */
static uint64_t adopted(struct scale *s)
{
	struct pf_domain_info di = {.size = sizeof(di)};
	uint64_t n = 0;

	if (pf_domain_info(s->d, &di) < 0)
		return 0;
	for (uint32_t slot = 0; slot < di.members_max; slot++) {
		struct pf_member_info mi = {.size = sizeof(mi)};

		if (pf_member_info(s->d, slot, &mi) < 0 || mi.state != PF_MEMBER_ACTIVE)
			continue;
		if (mi.vnodes_placed != 0)
			return 0;
		n += mi.vnodes_owned;
	}
	return n;
}

uint64_t scale_look_nap_ns(uint64_t took_ns)
{
	return took_ns * LOOK_NAP_FACTOR > POLL_NS ? took_ns * LOOK_NAP_FACTOR : POLL_NS;
}

/* One look at the tables: whether all are owned (*owned_ns set the first time) and adopted. */
static int look(struct scale *s, uint64_t t0, uint64_t *owned_ns)
{
	if (*owned_ns == 0 && scale_owned(s) == s->vnodes)
		*owned_ns = scale_now_ns() - t0;
	return *owned_ns != 0 && adopted(s) == s->vnodes && scale_owned(s) == s->vnodes;
}

int scale_define_and_wait(struct scale *s, uint64_t timeout_ns, uint64_t *ret_owned_ns,
			  uint64_t *ret_adopted_ns)
{
	uint64_t t0 = scale_now_ns(), owned_ns = 0, now = t0, took;
	int r = pf_vnode_define_range(s->d, 0, s->vnodes, NULL), done = 0;

	*ret_owned_ns = 0;
	*ret_adopted_ns = 0;
	if (r < 0)
		return r;
	while (!done && now - t0 <= timeout_ns) {
		uint64_t before = scale_now_ns();

		done = look(s, t0, &owned_ns);
		now = scale_now_ns();
		if (!done && pf_domain_membership(s->d, NULL) == 0) {
			r = -ENOLINK; /* every member was declared dead: none will take them */
			break;
		}
		took = now - before;
		if (!done)
			scale_nap_ns(scale_look_nap_ns(took));
	}
	*ret_owned_ns = owned_ns != 0 ? owned_ns : now - t0;
	*ret_adopted_ns = now - t0;
	return done ? 0 : r < 0 ? r : -ETIMEDOUT;
}

/* The log's files: its own name, or its name and a dot and the rotated file's first seq. */
static int audit_file(const char *base, const char *name)
{
	size_t n = strlen(base);

	if (strncmp(name, base, n) != 0)
		return 0;
	if (name[n] == '\0')
		return 1;
	if (name[n] != '.' || name[n + 1] == '\0')
		return 0;
	for (const char *p = name + n + 1; *p != '\0'; p++)
		if (*p < '0' || *p > '9')
			return 0;
	return 1;
}

/* Call fn for every file of the audit log (full path); the sum of what it returns. */
static uint64_t each_audit_file(const struct scale *s, uint64_t (*fn)(const char *, void *),
				void *arg)
{
	const char *base = strrchr(s->audit, '/') + 1;
	char path[512];
	uint64_t sum = 0;
	struct dirent *e;
	DIR *dir = opendir(s->dir);

	while (dir != NULL && (e = readdir(dir)) != NULL) {
		if (!audit_file(base, e->d_name))
			continue;
		(void)snprintf(path, sizeof(path), "%s/%s", s->dir, e->d_name);
		sum += fn(path, arg);
	}
	if (dir != NULL)
		(void)closedir(dir);
	return sum;
}

static uint64_t file_bytes(const char *path, void *arg)
{
	struct stat st;

	(void)arg;
	return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

uint64_t scale_audit_bytes(const struct scale *s)
{
	return each_audit_file(s, file_bytes, NULL);
}

uint64_t scale_audit_settle(const struct scale *s, uint64_t quiet_ns, uint64_t timeout_ns,
			    uint64_t *ret_ns)
{
	uint64_t t0 = scale_now_ns(), changed = t0, now = t0;
	uint64_t bytes = scale_audit_bytes(s), b;

	while (now - changed < quiet_ns && now - t0 < timeout_ns) {
		scale_nap_ns(quiet_ns / 10 > POLL_NS ? quiet_ns / 10 : POLL_NS);
		now = scale_now_ns();
		b = scale_audit_bytes(s);
		if (b != bytes)
			changed = now;
		bytes = b;
	}
	if (ret_ns != NULL)
		*ret_ns = changed - t0;
	return bytes;
}

struct match {
	char event[96];
	char kv[192];
	char *line;
	int vnodes; /* count the VNodes the records name (a batch's count), not the records */
};

/* What one matching line counts: 1, or with m->vnodes the VNodes it names ("count" is the
 * first member of a batch's details: {"details":{"count":N,...). */
static uint64_t line_weight(const struct match *m)
{
	static const char opening[] = "{\"details\":{\"count\":";

	if (!m->vnodes || strstr(m->line, "\"vnodes\":[[") == NULL ||
	    strncmp(m->line, opening, sizeof(opening) - 1) != 0)
		return 1;
	return strtoull(m->line + sizeof(opening) - 1, NULL, 10);
}

static uint64_t count_in(const char *path, void *arg)
{
	struct match *m = arg;
	FILE *f = fopen(path, "r");
	uint64_t n = 0;

	while (f != NULL && fgets(m->line, LINE_MAX_BYTES, f) != NULL)
		if (strstr(m->line, m->event) != NULL &&
		    (m->kv[0] == '\0' || strstr(m->line, m->kv) != NULL))
			n += line_weight(m);
	if (f != NULL)
		(void)fclose(f);
	return n;
}

static uint64_t audit_count(const struct scale *s, const char *event, const char *key,
			    const char *value, int vnodes)
{
	struct match m = {.line = malloc(LINE_MAX_BYTES), .vnodes = vnodes};
	uint64_t n;

	if (m.line == NULL)
		return 0;
	(void)snprintf(m.event, sizeof(m.event), "\"event\":\"%s\"", event);
	if (key != NULL)
		(void)snprintf(m.kv, sizeof(m.kv), "\"%s\":\"%s\"", key, value);
	n = each_audit_file(s, count_in, &m);
	free(m.line);
	return n;
}

uint64_t scale_audit_count(const struct scale *s, const char *event, const char *key,
			   const char *value)
{
	return audit_count(s, event, key, value, 0);
}

uint64_t scale_audit_vnodes(const struct scale *s, const char *event)
{
	return audit_count(s, event, NULL, NULL, 1);
}

uint64_t scale_counter(struct scale *s, uint32_t counter)
{
	uint64_t values[PF_COUNTER_COUNT];

	if (counter >= PF_COUNTER_COUNT ||
	    pf_domain_counters(s->d, values, PF_COUNTER_COUNT) <= (int)counter)
		return 0;
	return values[counter];
}

static int connect_api(const struct scale *s)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (const struct sockaddr *)&a, sizeof(a)) < 0) {
		int r = -errno;

		(void)close(fd);
		return r;
	}
	return fd;
}

/* Read until the server closes: the bytes in a NUL-terminated buffer, their count in *len. */
static char *read_all(int fd, size_t *len)
{
	size_t cap = 1u << 16, n = 0;
	char *buf = malloc(cap + 1), *bigger;
	ssize_t got;

	while (buf != NULL && (got = read(fd, buf + n, cap - n)) > 0) {
		n += (size_t)got;
		if (n == cap && cap < ANSWER_MAX) {
			bigger = realloc(buf, cap * 2 + 1);
			if (bigger == NULL)
				break;
			buf = bigger;
			cap *= 2;
		}
	}
	if (buf != NULL)
		buf[n] = '\0';
	*len = n;
	return buf;
}

int scale_get(const struct scale *s, const char *path, char **ret_body, uint64_t *ret_ns)
{
	char req[512];
	uint64_t t0 = scale_now_ns();
	int fd = connect_api(s), n, status = 0;
	size_t len = 0;
	char *answer, *body;

	if (ret_body != NULL)
		*ret_body = NULL;
	if (fd < 0)
		return fd;
	n = snprintf(req, sizeof(req),
		     "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
	if (n <= 0 || (size_t)n >= sizeof(req) || write(fd, req, (size_t)n) != n) {
		(void)close(fd);
		return -EIO;
	}
	answer = read_all(fd, &len);
	(void)close(fd);
	if (ret_ns != NULL)
		*ret_ns = scale_now_ns() - t0;
	if (answer == NULL || sscanf(answer, "HTTP/1.1 %d", &status) != 1) {
		free(answer);
		return -EPROTO;
	}
	body = strstr(answer, "\r\n\r\n");
	if (ret_body != NULL && body != NULL) {
		memmove(answer, body + 4, len - (size_t)(body + 4 - answer) + 1);
		*ret_body = answer;
	} else {
		free(answer);
	}
	return status;
}

void scale_stop(struct scale *s)
{
	for (uint32_t i = 0; i < SCALE_WORKERS_MAX; i++)
		if (s->pids[i] > 0)
			kill_reap(s, i);
	if (s->d != NULL)
		pf_domain_close(s->d);
	s->d = NULL;
	if (s->daemon > 0) {
		uint64_t deadline = scale_now_ns() + STOP_TIMEOUT_NS;
		pid_t got;

		(void)kill(s->daemon, SIGTERM);
		while ((got = waitpid(s->daemon, NULL, WNOHANG)) == 0 && scale_now_ns() < deadline)
			scale_nap_ns(POLL_NS);
		if (got == 0 && kill(s->daemon, SIGKILL) == 0) /* it did not stop in time */
			(void)waitpid(s->daemon, NULL, 0);
	}
	s->daemon = -1;
	if (s->name[0] != '\0')
		(void)pf_domain_unlink(s->name);
}

static struct scale *signalled;

/* SIGINT, SIGTERM (a test's timeout): no process and no segment left; only what is
 * async-signal-safe (kill, shm_unlink inside pf_domain_unlink, _exit). */
static void on_signal(int sig)
{
	struct scale *s = signalled;

	for (uint32_t i = 0; s != NULL && i < SCALE_WORKERS_MAX; i++)
		if (s->pids[i] > 0)
			(void)kill(s->pids[i], SIGKILL);
	if (s != NULL && s->daemon > 0)
		(void)kill(s->daemon, SIGKILL);
	if (s != NULL && s->name[0] != '\0')
		(void)pf_domain_unlink(s->name);
	_exit(128 + sig);
}

void scale_kill_on_signal(struct scale *s)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	(void)sigemptyset(&sa.sa_mask);
	signalled = s;
	(void)sigaction(SIGINT, &sa, NULL);
	(void)sigaction(SIGTERM, &sa, NULL);
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	(void)remove(path);
	return 0;
}

void scale_remove_dir(struct scale *s)
{
	if (s->dir[0] != '\0')
		(void)nftw(s->dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
	s->dir[0] = '\0';
}
