/* SPDX-License-Identifier: MIT */
/*
 * tools/pflightd/shardmap.h: who owns which shard of VNodes, as etcd has it
 * (docs/cluster.md, "Ownership"), and the one way to change it: a transaction that moves a
 * shard to a new owner at epoch + 1 only if its key is still what this host last read.
 *
 * Keys, under /pflight/<cluster>/: `meta` ({"format":1,"shards":S}, written once, by the
 * first host, and checked by every later one) and `shards/<s>` (seven decimal digits:
 * {"owner":"<host>","epoch":N,"replicas":["<host>",...]}). A shard with no key is owned by
 * nobody, at epoch 0.
 *
 * The map keeps this host's copy of every shard (owner, epoch, the key's revision):
 * read whole at open, then kept current from the watch's events (shardmap_apply()) or by
 * reads (shardmap_read()). A take that fails because a shard changed meanwhile refreshes
 * those shards and tries the rest again: so two hosts that race for the same shards can
 * never both get one, and a host with a stale copy (one that was cut off) gets nothing.
 * A key that holds no shard's value (written by something else) is kept as `corrupt`:
 * its owner unknown, and no take moves it.
 * Single-threaded: one map per thread.
 */
#ifndef PFLIGHTD_SHARDMAP_H
#define PFLIGHTD_SHARDMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/etcd.h"

#define SHARDMAP_SHARDS_MAX (1u << 20)
#define SHARDMAP_BATCH 64u /* shards per transaction: 64 compares, 64 puts */
#define SHARDMAP_REPLICAS_MAX 4u
#define SHARDMAP_HOST_MAX 64u

struct shard_owner {
	char owner[SHARDMAP_HOST_MAX + 1]; /* "": nobody */
	uint32_t epoch;
	uint32_t replicas_count;
	char replicas[SHARDMAP_REPLICAS_MAX][SHARDMAP_HOST_MAX + 1];
	int64_t mod_revision; /* of its key; 0: no key */
	uint32_t corrupt;     /* its key holds no shard's value: owner unknown, never taken */
	uint32_t reserved0;
};

struct shardmap;

/* A host name as the directory takes it, from etcd's keys and values alike: 1..64 bytes
 * of [A-Za-z0-9._-] (a PhoenixFile's transport.name), so that nothing written into etcd
 * by something else can reach an audit record or a log line as anything but a name. */
bool shardmap_host_ok(const char *name, size_t len);

/* Open the map of cluster `cluster` with `shards` shards (a power of two, 1 ..
 * SHARDMAP_SHARDS_MAX): writes `meta` if nobody did, else checks it, then reads every
 * shard. Returns 0, -EEXIST (the cluster was made with another count), -EPROTO (`meta` is
 * not one of ours), -EINVAL (bad arguments), or the client's errors. The client is the
 * caller's and must outlive the map. */
int shardmap_open(struct etcd *c, const char *cluster, uint32_t shards, struct shardmap **ret);
void shardmap_close(struct shardmap *m);
uint32_t shardmap_shards(const struct shardmap *m);
/* The shard of a VNode. */
uint32_t shardmap_of(const struct shardmap *m, uint32_t vnode);
/* This host's copy of shard s (s < shards). */
const struct shard_owner *shardmap_get(const struct shardmap *m, uint32_t s);
/* Read shards [first, first + count) again from etcd. 0 or the client's errors. */
int shardmap_read(struct shardmap *m, uint32_t first, uint32_t count);
/* A watch event on the cluster's keys: the copy updated when it is a shard's (others are
 * ignored). 1 when it changed a shard, 0 when it was not a shard's or was seen already,
 * -EPROTO (the shard kept as corrupt). */
int shardmap_apply(struct shardmap *m, const struct etcd_event *ev);
/* The prefix of the shards' keys and its range end, for a watch. */
const char *shardmap_prefix(const struct shardmap *m, uint8_t *end, size_t *ret_end_len);

/*
 * Take shards for `me`: each shard s of shards[0..n), not corrupt, that `eligible(copy of
 * s, arg)` allows, moves to me at its epoch + 1 with `replicas`, by transactions of up to
 * SHARDMAP_BATCH that compare each key's revision with the copy's. A transaction refused because
 * one of its shards changed refreshes its shards and goes again with those still eligible, so a
 * shard is taken only from the state the predicate saw. *ret_taken: how many were taken
 * (each of them is now me at the epoch in its copy). Returns 0, or the client's errors
 * (those taken before stay taken).
 */
int shardmap_take(struct shardmap *m, const uint32_t *shards, unsigned n, const char *me,
		  const char *const *replicas, unsigned n_replicas,
		  bool (*eligible)(const struct shard_owner *copy, void *arg), void *arg,
		  unsigned *ret_taken);

#endif /* PFLIGHTD_SHARDMAP_H */
