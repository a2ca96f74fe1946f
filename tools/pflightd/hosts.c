/* SPDX-License-Identifier: MIT */
/*
 * tools/pflightd/hosts.c: the host agent's transport, connections and links (hosts.h).
 *
 * Every connection starts unauthenticated: the only frames accepted on it are the link
 * handshake's (pflight/link.h); a refusal closes it and is audited (link_refused), so an
 * unknown or wrong key never gets a migration frame read. Once ready, frames go to the
 * source side (emigrate.c) or the target side (immigrate.c) by type.
 *
 * Sending: a frame's head and tag live in a struct hosts_out allocated per frame, its
 * body either copied into it (control frames, messages) or pointed to (chunks: the
 * move's copy of the state, which stays unchanged until every SENT came back); the SENT
 * event frees it. The transport bounds what is queued per connection; a -EAGAIN from it
 * is the move's to retry on its next step.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shm/pf_assert.h"
#include "tools/pflightd/hosts_impl.h"
#include "tools/pflightd/log.h"

#define AUDIT_TRIES 100 /* a full auditor queue: 1 ms waits, 100 ms at most */

uint64_t hosts_now_ns(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void hosts_audit(struct hosts *h, const char *event, uint32_t vnode, const char *fmt, ...)
{
	char text[CMDQ_TEXT_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(text)) {
		log_msg(LOG_ERROR, "hosts: %s of VNode %d not audited (too long)", event,
			vnode == PF_AUDIT_NO_VNODE ? -1 : (int)vnode);
		return;
	}
	/* A full queue: the auditor is behind (an fsync); wait for it a little, bounded. */
	for (int tries = 0; cmdq_record(h->to_auditor, event, vnode, "%s", text) < 0; tries++) {
		struct timespec ms = {0, 1000000};

		if (tries == AUDIT_TRIES) {
			log_msg(LOG_ERROR, "hosts: %s of VNode %d not audited (queue full)", event,
				vnode == PF_AUDIT_NO_VNODE ? -1 : (int)vnode);
			return;
		}
		(void)nanosleep(&ms, NULL);
	}
}

static int addr_of(const struct pf_manifest_peer *p, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, p->address, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)p->port);
		*len = sizeof(*in4);
		return 0;
	}
	if (inet_pton(AF_INET6, p->address, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)p->port);
		*len = sizeof(*in6);
		return 0;
	}
	return -EINVAL;
}

static int peers_load(struct hosts *h, const struct pf_manifest_transport *t)
{
	h->peers_count = t->peers_count;
	for (uint32_t i = 0; i < t->peers_count; i++) {
		struct hosts_peer *p = &h->peers[i];

		(void)snprintf(p->id.name, sizeof(p->id.name), "%s", t->peers[i].name);
		memcpy(p->id.key, t->peers[i].key, sizeof(p->id.key));
		h->link_peers[i] = p->id;
		p->conn = -1;
		if (addr_of(&t->peers[i], &p->addr, &p->addr_len) < 0)
			return -EINVAL;
	}
	return 0;
}

static int listen_on(struct hosts *h, const struct pf_manifest_transport *t)
{
	struct pf_manifest_peer me = {.port = t->port};
	struct sockaddr_storage ss;
	socklen_t len;
	uint32_t id;

	if (strlen(t->listen) >= sizeof(me.address) ||
	    (memcpy(me.address, t->listen, strlen(t->listen) + 1), addr_of(&me, &ss, &len)) < 0) {
		log_msg(LOG_ERROR, "transport: listen address %s is not a numeric address",
			t->listen);
		return -EINVAL;
	}
	return h->ops->listen(h->x, (const struct sockaddr *)&ss, len, &id, &h->port);
}

/* The largest frame a move or a forward may send: a chunk, the signed digest table of the
 * largest state, a batch of forwarded messages; each with its heads. */
uint32_t hosts_chunk_bytes(uint32_t state_bytes_max)
{
	uint32_t c = HOSTS_CHUNK_MIN;

	while (c < HOSTS_CHUNK_MAX && (uint64_t)c * HOSTS_CHUNKS_AIM < state_bytes_max)
		c *= 2;
	return c;
}

