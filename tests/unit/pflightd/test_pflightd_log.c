/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/pflightd/test_pflightd_log.c
 * Goal: pflightd's log lines have the documented shapes: "<UTC time> <level> <message>"
 * for stderr, "<N><message>" with the syslog priority of each level (3, 4, 6, 7) and no
 * time for the journal; a long message is cut, never overruns; the journal is detected
 * only when $JOURNAL_STREAM names fd 2's own device and inode (a malformed value or
 * another file's inode is not the journal); target names parse, others are refused.
 * Method: log.c linked in directly; fd 2 pointed at temporary files for the detection
 * and for log_msg() itself, then restored.
 */
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "tools/pflightd/log.h"

__attribute__((format(printf, 5, 6))) static size_t
fmt(char *line, size_t cap, enum log_level level, enum log_target target, const char *f, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, f);
	n = log_format(line, cap, level, target, f, ap);
	va_end(ap);
	return n;
}

static void test_log_journal_format(void **state)
{
	static const char *const want[] = {"<3>lost 7\n", "<4>lost 7\n", "<6>lost 7\n",
					   "<7>lost 7\n"};
	char line[LOG_LINE_MAX_BYTES];

	(void)state;
	for (int level = LOG_ERROR; level <= LOG_DEBUG; level++) {
		size_t n = fmt(line, sizeof(line), (enum log_level)level, LOG_TARGET_JOURNAL,
			       "lost %d", 7);

		assert_int_equal(n, strlen(want[level]));
		assert_memory_equal(line, want[level], n);
	}
}

static void test_log_stderr_format(void **state)
{
	static const char *const names[] = {"error", "warn ", "info ", "debug"};
	char line[LOG_LINE_MAX_BYTES], want[64];
	regex_t re;

	(void)state;
	assert_int_equal(regcomp(&re,
				 "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\."
				 "[0-9]{3}Z (error|warn |info |debug) lost 7\n$",
				 REG_EXTENDED | REG_NOSUB),
			 0);
	for (int level = LOG_ERROR; level <= LOG_DEBUG; level++) {
		size_t n = fmt(line, sizeof(line) - 1, (enum log_level)level, LOG_TARGET_STDERR,
			       "lost %d", 7);

		line[n] = '\0';
		assert_int_equal(regexec(&re, line, 0, NULL, 0), 0);
		(void)snprintf(want, sizeof(want), "Z %s lost 7\n", names[level]);
		assert_non_null(strstr(line, want));
	}
	regfree(&re);
}

/* A message longer than the line: cut, newline-terminated, within cap. */
static void test_log_cut(void **state)
{
	char line[LOG_LINE_MIN_BYTES + 8], big[4096];

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	for (int t = LOG_TARGET_STDERR; t <= LOG_TARGET_JOURNAL; t++) {
		size_t n;

		memset(line, '#', sizeof(line));
		n = fmt(line, sizeof(line) - 4, LOG_WARN, (enum log_target)t, "%s", big);
		assert_true(n > 0 && n <= sizeof(line) - 4);
		assert_int_equal(line[n - 1], '\n');
		assert_int_equal(line[n - 2], 'x');
		assert_int_equal(line[sizeof(line) - 4], '#'); /* nothing past cap */
	}
	assert_int_equal(fmt(line, LOG_LINE_MIN_BYTES - 1, LOG_INFO, LOG_TARGET_JOURNAL, "x"), 0);
	assert_int_equal(fmt(line, sizeof(line), (enum log_level)4, LOG_TARGET_JOURNAL, "x"), 0);
	assert_int_equal(fmt(line, sizeof(line), LOG_INFO, LOG_TARGET_AUTO, "x"), 0);
}

