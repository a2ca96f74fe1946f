/* SPDX-License-Identifier: MIT */
/*
 * tests/integration/test_netns.c
 * Goal: tests/common/netns.c gives tests and benchmarks "two hosts" joined by a real link,
 * and leaves nothing behind. A pair carries 64 MiB of plain TCP, and 64 MiB of transport
 * frames (pflight/xport.h, the io_uring backend, one instance in each namespace), bytes
 * exact at both ends and from the other side's address; a program spawned into a side sees
 * that side's link only; after destroy no name, no process, no open namespace and no veth
 * of the pair remains; an owner killed by SIGKILL leaves nothing either, through its reaper,
 * or, with the reaper killed first, through the next create's sweep.
 * Method: forked children listen in side 1 (netns_enter), the test sends from a socket
 * opened in side 0 (netns_socket); the transport runs in two children, one per side. The
 * checks of what is left scan /run/netns, `ip netns list`, the links of this namespace and
 * every process's namespaces and open files. The test is a child subreaper, so that what a
 * killed owner leaves is reparented here and can be checked and reaped.
 * Measured, not asserted: the plain copy's throughput over the veth and over loopback, three
 * runs each, alternating, printed as one JSON line. Exit-code protocol: 77 with the reason
 * where namespaces or veth are refused (not root, no iproute2).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "pflight/xport.h"
#include "tests/common/netns.h"
#include "tests/common/test_util.h"

#define COPY_BYTES (64u << 20)
#define CHUNK_BYTES (1u << 20) /* one write, one read, one transport frame */
#define FRAMES (COPY_BYTES / CHUNK_BYTES)
#define COPY_RUNS 3
#define EV_MAX 16u
#define MS 1000000ull
#define WAIT_NS (20000ull * MS) /* any one wait here; a copy takes well under a second */
#define GONE_NS (5000ull * MS)  /* for killed processes to end and names to go */

static struct netns_pair pair;
static uint8_t *src;
static uint64_t src_hash;

static void cleanup(void)
{
	netns_pair_destroy(&pair); /* a no-op in children and once destroyed */
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* fork; the child dies with the test, so a failing run leaves no child behind. */
static pid_t fork_child(void)
{
	pid_t parent = getpid(), pid = fork();

	CHECK(pid >= 0);
	if (pid == 0 && (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent))
		_exit(99);
	return pid;
}

/* Read exactly bytes from fd by the deadline; fails the test on EOF or timeout. */
static void read_exact(int fd, void *buf, size_t bytes, uint64_t deadline)
{
	size_t got = 0;

	while (got < bytes) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		uint64_t now = now_ns();
		ssize_t n;

		CHECK(now < deadline);
		if (poll(&p, 1, (int)((deadline - now) / MS) + 1) <= 0)
			continue;
		n = read(fd, (char *)buf + got, bytes - got);
		CHECK(n > 0);
		got += (size_t)n;
	}
}

/* The exit status of child pid (128 + signal when a signal ended it); kills it and fails
 * the test past the deadline. */
