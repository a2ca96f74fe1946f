/* SPDX-License-Identifier: MIT */
/* tests/common/xport_lossy.c: a transport that cuts connections (xport_lossy.h). */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/common/xport_lossy.h"

#define LOSSY_CONNS_MAX 64
#define LOSSY_STAGE_MAX 4096 /* events waiting to be handed out */
#define LOSSY_WRITE_MS 1000  /* how long the cut's socket write may take */

struct lossy_conn {
	bool used, armed, cutting, cut;
	uint32_t conn;
	uint64_t cut_at;  /* stream bytes */
	uint64_t sent;    /* stream bytes given to the inner backend */
	uint32_t pending; /* sends given to the inner backend, not yet SENT */
	uint8_t *partial; /* the crossing frame's bytes before the cut */
	size_t partial_len;
	uint64_t *swallowed; /* cookies to report SENT -ECANCELED */
	uint32_t swallowed_n, swallowed_cap;
};

struct lossy {
	struct pf_xport *inner;
	const struct pf_xport_ops *ops;
	xport_lossy_fd_fn fd_of;
	struct lossy_conn conns[LOSSY_CONNS_MAX];
	struct pf_xport_event stage[LOSSY_STAGE_MAX];
	uint32_t stage_head, stage_n;
	uint32_t cuts_done;
};

static const struct pf_xport_ops *inner_ops;
static xport_lossy_fd_fn inner_fd_of;

static struct lossy *L(struct pf_xport *x)
{
	return (struct lossy *)(void *)x;
}

static struct lossy_conn *find(struct lossy *l, uint32_t conn, bool add)
{
	struct lossy_conn *free_one = NULL;

	for (int i = 0; i < LOSSY_CONNS_MAX; i++) {
		if (l->conns[i].used && l->conns[i].conn == conn)
			return &l->conns[i];
		if (!l->conns[i].used && free_one == NULL)
			free_one = &l->conns[i];
	}
	if (!add || free_one == NULL)
		return NULL;
	*free_one = (struct lossy_conn){.used = true, .conn = conn};
	return free_one;
}

static void forget(struct lossy_conn *lc)
{
	free(lc->partial);
	free(lc->swallowed);
	*lc = (struct lossy_conn){0};
}

static int swallow(struct lossy_conn *lc, uint64_t cookie)
{
	if (lc->swallowed_n == lc->swallowed_cap) {
		uint32_t cap = lc->swallowed_cap ? 2 * lc->swallowed_cap : 16;
		uint64_t *p = realloc(lc->swallowed, cap * sizeof(*p));

		if (p == NULL)
			return -ENOMEM;
		lc->swallowed = p;
		lc->swallowed_cap = cap;
	}
	lc->swallowed[lc->swallowed_n++] = cookie;
	return 0;
}

static void stage_push(struct lossy *l, const struct pf_xport_event *ev)
{
	if (l->stage_n == LOSSY_STAGE_MAX)
		abort(); /* a test that lets this many events pile up is broken */
	l->stage[(l->stage_head + l->stage_n++) % LOSSY_STAGE_MAX] = *ev;
}

static int lossy_create(const struct pf_xport_opts *opts, struct pf_xport **ret)
{
	struct lossy *l;
	int r;

	if (ret == NULL || inner_ops == NULL)
		return -EINVAL;
	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return -ENOMEM;
	l->ops = inner_ops;
	l->fd_of = inner_fd_of;
	r = l->ops->create(opts, &l->inner);
	if (r < 0) {
		free(l);
		return r;
	}
	*ret = (struct pf_xport *)(void *)l;
	return 0;
}

static void lossy_destroy(struct pf_xport *x)
{
	struct lossy *l = L(x);

	if (l == NULL)
		return;
	l->ops->destroy(l->inner);
	for (int i = 0; i < LOSSY_CONNS_MAX; i++)
		forget(&l->conns[i]);
	free(l);
}

static int lossy_listen(struct pf_xport *x, const struct sockaddr *a, socklen_t n, uint32_t *rl,
			uint16_t *rp)
{
	return L(x)->ops->listen(L(x)->inner, a, n, rl, rp);
}

static int lossy_connect(struct pf_xport *x, const struct sockaddr *a, socklen_t n, uint64_t cookie,
			 uint32_t *rc)
{
	return L(x)->ops->connect(L(x)->inner, a, n, cookie, rc);
}

static int lossy_register(struct pf_xport *x, const struct iovec *iov, unsigned count)
{
	return L(x)->ops->register_buffers(L(x)->inner, iov, count);
}

static int lossy_close(struct pf_xport *x, uint32_t conn)
{
	return L(x)->ops->close(L(x)->inner, conn);
}

static int lossy_fd(struct pf_xport *x)
{
	return L(x)->ops->fd(L(x)->inner);
}

static int lossy_features(struct pf_xport *x, uint64_t *f)
{
	return L(x)->ops->features(L(x)->inner, f);
}

static int lossy_stats(struct pf_xport *x, struct pf_xport_stats *st)
{
	return L(x)->ops->stats(L(x)->inner, st);
}

/* The first k bytes of the frame as it goes on the wire: prefix, then payload. */
static int keep_partial(struct lossy_conn *lc, const struct iovec *iov, unsigned n, size_t k)
{
	size_t total = 0, at = 0;
	uint8_t hdr[4];

	for (unsigned i = 0; i < n; i++)
		total += iov[i].iov_len;
	for (int i = 0; i < 4; i++)
		hdr[i] = (uint8_t)(total >> (8 * i));
	lc->partial = malloc(k + 1);
	if (lc->partial == NULL)
		return -ENOMEM;
	memcpy(lc->partial, hdr, k < 4 ? k : 4);
	at = k < 4 ? k : 4;
	for (unsigned i = 0; i < n && at < k; i++) {
		size_t take = iov[i].iov_len < k - at ? iov[i].iov_len : k - at;

		memcpy(lc->partial + at, iov[i].iov_base, take);
		at += take;
	}
	lc->partial_len = k;
	return 0;
}

