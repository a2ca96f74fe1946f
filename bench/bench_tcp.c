/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_tcp.c: the raw TCP stream baselines (bench_tcp.h), moved here from
 * bench_xport.c so that the migration benchmark measures the same loops over its own
 * paths (loopback, and the veth between two network namespaces).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include "bench/bench_core.h"
#include "bench/bench_tcp.h"

struct sender {
	enum bench_tcp_loop loop;
	const struct bench_tcp_path *path;
	const struct bench_tcp_source *source;
	uint64_t writes;
	uint16_t port;
	uint64_t t0_ns;
	double cpu_s;
};

static double thread_cpu_s(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_THREAD, &ru) < 0)
		return 0;
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void pin(int cpu)
{
	if (cpu >= 0)
		(void)bench_pin_cpu(cpu);
}

static int make_socket(const struct bench_tcp_path *path, int side)
{
	int fd;

	if (path->socket_fn != NULL)
		return path->socket_fn(path->arg, side);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	return fd < 0 ? -errno : fd;
}

void bench_tcp_path_loopback(struct bench_tcp_path *path, int cpu0, int cpu1)
{
	memset(path, 0, sizeof(*path));
	path->addr[0].s_addr = htonl(INADDR_LOOPBACK);
	path->addr[1].s_addr = htonl(INADDR_LOOPBACK);
	path->cpu[0] = cpu0;
	path->cpu[1] = cpu1;
}

const char *bench_tcp_loop_name(enum bench_tcp_loop loop)
{
	return loop == BENCH_TCP_URING ? "raw_uring_send" : "raw_send";
}

void bench_tcp_receiver_listen(const struct bench_tcp_path *path, struct bench_tcp_receiver *r)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr = path->addr[1]};
	socklen_t len = sizeof(a);
	int fd = make_socket(path, 1);

	bench_check(fd, "receiver socket");
	if (bind(fd, (struct sockaddr *)&a, len) < 0 || listen(fd, 4) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		bench_check(-errno, "raw listener");
	memset(r, 0, sizeof(*r));
	r->listen_fd = fd;
	r->port = ntohs(a.sin_port);
	r->cpu = path->cpu[1];
}