static uint32_t frame_bytes_for(uint32_t state_bytes_max, uint32_t msg_bytes_max)
{
	uint32_t chunk = hosts_chunk_bytes(state_bytes_max);
	uint64_t chunks = (state_bytes_max + (uint64_t)chunk - 1) / chunk;
	uint64_t table = (chunks + 1) * PF_PACKET_DIGEST_BYTES + PF_PACKET_SIGNATURE_REC_BYTES;
	uint64_t n = HOSTS_CHUNK_MAX; /* a peer's chunks, whatever its own state limit */

	if (table > n)
		n = table;
	if ((256u << 10) + (uint64_t)msg_bytes_max > n)
		n = (256u << 10) + (uint64_t)msg_bytes_max; /* forward.c's FWD_BATCH_BYTES */
	return (uint32_t)(n + 4096);
}

int hosts_create(struct pf_domain *domain, const struct pf_manifest *manifest,
		 const unsigned char sk[PF_AUDIT_SECRET_KEY_BYTES], const char *host_name,
		 const char *marks_path, int fresh, struct pf_audit *log, struct cmdq *inbox,
		 struct cmdq *to_auditor, struct hosts **ret_hosts)
{
	const struct pf_manifest_transport *t = &manifest->transport;
	struct pf_domain_info di = {.size = sizeof(di)};
	struct pf_xport_opts o;
	struct hosts *h;
	int r;

	PF_ASSERT(domain != NULL && ret_hosts != NULL);
	h = calloc(1, sizeof(*h));
	if (h == NULL)
		return -ENOMEM;
	h->domain = domain;
	h->inbox = inbox;
	h->to_auditor = to_auditor;
	h->log = log;
	memcpy(h->sk, sk, sizeof(h->sk));
	(void)snprintf(h->name, sizeof(h->name), "%s", host_name);
	h->next_mig = hosts_now_ns();
	h->trust_floor_ppm = manifest->scheduling.trust_floor_ppm;
	(void)snprintf(h->namespace_name, sizeof(h->namespace_name), "%s",
		       manifest->metadata.namespace_name);
	for (uint32_t i = 0; i < HOSTS_CONNS_MAX; i++)
		h->conns[i].state = CONN_FREE;
	r = pf_domain_info(domain, &di);
	h->state_bytes_max = di.state_bytes_max;
	h->vnodes_max = di.vnodes_max;
	h->drain_peer = HOSTS_NONE;
	h->msg_bytes_max = di.msg_bytes_max;
	if (r == 0)
		r = peers_load(h, t);
	if (r == 0)
		r = forward_open(h, marks_path, fresh);
	h->ops = pf_xport_find("uring");
	if (r == 0 && h->ops == NULL)
		r = -ENOTSUP;
	pf_xport_opts_init(&o);
	o.conns_max = HOSTS_CONNS_MAX;
	o.zc_threshold_bytes = (uint32_t)t->zero_copy_threshold_bytes;
	if (t->sqpoll_cpu >= 0) {
		o.flags |= PF_XPORT_F_SQPOLL;
		o.sqpoll_cpu = t->sqpoll_cpu;
	}
	o.frame_bytes_max = frame_bytes_for(h->state_bytes_max, h->msg_bytes_max);
	if (r == 0)
		r = h->ops->create(&o, &h->x);
	if (r == 0)
		r = listen_on(h, t);
	if (r < 0) {
		log_msg(LOG_ERROR, "transport: %s", strerror(-r));
		hosts_destroy(h);
		return r;
	}
	{
		uint64_t f = 0;

		(void)h->ops->features(h->x, &f);
		h->zc_threshold = o.zc_threshold_bytes;
		/* Only when zero copy can take a chunk at all: else nothing is ever registered. */
		h->reg_on = (f & PF_XPORT_FEAT_REGISTERED_BUFFERS) != 0 && h->zc_threshold != 0 &&
			    hosts_chunk_bytes(h->state_bytes_max) >= h->zc_threshold;
		log_msg(LOG_INFO, "transport: listening on %s:%u as %s, %u peers%s", t->listen,
			(unsigned)h->port, h->name[0] != '\0' ? h->name : "?", h->peers_count,
			(f & PF_XPORT_FEAT_SQPOLL) != 0 ? ", submissions polled by a kernel thread"
							: "");
	}
	*ret_hosts = h;
	return 0;
}

