/* SPDX-License-Identifier: MIT */
/*
 * pflight/manifest.h: the PhoenixFile, the YAML manifest pflightd starts from.
 *
 * A manifest is a YAML mapping with `apiVersion: pflight/v1`, `kind: Domain` and the
 * sections metadata, membership, scheduling, governance, transport, cluster and api. Every
 * field has a default (docs/phoenixfile.md, generated from the same schema table the
 * parser uses), so an empty set of sections, or no manifest at all
 * (pf_manifest_defaults()), gives a working embedded domain.
 *
 * struct pf_manifest is a plain struct, not an opaque handle: it is a value (copy it,
 * compare two of them on reload), it needs no allocation and no destructor, and the
 * daemon reads dozens of fields where accessors would only add surface. Every list has a
 * fixed bound (PF_MANIFEST_*_MAX) and the parser refuses a longer one. `size` comes first
 * so that the struct can grow at its end; the library refuses a size it does not know.
 * The struct is large (about 110 KiB with the policy rules and the peers): keep it static
 * or on the heap.
 *
 * Thread safety: every function is reentrant; none keeps state. None logs.
 */
#ifndef PFLIGHT_MANIFEST_H
#define PFLIGHT_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "pflight/common.h"
#include "pflight/domain.h"
#include "pflight/sched.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bounds, each picked well above any configuration we have seen, small enough for a
 * fixed struct. */
#define PF_MANIFEST_BYTES_MAX (1u << 20) /* largest manifest file accepted */
#define PF_MANIFEST_DEPTH_MAX 64u        /* collections nested, the root's included (6 used) */
#define PF_MANIFEST_ANCHORS_MAX 256u     /* YAML anchors (&name) in one manifest */
#define PF_MANIFEST_PATH_MAX 256u        /* bytes of a path, with the NUL */
#define PF_MANIFEST_HOST_MAX 256u        /* bytes of an address or endpoint, with the NUL */
#define PF_MANIFEST_RULES_MAX 8u         /* rules per policy action */
#define PF_MANIFEST_IDS_MAX 16u          /* uids or gids in one rule */
#define PF_MANIFEST_EXES_MAX 8u          /* executable paths or hashes in one rule */
#define PF_MANIFEST_CAPS_MAX 16u         /* capabilities in one rule */
#define PF_MANIFEST_NAMESPACES_MAX 8u    /* namespaces in one rule */
#define PF_MANIFEST_ENDPOINTS_MAX 8u     /* etcd endpoints */
#define PF_MANIFEST_SHA256_HEX 64u       /* hex digits of a sha256 digest */
#define PF_MANIFEST_HOST_NAME_MAX 63u    /* bytes of a host name, without the NUL */
#define PF_MANIFEST_ADDR_MAX 48u         /* bytes of a numeric address, with the NUL */
#define PF_MANIFEST_KEY_BYTES 32u        /* an Ed25519 public key */
/* Hosts one host exchanges VNodes with (transport.peers). Each is a connection to keep, a
 * key a packet is checked against and a host index: 64 is well above the hosts one would
 * pair by hand in a manifest, keeps the list to 10 KiB of the struct, and stays far below
 * the PF_TRANSIT_HOSTS_MAX indexes an ownership word holds. */
#define PF_MANIFEST_PEERS_MAX 64u

/* scheduling.strategy takes the values of enum pf_sched_strategy. */

/* governance.audit.fsync */
enum pf_manifest_fsync {
	PF_MANIFEST_FSYNC_EVERY = 0, /* fsync after every record */
	PF_MANIFEST_FSYNC_BATCH = 1, /* fsync once per batch of records drained */
	PF_MANIFEST_FSYNC_HEAD = 2,  /* fsync only when a signed head is written */
};

/* membership.on_stop: what pflightd does with its members when it is stopped */
enum pf_manifest_on_stop {
	PF_MANIFEST_ON_STOP_KEEP = 0,  /* they run on; the next pflightd adopts them */
	PF_MANIFEST_ON_STOP_DRAIN = 1, /* cordon every member, wait for the drains to end */
};

/* transport.backend */
enum pf_manifest_backend {
	PF_MANIFEST_BACKEND_IO_URING = 0,
	PF_MANIFEST_BACKEND_DPDK = 1,
};

/* One admission rule. A list left empty does not restrict; a rule matches when every
 * non-empty list matches and the trust and VNode bounds hold. */
