/* SPDX-License-Identifier: MIT */
/*
 * tests/common/xport_lossy.h: a transport that cuts connections, for tests.
 *
 * It wraps any backend's ops table (pflight/xport.h) and passes every call through,
 * except that a connection armed with xport_lossy_cut() is cut after a given number of
 * stream bytes: the bytes the transport puts on the wire for it, length prefixes
 * included, so a cut can land inside a prefix as well as inside a payload (N payload
 * bytes of k whole frames are N + 4k stream bytes). At the cut the wrapper waits until
 * the backend has finished every send it gave it on that connection, writes the part of
 * the crossing frame that lies before the cut straight to the socket, and shuts the socket
 * down both ways (shutdown(2), not close: the backend keeps its descriptor), so both ends
 * see the stream end there: the peer a stream that stops mid-frame (or between frames),
 * this side an end of file. The crossing frame and every later one on the connection are
 * reported SENT with -ECANCELED, before the backend's CLOSED.
 *
 * The backend must say which socket a connection uses: conn_fd (xport_uring_conn_fd()
 * for "uring"). One inner backend per process (what a test needs); instances are
 * independent. Test code: it allocates freely and blocks on the socket write (at most a
 * second).
 */
#ifndef PF_TESTS_XPORT_LOSSY_H
#define PF_TESTS_XPORT_LOSSY_H

#include <stdint.h>

#include "pflight/xport.h"

/* The socket under an open connection of the inner backend, or a negative errno. */
typedef int (*xport_lossy_fd_fn)(struct pf_xport *inner, uint32_t conn);

/* The wrapper's ops around inner (name "lossy"). Its instances wrap inner's instances. */
const struct pf_xport_ops *xport_lossy_ops(const struct pf_xport_ops *inner,
					   xport_lossy_fd_fn conn_fd);

/*
 * Cut conn (of an instance created through xport_lossy_ops()) once stream_bytes bytes,
 * counted from its first byte, went out. 0, -ENOSPC (LOSSY_CONNS_MAX connections tracked
 * already), -EALREADY (stream_bytes already passed: the cut would not be exact).
 */
int xport_lossy_cut(struct pf_xport *lossy, uint32_t conn, uint64_t stream_bytes);

/* The instance inside a lossy one (for backend-specific calls such as stats). */
struct pf_xport *xport_lossy_inner(struct pf_xport *lossy);

/* How many cuts were made so far. */
uint32_t xport_lossy_cuts_done(struct pf_xport *lossy);

#endif /* PF_TESTS_XPORT_LOSSY_H */
