/* SPDX-License-Identifier: MIT */
/*
 * tools/pflightd/directory.c: this host in the cluster's directory (directory.h).
 *
 * Joining: grant a lease of cluster.lease_ttl, put `hosts/<host>` attached to it (its
 * transport address, public key, NUMA summary and capacity, as JSON), read every
 * `hosts/` key at that revision, and watch `hosts/` from the next one. So no change is
 * missed between the read and the watch, and none is seen twice.
 *
 * Staying: a keepalive every third of the TTL. One that finds the lease gone (it expired
 * while etcd could not be reached, or this thread was paused past it) joins again with a
 * new lease. One that cannot reach etcd marks the directory unavailable (once) and tries
 * again every DIR_RETRY_MS; the domain goes on serving what it owns meanwhile.
 *
 * Others: a PUT of a host not seen live is a join; a DELETE of one is a loss, or a clean
 * leave when its last value said "leaving" (a daemon that stops puts that, then revokes
 * its lease). A watch that ends is started again from the revision after the last event;
 * one whose start was compacted away reads `hosts/` afresh and reports the difference.
 */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "net/etcd.h"
#include "shm/pf_assert.h"
#include "shm/pf_atomic.h"
#include "tools/pflightd/directory.h"
#include "tools/pflightd/log.h"
#include "tools/pflightd/shardmap.h"

#define DIR_HOSTS_MAX 1024u
#define DIR_RETRY_MS 1000u
#define DIR_EVENTS_MAX 64u
#define DIR_PARK_MAX_MS 100u
#define DIR_CLAIM_MS 2000u /* the domain's VNodes looked at for their shards */
#define DIR_OWNERS_PAGE 4096u

enum dir_state { DIR_JOINING = 0, DIR_UP, DIR_DOWN };

struct dir_host {
	char name[PF_MANIFEST_HOST_NAME_MAX + 1];
	int live;
	int leaving;     /* its last value said it was leaving */
	const char *end; /* not live: "left" or "lost" */
};

