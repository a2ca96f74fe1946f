/* SPDX-License-Identifier: MIT */
/*
 * tests/common/netns.c: see netns.h.
 *
 * Why `ip` (iproute2) builds the pair. A named namespace is an unshare(CLONE_NEWNET) in a
 * helper, a bind mount of its ns file under /run/netns, and /run/netns made a shared mount
 * so that every mount namespace sees the name; the veth, its addresses and the links going
 * up are rtnetlink messages, a few hundred lines of attribute packing. iproute2 does all of
 * it, is installed wherever these tests run (Debian's iproute2), and what it makes is what
 * `ip netns list`, `ip netns exec` and `ip netns pids` show to a person debugging a run. A
 * pair costs about ten short `ip` processes (tens of milliseconds), once per test. What must
 * happen in the caller's own thread (entering a namespace, opening a socket in one, the
 * readiness check) uses setns(2) directly.
 *
 * Names. pft-<pid>-<start>-<seq>-a and -b, where start is the owner's start time (clock
 * ticks since boot, field 22 of /proc/<pid>/stat): a pid taken by another process after the
 * owner died does not keep a stale pair alive. The veth ends are created inside their
 * namespaces (`ip link add ... netns`), so they never appear in the caller's namespace.
 *
 * Addresses. 10.0.0.0/8 holds 2^22 /30s, and a Linux pid is below PID_MAX_LIMIT, 2^22 on
 * 64-bit: the first pair of a process takes /30 number pid, so no two live processes share
 * one (pid 4660 gets 10.0.72.208/30: .209 and .210). Later pairs of one process step by an
 * odd multiplier (a permutation modulo 2^22) and may meet another process's /30. That is
 * harmless: a pair's addresses exist only in its own two namespaces, where no route leads
 * out; the choice keeps logs and packet captures of parallel runs apart.
 *
 * The reaper. Before the namespaces exist, create forks `sh` in a session of its own
 * (meson's timeout kills the test's process group, not the reaper) reading a pipe whose
 * other end only the creator holds: a pthread_atfork() handler closes it in every forked
 * child, and it is close-on-exec. When the creator ends, however it ends, the read returns
 * and the same script destroy and the sweep run removes the pair: kill what runs inside,
 * then `ip netns del` both names. destroy just closes the pipe and waits for the reaper
 * (and runs the script itself should the reaper be gone).
 *
 * Ready. The veth reports carrier (IFF_RUNNING) on both ends, then a TCP connect from side
 * 0 to side 1 completes: packets cross, neighbours resolved.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/common/netns.h"

#define RUN_NETNS "/run/netns"
#define SH_PATH "/bin/sh"
#define SWEEP_MAX 64            /* stale names removed per sweep: one sh command line */
#define ADDR_SLOTS (1u << 22)   /* /30s in 10.0.0.0/8; also PID_MAX_LIMIT on 64-bit Linux */
#define ADDR_STRIDE 2654435761u /* odd: seq -> slot is a permutation modulo ADDR_SLOTS */
#define REAPER_WAIT_NS (5ull * 1000000000ull) /* its script takes milliseconds */

/*
 * Removes pairs: `sh -c SCRIPT sh IP SELF NAME...`. It first waits for its stdin to end (the
 * reaper's pipe; /dev/null for destroy's fallback and the sweep), then, for each name,
 * kills every process inside but SELF and deletes the name.
 */
static char clean_script[] = "read -r _; ip=$1; self=$2; shift 2; for n in \"$@\"; do "
			     "for q in $(\"$ip\" netns pids \"$n\" 2>/dev/null); do "
			     "[ \"$q\" = \"$self\" ] || kill -9 \"$q\" 2>/dev/null; done; "
			     "\"$ip\" netns del \"$n\" 2>/dev/null; done; exit 0";

static unsigned seq_next;               /* pairs created by this process */
static int reaper_fds[NETNS_PAIRS_MAX]; /* fd + 1 of each live pair's pipe; 0: free */
static bool atfork_registered;

