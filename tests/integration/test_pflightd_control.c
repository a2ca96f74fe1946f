/* SPDX-License-Identifier: MIT */
/*
 * tests/integration/test_pflightd_control.c
 * Goal: pflightd's control socket is its own or it does not start. When a process of
 * another uid (65534) listens at the configured path first, the daemon exits with status
 * 1, names the path and its owner, and leaves that socket alone (it still answers its
 * owner); so does it with a regular file at the path (kept byte for byte) and with a
 * socket of its own uid that a live process listens on. A socket of its own uid that
 * nobody listens on (a daemon that died) is replaced. At stop it removes the socket only
 * if the path still is the one it bound: a file put there meanwhile stays. Clients that
 * connect and send nothing hold nobody: another client is answered while they stay
 * connected, and a bounded number of them wait (the oldest gives way).
 * Method: the real pflightd (path given by meson) run in the foreground with --control in
 * a mkdtemp() directory, its audit log there, a domain name unique to this process; the
 * squatter is a forked child that takes uid 65534 before it listens
 * (tests/common/reply_server.c). Needs root (exit 77 otherwise).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pflight/pflight.h"
#include "tests/common/proc_util.h"
#include "tests/common/reply_server.h"
#include "tests/common/test_util.h"
#include "tools/pflightd/control.h"

#define WAIT_NS (30ull * 1000000000ull)
#define NOBODY 65534u

static const char *daemon_path;
static char name[64], dir[64], audit[128];
static pid_t daemon_pid = -1, squatter_pid = -1;
static int passed;

static void cleanup(void)
{
	if (daemon_pid > 0 && kill(daemon_pid, SIGKILL) == 0)
		(void)waitpid(daemon_pid, NULL, 0);
	if (squatter_pid > 0 && kill(squatter_pid, SIGKILL) == 0)
		(void)waitpid(squatter_pid, NULL, 0);
	(void)pf_domain_unlink(name);
	if (passed)
		proc_rm_dir(dir);
	else
		fprintf(stderr, "kept for a look: %s\n", dir);
}

/* Start pflightd with --control control, log into log; wait until it is ready or has
 * exited: its exit status, or PROC_RUNNING. */
static int run_daemon(const char *case_name, const char *control, char *log, size_t cap)
{
	char *argv[] = {(char *)daemon_path, "--foreground",
			"--domain",          name,
			"--audit",           audit,
			"--control",         (char *)control,
			"--api-port",        "0",
			"--log-target",      "stderr",
			"--destroy-on-exit", NULL};
	int r;

	(void)snprintf(log, cap, "%s/%s.log", dir, case_name);
	r = proc_start(argv, log, " ready: ", WAIT_NS, &daemon_pid);
	if (r != PROC_RUNNING)
		(void)pf_domain_unlink(name);
	return r;
}

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

/* A socket bound at path by this process: listening (returns its fd) or not (closed
 * at once, the file left behind as a dead daemon leaves it; returns -1). */
static int own_socket(const char *path, int listening)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	CHECK(fd >= 0 && strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	CHECK(bind(fd, (const struct sockaddr *)&sa, sizeof(sa)) == 0);
	if (listening) {
		CHECK(listen(fd, 4) == 0);
		return fd;
	}
	(void)close(fd);
	return -1;
}

