/* SPDX-License-Identifier: MIT */
/*
 * tests/integration/test_pflightd_files.c
 * Goal: pflightd's own files (its audit log, the signing key beside it, the REST API's
 * token beside it) are nobody else's. A key another uid (65534) planted is refused: the
 * daemon exits with status 1 and names the file and its owner, rather than signing join
 * tokens with a key its planter knows. A token file another uid planted is refused: the
 * daemon runs without its API rather than accept that token. An audit log path that is a
 * symbolic link makes the daemon exit with status 1 and leaves the link's target as it
 * was (nothing appended or truncated), and a dangling one creates nothing. A directory
 * group and others may write to is refused for the log, naming the directory, and nothing
 * is created in it. In each case the log names the path and says why. With nothing
 * naming the log, it goes to a state directory ($XDG_STATE_HOME/pflight for a uid other
 * than root, created 0700), never to the current directory.
 * Method: the real pflightd (path given by meson) run in the foreground with --audit in
 * a directory of its own under a mkdtemp() directory, the control socket beside it, the
 * API on any free port, a domain name unique to this process; files are planted by this
 * test (root) and given to uid 65534 with chown. Needs root (exit 77 otherwise).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pflight/pflight.h"
#include "tests/common/proc_util.h"
#include "tests/common/test_util.h"

#define WAIT_NS (30ull * 1000000000ull)
#define NOBODY 65534u /* the uid that plants files */

static const char *daemon_path;
static char name[64], dir[64];
static pid_t daemon_pid = -1;
static int passed;

static void cleanup(void)
{
	if (daemon_pid > 0 && kill(daemon_pid, SIGKILL) == 0)
		(void)waitpid(daemon_pid, NULL, 0);
	(void)pf_domain_unlink(name);
	if (passed)
		proc_rm_dir(dir);
	else
		fprintf(stderr, "kept for a look: %s\n", dir);
}

/* A new directory under dir for one case, with mode. */
static void case_dir(char *buf, size_t cap, const char *case_name, mode_t mode)
{
	(void)snprintf(buf, cap, "%s/%s", dir, case_name);
	CHECK(mkdir(buf, 0700) == 0 && chmod(buf, mode) == 0);
}

static void put_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	CHECK(f != NULL && fputs(text, f) >= 0 && fclose(f) == 0 && chmod(path, mode) == 0);
}

/* 1 when path holds exactly text. */
static int file_is(const char *path, const char *text)
{
	char buf[256];
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	(void)fclose(f);
	buf[n] = '\0';
	return strcmp(buf, text) == 0;
}

/* Start pflightd with its audit log at audit (key and token beside it), log into log;
 * wait until it is ready or has exited: its exit status, or PROC_RUNNING. */
static int run_daemon(const char *case_name, const char *audit, char *log, size_t cap)
{
	char control[128];
	char *argv[] = {(char *)daemon_path, "--foreground",
			"--domain",          name,
			"--audit",           (char *)audit,
			"--control",         control,
			"--api-port",        "0",
			"--log-target",      "stderr",
			"--destroy-on-exit", NULL};
	int r;

	(void)snprintf(control, sizeof(control), "%s/%s.sock", dir, case_name);
	(void)snprintf(log, cap, "%s/%s.log", dir, case_name);
	r = proc_start(argv, log, " ready: ", WAIT_NS, &daemon_pid);
	if (r != PROC_RUNNING)
		(void)pf_domain_unlink(name);
	return r;
}

