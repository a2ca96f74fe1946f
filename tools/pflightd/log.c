/* SPDX-License-Identifier: MIT */
/*
 * tools/pflightd/log.c: stderr lines with a level and a time.
 *
 * The level is set once before any thread starts and only read afterwards, so it needs
 * no synchronisation. A line is built whole in a stack buffer and written with a single
 * write(2): stderr under systemd is a pipe or a socket, where one write of at most
 * PIPE_BUF bytes is never interleaved with another thread's.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tools/pflightd/log.h"

#define LINE_MAX_BYTES 1024 /* longer messages are cut; a log line is for people */

static enum log_level max_level = LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

int log_level_parse(const char *name, enum log_level *ret_level)
{
	for (unsigned i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*ret_level = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

void log_set_level(enum log_level level)
{
	max_level = level;
}

int log_enabled(enum log_level level)
{
	return level <= max_level;
}

/* "2024-05-01T12:00:00.123Z" into buf; returns its length. */
static size_t time_prefix(char *buf, size_t cap)
{
	struct timespec ts;
	struct tm tm;
	size_t n;

	(void)clock_gettime(CLOCK_REALTIME, &ts);
	(void)gmtime_r(&ts.tv_sec, &tm);
	n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
	n += (size_t)snprintf(buf + n, cap - n, ".%03ldZ", ts.tv_nsec / 1000000);
	return n < cap ? n : cap - 1;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char line[LINE_MAX_BYTES];
	va_list ap;
	size_t n;
	int k;

	if (!log_enabled(level))
		return;
	n = time_prefix(line, sizeof(line));
	k = snprintf(line + n, sizeof(line) - n, " %-5s ", level_names[level]);
	n += k > 0 ? (size_t)k : 0;
	va_start(ap, fmt);
	k = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (k > 0)
		n += (size_t)k < sizeof(line) - n - 1 ? (size_t)k : sizeof(line) - n - 2;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) < 0)
		return; /* nowhere left to report it */
}
