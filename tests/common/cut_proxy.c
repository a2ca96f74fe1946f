/* SPDX-License-Identifier: MIT */
/* tests/common/cut_proxy.c: see cut_proxy.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/common/cut_proxy.h"
#include "tests/common/test_util.h"

#define BUF_BYTES (256u << 10)
#define HDR_BYTES 8u /* a frame's length and the first 4 bytes of its payload: its type */

/* One direction of one relayed connection. */
struct half {
	int from, to;
	uint64_t off;         /* bytes forwarded */
	uint64_t parsed;      /* bytes walked by the frame parser (>= off) */
	uint64_t frame_start; /* the frame being walked */
	uint64_t frame_end;   /* its end, once its header is known; 0 before */
	uint32_t frames;      /* frames started */
	uint32_t seen[32];    /* frames of each type so far (types past 31 share the last) */
	uint8_t hdr[HDR_BYTES];
	uint64_t cut_pos; /* UINT64_MAX: none found yet */
	size_t have;      /* bytes in buf */
	uint8_t buf[BUF_BYTES];
};

struct pair {
	int used;
	int armed; /* the connection the spec applies to */
	struct half h[2];
};

struct cut_proxy {
	pthread_mutex_t lock;
	pthread_t thread;
	int listen_fd, wake[2];
	unsigned port, target_port;
	int stop, reset, arm_next, have_spec;
	struct cut_spec spec;
	struct cut_result res;
	struct cut_frame trace[CUT_TRACE_MAX];
	struct pair pairs[CUT_CONNS_MAX];
};

const char *cut_type_name(uint32_t type)
{
	static const char *const names[] = {"HANDSHAKE", "BEGIN",    "ACCEPT", "REFUSE", "CHUNK",
					    "ROUND",     "ROUND_OK", "FINAL",  "MSG",    "SEAL",
					    "PREPARED",  "COMMIT",   "DONE",   "ABORT",  "QUERY",
					    "ANSWER",    "FWD",      "FWD_ACK"};

	return type < sizeof(names) / sizeof(names[0]) ? names[type] : "?";
}

static void pair_close(struct pair *pr)
{
	if (!pr->used)
		return;
	(void)close(pr->h[0].from);
	(void)close(pr->h[0].to);
	pr->used = 0;
}

/* Walk the frames of what this half holds, from `parsed` on, as far as whole headers go:
 * record each frame, find the armed cut. Under the lock. */
static void parse(struct cut_proxy *p, struct pair *pr, uint32_t dir)
{
	struct half *h = &pr->h[dir];
	uint64_t end = h->off + h->have;

	while (h->parsed < end) {
		if (h->frame_end != 0 && h->parsed >= h->frame_end) {
			h->frame_start = h->frame_end;
			h->frame_end = 0;
		}
		if (h->frame_end == 0) {
			uint64_t got = h->parsed - h->frame_start, n = end - h->parsed;
			uint32_t len, type;

			if (got + n < HDR_BYTES) {
				memcpy(h->hdr + got, h->buf + (h->parsed - h->off), n);
				h->parsed = end;
				return;
			}
			memcpy(h->hdr + got, h->buf + (h->parsed - h->off), HDR_BYTES - got);
			len = (uint32_t)h->hdr[0] | (uint32_t)h->hdr[1] << 8 |
			      (uint32_t)h->hdr[2] << 16 | (uint32_t)h->hdr[3] << 24;
			type = (uint32_t)h->hdr[4] | (uint32_t)h->hdr[5] << 8;
			if (h->frames < (dir == 0 ? 2u : 1u))
				type = CUT_HANDSHAKE;
			h->frames++;
			h->frame_end = h->frame_start + 4 + len;
			h->seen[type < 31 ? type : 31]++;
			if (pr->armed && p->res.frames < CUT_TRACE_MAX)
				p->trace[p->res.frames++] =
					(struct cut_frame){.dir = dir,
							   .type = type,
							   .start = h->frame_start,
							   .bytes = 4 + (uint64_t)len};
			if (pr->armed && p->have_spec && p->spec.dir == dir &&
			    p->spec.type == type &&
			    h->seen[type < 31 ? type : 31] == p->spec.occurrence)
				h->cut_pos = h->frame_start + (p->spec.offset < 4 + (uint64_t)len
								       ? p->spec.offset
								       : 4 + (uint64_t)len);
		}
		h->parsed = h->frame_end < end ? h->frame_end : end;
	}
}

