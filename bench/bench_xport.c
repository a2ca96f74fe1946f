/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_xport.c: the transport's send path over loopback: copied sends against
 * zero-copy sends per frame size (where PF_XPORT_ZC_THRESHOLD_DEFAULT comes from), and the
 * raw baselines the migration benchmark compares against.
 *
 * Two threads: the sender pinned to CPU 0, a receiver pinned to CPU 1 (same-node). Each
 * run is a fresh TCP connection over 127.0.0.1 that carries RUN_BYTES; its time runs from
 * the first send to the receiver's last byte; throughput is wire bytes (length prefixes
 * included) per second, in GB/s (10^9). Lines, each the median of SAMPLES interleaved runs:
 *   xport_zc_<size>    ours, frames of <size> from one source buffer, zc_threshold_bytes 1
 *                      (every payload by IORING_OP_SEND_ZC), against
 *   xport_copy_<size>  the same with PF_XPORT_F_NO_ZC (copied sends), as baseline:
 *                      ratio > 1 means zero copy won at that size. Receiver: a plain
 *                      blocking recv() loop (1 MiB reads), so only the send side differs.
 *   xport_zc_fixed_<size>  as xport_zc_<size>, the source buffer registered first
 *                      (register_buffers): IORING_OP_SEND_ZC from fixed buffers, against
 *                      the same copied runs.
 *   raw_send_1MiB      baseline: a blocking send() loop of 1 MiB writes into the same
 *                      receiver (the raw loops are bench_tcp.c's, shared with bench_migrate);
 *   raw_uring_send_1MiB  baseline: one io_uring, IORING_OP_SEND of 1 MiB with
 *                      MSG_WAITALL, one in flight (as ours keeps one chain in flight);
 *   xport_1MiB         ours at the default threshold, 1 MiB frames, against raw_send_1MiB;
 *   xport_e2e_1MiB     ours at both ends (the receiver a transport instance reassembling
 *                      frames), against raw_send_1MiB.
 * On loopback the kernel copies a zero-copy send's pages anyway when it hands the skb to
 * the local receiver, so zero copy cannot win there by saving the copy: what these lines
 * show is where its extra cost (pinning pages, the notification CQE) stops mattering.
 * Informational: no goal. Skips (77) without io_uring. --baselines-only leaves out the
 * sizes (the last four lines only).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench/bench_core.h"
#include "bench/bench_tcp.h"
#include "pflight/xport.h"

#define RUN_BYTES (256ull << 20)
#define SAMPLES 5
#define SRC_BYTES (8u << 20)
#define RAW_WRITE (1u << 20)
#define FRAME_MAX ((4u << 20) + 4096u)

static const struct pf_xport_ops *U;
static uint8_t *source;
static int cpus[2];
static struct bench_tcp_path path; /* loopback, sender cpus[0], receiver cpus[1] */

/* A transport instance reassembling frames: the receiver of the end-to-end runs. */
struct xport_receiver {
	struct pf_xport *x;
	uint64_t expect, got; /* payload bytes */
	uint64_t t_last;
};

static void *recv_xport(void *arg)
{
	struct xport_receiver *r = arg;
	struct pf_xport_event ev[64];

	(void)bench_pin_cpu(cpus[1]);
	while (r->got < r->expect) {
		int n = U->poll(r->x, ev, 64, 100000000u);

		bench_check(n, "receiver poll");
		for (int i = 0; i < n; i++)
			if (ev[i].type == PF_XPORT_EV_FRAME)
				r->got += ev[i].len;
	}
	r->t_last = bench_now_ns();
	return NULL;
}

static struct sockaddr_in to_port(uint16_t port)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons(port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

	return a;
}

/* Wait for the event of type on x (others are ignored); returns its conn. */
static uint32_t wait_event(struct pf_xport *x, uint32_t type)
{
	struct pf_xport_event ev;

	for (;;) {
		int n = U->poll(x, &ev, 1, 1000000000u);

		bench_check(n, "poll");
		if (n == 1 && ev.type == type)
			return ev.conn;
		if (n == 1 && ev.type == PF_XPORT_EV_CLOSED)
			bench_check(ev.error < 0 ? ev.error : -ECONNRESET, "connection closed");
	}
}

/* Send frames of size bytes on conn until RUN_BYTES went, then wait for every SENT. */
static void pump(struct pf_xport *x, uint32_t conn, uint32_t size)
{
	uint64_t frames = RUN_BYTES / size, queued = 0, sent = 0;
	struct pf_xport_event ev[64];

	while (sent < frames) {
		int n;

		while (queued < frames) {
			struct iovec iov = {source + (queued * 4096u) % (SRC_BYTES - size + 1),
					    size};

			if (U->send(x, conn, &iov, 1, queued) != 0)
				break;
			queued++;
		}
		n = U->poll(x, ev, 64, 100000000u);
		bench_check(n, "sender poll");
		for (int i = 0; i < n; i++) {
			if (ev[i].type == PF_XPORT_EV_SENT)
				sent++;
			else if (ev[i].type == PF_XPORT_EV_CLOSED)
				bench_check(ev[i].error < 0 ? ev[i].error : -ECONNRESET, "closed");
		}
	}
}

static struct pf_xport *make(uint32_t flags, uint32_t threshold)
{
	struct pf_xport_opts o;
	struct pf_xport *x = NULL;

	pf_xport_opts_init(&o);
	o.flags = flags;
	o.zc_threshold_bytes = threshold;
	o.frame_bytes_max = FRAME_MAX;
	o.send_queue_bytes_max = 4 * FRAME_MAX;
	bench_check(U->create(&o, &x), "pf_xport create");
	return x;
}

/* The transport receiver of an end-to-end run: listening on 127.0.0.1, thread started. */
static void xport_receiver_start(struct xport_receiver *r, uint64_t expect, uint16_t *port,
				 pthread_t *th)
{
	struct sockaddr_in any = to_port(0);
	uint32_t listener;

	r->x = make(0, PF_XPORT_ZC_THRESHOLD_DEFAULT);
	bench_check(U->listen(r->x, (struct sockaddr *)&any, sizeof(any), &listener, port),
		    "listen");
	r->expect = expect;
	bench_check(-pthread_create(th, NULL, recv_xport, r), "pthread_create");
}

/* One run of ours: GB/s of wire bytes into a raw (e2e false) or transport receiver; the
 * source buffer registered with the sender's ring when `fixed`. */
static double xport_run(uint32_t flags, uint32_t threshold, uint32_t size, bool e2e, bool fixed)
{
	const struct iovec reg = {source, SRC_BYTES};
	struct xport_receiver xr = {0};
	struct bench_tcp_receiver raw;
	struct pf_xport *x = make(flags, threshold);
	uint64_t frames = RUN_BYTES / size, t0, t_last;
	struct sockaddr_in a;
	pthread_t th;
	uint32_t conn;
	uint16_t port;

	if (fixed)
		bench_check(U->register_buffers(x, &reg, 1), "register_buffers");
	if (e2e) {
		xport_receiver_start(&xr, frames * size, &port, &th);
	} else {
		bench_tcp_receiver_listen(&path, &raw);
		port = raw.port;
		bench_tcp_receiver_start(&raw);
	}
	a = to_port(port);
	bench_check(U->connect(x, (struct sockaddr *)&a, sizeof(a), 0, &conn), "connect");
	(void)wait_event(x, PF_XPORT_EV_CONNECTED);
	t0 = bench_now_ns();
	pump(x, conn, size);
	bench_check(U->close(x, conn), "close");
	(void)wait_event(x, PF_XPORT_EV_CLOSED);
	U->destroy(x);
	if (e2e) {
		pthread_join(th, NULL);
		U->destroy(xr.x);
		t_last = xr.t_last;
	} else {
		bench_tcp_receiver_join(&raw);
		t_last = raw.t_last_ns;
	}
	return (double)frames * (size + 4) / (double)(t_last - t0);
}

static double xport_once(uint32_t flags, uint32_t threshold, uint32_t size, bool e2e)
{
	return xport_run(flags, threshold, size, e2e, false);
}

/* Baselines (bench_tcp.h): a blocking send() loop, or one io_uring send in flight, of
 * RAW_WRITE bytes into the same raw receiver. */
static double raw_once(enum bench_tcp_loop loop)
{
	const struct bench_tcp_source src = {.src = source,
					     .src_bytes = SRC_BYTES,
					     .stride_bytes = 4096,
					     .write_bytes = RAW_WRITE};
	struct bench_tcp_run run;

	bench_tcp_stream(loop, &path, &src, RUN_BYTES, &run);
	return run.gbps;
}

static void emit(const char *subject, const char *baseline, double *v, double *b, uint32_t bytes)
{
	struct bench_result r = {
		.bench = "xport",
		.subject = subject,
		.metric = "throughput",
		.unit = "GB/s",
		.baseline = baseline,
		.higher_is_better = true,
		.placement = "same-node",
		.cpus = cpus,
		.cpus_count = 2,
		.iterations = RUN_BYTES / bytes,
		.batch = 1,
		.elem_bytes = bytes,
		.samples = SAMPLES,
	};

	r.value = bench_median(v, SAMPLES); /* sorts v */
	r.value_min = v[0];
	r.value_max = v[SAMPLES - 1];
	if (b != NULL)
		r.baseline_value = bench_median(b, SAMPLES);
	bench_emit(&r);
}

/* Zero copy, from plain and from registered memory, against copied sends at each size
 * from 4 KiB to 4 MiB. */
static void sizes(void)
{
	for (uint32_t size = 4096; size <= (4u << 20); size *= 2) {
		double zc[SAMPLES], fixed[SAMPLES], copy[SAMPLES], copy2[SAMPLES];
		char subject[64], base[64];

		for (int s = 0; s < SAMPLES; s++) {
			copy[s] = xport_once(PF_XPORT_F_NO_ZC, 0, size, false);
			zc[s] = xport_once(0, 1, size, false);
			fixed[s] = xport_run(0, 1, size, false, true);
		}
		memcpy(copy2, copy, sizeof(copy));
		(void)snprintf(subject, sizeof(subject), "xport_zc_%uKiB", size >> 10);
		(void)snprintf(base, sizeof(base), "xport_copy_%uKiB", size >> 10);
		emit(subject, base, zc, copy, size);
		(void)snprintf(subject, sizeof(subject), "xport_zc_fixed_%uKiB", size >> 10);
		emit(subject, base, fixed, copy2, size);
	}
}

/* The raw loops and ours at 1 MiB, interleaved. */
static void baselines(void)
{
	double raw[SAMPLES], uring[SAMPLES], ours[SAMPLES], e2e[SAMPLES];

	for (int s = 0; s < SAMPLES; s++) {
		raw[s] = raw_once(BENCH_TCP_SEND);
		uring[s] = raw_once(BENCH_TCP_URING);
		ours[s] = xport_once(0, PF_XPORT_ZC_THRESHOLD_DEFAULT, RAW_WRITE, false);
		e2e[s] = xport_once(0, PF_XPORT_ZC_THRESHOLD_DEFAULT, RAW_WRITE, true);
	}
	emit("raw_uring_send_1MiB", "raw_send_1MiB", uring, raw, RAW_WRITE);
	emit("xport_1MiB", "raw_send_1MiB", ours, raw, RAW_WRITE);
	emit("xport_e2e_1MiB", "raw_send_1MiB", e2e, raw, RAW_WRITE);
	emit("raw_send_1MiB", NULL, raw, NULL, RAW_WRITE);
}

int main(int argc, char **argv)
{
	struct io_uring probe;

	if (io_uring_queue_init(8, &probe, 0) < 0) {
		fprintf(stderr, "bench_xport: io_uring unavailable: skipped\n");
		return 77;
	}
	io_uring_queue_exit(&probe);
	U = pf_xport_find("uring");
	bench_check(U != NULL ? 0 : -ENOENT, "pf_xport_find");
	bench_check(bench_placement_cpus("same-node", cpus), "placement same-node");
	bench_tcp_path_loopback(&path, cpus[0], cpus[1]);
	bench_check(posix_memalign((void **)&source, 4096, SRC_BYTES) == 0 ? 0 : -ENOMEM,
		    "source buffer");
	for (size_t i = 0; i < SRC_BYTES; i++)
		source[i] = (uint8_t)(i * 131u + (i >> 12));
	(void)bench_pin_cpu(cpus[0]);
	(void)xport_once(0, 1, 1u << 20, false); /* warm-up */
	if (argc < 2 || strcmp(argv[1], "--baselines-only") != 0)
		sizes();
	baselines();
	free(source);
	return 0;
}