/* A signing key another uid planted (valid, mode 0600: its planter knows the secret). */
static void planted_key(void)
{
	unsigned char pk[PF_AUDIT_PUBLIC_KEY_BYTES], sk[PF_AUDIT_SECRET_KEY_BYTES];
	char d[96], audit[128], key[160], log[128];
	struct stat st;

	case_dir(d, sizeof(d), "key", 0700);
	(void)snprintf(audit, sizeof(audit), "%s/audit.jsonl", d);
	(void)snprintf(key, sizeof(key), "%s.key", audit);
	CHECK(pf_audit_keygen(pk, sk) == 0 && pf_audit_key_save(key, NULL, pk, sk, NULL) == 0);
	CHECK(chown(key, NOBODY, NOBODY) == 0);
	proc_expect_refused(run_daemon("key", audit, log, sizeof(log)), log, " ready: ", key,
			    "owned by uid 65534");
	CHECK(stat(key, &st) == 0 && st.st_uid == NOBODY); /* left as it was */
	printf("pflightd: a signing key of uid 65534 is refused (exit 1)\n");
}

/* An API token file another uid planted: the daemon runs, the API does not. */
static void planted_token(void)
{
	static const char token[] = "planted-by-nobody-0123456789abcdef\n";
	char d[96], audit[128], path[160], log[128];

	case_dir(d, sizeof(d), "token", 0700);
	(void)snprintf(audit, sizeof(audit), "%s/audit.jsonl", d);
	(void)snprintf(path, sizeof(path), "%s.api-token", audit);
	put_file(path, token, 0600);
	CHECK(chown(path, NOBODY, NOBODY) == 0);
	CHECK(run_daemon("token", audit, log, sizeof(log)) == PROC_RUNNING);
	proc_stop(&daemon_pid);
	if (!proc_file_has(log, "owned by uid 65534") || proc_file_has(log, "api listening"))
		proc_print_file(log);
	CHECK(proc_file_has(log, path) && proc_file_has(log, "owned by uid 65534"));
	CHECK(proc_file_has(log, "the API is not started"));
	CHECK(!proc_file_has(log, "api listening"));
	CHECK(file_is(path, token));
	printf("pflightd: an API token of uid 65534 is refused (no API)\n");
}

/* The log's name is a symbolic link: to a file (left as it was), or to nowhere (nothing
 * is created there). */
static void log_symlinks(void)
{
	static const char text[] = "someone's file, one line\n";
	char d[96], audit[128], victim[128], gone[128], log[128];
	struct stat st;

	case_dir(d, sizeof(d), "link", 0700);
	(void)snprintf(audit, sizeof(audit), "%s/audit.jsonl", d);
	(void)snprintf(victim, sizeof(victim), "%s/victim.txt", d);
	(void)snprintf(gone, sizeof(gone), "%s/created-through-link", d);
	put_file(victim, text, 0644);
	CHECK(symlink(victim, audit) == 0);
	proc_expect_refused(run_daemon("link", audit, log, sizeof(log)), log, " ready: ", audit,
			    "symbolic link");
	CHECK(file_is(victim, text));
	CHECK(unlink(audit) == 0 && symlink(gone, audit) == 0);
	proc_expect_refused(run_daemon("dangling", audit, log, sizeof(log)), log, " ready: ", audit,
			    "symbolic link");
	CHECK(lstat(gone, &st) < 0 && errno == ENOENT);
	printf("pflightd: an audit log behind a symbolic link is refused (exit 1), its "
	       "target untouched, a dangling one's not created\n");
}

/* A directory group and others may write to: refused, nothing created in it. */
static void open_directory(void)
{
	char d[96], audit[128], log[128], probe[160];
	struct stat st;

	case_dir(d, sizeof(d), "open", 0777);
	(void)snprintf(audit, sizeof(audit), "%s/audit.jsonl", d);
	proc_expect_refused(run_daemon("open", audit, log, sizeof(log)), log, " ready: ", d,
			    "writable by group or others");
	CHECK(lstat(audit, &st) < 0 && errno == ENOENT);
	(void)snprintf(probe, sizeof(probe), "%s.key", audit);
	CHECK(lstat(probe, &st) < 0 && errno == ENOENT);
	printf("pflightd: an audit directory others may write to is refused (exit 1)\n");
}

/* Where the log goes when nothing names it: $STATE_DIRECTORY; for another uid than root
 * without it, $XDG_STATE_HOME/pflight (created 0700); never the current directory. The
 * daemon runs as uid 65534 in a directory of its own (the current one, where an old
 * default would have put the log, is there too). */