static int wait_exit(pid_t pid, uint64_t deadline)
{
	int status = 0;
	pid_t got;

	while ((got = waitpid(pid, &status, WNOHANG)) == 0 && now_ns() < deadline)
		test_sleep_ns(MS);
	if (got == 0) {
		(void)kill(pid, SIGKILL);
		(void)waitpid(pid, &status, 0);
		fprintf(stderr, "child %d did not end in time\n", (int)pid);
		exit(1);
	}
	CHECK(got == pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* ---- plain TCP ---------------------------------------------------------------------- */

struct copy_result {
	uint64_t bytes, hash;
	uint32_t peer; /* the sender's address as accepted, network order */
	int32_t err;
};

/* Child: listen on addr (in side's namespace; this one when side < 0), say the port on wfd,
 * take one connection, hash all it carries, report on wfd. */
static _Noreturn void copy_receiver(int side, struct in_addr addr, int wfd)
{
	static uint8_t buf[CHUNK_BYTES];
	struct timeval tv = {.tv_sec = 20};
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr = addr};
	struct copy_result res = {0};
	socklen_t len = sizeof(a);
	XXH3_state_t *st = XXH3_createState();
	uint16_t port;
	ssize_t n;
	int l, c;

	if (side >= 0 && netns_enter(&pair, side) < 0)
		_exit(2);
	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (st == NULL || l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(l, 1) < 0 || getsockname(l, (struct sockaddr *)&a, &len) < 0)
		_exit(3);
	port = ntohs(a.sin_port);
	len = sizeof(a);
	if (write(wfd, &port, sizeof(port)) != sizeof(port))
		_exit(4);
	c = accept4(l, (struct sockaddr *)&a, &len, SOCK_CLOEXEC);
	if (c < 0 || setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
		_exit(5);
	res.peer = a.sin_addr.s_addr;
	(void)XXH3_64bits_reset(st);
	while ((n = read(c, buf, sizeof(buf))) > 0) {
		(void)XXH3_64bits_update(st, buf, (size_t)n);
		res.bytes += (uint64_t)n;
	}
	res.err = n < 0 ? -errno : 0;
	res.hash = XXH3_64bits_digest(st);
	_exit(write(wfd, &res, sizeof(res)) == sizeof(res) ? 0 : 6);
}

static void send_all(int fd, const uint8_t *p, size_t bytes)
{
	while (bytes > 0) {
		ssize_t n = write(fd, p, bytes < CHUNK_BYTES ? bytes : CHUNK_BYTES);

		if (n < 0 && errno == EINTR)
			continue;
		CHECK(n > 0);
		p += n;
		bytes -= (size_t)n;
	}
}

/* COPY_BYTES from side 0 to a child listening on side 1 (veth), or within this namespace
 * over loopback; checked at both ends. The nanoseconds from connect to the receiver's
 * report. */
static uint64_t copy_once(bool veth)
{
	struct in_addr lo = {.s_addr = htonl(INADDR_LOOPBACK)};
	struct in_addr to = veth ? pair.in[1] : lo, from = veth ? pair.in[0] : lo;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr = to};
	struct timeval tv = {.tv_sec = 20};
	struct copy_result res;
	uint64_t t0, t1, deadline = now_ns() + WAIT_NS;
	uint16_t port;
	int fds[2], s;
	pid_t pid;

	CHECK(pipe2(fds, O_CLOEXEC) == 0);
	pid = fork_child();
	if (pid == 0) {
		(void)close(fds[0]);
		copy_receiver(veth ? 1 : -1, to, fds[1]);
	}
	(void)close(fds[1]);
	read_exact(fds[0], &port, sizeof(port), deadline);
	a.sin_port = htons(port);
	s = veth ? netns_socket(&pair, 0, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)
		 : socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(s >= 0);
	CHECK(setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == 0);
	t0 = now_ns();
	CHECK(connect(s, (struct sockaddr *)&a, sizeof(a)) == 0);
	send_all(s, src, COPY_BYTES);
	CHECK(shutdown(s, SHUT_WR) == 0);
	read_exact(fds[0], &res, sizeof(res), deadline);
	t1 = now_ns();
	CHECK(res.err == 0);
	CHECK(res.bytes == COPY_BYTES);
	CHECK(res.hash == src_hash);
	CHECK(res.peer == from.s_addr); /* it came over the veth, from side 0's address */
	(void)close(s);
	(void)close(fds[0]);
	CHECK(wait_exit(pid, deadline) == 0);
	return t1 - t0;
}

/* ---- the transport, one instance per namespace ---------------------------------------- */

struct xport_result {
	uint64_t bytes, hash, elapsed_ns;
	uint32_t frames;
	int32_t err;
};

/* Take FRAMES frames on the first connection, hash them in order, then close it. */
static int xport_take(const struct pf_xport_ops *u, struct pf_xport *x, XXH3_state_t *st,
		      struct xport_result *res)
{
	struct pf_xport_event ev[EV_MAX];
	uint64_t deadline = now_ns() + WAIT_NS;
	uint32_t conn = 0;
	bool closing = false;

	while (now_ns() < deadline) {
		int n = u->poll(x, ev, EV_MAX, 10 * MS), r;

		if (n < 0)
			return n;
		for (int i = 0; i < n; i++) {
			if (ev[i].type == PF_XPORT_EV_ACCEPTED)
				conn = ev[i].conn;
			if (ev[i].type == PF_XPORT_EV_CLOSED)
				return closing || ev[i].error < 0 ? ev[i].error : -EPIPE;
			if (ev[i].type != PF_XPORT_EV_FRAME)
				continue;
			(void)XXH3_64bits_update(st, ev[i].data, ev[i].len);
			res->bytes += ev[i].len;
			res->frames++;
		}
		if (!closing && res->frames == FRAMES) {
			r = u->close(x, conn);
			if (r < 0)
				return r;
			closing = true;
		}
	}
	return -ETIMEDOUT;
}

/* Child, side 1: listen on addr[1], say the port on port_w (0: could not), take the frames,
 * report on wfd. */
static _Noreturn void xport_receiver(int port_w, int wfd)
{
	const struct pf_xport_ops *u = pf_xport_find("uring");
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr = pair.in[1]};
	struct xport_result res = {0};
	struct pf_xport *x = NULL;
	XXH3_state_t *st = XXH3_createState();
	uint32_t listener;
	uint16_t port = 0;
	int r = st == NULL ? -ENOMEM : netns_enter(&pair, 1);

	if (r == 0)
		r = u->create(NULL, &x);
	if (r == 0)
		r = u->listen(x, (struct sockaddr *)&a, sizeof(a), &listener, &port);
	if (write(port_w, &port, sizeof(port)) != sizeof(port))
		_exit(4);
	if (r == 0) {
		(void)XXH3_64bits_reset(st);
		r = xport_take(u, x, st, &res);
		res.hash = XXH3_64bits_digest(st);
	}
	res.err = r;
	u->destroy(x);
	_exit(write(wfd, &res, sizeof(res)) == sizeof(res) ? 0 : 6);
}

