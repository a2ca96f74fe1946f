/* SPDX-License-Identifier: MIT */
/*
 * tools/pflightd/log.h: the daemon's log, one line per event on stderr.
 *
 * Every line is "<UTC time> <level> <message>", written with one write(2) so lines of
 * different threads never interleave. The library never logs (STYLE 10.5 E4): the daemon
 * logs once, where it handles an error.
 */
#ifndef PFLIGHTD_LOG_H
#define PFLIGHTD_LOG_H

enum log_level {
	LOG_ERROR = 0,
	LOG_WARN = 1,
	LOG_INFO = 2,
	LOG_DEBUG = 3,
};

/* Parse "error", "warn", "info" or "debug". 0, or -EINVAL. */
int log_level_parse(const char *name, enum log_level *ret_level);

/* Set the most verbose level written. Call before any thread starts. */
void log_set_level(enum log_level level);

/* Whether a line at `level` would be written (to skip building costly messages). */
int log_enabled(enum log_level level);

/* Write one line at `level`. Any thread. */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif /* PFLIGHTD_LOG_H */
