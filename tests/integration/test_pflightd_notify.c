/* SPDX-License-Identifier: MIT */
/*
 * tests/integration/test_pflightd_notify.c
 * Goal: pflightd speaks systemd's notify protocol as its unit (Type=notify, WatchdogSec=)
 * expects: READY=1 only once it serves (at that moment the control socket answers and the
 * REST API accepts a TCP connection), WATCHDOG=1 at half of WATCHDOG_USEC with no gap as
 * long as WATCHDOG_USEC, none at all without it or when WATCHDOG_PID names another
 * process, none any more once an agent thread hangs (the daemon no longer places or
 * supervises: systemd must restart it), and STOPPING=1 on SIGTERM before it exits with
 * status 0. A stop that drains (on_stop: drain) may outlast the unit's TimeoutStopSec, so
 * STOPPING=1 comes as the drain begins, with EXTEND_TIMEOUT_USEC covering drain_timeout, its
 * grace and the close: otherwise systemd SIGKILLs the daemon before it signs and closes its
 * audit log.
 * Method: a unix datagram socket in a mkdtemp() directory is NOTIFY_SOCKET (what systemd
 * gives a service); the real pflightd runs in the foreground on a domain unique to this
 * process, and every datagram it sends is read with its arrival time. The hung agent is
 * the scheduler, stopped for good at a fault point (PF_FAULT=ring_deq_after_slot:1:hang,
 * shm/fault.h) the first time it takes a pending VNode, which this test then defines.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pf_config.h"
#include "pflight/pflight.h"
#include "tests/common/proc_util.h"
#include "tests/common/test_util.h"

#define START_NS (15ull * 1000000000ull)
#define WATCHDOG_USEC 400000u                   /* pings every 200 ms */
#define OBSERVE_NS (2ull * 1000000000ull)       /* how long the pings are watched */
#define PINGS_MIN 5u                            /* of about ten in OBSERVE_NS */
#define PING_GAP_MAX_NS (WATCHDOG_USEC * 1000u) /* systemd's limit: a gap this long kills */

static const char *daemon_path;
static char name[64], dir[64], sock_path[128];
static pid_t daemon_pid = -1;
static int sock = -1;

static void cleanup(void)
{
	if (daemon_pid > 0 && kill(daemon_pid, SIGKILL) == 0)
		(void)waitpid(daemon_pid, NULL, 0);
	if (sock >= 0)
		(void)close(sock);
	(void)pf_domain_unlink(name);
	proc_rm_dir(dir);
}

/* The next datagram within timeout_ns, NUL-terminated into buf; 0 when none came. */
static size_t next_message(char *buf, size_t cap, uint64_t timeout_ns)
{
	struct pollfd p = {.fd = sock, .events = POLLIN};
	ssize_t n;

	if (poll(&p, 1, (int)(timeout_ns / 1000000u)) <= 0)
		return 0;
	n = recv(sock, buf, cap - 1, 0);
	CHECK(n > 0);
	buf[n] = '\0';
	return (size_t)n;
}

static int has_line(const char *msg, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = msg; p != NULL; p = strchr(p, '\n'), p = p != NULL ? p + 1 : NULL)
		if (strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == '\0'))
			return 1;
	return 0;
}

/* What READY=1 promises: the control socket answers, the REST API accepts. */
static void check_serving(const char *control, const char *log)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	char reply[PF_CONTROL_REPLY_MAX];
	unsigned port = proc_api_port(log);
	int fd;

	CHECK(pf_control_request(control, (uint32_t)geteuid(), "status", reply, sizeof(reply), 0) >
	      0);
	CHECK(strstr(reply, "\"ok\":true") != NULL);
	CHECK(port > 0);
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(fd >= 0);
	CHECK(connect(fd, (const struct sockaddr *)&sa, sizeof(sa)) == 0);
	(void)close(fd);
}

/* Start pflightd with NOTIFY_SOCKET, the watchdog variables and PF_FAULT (NULL: unset)
 * set for it alone, and --on-stop when on_stop is not NULL; returns when READY=1 came,
 * having checked that it serves. */