static int write_all(int fd, const uint8_t *b, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, b, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Forward what may go: up to the start of a header not yet whole (its type decides the
 * cut), and never past the cut. Returns 1 when the pair was cut or closed. Under the lock. */
static int forward(struct cut_proxy *p, struct pair *pr, uint32_t dir)
{
	struct half *h = &pr->h[dir];
	uint64_t limit = h->frame_end == 0 ? h->frame_start : h->off + h->have;
	size_t n;

	if (limit < h->off)
		limit = h->off;
	if (h->cut_pos != UINT64_MAX && limit > h->cut_pos)
		limit = h->cut_pos;
	n = (size_t)(limit - h->off);
	if (n > 0 && write_all(h->to, h->buf, n) < 0) {
		pair_close(pr);
		return 1;
	}
	memmove(h->buf, h->buf + n, h->have - n);
	h->have -= n;
	h->off += n;
	if (pr->armed)
		p->res.at[dir] = h->off;
	if (h->cut_pos != UINT64_MAX && h->off == h->cut_pos) {
		p->res.cut = 1;
		pair_close(pr);
		return 1;
	}
	return 0;
}

/* Read what one side sent and pass it on: 1 when the pair ended. Under the lock. */
static int relay(struct cut_proxy *p, struct pair *pr, uint32_t dir)
{
	struct half *h = &pr->h[dir];
	ssize_t n = read(h->from, h->buf + h->have, BUF_BYTES - h->have);

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n <= 0) {
		pair_close(pr);
		return 1;
	}
	h->have += (size_t)n;
	parse(p, pr, dir);
	return forward(p, pr, dir);
}

static void accept_one(struct cut_proxy *p)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)p->target_port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int c = accept4(p->listen_fd, NULL, NULL, SOCK_CLOEXEC), s, one = 1;
	struct pair *pr = NULL;

	if (c < 0)
		return;
	for (uint32_t i = 0; i < CUT_CONNS_MAX && pr == NULL; i++)
		if (!p->pairs[i].used)
			pr = &p->pairs[i];
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (pr == NULL || s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		(void)close(c);
		if (s >= 0)
			(void)close(s);
		return;
	}
	(void)setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	(void)setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	memset(pr, 0, sizeof(*pr));
	pr->used = 1;
	pr->armed = p->arm_next;
	p->arm_next = 0;
	pr->h[0].from = pr->h[1].to = c;
	pr->h[0].to = pr->h[1].from = s;
	pr->h[0].cut_pos = pr->h[1].cut_pos = UINT64_MAX;
	p->res.conns++;
}

static void *run(void *arg)
{
	struct cut_proxy *p = arg;

	for (;;) {
		struct pollfd fds[2 + 2 * CUT_CONNS_MAX];
		struct pair *who[2 + 2 * CUT_CONNS_MAX];
		uint32_t n = 0;
		char c;

		CHECK(pthread_mutex_lock(&p->lock) == 0);
		if (p->stop)
			break;
		if (p->reset) {
			for (uint32_t i = 0; i < CUT_CONNS_MAX; i++)
				pair_close(&p->pairs[i]);
			p->reset = 0;
		}
		fds[n++] = (struct pollfd){.fd = p->wake[0], .events = POLLIN};
		fds[n++] = (struct pollfd){.fd = p->listen_fd, .events = POLLIN};
		for (uint32_t i = 0; i < CUT_CONNS_MAX; i++)
			for (uint32_t d = 0; d < 2 && p->pairs[i].used; d++) {
				who[n] = &p->pairs[i];
				fds[n++] = (struct pollfd){.fd = p->pairs[i].h[d].from,
							   .events = POLLIN};
			}
		CHECK(pthread_mutex_unlock(&p->lock) == 0);
		if (poll(fds, n, 100) <= 0)
			continue;
		CHECK(pthread_mutex_lock(&p->lock) == 0);
		if (fds[0].revents != 0)
			(void)read(p->wake[0], &c, 1);
		if (fds[1].revents != 0)
			accept_one(p);
		for (uint32_t k = 2; k < n; k++)
			if (fds[k].revents != 0 && who[k]->used && !p->reset)
				(void)relay(p, who[k], (uint32_t)(k % 2));
		CHECK(pthread_mutex_unlock(&p->lock) == 0);
	}
	CHECK(pthread_mutex_unlock(&p->lock) == 0);
	return NULL;
}

