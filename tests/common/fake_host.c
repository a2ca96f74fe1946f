/* SPDX-License-Identifier: MIT */
/* tests/common/fake_host.c: see fake_host.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tests/common/fake_host.h"
#include "tests/common/test_util.h"

void fake_put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

void fake_put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

uint32_t fake_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint64_t fake_get64(const uint8_t *p)
{
	return (uint64_t)fake_get32(p) | (uint64_t)fake_get32(p + 4) << 32;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Exactly n bytes, or -ECONNRESET (closed), -ETIMEDOUT. */
static int read_full(int fd, uint8_t *b, size_t n, uint64_t deadline)
{
	while (n > 0) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		uint64_t now = now_ns();
		ssize_t r;

		if (now >= deadline)
			return -ETIMEDOUT;
		if (poll(&p, 1, (int)((deadline - now) / 1000000u) + 1) <= 0)
			continue;
		r = read(fd, b, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -ECONNRESET;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

static int write_full(int fd, const uint8_t *b, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, b, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -ECONNRESET;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

int fake_send_raw(struct fake_host *f, const void *payload, size_t len)
{
	uint8_t head[4];
	int r;

	fake_put32(head, (uint32_t)len);
	r = write_full(f->fd, head, sizeof(head));
	return r < 0 ? r : write_full(f->fd, payload, len);
}

int fake_send(struct fake_host *f, uint32_t type, const void *body, size_t len, uint32_t covered)
{
	uint8_t *frame = malloc(PF_LINK_HEAD_BYTES + len + PF_LINK_TAG_BYTES + 1);
	struct iovec iov = {(void *)(uintptr_t)body, len};
	int r;

	CHECK(frame != NULL);
	r = pf_link_seal(f->link, type, &iov, 1, covered, frame, frame + PF_LINK_HEAD_BYTES + len);
	if (r == 0) {
		memcpy(frame + PF_LINK_HEAD_BYTES, body, len);
		r = fake_send_raw(f, frame, PF_LINK_HEAD_BYTES + len + PF_LINK_TAG_BYTES);
	}
	free(frame);
	return r;
}

int fake_recv_raw(struct fake_host *f, uint64_t timeout_ns)
{
	uint64_t deadline = now_ns() + timeout_ns;
	uint8_t head[4];
	uint32_t len;
	int r = read_full(f->fd, head, sizeof(head), deadline);

	if (r < 0)
		return r;
	len = fake_get32(head);
	if (len == 0 || len > FAKE_FRAME_BYTES_MAX)
		return -EPROTO;
	f->len = len;
	return read_full(f->fd, f->buf, len, deadline);
}

int fake_recv(struct fake_host *f, struct pf_link_frame *ret, uint64_t timeout_ns)
{
	int r = fake_recv_raw(f, timeout_ns);

	if (r < 0)
		return r;
	r = pf_link_input(f->link, f->buf, f->len, ret, NULL);
	return r == PF_LINK_IN_FRAME ? 0 : r < 0 ? r : -EPROTO;
}

int fake_expect(struct fake_host *f, uint32_t type, struct pf_link_frame *ret, uint64_t timeout_ns)
{
	uint64_t deadline = now_ns() + timeout_ns;
	int r;

	do {
		uint64_t now = now_ns();

		r = fake_recv(f, ret, deadline > now ? deadline - now : 1);
	} while (r == 0 && ret->type != type);
	return r;
}

/* Run the handshake on a connected socket: send what is due, feed what comes. */
static int handshake(struct fake_host *f)
{
	uint64_t deadline = now_ns() + FAKE_WAIT_NS;
	uint8_t out[PF_LINK_HANDSHAKE_BYTES_MAX];
	struct pf_link_frame fr;

	for (;;) {
		int n = pf_link_handshake_out(f->link, out, sizeof(out)), r;

		if (n < 0)
			return n;
		if (n > 0 && (r = fake_send_raw(f, out, (size_t)n)) < 0)
			return r;
		if (pf_link_peer_index(f->link) >= 0)
			return 0;
		r = fake_recv_raw(f, deadline > now_ns() ? deadline - now_ns() : 1);
		if (r < 0)
			return r;
		r = pf_link_input(f->link, f->buf, f->len, &fr, NULL);
		if (r < 0)
			return r;
	}
}

int fake_dial(struct fake_host *f, unsigned port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

	memset(f, 0, sizeof(*f));
	f->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(f->fd >= 0);
	f->buf = malloc(FAKE_FRAME_BYTES_MAX);
	CHECK(f->buf != NULL);
	if (connect(f->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = -errno;

		fake_close(f);
		return r;
	}
	return 0;
}

int fake_connect(struct fake_host *f, unsigned port, const char *name, const unsigned char *sk,
		 const struct pf_link_peer *peer)
{
	int r = fake_dial(f, port);

	if (r < 0)
		return r;
	r = pf_link_create(PF_LINK_CLIENT, name, sk, peer, 1, 0, &f->link);
	CHECK(r == 0);
	return handshake(f);
}

int fake_listen(unsigned *ret_port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	CHECK(fd >= 0);
	CHECK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	CHECK(listen(fd, 8) == 0);
	CHECK(getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
	*ret_port = ntohs(sa.sin_port);
	return fd;
}

int fake_accept(struct fake_host *f, int listen_fd, const char *name, const unsigned char *sk,
		const struct pf_link_peer *peer, uint64_t timeout_ns)
{
	struct pollfd p = {.fd = listen_fd, .events = POLLIN};

	memset(f, 0, sizeof(*f));
	f->fd = -1;
	if (poll(&p, 1, (int)(timeout_ns / 1000000u)) <= 0)
		return -ETIMEDOUT;
	f->fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (f->fd < 0)
		return -errno;
	f->buf = malloc(FAKE_FRAME_BYTES_MAX);
	CHECK(f->buf != NULL);
	CHECK(pf_link_create(PF_LINK_SERVER, name, sk, peer, 1, -1, &f->link) == 0);
	return handshake(f);
}

void fake_close(struct fake_host *f)
{
	if (f->fd >= 0)
		(void)close(f->fd);
	f->fd = -1;
	pf_link_destroy(f->link);
	f->link = NULL;
	free(f->buf);
	f->buf = NULL;
}