static void out_done(struct hosts *h, struct hosts_out *o, int error);

/* How this daemon's sends went, once, as it stops: whether zero copy, and zero copy from
 * the registered arena, were taken at all. */
static void log_sends(struct hosts *h)
{
	struct pf_xport_stats st = {.size = sizeof(st)};

	if (h->ops->size <= offsetof(struct pf_xport_ops, stats) || h->ops->stats(h->x, &st) < 0)
		return;
	log_msg(LOG_INFO,
		"transport: %llu sends copied, %llu zero-copy, %llu zero-copy from registered "
		"memory (the checkpoint arena), %llu frames received",
		(unsigned long long)st.sends_copied, (unsigned long long)st.sends_zero_copy,
		(unsigned long long)st.sends_zero_copy_fixed,
		(unsigned long long)st.frames_received);
}

void hosts_destroy(struct hosts *h)
{
	if (h == NULL)
		return;
	for (uint32_t i = 0; i < HOSTS_CONNS_MAX; i++)
		while (h->conns[i].waiting != NULL) {
			struct hosts_out *o = h->conns[i].waiting;

			h->conns[i].waiting = o->next;
			out_done(h, o, -ECANCELED); /* never handed to the transport */
		}
	immigrate_fini(h);
	if (h->x != NULL) {
		log_sends(h);
		h->ops->destroy(h->x);
	}
	for (uint32_t i = 0; i < HOSTS_CONNS_MAX; i++)
		pf_link_destroy(h->conns[i].link);
	for (uint32_t i = 0; i < HOSTS_MIGRATIONS_MAX; i++) {
		free(h->out[i].sent);
		free(h->out[i].have);
		free(h->out[i].xxh);
	}
	forward_close(h);
	memset(h->sk, 0, sizeof(h->sk));
	free(h);
}

void hosts_on_arrival(struct hosts *h, void (*fn)(void *arg), void *arg)
{
	h->on_arrival = fn;
	h->on_arrival_arg = arg;
}

uint16_t hosts_port(const struct hosts *h)
{
	return h->port;
}

int hosts_peer_find(const struct hosts *h, const char *name)
{
	for (uint32_t i = 0; i < h->peers_count; i++)
		if (strcmp(h->peers[i].id.name, name) == 0)
			return (int)i;
	return -ENOENT;
}

static int32_t conn_entry(struct hosts *h, uint32_t conn)
{
	for (uint32_t i = 0; i < HOSTS_CONNS_MAX; i++)
		if (h->conns[i].state != CONN_FREE && h->conns[i].conn == conn)
			return (int32_t)i;
	return -1;
}

static int32_t conn_new(struct hosts *h, uint32_t conn, int32_t peer, uint32_t outbound)
{
	for (uint32_t i = 0; i < HOSTS_CONNS_MAX; i++) {
		struct hosts_conn *c = &h->conns[i];
		int r;

		if (c->state != CONN_FREE)
			continue;
		r = pf_link_create(outbound ? PF_LINK_CLIENT : PF_LINK_SERVER, h->name, h->sk,
				   h->link_peers, h->peers_count, outbound ? peer : -1, &c->link);
		if (r < 0)
			return r;
		c->state = outbound ? CONN_CONNECTING : CONN_HANDSHAKE;
		c->conn = conn;
		c->peer = outbound ? peer : -1;
		c->outbound = outbound;
		c->sends = 0;
		c->waiting = c->waiting_tail = NULL;
		return (int32_t)i;
	}
	return -EUSERS;
}

