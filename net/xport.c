/* SPDX-License-Identifier: MIT */
/*
 * net/xport.c: the transport's front door (pflight/xport.h): option defaults and
 * checking, and finding a backend by name. The backends live in their own files
 * (net/xport_uring*.c); a DPDK backend adds its table to backends[] below and nothing
 * else changes for callers.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "net/xport.h"
#include "shm/pf_assert.h"
#include "shm/pf_compiler.h"

_Static_assert(sizeof(struct pf_xport_opts) == 96, "pf_xport_opts is ABI: append in reserved");
_Static_assert(offsetof(struct pf_xport_opts, connect_timeout_ns) == 48, "opts layout moved");
_Static_assert(PF_XPORT_FRAME_BYTES_DEFAULT <= PF_XPORT_FRAME_BYTES_MAX, "default over max");
_Static_assert(PF_XPORT_CONNS_DEFAULT <= PF_XPORT_CONNS_MAX, "default over max");
_Static_assert(PF_IS_POW2(PF_XPORT_RECV_BUFFERS_DEFAULT), "provided buffers: a power of two");

static const struct pf_xport_ops *const backends[] = {
	&xport_uring_ops,
};

PF_API void pf_xport_opts_init(struct pf_xport_opts *opts)
{
	if (opts == NULL)
		return;
	memset(opts, 0, sizeof(*opts));
	opts->size = sizeof(*opts);
	opts->conns_max = PF_XPORT_CONNS_DEFAULT;
	opts->sq_entries = PF_XPORT_SQ_ENTRIES_DEFAULT;
	opts->frame_bytes_max = PF_XPORT_FRAME_BYTES_DEFAULT;
	opts->send_queue_bytes_max = PF_XPORT_SEND_QUEUE_BYTES_DEFAULT;
	opts->send_queue_frames_max = PF_XPORT_SEND_QUEUE_FRAMES_DEFAULT;
	opts->zc_threshold_bytes = PF_XPORT_ZC_THRESHOLD_DEFAULT;
	opts->sqpoll_cpu = -1;
	opts->recv_buffers = PF_XPORT_RECV_BUFFERS_DEFAULT;
	opts->recv_buffer_bytes = PF_XPORT_RECV_BUFFER_BYTES_DEFAULT;
	opts->connect_timeout_ns = PF_XPORT_CONNECT_TIMEOUT_NS_DEFAULT;
	opts->idle_timeout_ns = PF_XPORT_IDLE_TIMEOUT_NS_DEFAULT;
}

static int opts_check(const struct pf_xport_opts *o)
{
	if ((o->flags & ~PF_XPORT_F_ALL) != 0 || o->reserved0 != 0)
		return -EINVAL;
	for (size_t i = 0; i < PF_ARRAY_SIZE(o->reserved); i++)
		if (o->reserved[i] != 0)
			return -EINVAL;
	if (o->conns_max == 0 || o->conns_max > PF_XPORT_CONNS_MAX)
		return -EINVAL;
	if (o->sq_entries < 8 || o->sq_entries > PF_XPORT_SQ_ENTRIES_MAX)
		return -EINVAL;
	if (o->frame_bytes_max == 0 || o->frame_bytes_max > PF_XPORT_FRAME_BYTES_MAX)
		return -EINVAL;
	if (o->send_queue_bytes_max == 0 || o->send_queue_frames_max == 0 ||
	    o->send_queue_frames_max > PF_XPORT_SEND_FRAMES_MAX)
		return -EINVAL;
	if (!PF_IS_POW2(o->recv_buffers) || o->recv_buffers > PF_XPORT_RECV_BUFFERS_MAX)
		return -EINVAL;
	if (o->recv_buffer_bytes < 64 || o->recv_buffer_bytes > PF_XPORT_RECV_BUFFER_BYTES_MAX)
		return -EINVAL;
	if (o->connect_timeout_ns == 0)
		return -EINVAL;
	if ((o->flags & PF_XPORT_F_SQPOLL) != 0 && o->sqpoll_cpu < 0)
		return -EINVAL; /* SQPOLL only pinned: an unpinned poller competes with everyone */
	return 0;
}

/*
 * Copy the caller's options over the defaults in out (STYLE 10.4): a shorter struct, from
 * an older caller, keeps the defaults of what it lacks; a longer one, from a newer caller,
 * only if every byte this library does not know is zero. core/'s opts_copy() does the same
 * for its structs, but lives with the domain's layout, which net/ has no business seeing.
 */
static int opts_copy_in(struct pf_xport_opts *out, const struct pf_xport_opts *in)
{
	const unsigned char *src = (const unsigned char *)in;
	uint32_t size = in->size;

	/* The first published struct is this one: nothing shorter was ever valid. */
	if (size < sizeof(*out) || size > (1u << 16))
		return -EINVAL;
	for (size_t i = sizeof(*out); i < size; i++)
		if (src[i] != 0)
			return -EINVAL;
	memcpy(out, in, sizeof(*out));
	out->size = sizeof(*out);
	return 0;
}

int xport_opts_resolve(const struct pf_xport_opts *in, struct pf_xport_opts *out)
{
	int r;

	PF_ASSERT(out != NULL);
	pf_xport_opts_init(out);
	if (in == NULL)
		return 0;
	r = opts_copy_in(out, in);
	if (r < 0)
		return r;
	r = opts_check(out);
	PF_ASSERT(r < 0 || out->size == sizeof(*out));
	return r;
}

PF_API const struct pf_xport_ops *pf_xport_find(const char *name)
{
	if (name == NULL)
		return NULL;
	for (size_t i = 0; i < PF_ARRAY_SIZE(backends); i++) {
		PF_ASSERT(backends[i]->size == sizeof(struct pf_xport_ops));
		if (strcmp(backends[i]->name, name) == 0)
			return backends[i];
	}
	return NULL;
}
