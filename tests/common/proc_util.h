/* SPDX-License-Identifier: MIT */
/*
 * tests/common/proc_util.h: what the multi-process tests that drive real binaries (the
 * daemon, example workers, the CLI) share: a clock, a short nap, spawning a program with
 * its output appended to a log file, waiting for a line in a log, showing a log, counting
 * audit records.
 */
#ifndef PF_TEST_PROC_UTIL_H
#define PF_TEST_PROC_UTIL_H

#include <stdint.h>
#include <sys/types.h>

uint64_t proc_now_ns(void); /* CLOCK_MONOTONIC */
void proc_nap(void);        /* 2 ms */

/* fork + exec argv (argv[0] is a path) with stdout and stderr appended to log; the child
 * gets SIGKILL when the thread that spawned it ends (PR_SET_PDEATHSIG), so a test killed
 * before its cleanup leaves nothing running. Exits the test (status 1) when fork fails;
 * the child exits 127 when exec fails. */
pid_t proc_spawn(char *const argv[], const char *log);
/* proc_spawn() with one variable set in the child's environment (value NULL: none), such
 * as PF_FAULT to arm a fault point in it (shm/fault.h). */
pid_t proc_spawn_env(char *const argv[], const char *log, const char *name, const char *value);

/* Run a shell command line; its stdout into *out (NUL-terminated, caller frees). The exit
 * status, or -1 when it did not exit normally. Exits the test when popen fails. */
int proc_capture(const char *cmdline, char **out);

/* What `<path> --version` says: exit status 0 and the one line of this build's
 * build_print_version() (tools/common/build_info.h): "<name> <version>" or
 * "<name> <version> (git <revision>)", version PF_VERSION_STRING and revision the one this
 * build saw, so that a stale binary of another build fails. Fills revision ("" when the
 * build saw none) and returns 0; exits the test when the program says anything else. */
int proc_version(const char *path, const char *name, char *revision, size_t cap);
/* The REST API's port from pflightd's log line "api listening on 127.0.0.1:PORT" (the
 * first such line of the log at path); 0 when the log has none. */
unsigned proc_api_port(const char *log);
/* Spawn and wait: the exit status, or -1 when it did not exit normally. */
int proc_run(char *const argv[], const char *log);

/* 1 when the file's first 256 KiB hold text. */
int proc_file_has(const char *path, const char *text);

/* Wait until the log of process pid holds text: 0, -ECHILD (it exited first), -ETIMEDOUT. */
int proc_wait_log(pid_t pid, const char *log, const char *text, uint64_t timeout_ns);

/* A daemon's start: spawn argv (as proc_spawn()) and wait until its log holds `ready`
 * (PROC_RUNNING, *ret_pid the running process) or it exits (its exit status, 128 when a
 * signal ended it; *ret_pid -1). Exits the test past timeout_ns. */
#define PROC_RUNNING (-1)
int proc_start(char *const argv[], const char *log, const char *ready, uint64_t timeout_ns,
	       pid_t *ret_pid);
/* SIGTERM *pid, expect exit status 0; *pid becomes -1. Exits the test otherwise. */
void proc_stop(pid_t *pid);
/* A start that proc_start() saw end with status: it must be 1, before `ready`, with the
 * log naming path and saying why. Shows the log and exits the test otherwise. */
void proc_expect_refused(int status, const char *log, const char *ready, const char *path,
			 const char *why);

/* Remove dir and everything under it (a test's mkdtemp() directory, whatever the daemon
 * and the workers wrote there); nothing when dir is "". Errors are ignored. */
void proc_rm_dir(const char *dir);

/* Clock ticks since boot at which process pid started (field 22 of /proc/<pid>/stat), the
 * start time a member record holds; fails the test when it cannot be read. */
uint64_t proc_start_time(pid_t pid);

/* Copy a file to stderr, with a header line (for failure reports). */
void proc_print_file(const char *path);

/* Records of the audit log at path with this event and, when key is not NULL, a details
 * field key whose value (a string, or an integer or boolean as printed) is value. */
int proc_audit_count(const char *path, const char *event, const char *key, const char *value);

#endif /* PF_TEST_PROC_UTIL_H */