struct pf_manifest_rule {
	uint32_t uids_count;
	uint32_t uids[PF_MANIFEST_IDS_MAX];
	uint32_t gids_count;
	uint32_t gids[PF_MANIFEST_IDS_MAX];
	uint32_t executables_count;
	char executables[PF_MANIFEST_EXES_MAX][PF_MANIFEST_PATH_MAX]; /* absolute paths */
	uint32_t sha256_count;
	char sha256[PF_MANIFEST_EXES_MAX][PF_MANIFEST_SHA256_HEX + 1]; /* lower-case hex */
	uint32_t capabilities_count;
	char capabilities[PF_MANIFEST_CAPS_MAX][PF_CAP_NAME_MAX + 1];
	uint32_t namespaces_count;
	char namespaces[PF_MANIFEST_NAMESPACES_MAX][PF_DOMAIN_NAME_MAX + 1];
	uint32_t min_trust_ppm;
	uint32_t vnodes_per_member_max; /* 0: no bound */
};

/* The rules of one action (can_register, can_assign, can_handoff). No rule: allow all. */
struct pf_manifest_policy {
	uint32_t rules_count;
	uint32_t reserved0;
	struct pf_manifest_rule rules[PF_MANIFEST_RULES_MAX];
};

struct pf_manifest_metadata {
	char name[PF_DOMAIN_NAME_MAX + 1];
	char namespace_name[PF_DOMAIN_NAME_MAX + 1]; /* `namespace` in YAML */
};

struct pf_manifest_membership {
	uint32_t members_max;
	uint32_t vnodes_max;
	uint32_t capabilities_max;
	uint32_t inbox_slots;
	uint64_t message_bytes_max;
	uint64_t state_bytes_max;
	uint64_t heartbeat_interval_ns;
	uint32_t heartbeat_misses;
	uint32_t drain_parallel;
	uint64_t slot_grace_ns;
	uint64_t drain_timeout_ns;
	uint32_t on_stop; /* enum pf_manifest_on_stop */
	uint32_t reserved0;
};

struct pf_manifest_rebalance {
	uint32_t moves_max;
	uint32_t moves_ppm;
	uint64_t cooldown_ns;
	uint32_t min_gain_ppm;
	uint32_t reserved0;
};

struct pf_manifest_scheduling {
	uint32_t strategy; /* enum pf_sched_strategy */
	uint32_t trust_floor_ppm;
	uint32_t epsilon_ppm; /* bounded load, every strategy (pflight/sched.h) */
	uint32_t reserved0;
	uint64_t seed;
	struct pf_manifest_rebalance rebalance;
};

struct pf_manifest_governance {
	struct pf_manifest_policy can_register;
	struct pf_manifest_policy can_assign;
	struct pf_manifest_policy can_handoff;
	char signing_key_path[PF_MANIFEST_PATH_MAX]; /* "": audit heads are not signed */
	uint32_t tokens_required;                    /* 0 or 1 */
	uint32_t audit_sign_every;
	char audit_path[PF_MANIFEST_PATH_MAX]; /* "": no audit file */
	uint32_t audit_fsync;                  /* enum pf_manifest_fsync */
	uint32_t segment_mode;
	uint64_t audit_rotate_bytes; /* 0: never rotate */
	int32_t group;               /* gid allowed to attach, -1: none */
	uint32_t reserved0;
	uint64_t audit_retain_bytes;  /* drop the oldest rotated files past this, 0: keep all */
	uint64_t audit_retain_age_ns; /* drop rotated files older than this, 0: keep all */
};

/*
 * A host this one may move VNodes to and from (transport.peers[i]). Its position i in the
 * list is its host index everywhere else: the `host` of pflight/transit.h's calls, which the
 * segment's ownership words record (LEAVING(i), REMOTE(i)); hence the list is not
 * reloadable, and its order matters.
 */
struct pf_manifest_peer {
	char name[PF_MANIFEST_HOST_NAME_MAX + 1]; /* its transport.name */
	char address[PF_MANIFEST_ADDR_MAX];       /* numeric IPv4 or IPv6 address */
	uint32_t port;
	uint32_t reserved0;
	/* Its Ed25519 public key, decoded from the 64 hex digits written (either case): the
	 * form a Flight Packet's host_key and pf_seal_verify() take, and two spellings of one
	 * key compare equal. */
	uint8_t key[PF_MANIFEST_KEY_BYTES];
};