static void *receiver_main(void *arg)
{
	struct bench_tcp_receiver *r = arg;
	uint8_t *buf = malloc(BENCH_TCP_RECV_BYTES);
	int fd;

	bench_check(buf != NULL ? 0 : -ENOMEM, "receiver buffer");
	pin(r->cpu);
	fd = accept4(r->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	bench_check(fd < 0 ? -errno : 0, "accept");
	for (;;) {
		ssize_t n = recv(fd, buf, BENCH_TCP_RECV_BYTES, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		r->bytes += (uint64_t)n;
		r->t_last_ns = bench_now_ns();
	}
	(void)close(fd);
	free(buf);
	r->cpu_s = thread_cpu_s();
	return NULL;
}

void bench_tcp_receiver_start(struct bench_tcp_receiver *r)
{
	pthread_t th;

	bench_check(-pthread_create(&th, NULL, receiver_main, r), "pthread_create");
	r->thread = (uint64_t)th;
}

void bench_tcp_receiver_join(struct bench_tcp_receiver *r)
{
	(void)pthread_join((pthread_t)r->thread, NULL);
	(void)close(r->listen_fd);
	r->listen_fd = -1;
}

static const uint8_t *write_at(const struct bench_tcp_source *s, uint64_t i)
{
	return s->src + (i * s->stride_bytes) % (s->src_bytes - s->write_bytes + 1);
}

static int sender_connect(const struct sender *s)
{
	struct sockaddr_in a = {
		.sin_family = AF_INET, .sin_port = htons(s->port), .sin_addr = s->path->addr[1]};
	int fd = make_socket(s->path, 0);

	bench_check(fd, "sender socket");
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		bench_check(-errno, "raw connect");
	return fd;
}

/* Blocking send() of write_bytes at a time. */
static void send_loop(struct sender *s, int fd)
{
	uint32_t w = s->source->write_bytes;

	for (uint64_t i = 0; i < s->writes; i++) {
		const uint8_t *p = write_at(s->source, i);

		/* A blocking send can still come back short (task work of an io_uring this
		 * thread used interrupts it like a signal): go on from there, as callers do. */
		for (size_t at = 0; at < w;) {
			ssize_t n = send(fd, p + at, w - at, MSG_NOSIGNAL);

			if (n < 0 && errno != EINTR)
				bench_check(-errno, "raw send");
			at += n > 0 ? (size_t)n : 0;
		}
	}
}

/* One io_uring, one IORING_OP_SEND (MSG_WAITALL) of write_bytes in flight. */
static void uring_loop(struct sender *s, int fd, struct io_uring *ring)
{
	uint32_t w = s->source->write_bytes;

	for (uint64_t i = 0; i < s->writes; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
		struct io_uring_cqe *cqe;

		io_uring_prep_send(sqe, fd, write_at(s->source, i), w, MSG_NOSIGNAL | MSG_WAITALL);
		bench_check(io_uring_submit_and_wait(ring, 1), "io_uring_submit_and_wait");
		bench_check(io_uring_peek_cqe(ring, &cqe), "io_uring_peek_cqe");
		if (cqe->res != (int)w)
			bench_check(cqe->res < 0 ? cqe->res : -EIO, "io_uring send");
		io_uring_cqe_seen(ring, cqe);
	}
}

static void *sender_main(void *arg)
{
	struct sender *s = arg;
	struct io_uring ring;
	int fd;

	pin(s->path->cpu[0]);
	if (s->loop == BENCH_TCP_URING)
		bench_check(io_uring_queue_init(8, &ring, 0), "io_uring_queue_init");
	fd = sender_connect(s);
	s->t0_ns = bench_now_ns();
	if (s->loop == BENCH_TCP_URING)
		uring_loop(s, fd, &ring);
	else
		send_loop(s, fd);
	(void)close(fd);
	if (s->loop == BENCH_TCP_URING)
		io_uring_queue_exit(&ring);
	s->cpu_s = thread_cpu_s();
	return NULL;
}

void bench_tcp_stream(enum bench_tcp_loop loop, const struct bench_tcp_path *path,
		      const struct bench_tcp_source *source, uint64_t bytes,
		      struct bench_tcp_run *ret)
{
	struct sender s = {.loop = loop, .path = path, .source = source};
	struct bench_tcp_receiver r;
	pthread_t th;

	bench_check(source->write_bytes > 0 && source->src_bytes >= source->write_bytes &&
				    source->stride_bytes > 0
			    ? 0
			    : -EINVAL,
		    "bench_tcp_stream source");
	s.writes = bytes / source->write_bytes;
	bench_tcp_receiver_listen(path, &r);
	s.port = r.port;
	bench_tcp_receiver_start(&r);
	bench_check(-pthread_create(&th, NULL, sender_main, &s), "pthread_create");
	(void)pthread_join(th, NULL);
	bench_tcp_receiver_join(&r);
	memset(ret, 0, sizeof(*ret));
	ret->bytes = r.bytes;
	ret->ns = r.t_last_ns > s.t0_ns ? r.t_last_ns - s.t0_ns : 1;
	ret->gbps = (double)r.bytes / (double)ret->ns;
	ret->sender_cpu_s = s.cpu_s;
	ret->receiver_cpu_s = r.cpu_s;
}

struct exchange {
	const struct bench_tcp_path *path;
	struct bench_tcp_receiver r;
	uint32_t bytes, rounds;
	uint64_t *ret_ns;
};

/* recv exactly len bytes: 0, or -errno (-ECONNRESET at an early end). */
static int recv_all(int fd, uint8_t *p, size_t len)
{
	for (size_t at = 0; at < len;) {
		ssize_t n = recv(fd, p + at, len - at, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -ECONNRESET;
		at += (size_t)n;
	}
	return 0;
}

static int send_all(int fd, const uint8_t *p, size_t len)
{
	for (size_t at = 0; at < len;) {
		ssize_t n = send(fd, p + at, len - at, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		at += (size_t)n;
	}
	return 0;
}

static void nodelay(int fd)
{
	int one = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* The answering side: each request whole, then 8 bytes back. */
static void *exchange_answer(void *arg)
{
	struct exchange *x = arg;
	uint8_t *buf = malloc(x->bytes), word[8] = {0};
	int fd;

	bench_check(buf != NULL ? 0 : -ENOMEM, "exchange buffer");
	pin(x->r.cpu);
	fd = accept4(x->r.listen_fd, NULL, NULL, SOCK_CLOEXEC);
	bench_check(fd < 0 ? -errno : 0, "accept");
	nodelay(fd);
	for (uint32_t k = 0; k < x->rounds; k++) {
		bench_check(recv_all(fd, buf, x->bytes), "exchange recv");
		bench_check(send_all(fd, word, sizeof(word)), "exchange answer");
	}
	(void)close(fd);
	free(buf);
	return NULL;
}

static void *exchange_ask(void *arg)
{
	struct exchange *x = arg;
	struct sender s = {.path = x->path, .port = x->r.port};
	uint8_t *buf = calloc(1, x->bytes), word[8];
	int fd;

	bench_check(buf != NULL ? 0 : -ENOMEM, "exchange buffer");
	pin(x->path->cpu[0]);
	fd = sender_connect(&s);
	nodelay(fd);
	for (uint32_t k = 0; k < x->rounds; k++) {
		uint64_t t0 = bench_now_ns();

		buf[k % x->bytes] = (uint8_t)k;
		bench_check(send_all(fd, buf, x->bytes), "exchange send");
		bench_check(recv_all(fd, word, sizeof(word)), "exchange reply");
		x->ret_ns[k] = bench_now_ns() - t0;
	}
	(void)close(fd);
	free(buf);
	return NULL;
}

void bench_tcp_exchange(const struct bench_tcp_path *path, uint32_t bytes, uint32_t rounds,
			uint64_t *ret_ns)
{
	struct exchange x = {.path = path, .bytes = bytes, .rounds = rounds, .ret_ns = ret_ns};
	pthread_t answer, ask;

	bench_check(bytes > 0 ? 0 : -EINVAL, "bench_tcp_exchange bytes");
	bench_tcp_receiver_listen(path, &x.r);
	bench_check(-pthread_create(&answer, NULL, exchange_answer, &x), "pthread_create");
	bench_check(-pthread_create(&ask, NULL, exchange_ask, &x), "pthread_create");
	(void)pthread_join(ask, NULL);
	(void)pthread_join(answer, NULL);
	(void)close(x.r.listen_fd);
}