void hosts_conn_close(struct hosts *h, uint32_t entry, int error)
{
	struct hosts_conn *c = &h->conns[entry];

	if (c->state == CONN_FREE)
		return;
	if (error != 0)
		log_msg(LOG_INFO, "transport: connection %s %s closed: %s",
			c->outbound ? "to" : "from",
			c->peer >= 0 ? h->peers[c->peer].id.name : "an unknown host",
			strerror(-error));
	while (c->waiting != NULL) {
		struct hosts_out *o = c->waiting;

		c->waiting = o->next;
		out_done(h, o, -ECONNABORTED); /* never handed to the transport */
	}
	c->waiting_tail = NULL;
	emigrate_conn_lost(h, entry);
	immigrate_conn_lost(h, entry);
	forward_conn_lost(h, entry);
	if (c->outbound && c->peer >= 0 && h->peers[c->peer].conn == (int32_t)entry) {
		h->peers[c->peer].conn = -1;
		if (error != 0)
			h->peers[c->peer].retry_ns = hosts_now_ns() + HOSTS_RETRY_NS;
	}
	(void)h->ops->close(h->x, c->conn);
	pf_link_destroy(c->link);
	c->link = NULL;
	c->state = CONN_FREE;
}

int hosts_conn_to(struct hosts *h, uint32_t peer)
{
	struct hosts_peer *p = &h->peers[peer];
	uint32_t conn;
	int32_t e;
	int r;

	PF_ASSERT(peer < h->peers_count);
	if (p->conn >= 0)
		return h->conns[p->conn].state == CONN_READY ? p->conn : -EAGAIN;
	if (hosts_now_ns() < p->retry_ns)
		return -EAGAIN;
	r = h->ops->connect(h->x, (const struct sockaddr *)&p->addr, p->addr_len, peer, &conn);
	if (r < 0)
		return r;
	e = conn_new(h, conn, (int32_t)peer, 1);
	if (e < 0) {
		(void)h->ops->close(h->x, conn);
		return e;
	}
	p->conn = e;
	return -EAGAIN;
}

/* The segments the transport is given for a frame: head, body segments, tag. */
static void out_iov(struct hosts_out *o, const struct iovec *body, unsigned count)
{
	unsigned n = 0;

	PF_ASSERT(count + 2 <= PF_XPORT_IOV_MAX);
	o->iov[n++] = (struct iovec){o->head, sizeof(o->head)};
	for (unsigned i = 0; i < count; i++)
		if (body[i].iov_len > 0)
			o->iov[n++] = body[i];
	o->iov[n++] = (struct iovec){o->tag, sizeof(o->tag)};
	o->iov_count = n;
}

/* Hand a frame to the transport. */
static int out_queue(struct hosts *h, struct hosts_out *o, const struct iovec *body, unsigned count)
{
	out_iov(o, body, count);
	return h->ops->send(h->x, h->conns[o->entry].conn, o->iov, o->iov_count,
			    (uint64_t)(uintptr_t)o);
}

/* The frame is done with (SENT, or its connection gone): count it, call back, free it. */
static void out_done(struct hosts *h, struct hosts_out *o, int error)
{
	if (h->conns[o->entry].sends > 0)
		h->conns[o->entry].sends--;
	if (o->done != NULL)
		o->done(h, o->done_arg, error);
	if (o->owned)
		free(o->body);
	free(o);
}

/* Hand the connection's waiting frames to the transport, oldest first, while it takes them:
 * 0 (none waits now), -EAGAIN (still full), or the transport's error (the connection is
 * closed). */
static int out_flush(struct hosts *h, uint32_t entry)
{
	struct hosts_conn *c = &h->conns[entry];

	while (c->waiting != NULL) {
		struct hosts_out *o = c->waiting;
		int r = h->ops->send(h->x, c->conn, o->iov, o->iov_count, (uint64_t)(uintptr_t)o);

		if (r == -EAGAIN)
			return r;
		if (r < 0) {
			hosts_conn_close(h, entry, r);
			return r;
		}
		c->waiting = o->next;
		if (c->waiting == NULL)
			c->waiting_tail = NULL;
	}
	return 0;
}

/* A sealed frame the transport cannot take now: it waits, in order. */
static void out_wait(struct hosts_conn *c, struct hosts_out *o)
{
	o->next = NULL;
	if (c->waiting_tail != NULL)
		c->waiting_tail->next = o;
	else
		c->waiting = o;
	c->waiting_tail = o;
}

