/* SPDX-License-Identifier: MIT */
/*
 * tools/pflightd/log.c: stderr lines with a level and a time, or journald's format.
 *
 * The level and the target are set once before any thread starts and only read
 * afterwards, so they need no synchronisation. A line is built whole in a stack buffer
 * and written with a single write(2): stderr under systemd is a pipe or a socket, where
 * one write of at most PIPE_BUF bytes is never interleaved with another thread's.
 *
 * Targets. `stderr`: "<UTC time> <level> <message>". `journal`: "<N><message>", N the
 * syslog priority of the level, without a time: journald stamps each line itself, and
 * with SyslogLevelPrefix= (on by default) it takes the priority from the prefix, so
 * `journalctl -p warning` works. `auto` picks journal when stderr is the stream systemd
 * connected to the journal: systemd then sets JOURNAL_STREAM to "<device>:<inode>" of
 * that stream, and we compare it with fstat(2) of fd 2 (as systemd.exec(5) says to), so
 * a stderr redirected elsewhere by a child of the service is not mistaken for it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tools/pflightd/log.h"

static enum log_level max_level = LOG_INFO;
static enum log_target target = LOG_TARGET_STDERR;

static const char *const level_names[] = {"error", "warn", "info", "debug"};
/* syslog(3) priorities LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG, as numbers: <syslog.h>
 * would clash with our LOG_INFO and LOG_DEBUG. */
static const int level_priorities[] = {3, 4, 6, 7};
static const char *const target_names[] = {"auto", "stderr", "journal"};

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

int log_target_parse(const char *name, enum log_target *ret_target)
{
	for (unsigned i = 0; i < sizeof(target_names) / sizeof(target_names[0]); i++) {
		if (strcmp(name, target_names[i]) == 0) {
			*ret_target = (enum log_target)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* A decimal number that ends at `stop`: 0, or -EINVAL. */
static int parse_ull(const char *s, char stop, unsigned long long *ret, const char **ret_end)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	*ret = strtoull(s, &end, 10);
	if (errno != 0 || *end != stop)
		return -EINVAL;
	*ret_end = end;
	return 0;
}

int log_stderr_is_journal(void)
{
	const char *env = getenv("JOURNAL_STREAM"), *end;
	unsigned long long dev, ino;
	struct stat st;

	if (env == NULL || parse_ull(env, ':', &dev, &end) < 0 ||
	    parse_ull(end + 1, '\0', &ino, &end) < 0)
		return 0;
	if (fstat(STDERR_FILENO, &st) < 0)
		return 0;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

enum log_target log_set_target(enum log_target t)
{
	if (t == LOG_TARGET_AUTO)
		t = log_stderr_is_journal() ? LOG_TARGET_JOURNAL : LOG_TARGET_STDERR;
	target = t;
	return target;
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

size_t log_format(char *line, size_t cap, enum log_level level, enum log_target t, const char *fmt,
		  va_list ap)
{
	size_t n = 0;
	int k;

	if (cap < LOG_LINE_MIN_BYTES || (unsigned)level > LOG_DEBUG ||
	    (t != LOG_TARGET_STDERR && t != LOG_TARGET_JOURNAL))
		return 0;
	if (t == LOG_TARGET_JOURNAL) {
		k = snprintf(line, cap, "<%d>", level_priorities[level]);
	} else {
		n = time_prefix(line, cap);
		k = snprintf(line + n, cap - n, " %-5s ", level_names[level]);
	}
	n += k > 0 ? (size_t)k : 0;
	k = vsnprintf(line + n, cap - n - 1, fmt, ap);
	if (k > 0)
		n += (size_t)k < cap - n - 1 ? (size_t)k : cap - n - 2; /* cut, not overrun */
	line[n++] = '\n';
	return n;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char line[LOG_LINE_MAX_BYTES];
	va_list ap;
	size_t n;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	n = log_format(line, sizeof(line), level, target, fmt, ap);
	va_end(ap);
	if (n > 0 && write(STDERR_FILENO, line, n) < 0)
		return; /* nowhere left to report it */
}

void log_refused(const char *what, const char *path, const char *refused, const char *reason,
		 const char *then)
{
	int other = refused[0] != '\0' && strcmp(refused, path) != 0;

	log_msg(LOG_ERROR, "%s %s refused: %s%s%s%s%s", what, path, other ? refused : "",
		other ? ": " : "", reason[0] != '\0' ? reason : "(no reason given)",
		then[0] != '\0' ? "; " : "", then);
}