static int lossy_send(struct pf_xport *x, uint32_t conn, const struct iovec *iov, unsigned n,
		      uint64_t cookie)
{
	struct lossy *l = L(x);
	struct lossy_conn *lc = find(l, conn, true);
	uint64_t bytes = 4;
	int r;

	if (lc == NULL)
		return -ENOSPC;
	if (lc->cutting || lc->cut)
		return swallow(lc, cookie);
	for (unsigned i = 0; iov != NULL && i < n; i++)
		bytes += iov[i].iov_len;
	if (lc->armed && lc->sent + bytes > lc->cut_at) {
		r = keep_partial(lc, iov, n, (size_t)(lc->cut_at - lc->sent));
		if (r == 0)
			r = swallow(lc, cookie);
		if (r == 0)
			lc->cutting = true;
		return r;
	}
	r = l->ops->send(l->inner, conn, iov, n, cookie);
	if (r == 0) {
		lc->sent += bytes;
		lc->pending++;
	}
	return r;
}

/* Write the partial frame to the socket (within LOSSY_WRITE_MS), then shut it down. */
static void cut_now(struct lossy *l, struct lossy_conn *lc)
{
	int fd = l->fd_of(l->inner, lc->conn);
	size_t at = 0;

	lc->cutting = false;
	lc->cut = true;
	l->cuts_done++;
	if (fd < 0)
		return; /* already closed under us: nothing left to cut */
	for (int waited = 0; at < lc->partial_len && waited < LOSSY_WRITE_MS;) {
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		ssize_t w = send(fd, lc->partial + at, lc->partial_len - at,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (w > 0) {
			at += (size_t)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			break;
		(void)poll(&p, 1, 10);
		waited += 10;
	}
	(void)shutdown(fd, SHUT_RDWR);
}

static void cut_ready(struct lossy *l)
{
	for (int i = 0; i < LOSSY_CONNS_MAX; i++) {
		struct lossy_conn *lc = &l->conns[i];

		if (lc->used && lc->cutting && lc->pending == 0)
			cut_now(l, lc);
	}
}

/* One inner event into the stage; the swallowed sends go before a CLOSED. */
static void take(struct lossy *l, const struct pf_xport_event *ev)
{
	struct lossy_conn *lc = find(l, ev->conn, false);

	if (lc != NULL && ev->type == PF_XPORT_EV_SENT && lc->pending > 0)
		lc->pending--;
	if (lc != NULL && ev->type == PF_XPORT_EV_CLOSED) {
		for (uint32_t i = 0; i < lc->swallowed_n; i++) {
			struct pf_xport_event s = {.type = PF_XPORT_EV_SENT,
						   .conn = ev->conn,
						   .error = -ECANCELED,
						   .cookie = lc->swallowed[i]};

			stage_push(l, &s);
		}
		forget(lc);
	}
	stage_push(l, ev);
}

static int lossy_poll(struct pf_xport *x, struct pf_xport_event *ev, unsigned max,
		      uint64_t timeout_ns)
{
	struct lossy *l = L(x);
	struct pf_xport_event got[256];
	unsigned n = 0;
	int r;

	if (ev == NULL || max == 0)
		return -EINVAL;
	cut_ready(l);
	if (l->stage_n == 0) {
		/* The inner FRAME data stays valid while nothing else polls the inner. */
		r = l->ops->poll(l->inner, got, max < 256 ? max : 256, timeout_ns);
		if (r < 0)
			return r;
		for (int i = 0; i < r; i++)
			take(l, &got[i]);
		cut_ready(l);
	}
	while (n < max && l->stage_n > 0) {
		ev[n++] = l->stage[l->stage_head];
		l->stage_head = (l->stage_head + 1) % LOSSY_STAGE_MAX;
		l->stage_n--;
	}
	return (int)n;
}

static struct pf_xport_ops lossy = {
	.size = sizeof(struct pf_xport_ops),
	.name = "lossy",
	.create = lossy_create,
	.destroy = lossy_destroy,
	.listen = lossy_listen,
	.connect = lossy_connect,
	.register_buffers = lossy_register,
	.send = lossy_send,
	.poll = lossy_poll,
	.close = lossy_close,
	.fd = lossy_fd,
	.features = lossy_features,
	.stats = lossy_stats,
};

const struct pf_xport_ops *xport_lossy_ops(const struct pf_xport_ops *inner,
					   xport_lossy_fd_fn conn_fd)
{
	if (inner == NULL || conn_fd == NULL || inner->size < sizeof(struct pf_xport_ops))
		return NULL;
	inner_ops = inner;
	inner_fd_of = conn_fd;
	return &lossy;
}

int xport_lossy_cut(struct pf_xport *x, uint32_t conn, uint64_t stream_bytes)
{
	struct lossy_conn *lc = find(L(x), conn, true);

	if (lc == NULL)
		return -ENOSPC;
	if (lc->sent > stream_bytes)
		return -EALREADY;
	lc->armed = true;
	lc->cut_at = stream_bytes;
	return 0;
}

struct pf_xport *xport_lossy_inner(struct pf_xport *x)
{
	return L(x)->inner;
}

uint32_t xport_lossy_cuts_done(struct pf_xport *x)
{
	return L(x)->cuts_done;
}