int hosts_send(struct hosts *h, uint32_t entry, uint32_t type, const struct iovec *body,
	       unsigned count, uint32_t covered, int copy,
	       void (*done)(struct hosts *h, void *arg, int error), void *arg)
{
	struct hosts_conn *c = &h->conns[entry];
	struct hosts_out *o;
	struct iovec one;
	int r;

	if (c->state != CONN_READY)
		return -ENOTCONN;
	r = out_flush(h, entry);
	if (r < 0 && (r != -EAGAIN || !copy))
		return r; /* closed, or a frame the caller can offer again later: nothing sealed */
	o = calloc(1, sizeof(*o));
	if (o == NULL)
		return -ENOMEM;
	o->entry = entry;
	o->done = done;
	o->done_arg = arg;
	if (copy) {
		size_t len = 0;

		for (unsigned i = 0; i < count; i++)
			len += body[i].iov_len;
		o->body = malloc(len + 1);
		if (o->body == NULL) {
			free(o);
			return -ENOMEM;
		}
		for (unsigned i = 0, at = 0; i < count; at += (unsigned)body[i].iov_len, i++)
			memcpy((uint8_t *)o->body + at, body[i].iov_base, body[i].iov_len);
		o->owned = 1;
		o->body_len = len;
		one = (struct iovec){o->body, len};
		body = &one;
		count = 1;
	}
	r = pf_link_seal(c->link, type, body, count, covered, o->head, o->tag);
	if (r == 0 && c->waiting != NULL) {
		out_iov(o, body, count); /* behind the others */
		r = -EAGAIN;
	} else if (r == 0) {
		r = out_queue(h, o, body, count);
	}
	if (r == -EAGAIN) {
		/* Sealed, so its sequence number is spent: dropping it would leave a hole the
		 * peer's link refuses. It goes when there is room (on_sent()). */
		out_wait(c, o);
		r = 0;
	}
	if (r < 0) {
		if (o->owned)
			free(o->body);
		free(o);
		if (r != -EAGAIN)
			hosts_conn_close(h, entry, r);
		return r;
	}
	c->sends++;
	return 0;
}

static void on_sent(struct hosts *h, const struct pf_xport_event *ev)
{
	struct hosts_out *o = (struct hosts_out *)(uintptr_t)ev->cookie;
	uint32_t entry;

	if (o == NULL)
		return;
	entry = o->entry;
	out_done(h, o, ev->error);
	if (h->conns[entry].state == CONN_READY)
		(void)out_flush(h, entry); /* room now, maybe */
}

/* Send whatever handshake frame the link has due. */
static void handshake_flush(struct hosts *h, uint32_t entry)
{
	struct hosts_conn *c = &h->conns[entry];
	uint8_t *buf = malloc(PF_LINK_HANDSHAKE_BYTES_MAX);
	struct hosts_out *o;
	struct iovec iov;
	int n;

	if (buf == NULL)
		return;
	n = pf_link_handshake_out(c->link, buf, PF_LINK_HANDSHAKE_BYTES_MAX);
	o = n > 0 ? calloc(1, sizeof(*o)) : NULL;
	if (o == NULL) {
		free(buf);
		return;
	}
	o->entry = entry;
	o->owned = 1;
	o->body = buf;
	iov = (struct iovec){buf, (size_t)n};
	/* A handshake frame goes as it is: no link head or tag of its own. */
	if (h->ops->send(h->x, c->conn, &iov, 1, (uint64_t)(uintptr_t)o) < 0) {
		free(buf);
		free(o);
		hosts_conn_close(h, entry, -EIO);
		return;
	}
	c->sends++;
}

static void link_refused(struct hosts *h, uint32_t entry, int r, const char *why)
{
	struct hosts_conn *c = &h->conns[entry];

	h->refused_links++;
	log_msg(LOG_WARN, "transport: link %s %s refused: %s", c->outbound ? "to" : "from",
		c->peer >= 0 ? h->peers[c->peer].id.name : "an unknown host",
		why != NULL ? why : strerror(-r));
	hosts_audit(h, "link_refused", PF_AUDIT_NO_VNODE,
		    "{\"direction\":\"%s\",\"peer\":\"%s\",\"error\":\"%s\",\"reason\":\"%s\"}",
		    c->outbound ? "outbound" : "inbound",
		    c->peer >= 0 ? h->peers[c->peer].id.name : "", strerror(-r),
		    why != NULL ? why : "");
	hosts_conn_close(h, entry, r);
}

