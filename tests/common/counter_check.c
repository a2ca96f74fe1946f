/* SPDX-License-Identifier: MIT */
/* tests/common/counter_check.c: see counter_check.h. */
#include <errno.h>

#include "tests/common/counter_check.h"
#include "tests/common/proc_util.h"
#include "tests/common/test_util.h"
#include "tools/examples/counter.h"

void counters_send(struct pf_domain *d, uint32_t vnodes, uint32_t msgs, uint64_t *sent,
		   uint64_t timeout_ns)
{
	for (uint64_t k = 1; k <= msgs; k++) {
		for (uint32_t id = 0; id < vnodes; id++) {
			struct counter_msg m = {.vnode = id, .seq = *sent + k, .inc = 1};
			uint64_t deadline = proc_now_ns() + timeout_ns;
			int r;

			while ((r = pf_send(d, id, &m, sizeof(m))) == -EAGAIN &&
			       proc_now_ns() < deadline)
				proc_nap();
			CHECK(r == 0);
		}
	}
	*sent += msgs;
}

uint32_t counters_complete(struct pf_domain *d, uint32_t vnodes, uint64_t sent)
{
	uint32_t n = 0;

	for (uint32_t id = 0; id < vnodes; id++) {
		struct counter_state st;
		size_t len = 0;

		if (pf_checkpoint_read(d, id, &st, sizeof(st), &len, NULL) != 0 ||
		    len != sizeof(st))
			continue;
		CHECK(st.dups == 0 && st.gaps == 0 && st.malformed == 0);
		CHECK(st.value <= sent);
		n += st.value == sent && st.last_seq == sent;
	}
	return n;
}