/* Send the FRAMES frames of src on conn; done when all are SENT and the peer closed. */
static int xport_give(const struct pf_xport_ops *u, struct pf_xport *x, uint32_t conn,
		      struct xport_result *res)
{
	struct pf_xport_event ev[EV_MAX];
	uint64_t deadline = now_ns() + WAIT_NS;
	uint32_t sent = 0;

	while (now_ns() < deadline) {
		int n, r = 0;

		while (sent < FRAMES && r == 0) {
			struct iovec iov = {src + (size_t)sent * CHUNK_BYTES, CHUNK_BYTES};

			r = u->send(x, conn, &iov, 1, sent);
			sent += r == 0;
		}
		if (r < 0 && r != -EAGAIN)
			return r;
		n = u->poll(x, ev, EV_MAX, 10 * MS);
		if (n < 0)
			return n;
		for (int i = 0; i < n; i++) {
			if (ev[i].type == PF_XPORT_EV_CLOSED && ev[i].error == 0)
				return res->frames == FRAMES ? 0 : -EPIPE; /* an early end */
			if (ev[i].type == PF_XPORT_EV_CLOSED)
				return ev[i].error;
			if (ev[i].type != PF_XPORT_EV_SENT)
				continue;
			if (ev[i].error < 0 || ev[i].cookie != res->frames)
				return ev[i].error < 0 ? ev[i].error : -EPROTO;
			res->frames++;
			res->bytes += CHUNK_BYTES;
		}
	}
	return -ETIMEDOUT;
}

