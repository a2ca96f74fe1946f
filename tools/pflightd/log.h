/* SPDX-License-Identifier: MIT */
/*
 * tools/pflightd/log.h: the daemon's log, one line per event on stderr.
 *
 * Every line is "<UTC time> <level> <message>", or under systemd's journal
 * "<priority><message>" (log.c says when), written with one write(2) so lines of
 * different threads never interleave. The library never logs (STYLE 10.5 E4): the daemon
 * logs once, where it handles an error.
 */
#ifndef PFLIGHTD_LOG_H
#define PFLIGHTD_LOG_H

#include <stdarg.h>
#include <stddef.h>

#define LOG_LINE_MAX_BYTES 1024 /* longer messages are cut; a log line is for people */
#define LOG_LINE_MIN_BYTES 64   /* log_format() needs room for its prefix */

enum log_level {
	LOG_ERROR = 0,
	LOG_WARN = 1,
	LOG_INFO = 2,
	LOG_DEBUG = 3,
};

enum log_target {
	LOG_TARGET_AUTO = 0,    /* journal when stderr is systemd's journal stream */
	LOG_TARGET_STDERR = 1,  /* "<UTC time> <level> <message>" */
	LOG_TARGET_JOURNAL = 2, /* "<N><message>", N the syslog priority (3, 4, 6, 7) */
};

/* Parse "error", "warn", "info" or "debug". 0, or -EINVAL. */
int log_level_parse(const char *name, enum log_level *ret_level);

/* Set the most verbose level written. Call before any thread starts. */
void log_set_level(enum log_level level);

/* Whether a line at `level` would be written (to skip building costly messages). */
int log_enabled(enum log_level level);

/* Parse "auto", "stderr" or "journal". 0, or -EINVAL. */
int log_target_parse(const char *name, enum log_target *ret_target);

/* 1 when $JOURNAL_STREAM names the device and inode of fd 2, else 0. */
int log_stderr_is_journal(void);

/* Set the format (LOG_TARGET_AUTO: decided now, by log_stderr_is_journal()). Call before
 * any thread starts. Returns the target in use: LOG_TARGET_STDERR or LOG_TARGET_JOURNAL. */
enum log_target log_set_target(enum log_target target);

/* Build one line (ending in '\n', no NUL) into line[0..cap) in the target's format; a
 * message too long is cut. Returns its length, or 0 when cap < LOG_LINE_MIN_BYTES or the
 * level or the target is unknown. */
size_t log_format(char *line, size_t cap, enum log_level level, enum log_target target,
		  const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));

/* Write one line at `level`. Any thread. */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* An error line for a file refused: "<what> <path> refused: [<refused>: ]<reason>[; then]",
 * refused (the file or directory that broke a rule) said only when it is not path. */
void log_refused(const char *what, const char *path, const char *refused, const char *reason,
		 const char *then);

#endif /* PFLIGHTD_LOG_H */
