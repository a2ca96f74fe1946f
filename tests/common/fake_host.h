/* SPDX-License-Identifier: MIT */
/*
 * tests/common/fake_host.h: this test process in the place of a pflightd host, for the
 * cross-host fault tests: a plain TCP socket framed as pflight/xport.h frames it (a 4-byte
 * little-endian length, then the payload), the link of pflight/link.h over it (the test
 * holds a host key), and the migration frames of tools/pflightd/hosts_impl.h built by hand
 * (tests/common/fake_packet.c), so that each can be sent whole, altered or out of turn.
 *
 * Blocking, with a timeout on every wait; one thread per fake host.
 */
#ifndef PF_TEST_FAKE_HOST_H
#define PF_TEST_FAKE_HOST_H

#include <stddef.h>
#include <stdint.h>

#include "pflight/pflight.h"

#define FAKE_FRAME_BYTES_MAX (1u << 20)
#define FAKE_WAIT_NS (10ull * 1000000000ull)

struct fake_host {
	int fd;
	struct pf_link *link;
	uint8_t *buf; /* one frame received: its payload */
	size_t len;
};

/* Connect to 127.0.0.1:port, no handshake (f->link NULL): 0 or a negative errno. */
int fake_dial(struct fake_host *f, unsigned port);
/* Connect to 127.0.0.1:port as host `name` with secret key sk, accepting the one peer
 * given, and run the handshake. 0, or a negative errno: -ECONNRESET when the other end
 * closed first (it refused us), the link's refusal of the other end, -ETIMEDOUT. */
int fake_connect(struct fake_host *f, unsigned port, const char *name, const unsigned char *sk,
		 const struct pf_link_peer *peer);
/* Listen on a loopback port of the kernel's choice: the fd, *ret_port. */
int fake_listen(unsigned *ret_port);
/* Accept one connection on listen_fd (within timeout_ns) and run the handshake as the
 * server, host `name` with key sk, accepting the one peer given. 0 or a negative errno. */
int fake_accept(struct fake_host *f, int listen_fd, const char *name, const unsigned char *sk,
		const struct pf_link_peer *peer, uint64_t timeout_ns);
void fake_close(struct fake_host *f);

/* One transport frame with this payload, no link head or tag. 0 or a negative errno. */
int fake_send_raw(struct fake_host *f, const void *payload, size_t len);
/* One link frame of type: body, its first `covered` bytes under the tag. */
int fake_send(struct fake_host *f, uint32_t type, const void *body, size_t len, uint32_t covered);
/* The next transport frame's payload into f->buf, f->len: 0, -ECONNRESET (closed),
 * -ETIMEDOUT. */
int fake_recv_raw(struct fake_host *f, uint64_t timeout_ns);
/* The next link frame: 0 and *ret, or -ECONNRESET, -ETIMEDOUT, the link's refusal. */
int fake_recv(struct fake_host *f, struct pf_link_frame *ret, uint64_t timeout_ns);
/* Frames until one of type comes (others skipped): 0, or as fake_recv(). */
int fake_expect(struct fake_host *f, uint32_t type, struct pf_link_frame *ret, uint64_t timeout_ns);

void fake_put32(uint8_t *p, uint32_t v);
void fake_put64(uint8_t *p, uint64_t v);
uint32_t fake_get32(const uint8_t *p);
uint64_t fake_get64(const uint8_t *p);

#endif /* PF_TEST_FAKE_HOST_H */