/* Child, side 0: connect to addr[1] at the port read from port_r, send, report on wfd. */
static _Noreturn void xport_sender(int port_r, int wfd)
{
	const struct pf_xport_ops *u = pf_xport_find("uring");
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr = pair.in[1]};
	struct xport_result res = {0};
	struct pf_xport *x = NULL;
	uint64_t t0 = 0;
	uint32_t conn = 0;
	uint16_t port = 0;
	int r = netns_enter(&pair, 0);

	if (read(port_r, &port, sizeof(port)) != sizeof(port) || port == 0)
		_exit(4);
	a.sin_port = htons(port);
	if (r == 0)
		r = u->create(NULL, &x);
	t0 = now_ns();
	if (r == 0)
		r = u->connect(x, (struct sockaddr *)&a, sizeof(a), 1, &conn);
	if (r == 0)
		r = xport_give(u, x, conn, &res);
	res.elapsed_ns = now_ns() - t0;
	res.err = r;
	u->destroy(x);
	_exit(write(wfd, &res, sizeof(res)) == sizeof(res) ? 0 : 6);
}

/* The transport across the pair: the nanoseconds the sender took, or 0 when io_uring is
 * unavailable here (said, not failed: the plain copy has checked the link). */
static uint64_t xport_copy(void)
{
	struct xport_result ra, rb;
	uint64_t deadline = now_ns() + WAIT_NS;
	int port[2], fa[2], fb[2];
	pid_t a, b;

	CHECK(pf_xport_find("uring") != NULL);
	CHECK(pipe2(port, O_CLOEXEC) == 0 && pipe2(fa, O_CLOEXEC) == 0 &&
	      pipe2(fb, O_CLOEXEC) == 0);
	b = fork_child();
	if (b == 0)
		xport_receiver(port[1], fb[1]);
	a = fork_child();
	if (a == 0) {
		(void)close(port[1]); /* so that a receiver gone early reads as EOF */
		xport_sender(port[0], fa[1]);
	}
	(void)close(port[0]);
	(void)close(port[1]);
	(void)close(fa[1]);
	(void)close(fb[1]);
	read_exact(fb[0], &rb, sizeof(rb), deadline);
	if (rb.err == -ENOSYS || rb.err == -EPERM) {
		printf("# io_uring unavailable here (%s): the transport copy is not checked\n",
		       strerror(-rb.err));
		(void)kill(a, SIGKILL);
		(void)wait_exit(a, deadline);
		CHECK(wait_exit(b, deadline) == 0);
		return 0;
	}
	if (rb.err != 0)
		fprintf(stderr, "transport receiver: %s\n", strerror(-rb.err));
	read_exact(fa[0], &ra, sizeof(ra), deadline);
	if (ra.err != 0)
		fprintf(stderr, "transport sender: %s\n", strerror(-ra.err));
	CHECK(ra.err == 0 && rb.err == 0);
	CHECK(ra.frames == FRAMES && ra.bytes == COPY_BYTES);
	CHECK(rb.frames == FRAMES && rb.bytes == COPY_BYTES);
	CHECK(rb.hash == src_hash);
	CHECK(wait_exit(a, deadline) == 0 && wait_exit(b, deadline) == 0);
	for (int i = 0; i < 2; i++)
		(void)close(i == 0 ? fa[0] : fb[0]);
	return ra.elapsed_ns;
}

/* ---- what a pair leaves ------------------------------------------------------------------ */

struct ns_ids {
	char name[2][NETNS_NAME_BYTES];
	char ifname[2][NETNS_IFNAME_BYTES];
	ino_t ino[2];
};

static struct ns_ids ids_of(const struct netns_pair *p)
{
	struct ns_ids id;
	char path[128];
	struct stat st;

	memcpy(id.name, p->name, sizeof(id.name));
	memcpy(id.ifname, p->ifname, sizeof(id.ifname));
	for (int i = 0; i < 2; i++) {
		(void)snprintf(path, sizeof(path), "/run/netns/%s", p->name[i]);
		CHECK(stat(path, &st) == 0);
		id.ino[i] = st.st_ino;
	}
	return id;
}

