/* SPDX-License-Identifier: MIT */
/*
 * net/etcd.h: a client of etcd's v3 API, for the cluster directory (docs/cluster.md).
 *
 * It speaks the JSON form of the API that etcd serves on its client port (the gRPC
 * gateway, /v3/...) with libcurl, and parses the answers with jansson; keys and values
 * are bytes (base64 on the wire, libsodium's codec). Why this and not gRPC: see
 * docs/cluster.md.
 *
 * A client holds one connection (kept alive between calls) to one of its endpoints at a
 * time. A call that cannot connect, or reaches a member without a leader, tries the next
 * endpoint, in turn, within the call's deadline; one that times out moves the client to
 * the next endpoint for the next call (it is not sent again: it may have been applied).
 * Every call has a deadline (opts.timeout_ms) and returns 0 or a negative errno:
 *   -ETIMEDOUT     no answer within the deadline
 *   -ECONNREFUSED  no endpoint could be reached
 *   -E2BIG         over etcd's limits (ETCD_TXN_OPS_MAX operations, ETCD_REQUEST_MAX
 *                  bytes): refused before anything was sent
 *   -EPROTO        an answer that is not what the API says (not JSON, a field missing or
 *                  of the wrong type, a 64-bit number that does not parse)
 *   -ENOENT        etcd's NOT_FOUND (a lease that expired or never was)
 *   -EINVAL        bad arguments, or etcd's INVALID_ARGUMENT
 *   -ERANGE        etcd's OUT_OF_RANGE (a revision already compacted)
 *   -ENOSPC        etcd's RESOURCE_EXHAUSTED (its database quota)
 *   -EAGAIN        etcd's UNAVAILABLE (no leader): try again
 *   -EIO           any other refusal by etcd
 *   -ENOMEM
 * etcd_error() says, in words, why the last call failed. A client is used by one thread
 * at a time; clients are independent of each other. Library code: it never logs.
 */
#ifndef PF_NET_ETCD_H
#define PF_NET_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ETCD_ENDPOINTS_MAX 16u
#define ETCD_TXN_OPS_MAX 128u                /* etcd's --max-txn-ops default */
#define ETCD_REQUEST_MAX (3u << 19)          /* etcd's --max-request-bytes, 1.5 MiB */
#define ETCD_TIMEOUT_MS_DEFAULT 2000u        /* a call */
#define ETCD_CONNECT_TIMEOUT_MS_DEFAULT 500u /* one endpoint's connect */

struct etcd;

struct etcd_opts {
	const char *const *endpoints; /* "http://host:port", 1..ETCD_ENDPOINTS_MAX */
	unsigned endpoints_count;
	uint32_t timeout_ms;         /* 0: ETCD_TIMEOUT_MS_DEFAULT */
	uint32_t connect_timeout_ms; /* 0: ETCD_CONNECT_TIMEOUT_MS_DEFAULT */
};

/* One key as etcd returned it. The bytes belong to the client until its next call. */
struct etcd_kv {
	const uint8_t *key;
	size_t key_len;
	const uint8_t *value;
	size_t value_len;
	int64_t create_revision;
	int64_t mod_revision;
	int64_t version;
	int64_t lease;
};

/* What a range returned: kvs[0..count) (the client's until its next call), whether more
 * keys matched than `limit` let through, and the store's revision at the answer. */
struct etcd_range {
	const struct etcd_kv *kvs;
	uint32_t count;
	bool more;
	int64_t revision;
};

int etcd_create(const struct etcd_opts *opts, struct etcd **ret_client);
void etcd_destroy(struct etcd *c);
const char *etcd_error(const struct etcd *c);
/* The endpoint the next call goes to first. */
const char *etcd_endpoint(const struct etcd *c);

/* Put key = value, attached to lease (0: none). *ret_revision (may be NULL): the store's
 * revision after it. */
int etcd_put(struct etcd *c, const void *key, size_t key_len, const void *value, size_t value_len,
	     int64_t lease, int64_t *ret_revision);

/* The keys in [key, range_end) (range_end NULL: key alone; see etcd_prefix_end()), at
 * most limit of them (0: no limit), in key order. */
int etcd_get(struct etcd *c, const void *key, size_t key_len, const void *range_end,
	     size_t range_end_len, uint32_t limit, struct etcd_range *ret);

/* Delete the keys in [key, range_end) (NULL: key alone); *ret_deleted (may be NULL) says
 * how many went. */
int etcd_delete(struct etcd *c, const void *key, size_t key_len, const void *range_end,
		size_t range_end_len, int64_t *ret_deleted);

