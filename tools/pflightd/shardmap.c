/* SPDX-License-Identifier: MIT */
/*
 * tools/pflightd/shardmap.c: the shard map of shardmap.h.
 *
 * A take is a transaction per batch:
 *   compare: for each shard, mod_revision(key) == the copy's (create_revision == 0 when
 *            the copy says there is no key)
 *   success: for each shard, put {owner: me, epoch: copy's + 1, replicas}
 * etcd applies it whole or not at all, at one revision, so every key it puts has that
 * revision as its mod_revision: the copies are updated from the answer alone. Refused, the
 * batch's shards are read again and the ones the predicate still allows go in the next
 * try, at most TAKE_TRIES times per batch.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shm/pf_assert.h"
#include "tools/pflightd/shardmap.h"

#define KEY_DIGITS 7 /* SHARDMAP_SHARDS_MAX - 1 = 1048575 */
#define READ_PAGE 4096u
#define TAKE_TRIES 16

struct shardmap {
	struct etcd *c;
	uint32_t shards;
	char meta[96];
	char prefix[96]; /* /pflight/<cluster>/shards/ */
	size_t prefix_len;
	struct shard_owner *copy;
};

_Static_assert(SHARDMAP_SHARDS_MAX - 1 <= 9999999, "KEY_DIGITS decimal digits");

static size_t shard_key(const struct shardmap *m, uint32_t s, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%s%0*u", m->prefix, KEY_DIGITS, s);

	PF_ASSERT(n > 0 && (size_t)n < cap);
	return (size_t)n;
}

