/* SPDX-License-Identifier: MIT */
/* tests/common/proc_util.c: see proc_util.h. */
#include <errno.h>
#include <jansson.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/common/proc_util.h"
#include "tests/common/test_util.h"
#include "tools/common/build_info.h"

uint64_t proc_now_ns(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void proc_nap(void)
{
	struct timespec ts = {0, 2000000};

	(void)nanosleep(&ts, NULL);
}

pid_t proc_spawn(char *const argv[], const char *log)
{
	return proc_spawn_env(argv, log, NULL, NULL);
}

pid_t proc_spawn_env(char *const argv[], const char *log, const char *name, const char *value)
{
	pid_t parent = getpid(), pid = fork();

	if (pid < 0) {
		perror("fork");
		exit(1);
	}
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

		/* A test killed before its cleanup (a timeout, SIGKILL) leaves nothing running. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
			_exit(126);
		if (value != NULL && setenv(name, value, 1) < 0)
			_exit(125);
		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(127);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

int proc_capture(const char *cmdline, char **out)
{
	char buf[4096];
	size_t len = 0, n;
	FILE *p = popen(cmdline, "r");
	int status;

	if (p == NULL) {
		perror("popen");
		exit(1);
	}
	*out = calloc(1, 1);
	while (*out != NULL && (n = fread(buf, 1, sizeof(buf), p)) > 0) {
		char *grown = realloc(*out, len + n + 1);

		if (grown == NULL) {
			free(*out);
			*out = NULL;
			break;
		}
		*out = grown;
		memcpy(*out + len, buf, n);
		len += n;
		(*out)[len] = '\0';
	}
	status = pclose(p);
	if (*out == NULL) {
		perror("proc_capture");
		exit(1);
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int proc_version(const char *path, const char *name, char *revision, size_t cap)
{
	const char *rev = build_revision();
	char cmd[1024], want[512], *out = NULL;
	int status;

	(void)snprintf(cmd, sizeof(cmd), "%s --version", path);
	status = proc_capture(cmd, &out);
	(void)snprintf(want, sizeof(want), "%s %s%s%s%s\n", name, build_version(),
		       rev[0] != '\0' ? " (git " : "", rev, rev[0] != '\0' ? ")" : "");
	if (status != 0 || strcmp(out, want) != 0 || strlen(rev) >= cap) {
		fprintf(stderr, "%s --version: exit %d, printed \"%s\"; want \"%.*s\"\n", path,
			status, out, (int)strcspn(want, "\n"), want);
		exit(1);
	}
	memcpy(revision, rev, strlen(rev) + 1);
	free(out);
	return 0;
}

unsigned proc_api_port(const char *log)
{
	static const char key[] = "api listening on 127.0.0.1:";
	unsigned long port = 0;
	char line[1024];
	const char *p;
	FILE *f = fopen(log, "r");

	if (f == NULL)
		return 0;
	while (port == 0 && fgets(line, sizeof(line), f) != NULL)
		if ((p = strstr(line, key)) != NULL)
			port = strtoul(p + sizeof(key) - 1, NULL, 10);
	(void)fclose(f);
	return port <= 65535 ? (unsigned)port : 0;
}

int proc_run(char *const argv[], const char *log)
{
	pid_t pid = proc_spawn(argv, log);
	int status = 0;

	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

int proc_file_has(const char *path, const char *text)
{
	static char buf[262144];
	size_t n;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	(void)fclose(f);
	return strstr(buf, text) != NULL;
}

int proc_wait_log(pid_t pid, const char *log, const char *text, uint64_t timeout_ns)
{
	uint64_t deadline = proc_now_ns() + timeout_ns;

	while (!proc_file_has(log, text)) {
		if (waitpid(pid, NULL, WNOHANG) != 0)
			return -ECHILD;
		if (proc_now_ns() >= deadline)
			return -ETIMEDOUT;
		proc_nap();
	}
	return 0;
}

int proc_start(char *const argv[], const char *log, const char *ready, uint64_t timeout_ns,
	       pid_t *ret_pid)
{
	uint64_t deadline = proc_now_ns() + timeout_ns;
	pid_t pid = proc_spawn(argv, log);
	int status = 0;

	for (;;) {
		if (waitpid(pid, &status, WNOHANG) == pid) {
			*ret_pid = -1;
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
		}
		if (proc_file_has(log, ready)) {
			*ret_pid = pid;
			return PROC_RUNNING;
		}
		if (proc_now_ns() >= deadline) {
			(void)kill(pid, SIGKILL);
			(void)waitpid(pid, NULL, 0);
			proc_print_file(log);
			fprintf(stderr, "%s: neither \"%s\" nor an exit within the timeout\n",
				argv[0], ready);
			exit(1);
		}
		proc_nap();
	}
}

void proc_stop(pid_t *pid)
{
	int status = 0;

	if (kill(*pid, SIGTERM) != 0 || waitpid(*pid, &status, 0) != *pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		fprintf(stderr, "pid %d did not stop with exit status 0 on SIGTERM\n", (int)*pid);
		exit(1);
	}
	*pid = -1;
}

void proc_expect_refused(int status, const char *log, const char *ready, const char *path,
			 const char *why)
{
	if (status == 1 && proc_file_has(log, path) && proc_file_has(log, why) &&
	    !proc_file_has(log, ready))
		return;
	proc_print_file(log);
	fprintf(stderr, "want exit 1 and \"%s\" naming %s, before \"%s\"; exit %d\n", why, path,
		ready, status);
	exit(1);
}

static int remove_one(const char *path, const struct stat *st, int type, struct FTW *at)
{
	(void)st;
	(void)type;
	(void)at;
	(void)remove(path);
	return 0; /* go on: remove what can be removed */
}

uint64_t proc_start_time(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long st = 0;
	FILE *f;

	(void)snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	CHECK(f != NULL);
	CHECK(fgets(buf, sizeof(buf), f) != NULL);
	(void)fclose(f);
	p = strrchr(buf, ')'); /* the name may hold spaces and parentheses */
	CHECK(p != NULL);
	for (int field = 3; field < 22; field++) {
		p = strchr(p + 1, ' ');
		CHECK(p != NULL);
	}
	CHECK(sscanf(p + 1, "%llu", &st) == 1);
	return st;
}

void proc_rm_dir(const char *dir)
{
	if (dir[0] != '\0')
		(void)nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

void proc_print_file(const char *path)
{
	char buf[4096];
	size_t n;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return;
	fprintf(stderr, "---- %s\n", path);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, stderr);
	(void)fclose(f);
}

/* The value of details[key] as text, for comparing; "" when it has no such field. */
static const char *field_text(json_t *rec, const char *key, char *buf, size_t cap)
{
	json_t *v = json_object_get(json_object_get(rec, "details"), key);

	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_boolean(v))
		return json_is_true(v) ? "true" : "false";
	if (json_is_integer(v)) {
		(void)snprintf(buf, cap, "%lld", (long long)json_integer_value(v));
		return buf;
	}
	return "";
}

int proc_audit_count(const char *path, const char *event, const char *key, const char *value)
{
	static char line[70000];
	FILE *f = fopen(path, "r");
	int n = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		json_t *rec = json_loads(line, 0, NULL);
		const char *ev = json_string_value(json_object_get(rec, "event"));
		char num[32];

		if (ev != NULL && strcmp(ev, event) == 0 &&
		    (key == NULL || strcmp(field_text(rec, key, num, sizeof(num)), value) == 0))
			n++;
		json_decref(rec);
	}
	(void)fclose(f);
	return n;
}
