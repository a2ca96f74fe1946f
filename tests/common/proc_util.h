/* SPDX-License-Identifier: MIT */
/* tests/common/proc_util.h: what the tests that run real binaries share: clocks, naps,
 * spawning with output to a log, reading logs and audit files. Header-only. */
#ifndef PF_TEST_PROC_UTIL_H
#define PF_TEST_PROC_UTIL_H

#include <fcntl.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "tests/common/test_util.h"

static inline uint64_t proc_now_ns(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void proc_nap(void)
{
	struct timespec ts = {0, 2000000}; /* 2 ms */

	(void)nanosleep(&ts, NULL);
}

/* fork + exec argv with stdout and stderr appended to log. */
static inline pid_t proc_spawn(char *const argv[], const char *log)
{
	pid_t pid = fork();

	CHECK(pid >= 0);
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(127);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

/* 1 when the file at path (its first 256 KiB) contains text. */
static inline int proc_file_has(const char *path, const char *text)
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

static inline void proc_print_file(const char *path)
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

/* Records of an audit log with this event and, when key is not NULL, a details field
 * key whose value (as a string, or a number printed) equals value. */
static inline int proc_audit_count(const char *path, const char *event, const char *key,
				   const char *value)
{
	static char line[70000];
	FILE *f = fopen(path, "r");
	int n = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		json_t *rec = json_loads(line, 0, NULL);
		const char *ev = json_string_value(json_object_get(rec, "event"));
		json_t *v =
			key != NULL ? json_object_get(json_object_get(rec, "details"), key) : NULL;
		char num[32];

		if (ev != NULL && strcmp(ev, event) == 0) {
			if (key == NULL) {
				n++;
			} else if (json_is_string(v)) {
				n += strcmp(json_string_value(v), value) == 0;
			} else if (json_is_integer(v) || json_is_boolean(v)) {
				if (json_is_boolean(v))
					(void)snprintf(num, sizeof(num), "%s",
						       json_is_true(v) ? "true" : "false");
				else
					(void)snprintf(num, sizeof(num), "%lld",
						       (long long)json_integer_value(v));
				n += strcmp(num, value) == 0;
			}
		}
		json_decref(rec);
	}
	(void)fclose(f);
	return n;
}

#endif /* PF_TEST_PROC_UTIL_H */