static uint64_t now_ns(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void nap_1ms(void)
{
	struct timespec ts = {0, 1000000};

	(void)nanosleep(&ts, NULL);
}

/* In every forked child: the pipes are the creator's alone, so that a reaper sees its end
 * when the creator ends, whatever children outlive it. Async-signal-safe. */
static void close_reaper_fds(void)
{
	for (int i = 0; i < NETNS_PAIRS_MAX; i++) {
		if (reaper_fds[i] > 0)
			(void)close(reaper_fds[i] - 1);
		reaper_fds[i] = 0;
	}
}

static const char *ip_path(void)
{
	static const char *const paths[] = {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"};

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (access(paths[i], X_OK) == 0)
			return paths[i];
	return NULL;
}

/* ---- running commands --------------------------------------------------------------- */

/* Read fd to its end; the first bytes - 1 into buf, NUL-terminated. */
static void read_all(int fd, char *buf, size_t bytes)
{
	char scratch[256];
	size_t len = 0;

	for (;;) {
		bool room = len + 1 < bytes;
		ssize_t n = read(fd, room ? buf + len : scratch,
				 room ? bytes - 1 - len : sizeof(scratch));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (room)
			len += (size_t)n;
	}
	buf[len] = '\0';
}

static int wait_child(pid_t pid, int *ret_status)
{
	while (waitpid(pid, ret_status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

/* What a failed command said: -EPERM when refused, -ENOTSUP when it could not run, -EIO. */
static int cmd_failed(struct netns_pair *p, char *const argv[], int status, char *err)
{
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);

	int n = 0;

	err[strcspn(err, "\n")] = '\0';
	if (p != NULL)
		n = snprintf(p->why, sizeof(p->why), "%s %s %s %s: exit %d: %s", argv[0], argv[1],
			     argv[2] != NULL ? argv[2] : "",
			     argv[2] != NULL && argv[3] != NULL ? argv[3] : "", code, err);
	if (n >= (int)sizeof(p->why)) /* cut: say so */
		memcpy(p->why + sizeof(p->why) - 4, "...", 4);
	if (strstr(err, "Operation not permitted") != NULL ||
	    strstr(err, "Permission denied") != NULL ||
	    strstr(err, "Read-only file system") != NULL)
		return -EPERM; /* refused here, as unshare(2) refusing is */
	return code == 127 ? -ENOTSUP : -EIO;
}

/* Run argv (argv[0] a path; in a namespace of its own when fresh_netns) with stdin and
 * stdout on /dev/null, and wait. 0 when it exited 0; see cmd_failed() otherwise. */
static int run(struct netns_pair *p, char *const argv[], bool fresh_netns)
{
	char err[NETNS_WHY_BYTES];
	int fds[2], null_fd, status = 0, r;
	pid_t pid = -1;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null_fd >= 0)
		pid = fork();
	if (pid == 0) {
		if ((fresh_netns && unshare(CLONE_NEWNET) < 0) || dup2(null_fd, 0) < 0 ||
		    dup2(null_fd, 1) < 0 || dup2(fds[1], 2) < 0)
			_exit(126);
		execv(argv[0], argv);
		_exit(127);
	}
	r = pid < 0 ? -errno : 0;
	(void)close(fds[1]);
	if (null_fd >= 0)
		(void)close(null_fd);
	read_all(fds[0], err, sizeof(err));
	(void)close(fds[0]);
	if (r == 0)
		r = wait_child(pid, &status);
	if (r < 0)
		return r;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	return cmd_failed(p, argv, status, err);
}

/* Run the clean script over names (stdin /dev/null: it does not wait). */
static int clean(struct netns_pair *p, const char *ip, char *const names[], unsigned count)
{
	char self[16];
	char *argv[6 + SWEEP_MAX] = {SH_PATH, "-c", clean_script, "pft-clean", (char *)ip, self};

	if (count > SWEEP_MAX)
		return -EINVAL;
	(void)snprintf(self, sizeof(self), "%d", (int)getpid());
	for (unsigned i = 0; i < count; i++)
		argv[6 + i] = names[i];
	argv[6 + count] = NULL;
	return run(p, argv, false);
}

/* ---- probing ------------------------------------------------------------------------ */

/* May this process make network namespaces, and does the kernel have veth? */
static int probe(struct netns_pair *p, const char *ip)
{
	char *argv[] = {(char *)ip, "link", "add",  "pfprobe0", "type",
			"veth",     "peer", "name", "pfprobe1", NULL};
	int status = 0, r;
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0)
		_exit(unshare(CLONE_NEWNET) < 0 ? errno : 0);
	r = wait_child(pid, &status);
	if (r < 0)
		return r;
	r = WIFEXITED(status) ? WEXITSTATUS(status) : EIO;
	if (r != 0) {
		(void)snprintf(p->why, sizeof(p->why), "unshare(CLONE_NEWNET): %s", strerror(r));
		if (r == EPERM || r == EACCES)
			return -EPERM;
		return r == EINVAL || r == ENOSYS ? -ENOTSUP : -r; /* no CONFIG_NET_NS */
	}
	/* In a throwaway namespace of the child's own: the veth goes with it. */
	r = run(p, argv, true);
	return r == 0 || r == -EPERM ? r : -ENOTSUP;
}

/* ---- names and owners ----------------------------------------------------------------- */

/* Start time (clock ticks since boot) and state letter of process pid: 0, -ENOENT (no such
 * process) or -EIO (unreadable). */
static int proc_stat_of(pid_t pid, unsigned long long *ret_start, char *ret_state)
{
	char path[64], buf[1024], *s;
	ssize_t n;
	int fd;

	(void)snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ESRCH ? -ENOENT : -EIO;
	n = read(fd, buf, sizeof(buf) - 1);
	(void)close(fd);
	if (n <= 0)
		return n == 0 || errno == ESRCH ? -ENOENT : -EIO;
	buf[n] = '\0';
	s = strrchr(buf, ')'); /* the name in parentheses may hold anything */
	if (s == NULL || s[1] != ' ')
		return -EIO;
	s += 2;
	*ret_state = s[0];
	for (int field = 3; field < 22; field++) {
		s = strchr(s, ' ');
		if (s == NULL)
			return -EIO;
		s++;
	}
	*ret_start = strtoull(s, NULL, 10);
	return 0;
}

/* A pair name of this scheme whose owner is gone (exited, a zombie, or its pid reused). */
static bool name_is_stale(const char *name)
{
	char canon[NETNS_NAME_BYTES], side = 0, state = 0;
	unsigned long long start = 0, now_start = 0;
	unsigned seq = 0;
	int pid = 0, end = 0, n, r;

	if (sscanf(name, "pft-%d-%llu-%u-%c%n", &pid, &start, &seq, &side, &end) != 4 ||
	    name[end] != '\0' || pid <= 0 || (side != 'a' && side != 'b'))
		return false;
	n = snprintf(canon, sizeof(canon), "pft-%d-%llu-%u-%c", pid, start, seq, side);
	if (n < 0 || (size_t)n >= sizeof(canon) || strcmp(canon, name) != 0)
		return false;
	r = proc_stat_of(pid, &now_start, &state);
	if (r == -ENOENT)
		return true;
	return r == 0 && (now_start != start || state == 'Z' || state == 'X');
}

static int pair_names(struct netns_pair *p)
{
	unsigned long long start = 0;
	pid_t self = getpid();
	uint32_t slot, base;
	char state;
	int r = proc_stat_of(self, &start, &state);

	if (r < 0)
		return r;
	if (seq_next >= NETNS_SEQ_MAX)
		return -ENOSPC;
	for (int i = 0; i < 2; i++) {
		int a = snprintf(p->name[i], sizeof(p->name[i]), "pft-%d-%llu-%u-%c", (int)self,
				 start, seq_next, 'a' + i);
		int b = snprintf(p->ifname[i], sizeof(p->ifname[i]), "pfv%d-%u%c", (int)self,
				 seq_next, 'a' + i);

		if (a < 0 || (size_t)a >= sizeof(p->name[i]) || b < 0 ||
		    (size_t)b >= sizeof(p->ifname[i]))
			return -ENAMETOOLONG;
	}
	slot = ((uint32_t)self + seq_next * ADDR_STRIDE) % ADDR_SLOTS;
	base = 0x0a000000u | slot << 2;
	for (int i = 0; i < 2; i++) {
		p->in[i].s_addr = htonl(base + 1u + (uint32_t)i);
		if (inet_ntop(AF_INET, &p->in[i], p->addr[i], sizeof(p->addr[i])) == NULL)
			return -errno;
	}
	seq_next++;
	return 0;
}

int netns_sweep_stale(void)
{
	char found[SWEEP_MAX][NETNS_NAME_BYTES], *names[SWEEP_MAX];
	const char *ip = ip_path();
	unsigned count = 0;
	struct dirent *e;
	DIR *d;
	int r;

	if (ip == NULL)
		return -ENOTSUP;
	d = opendir(RUN_NETNS);
	if (d == NULL)
		return errno == ENOENT ? 0 : -errno;
	while (count < SWEEP_MAX && (e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);

		if (len < NETNS_NAME_BYTES && name_is_stale(e->d_name)) {
			memcpy(found[count], e->d_name, len + 1);
			names[count] = found[count];
			count++;
		}
	}
	(void)closedir(d);
	if (count == 0)
		return 0;
	r = clean(NULL, ip, names, count);
	return r < 0 ? r : (int)count;
}

/* ---- the reaper ---------------------------------------------------------------------- */

static int reaper_slot(void)
{
	for (int i = 0; i < NETNS_PAIRS_MAX; i++)
		if (reaper_fds[i] == 0)
			return i;
	return -1;
}

static int reaper_start(struct netns_pair *p, const char *ip)
{
	char self[16];
	char *argv[] = {SH_PATH, "-c",       clean_script, "pft-reaper", (char *)ip,
			self,    p->name[0], p->name[1],   NULL};
	int fds[2], null_fd, slot = reaper_slot(), r;
	pid_t pid = -1;

	if (slot < 0)
		return -ENOSPC;
	(void)snprintf(self, sizeof(self), "%d", (int)getpid());
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null_fd >= 0)
		pid = fork();
	if (pid == 0) {
		/* A session of its own: a kill of the test's process group spares it. */
		if (setsid() < 0 || dup2(fds[0], 0) < 0 || dup2(null_fd, 1) < 0 ||
		    dup2(null_fd, 2) < 0)
			_exit(126);
		(void)close_range(3, ~0u, 0); /* holds nothing of the test's open */
		execv(SH_PATH, argv);
		_exit(127);
	}
	r = pid < 0 ? -errno : 0;
	(void)close(fds[0]);
	if (null_fd >= 0)
		(void)close(null_fd);
	if (r < 0) {
		(void)close(fds[1]);
		return r;
	}
	p->reaper = pid;
	p->reaper_fd = fds[1];
	reaper_fds[slot] = fds[1] + 1;
	return 0;
}

/* Let the reaper go and wait for it: true when it ran its script to the end. */
static bool reaper_stop(struct netns_pair *p)
{
	uint64_t deadline = now_ns() + REAPER_WAIT_NS;
	int status = 0;
	pid_t got;

	for (int i = 0; i < NETNS_PAIRS_MAX; i++)
		if (reaper_fds[i] == p->reaper_fd + 1)
			reaper_fds[i] = 0;
	if (p->reaper_fd >= 0)
		(void)close(p->reaper_fd);
	p->reaper_fd = -1;
	if (p->reaper <= 0)
		return false;
	while ((got = waitpid(p->reaper, &status, WNOHANG)) == 0 && now_ns() < deadline)
		nap_1ms();
	if (got == 0) { /* something still holds the pipe: the script runs here instead */
		(void)kill(p->reaper, SIGKILL);
		(void)waitpid(p->reaper, &status, 0);
	}
	p->reaper = -1;
	return got > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* ---- namespaces ------------------------------------------------------------------------ */

static int ns_path(const struct netns_pair *p, int side, char *buf, size_t bytes)
{
	int n;

	if (p == NULL || (side != 0 && side != 1) || p->name[side][0] == '\0')
		return -EINVAL;
	n = snprintf(buf, bytes, RUN_NETNS "/%s", p->name[side]);
	return n < 0 || (size_t)n >= bytes ? -ENAMETOOLONG : 0;
}

/* Async-signal-safe: what a forked child may call. */
static int enter_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), r;

	if (fd < 0)
		return -errno;
	r = setns(fd, CLONE_NEWNET) < 0 ? -errno : 0;
	(void)close(fd);
	return r;
}