struct pf_manifest_transport {
	uint32_t backend; /* enum pf_manifest_backend */
	uint32_t port;
	char listen[PF_MANIFEST_HOST_MAX];
	uint64_t zero_copy_threshold_bytes;       /* 0: never zero-copy */
	char name[PF_MANIFEST_HOST_NAME_MAX + 1]; /* this host's; "": pflightd uses gethostname() */
	char key_path[PF_MANIFEST_PATH_MAX]; /* Ed25519 secret key; "": <state>/<domain>.host.key */
	uint32_t peers_count;                /* 0: VNodes stay on this host */
	int32_t sqpoll_cpu; /* the CPU of a kernel thread polling submissions, -1: none */
	struct pf_manifest_peer peers[PF_MANIFEST_PEERS_MAX]; /* distinct names and keys */
};

/* The REST API pflightd serves (tools/pflightd/http.c). */
struct pf_manifest_api {
	uint32_t enabled;      /* 0 or 1 */
	uint32_t allow_remote; /* 0 or 1: a listen address off loopback is accepted */
	uint32_t port;         /* 0: any free port */
	uint32_t rate_per_s;   /* requests per second per client address */
	uint32_t connections_max;
	uint32_t reserved0;
	uint64_t request_bytes_max;            /* largest request body */
	uint64_t client_timeout_ns;            /* an idle or slow connection is closed after this */
	uint64_t metrics_window_ns;            /* the metrics' sliding window */
	char listen[PF_MANIFEST_HOST_MAX];     /* numeric IPv4 or IPv6 address */
	char token_path[PF_MANIFEST_PATH_MAX]; /* "": <audit path>.api-token */
	/* A simulation's budgets (POST /api/v1/sim), each enforced while it runs. */
	uint64_t sim_time_max_ns; /* wall-clock time */
	uint64_t sim_segment_max; /* bytes of its private domain's shared memory */
	uint64_t sim_events_max;  /* events simulated */
};

struct pf_manifest_cluster {
	uint32_t etcd_endpoints_count; /* 0: a single host, no etcd */
	uint32_t replicate_checkpoints;
	char etcd_endpoints[PF_MANIFEST_ENDPOINTS_MAX][PF_MANIFEST_HOST_MAX];
	uint64_t lease_ttl_ns;
	char name[PF_DOMAIN_NAME_MAX + 1]; /* the cluster's keys are under /pflight/<name>/ */
	uint32_t shards;                   /* a power of two; fixed when the cluster is made */
	uint32_t reserved0;
};

struct pf_manifest {
	uint32_t size; /* sizeof(struct pf_manifest) */
	uint32_t reserved0;
	struct pf_manifest_metadata metadata;
	struct pf_manifest_membership membership;
	struct pf_manifest_scheduling scheduling;
	struct pf_manifest_governance governance;
	struct pf_manifest_transport transport;
	struct pf_manifest_cluster cluster;
	struct pf_manifest_api api;
};

/* Where and why a manifest was refused. line and column are 1-based (0: no position). */
struct pf_manifest_error {
	char file[PF_MANIFEST_PATH_MAX]; /* the path, or the name given to pf_manifest_parse */
	int line;
	int column;
	char reason[256];
};

/* Fill m with the embedded default (every field's documented default) and m->size. */
PF_API void pf_manifest_defaults(struct pf_manifest *m);

/*
 * Parse the manifest text[0..len) (need not be NUL-terminated); name_for_errors (may be
 * NULL: "<manifest>") goes into err->file. Fields absent from the text keep their
 * defaults. *m is written only on success; *err (may be NULL) only on failure. Returns 0 or:
 *   -EINVAL   schema error: unknown field, wrong type, value out of range or malformed,
 *             duplicate key, apiVersion or kind missing or wrong, empty manifest, more
 *             than one document, a document that is not a mapping, collections nested
 *             deeper than PF_MANIFEST_DEPTH_MAX or more anchors than
 *             PF_MANIFEST_ANCHORS_MAX (both refused before the document is loaded), an
 *             api.listen address off loopback without api.allow_remote, a peer whose
 *             name or key an earlier peer has or named as transport.name; also NULL
 *             text or m
 *   -EBADMSG  not YAML: a syntax error (err has libyaml's position and problem)
 *   -EFBIG    longer than PF_MANIFEST_BYTES_MAX
 *   -ENOMEM   no memory for the parser
 * Blocking (CPU only); any thread; not async-signal-safe.
 */