static void default_location(void)
{
	char d[96], xdg[128], cwd[128], control[128], log[128], want[256], old[256];
	char *argv[] = {(char *)daemon_path, "--foreground", "--domain",          name,
			"--control",         control,        "--api-port",        "0",
			"--log-target",      "stderr",       "--destroy-on-exit", NULL};
	uint64_t deadline = proc_now_ns() + WAIT_NS;
	struct stat st;

	case_dir(d, sizeof(d), "default", 0700);
	(void)snprintf(xdg, sizeof(xdg), "%s/xdg", d);
	(void)snprintf(cwd, sizeof(cwd), "%s/cwd", d);
	(void)snprintf(control, sizeof(control), "%s/control.sock", d);
	(void)snprintf(log, sizeof(log), "%s/default.log", dir);
	(void)snprintf(want, sizeof(want), "%s/pflight/%s.audit.jsonl", xdg, name);
	(void)snprintf(old, sizeof(old), "%s/pflightd-%s.audit.jsonl", cwd, name);
	CHECK(mkdir(xdg, 0700) == 0 && mkdir(cwd, 0700) == 0);
	CHECK(chown(d, NOBODY, NOBODY) == 0 && chown(xdg, NOBODY, NOBODY) == 0 &&
	      chown(cwd, NOBODY, NOBODY) == 0);
	(void)fflush(stdout); /* the child's freopen() would write what is buffered again */
	daemon_pid = fork();
	CHECK(daemon_pid >= 0);
	if (daemon_pid == 0) {
		FILE *out = freopen(log, "w", stdout);

		if (out == NULL || dup2(fileno(out), 2) < 0 || setgid(NOBODY) < 0 ||
		    setuid(NOBODY) < 0 || chdir(cwd) < 0 || unsetenv("STATE_DIRECTORY") < 0 ||
		    setenv("XDG_STATE_HOME", xdg, 1) < 0 || setenv("HOME", cwd, 1) < 0)
			_exit(126);
		execv(argv[0], argv);
		_exit(127);
	}
	while (!proc_file_has(log, " ready: ")) {
		if (waitpid(daemon_pid, NULL, WNOHANG) != 0 || proc_now_ns() >= deadline) {
			proc_print_file(log);
			CHECK(!"pflightd as uid 65534 ready");
		}
		proc_nap();
	}
	proc_stop(&daemon_pid);
	if (stat(want, &st) != 0)
		proc_print_file(log);
	CHECK(stat(want, &st) == 0 && st.st_uid == NOBODY && (st.st_mode & 0777) == 0600);
	CHECK(stat(xdg, &st) == 0 && chdir(dir) == 0); /* the test's own place stays */
	(void)snprintf(want, sizeof(want), "%s/pflight", xdg);
	CHECK(stat(want, &st) == 0 && (st.st_mode & 0777) == 0700);
	CHECK(lstat(old, &st) < 0 && errno == ENOENT);
	printf("pflightd: with nothing naming it, the log goes to $XDG_STATE_HOME/pflight "
	       "(uid 65534), not the current directory\n");
}

int main(int argc, char **argv)
{
	CHECK(argc == 2);
	if (geteuid() != 0) {
		printf("SKIP: planting files of another uid needs root\n");
		return 77;
	}
	daemon_path = realpath(argv[1], NULL); /* run from another directory too */
	CHECK(daemon_path != NULL);
	test_domain_name(name, sizeof(name), "files");
	(void)snprintf(dir, sizeof(dir), "/tmp/pft-files-XXXXXX");
	CHECK(mkdtemp(dir) != NULL && chmod(dir, 0711) == 0); /* uid 65534 reaches its case */
	(void)pf_domain_unlink(name);
	CHECK(atexit(cleanup) == 0);
	planted_key();
	planted_token();
	log_symlinks();
	open_directory();
	default_location();
	passed = 1;
	return 0;
}