static bool names_present(const struct ns_ids *id)
{
	char path[128];
	struct stat st;

	for (int i = 0; i < 2; i++) {
		(void)snprintf(path, sizeof(path), "/run/netns/%s", id->name[i]);
		if (stat(path, &st) == 0)
			return true;
	}
	return false;
}

static bool ip_lists(const struct ns_ids *id)
{
	char line[512];
	bool found = false;
	FILE *f = popen("ip netns list 2>/dev/null", "r");

	CHECK(f != NULL);
	while (fgets(line, sizeof(line), f) != NULL)
		for (int i = 0; i < 2; i++)
			found = found || strncmp(line, id->name[i], strlen(id->name[i])) == 0;
	(void)pclose(f);
	return found;
}

/* Does link at path (a /proc ns or fd entry) name one of the namespaces? */
static bool link_is(const char *path, const struct ns_ids *id)
{
	char target[64];
	ssize_t n = readlink(path, target, sizeof(target) - 1);

	if (n <= 0)
		return false;
	target[n] = '\0';
	for (int i = 0; i < 2; i++) {
		char want[64];

		(void)snprintf(want, sizeof(want), "net:[%lu]", (unsigned long)id->ino[i]);
		if (strcmp(target, want) == 0)
			return true;
	}
	return false;
}

/* Does any entry of /proc/<pid>/<sub>/ (its threads' ns/net, or its fds) name one? */
static bool dir_holds(const char *pid, const char *sub, const char *leaf, const struct ns_ids *id)
{
	char path[512];
	struct dirent *e;
	bool held = false;
	DIR *d;

	(void)snprintf(path, sizeof(path), "/proc/%s/%s", pid, sub);
	d = opendir(path);
	while (d != NULL && !held && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		(void)snprintf(path, sizeof(path), "/proc/%s/%s/%s%s", pid, sub, e->d_name, leaf);
		held = link_is(path, id);
	}
	if (d != NULL)
		(void)closedir(d);
	return held;
}

/* The pid of a process that is inside a namespace of id or holds one open; 0: none. */
static int holder(const struct ns_ids *id)
{
	struct dirent *e;
	int found = 0;
	DIR *d = opendir("/proc");

	CHECK(d != NULL);
	while (found == 0 && (e = readdir(d)) != NULL) {
		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		if (dir_holds(e->d_name, "task", "/ns/net", id) ||
		    dir_holds(e->d_name, "fd", "", id))
			found = (int)strtol(e->d_name, NULL, 10);
	}
	(void)closedir(d);
	return found;
}

