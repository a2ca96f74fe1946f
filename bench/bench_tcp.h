/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_tcp.h: the raw TCP stream baselines that transport and migration benchmarks
 * compare against: a blocking send() loop and an io_uring IORING_OP_SEND loop (one send
 * of write_bytes with MSG_WAITALL in flight, as the transport keeps one chain in flight),
 * each into a plain blocking recv() loop (1 MiB reads) on a thread of its own.
 *
 * A path says where the two ends are: the sender's and the receiver's addresses, how their
 * sockets are made (in this network namespace, or in one of a netns pair's), and the CPU
 * each thread is pinned to. A run is one fresh connection that carries `bytes`; its time
 * runs from the sender's first send to the receiver's last byte, and each thread's CPU
 * time (getrusage RUSAGE_THREAD, user + system) is reported, connection setup included
 * (microseconds). Benchmarks are not library code: setup errors exit (bench_check()).
 */
#ifndef PF_BENCH_TCP_H
#define PF_BENCH_TCP_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#define BENCH_TCP_RECV_BYTES (1u << 20) /* the receiver's read size */

enum bench_tcp_loop {
	BENCH_TCP_SEND = 0,  /* blocking send() of write_bytes, short sends resumed */
	BENCH_TCP_URING = 1, /* io_uring: one IORING_OP_SEND (MSG_WAITALL) in flight */
};

/* Makes the socket of one side (0: sender, 1: receiver) of a path: an fd or -errno. */
typedef int (*bench_tcp_socket_fn)(void *arg, int side);

struct bench_tcp_path {
	bench_tcp_socket_fn socket_fn; /* NULL: socket(2) in this thread's namespace */
	void *arg;
	struct in_addr addr[2]; /* the receiver listens on addr[1]; addr[0] is informational */
	int cpu[2];             /* the sender's and the receiver's CPU; -1: not pinned */
};

/* A loopback path: both ends on 127.0.0.1, sender on cpu0, receiver on cpu1. */
void bench_tcp_path_loopback(struct bench_tcp_path *path, int cpu0, int cpu1);

/* The data one run sends: write i starts at src + (i * stride_bytes) % (src_bytes -
 * write_bytes + 1), so a source as long as the run sends each byte once in order
 * (stride_bytes = write_bytes), and a short one is read again. */
struct bench_tcp_source {
	const uint8_t *src;
	size_t src_bytes;    /* >= write_bytes */
	size_t stride_bytes; /* > 0 */
	uint32_t write_bytes;
};

struct bench_tcp_run {
	uint64_t bytes;      /* the receiver's count: every byte sent */
	uint64_t ns;         /* first send to last byte received */
	double gbps;         /* bytes / ns: GB/s (10^9 bytes per second) */
	double sender_cpu_s; /* the sender thread's user + system time */
	double receiver_cpu_s;
};

/* One run of loop over path: a fresh connection carrying `bytes` (a multiple of
 * write_bytes is sent; the rest is not) from source; *ret filled. Exits on setup errors. */
void bench_tcp_stream(enum bench_tcp_loop loop, const struct bench_tcp_path *path,
		      const struct bench_tcp_source *source, uint64_t bytes,
		      struct bench_tcp_run *ret);

/*
 * A request-reply baseline over path: on one connection (TCP_NODELAY at both ends), rounds
 * times, the sender sends `bytes` (from a buffer of its own) and waits for the receiver's
 * 8-byte answer, sent once it has them all; ret_ns[k] is round k as the sender times it.
 * What a move's critical path cannot beat: the state there, a word back.
 */
void bench_tcp_exchange(const struct bench_tcp_path *path, uint32_t bytes, uint32_t rounds,
			uint64_t *ret_ns);

/* "raw_send_1MiB" or "raw_uring_send_1MiB" style names: "raw_send", "raw_uring_send". */
const char *bench_tcp_loop_name(enum bench_tcp_loop loop);

/*
 * A raw receiver on its own thread, for benchmarks whose sender is not one of these loops
 * (the transport's): listen on path's addr[1] (port 0: any), then accept one connection
 * and read it to its end. bench_tcp_receiver_listen() fills listen_fd and port;
 * _start() runs the thread; _join() waits for the end of the stream and closes listen_fd.
 */
struct bench_tcp_receiver {
	int listen_fd;
	uint16_t port;
	int cpu; /* -1: not pinned */
	uint64_t bytes;
	uint64_t t_last_ns; /* CLOCK_MONOTONIC of the last byte */
	double cpu_s;
	uint64_t thread; /* pthread_t, kept opaque here */
};

void bench_tcp_receiver_listen(const struct bench_tcp_path *path, struct bench_tcp_receiver *r);
void bench_tcp_receiver_start(struct bench_tcp_receiver *r);
void bench_tcp_receiver_join(struct bench_tcp_receiver *r);

#endif /* PF_BENCH_TCP_H */