struct directory {
	struct etcd_opts opts;
	const char *endpoints[PF_MANIFEST_ENDPOINTS_MAX];
	struct etcd *c;
	struct etcd_watch *w;
	struct cmdq *to_auditor;
	char prefix[96]; /* /pflight/<cluster>/hosts/ */
	uint8_t prefix_end[96];
	size_t prefix_len, prefix_end_len;
	char cluster[PF_DOMAIN_NAME_MAX + 1];
	char cprefix[96]; /* /pflight/<cluster>/: what the watch covers */
	uint8_t cprefix_end[96];
	size_t cprefix_len, cprefix_end_len;
	struct pf_domain *d;
	struct shardmap *map; /* opened at the first join */
	uint32_t shards;
	uint8_t *need;  /* [shards]: a VNode of it is defined here */
	uint8_t *said;  /* [shards]: its conflict was audited */
	uint32_t *take; /* [shards]: those to take, at a claim */
	uint32_t vnodes_max;
	struct pf_vnode_owner *owners; /* DIR_OWNERS_PAGE */
	uint64_t next_claim_ms;
	char host[PF_MANIFEST_HOST_NAME_MAX + 1];
	json_t *self;                                      /* this host's key's value */
	char *value;                                       /* and as text */
	char self_key[96 + PF_MANIFEST_HOST_NAME_MAX + 1]; /* its key: prefix, host */
	int64_t lease, ttl_s;
	int64_t next_rev; /* the watch's start */
	uint64_t next_keepalive_ms, next_try_ms, keep_ms;
	enum dir_state state;
	uint32_t hosts_count;
	int untracked; /* a host was seen the table had no room for */
	struct dir_host hosts[DIR_HOSTS_MAX];
	struct etcd_event ev[DIR_EVENTS_MAX]; /* taken by park, handled by do_work */
	char ev_keys[DIR_EVENTS_MAX][PF_MANIFEST_HOST_NAME_MAX + 1];
	int ev_leaving[DIR_EVENTS_MAX];
	int64_t ev_rev[DIR_EVENTS_MAX];
	unsigned ev_count;
	pthread_mutex_t mu; /* guards snap: published here, read by the API's thread */
	char *snap;
	_Atomic int up; /* state == DIR_UP, for other threads (directory_available()) */
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void audit(struct directory *dir, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void audit(struct directory *dir, const char *event, const char *fmt, ...)
{
	char text[CMDQ_TEXT_MAX];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	for (int tries = 0; cmdq_record(dir->to_auditor, event, PF_AUDIT_NO_VNODE, "%s", text) < 0;
	     tries++) {
		if (tries == 100) {
			log_msg(LOG_ERROR, "cluster: %s not audited (queue full)", event);
			return;
		}
		usleep(1000);
	}
}

/* This host's value: what the others need to reach it and to place on it. */
static json_t *host_value(const struct pf_manifest *m, const char *host, const unsigned char pk[32],
			  struct pf_domain *d, uint32_t *ret_vnodes_max)
{
	struct pf_domain_info di = {.size = sizeof(di)};
	struct pf_numa *numa = NULL;
	char key[65];
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int nodes = 1;
	for (int i = 0; i < 32; i++)
		(void)snprintf(key + 2 * i, 3, "%02x", pk[i]);
	(void)pf_domain_info(d, &di);
	*ret_vnodes_max = di.vnodes_max;
	if (pf_numa_open_system(&numa) == 0) {
		nodes = pf_numa_nodes(numa);
		pf_numa_close(numa);
	}
	return json_pack("{s:s,s:s,s:i,s:s,s:{s:i,s:i},s:{s:I,s:I,s:I},s:b,s:I}", "host", host,
			 "address", m->transport.listen, "port", (int)m->transport.port, "key", key,
			 "numa", "nodes", nodes > 0 ? nodes : 1, "cpus", (int)(cpus > 0 ? cpus : 1),
			 "capacity", "members", (json_int_t)di.members_max, "vnodes",
			 (json_int_t)di.vnodes_max, "state_bytes", (json_int_t)di.state_bytes_max,
			 "leaving", 0, "pid", (json_int_t)getpid());
}

int directory_create(const struct pf_manifest *m, const char *host, const unsigned char pk[32],
		     struct pf_domain *d, struct cmdq *to_auditor, struct directory **ret)
{
	const struct pf_manifest_cluster *cl = &m->cluster;
	struct directory *dir;
	int r;

	*ret = NULL;
	if (cl->etcd_endpoints_count == 0)
		return 0;
	dir = calloc(1, sizeof(*dir));
	if (dir == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < cl->etcd_endpoints_count; i++)
		dir->endpoints[i] = cl->etcd_endpoints[i];
	dir->opts = (struct etcd_opts){.endpoints = dir->endpoints,
				       .endpoints_count = cl->etcd_endpoints_count};
	dir->to_auditor = to_auditor;
	(void)pthread_mutex_init(&dir->mu, NULL);
	dir->ttl_s = (int64_t)((cl->lease_ttl_ns + 999999999u) / 1000000000u);
	(void)snprintf(dir->host, sizeof(dir->host), "%s", host);
	(void)snprintf(dir->prefix, sizeof(dir->prefix), "/pflight/%s/hosts/", cl->name);
	dir->prefix_len = strlen(dir->prefix);
	dir->prefix_end_len = etcd_prefix_end(dir->prefix, dir->prefix_len, dir->prefix_end);
	(void)snprintf(dir->cluster, sizeof(dir->cluster), "%s", cl->name);
	(void)snprintf(dir->cprefix, sizeof(dir->cprefix), "/pflight/%s/", cl->name);
	dir->cprefix_len = strlen(dir->cprefix);
	dir->cprefix_end_len = etcd_prefix_end(dir->cprefix, dir->cprefix_len, dir->cprefix_end);
	dir->d = d;
	dir->shards = cl->shards;
	dir->need = calloc(cl->shards, 1);
	dir->said = calloc(cl->shards, 1);
	dir->take = calloc(cl->shards, sizeof(*dir->take));
	dir->owners = calloc(DIR_OWNERS_PAGE, sizeof(*dir->owners));
	dir->self = host_value(m, host, pk, d, &dir->vnodes_max);
	dir->value =
		dir->self != NULL ? json_dumps(dir->self, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	(void)snprintf(dir->self_key, sizeof(dir->self_key), "%s%s", dir->prefix, host);
	r = dir->value == NULL || dir->need == NULL || dir->said == NULL || dir->take == NULL ||
			    dir->owners == NULL
		    ? -ENOMEM
		    : etcd_create(&dir->opts, &dir->c);
	if (r < 0) {
		log_msg(LOG_ERROR, "cluster: %s",
			r == -EINVAL ? "an etcd endpoint is not a URL "
				       "(http:// or https://) or too long"
				     : strerror(-r));
		directory_destroy(dir);
		return r;
	}
	log_msg(LOG_INFO, "cluster: %s, as %s, through %u etcd endpoints (lease %llds)", cl->name,
		host, cl->etcd_endpoints_count, (long long)dir->ttl_s);
	*ret = dir;
	return 0;
}

static struct dir_host *find(struct directory *dir, const char *name, int add)
{
	for (uint32_t i = 0; i < dir->hosts_count; i++)
		if (strcmp(dir->hosts[i].name, name) == 0)
			return &dir->hosts[i];
	if (!add)
		return NULL;
	for (uint32_t i = 0; dir->hosts_count == DIR_HOSTS_MAX && i < DIR_HOSTS_MAX; i++)
		if (dir->hosts[i].live <= 0 && strcmp(dir->hosts[i].name, dir->host) != 0) {
			/* full: a gone host's entry is taken (it was reported gone) */
			dir->hosts[i] = (struct dir_host){0};
			(void)snprintf(dir->hosts[i].name, sizeof(dir->hosts[0].name), "%s", name);
			return &dir->hosts[i];
		}
	if (dir->hosts_count == DIR_HOSTS_MAX) {
		dir->untracked = 1;
		return NULL;
	}
	(void)snprintf(dir->hosts[dir->hosts_count].name, sizeof(dir->hosts[0].name), "%s", name);
	return &dir->hosts[dir->hosts_count++];
}

/* The host name a key names (the part after the prefix), into out: 0, or -EPROTO. */
static int name_of(const struct directory *dir, const uint8_t *key, size_t len, char *out,
		   size_t cap)
{
	if (len <= dir->prefix_len || len - dir->prefix_len >= cap ||
	    memcmp(key, dir->prefix, dir->prefix_len) != 0 ||
	    !shardmap_host_ok((const char *)key + dir->prefix_len, len - dir->prefix_len))
		return -EPROTO; /* not a host's key: ignored */
	memcpy(out, key + dir->prefix_len, len - dir->prefix_len);
	out[len - dir->prefix_len] = '\0';
	return 0;
}

static int value_leaving(const uint8_t *value, size_t len)
{
	json_t *o = json_loadb((const char *)value, len, 0, NULL);
	int leaving = json_is_true(json_object_get(o, "leaving"));

	json_decref(o);
	return leaving;
}

/* A host seen live (a PUT, or present at a read). */
static void saw_live(struct directory *dir, const char *name, int leaving, int64_t rev)
{
	struct dir_host *h = find(dir, name, 1);

	if (h == NULL || strcmp(name, dir->host) == 0) {
		if (h != NULL)
			h->live = 1;
		return;
	}
	if (!h->live && !leaving)
		audit(dir, "host_joined", "{\"host\":\"%s\",\"revision\":%lld}", name,
		      (long long)rev);
	h->live = 1;
	h->leaving = leaving;
}

/* A host's key gone (a DELETE, or absent at a read). */
static void saw_gone(struct directory *dir, const char *name, int64_t rev)
{
	struct dir_host *h = find(dir, name, 0);

	if (strcmp(name, dir->host) == 0) {
		if (dir->state == DIR_UP) {
			audit(dir, "cluster_lease_lost", "{\"revision\":%lld}", (long long)rev);
			log_msg(LOG_WARN,
				"cluster: this host's key went (its lease expired): joining "
				"again");
			dir->state = DIR_JOINING;
		}
		return;
	}
	if (h == NULL || !h->live)
		return;
	audit(dir, h->leaving ? "host_left" : "host_lost", "{\"host\":\"%s\",\"revision\":%lld}",
	      name, (long long)rev);
	h->end = h->leaving ? "left" : "lost";
	h->live = 0;
	h->leaving = 0;
}

/* Read every hosts/ key: the table made what it says (joins and losses reported). */
static int read_all(struct directory *dir, int64_t *ret_rev)
{
	struct etcd_range rg;
	int r = etcd_get(dir->c, dir->prefix, dir->prefix_len, dir->prefix_end, dir->prefix_end_len,
			 0, &rg);

	if (r < 0)
		return r;
	for (uint32_t i = 0; i < dir->hosts_count; i++)
		dir->hosts[i].live = -dir->hosts[i].live; /* -1: live, not seen yet */
	for (uint32_t i = 0; i < rg.count; i++) {
		char name[PF_MANIFEST_HOST_NAME_MAX + 1];
		struct dir_host *h;

		if (name_of(dir, rg.kvs[i].key, rg.kvs[i].key_len, name, sizeof(name)) < 0)
			continue;
		h = find(dir, name, 0);
		if (h != NULL && h->live < 0)
			h->live = 1;
		saw_live(dir, name, value_leaving(rg.kvs[i].value, rg.kvs[i].value_len),
			 rg.revision);
	}
	for (uint32_t i = 0; i < dir->hosts_count; i++)
		if (dir->hosts[i].live < 0) {
			dir->hosts[i].live = 1;
			saw_gone(dir, dir->hosts[i].name, rg.revision);
		}
	*ret_rev = rg.revision;
	return 0;
}

static void unavailable(struct directory *dir, int r)
{
	dir->next_try_ms = now_ms() + DIR_RETRY_MS;
	if (dir->state == DIR_DOWN)
		return;
	audit(dir, "cluster_unavailable", "{\"error\":\"%s\"}", strerror(-r));
	log_msg(LOG_WARN, "cluster: etcd unavailable (%s): serving what this host has",
		etcd_error(dir->c));
	dir->state = DIR_DOWN;
}

/* Lease, key, read, watch. 1 when done, or a negative errno (etcd unavailable). */
static int join(struct directory *dir)
{
	int64_t rev = 0, granted = 0;
	uint32_t live = 0;
	int r;

	if (dir->lease != 0) /* an earlier join's, if etcd still has it: this one replaces it */
		(void)etcd_lease_revoke(dir->c, dir->lease);
	dir->lease = 0;
	r = etcd_lease_grant(dir->c, dir->ttl_s, &dir->lease, &granted);

	if (r == 0 && dir->map == NULL) /* the cluster's shard count checked before we show */
		r = shardmap_open(dir->c, dir->cluster, dir->shards, &dir->map);
	if (r == -EEXIST && dir->map == NULL) {
		log_msg(LOG_ERROR,
			"cluster: %s was made with another shard count than cluster.shards (%u): "
			"this host stays out of it",
			dir->cluster, dir->shards);
		audit(dir, "cluster_refused", "{\"shards\":%u}", dir->shards);
		(void)etcd_lease_revoke(dir->c, dir->lease);
		dir->lease = 0;
		dir->next_try_ms = now_ms() + 60000u;
		dir->state = DIR_DOWN;
		return 1;
	}
	if (r == 0)
		r = etcd_put(dir->c, dir->self_key, strlen(dir->self_key), dir->value,
			     strlen(dir->value), dir->lease, NULL);
	if (r == 0)
		r = read_all(dir, &rev);
	if (r == 0) /* after the hosts' read: the watch from there misses no shard's change */
		r = shardmap_read(dir->map, 0, dir->shards);
	etcd_watch_destroy(dir->w);
	dir->w = NULL;
	if (r == 0) /* from the hosts' read on: a shard's event seen twice changes nothing */
		r = etcd_watch_create(&dir->opts, dir->cprefix, dir->cprefix_len, dir->cprefix_end,
				      dir->cprefix_end_len, rev + 1, &dir->w);
	if (r < 0 && dir->lease != 0) { /* no lease left behind for the next try to add to */
		(void)etcd_lease_revoke(dir->c, dir->lease);
		dir->lease = 0;
	}
	if (r < 0)
		return r;
	dir->next_rev = rev + 1;
	for (uint32_t i = 0; i < dir->hosts_count; i++)
		live += dir->hosts[i].live > 0;
	audit(dir, "cluster_joined", "{\"host\":\"%s\",\"lease\":%lld,\"ttl_s\":%lld,\"hosts\":%u}",
	      dir->host, (long long)dir->lease, (long long)dir->ttl_s, live);
	log_msg(LOG_INFO, "cluster: joined, %u hosts live", live);
	dir->state = DIR_UP;
	dir->keep_ms = (uint64_t)(granted > 0 && granted < dir->ttl_s ? granted : dir->ttl_s) *
		       1000u / 3; /* etcd may grant more than asked: never less */
	dir->next_keepalive_ms = now_ms() + dir->keep_ms;
	dir->next_claim_ms = 0;
	return 1;
}

static int keepalive(struct directory *dir)
{
	int r = etcd_lease_keepalive(dir->c, dir->lease, NULL);

	if (r == -ENOENT) {
		audit(dir, "cluster_lease_lost", "{\"lease\":%lld}", (long long)dir->lease);
		log_msg(LOG_WARN, "cluster: this host's lease expired: joining again");
		dir->state = DIR_JOINING;
		return 1;
	}
	if (r < 0) {
		unavailable(dir, r);
		dir->next_keepalive_ms = dir->next_try_ms;
		return 1;
	}
	if (dir->state == DIR_DOWN) {
		audit(dir, "cluster_available", "{\"lease\":%lld}", (long long)dir->lease);
		log_msg(LOG_INFO, "cluster: etcd answers again");
		dir->state = DIR_UP;
	}
	dir->next_keepalive_ms = now_ms() + dir->keep_ms;
	return 1;
}

/* What park's watch poll brought. */
static int handle_events(struct directory *dir)
{
	unsigned n = dir->ev_count;

	for (unsigned i = 0; i < n; i++) {
		if (dir->ev_rev[i] >= dir->next_rev) /* every key's: a new watch starts after it */
			dir->next_rev = dir->ev_rev[i] + 1;
		if (dir->ev_keys[i][0] == '\0') { /* not a host's key: a shard's, or another */
			if (dir->map != NULL && shardmap_apply(dir->map, &dir->ev[i]) < 0)
				log_msg(LOG_WARN, "cluster: a shard's key in etcd is not as "
						  "docs/cluster.md says: ignored");
			continue;
		}
		if (dir->ev[i].type == ETCD_EV_PUT)
			saw_live(dir, dir->ev_keys[i], dir->ev_leaving[i], dir->ev_rev[i]);
		else
			saw_gone(dir, dir->ev_keys[i], dir->ev_rev[i]);
	}
	dir->ev_count = 0;
	return (int)n;
}

static int host_live(const struct directory *dir, const char *name)
{
	for (uint32_t i = 0; i < dir->hosts_count; i++)
		if (strcmp(dir->hosts[i].name, name) == 0)
			return dir->hosts[i].live > 0;
	return dir->untracked; /* a live host may be among those the table had no room for */
}

/* A shard this host may take: nobody's, or a host's that is gone from the directory. */
static bool takeable(const struct shard_owner *o, void *arg)
{
	const struct directory *dir = arg;

	return o->owner[0] == '\0' ||
	       (strcmp(o->owner, dir->host) != 0 && !host_live(dir, o->owner));
}

/* Mark the shards of the VNodes this domain holds (defined, not another host's). */
static void mark_needed(struct directory *dir)
{
	memset(dir->need, 0, dir->shards);
	for (uint32_t first = 0; first < dir->vnodes_max; first += DIR_OWNERS_PAGE) {
		uint32_t n = dir->vnodes_max - first < DIR_OWNERS_PAGE ? dir->vnodes_max - first
								       : DIR_OWNERS_PAGE;

		if (pf_vnode_owners(dir->d, first, n, dir->owners) != (int)n)
			return;
		for (uint32_t i = 0; i < n; i++)
			if (dir->owners[i].state != PF_VNODE_UNASSIGNED &&
			    dir->owners[i].state != PF_VNODE_REMOTE &&
			    dir->owners[i].state != PF_VNODE_OWNER_INVALID)
				dir->need[shardmap_of(dir->map, first + i)] = 1;
	}
}

/* Shards found in one claim pass: their number, and the first of them. */
struct said {
	uint32_t count, first;
	const struct shard_owner *o;
};

static void said_more(struct said *sd, uint32_t s, const struct shard_owner *o)
{
	if (sd->count++ == 0) {
		sd->first = s;
		sd->o = o;
	}
}

/* One record for all the shards of a kind a pass found: a pass that finds a million
 * conflicts writes one line, not a million, and keeps its lease meanwhile. */
static void said_once(struct directory *dir, const char *event, const struct said *sd)
{
	if (sd->count == 0)
		return;
	audit(dir, event, "{\"count\":%u,\"first\":%u,\"owner\":\"%s\",\"epoch\":%u}", sd->count,
	      sd->first, sd->o->owner, sd->o->epoch);
}

/* The shards of this domain's VNodes: taken when nobody (live) owns them; a live other
 * owner is a conflict, audited once per shard, a pass's in one record (this host must
 * not serve them across hosts). */
static int claim(struct directory *dir)
{
	uint32_t *take = dir->take;
	struct said conflict = {0}, corrupt = {0};
	unsigned n = 0, got = 0, lost = 0;
	int r;

	if (dir->map == NULL)
		return 0;
	mark_needed(dir);
	for (uint32_t s = 0; s < dir->shards; s++) {
		const struct shard_owner *o = shardmap_get(dir->map, s);

		if (!dir->need[s] || strcmp(o->owner, dir->host) == 0)
			continue;
		if (!o->corrupt && takeable(o, dir)) {
			take[n++] = s;
			lost += o->owner[0] != '\0';
		} else if (!dir->said[s]) { /* a corrupt key (nobody takes it), or a live owner */
			dir->said[s] = 1;
			said_more(o->corrupt ? &corrupt : &conflict, s, o);
		}
	}
	said_once(dir, "shard_corrupt", &corrupt);
	said_once(dir, "shard_conflict", &conflict);
	r = n > 0 ? shardmap_take(dir->map, take, n, dir->host, NULL, 0, takeable, dir, &got) : 0;
	if (r < 0) {
		unavailable(dir, r);
		return 1;
	}
	if (got > 0)
		audit(dir, "shards_taken", "{\"count\":%u,\"asked\":%u,\"from_lost_hosts\":%u}",
		      got, n, lost);
	return (int)n;
}

static const char *const state_names[] = {"joining", "up", "unavailable"};

/* The snapshot the API serves, made again after every pass that did something. */
static void publish(struct directory *dir)
{
	json_t *hosts = json_array(), *o;
	uint32_t owned = 0;
	char *text;

	for (uint32_t i = 0; hosts != NULL && i < dir->hosts_count; i++) {
		const struct dir_host *h = &dir->hosts[i];

		if (strcmp(h->name, dir->host) != 0)
			json_array_append_new(hosts,
					      json_pack("{s:s,s:s}", "name", h->name, "state",
							h->live > 0      ? "live"
							: h->end != NULL ? h->end
									 : "lost"));
	}
	for (uint32_t s = 0; dir->map != NULL && s < dir->shards; s++)
		owned += strcmp(shardmap_get(dir->map, s)->owner, dir->host) == 0;
	o = hosts != NULL ? json_pack("{s:s,s:s,s:s,s:I,s:I,s:i,s:i,s:o}", "name", dir->cluster,
				      "host", dir->host, "state", state_names[dir->state], "lease",
				      (json_int_t)dir->lease, "lease_ttl_s", (json_int_t)dir->ttl_s,
				      "shards", (int)dir->shards, "shards_owned", (int)owned,
				      "hosts", hosts)
			  : NULL;
	text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (text == NULL)
		return; /* the last snapshot stays */
	(void)pthread_mutex_lock(&dir->mu);
	free(dir->snap);
	dir->snap = text;
	(void)pthread_mutex_unlock(&dir->mu);
}

char *directory_json(void *arg)
{
	struct directory *dir = arg;
	char *copy;

	(void)pthread_mutex_lock(&dir->mu);
	copy = dir->snap != NULL ? strdup(dir->snap) : NULL;
	(void)pthread_mutex_unlock(&dir->mu);
	return copy;
}

static int step(struct directory *dir);

int directory_do_work(void *arg)
{
	struct directory *dir = arg;
	int n = step(dir);

	if (n > 0 || dir->snap == NULL)
		publish(dir);
	/* Relaxed: a status others read to refuse a request; nothing is ordered by it. */
	pf_store_relaxed(&dir->up, dir->state == DIR_UP);
	return n;
}

int directory_available(const struct directory *dir)
{
	/* Relaxed: see directory_do_work(). */
	return pf_load_relaxed(&dir->up);
}

static int step(struct directory *dir)
{
	uint64_t now = now_ms();
	int r;

	PF_ASSERT(dir != NULL && dir->c != NULL);
	if (dir->ev_count > 0)
		return handle_events(dir);
	if (dir->state == DIR_JOINING || (dir->state == DIR_DOWN && dir->w == NULL)) {
		if (now < dir->next_try_ms)
			return 0;
		r = join(dir);
		if (r < 0)
			unavailable(dir, r);
		return 1;
	}
	if (now >= dir->next_keepalive_ms)
		return keepalive(dir);
	if (dir->state == DIR_UP && now >= dir->next_claim_ms) {
		dir->next_claim_ms = now + DIR_CLAIM_MS;
		return claim(dir);
	}
	return 0;
}

/* The watch ended: started again from the next revision, or read afresh when that was
 * compacted away. */
static void rewatch(struct directory *dir, int why)
{
	int64_t rev = dir->next_rev - 1;
	int r = 0;

	log_msg(LOG_INFO, "cluster: the watch of hosts ended (%s): again",
		etcd_watch_error(dir->w));
	etcd_watch_destroy(dir->w);
	dir->w = NULL;
	if (why == -ERANGE)
		r = read_all(dir, &rev);
	if (why == -ERANGE && r == 0 && dir->map != NULL)
		r = shardmap_read(dir->map, 0, dir->shards);
	if (r == 0)
		r = etcd_watch_create(&dir->opts, dir->cprefix, dir->cprefix_len, dir->cprefix_end,
				      dir->cprefix_end_len, rev + 1, &dir->w);
	if (r == 0)
		dir->next_rev = rev + 1;
	if (r < 0)
		unavailable(dir, r);
}

int directory_park(void *arg, uint64_t ns)
{
	struct directory *dir = arg;
	uint64_t ms = ns / 1000000u;
	int n;

	if (ms > DIR_PARK_MAX_MS)
		ms = DIR_PARK_MAX_MS;
	if (dir->w == NULL || dir->ev_count > 0) {
		usleep((useconds_t)(ms * 1000u));
		return 0;
	}
	n = etcd_watch_poll(dir->w, dir->ev, DIR_EVENTS_MAX, (uint32_t)ms);
	if (n < 0) {
		rewatch(dir, n);
		return 0;
	}
	for (int i = 0; i < n; i++) {
		const struct etcd_kv *kv = &dir->ev[i].kv;

		dir->ev_rev[i] = kv->mod_revision;
		dir->ev_leaving[i] = 0;
		if (name_of(dir, kv->key, kv->key_len, dir->ev_keys[i], sizeof(dir->ev_keys[i])) <
		    0)
			dir->ev_keys[i][0] = '\0'; /* a shard's (shardmap_apply() parses it) */
		else if (dir->ev[i].type == ETCD_EV_PUT) /* a host's: only its value is read here */
			dir->ev_leaving[i] = value_leaving(kv->value, kv->value_len);
	}
	dir->ev_count = (unsigned)n;
	return 0;
}

void directory_destroy(struct directory *dir)
{
	if (dir == NULL)
		return;
	if (dir->c != NULL && dir->lease != 0 && dir->state != DIR_DOWN) {
		char *leaving = json_object_set_new(dir->self, "leaving", json_true()) == 0
					? json_dumps(dir->self, JSON_COMPACT | JSON_SORT_KEYS)
					: NULL;

		if (leaving != NULL) /* the others see it leave, not lost */
			(void)etcd_put(dir->c, dir->self_key, strlen(dir->self_key), leaving,
				       strlen(leaving), dir->lease, NULL);
		(void)etcd_lease_revoke(dir->c, dir->lease);
		free(leaving);
	}
	etcd_watch_destroy(dir->w);
	shardmap_close(dir->map);
	etcd_destroy(dir->c);
	free(dir->value);
	json_decref(dir->self);
	free(dir->need);
	free(dir->said);
	free(dir->take);
	free(dir->owners);
	free(dir->snap);
	(void)pthread_mutex_destroy(&dir->mu);
	free(dir);
}