static void on_frame(struct hosts *h, uint32_t entry, const void *data, size_t len)
{
	struct hosts_conn *c = &h->conns[entry];
	struct pf_link_frame f;
	const char *why = NULL;
	int r = pf_link_input(c->link, data, len, &f, &why);

	if (r < 0) {
		link_refused(h, entry, r, why);
		return;
	}
	if (r == PF_LINK_IN_HANDSHAKE || r == PF_LINK_IN_READY)
		handshake_flush(h, entry);
	if (r == PF_LINK_IN_READY) {
		c->state = CONN_READY;
		c->peer = pf_link_peer_index(c->link);
		log_msg(LOG_INFO, "transport: link %s %s ready", c->outbound ? "to" : "from",
			h->peers[c->peer].id.name);
		immigrate_conn_ready(h, entry);
		return;
	}
	if (r != PF_LINK_IN_FRAME)
		return;
	if (f.type == HF_FWD) {
		forward_receive(h, entry, &f);
		return;
	}
	if (f.type == HF_FWD_ACK) {
		forward_acked(h, entry, &f);
		return;
	}
	/* What a target receives; the rest is a source's. */
	if (f.type == HF_BEGIN || f.type == HF_CHUNK || f.type == HF_ROUND || f.type == HF_FINAL ||
	    f.type == HF_DELIVERED || f.type == HF_MSG || f.type == HF_SEAL ||
	    f.type == HF_COMMIT || f.type == HF_ABORT || f.type == HF_ANSWER)
		immigrate_frame(h, entry, &f);
	else
		emigrate_frame(h, entry, &f);
}

static void on_event(struct hosts *h, const struct pf_xport_event *ev)
{
	int32_t e = ev->type == PF_XPORT_EV_SENT ? -1 : conn_entry(h, ev->conn);

	switch (ev->type) {
	case PF_XPORT_EV_ACCEPTED:
		e = conn_new(h, ev->conn, -1, 0);
		if (e < 0)
			(void)h->ops->close(h->x, ev->conn);
		break;
	case PF_XPORT_EV_CONNECTED:
		if (e >= 0) {
			h->conns[e].state = CONN_HANDSHAKE;
			handshake_flush(h, (uint32_t)e);
		}
		break;
	case PF_XPORT_EV_FRAME:
		if (e >= 0)
			on_frame(h, (uint32_t)e, ev->data, ev->len);
		break;
	case PF_XPORT_EV_SENT:
		on_sent(h, ev);
		break;
	case PF_XPORT_EV_CLOSED:
		if (e >= 0)
			hosts_conn_close(h, (uint32_t)e, ev->error != 0 ? ev->error : -ECONNRESET);
		break;
	default:
		break;
	}
}

static int take_commands(struct hosts *h)
{
	struct cmd c;
	int n = 0;

	while (n < (int)CMDQ_DRAIN_LIMIT && cmdq_take(h->inbox, &c) == 0) {
		n++;
		if (c.type == CMD_MIGRATE_HOST && c.slot < h->peers_count && c.vnode == UINT32_MAX)
			emigrate_drain(h, c.slot, c.text);
		else if (c.type == CMD_MIGRATE_HOST && c.slot < h->peers_count)
			(void)emigrate_ask(h, c.vnode, c.slot, c.text);
	}
	return n;
}

int hosts_do_work(void *arg)
{
	struct hosts *h = arg;
	struct pf_xport_event ev[HOSTS_EVENTS_MAX];
	int n, work = take_commands(h);

	n = h->ops->poll(h->x, ev, HOSTS_EVENTS_MAX, 0);
	if (n < 0)
		return n;
	for (int i = 0; i < n; i++)
		on_event(h, &ev[i]);
	return work + n + emigrate_step(h) + immigrate_step(h) + forward_step(h);
}

int hosts_park(void *arg, uint64_t ns)
{
	struct hosts *h = arg;
	struct pollfd p = {.fd = h->ops->fd(h->x), .events = POLLIN};
	int ms = (int)(ns / 1000000u);

	if (p.fd < 0)
		return p.fd;
	return poll(&p, 1, ms > 0 ? ms : 1) < 0 ? -errno : 0;
}