PF_API int pf_manifest_parse(const char *text, size_t len, const char *name_for_errors,
			     struct pf_manifest *m, struct pf_manifest_error *err);

/*
 * Read and parse the file at path, as pf_manifest_parse() with the path as the name.
 * Returns what pf_manifest_parse() returns, or an error of opening or reading the file:
 *   -ENOENT, -EACCES, -EISDIR, -ELOOP, -ENAMETOOLONG, -EIO (err has the file and reason)
 *   -EINVAL   path or m is NULL
 */
PF_API int pf_manifest_load(const char *path, struct pf_manifest *m, struct pf_manifest_error *err);

/* Fill *opts from the manifest (pf_domain_opts_init() first, then the manifest's
 * fields); fields the manifest does not have keep their defaults, but the explanation ring,
 * which grows with vnodes_max (a sixteenth of it, 1,024 to 65,536). 0, or -EINVAL for NULL
 * arguments or an unknown m->size. */
PF_API int pf_manifest_domain_opts(const struct pf_manifest *m, struct pf_domain_opts *opts);

/* Fill *opts from scheduling.rebalance. 0 or -EINVAL, as above. */
PF_API int pf_manifest_rebalance_opts(const struct pf_manifest *m, struct pf_rebalance_opts *opts);

/*
 * SIGHUP: may `next` replace `running` without recreating the domain? Returns 0 when
 * every field that differs is reloadable, or -EBUSY with err->reason naming the first
 * field that differs and is not (err->file and position are cleared); -EINVAL for NULL
 * arguments or an unknown size. err may be NULL.
 */
PF_API int pf_manifest_reload_check(const struct pf_manifest *running,
				    const struct pf_manifest *next, struct pf_manifest_error *err);

/* Kinds of value, as the schema reports them. */
enum pf_manifest_type {
	PF_MANIFEST_STRING = 0,
	PF_MANIFEST_INT = 1,
	PF_MANIFEST_BOOL = 2,
	PF_MANIFEST_DURATION = 3, /* "50ms", "2s", "1m" */
	PF_MANIFEST_SIZE = 4,     /* "4KiB", "64MiB", "240" */
	PF_MANIFEST_PPM = 5,      /* "0.25", "25%" */
	PF_MANIFEST_ENUM = 6,
	PF_MANIFEST_MODE = 7, /* octal permission bits, "0660" */
	PF_MANIFEST_STRING_LIST = 8,
	PF_MANIFEST_INT_LIST = 9,
	PF_MANIFEST_POLICY_LIST = 10, /* a list of rule objects */
	PF_MANIFEST_SECTION = 11,     /* a mapping of further fields */
	PF_MANIFEST_OBJECT_LIST = 12, /* a list of mappings (transport.peers); its entries'
				       * fields follow in the schema under "<path>[]." */
};

/* One entry of the schema. The strings are static and owned by the library. */
struct pf_manifest_field {
	uint32_t size;            /* set by the caller: sizeof(struct pf_manifest_field) */
	uint32_t type;            /* enum pf_manifest_type */
	uint32_t reloadable;      /* 1: SIGHUP applies a change; 0: needs a restart */
	uint32_t required;        /* 1: must be present */
	const char *path;         /* "membership.members_max"; the fields of an object list's
				   * entries follow the table, each kind after a section
				   * named for it ("governance.policies.<action>[]", then
				   * "governance.policies.<action>[].uids", ...) */
	const char *type_name;    /* "duration", "list of strings", ... */
	const char *default_text; /* as it would be written in YAML; "" for empty */
	const char *doc;          /* one or two sentences */
	char range[128];          /* "1..4096", "100us..1m", "one of: a, b", "" */
};

/*
 * The schema entry at `index` (0, 1, ... in document order: sections before their
 * fields; last, for each kind of object list, a section named for its entries, then their
 * fields). Returns 0 and fills *ret_field, -ENOENT past the last entry, -EINVAL for NULL
 * or a ret_field->size smaller than this library's struct.
 */
PF_API int pf_manifest_schema(uint32_t index, struct pf_manifest_field *ret_field);

#ifdef __cplusplus
}
#endif

#endif /* PFLIGHT_MANIFEST_H */
