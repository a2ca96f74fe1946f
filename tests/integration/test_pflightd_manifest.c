/* SPDX-License-Identifier: MIT */
/*
 * tests/integration/test_pflightd_manifest.c
 * Goal: pflightd refuses a wrong manifest at start-up before it creates anything: for a
 * manifest wrong in one way each (unknown field, wrong type, out-of-range value, bad
 * YAML syntax, missing apiVersion, wrong kind, duplicate key, empty, a missing file, a
 * directory) it exits with status 2, the domain's segment /dev/shm/pflight-<name> does
 * not exist, no audit log or key was written, and stderr names the file, the line and
 * the column and gives the parser's reason. The same error comes in journald's format
 * ("<3>" and no time) with --log-target journal or when JOURNAL_STREAM names its
 * stderr, and in the timestamped one otherwise or with --log-target stderr. A valid
 * manifest starts (ready, the segment exists) and stops on SIGTERM with status 0.
 * `pflightd --version` prints this build's version, exits 0 and creates nothing.
 * A segment of the domain's name created in advance by another uid (65534 here), whose
 * creator could write anything into a domain root would then supervise, is not adopted:
 * pflightd exits with status 1 and says whose it is, and the segment is left alone.
 * Method: the real pflightd (path given by meson) run in the foreground from manifests
 * written into a mkdtemp() directory, with its audit log there too and a domain name
 * unique to this process; the directory and the segment are removed on any exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pflight/pflight.h"
#include "tests/common/proc_util.h"
#include "tools/common/build_info.h"
#include "tests/common/test_util.h"

#define HDR "apiVersion: pflight/v1\nkind: Domain\n"
#define WAIT_NS (15ull * 1000000000ull)

struct bad_case {
	const char *what;
	const char *text; /* NULL: no file at all; "/": the directory itself */
	int line, column;
	const char *reason;
};

/* Reasons as ctl/manifest.c words them (tests/unit/ctl/test_ctl_manifest.c). */
static const struct bad_case cases[] = {
	{"unknown field", HDR "bogus: 1\n", 3, 1, "unknown field 'bogus'"},
	{"wrong type", HDR "membership:\n  members_max: [1, 2]\n", 4, 16,
	 "membership.members_max: expected integer, got a list"},
	{"out of range", HDR "membership:\n  members_max: 5000\n", 4, 16,
	 "'5000' is out of range (1..4096)"},
	{"bad YAML", "apiVersion: pflight/v1\nkind: Domain: x\n", 2, 13,
	 "YAML syntax: mapping values are not allowed in this context"},
	{"missing apiVersion", "kind: Domain\n", 1, 1, "missing required field 'apiVersion'"},
	{"wrong kind", "apiVersion: pflight/v1\nkind: Host\n", 2, 7,
	 "kind: 'Host' is not one of: Domain"},
	{"duplicate key", HDR "membership:\n  members_max: 4\n  members_max: 8\n", 5, 3,
	 "duplicate key 'members_max' (first at line 4)"},
	{"empty", "", 0, 0, "empty manifest: apiVersion and kind are required"},
	{"missing file", NULL, 0, 0, "cannot open: No such file or directory"},
	{"a directory", "/", 0, 0, "cannot open: Is a directory"},
};

static const char *daemon_path;
static char name[64], dir[64], shm_path[128], audit[128];
static pid_t daemon_pid = -1;

static void cleanup(void)
{
	if (daemon_pid > 0 && kill(daemon_pid, SIGKILL) == 0)
		(void)waitpid(daemon_pid, NULL, 0);
	(void)pf_domain_unlink(name);
	proc_rm_dir(dir);
}

/* The file's text ("" while it does not exist yet); the caller frees it. */
static char *slurp(const char *path)
{
	char *buf = calloc(1, 65536);
	FILE *f = fopen(path, "r");
	size_t n;

	CHECK(buf != NULL);
	if (f == NULL)
		return buf;
	n = fread(buf, 1, 65535, f);
	buf[n] = '\0';
	(void)fclose(f);
	return buf;
}

/* Start pflightd with argv (NULL-terminated, argv[0] filled in here), stdout and stderr
 * into log; `journal`: JOURNAL_STREAM set to the log file's device and inode. */
static pid_t spawn(char **argv, const char *log, int journal)
{
	pid_t pid;

	argv[0] = (char *)daemon_path;
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		char env[64];
		struct stat st;
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0 || fstat(fd, &st) < 0)
			_exit(127);
		(void)snprintf(env, sizeof(env), "%llu:%llu", (unsigned long long)st.st_dev,
			       (unsigned long long)st.st_ino);
		if (journal ? setenv("JOURNAL_STREAM", env, 1) : unsetenv("JOURNAL_STREAM"))
			_exit(127);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

