/* SPDX-License-Identifier: MIT */
/* tools/pflightd/control.c: the control socket (control.h). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "tools/pflightd/control.h"
#include "tools/pflightd/log.h"

#define JOIN_PREFIX "join-token "
#define JOIN_PREFIX_BYTES (sizeof(JOIN_PREFIX) - 1u)

int control_open(struct control *c, const char *audit_path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int n = snprintf(c->path, sizeof(c->path), "%s.sock", audit_path);

	c->fd = -1;
	if (n < 0 || (size_t)n >= sizeof(c->path) || (size_t)n >= sizeof(sa.sun_path)) {
		c->path[0] = '\0';
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, c->path, (size_t)n + 1);
	c->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c->fd < 0)
		return -errno;
	(void)unlink(c->path);
	if (bind(c->fd, (const struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(c->fd, 16) < 0) {
		int r = -errno;

		(void)close(c->fd);
		c->fd = -1;
		return r;
	}
	return 0;
}

void control_close(struct control *c)
{
	if (c->fd < 0)
		return;
	(void)close(c->fd);
	c->fd = -1;
	(void)unlink(c->path);
}

/* A short name for a refusal, for the reply and the audit record. */
static const char *refusal(int r)
{
	switch (r) {
	case -EKEYREJECTED:
		return "forged";
	case -EKEYEXPIRED:
		return "expired";
	case -EBADMSG:
		return "malformed";
	case -EXDEV:
		return "other_domain";
	case -EACCES:
		return "wrong_uid";
	default:
		return "error";
	}
}

static void audit_decision(struct control *c, const struct ucred *peer, int r,
			   const struct pf_token_claims *cl)
{
	struct cmd m;
	uint32_t caps = cl->caps[0] != '\0';

	for (const char *p = cl->caps; *p != '\0'; p++)
		caps += *p == ',';
	memset(&m, 0, sizeof(m));
	m.type = CMD_RECORD;
	(void)snprintf(m.event, sizeof(m.event), "%s", r == 0 ? "admit" : "admit_refused");
	if (r == 0)
		(void)snprintf(m.text, sizeof(m.text),
			       "{\"peer_pid\":%d,\"peer_uid\":%u,\"trust_ppm\":%u,\"expires\":%llu,"
			       "\"caps_count\":%u}",
			       (int)peer->pid, (unsigned)peer->uid, cl->trust_ppm,
			       (unsigned long long)cl->expires, caps);
	else
		(void)snprintf(m.text, sizeof(m.text),
			       "{\"peer_pid\":%d,\"peer_uid\":%u,\"error\":\"%s\"}", (int)peer->pid,
			       (unsigned)peer->uid, refusal(r));
	if (cmdq_send(c->to_auditor, &m) < 0)
		log_msg(LOG_ERROR, "auditor queue full: %s not audited", m.event);
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

static int reply_join(struct control *c, const char *token, const struct ucred *peer, char *out,
		      size_t cap)
{
	struct pf_token_claims cl;
	int r = admit(c, token, peer, &cl);

	audit_decision(c, peer, r, &cl);
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
			"\"admitted\":%llu,\"refused\":%llu}",
			c->domain_name, (int)getpid(), di.members_active, di.vnodes_active,
			di.vnodes_pending, di.membership_version, (unsigned long long)c->admitted,
			(unsigned long long)c->refused);
}

/* Read one request (waiting at most CONTROL_CLIENT_TIMEOUT_MS) and answer it. */
static void serve_one(struct control *c, int fd)
{
	char req[CONTROL_REQUEST_MAX + 1];
	char out[CONTROL_REPLY_MAX];
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	struct ucred peer;
	socklen_t len = sizeof(peer);
	ssize_t n;
	int k;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) < 0 ||
	    poll(&pfd, 1, CONTROL_CLIENT_TIMEOUT_MS) != 1)
		return;
	n = recv(fd, req, CONTROL_REQUEST_MAX, MSG_DONTWAIT);
	if (n <= 0)
		return;
	req[n] = '\0';
	if (req[n - 1] == '\n')
		req[n - 1] = '\0';
	if (strcmp(req, "status") == 0)
		k = reply_status(c, out, sizeof(out));
	else if (strncmp(req, JOIN_PREFIX, JOIN_PREFIX_BYTES) == 0)
		k = reply_join(c, req + JOIN_PREFIX_BYTES, &peer, out, sizeof(out));
	else
		k = snprintf(out, sizeof(out), "{\"ok\":false,\"error\":\"unknown request\"}");
	if (k > 0 && (size_t)k < sizeof(out))
		(void)send(fd, out, (size_t)k, MSG_NOSIGNAL);
}

int control_serve(struct control *c)
{
	int served = 0;

	while (c->fd >= 0 && served < (int)CONTROL_ACCEPT_BUDGET) {
		int fd = accept4(c->fd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0)
			break;
		serve_one(c, fd);
		(void)close(fd);
		served++;
	}
	return served;
}