/* uid 65534 listens at the path first: refused, its socket left to it. */
static void squatted(void)
{
	char d[96], control[128], log[128], reply[64];
	struct squatter sq;
	struct stat st;

	(void)snprintf(d, sizeof(d), "%s/squat", dir);
	(void)snprintf(control, sizeof(control), "%s/control.sock", d);
	CHECK(mkdir(d, 0700) == 0 && chown(d, NOBODY, NOBODY) == 0);
	CHECK(squatter_start(&sq, control, NOBODY) == 0);
	squatter_pid = sq.pid;
	proc_expect_refused(run_daemon("squat", control, log, sizeof(log)), log,
			    " ready: ", control, "a socket of uid 65534");
	CHECK(lstat(control, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_uid == NOBODY);
	/* Still the squatter's: it answers its owner. */
	CHECK(pf_control_request(control, NOBODY, "status", reply, sizeof(reply), 0) > 0);
	CHECK(squatter_join(&sq) == 6);
	squatter_pid = -1;
	printf("pflightd: a control path uid 65534 listens at is refused (exit 1) and left "
	       "to it\n");
}

/* Not a socket, or a socket a live process of our uid listens on: refused, left alone. */
static void not_ours(void)
{
	static const char text[] = "not a socket\n";
	char control[128], log[128];
	struct stat st;
	FILE *f;
	int fd;

	(void)snprintf(control, sizeof(control), "%s/file.sock", dir);
	f = fopen(control, "w");
	CHECK(f != NULL && fputs(text, f) >= 0 && fclose(f) == 0);
	proc_expect_refused(run_daemon("file", control, log, sizeof(log)), log, " ready: ", control,
			    "a regular file, not a socket");
	CHECK(file_is(control, text));
	(void)snprintf(control, sizeof(control), "%s/live.sock", dir);
	fd = own_socket(control, 1);
	proc_expect_refused(run_daemon("live", control, log, sizeof(log)), log, " ready: ", control,
			    "a process listens on it");
	CHECK(lstat(control, &st) == 0 && S_ISSOCK(st.st_mode));
	(void)close(fd);
	printf("pflightd: a regular file, or a socket someone listens on, at the control path "
	       "is refused (exit 1) and left alone\n");
}

/* A dead daemon's socket is replaced; at stop, only the daemon's own socket goes. */
static void stale_and_stop(void)
{
	static const char text[] = "put here while the daemon ran\n";
	char control[128], log[128], reply[256], moved[160];
	FILE *f;

	(void)snprintf(control, sizeof(control), "%s/stale.sock", dir);
	(void)own_socket(control, 0);
	CHECK(run_daemon("stale", control, log, sizeof(log)) == PROC_RUNNING);
	CHECK(pf_control_request(control, (uint32_t)geteuid(), "status", reply, sizeof(reply), 0) >
	      0);
	CHECK(strstr(reply, "\"ok\":true") != NULL);
	(void)snprintf(moved, sizeof(moved), "%s/other-file", dir);
	f = fopen(moved, "w");
	CHECK(f != NULL && fputs(text, f) >= 0 && fclose(f) == 0);
	CHECK(rename(moved, control) == 0);
	proc_stop(&daemon_pid);
	CHECK(file_is(control, text));
	printf("pflightd: a dead daemon's socket is replaced; at stop a file put at the path "
	       "stays\n");
}

/* A client that connects and sends nothing (yet). */
static int connect_silent(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	CHECK(fd >= 0 && strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	CHECK(connect(fd, (const struct sockaddr *)&sa, sizeof(sa)) == 0);
	return fd;
}

/* Still connected, and nothing from the daemon: no hang-up, nothing to read. */
static int still_open(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, 0) == 0;
}

/* Clients that connect and send nothing hold nobody: another client is answered while
 * they stay connected, one of them is answered when its request comes at last, and past
 * CONTROL_CONNS_MAX of them waiting the oldest gives way. No clock is read: what is
 * checked is who got an answer and who is still connected. */
static void silent_clients(void)
{
	const uint32_t me = (uint32_t)geteuid();
	int silent[CONTROL_CONNS_MAX + 2];
	char control[128], log[128], reply[512];
	ssize_t n;

	(void)snprintf(control, sizeof(control), "%s/silent.sock", dir);
	CHECK(run_daemon("silent", control, log, sizeof(log)) == PROC_RUNNING);
	for (int i = 0; i < 3; i++)
		silent[i] = connect_silent(control);
	CHECK(pf_control_request(control, me, "status", reply, sizeof(reply), 0) > 0);
	CHECK(strstr(reply, "\"ok\":true") != NULL);
	for (int i = 0; i < 3; i++)
		CHECK(still_open(silent[i]));
	/* The first speaks at last: answered on the connection it kept. */
	CHECK(send(silent[0], "status", 6, MSG_NOSIGNAL) == 6);
	n = recv(silent[0], reply, sizeof(reply) - 1, 0);
	CHECK(n > 0);
	reply[n] = '\0';
	CHECK(strstr(reply, "\"ok\":true") != NULL);
	(void)close(silent[0]);
	/* silent[1] and [2] wait; CONTROL_CONNS_MAX - 1 more fill the table past its size by
	 * one: silent[1], the oldest, is closed for room, and the next client is answered. That
	 * client may itself have been accepted before its request came, and then waited in
	 * the table like any other: silent[2], the oldest left, made room for it. The newer
	 * ones all wait on. */
	for (uint32_t i = 3; i < CONTROL_CONNS_MAX + 2; i++)
		silent[i] = connect_silent(control);
	CHECK(pf_control_request(control, me, "status", reply, sizeof(reply), 0) > 0);
	CHECK(!still_open(silent[1]) && recv(silent[1], reply, sizeof(reply), 0) == 0);
	for (uint32_t i = 3; i < CONTROL_CONNS_MAX + 2; i++)
		CHECK(still_open(silent[i]));
	for (uint32_t i = 1; i < CONTROL_CONNS_MAX + 2; i++)
		(void)close(silent[i]);
	proc_stop(&daemon_pid);
	printf("pflightd: clients that send nothing hold nobody: others are answered while "
	       "they stay connected, and %u of them at most wait\n",
	       CONTROL_CONNS_MAX);
}

int main(int argc, char **argv)
{
	CHECK(argc == 2);
	if (geteuid() != 0) {
		printf("SKIP: a listener of another uid needs root\n");
		return 77;
	}
	daemon_path = argv[1];
	test_domain_name(name, sizeof(name), "control");
	(void)snprintf(dir, sizeof(dir), "/tmp/pft-control-XXXXXX");
	CHECK(mkdtemp(dir) != NULL && chmod(dir, 0711) == 0); /* uid 65534 reaches its case */
	(void)snprintf(audit, sizeof(audit), "%s/audit.jsonl", dir);
	(void)pf_domain_unlink(name);
	CHECK(atexit(cleanup) == 0);
	squatted();
	not_ours();
	stale_and_stop();
	silent_clients();
	passed = 1;
	return 0;
}
