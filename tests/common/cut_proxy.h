/* SPDX-License-Identifier: MIT */
/*
 * tests/common/cut_proxy.h: a TCP relay between two pflightd that cuts a connection at a
 * chosen byte, for the cross-host fault tests.
 *
 * It listens on a loopback port of its own (the kernel's choice) and relays every
 * connection to the target address, bytes unchanged, both ways, on a thread of its own.
 * It reads the transport's framing as it relays (pflight/xport.h: a 4-byte little-endian
 * length, then the payload) and the link's (pflight/link.h: after the handshake frames,
 * two from the client and one from the server, each frame's payload starts with its
 * type), so a cut can be named by protocol step: "in direction d, the k-th frame of type
 * t, after `offset` of its bytes (its length prefix counted)". When that frame comes, it
 * forwards exactly those bytes and then closes both sockets: each daemon sees its
 * connection end there. A cut applies to the first connection accepted after it was
 * armed; later connections pass untouched (so the next connection after a cut gets
 * through). The frames of that connection are traced (direction, type, offset, length).
 *
 * Any thread may call these; the relay thread and the callers share the state under a
 * mutex.
 */
#ifndef PF_TEST_CUT_PROXY_H
#define PF_TEST_CUT_PROXY_H

#include <stdint.h>

#define CUT_HANDSHAKE 0u    /* the type of a handshake frame */
#define CUT_END UINT32_MAX  /* offset: the whole frame forwarded, nothing after it */
#define CUT_TRACE_MAX 4096u /* frames traced per armed connection */
#define CUT_CONNS_MAX 8u    /* connections relayed at once */

struct cut_spec {
	uint32_t dir;        /* 0: client to server (source to target), 1: back */
	uint32_t type;       /* CUT_HANDSHAKE or a link frame type */
	uint32_t occurrence; /* 1: the first frame of that type in that direction */
	uint32_t offset;     /* bytes of it forwarded before the cut, or CUT_END */
};

struct cut_frame {
	uint32_t dir;
	uint32_t type;
	uint64_t start; /* bytes of that direction before it */
	uint64_t bytes; /* its length prefix and payload */
};

struct cut_result {
	int cut;         /* 1: the armed connection was cut */
	uint64_t at[2];  /* bytes forwarded each way before the cut (or so far) */
	uint32_t frames; /* traced */
	uint32_t conns;  /* connections accepted so far */
};

struct cut_proxy;

/* Start relaying to 127.0.0.1:target_port. Exits the test on failure. */
struct cut_proxy *cut_proxy_start(unsigned target_port);
/* The port it listens on. */
unsigned cut_proxy_port(const struct cut_proxy *p);
/* Close every connection it relays now, then arm spec (NULL: trace only) for the next
 * connection accepted. */
void cut_proxy_arm(struct cut_proxy *p, const struct cut_spec *spec);
/* What happened to the armed connection so far. */
struct cut_result cut_proxy_result(struct cut_proxy *p);
/* Frame i of the armed connection's trace: 0, or -ENOENT. */
int cut_proxy_frame(struct cut_proxy *p, uint32_t i, struct cut_frame *ret_frame);
/* Stop the thread, close everything. Accepts NULL. */
void cut_proxy_stop(struct cut_proxy *p);
/* "BEGIN", "CHUNK", ... for a link frame type of tools/pflightd/hosts_impl.h. */
const char *cut_type_name(uint32_t type);

#endif /* PF_TEST_CUT_PROXY_H */