/* Reap what was reparented here (we are a subreaper), without waiting. */
static void reap_orphans(void)
{
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

/* Nothing of id is left: no name, no listing, no link here, no process in it, no fd of it.
 * Killed processes take a moment to end: retried until GONE_NS. */
static void check_gone(const struct ns_ids *id)
{
	uint64_t deadline = now_ns() + GONE_NS;
	int pid = 0;
	bool names = true, listed = true, links = true;

	for (; now_ns() < deadline; test_sleep_ns(5 * MS)) {
		reap_orphans();
		names = names_present(id);
		listed = ip_lists(id);
		links = if_nametoindex(id->ifname[0]) != 0 || if_nametoindex(id->ifname[1]) != 0;
		pid = holder(id);
		if (!names && !listed && !links && pid == 0)
			return;
	}
	fprintf(stderr, "%s / %s left: name %d, listed %d, veth here %d, held by pid %d\n",
		id->name[0], id->name[1], names, listed, links, pid);
	exit(1);
}

/* Every child of this test, and what was reparented here, has ended (and is reaped). */
static void check_no_children(void)
{
	uint64_t deadline = now_ns() + GONE_NS;
	pid_t got;

	while ((got = waitpid(-1, NULL, WNOHANG)) >= 0) {
		CHECK(now_ns() < deadline);
		if (got == 0)
			test_sleep_ns(MS);
	}
	CHECK(errno == ECHILD);
}

/* ---- owners killed ---------------------------------------------------------------------- */

struct owner_report {
	struct netns_pair p;
	pid_t sleeper; /* a process the owner left inside side 1 */
	int r;
};

/* Child: create a pair, start a sleeper in side 1, report, wait to be killed. */
static _Noreturn void owner(int wfd)
{
	char *argv[] = {"/bin/sleep", "60", NULL};
	struct owner_report rep;

	memset(&rep, 0, sizeof(rep));
	rep.r = netns_pair_create(&rep.p);
	if (rep.r == 0)
		rep.sleeper = netns_spawn(&rep.p, 1, argv, "/dev/null");
	if (write(wfd, &rep, sizeof(rep)) != sizeof(rep))
		_exit(4);
	for (;;)
		(void)pause();
}

/* An owner killed by SIGKILL with its pair and a process inside: its reaper removes it all;
 * with the reaper killed first, the next netns_pair_create() does. */
static void owner_killed(bool reaper_too)
{
	uint64_t deadline = now_ns() + WAIT_NS;
	struct owner_report rep;
	struct netns_pair q;
	struct ns_ids id;
	int fds[2];
	pid_t pid;

	CHECK(pipe2(fds, O_CLOEXEC) == 0);
	pid = fork_child();
	if (pid == 0)
		owner(fds[1]);
	(void)close(fds[1]);
	read_exact(fds[0], &rep, sizeof(rep), deadline);
	(void)close(fds[0]);
	CHECK(rep.r == 0 && rep.sleeper > 0);
	id = ids_of(&rep.p);
	if (reaper_too)
		CHECK(kill(rep.p.reaper, SIGKILL) == 0);
	CHECK(kill(pid, SIGKILL) == 0);
	CHECK(wait_exit(pid, deadline) == 128 + SIGKILL);
	if (reaper_too) {
		test_sleep_ns(50 * MS);
		CHECK(names_present(&id) && kill(rep.sleeper, 0) == 0); /* stale, not yet swept */
		CHECK(netns_pair_create(&q) == 0);
		CHECK(!names_present(&id)); /* the sweep ran before create returned */
		struct ns_ids qid = ids_of(&q);

		netns_pair_destroy(&q);
		check_gone(&qid);
	}
	check_gone(&id);
	while (kill(rep.sleeper, 0) == 0 && now_ns() < deadline) {
		reap_orphans();
		test_sleep_ns(MS);
	}
	CHECK(kill(rep.sleeper, 0) < 0 && errno == ESRCH);
	printf("# owner killed%s: %s and %s removed, the process inside killed\n",
	       reaper_too ? " with its reaper" : "", id.name[0], id.name[1]);
}

/* ---- main ---------------------------------------------------------------------------------- */

/* A program spawned into side 1 sees side 1's veth end and loopback, not side 0's. */
static void spawn_sees_its_side(void)
{
	char *argv[] = {"/bin/cat", "/proc/self/net/dev", NULL};
	char log[64], text[4096];
	ssize_t n;
	pid_t pid;
	int fd;

	(void)snprintf(log, sizeof(log), "/tmp/pft-netns-%d.log", (int)getpid());
	(void)unlink(log);
	pid = netns_spawn(&pair, 1, argv, log);
	CHECK(pid > 0);
	CHECK(wait_exit(pid, now_ns() + WAIT_NS) == 0);
	fd = open(log, O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0);
	n = read(fd, text, sizeof(text) - 1);
	(void)close(fd);
	(void)unlink(log);
	CHECK(n > 0);
	text[n] = '\0';
	CHECK(strstr(text, pair.ifname[1]) != NULL && strstr(text, "lo:") != NULL);
	CHECK(strstr(text, pair.ifname[0]) == NULL);
	/* Negative space: no third side. */
	CHECK(netns_spawn(&pair, 2, argv, log) == -EINVAL);
	CHECK(netns_enter(&pair, -1) == -EINVAL);
	CHECK(netns_socket(&pair, 2, AF_INET, SOCK_STREAM, 0) == -EINVAL);
}

static double mib_per_s(uint64_t ns)
{
	return ns == 0 ? 0.0 : (double)COPY_BYTES / (1 << 20) / ((double)ns / 1e9);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The plain copy over the veth and over loopback, alternating; one JSON line. */
static void measure(uint64_t xport_ns)
{
	uint64_t veth[COPY_RUNS], lo[COPY_RUNS];

	for (int i = 0; i < COPY_RUNS; i++) {
		veth[i] = copy_once(true);
		lo[i] = copy_once(false);
	}
	qsort(veth, COPY_RUNS, sizeof(veth[0]), cmp_u64);
	qsort(lo, COPY_RUNS, sizeof(lo[0]), cmp_u64);
	printf("{\"test\": \"netns\", \"bytes\": %u, \"write_bytes\": %u, \"runs\": %d, ",
	       COPY_BYTES, CHUNK_BYTES, COPY_RUNS);
	printf("\"veth_mib_per_s\": [%.0f, %.0f, %.0f], ", mib_per_s(veth[0]), mib_per_s(veth[1]),
	       mib_per_s(veth[2]));
	printf("\"loopback_mib_per_s\": [%.0f, %.0f, %.0f], ", mib_per_s(lo[0]), mib_per_s(lo[1]),
	       mib_per_s(lo[2]));
	printf("\"veth_mib_per_s_median\": %.0f, \"loopback_mib_per_s_median\": %.0f, ",
	       mib_per_s(veth[1]), mib_per_s(lo[1]));
	printf("\"xport_uring_veth_mib_per_s\": %.0f}\n", mib_per_s(xport_ns));
}

int main(void)
{
	char *sleep_argv[] = {"/bin/sleep", "60", NULL};
	uint64_t seed = 0x9e3779b97f4a7c15ull, xport_ns;
	struct ns_ids id;
	pid_t sleeper;
	int r;

	(void)signal(SIGPIPE, SIG_IGN);
	CHECK(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
	src = malloc(COPY_BYTES);
	CHECK(src != NULL);
	for (size_t i = 0; i < COPY_BYTES / 8; i++) {
		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		memcpy(src + i * 8, &seed, 8);
	}
	src_hash = XXH3_64bits(src, COPY_BYTES);
	r = netns_pair_create(&pair);
	if (r == -EPERM || r == -ENOTSUP) {
		printf("SKIP: network namespaces with veth %s here: %s\n",
		       r == -EPERM ? "not permitted" : "not supported", pair.why);
		return 77;
	}
	if (r < 0)
		fprintf(stderr, "netns_pair_create: %s: %s\n", strerror(-r), pair.why);
	CHECK(r == 0);
	CHECK(atexit(cleanup) == 0);
	printf("# %s %s %s <-> %s %s %s\n", pair.name[0], pair.ifname[0], pair.addr[0],
	       pair.name[1], pair.ifname[1], pair.addr[1]);
	spawn_sees_its_side();
	xport_ns = xport_copy();
	measure(xport_ns);
	id = ids_of(&pair);
	sleeper = netns_spawn(&pair, 0, sleep_argv, "/dev/null");
	CHECK(sleeper > 0);
	for (uint64_t end = now_ns() + WAIT_NS; holder(&id) != sleeper; test_sleep_ns(MS))
		CHECK(now_ns() < end); /* what check_gone() looks for is seen while it is there */
	/* Destroy kills what is left inside, and is idempotent. */
	netns_pair_destroy(&pair);
	netns_pair_destroy(&pair);
	CHECK(wait_exit(sleeper, now_ns() + GONE_NS) == 128 + SIGKILL);
	check_gone(&id);
	owner_killed(false);
	owner_killed(true);
	CHECK(netns_sweep_stale() == 0);
	check_no_children();
	free(src);
	return 0;
}
