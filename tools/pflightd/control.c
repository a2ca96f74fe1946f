/* SPDX-License-Identifier: MIT */
/* tools/pflightd/control.c: the control socket (control.h). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "shm/pf_assert.h"
#include "shm/pf_compiler.h"
#include "tools/common/decimal.h"
#include "tools/pflightd/control.h"
#include "tools/pflightd/directory.h"
#include "tools/pflightd/daemon.h"
#include "tools/pflightd/log.h"

#define JOIN_PREFIX "join-token "
#define JOIN_PREFIX_BYTES (sizeof(JOIN_PREFIX) - 1u)
#define MIGRATE_PREFIX "migrate "
#define MIGRATE_PREFIX_BYTES (sizeof(MIGRATE_PREFIX) - 1u)
#define EXPORT_PREFIX "export "
#define EXPORT_PREFIX_BYTES (sizeof(EXPORT_PREFIX) - 1u)
#define FDS_MAX 4 /* descriptors one request may carry: one is used, the rest closed */
#define DRAIN_HOST_PREFIX "drain-host "
#define MIGRATE_HOST_PREFIX "migrate-host "
#define MIGRATE_HOST_PREFIX_BYTES (sizeof(MIGRATE_HOST_PREFIX) - 1u)
#define RUN_DIR "/run/pflight"
#define LISTENER UINT32_MAX /* epoll data of the listening socket; a connection's: its entry */
#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77 /* Linux 6.5; older headers lack it */
#endif

