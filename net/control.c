/* SPDX-License-Identifier: MIT */
/*
 * net/control.c: the client side of pflightd's control socket (pflight/control.h).
 *
 * SOCK_SEQPACKET keeps message boundaries, so a request and its reply are one message
 * each: no framing, no partial reads. The path rule lives here, in the library, so that
 * the daemon, the CLI and every worker agree on it without configuration.
 *
 * Whoever binds a path first listens there: /tmp is everyone's, and a daemon that could
 * not bind its path (or is not running) leaves the name to anyone. So nothing is sent
 * before the listener's credentials (SO_PEERCRED, taken by the kernel when it called
 * listen(2)) show the daemon: root, or the uid the caller names (the owner of the
 * domain's segment, pflight/control.h). A request may carry a join token.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/domain_impl.h"
#include "pflight/control.h"

#define RUN_DIR "/run/pflight"

static int put(size_t cap, int n)
{
	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= cap || (size_t)n >= PF_CONTROL_PATH_MAX)
		return -ENAMETOOLONG;
	return n;
}

/* Candidate i (0, 1, 2) of the default rule; -ENOENT past the last. */
static int candidate(const char *domain, int i, char *buf, size_t cap)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");

	if (i == 0)
		return put(cap, snprintf(buf, cap, RUN_DIR "/%s.sock", domain));
	if (i == 1 && xdg != NULL && xdg[0] == '/')
		return put(cap, snprintf(buf, cap, "%s/pflight-%s.sock", xdg, domain));
	if (i <= 2)
		return put(cap, snprintf(buf, cap, "/tmp/pflight-%u-%s.sock", (unsigned)geteuid(),
					 domain));
	return -ENOENT;
}

static int server_path(const char *domain, char *buf, size_t cap)
{
	const char *rt = getenv("RUNTIME_DIRECTORY");
	const char *xdg = getenv("XDG_RUNTIME_DIR");

	if (rt != NULL && rt[0] == '/') {
		size_t len = strcspn(rt, ":"); /* several directories: the first */

		return put(cap, snprintf(buf, cap, "%.*s/%s.sock", (int)len, rt, domain));
	}
	if (geteuid() == 0)
		return candidate(domain, 0, buf, cap);
	if (xdg != NULL && xdg[0] == '/')
		return candidate(domain, 1, buf, cap);
	return candidate(domain, 2, buf, cap);
}

PF_API int pf_control_path(const char *domain, uint32_t flags, char *buf, size_t cap)
{
	const char *env = getenv("PFLIGHT_CONTROL");
	struct stat st;

	if (domain_name_check(domain) < 0 || buf == NULL || cap == 0 ||
	    (flags & ~PF_CONTROL_PATH_SERVER) != 0)
		return -EINVAL;
	if (env != NULL && env[0] != '\0')
		return put(cap, snprintf(buf, cap, "%s", env));
	if (flags & PF_CONTROL_PATH_SERVER)
		return server_path(domain, buf, cap);
	for (int i = 0; i <= 2; i++) {
		int n = candidate(domain, i, buf, cap);

		if (n >= 0 && stat(buf, &st) == 0 && S_ISSOCK(st.st_mode))
			return n;
	}
	return candidate(domain, 0, buf, cap); /* none exists yet: the daemon's usual place */
}

static int connect_to(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t n = strlen(path);
	int fd;

	if (n >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, n + 1);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = -errno;

		(void)close(fd);
		return r;
	}
	return fd;
}

/* The listener at fd is the daemon: root or daemon_uid. 0, -EPERM, or getsockopt's errno. */
static int peer_is_daemon(int fd, uint32_t daemon_uid)
{
	struct ucred peer;
	socklen_t len = sizeof(peer);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) < 0)
		return -errno;
	if (len != sizeof(peer))
		return -EPROTO;
	return peer.uid == 0 || (uint32_t)peer.uid == daemon_uid ? 0 : -EPERM;
}

/* Send the request, with pass_fd as SCM_RIGHTS when it is not -1. */
static int send_request(int fd, const char *request, size_t len, int pass_fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {(void *)(uintptr_t)request, len};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	struct cmsghdr *c;

	if (pass_fd >= 0) {
		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.buf;
		msg.msg_controllen = sizeof(ctl.buf);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
	}
	if (sendmsg(fd, &msg, MSG_NOSIGNAL) != (ssize_t)len)
		return -errno;
	return 0;
}

PF_API int pf_control_request(const char *path, uint32_t daemon_uid, const char *request,
			      char *reply, size_t cap, uint32_t timeout_ms)
{
	return pf_control_request_fd(path, daemon_uid, request, -1, reply, cap, timeout_ms);
}

PF_API int pf_control_request_fd(const char *path, uint32_t daemon_uid, const char *request,
				 int pass_fd, char *reply, size_t cap, uint32_t timeout_ms)
{
	struct pollfd pfd = {.events = POLLIN};
	size_t len = request != NULL ? strlen(request) : 0;
	ssize_t n;
	int fd, r;

	if (path == NULL || path[0] == '\0' || len == 0 || reply == NULL || cap == 0 ||
	    strchr(request, '\n') != NULL || pass_fd < -1)
		return -EINVAL;
	if (len > PF_CONTROL_REPLY_MAX)
		return -EMSGSIZE;
	fd = connect_to(path);
	if (fd < 0)
		return fd;
	pfd.fd = fd;
	r = peer_is_daemon(fd, daemon_uid);
	if (r < 0)
		goto out; /* not the daemon: it gets nothing, the token least of all */
	r = send_request(fd, request, len, pass_fd);
	if (r < 0)
		goto out;
	r = poll(&pfd, 1, (int)(timeout_ms != 0 ? timeout_ms : PF_CONTROL_TIMEOUT_MS_DEFAULT));
	if (r <= 0) {
		r = r == 0 ? -ETIMEDOUT : -errno;
		goto out;
	}
	n = recv(fd, reply, cap, MSG_TRUNC);
	if (n < 0)
		r = -errno;
	else if ((size_t)n >= cap)
		r = -EMSGSIZE; /* MSG_TRUNC: n is the whole message's length */
	else if (n == 0)
		r = -ECONNRESET;
	else
		r = (int)n;
	if (r >= 0)
		reply[n] = '\0';
out:
	(void)close(fd);
	return r;
}