/* The end of the range of every key that starts with prefix: prefix with its last byte
 * below 0xff incremented and what follows it dropped, written to end (prefix_len bytes of
 * room); returns its length, or 0 when every byte is 0xff (then use "\0", length 1: to the
 * end of the key space). */
size_t etcd_prefix_end(const void *prefix, size_t prefix_len, uint8_t *end);

/* Transactions: if every compare holds, the success ops run, else the failure ops; all at
 * one revision. */
enum etcd_target {
	ETCD_MOD = 0, /* the key's mod_revision (0: it does not exist) */
	ETCD_CREATE,  /* its create_revision (0: it does not exist) */
	ETCD_VERSION, /* its version (0: it does not exist) */
	ETCD_VALUE,   /* its value */
};

enum etcd_result { ETCD_EQUAL = 0, ETCD_GREATER, ETCD_LESS, ETCD_NOT_EQUAL };

struct etcd_cmp {
	const void *key;
	size_t key_len;
	enum etcd_target target;
	enum etcd_result result;
	int64_t number;    /* the revision or version compared with */
	const void *value; /* ETCD_VALUE */
	size_t value_len;
};

enum etcd_op_type { ETCD_OP_PUT = 0, ETCD_OP_DELETE, ETCD_OP_GET };

struct etcd_op {
	enum etcd_op_type type;
	const void *key;
	size_t key_len;
	const void *value; /* PUT */
	size_t value_len;
	const void *range_end; /* DELETE and GET (NULL: the key alone) */
	size_t range_end_len;
	int64_t lease; /* PUT */
};

/* *ret_succeeded: whether the compares held. When ret_range is not NULL, it gets the
 * first GET's keys among the ops that ran (count 0 when none ran). *ret_revision (may be
 * NULL): the store's revision after it. Each list holds at most ETCD_TXN_OPS_MAX. */
int etcd_txn(struct etcd *c, const struct etcd_cmp *cmps, unsigned n_cmps,
	     const struct etcd_op *success, unsigned n_success, const struct etcd_op *failure,
	     unsigned n_failure, bool *ret_succeeded, struct etcd_range *ret_range,
	     int64_t *ret_revision);

/* Compact the store's history up to revision: older revisions are gone (a watch from one
 * of them ends with -ERANGE). -ERANGE when revision is compacted already or in the
 * future. */
int etcd_compact(struct etcd *c, int64_t revision);

/* Leases. grant: a new lease of ttl_s seconds (*ret_ttl_s as etcd granted it). keepalive:
 * renewed, *ret_ttl_s its fresh TTL; -ENOENT once it has expired (or was revoked).
 * revoke: gone, and every key attached to it deleted; -ENOENT when it was gone already. */
int etcd_lease_grant(struct etcd *c, int64_t ttl_s, int64_t *ret_id, int64_t *ret_ttl_s);
int etcd_lease_keepalive(struct etcd *c, int64_t id, int64_t *ret_ttl_s);
int etcd_lease_revoke(struct etcd *c, int64_t id);

/*
 * Watches: the changes to [key, range_end) from start_revision on (0: from now), in
 * revision order, delivered by etcd_watch_poll(). A watch is its own long request on
 * its own connection (to the first endpoint that answers), independent of any client.
 * When it ends (the endpoint closed it: -ECONNRESET; its start was compacted away:
 * -ERANGE), start another one from the revision after the last event seen.
 */
struct etcd_watch;

enum etcd_event_type { ETCD_EV_PUT = 0, ETCD_EV_DELETE };

struct etcd_event {
	enum etcd_event_type type;
	struct etcd_kv kv; /* a DELETE has the key and its mod_revision only */
};

int etcd_watch_create(const struct etcd_opts *opts, const void *key, size_t key_len,
		      const void *range_end, size_t range_end_len, int64_t start_revision,
		      struct etcd_watch **ret_watch);
/* Wait up to timeout_ms for events; up to max of them into ev (their bytes valid until the
 * next poll). Returns their number (0: none in time), or -ECONNRESET, -ERANGE, -EPROTO,
 * -ECONNREFUSED, -ENOBUFS (more than 65,536 events came that were not polled), -ENOMEM
 * (the watch is over; etcd_watch_error() says why). */
int etcd_watch_poll(struct etcd_watch *w, struct etcd_event *ev, unsigned max, uint32_t timeout_ms);
const char *etcd_watch_error(const struct etcd_watch *w);
void etcd_watch_destroy(struct etcd_watch *w);

#endif /* PF_NET_ETCD_H */