bool shardmap_host_ok(const char *name, size_t len)
{
	if (name == NULL || len == 0 || len > SHARDMAP_HOST_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = name[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
			return false;
	}
	return true;
}

/* A shard's value into o (its mod_revision is the caller's). 0 or -EPROTO. */
static int parse_owner(const uint8_t *v, size_t len, struct shard_owner *o)
{
	json_t *root = json_loadb((const char *)v, len, 0, NULL);
	const char *owner = json_string_value(json_object_get(root, "owner"));
	json_t *epoch = json_object_get(root, "epoch"), *reps = json_object_get(root, "replicas");
	size_t i;
	json_t *r;
	int rc = 0;

	if (owner == NULL || (owner[0] != '\0' && !shardmap_host_ok(owner, strlen(owner))) ||
	    !json_is_integer(epoch) || json_integer_value(epoch) < 0 ||
	    json_integer_value(epoch) > UINT32_MAX ||
	    (reps != NULL &&
	     (!json_is_array(reps) || json_array_size(reps) > SHARDMAP_REPLICAS_MAX)))
		rc = -EPROTO;
	if (rc == 0) {
		(void)snprintf(o->owner, sizeof(o->owner), "%s", owner);
		o->epoch = (uint32_t)json_integer_value(epoch);
		o->replicas_count = 0;
	}
	json_array_foreach(reps, i, r)
	{
		const char *name = json_string_value(r);

		if (rc < 0 || name == NULL || !shardmap_host_ok(name, strlen(name))) {
			rc = -EPROTO;
			break;
		}
		(void)snprintf(o->replicas[o->replicas_count++], sizeof(o->replicas[0]), "%s",
			       name);
	}
	json_decref(root);
	return rc;
}

/* The shard a key names, or -1. */
static long shard_of_key(const struct shardmap *m, const uint8_t *key, size_t len)
{
	long s = 0;

	if (len != m->prefix_len + KEY_DIGITS || memcmp(key, m->prefix, m->prefix_len) != 0)
		return -1;
	for (size_t i = m->prefix_len; i < len; i++) {
		if (key[i] < '0' || key[i] > '9')
			return -1;
		s = s * 10 + (key[i] - '0');
	}
	return s < (long)m->shards ? s : -1;
}

int shardmap_read(struct shardmap *m, uint32_t first, uint32_t count)
{
	char from[128], end[128];
	size_t from_len, end_len;
	uint32_t next = first; /* copies before it are read; a failed page keeps the rest */

	if (m == NULL || count == 0 || first >= m->shards || count > m->shards - first)
		return -EINVAL;
	from_len = shard_key(m, first, from, sizeof(from));
	end_len = shard_key(m, first + count, end, sizeof(end)); /* may be past the last */
	for (;;) {
		struct etcd_range rg;
		int r = etcd_get(m->c, from, from_len, end, end_len, READ_PAGE, &rg);

		if (r < 0)
			return r;
		for (uint32_t i = 0; i < rg.count; i++) {
			long s = shard_of_key(m, rg.kvs[i].key, rg.kvs[i].key_len);

			if (s < 0)
				continue;          /* not a shard's key: ignored */
			while (next < (uint32_t)s) /* no key: nobody, epoch 0 */
				m->copy[next++] = (struct shard_owner){0};
			next = (uint32_t)s + 1;
			if (parse_owner(rg.kvs[i].value, rg.kvs[i].value_len, &m->copy[s]) < 0)
				m->copy[s] = (struct shard_owner){.corrupt = 1};
			m->copy[s].mod_revision = rg.kvs[i].mod_revision;
		}
		if (!rg.more || rg.count == 0) {
			while (next < first + count)
				m->copy[next++] = (struct shard_owner){0};
			return 0;
		}
		/* The next page starts just after the last key of this one. */
		PF_ASSERT(rg.kvs[rg.count - 1].key_len < sizeof(from) - 1);
		memcpy(from, rg.kvs[rg.count - 1].key, rg.kvs[rg.count - 1].key_len);
		from[rg.kvs[rg.count - 1].key_len] = '\0';
		from_len = rg.kvs[rg.count - 1].key_len + 1;
	}
}

/* meta: written if nobody did, else it must say `shards`. */
static int check_meta(struct shardmap *m)
{
	char value[64];
	struct etcd_cmp absent = {
		.key = m->meta, .key_len = strlen(m->meta), .target = ETCD_CREATE};
	struct etcd_op put = {.type = ETCD_OP_PUT, .key = m->meta, .key_len = absent.key_len};
	struct etcd_op get = {.type = ETCD_OP_GET, .key = m->meta, .key_len = absent.key_len};
	struct etcd_range rg;
	bool made = false;
	json_t *root;
	int64_t shards;
	int r;

	(void)snprintf(value, sizeof(value), "{\"format\":1,\"shards\":%u}", m->shards);
	put.value = value;
	put.value_len = strlen(value);
	r = etcd_txn(m->c, &absent, 1, &put, 1, &get, 1, &made, &rg, NULL);
	if (r < 0 || made)
		return r;
	if (rg.count != 1)
		return -EPROTO;
	root = json_loadb((const char *)rg.kvs[0].value, rg.kvs[0].value_len, 0, NULL);
	shards = json_integer_value(json_object_get(root, "shards"));
	r = json_integer_value(json_object_get(root, "format")) == 1 && shards > 0 ? 0 : -EPROTO;
	json_decref(root);
	if (r == 0 && shards != (int64_t)m->shards)
		r = -EEXIST; /* the cluster was made with another count */
	return r;
}

int shardmap_open(struct etcd *c, const char *cluster, uint32_t shards, struct shardmap **ret)
{
	struct shardmap *m;
	int r;

	if (c == NULL || cluster == NULL || ret == NULL || shards == 0 ||
	    shards > SHARDMAP_SHARDS_MAX || (shards & (shards - 1)) != 0 || strlen(cluster) > 64)
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return -ENOMEM;
	m->c = c;
	m->shards = shards;
	(void)snprintf(m->meta, sizeof(m->meta), "/pflight/%s/meta", cluster);
	(void)snprintf(m->prefix, sizeof(m->prefix), "/pflight/%s/shards/", cluster);
	m->prefix_len = strlen(m->prefix);
	m->copy = calloc(shards, sizeof(*m->copy));
	r = m->copy == NULL ? -ENOMEM : check_meta(m);
	if (r == 0)
		r = shardmap_read(m, 0, shards);
	if (r < 0) {
		shardmap_close(m);
		return r;
	}
	*ret = m;
	return 0;
}

void shardmap_close(struct shardmap *m)
{
	if (m == NULL)
		return;
	free(m->copy);
	free(m);
}

uint32_t shardmap_shards(const struct shardmap *m)
{
	return m->shards;
}

uint32_t shardmap_of(const struct shardmap *m, uint32_t vnode)
{
	return vnode & (m->shards - 1);
}

const struct shard_owner *shardmap_get(const struct shardmap *m, uint32_t s)
{
	PF_ASSERT(s < m->shards);
	return &m->copy[s];
}

const char *shardmap_prefix(const struct shardmap *m, uint8_t *end, size_t *ret_end_len)
{
	*ret_end_len = etcd_prefix_end(m->prefix, m->prefix_len, end);
	return m->prefix;
}

int shardmap_apply(struct shardmap *m, const struct etcd_event *ev)
{
	long s = shard_of_key(m, ev->kv.key, ev->kv.key_len);
	struct shard_owner o = {0};

	if (s < 0)
		return 0;
	if (ev->kv.mod_revision <= m->copy[s].mod_revision)
		return 0; /* a take of ours already said so */
	if (ev->type == ETCD_EV_PUT && parse_owner(ev->kv.value, ev->kv.value_len, &o) < 0) {
		m->copy[s] =
			(struct shard_owner){.corrupt = 1, .mod_revision = ev->kv.mod_revision};
		return -EPROTO;
	}
	o.mod_revision = ev->type == ETCD_EV_PUT ? ev->kv.mod_revision : 0;
	m->copy[s] = o;
	return 1;
}

/* The value of shard s taken by me: its copy's epoch + 1. NULL: no memory. */
static char *taken_value(const struct shard_owner *o, const char *me, const char *const *replicas,
			 unsigned n_replicas)
{
	json_t *reps = json_array(), *root;
	char *text;

	for (unsigned i = 0; reps != NULL && i < n_replicas; i++)
		if (json_array_append_new(reps, json_string(replicas[i])) != 0)
			json_decref(reps), reps = NULL;
	root = reps != NULL ? json_pack("{s:s,s:I,s:o}", "owner", me, "epoch",
					(json_int_t)o->epoch + 1, "replicas", reps)
			    : NULL;
	text = root != NULL ? json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(root);
	return text;
}

/* One transaction over batch[0..n): 1 taken (copies updated), 0 refused, or an errno. */
static int take_batch(struct shardmap *m, const uint32_t *batch, unsigned n, const char *me,
		      const char *const *replicas, unsigned n_replicas)
{
	char keys[SHARDMAP_BATCH][128];
	struct etcd_cmp cmps[SHARDMAP_BATCH];
	struct etcd_op puts[SHARDMAP_BATCH];
	char *values[SHARDMAP_BATCH] = {0};
	bool ok = false;
	int64_t rev = 0;
	int r = 0;

	PF_ASSERT(n > 0 && n <= SHARDMAP_BATCH);
	for (unsigned i = 0; i < n && r == 0; i++) {
		const struct shard_owner *o = &m->copy[batch[i]];
		size_t klen = shard_key(m, batch[i], keys[i], sizeof(keys[i]));

		values[i] = taken_value(o, me, replicas, n_replicas);
		r = values[i] == NULL ? -ENOMEM : 0;
		cmps[i] = (struct etcd_cmp){.key = keys[i],
					    .key_len = klen,
					    .target = o->mod_revision == 0 ? ETCD_CREATE : ETCD_MOD,
					    .number = o->mod_revision};
		puts[i] = (struct etcd_op){.type = ETCD_OP_PUT,
					   .key = keys[i],
					   .key_len = klen,
					   .value = values[i],
					   .value_len = values[i] != NULL ? strlen(values[i]) : 0};
	}
	if (r == 0)
		r = etcd_txn(m->c, cmps, n, puts, n, NULL, 0, &ok, NULL, &rev);
	for (unsigned i = 0; i < n; i++) {
		if (r == 0 && ok)
			r = parse_owner((const uint8_t *)values[i], strlen(values[i]),
					&m->copy[batch[i]]);
		if (r == 0 && ok)
			m->copy[batch[i]].mod_revision = rev;
		free(values[i]);
	}
	return r < 0 ? r : ok;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

int shardmap_take(struct shardmap *m, const uint32_t *shards, unsigned n, const char *me,
		  const char *const *replicas, unsigned n_replicas,
		  bool (*eligible)(const struct shard_owner *copy, void *arg), void *arg,
		  unsigned *ret_taken)
{
	unsigned taken = 0;
	int r = 0;

	if (m == NULL || (shards == NULL && n > 0) || me == NULL ||
	    !shardmap_host_ok(me, strlen(me)) || n_replicas > SHARDMAP_REPLICAS_MAX ||
	    (replicas == NULL && n_replicas > 0) || eligible == NULL || ret_taken == NULL)
		return -EINVAL;
	for (unsigned i = 0; i < n_replicas; i++)
		if (replicas[i] == NULL || !shardmap_host_ok(replicas[i], strlen(replicas[i])))
			return -EINVAL; /* else our own value would read back as corrupt */
	for (unsigned i = 0; i < n; i++)
		if (shards[i] >= m->shards)
			return -EINVAL; /* before anything is taken */
	for (unsigned at = 0; at < n && r >= 0; at += SHARDMAP_BATCH) {
		uint32_t batch[SHARDMAP_BATCH], want[SHARDMAP_BATCH];
		unsigned nb = n - at < SHARDMAP_BATCH ? n - at : SHARDMAP_BATCH;

		memcpy(batch, shards + at, nb * sizeof(batch[0]));
		qsort(batch, nb, sizeof(batch[0]), cmp_u32);
		for (int tries = 0; tries < TAKE_TRIES; tries++) {
			unsigned nw = 0;

			for (unsigned i = 0; i < nb; i++)
				if ((i == 0 || batch[i] != batch[i - 1]) &&
				    !m->copy[batch[i]].corrupt && eligible(&m->copy[batch[i]], arg))
					want[nw++] = batch[i];
			r = nw == 0 ? 1 : take_batch(m, want, nw, me, replicas, n_replicas);
			if (r != 0) {
				taken += r > 0 ? nw : 0;
				break;
			}
			/* Refused: one of them changed. Read them again, and again. */
			r = shardmap_read(m, batch[0], batch[nb - 1] - batch[0] + 1);
			if (r < 0)
				break;
		}
	}
	*ret_taken = taken;
	return r < 0 ? r : 0;
}
