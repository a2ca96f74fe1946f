/* SPDX-License-Identifier: MIT */
/*
 * tests/common/counter_check.h: driving example counter workers and checking that their
 * counters are exact: numbered increments sent to each VNode, and the committed state of
 * each read back (tools/examples/counter.h).
 */
#ifndef PF_TEST_COUNTER_CHECK_H
#define PF_TEST_COUNTER_CHECK_H

#include <stdint.h>

#include "pflight/pflight.h"

/* Send `msgs` numbered increments to each VNode of [0, vnodes), continuing the sequence
 * from *sent (advanced by msgs); a full inbox is retried for up to timeout_ns. Exits the
 * test on any other failure. */
void counters_send(struct pf_domain *d, uint32_t vnodes, uint32_t msgs, uint64_t *sent,
		   uint64_t timeout_ns);

/* VNodes of [0, vnodes) whose committed counter has every one of `sent` messages, once.
 * Exits the test when a counter shows a duplicate, a gap or a malformed message. */
uint32_t counters_complete(struct pf_domain *d, uint32_t vnodes, uint64_t sent);

#endif /* PF_TEST_COUNTER_CHECK_H */