static void start(const char *case_name, const char *usec, const char *wd_pid, const char *fault,
		  const char *on_stop)
{
	char log[128], control[128], audit[128], msg[512];
	char *argv[] = {
		(char *)daemon_path, "--foreground", "--domain",   name, "--audit",      audit,
		"--control",         control,        "--api-port", "0",  "--log-target", "stderr",
		"--destroy-on-exit", NULL,           NULL,         NULL};
	uint64_t deadline = proc_now_ns() + START_NS;

	(void)snprintf(log, sizeof(log), "%s/%s.log", dir, case_name);
	(void)snprintf(control, sizeof(control), "%s/%s.sock", dir, case_name);
	(void)snprintf(audit, sizeof(audit), "%s/%s.audit.jsonl", dir, case_name);
	if (on_stop != NULL) {
		argv[sizeof(argv) / sizeof(argv[0]) - 3] = "--on-stop";
		argv[sizeof(argv) / sizeof(argv[0]) - 2] = (char *)on_stop;
	}
	CHECK(setenv("NOTIFY_SOCKET", sock_path, 1) == 0);
	CHECK((usec != NULL ? setenv("WATCHDOG_USEC", usec, 1) : unsetenv("WATCHDOG_USEC")) == 0);
	CHECK((wd_pid != NULL ? setenv("WATCHDOG_PID", wd_pid, 1) : unsetenv("WATCHDOG_PID")) == 0);
	CHECK((fault != NULL ? setenv("PF_FAULT", fault, 1) : unsetenv("PF_FAULT")) == 0);
	daemon_pid = proc_spawn(argv, log);
	CHECK(unsetenv("NOTIFY_SOCKET") == 0 && unsetenv("WATCHDOG_USEC") == 0 &&
	      unsetenv("WATCHDOG_PID") == 0 && unsetenv("PF_FAULT") == 0);
	for (;;) {
		uint64_t now = proc_now_ns();

		if (now >= deadline || waitpid(daemon_pid, NULL, WNOHANG) != 0) {
			proc_print_file(log);
			CHECK(!"READY=1 before the daemon exited or START_NS passed");
		}
		if (next_message(msg, sizeof(msg), deadline - now) == 0)
			continue;
		CHECK(!has_line(msg, "WATCHDOG=1")); /* nothing before READY=1 */
		if (has_line(msg, "READY=1"))
			break;
	}
	CHECK(strstr(msg, "STATUS=domain ") != NULL);
	check_serving(control, log);
}

/* Watch for OBSERVE_NS: the WATCHDOG=1 pings counted, the longest gap between two. */
static unsigned watch_pings(uint64_t *ret_gap_max_ns)
{
	uint64_t end = proc_now_ns() + OBSERVE_NS, last = proc_now_ns(), gap_max = 0;
	unsigned pings = 0;
	char msg[512];

	for (uint64_t now = last; now < end; now = proc_now_ns()) {
		if (next_message(msg, sizeof(msg), end - now) == 0)
			continue;
		now = proc_now_ns();
		CHECK(has_line(msg, "WATCHDOG=1"));
		gap_max = now - last > gap_max ? now - last : gap_max;
		last = now;
		pings++;
	}
	*ret_gap_max_ns = gap_max;
	return pings;
}