/* The default run directory, when the path is in it: create it (0755) if missing. */
static int make_run_dir(const char *path)
{
	if (strncmp(path, RUN_DIR "/", sizeof(RUN_DIR)) != 0 || strchr(path + sizeof(RUN_DIR), '/'))
		return 0;
	if (mkdir(RUN_DIR, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* The socket file's permissions: the segment's rw bits, and its group. */
static int set_access(const char *path, uint32_t mode, int32_t gid)
{
	mode_t m = (mode_t)(mode & 0666u) | S_IRUSR | S_IWUSR;

	if (gid >= 0)
		m |= S_IRGRP | S_IWGRP;
	if (chmod(path, m) < 0)
		return -errno;
	if (gid >= 0 && chown(path, (uid_t)-1, (gid_t)gid) < 0)
		return -errno;
	return 0;
}

/* What is at path before we bind, said in why: nothing (0), a socket of our uid that
 * nobody listens on, left by a daemon that died (removed, 0), or anything else, which is
 * not ours to remove: -EEXIST (not a socket), -EPERM (another uid's socket),
 * -EADDRINUSE (a process listens on it). */
static int clear_stale(const struct sockaddr_un *sa, char *why, size_t cap)
{
	struct stat st;
	int fd, r;

	if (lstat(sa->sun_path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		r = -errno;
		(void)snprintf(why, cap, "cannot look at it: %s", strerror(-r));
		return r;
	}
	if (!S_ISSOCK(st.st_mode)) {
		(void)snprintf(why, cap, "%s, not a socket: left alone",
			       S_ISREG(st.st_mode)   ? "a regular file"
			       : S_ISDIR(st.st_mode) ? "a directory"
			       : S_ISLNK(st.st_mode) ? "a symbolic link"
						     : "something");
		return -EEXIST;
	}
	if (st.st_uid != geteuid()) {
		(void)snprintf(why, cap,
			       "a socket of uid %u, which bound it first: left alone, and nothing "
			       "is served there",
			       (unsigned)st.st_uid);
		return -EPERM;
	}
	/* Non-blocking: a listener whose backlog is full answers EAGAIN, not a wait. */
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0 || errno == EAGAIN)
		r = -EADDRINUSE;
	else
		r = errno == ECONNREFUSED ? 0 : -errno;
	(void)close(fd);
	if (r == -EADDRINUSE)
		(void)snprintf(why, cap, "a process listens on it: another daemon?");
	else if (r < 0)
		(void)snprintf(why, cap, "cannot tell whether it is stale: %s", strerror(-r));
	else if (unlink(sa->sun_path) < 0 && errno != ENOENT)
		r = -errno;
	return r;
}

/* Remove the socket file, only while it is still the one we bound. */
static void unlink_ours(struct control *c)
{
	struct stat st;

	if (c->ino != 0 && lstat(c->path, &st) == 0 && S_ISSOCK(st.st_mode) &&
	    st.st_dev == c->dev && st.st_ino == c->ino)
		(void)unlink(c->path);
	c->ino = 0;
}

/* Bind and listen; note what we bound (unlink_ours()). */
static int bind_listen(struct control *c, const struct sockaddr_un *sa, char *why, size_t cap)
{
	struct stat st;
	int r = 0;

	if (bind(c->fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0) {
		r = -errno;
		(void)snprintf(why, cap, "cannot bind: %s", strerror(-r));
		return r;
	}
	if (lstat(c->path, &st) == 0 && S_ISSOCK(st.st_mode)) {
		c->dev = st.st_dev;
		c->ino = st.st_ino;
	}
	if (listen(c->fd, 16) < 0) {
		r = -errno;
		(void)snprintf(why, cap, "cannot listen: %s", strerror(-r));
	}
	return r;
}

/* The epoll descriptor the main loop polls, with the listening socket in it. */
static int poll_open(struct control *c, char *why, size_t cap)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = LISTENER};
	int r = 0;

	c->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (c->epfd < 0 || epoll_ctl(c->epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
		r = -errno;
		(void)snprintf(why, cap, "epoll: %s", strerror(-r));
	}
	return r;
}

int control_open(struct control *c, const char *path, uint32_t mode, int32_t gid, char *why,
		 size_t cap)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int n = snprintf(c->path, sizeof(c->path), "%s", path), r;

	c->fd = -1;
	c->epfd = -1;
	c->ino = 0;
	c->conns_count = 0;
	for (uint32_t i = 0; i < CONTROL_CONNS_MAX; i++)
		c->conns[i].fd = -1;
	(void)snprintf(why, cap, "%s", "");
	if (n < 0 || (size_t)n >= sizeof(c->path) || (size_t)n >= sizeof(sa.sun_path)) {
		c->path[0] = '\0';
		(void)snprintf(why, cap, "path too long for a socket");
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, c->path, (size_t)n + 1);
	r = make_run_dir(c->path);
	if (r == 0)
		r = clear_stale(&sa, why, cap);
	if (r == 0 &&
	    (c->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0)
		r = -errno;
	if (r == 0)
		r = bind_listen(c, &sa, why, cap);
	if (r == 0 && (r = set_access(c->path, mode, gid)) < 0)
		(void)snprintf(why, cap, "cannot set its mode or group: %s", strerror(-r));
	if (r == 0)
		r = poll_open(c, why, cap);
	if (r < 0) {
		if (why[0] == '\0')
			(void)snprintf(why, cap, "%s", strerror(-r));
		if (c->epfd >= 0)
			(void)close(c->epfd);
		if (c->fd >= 0)
			(void)close(c->fd);
		unlink_ours(c);
		c->fd = c->epfd = -1;
	}
	return r;
}

/* The protocol's word for a refusal (pflight/control.h), for the reply and the audit. */
static const char *refusal(int r)
{
	const char *word = pf_control_refusal_name(r);

	return word != NULL ? word : "error";
}

/* Field 22 of /proc/<pid>/stat: the start time in clock ticks since boot. */
static int start_time_of(pid_t pid, uint64_t *ret)
{
	char path[64], buf[1024], *p;
	unsigned long long st;
	FILE *f;

	(void)snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (f == NULL)
		return -ESRCH;
	p = fgets(buf, sizeof(buf), f);
	(void)fclose(f);
	p = p != NULL ? strrchr(buf, ')') : NULL; /* the name may hold spaces and ')' */
	for (int field = 2; field < 22 && p != NULL; field++)
		p = strchr(p + 1, ' ');
	if (p == NULL || sscanf(p + 1, "%llu", &st) != 1)
		return -ESRCH;
	*ret = st;
	return 0;
}

/* The peer's start time, read while a pidfd pins it: -ESRCH when it is gone. */
static int peer_start_time(int fd, const struct ucred *peer, uint64_t *ret)
{
	socklen_t len = sizeof(int);
	struct pollfd p = {.events = POLLIN};
	int pidfd = -1, r;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) < 0)
		pidfd = (int)syscall(SYS_pidfd_open, peer->pid, 0);
	if (pidfd < 0)
		return -ESRCH;
	r = start_time_of(peer->pid, ret);
	p.fd = pidfd;
	if (r == 0 && poll(&p, 1, 0) != 0)
		r = -ESRCH; /* a pidfd turns readable once its process exits */
	(void)close(pidfd);
	return r;
}

static void audit_token(struct control *c, const struct ucred *peer, int r,
			const struct pf_token_claims *cl)
{
	int k;

	if (r == 0)
		k = cmdq_record(
			c->to_auditor, "token_accepted", PF_AUDIT_NO_VNODE,
			"{\"peer_pid\":%d,\"peer_uid\":%u,\"trust_ppm\":%u,\"expires\":%llu,"
			"\"caps\":\"%s\"}",
			(int)peer->pid, (unsigned)peer->uid, cl->trust_ppm,
			(unsigned long long)cl->expires, cl->caps);
	else
		k = cmdq_record(c->to_auditor, "token_refused", PF_AUDIT_NO_VNODE,
				"{\"peer_pid\":%d,\"peer_uid\":%u,\"error\":\"%s\"}",
				(int)peer->pid, (unsigned)peer->uid, refusal(r));
	if (k < 0)
		log_msg(LOG_ERROR, "control: token decision for pid %d not audited",
			(int)peer->pid);
}

/* Check a presented token; 0 and the claims, or a negative errno (see refusal()). */
static int admit(struct control *c, const char *token, const struct ucred *peer,
		 struct pf_token_claims *cl)
{
	int r;

	memset(cl, 0, sizeof(*cl));
	cl->size = sizeof(*cl);
	r = pf_token_verify(c->pk, token, (uint64_t)time(NULL), cl);
	if (r == 0 && strcmp(cl->domain, c->domain_name) != 0)
		r = -EXDEV;
	if (r == 0 && cl->uid != PF_TOKEN_NO_UID && cl->uid != (uint32_t)peer->uid)
		r = -EACCES;
	if (r < 0)
		cl->caps[0] = '\0';
	return r;
}

/* Hand an accepted token to the conductor, for the peer's join. */
static int grant(struct control *c, int fd, const struct ucred *peer,
		 const struct pf_token_claims *cl)
{
	struct cmd m;
	int r;

	memset(&m, 0, sizeof(m));
	m.type = CMD_GRANT;
	m.pid = peer->pid;
	m.trust_ppm = cl->trust_ppm;
	m.expires = cl->expires;
	r = peer_start_time(fd, peer, &m.start_time);
	if (r < 0)
		return r;
	_Static_assert(sizeof(m.text) > sizeof(cl->caps), "a token's caps must fit a grant");
	(void)snprintf(m.text, sizeof(m.text), "%s", cl->caps);
	r = cmdq_send(c->to_conductor, &m);
	if (r < 0)
		log_msg(LOG_ERROR, "control: conductor queue full: grant for pid %d dropped",
			(int)peer->pid);
	return r;
}

static int reply_join(struct control *c, int fd, const char *token, const struct ucred *peer,
		      char *out, size_t cap)
{
	struct pf_token_claims cl;
	int r = admit(c, token, peer, &cl);

	if (r == 0)
		r = grant(c, fd, peer, &cl);
	audit_token(c, peer, r, &cl);
	if (r < 0) {
		c->refused++;
		return snprintf(out, cap, "{\"ok\":false,\"error\":\"%s\"}", refusal(r));
	}
	c->admitted++;
	return snprintf(out, cap,
			"{\"ok\":true,\"domain\":\"%s\",\"caps\":\"%s\",\"trust_ppm\":%u,"
			"\"expires\":%llu,\"peer_pid\":%d,\"peer_uid\":%u}",
			cl.domain, cl.caps, cl.trust_ppm, (unsigned long long)cl.expires,
			(int)peer->pid, (unsigned)peer->uid);
}

static int reply_status(struct control *c, char *out, size_t cap)
{
	struct pf_domain_info di = {.size = sizeof(di)};

	if (pf_domain_info(c->domain, &di) < 0)
		return snprintf(out, cap, "{\"ok\":false,\"error\":\"domain\"}");
	return snprintf(out, cap,
			"{\"ok\":true,\"domain\":\"%s\",\"pid\":%d,\"members_active\":%u,"
			"\"vnodes_active\":%u,\"vnodes_pending\":%u,\"membership_version\":%u,"
			"\"admitted\":%llu,\"refused\":%llu,\"migrates\":%llu}",
			c->domain_name, (int)getpid(), di.members_active, di.vnodes_active,
			di.vnodes_pending, di.membership_version, (unsigned long long)c->admitted,
			(unsigned long long)c->refused, (unsigned long long)c->mig.migrates);
}

/* "<vnode> <slot>": two decimal numbers and one space between them. */
static int parse_migrate(const char *args, uint32_t *vnode, uint32_t *slot)
{
	const char *sp = strchr(args, ' ');
	uint64_t v, s;

	if (sp == NULL || decimal_parse(args, (size_t)(sp - args), UINT32_MAX, &v) < 0 ||
	    decimal_parse(sp + 1, strlen(sp + 1), UINT32_MAX, &s) < 0)
		return -EINVAL;
	*vnode = (uint32_t)v;
	*slot = (uint32_t)s;
	return 0;
}

static int reply_migrate(struct control *c, const char *args, const struct ucred *peer, char *out,
			 size_t cap)
{
	struct migrate_outcome o;
	char by[64], by_log[64], esc[2 * MIGRATE_REASON_MAX];
	uint32_t vnode, slot;

	if (peer->uid != 0 && peer->uid != geteuid())
		return snprintf(out, cap,
				"{\"ok\":false,\"error\":\"forbidden\",\"reason\":\"only "
				"root and the daemon's own user may migrate\"}");
	if (parse_migrate(args, &vnode, &slot) < 0)
		return snprintf(out, cap,
				"{\"ok\":false,\"error\":\"usage\",\"reason\":\"migrate "
				"<vnode> <slot>\"}");
	(void)snprintf(by, sizeof(by), "\"by_uid\":%u,\"by_pid\":%d", (unsigned)peer->uid,
		       (int)peer->pid);
	(void)snprintf(by_log, sizeof(by_log), "control (uid %u)", (unsigned)peer->uid);
	if (migrate_ask(&c->mig, vnode, slot, by, by_log, &o) < 0) {
		json_escape(o.reason, esc, sizeof(esc));
		return snprintf(out, cap, "{\"ok\":false,\"error\":\"%s\",\"reason\":\"%s\"}",
				o.error, esc);
	}
	return snprintf(
		out, cap, "{\"ok\":true,\"vnode\":%u,\"from\":%d,\"to\":\"%u.%u\",\"epoch\":%llu}",
		vnode, (int)o.from, o.to_slot, o.to_generation, (unsigned long long)o.epoch);
}

static const char *const forbidden_fmt =
	"{\"ok\":false,\"error\":\"forbidden\",\"reason\":\"only root and the daemon's own "
	"user may %s\"}";

static int porter_reply(const struct porter_outcome *o, int imported, char *out, size_t cap)
{
	char esc[2 * PORTER_REASON_MAX];

	if (o->r < 0) {
		json_escape(o->reason, esc, sizeof(esc));
		return snprintf(out, cap, "{\"ok\":false,\"error\":\"%s\",\"reason\":\"%s\"}",
				o->error, esc);
	}
	return snprintf(out, cap,
			"{\"ok\":true,\"vnode\":%u,\"%s\":%llu,\"seq\":%llu,\"state_bytes\":%llu,"
			"\"messages\":%u,\"file_bytes\":%llu}",
			o->vnode, imported ? "epoch" : "packet_epoch", (unsigned long long)o->epoch,
			(unsigned long long)o->seq, (unsigned long long)o->state_bytes, o->messages,
			(unsigned long long)o->file_bytes);
}

/* "export <vnode>" with a writable descriptor, or "import" with a readable one. */
static int reply_porter(struct control *c, const char *req, int file, const struct ucred *peer,
			char *out, size_t cap)
{
	int import = strcmp(req, "import") == 0;
	struct porter_outcome o;
	char by[64];
	uint64_t v;

	if (peer->uid != 0 && peer->uid != geteuid())
		return snprintf(out, cap, forbidden_fmt, import ? "import" : "export");
	if (file < 0)
		return snprintf(out, cap,
				"{\"ok\":false,\"error\":\"usage\",\"reason\":\"the request "
				"carries no file descriptor\"}");
	if (!import && decimal_parse(req + EXPORT_PREFIX_BYTES, strlen(req + EXPORT_PREFIX_BYTES),
				     UINT32_MAX, &v) < 0)
		return snprintf(out, cap,
				"{\"ok\":false,\"error\":\"usage\",\"reason\":\"export <vnode>\"}");
	(void)snprintf(by, sizeof(by), "\"by_uid\":%u,\"by_pid\":%d", (unsigned)peer->uid,
		       (int)peer->pid);
	if (import)
		(void)porter_import(&c->porter, file, by, &o);
	else
		(void)porter_export(&c->porter, (uint32_t)v, file, by, &o);
	log_msg(o.r < 0 ? LOG_WARN : LOG_INFO, "control (uid %u): %s VNode %d: %s",
		(unsigned)peer->uid, import ? "import" : "export",
		o.vnode == UINT32_MAX ? -1 : (int)o.vnode, o.r < 0 ? o.reason : "done");
	return porter_reply(&o, import, out, cap);
}

/* "migrate-host <vnode> <peer>": queue the move for the host agent; the client follows the
 * VNode's state (REMOTE at the peer's index when it is done). */
static int reply_migrate_host(struct control *c, const char *args, int all,
			      const struct ucred *peer, char *out, size_t cap)
{
	const char *sp = strchr(args, ' ');
	struct cmd cmd = {.type = CMD_MIGRATE_HOST};
	uint64_t v = UINT32_MAX;
	int host;

	if (peer->uid != 0 && peer->uid != geteuid())
		return snprintf(out, cap, forbidden_fmt, "migrate");
	if (all)
		sp = args - 1; /* "drain-host <host>": every VNode */
	else if (sp == NULL || decimal_parse(args, (size_t)(sp - args), UINT32_MAX - 1, &v) < 0)
		return snprintf(out, cap,
				"{\"ok\":false,\"error\":\"usage\",\"reason\":\"migrate-host "
				"<vnode> <host>\"}");
	if (c->dir != NULL && !directory_available(c->dir))
		return snprintf(
			out, cap,
			"{\"ok\":false,\"error\":\"cluster_unavailable\",\"reason\":\"the "
			"cluster's directory (etcd) does not answer: moves between hosts wait "
			"for it\"}");
	if (c->hosts == NULL)
		return snprintf(out, cap,
				"{\"ok\":false,\"error\":\"no_peers\",\"reason\":\"transport.peers "
				"lists no host\"}");
	host = hosts_peer_find(c->hosts, sp + 1);
	if (host < 0)
		return snprintf(out, cap,
				"{\"ok\":false,\"error\":\"unknown_host\",\"reason\":\"no host of "
				"transport.peers has that name\"}");
	cmd.vnode = (uint32_t)v;
	cmd.slot = (uint32_t)host;
	(void)snprintf(cmd.text, sizeof(cmd.text), "\"by_uid\":%u,\"by_pid\":%d",
		       (unsigned)peer->uid, (int)peer->pid);
	if (cmdq_send(c->to_hosts, &cmd) < 0)
		return snprintf(out, cap,
				"{\"ok\":false,\"error\":\"busy\",\"reason\":\"the "
				"host agent's queue is full\"}");
	log_msg(LOG_INFO, "control (uid %u): move VNode %llu to host %s", (unsigned)peer->uid,
		(unsigned long long)v, sp + 1);
	return snprintf(out, cap, "{\"ok\":true,\"vnode\":%llu,\"host\":%d}", (unsigned long long)v,
			host);
}

/* Receive a request, and the descriptor it carries (*ret_file, -1: none; any beyond the
 * first is closed). Returns recvmsg's byte count or -errno. */
static ssize_t recv_request(int fd, char *req, size_t cap, int *ret_file)
{
	union {
		char buf[CMSG_SPACE(FDS_MAX * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {req, cap};
	struct msghdr msg = {.msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = ctl.buf,
			     .msg_controllen = sizeof(ctl.buf)};
	ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

	*ret_file = -1;
	if (n < 0)
		return -errno;
	for (struct cmsghdr *m = CMSG_FIRSTHDR(&msg); m != NULL; m = CMSG_NXTHDR(&msg, m)) {
		size_t count;

		if (m->cmsg_level != SOL_SOCKET || m->cmsg_type != SCM_RIGHTS)
			continue;
		count = (m->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < count; i++) {
			int f;

			memcpy(&f, CMSG_DATA(m) + i * sizeof(int), sizeof(int));
			if (*ret_file < 0)
				*ret_file = f;
			else
				(void)close(f);
		}
	}
	return n;
}

/* Answer the request waiting on fd, if one is. 1: done with fd (answered, or the client
 * left or could not be told), 0: no request yet. Never waits. */
static int answer(struct control *c, int fd)
{
	char req[CONTROL_REQUEST_MAX + 1];
	char out[CONTROL_REPLY_MAX];
	struct ucred peer;
	socklen_t len = sizeof(peer);
	ssize_t n;
	int k, file;

	n = recv_request(fd, req, CONTROL_REQUEST_MAX, &file);
	if (n == -EAGAIN || n == -EWOULDBLOCK || n == -EINTR)
		return 0;
	if (n <= 0 || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) < 0) {
		if (file >= 0)
			(void)close(file);
		return 1;
	}
	req[n] = '\0';
	if (req[n - 1] == '\n')
		req[n - 1] = '\0';
	if (strcmp(req, "status") == 0)
		k = reply_status(c, out, sizeof(out));
	else if (strncmp(req, JOIN_PREFIX, JOIN_PREFIX_BYTES) == 0)
		k = reply_join(c, fd, req + JOIN_PREFIX_BYTES, &peer, out, sizeof(out));
	else if (strncmp(req, MIGRATE_PREFIX, MIGRATE_PREFIX_BYTES) == 0)
		k = reply_migrate(c, req + MIGRATE_PREFIX_BYTES, &peer, out, sizeof(out));
	else if (strncmp(req, MIGRATE_HOST_PREFIX, MIGRATE_HOST_PREFIX_BYTES) == 0)
		k = reply_migrate_host(c, req + MIGRATE_HOST_PREFIX_BYTES, 0, &peer, out,
				       sizeof(out));
	else if (strncmp(req, DRAIN_HOST_PREFIX, sizeof(DRAIN_HOST_PREFIX) - 1) == 0)
		k = reply_migrate_host(c, req + sizeof(DRAIN_HOST_PREFIX) - 1, 1, &peer, out,
				       sizeof(out));
	else if (strncmp(req, EXPORT_PREFIX, EXPORT_PREFIX_BYTES) == 0 ||
		 strcmp(req, "import") == 0)
		k = reply_porter(c, req, file, &peer, out, sizeof(out));
	else
		k = snprintf(out, sizeof(out), "{\"ok\":false,\"error\":\"unknown request\"}");
	if (file >= 0)
		(void)close(file);
	if (k > 0 && (size_t)k < sizeof(out))
		(void)send(fd, out, (size_t)k, MSG_NOSIGNAL | MSG_DONTWAIT);
	return 1;
}

static void conn_close(struct control *c, uint32_t i)
{
	PF_ASSERT(i < CONTROL_CONNS_MAX && c->conns[i].fd >= 0);
	PF_ASSERT(c->conns_count > 0);
	(void)epoll_ctl(c->epfd, EPOLL_CTL_DEL, c->conns[i].fd, NULL);
	(void)close(c->conns[i].fd);
	c->conns[i].fd = -1;
	c->conns_count--;
}

/* A free entry of the table; when there is none, the oldest connection is closed for it. */
static uint32_t conn_entry(struct control *c)
{
	uint32_t oldest = 0;

	for (uint32_t i = 0; i < CONTROL_CONNS_MAX; i++) {
		if (c->conns[i].fd < 0)
			return i;
		if (c->conns[i].accepted_seq < c->conns[oldest].accepted_seq)
			oldest = i;
	}
	PF_ASSERT(c->conns_count == CONTROL_CONNS_MAX);
	conn_close(c, oldest);
	c->conns_dropped++;
	log_msg(LOG_DEBUG, "control: %u connections wait for their request: the oldest closed",
		CONTROL_CONNS_MAX);
	return oldest;
}

/* Keep fd until its request comes (or its time runs out). */
static void conn_wait(struct control *c, int fd, uint64_t now)
{
	struct epoll_event ev = {.events = EPOLLIN};
	uint32_t i = conn_entry(c);

	PF_ASSERT(c->conns[i].fd < 0);
	ev.data.u32 = i;
	if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		(void)close(fd);
		c->conns_dropped++;
		return;
	}
	c->conns[i].fd = fd;
	c->conns[i].accepted_ns = now;
	c->conns[i].accepted_seq = ++c->conns_seq;
	c->conns_count++;
}

/* New connections: answered at once when their request is there, else kept. */
static int accept_some(struct control *c, uint64_t now)
{
	int done = 0;

	for (uint32_t i = 0; i < CONTROL_ACCEPT_BUDGET; i++) {
		int fd = accept4(c->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (fd < 0)
			break;
		if (answer(c, fd)) {
			(void)close(fd);
			done++;
		} else {
			conn_wait(c, fd, now);
		}
	}
	return done;
}

/* Close the connections that did not send their request in time. */
static int expire(struct control *c, uint64_t now)
{
	const uint64_t limit_ns = (uint64_t)CONTROL_CLIENT_TIMEOUT_MS * 1000000u;
	int done = 0;

	for (uint32_t i = 0; c->conns_count > 0 && i < CONTROL_CONNS_MAX; i++) {
		if (c->conns[i].fd >= 0 && now - c->conns[i].accepted_ns >= limit_ns) {
			conn_close(c, i);
			c->conns_dropped++;
			done++;
			log_msg(LOG_DEBUG, "control: a connection sent no request in %u ms: closed",
				CONTROL_CLIENT_TIMEOUT_MS);
		}
	}
	return done;
}

int control_poll_fd(const struct control *c)
{
	return c->epfd;
}

int control_serve(struct control *c)
{
	struct epoll_event ev[CONTROL_CONNS_MAX + 1];
	uint64_t now = mono_ns();
	int n, done = 0;

	if (c->epfd < 0)
		return 0;
	n = epoll_wait(c->epfd, ev, (int)PF_ARRAY_SIZE(ev), 0);
	for (int i = 0; i < n; i++) {
		uint32_t k = ev[i].data.u32;

		/* An entry closed and reused earlier in this batch may get its old event: the
		 * recv finds nothing and it goes on waiting. */
		if (k == LISTENER)
			done += accept_some(c, now);
		else if (k < CONTROL_CONNS_MAX && c->conns[k].fd >= 0 &&
			 answer(c, c->conns[k].fd)) {
			conn_close(c, k);
			done++;
		}
	}
	return done + expire(c, now);
}

void control_close(struct control *c)
{
	if (c->fd < 0)
		return;
	for (uint32_t i = 0; c->conns_count > 0 && i < CONTROL_CONNS_MAX; i++)
		if (c->conns[i].fd >= 0)
			conn_close(c, i);
	(void)close(c->epfd);
	(void)close(c->fd);
	c->fd = c->epfd = -1;
	unlink_ours(c);
}