struct cut_proxy *cut_proxy_start(unsigned target_port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	struct cut_proxy *p = calloc(1, sizeof(*p));

	CHECK(p != NULL);
	p->target_port = target_port;
	CHECK(pthread_mutex_init(&p->lock, NULL) == 0);
	CHECK(pipe2(p->wake, O_CLOEXEC | O_NONBLOCK) == 0);
	p->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(p->listen_fd >= 0);
	CHECK(bind(p->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	CHECK(listen(p->listen_fd, 16) == 0);
	CHECK(getsockname(p->listen_fd, (struct sockaddr *)&sa, &len) == 0);
	p->port = ntohs(sa.sin_port);
	CHECK(pthread_create(&p->thread, NULL, run, p) == 0);
	return p;
}

unsigned cut_proxy_port(const struct cut_proxy *p)
{
	return p->port;
}

static void wake(struct cut_proxy *p)
{
	char c = 1;

	(void)write(p->wake[1], &c, 1);
}

void cut_proxy_arm(struct cut_proxy *p, const struct cut_spec *spec)
{
	CHECK(pthread_mutex_lock(&p->lock) == 0);
	p->reset = 1;
	p->arm_next = 1;
	p->have_spec = spec != NULL;
	if (spec != NULL)
		p->spec = *spec;
	p->res = (struct cut_result){.conns = p->res.conns};
	CHECK(pthread_mutex_unlock(&p->lock) == 0);
	wake(p);
	/* Wait until the relay thread has closed what it relayed. */
	for (int done = 0; !done;) {
		test_sleep_ns(1000000);
		CHECK(pthread_mutex_lock(&p->lock) == 0);
		done = !p->reset;
		CHECK(pthread_mutex_unlock(&p->lock) == 0);
	}
}

struct cut_result cut_proxy_result(struct cut_proxy *p)
{
	struct cut_result r;

	CHECK(pthread_mutex_lock(&p->lock) == 0);
	r = p->res;
	CHECK(pthread_mutex_unlock(&p->lock) == 0);
	return r;
}

int cut_proxy_frame(struct cut_proxy *p, uint32_t i, struct cut_frame *ret_frame)
{
	int r = -ENOENT;

	CHECK(pthread_mutex_lock(&p->lock) == 0);
	if (i < p->res.frames) {
		*ret_frame = p->trace[i];
		r = 0;
	}
	CHECK(pthread_mutex_unlock(&p->lock) == 0);
	return r;
}

void cut_proxy_stop(struct cut_proxy *p)
{
	if (p == NULL)
		return;
	CHECK(pthread_mutex_lock(&p->lock) == 0);
	p->stop = 1;
	CHECK(pthread_mutex_unlock(&p->lock) == 0);
	wake(p);
	CHECK(pthread_join(p->thread, NULL) == 0);
	for (uint32_t i = 0; i < CUT_CONNS_MAX; i++)
		pair_close(&p->pairs[i]);
	(void)close(p->listen_fd);
	(void)close(p->wake[0]);
	(void)close(p->wake[1]);
	(void)pthread_mutex_destroy(&p->lock);
	free(p);
}