/* SIGTERM: STOPPING=1 comes (pings may still come before it), then exit status 0. */
static void stop(void)
{
	uint64_t deadline = proc_now_ns() + START_NS;
	char msg[512];
	int status = 0;

	CHECK(kill(daemon_pid, SIGTERM) == 0);
	for (;;) {
		uint64_t now = proc_now_ns();

		CHECK(now < deadline);
		if (next_message(msg, sizeof(msg), deadline - now) > 0 &&
		    has_line(msg, "STOPPING=1"))
			break;
	}
	CHECK(waitpid(daemon_pid, &status, 0) == daemon_pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	daemon_pid = -1;
}

static void with_watchdog(void)
{
	char usec[32];
	uint64_t gap = 0;
	unsigned pings;

	(void)snprintf(usec, sizeof(usec), "%u", WATCHDOG_USEC);
	start("watchdog", usec, NULL, NULL, NULL);
	pings = watch_pings(&gap);
	CHECK(pings >= PINGS_MIN);
	CHECK(gap < PING_GAP_MAX_NS);
	stop();
	printf("pflightd: READY=1 once serving; %u x WATCHDOG=1 in %llu ms with WATCHDOG_USEC=%u "
	       "(longest gap %llu ms); STOPPING=1 and exit 0 on SIGTERM\n",
	       pings, OBSERVE_NS / 1000000u, WATCHDOG_USEC, (unsigned long long)(gap / 1000000u));
}

static void without_watchdog(const char *case_name, const char *usec, const char *wd_pid)
{
	uint64_t gap = 0;

	start(case_name, usec, wd_pid, NULL, NULL);
	CHECK(watch_pings(&gap) == 0);
	stop();
	printf("pflightd: READY=1 and STOPPING=1, no WATCHDOG=1 (%s)\n", case_name);
}

/* The scheduler's thread hangs: the main thread, alive, must stop WATCHDOG=1 (and say so in
 * its log), so that systemd restarts a daemon that no longer places or supervises. */
static void hung_agent(void)
{
#if PF_FAULT_INJECTION
	char usec[32], log[128], msg[512];
	struct pf_vnode_spec spec;
	struct pf_domain *d;
	uint64_t deadline, end;
	unsigned pings = 0;
	int r;

	(void)snprintf(usec, sizeof(usec), "%u", WATCHDOG_USEC);
	(void)snprintf(log, sizeof(log), "%s/hung.log", dir);
	start("hung", usec, NULL, "ring_deq_after_slot:1:hang", NULL);
	/* A pending VNode: the scheduler's next pass takes it from the queue, and hangs. */
	CHECK(pf_domain_open(name, &d) == 0);
	pf_vnode_spec_init(&spec);
	CHECK(pf_vnode_define(d, 0, &spec) == 0);
	pf_domain_close(d);
	/* Pings stop: the daemon says it withholds them, naming the agent stuck (within a few
	 * periods), and from then on none comes. */
	deadline = proc_now_ns() + START_NS;
	while ((r = proc_wait_log(daemon_pid, log, "agent scheduler made no pass", 0)) ==
		       -ETIMEDOUT &&
	       proc_now_ns() < deadline)
		pings += next_message(msg, sizeof(msg), PING_GAP_MAX_NS) > 0;
	if (r != 0) {
		proc_print_file(log);
		fprintf(stderr, "%u x WATCHDOG=1 while the scheduler hung, none withheld\n", pings);
	}
	CHECK(r == 0);
	while (next_message(msg, sizeof(msg), 0) > 0) /* sent before it withheld one */
		;
	pings = 0;
	end = proc_now_ns() + OBSERVE_NS;
	for (uint64_t now = proc_now_ns(); now < end; now = proc_now_ns())
		pings += next_message(msg, sizeof(msg), end - now) > 0;
	CHECK(pings == 0);
	CHECK(waitpid(daemon_pid, NULL, WNOHANG) == 0); /* alive, only its agent hung */
	/* Its runner cannot be joined: kill it, as systemd would. */
	CHECK(kill(daemon_pid, SIGKILL) == 0);
	CHECK(waitpid(daemon_pid, NULL, 0) == daemon_pid);
	daemon_pid = -1;
	(void)pf_domain_unlink(name);
	printf("pflightd: no WATCHDOG=1 in %llu ms once its scheduler thread hung\n",
	       OBSERVE_NS / 1000000u);
#else
	printf("pflightd: a hung agent thread not checked (needs -Dfault_injection=true)\n");
#endif
}

/* on_stop: drain with a member joined: SIGTERM starts a drain (drain_timeout: 30 s by
 * default). By the time the daemon logs the cordons, STOPPING=1 must have come with an
 * EXTEND_TIMEOUT_USEC of at least drain_timeout plus its second of grace. A second SIGTERM
 * then stops at once (or the drain was over already); exit status 0 either way. */
static void drain_stop(void)
{
	char log[128], msg[512];
	unsigned long long extend = 0;
	struct pf_member *m;
	struct pf_domain *d;
	const char *p = NULL;
	int status = 0;

	(void)snprintf(log, sizeof(log), "%s/drain.log", dir);
	start("drain", NULL, NULL, NULL, "drain");
	CHECK(pf_domain_open(name, &d) == 0);
	CHECK(pf_member_join(d, NULL, &m) == 0);
	CHECK(kill(daemon_pid, SIGTERM) == 0);
	CHECK(proc_wait_log(daemon_pid, log, "members cordoned", START_NS) == 0);
	while (next_message(msg, sizeof(msg), 0) > 0 && !has_line(msg, "STOPPING=1"))
		;
	if (!has_line(msg, "STOPPING=1")) {
		proc_print_file(log);
		fprintf(stderr, "no STOPPING=1 when the drain began\n");
	}
	CHECK(has_line(msg, "STOPPING=1"));
	p = strstr(msg, "EXTEND_TIMEOUT_USEC=");
	if (p == NULL || sscanf(p, "EXTEND_TIMEOUT_USEC=%llu", &extend) != 1)
		fprintf(stderr, "STOPPING=1 without EXTEND_TIMEOUT_USEC: \"%s\"\n", msg);
	CHECK(extend >= (30ull + 1ull) * 1000000ull);
	CHECK(kill(daemon_pid, SIGTERM) == 0);
	CHECK(waitpid(daemon_pid, &status, 0) == daemon_pid);
	daemon_pid = -1;
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	(void)pf_member_leave(m); /* drained, or its daemon gone: either way the handle goes */
	pf_domain_close(d);
	(void)pf_domain_unlink(name);
	printf("pflightd: STOPPING=1 with EXTEND_TIMEOUT_USEC=%llu as a drain began\n", extend);
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	CHECK(argc == 2);
	daemon_path = argv[1];
	test_domain_name(name, sizeof(name), "pfd-notify");
	(void)snprintf(dir, sizeof(dir), "/tmp/pft-pfd-notify-XXXXXX");
	CHECK(mkdtemp(dir) != NULL);
	CHECK(atexit(cleanup) == 0);
	(void)pf_domain_unlink(name);
	(void)snprintf(sock_path, sizeof(sock_path), "%s/notify", dir);
	CHECK(strlen(sock_path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
	sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	CHECK(sock >= 0);
	CHECK(bind(sock, (const struct sockaddr *)&sa, sizeof(sa)) == 0);
	with_watchdog();
	without_watchdog("no WATCHDOG_USEC", NULL, NULL);
	without_watchdog("WATCHDOG_PID of another process", "400000", "1");
	drain_stop();
	hung_agent();
	return 0;
}