int netns_enter(const struct netns_pair *p, int side)
{
	char path[sizeof(RUN_NETNS) + NETNS_NAME_BYTES];
	int r = ns_path(p, side, path, sizeof(path));

	return r < 0 ? r : enter_path(path);
}

int netns_save(void)
{
	int fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

int netns_restore(int fd)
{
	int r;

	if (fd < 0)
		return -EBADF;
	r = setns(fd, CLONE_NEWNET) < 0 ? -errno : 0;
	(void)close(fd);
	return r;
}

int netns_socket(const struct netns_pair *p, int side, int domain, int type, int protocol)
{
	int saved, fd, r;

	if (p == NULL || (side != 0 && side != 1))
		return -EINVAL;
	saved = netns_save();
	if (saved < 0)
		return saved;
	fd = netns_enter(p, side);
	if (fd == 0) {
		fd = socket(domain, type, protocol);
		if (fd < 0)
			fd = -errno;
	}
	r = netns_restore(saved);
	if (r < 0 && fd >= 0)
		(void)close(fd);
	return r < 0 ? r : fd;
}

pid_t netns_spawn(const struct netns_pair *p, int side, char *const argv[], const char *log)
{
	char path[sizeof(RUN_NETNS) + NETNS_NAME_BYTES];
	int r = ns_path(p, side, path, sizeof(path));
	pid_t pid;

	if (r < 0 || argv == NULL || argv[0] == NULL)
		return r < 0 ? r : -EINVAL;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int fd;

		if (enter_path(path) < 0)
			_exit(126);
		if (log != NULL) {
			fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
			if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
				_exit(127);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

/* ---- the link ----------------------------------------------------------------------------- */

static int configure(struct netns_pair *p, const char *ip)
{
	char cidr[2][NETNS_ADDR_BYTES + 4], *x = (char *)ip;

	for (int i = 0; i < 2; i++)
		(void)snprintf(cidr[i], sizeof(cidr[i]), "%s/%d", p->addr[i], NETNS_PREFIX_LEN);
	char *const cmds[][14] = {
		{x, "netns", "add", p->name[0], NULL},
		{x, "netns", "add", p->name[1], NULL},
		{x, "link", "add", p->ifname[0], "netns", p->name[0], "type", "veth", "peer",
		 "name", p->ifname[1], "netns", p->name[1], NULL},
		{x, "-n", p->name[0], "addr", "add", cidr[0], "dev", p->ifname[0], NULL},
		{x, "-n", p->name[1], "addr", "add", cidr[1], "dev", p->ifname[1], NULL},
		{x, "-n", p->name[0], "link", "set", "lo", "up", NULL},
		{x, "-n", p->name[1], "link", "set", "lo", "up", NULL},
		{x, "-n", p->name[0], "link", "set", p->ifname[0], "up", NULL},
		{x, "-n", p->name[1], "link", "set", p->ifname[1], "up", NULL},
	};

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		int r = run(p, cmds[i], false);

		if (r < 0)
			return r;
	}
	return 0;
}

/* 1 when side's veth end reports carrier, 0 not yet, or a negative errno. */
static int link_running(const struct netns_pair *p, int side)
{
	struct ifreq ifr;
	int fd = netns_socket(p, side, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r;

	if (fd < 0)
		return fd;
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, p->ifname[side], strlen(p->ifname[side]) + 1);
	r = ioctl(fd, SIOCGIFFLAGS, &ifr) < 0 ? -errno : (ifr.ifr_flags & IFF_RUNNING) != 0;
	(void)close(fd);
	return r;
}

static int wait_fd(int fd, short events, uint64_t deadline)
{
	struct pollfd pfd = {.fd = fd, .events = events};

	for (;;) {
		uint64_t now = now_ns();
		int n;

		if (now >= deadline)
			return -ETIMEDOUT;
		n = poll(&pfd, 1, (int)((deadline - now) / 1000000u) + 1);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

/* Connect fd (non-blocking) to a and wait until it is done: 0 or a negative errno. */
static int connect_wait(int fd, const struct sockaddr_in *a, uint64_t deadline)
{
	socklen_t len = sizeof(int);
	int err = 0, r;

	if (connect(fd, (const struct sockaddr *)a, sizeof(*a)) < 0 && errno != EINPROGRESS)
		return -errno;
	r = wait_fd(fd, POLLOUT, deadline);
	if (r == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return -errno;
	return r < 0 ? r : -err;
}

/* One TCP connection from side 0 to addr[1], accepted there. 0 or a negative errno. */
static int tcp_probe(const struct netns_pair *p, uint64_t deadline)
{
	const int type = SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr = p->in[1]};
	socklen_t len = sizeof(a);
	int l, c = -1, s = -1, r = 0;

	l = netns_socket(p, 1, AF_INET, type, 0);
	if (l < 0)
		return l;
	if (bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *)&a, &len) < 0)
		r = -errno;
	if (r == 0) {
		c = netns_socket(p, 0, AF_INET, type, 0);
		r = c < 0 ? c : connect_wait(c, &a, deadline);
	}
	if (r == 0)
		r = wait_fd(l, POLLIN, deadline);
	if (r == 0 && (s = accept4(l, NULL, NULL, SOCK_CLOEXEC)) < 0)
		r = -errno;
	if (s >= 0)
		(void)close(s);
	if (c >= 0)
		(void)close(c);
	(void)close(l);
	return r;
}

static int wait_ready(struct netns_pair *p)
{
	uint64_t deadline = now_ns() + NETNS_READY_TIMEOUT_NS;
	int r;

	do {
		r = link_running(p, 0);
		if (r == 1)
			r = link_running(p, 1);
		if (r == 1 && (r = tcp_probe(p, deadline)) == 0)
			return 0;
		nap_1ms();
	} while (now_ns() < deadline);
	(void)snprintf(p->why, sizeof(p->why), "%s <-> %s: %s", p->addr[0], p->addr[1],
		       r == 0 ? "no carrier" : strerror(-r));
	return -ETIMEDOUT;
}

int netns_pair_create(struct netns_pair *p)
{
	const char *ip = ip_path();
	int r;

	if (p == NULL)
		return -EINVAL;
	memset(p, 0, sizeof(*p));
	p->reaper = -1;
	p->reaper_fd = -1;
	if (ip == NULL || access(SH_PATH, X_OK) < 0) {
		(void)snprintf(p->why, sizeof(p->why), "no ip (iproute2) or %s here", SH_PATH);
		return -ENOTSUP;
	}
	r = probe(p, ip);
	if (r == 0)
		r = pair_names(p);
	if (r == 0 && !atfork_registered) {
		r = -pthread_atfork(NULL, NULL, close_reaper_fds);
		atfork_registered = r == 0;
	}
	if (r < 0)
		return r;
	(void)netns_sweep_stale();
	r = reaper_start(p, ip);
	if (r < 0) {
		(void)snprintf(p->why, sizeof(p->why), "reaper: %s", strerror(-r));
		return r;
	}
	p->owner = getpid();
	r = configure(p, ip);
	if (r == 0)
		r = wait_ready(p);
	if (r < 0)
		netns_pair_destroy(p); /* leaves why[] as it is */
	return r;
}

void netns_pair_destroy(struct netns_pair *p)
{
	const char *ip = ip_path();
	char *names[2];

	if (p == NULL || p->owner == 0 || p->owner != getpid())
		return;
	if (!reaper_stop(p) && ip != NULL) {
		names[0] = p->name[0];
		names[1] = p->name[1];
		(void)clean(NULL, ip, names, 2);
	}
	p->owner = 0;
}