/* Wait for pid to exit within WAIT_NS: its exit status, or -1 (killed, timed out). */
static int wait_exit(pid_t pid)
{
	uint64_t deadline = proc_now_ns() + WAIT_NS;
	int status = 0;
	pid_t r;

	while ((r = waitpid(pid, &status, WNOHANG)) == 0 && proc_now_ns() < deadline)
		proc_nap();
	if (r == 0) {
		(void)kill(pid, SIGKILL);
		(void)waitpid(pid, NULL, 0);
		fprintf(stderr, "pflightd did not exit within %llu s\n", WAIT_NS / 1000000000ull);
		return -1;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The line of text holding `prefix` also holds `reason` after it. */
static int line_has(const char *text, const char *prefix, const char *reason)
{
	const char *p = strstr(text, prefix), *end, *hit;

	if (p == NULL)
		return 0;
	end = strchr(p, '\n');
	hit = strstr(p + strlen(prefix), reason);
	return hit != NULL && (end == NULL || hit < end);
}

static void manifest_path(const struct bad_case *c, size_t i, char *path, size_t cap)
{
	FILE *f;

	if (c->text != NULL && strcmp(c->text, "/") == 0) {
		(void)snprintf(path, cap, "%s", dir);
		return;
	}
	(void)snprintf(path, cap, "%s/case-%zu.yaml", dir, i);
	if (c->text == NULL)
		return;
	f = fopen(path, "w");
	CHECK(f != NULL && fputs(c->text, f) >= 0 && fclose(f) == 0);
}

/* pflightd --foreground with manifest `path` (plus `extra` options); exit 2, nothing
 * created; stderr holds "<path>:<line>:<column>: <reason>". Returns stderr (to free). */
static char *refused(const char *path, const struct bad_case *c, char *extra, int journal)
{
	char log[128], where[400];
	char *argv[] = {NULL, "--foreground", "--manifest", (char *)path, "--domain",
			name, "--audit",      audit,        extra,        NULL};
	char *err;
	int status;

	(void)snprintf(log, sizeof(log), "%s/stderr.log", dir);
	status = wait_exit(spawn(argv, log, journal));
	err = slurp(log);
	(void)snprintf(where, sizeof(where), "%s:%d:%d: ", path, c->line, c->column);
	if (status != 2 || !line_has(err, where, c->reason))
		fprintf(stderr, "%s: exit %d, want 2 and \"%s%s\" in:\n%s\n", c->what, status,
			where, c->reason, err);
	CHECK(status == 2 && line_has(err, where, c->reason));
	CHECK(access(shm_path, F_OK) < 0 && errno == ENOENT); /* no domain */
	CHECK(access(audit, F_OK) < 0 && errno == ENOENT);    /* no audit log */
	(void)unlink(log);
	return err;
}

static void bad_manifests(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char path[128];

		manifest_path(&cases[i], i, path, sizeof(path));
		free(refused(path, &cases[i], NULL, 0));
		if (cases[i].text != NULL && strcmp(cases[i].text, "/") != 0) {
			(void)snprintf(path, sizeof(path), "%s/case-%zu.yaml", dir, i);
			CHECK(unlink(path) == 0);
		}
	}
	printf("pflightd: %zu wrong manifests refused with exit 2, nothing created\n",
	       sizeof(cases) / sizeof(cases[0]));
}

/* The refusal of case 0 in each log format. */
static void log_formats(void)
{
	const struct bad_case *c = &cases[0];
	char path[128], *err;

	manifest_path(c, 0, path, sizeof(path));
	err = refused(path, c, "--log-target=journal", 0);
	CHECK(strncmp(err, "<3>", 3) == 0 && strstr(err, "Z error") == NULL);
	free(err);
	err = refused(path, c, NULL, 1); /* auto: JOURNAL_STREAM names its stderr */
	CHECK(strncmp(err, "<3>", 3) == 0);
	free(err);
	err = refused(path, c, "--log-target=stderr", 1);
	CHECK(strncmp(err, "<3>", 3) != 0 && strstr(err, "Z error ") != NULL);
	free(err);
	err = refused(path, c, NULL, 0); /* auto, no journal */
	CHECK(err[0] >= '1' && err[0] <= '9' && strstr(err, "Z error ") != NULL);
	free(err);
	CHECK(unlink(path) == 0);
	printf("pflightd: the refusal in journal (<3>, no time) and stderr formats\n");
}

/* A valid manifest: ready, the segment exists; SIGTERM: exit 0, destroyed on exit. */
static void good_manifest(void)
{
	char path[128], log[128], *out = NULL;
	char *argv[] = {NULL,           "--foreground", "--manifest",        path, "--audit", audit,
			"--log-target", "stderr",       "--destroy-on-exit", NULL};
	uint64_t deadline = proc_now_ns() + WAIT_NS;
	FILE *f;

	(void)snprintf(path, sizeof(path), "%s/good.yaml", dir);
	(void)snprintf(log, sizeof(log), "%s/good.log", dir);
	f = fopen(path, "w");
	CHECK(f != NULL);
	fprintf(f, HDR "metadata:\n  name: %s\nmembership:\n  members_max: 4\n  vnodes_max: 16\n",
		name);
	CHECK(fclose(f) == 0);
	daemon_pid = spawn(argv, log, 0);
	while (proc_now_ns() < deadline) {
		free(out);
		out = slurp(log);
		if (strstr(out, " ready: ") != NULL)
			break;
		CHECK(waitpid(daemon_pid, NULL, WNOHANG) == 0);
		proc_nap();
	}
	CHECK(out != NULL); /* the loop ran at least once, and slurp() never returns NULL */
	if (strstr(out, " ready: ") == NULL)
		fprintf(stderr, "not ready:\n%s\n", out);
	CHECK(strstr(out, " ready: ") != NULL && strstr(out, " created ") != NULL);
	CHECK(access(shm_path, F_OK) == 0);
	free(out);
	CHECK(kill(daemon_pid, SIGTERM) == 0);
	CHECK(wait_exit(daemon_pid) == 0);
	daemon_pid = -1;
	CHECK(access(shm_path, F_OK) < 0);
	printf("pflightd: a valid manifest starts, and stops on SIGTERM with exit 0\n");
}

/* A segment made in advance by another uid: refused, left as it was. */
static void foreign_segment(void)
{
	char path[128], log[128], *out;
	char *argv[] = {NULL,  "--foreground", "--manifest", path, "--audit",
			audit, "--log-target", "stderr",     NULL};
	struct stat st;
	int status = 0;
	pid_t pid;
	FILE *f;

	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct pf_domain_opts o;
		struct pf_domain *d;

		pf_domain_opts_init(&o);
		o.members_max = 4;
		o.vnodes_max = 16;
		if (setgid(65534) < 0 || setuid(65534) < 0 || pf_domain_create(name, &o, &d) < 0)
			_exit(1);
		pf_domain_close(d);
		_exit(0);
	}
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(stat(shm_path, &st) == 0 && st.st_uid == 65534);
	(void)snprintf(path, sizeof(path), "%s/foreign.yaml", dir);
	(void)snprintf(log, sizeof(log), "%s/foreign.log", dir);
	f = fopen(path, "w");
	CHECK(f != NULL);
	fprintf(f, HDR "metadata:\n  name: %s\nmembership:\n  members_max: 4\n  vnodes_max: 16\n",
		name);
	CHECK(fclose(f) == 0);
	daemon_pid = spawn(argv, log, 0);
	status = wait_exit(daemon_pid);
	daemon_pid = -1;
	out = slurp(log);
	if (status != 1 || strstr(out, "owned by uid 65534") == NULL)
		fprintf(stderr, "exit %d:\n%s\n", status, out);
	CHECK(status == 1 && strstr(out, "owned by uid 65534") != NULL);
	CHECK(strstr(out, " ready: ") == NULL);
	free(out);
	CHECK(stat(shm_path, &st) == 0 && st.st_uid == 65534);
	CHECK(pf_domain_unlink(name) == 0);
	printf("pflightd: a segment of another uid is not adopted\n");
	/* Ours, but made writable by others afterwards (pf_domain_create() refuses o+w). */
	{
		struct pf_domain_opts o;
		struct pf_domain *d;

		pf_domain_opts_init(&o);
		o.members_max = 4;
		o.vnodes_max = 16;
		CHECK(pf_domain_create(name, &o, &d) == 0);
		pf_domain_close(d);
	}
	CHECK(chmod(shm_path, 0606) == 0);
	daemon_pid = spawn(argv, log, 0);
	status = wait_exit(daemon_pid);
	daemon_pid = -1;
	out = slurp(log);
	if (status != 1 || strstr(out, "others may write it") == NULL)
		fprintf(stderr, "exit %d:\n%s\n", status, out);
	CHECK(status == 1 && strstr(out, "others may write it") != NULL);
	CHECK(strstr(out, " ready: ") == NULL);
	free(out);
	CHECK(stat(shm_path, &st) == 0 && (st.st_mode & 07777) == 0606); /* left alone */
	CHECK(pf_domain_unlink(name) == 0);
	printf("pflightd: a segment others may write is not adopted\n");
}

/* --version: one line, exit 0, before anything is read or created. */
static void version(void)
{
	char rev[128];

	CHECK(proc_version(daemon_path, "pflightd", rev, sizeof(rev)) == 0);
	CHECK(access(shm_path, F_OK) < 0 && access(audit, F_OK) < 0);
	printf("pflightd --version: %s%s%s\n", PF_VERSION_STRING, rev[0] != '\0' ? ", git " : "",
	       rev);
}

int main(int argc, char **argv)
{
	CHECK(argc == 2);
	daemon_path = argv[1];
	test_domain_name(name, sizeof(name), "pfd-manifest");
	(void)snprintf(shm_path, sizeof(shm_path), "/dev/shm/pflight-%s", name);
	(void)snprintf(dir, sizeof(dir), "/tmp/pft-pfd-manifest-XXXXXX");
	CHECK(mkdtemp(dir) != NULL);
	(void)snprintf(audit, sizeof(audit), "%s/audit.jsonl", dir);
	(void)pf_domain_unlink(name);
	CHECK(atexit(cleanup) == 0);
	version();
	bad_manifests();
	log_formats();
	good_manifest();
	foreign_segment();
	return 0;
}