static void test_log_target_parse(void **state)
{
	enum log_target t = LOG_TARGET_STDERR;

	(void)state;
	assert_int_equal(log_target_parse("auto", &t), 0);
	assert_int_equal(t, LOG_TARGET_AUTO);
	assert_int_equal(log_target_parse("journal", &t), 0);
	assert_int_equal(t, LOG_TARGET_JOURNAL);
	assert_int_equal(log_target_parse("stderr", &t), 0);
	assert_int_equal(t, LOG_TARGET_STDERR);
	assert_int_equal(log_target_parse("syslog", &t), -EINVAL);
	assert_int_equal(log_target_parse("", &t), -EINVAL);
	assert_int_equal(t, LOG_TARGET_STDERR);
}

/* A temp file on fd 2 (the old fd 2 in *saved); its "dev:ino" in env. */
static void stderr_to_temp(char *path, size_t cap, int *saved, char *env, size_t env_cap)
{
	struct stat st;
	int fd;

	(void)snprintf(path, cap, "/tmp/pft-log-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	(void)snprintf(env, env_cap, "%llu:%llu", (unsigned long long)st.st_dev,
		       (unsigned long long)st.st_ino);
	*saved = dup(STDERR_FILENO);
	assert_true(*saved >= 0);
	assert_true(dup2(fd, STDERR_FILENO) == STDERR_FILENO);
	(void)close(fd);
}

static void stderr_restore(const char *path, int saved)
{
	assert_true(dup2(saved, STDERR_FILENO) == STDERR_FILENO);
	(void)close(saved);
	(void)unlink(path);
}

static void test_log_journal_detection(void **state)
{
	static const char *const bad[] = {"", "1", "1:", ":2", "1:2x", "x1:2", "-1:2", "1:-2"};
	char path[64], other[64], env[64], env_other[64];
	int saved, saved_other;

	(void)state;
	stderr_to_temp(other, sizeof(other), &saved_other, env_other, sizeof(env_other));
	stderr_to_temp(path, sizeof(path), &saved, env, sizeof(env));
	assert_int_equal(unsetenv("JOURNAL_STREAM"), 0);
	assert_int_equal(log_stderr_is_journal(), 0);
	assert_int_equal(setenv("JOURNAL_STREAM", env, 1), 0);
	assert_int_equal(log_stderr_is_journal(), 1);
	assert_int_equal(setenv("JOURNAL_STREAM", env_other, 1), 0);
	assert_int_equal(log_stderr_is_journal(), 0); /* another stream: not the journal */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(setenv("JOURNAL_STREAM", bad[i], 1), 0);
		assert_int_equal(log_stderr_is_journal(), 0);
	}
	assert_int_equal(setenv("JOURNAL_STREAM", env, 1), 0);
	assert_int_equal(log_set_target(LOG_TARGET_AUTO), LOG_TARGET_JOURNAL);
	assert_int_equal(log_set_target(LOG_TARGET_STDERR), LOG_TARGET_STDERR);
	assert_int_equal(unsetenv("JOURNAL_STREAM"), 0);
	assert_int_equal(log_set_target(LOG_TARGET_AUTO), LOG_TARGET_STDERR);
	stderr_restore(path, saved);
	stderr_restore(other, saved_other);
}

/* log_msg() itself: the level filter, and the journal format on fd 2. */
static void test_log_msg_writes(void **state)
{
	char path[64], env[64], buf[256];
	ssize_t n;
	int saved, fd;

	(void)state;
	stderr_to_temp(path, sizeof(path), &saved, env, sizeof(env));
	log_set_level(LOG_WARN);
	assert_int_equal(log_set_target(LOG_TARGET_JOURNAL), LOG_TARGET_JOURNAL);
	log_msg(LOG_INFO, "not written");
	log_msg(LOG_WARN, "member %u died", 3u);
	log_msg(LOG_ERROR, "queue full");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	(void)close(fd);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, "<4>member 3 died\n<3>queue full\n");
	(void)log_set_target(LOG_TARGET_STDERR);
	log_set_level(LOG_INFO);
	stderr_restore(path, saved);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_log_journal_format),
		cmocka_unit_test(test_log_stderr_format),
		cmocka_unit_test(test_log_cut),
		cmocka_unit_test(test_log_target_parse),
		cmocka_unit_test(test_log_journal_detection),
		cmocka_unit_test(test_log_msg_writes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
