/* SPDX-License-Identifier: MIT */
/*
 * ctl/manifest.c: the PhoenixFile (YAML manifest) parser and its schema.
 *
 * One table drives everything: each entry names a field by its dotted path, its kind,
 * where it lives in struct pf_manifest, its bounds, its default (as YAML text), whether a
 * SIGHUP may change it, and its documentation. The defaults are produced by running the
 * default text through the same converters as the file, the walker accepts exactly the
 * paths in the table, and pf_manifest_schema() hands the same entries to the reference
 * generator (tools/pflightd/phoenixfile_doc.c), so code, defaults and docs cannot drift.
 * A list of mappings (a policy's rules, the transport's peers) is one entry too: its
 * struct manifest_object holds the table of one mapping's fields, walked for each mapping
 * in turn, and fields marked F_UNIQUE may not repeat across the mappings of one list.
 *
 * Parsing uses libyaml's document API: the whole (bounded) file is loaded into nodes that
 * carry their line and column, which makes duplicate keys and positions easy to report.
 * Aliases share nodes rather than copying them, and the walker only descends where the
 * schema has a section, so neither depth nor size can run away in the walk. The loader
 * itself is not safe from depth (its scanner is quadratic in nested flow collections) nor
 * from many anchors (it compares each with all before it), so a first pass over the
 * parser's events refuses nesting deeper than PF_MANIFEST_DEPTH_MAX and more anchors than
 * PF_MANIFEST_ANCHORS_MAX before the loader runs (events_check()).
 *
 * Nothing half-applied: the walk fills a private copy, copied to the caller's struct
 * only when the whole document has been accepted.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "ctl/manifest_impl.h"
#include "pflight/manifest.h"
#include "pflight/packet.h"
#include "pflight/transit.h"
#include "shm/pf_assert.h"
#include "shm/pf_compiler.h"

#define MANIFEST_ENDPOINT_MAX 223u /* the etcd client takes URLs this long */
#define API_VERSION "pflight/v1"
#define PATH_TEXT_MAX 192u /* longest dotted path we build, with a list index */
#define QUOTE_MAX 64u      /* bytes of a value quoted in a reason */

static const char *const api_names[] = {API_VERSION, NULL};
static const char *const kind_names[] = {"Domain", NULL};
static const char *const strategy_names[] = {"trust-weighted", "consistent-hash", "bin-packing",
					     "agent", NULL};
static const char *const fsync_names[] = {"every", "batch", "head", NULL};
static const char *const backend_names[] = {"io_uring", "dpdk", NULL};
static const char *const on_stop_names[] = {"keep", "drain", NULL};

#define MSIZE(T, m) ((uint32_t)sizeof(((T *)0)->m))
#define SECTION(p, d)                                                                              \
	{                                                                                          \
		.path = p, .type = PF_MANIFEST_SECTION, .doc = d                                   \
	}
#define VAL(T, p, t, fl, m, lo, hi, dflt, d)                                                       \
	{                                                                                          \
		.path = p, .type = t, .flags = fl, .offset = offsetof(T, m), .width = MSIZE(T, m), \
		.min = lo, .max = hi, .def = dflt, .doc = d                                        \
	}
#define STR(T, p, fl, m, dflt, d) VAL(T, p, PF_MANIFEST_STRING, fl, m, 0, MSIZE(T, m) - 1u, dflt, d)
#define ENUMV(T, p, fl, m, nm, dflt, d)                                                            \
	{                                                                                          \
		.path = p, .type = PF_MANIFEST_ENUM, .flags = fl, .offset = offsetof(T, m),        \
		.width = MSIZE(T, m), .names = nm, .def = dflt, .doc = d                           \
	}
#define ITEMS_MAX(T, arr) ((uint32_t)(sizeof(((T *)0)->arr) / sizeof(((T *)0)->arr[0])))
#define LIST(T, p, t, fl, cnt, arr, lo, hi, d)                                                     \
	{                                                                                          \
		.path = p, .type = t, .flags = fl, .offset = offsetof(T, arr),                     \
		.count_offset = offsetof(T, cnt), .width = MSIZE(T, arr[0]),                       \
		.items_max = ITEMS_MAX(T, arr), .min = lo, .max = hi, .def = "[]", .doc = d        \
	}
#define SLIST(T, p, fl, cnt, arr, d)                                                               \
	LIST(T, p, PF_MANIFEST_STRING_LIST, fl, cnt, arr, 0, MSIZE(T, arr[0]) - 1u, d)
/* A list of mappings, each walked with the table of `obj` (struct manifest_object). */
#define OBJECTS(T, p, t, fl, cnt, arr, obj, d)                                                     \
	{                                                                                          \
		.path = p, .type = t, .flags = fl, .offset = offsetof(T, arr),                     \
		.count_offset = offsetof(T, cnt), .width = MSIZE(T, arr[0]),                       \
		.items_max = ITEMS_MAX(T, arr), .object = &obj, .def = "[]", .doc = d              \
	}
#define POLICY(p, fl, m, d)                                                                        \
	OBJECTS(M, p, PF_MANIFEST_POLICY_LIST, fl, m.rules_count, m.rules, rule_object, d)
/* An Ed25519 public key written as 64 hex digits, kept as its 32 bytes. */
#define KEY(T, p, fl, m, d)                                                                        \
	{                                                                                          \
		.path = p, .type = PF_MANIFEST_STRING, .flags = (fl) | F_KEY,                      \
		.offset = offsetof(T, m), .width = MSIZE(T, m), .max = 2u * MSIZE(T, m), .doc = d  \
	}

#define M struct pf_manifest
#define RULE_PREFIX "governance.policies.<action>[]"
#define RULE_DOC_PREFIX RULE_PREFIX "."
#define R struct pf_manifest_rule
#define PEER_PREFIX "transport.peers[]"
#define PEER_DOC_PREFIX PEER_PREFIX "."
#define P struct pf_manifest_peer
#define SEC_NS UINT64_C(1000000000)
#define MS_NS UINT64_C(1000000)
#define OBJECT_FIELDS_MAX 16u /* fields of one object list's entry */

/* The rules' fields are reloadable, as every policy holding them is. */
static const struct manifest_field rule_fields[] = {
	LIST(R, RULE_DOC_PREFIX "uids", PF_MANIFEST_INT_LIST, F_RELOAD, uids_count, uids, 0,
	     UINT32_MAX - 1, "Allowed user ids; empty: any."),
	LIST(R, RULE_DOC_PREFIX "gids", PF_MANIFEST_INT_LIST, F_RELOAD, gids_count, gids, 0,
	     UINT32_MAX - 1, "Allowed group ids; empty: any."),
	SLIST(R, RULE_DOC_PREFIX "executables", F_ABS | F_NONEMPTY | F_RELOAD, executables_count,
	      executables, "Allowed executable paths; empty: any."),
	SLIST(R, RULE_DOC_PREFIX "sha256", F_HEX64 | F_RELOAD, sha256_count, sha256,
	      "Allowed executable digests (sha256, hex); empty: any."),
	SLIST(R, RULE_DOC_PREFIX "capabilities", F_NONEMPTY | F_RELOAD, capabilities_count,
	      capabilities, "Capabilities a member may declare; empty: any."),
	SLIST(R, RULE_DOC_PREFIX "namespaces", F_NAME | F_RELOAD, namespaces_count, namespaces,
	      "Namespaces the rule applies in; empty: any."),
	VAL(R, RULE_DOC_PREFIX "min_trust", PF_MANIFEST_PPM, F_RELOAD, min_trust_ppm, 0, PF_PPM,
	    "0", "Trust a member needs."),
	VAL(R, RULE_DOC_PREFIX "vnodes_per_member_max", PF_MANIFEST_INT, F_RELOAD,
	    vnodes_per_member_max, 0, PF_VNODES_MAX, "0",
	    "VNodes one member may hold; 0: no bound."),
};
_Static_assert(PF_ARRAY_SIZE(rule_fields) <= OBJECT_FIELDS_MAX, "a rule has too many fields");

static const struct manifest_object rule_object = {
	.fields = rule_fields,
	.n = PF_ARRAY_SIZE(rule_fields),
	.prefix = RULE_PREFIX,
	.doc = "Each action (`can_register`, `can_assign`, `can_handoff`) holds a list of rules; a "
	       "member is allowed when any rule matches, and a rule matches when each of its "
	       "non-empty lists matches.",
	.list_name = "list of rules",
	.items_name = "rules",
};

/* What a peer says must match what that host says of itself, and what a Flight Packet
 * carries: its name (transport.name, the packet's host) and its key (the packet's
 * host_key, checked by pf_seal_verify()). Its index is a host index of pflight/transit.h. */
_Static_assert(PF_MANIFEST_HOST_NAME_MAX == PF_PACKET_HOST_NAME_MAX, "a packet's host name");
_Static_assert(PF_MANIFEST_KEY_BYTES == PF_PACKET_KEY_BYTES, "a packet's host key");
_Static_assert(PF_MANIFEST_PEERS_MAX <= PF_TRANSIT_HOSTS_MAX, "a peer's index is a host index");
_Static_assert(2u * PF_MANIFEST_KEY_BYTES == PF_MANIFEST_SHA256_HEX, "64 hex digits");

/* Not reloadable, as transport.peers holding them. */
static const struct manifest_field peer_fields[] = {
	STR(P, PEER_DOC_PREFIX "name", F_REQUIRED | F_NONEMPTY | F_HOST | F_UNIQUE, name, NULL,
	    "The peer's name: its own transport.name."),
	STR(P, PEER_DOC_PREFIX "address", F_REQUIRED | F_NONEMPTY | F_ADDR, address, NULL,
	    "The peer's address, numeric: the parser resolves no host name."),
	VAL(P, PEER_DOC_PREFIX "port", PF_MANIFEST_INT, 0, port, 1, 65535, "7420",
	    "The peer's TCP port of Flight Packet transfers (its transport.port)."),
	KEY(P, PEER_DOC_PREFIX "key", F_REQUIRED | F_UNIQUE, key,
	    "The peer's Ed25519 public key (the public half of its transport.key), 64 hex "
	    "digits in upper or lower case: only packets it signs are accepted from it."),
};
_Static_assert(PF_ARRAY_SIZE(peer_fields) <= OBJECT_FIELDS_MAX, "a peer has too many fields");

static const struct manifest_object peer_object = {
	.fields = peer_fields,
	.n = PF_ARRAY_SIZE(peer_fields),
	.prefix = PEER_PREFIX,
	.doc = "A host this one may move VNodes to and from. The hosts authenticate each other "
	       "with their Ed25519 host keys before any Flight Packet is accepted, so each lists "
	       "the other's public key. An entry's position in the list (0, 1, ...) is the "
	       "peer's host index (pflight/transit.h).",
	.list_name = "list of peers",
	.items_name = "peers",
};

/* Every object list kind, in the order pf_manifest_schema() lists them after the table. */
static const struct manifest_object *const objects[] = {&rule_object, &peer_object};

static const struct manifest_field fields[] = {
	ENUMV(M, "apiVersion", F_REQUIRED | F_NOSTORE, size, api_names, API_VERSION,
	      "Version of this schema; only pflight/v1 exists."),
	ENUMV(M, "kind", F_REQUIRED | F_NOSTORE, size, kind_names, "Domain",
	      "What the manifest describes; only Domain exists."),
	SECTION("metadata", "Who the domain is."),
	STR(M, "metadata.name", F_NAME, metadata.name, "default",
	    "Domain name: the segment is `/dev/shm/pflight-<name>`."),
	STR(M, "metadata.namespace", F_NAME, metadata.namespace_name, "default",
	    "Namespace the domain belongs to; policies may restrict members to namespaces."),
	SECTION("membership", "Limits of the domain, fixed when its segment is created."),
	VAL(M, "membership.members_max", PF_MANIFEST_INT, 0, membership.members_max, 1,
	    PF_MEMBERS_MAX, "64", "Member slots."),
	VAL(M, "membership.vnodes_max", PF_MANIFEST_INT, 0, membership.vnodes_max, 1, PF_VNODES_MAX,
	    "1024", "VNodes the domain can hold."),
	VAL(M, "membership.capabilities_max", PF_MANIFEST_INT, 0, membership.capabilities_max, 1,
	    PF_CAPS_MAX, "128", "Distinct capability names."),
	VAL(M, "membership.inbox_slots", PF_MANIFEST_INT, F_POW2, membership.inbox_slots, 2,
	    PF_INBOX_SLOTS_MAX, "64", "Messages that can wait in one VNode's inbox."),
	VAL(M, "membership.message_bytes_max", PF_MANIFEST_SIZE, 0, membership.message_bytes_max, 1,
	    PF_MSG_BYTES_MAX, "240B", "Largest message (240 B fills a 256-byte inbox slot)."),
	VAL(M, "membership.state_bytes_max", PF_MANIFEST_SIZE, 0, membership.state_bytes_max, 1,
	    PF_STATE_BYTES_MAX, "4KiB", "Largest checkpoint of one VNode."),
	VAL(M, "membership.heartbeat_interval", PF_MANIFEST_DURATION, 0,
	    membership.heartbeat_interval_ns, 100000, 60 * SEC_NS, "50ms",
	    "How often members beat."),
	VAL(M, "membership.heartbeat_misses", PF_MANIFEST_INT, 0, membership.heartbeat_misses, 2,
	    100, "3", "Beats missed before a member is declared hung."),
	VAL(M, "membership.slot_grace", PF_MANIFEST_DURATION, 0, membership.slot_grace_ns, 0,
	    60 * SEC_NS, "100ms", "How long a dead member's slot stays unused."),
	VAL(M, "membership.drain_timeout", PF_MANIFEST_DURATION, F_RELOAD,
	    membership.drain_timeout_ns, MS_NS, 3600 * SEC_NS, "30s",
	    "Deadline for moving a draining member's VNodes with their state."),
	VAL(M, "membership.drain_parallel", PF_MANIFEST_INT, F_RELOAD, membership.drain_parallel, 1,
	    1024, "4", "VNodes of a draining member moving at once."),
	ENUMV(M, "membership.on_stop", F_RELOAD, membership.on_stop, on_stop_names, "keep",
	      "When pflightd stops: keep its members running (the next pflightd adopts them) or "
	      "drain them first (every member cordoned; the drains end within drain_timeout)."),
	SECTION("scheduling", "How pending VNodes are placed (see pflight/sched.h)."),
	ENUMV(M, "scheduling.strategy", F_RELOAD, scheduling.strategy, strategy_names,
	      "trust-weighted", "Scoring strategy."),
	VAL(M, "scheduling.trust_floor", PF_MANIFEST_PPM, F_RELOAD, scheduling.trust_floor_ppm, 0,
	    PF_PPM, "0", "Members below this trust get no VNodes."),
	VAL(M, "scheduling.epsilon", PF_MANIFEST_PPM, F_RELOAD, scheduling.epsilon_ppm, 0,
	    PF_SCHED_EPSILON_MAX, "0.25",
	    "Bounded load, every strategy: no member above (1 + epsilon) times its share of the "
	    "VNodes (capacity-weighted), and a member's trust and reliability move its share by "
	    "at most that factor."),
	VAL(M, "scheduling.seed", PF_MANIFEST_INT, 0, scheduling.seed, 0, UINT64_MAX, "0",
	    "Seed for ties and hash points: same seed, same decisions."),
	SECTION("scheduling.rebalance", "Rebalancing rounds and their anti-storm rules."),
	VAL(M, "scheduling.rebalance.moves_max", PF_MANIFEST_INT, F_RELOAD,
	    scheduling.rebalance.moves_max, 0, PF_VNODES_MAX, "1048576",
	    "Move requests per round, at most; the default, the largest domain, leaves the "
	    "pace to moves_fraction, which grows with the domain."),
	VAL(M, "scheduling.rebalance.moves_fraction", PF_MANIFEST_PPM, F_RELOAD,
	    scheduling.rebalance.moves_ppm, 0, PF_PPM, "10%",
	    "Move requests in flight, as a fraction of the VNodes owned: a round asks for what "
	    "those of earlier rounds still pending leave (0: dry run)."),
	VAL(M, "scheduling.rebalance.cooldown", PF_MANIFEST_DURATION, F_RELOAD,
	    scheduling.rebalance.cooldown_ns, 0, 3600 * SEC_NS, "200ms",
	    "No round within this long of a membership change."),
	VAL(M, "scheduling.rebalance.min_gain", PF_MANIFEST_PPM, F_RELOAD,
	    scheduling.rebalance.min_gain_ppm, 0, 100 * PF_PPM, "0.2",
	    "A move must improve the score by this factor (hysteresis)."),
	SECTION("governance", "Admission policy, credentials, audit log and segment access."),
	SECTION("governance.policies", "Rules per action; an action with no rule allows all."),
	POLICY("governance.policies.can_register", F_RELOAD, governance.can_register,
	       "Who may join the domain."),
	POLICY("governance.policies.can_assign", F_RELOAD, governance.can_assign,
	       "Which members may be given VNodes."),
	POLICY("governance.policies.can_handoff", F_RELOAD, governance.can_handoff,
	       "Which members may receive a VNode handed over or migrated."),
	SECTION("governance.credentials", "Trust credentials."),
	STR(M, "governance.credentials.signing_key_path", F_ABS | F_RELOAD,
	    governance.signing_key_path, "",
	    "Ed25519 key signing audit heads and join tokens (mode 0600, owned by the daemon's "
	    "uid or root, in a directory others may not write to); created when absent; empty: "
	    "<audit path>.key."),
	VAL(M, "governance.credentials.tokens_required", PF_MANIFEST_BOOL, F_RELOAD,
	    governance.tokens_required, 0, 1, "false", "Members must present a join token."),
	SECTION("governance.audit", "The hash-chained audit log."),
	STR(M, "governance.audit.path", F_ABS, governance.audit_path, "",
	    "JSON-lines audit file, in a directory others may not write to (never through a "
	    "symbolic link); empty: <state>/<name>.audit.jsonl, <state> being "
	    "$STATE_DIRECTORY, /var/lib/pflight as root, else $XDG_STATE_HOME/pflight "
	    "(~/.local/state/pflight)."),
	VAL(M, "governance.audit.sign_every", PF_MANIFEST_INT, F_RELOAD,
	    governance.audit_sign_every, 1, 1000000, "1024", "Records between two signed heads."),
	ENUMV(M, "governance.audit.fsync", F_RELOAD, governance.audit_fsync, fsync_names, "batch",
	      "When the audit file is made durable."),
	VAL(M, "governance.audit.rotate_size", PF_MANIFEST_SIZE, F_RELOAD,
	    governance.audit_rotate_bytes, 0, UINT64_C(1) << 40, "64MiB",
	    "Start a new audit file past this size; 0: never."),
	VAL(M, "governance.audit.retain_size", PF_MANIFEST_SIZE, 0, governance.audit_retain_bytes,
	    0, UINT64_C(1) << 50, "1GiB",
	    "Drop the oldest rotated audit files while all of them are larger, the drop stated "
	    "in the log (a `retention` record); the set stays within this plus one rotate_size; "
	    "0: keep everything."),
	VAL(M, "governance.audit.retain_age", PF_MANIFEST_DURATION, 0,
	    governance.audit_retain_age_ns, 0, UINT64_C(1) << 62, "0",
	    "Drop rotated audit files last written longer ago than this (whole seconds), the "
	    "drop stated in the log; 0: keep them whatever their age."),
	VAL(M, "governance.segment_mode", PF_MANIFEST_MODE, 0, governance.segment_mode, 0600, 0777,
	    "0600",
	    "Permission bits of the segment (owner rw required; others may never write: give "
	    "a group access with governance.group)."),
	VAL(M, "governance.group", PF_MANIFEST_INT, 0, governance.group, -1, INT32_MAX, "-1",
	    "Numeric gid allowed to attach (the mode gets g+rw); -1: none."),
	SECTION("transport", "Moving VNodes between hosts."),
	ENUMV(M, "transport.backend", 0, transport.backend, backend_names, "io_uring",
	      "Transport backend (dpdk needs a build with it)."),
	STR(M, "transport.listen", F_NONEMPTY, transport.listen, "127.0.0.1",
	    "Address to listen on; loopback by default."),
	VAL(M, "transport.port", PF_MANIFEST_INT, 0, transport.port, 1, 65535, "7420",
	    "TCP port of Flight Packet transfers."),
	VAL(M, "transport.zero_copy_threshold", PF_MANIFEST_SIZE, 0,
	    transport.zero_copy_threshold_bytes, 0, UINT64_C(1) << 30, "512KiB",
	    "Send segments at least this large go by zero-copy (IORING_OP_SEND_ZC); 0: never. "
	    "The default is where zero copy stopped losing to a copied send in "
	    "`scripts/bench xport` over loopback, where the kernel copies anyway (so it never "
	    "wins there): measure on the NIC that carries migrations. A move's final chunks go "
	    "straight from the checkpoint arena: when this is at most a chunk (8 KiB to 256 "
	    "KiB, by `membership.state_bytes_max`), pflightd registers those final states with "
	    "io_uring while the moves run, so their zero-copy sends pin no page each time (its "
	    "log counts, as it stops, the sends copied, zero-copy, and zero-copy from "
	    "registered memory). Restart to change it."),
	VAL(M, "transport.sqpoll_cpu", PF_MANIFEST_INT, 0, transport.sqpoll_cpu, -1, 4095, "-1",
	    "Pin a kernel thread that polls the transport's submission queue "
	    "(IORING_SETUP_SQPOLL) to this CPU, so sends go out without a system call; -1: no "
	    "such thread. It spins on that CPU while moves run (and 50 ms after): give it one "
	    "the host can spare. A kernel that refuses it (too old, or not allowed) stops the "
	    "transport, and the log says why. Restart to change it."),
	STR(M, "transport.name", F_HOST, transport.name, "",
	    "This host's name, as its peers list it (their transport.peers[].name) and as the "
	    "Flight Packets it sends carry it; empty: pflightd uses the machine's hostname "
	    "(gethostname()). No peer may have it. Restart to change it: the peers know this "
	    "host by it."),
	STR(M, "transport.key", F_ABS, transport.key_path, "",
	    "Ed25519 secret key of this host, signing the Flight Packets it sends; its peers "
	    "list the public half (transport.peers[].key). The file rules of "
	    "governance.credentials.signing_key_path: mode 0600, owned by the daemon's uid or "
	    "root, in a directory others may not write to; created when absent (its public half "
	    "beside it, <key>.pub). Empty: <name>.host.key in the audit log's directory, "
	    "<name> the domain's."),
	OBJECTS(M, "transport.peers", PF_MANIFEST_OBJECT_LIST, 0, transport.peers_count,
		transport.peers, peer_object,
		"The hosts this one may move VNodes to and from, in a fixed order; empty: VNodes "
		"stay on this host. Names and keys must differ, and no peer may be named as "
		"this host. Restart to change the list: a peer's position in it is its host "
		"index, which the segment records for every VNode between hosts."),
	SECTION("cluster", "Several hosts sharing a directory in etcd."),
	SLIST(M, "cluster.etcd_endpoints", F_NONEMPTY, cluster.etcd_endpoints_count,
	      cluster.etcd_endpoints,
	      "etcd URLs (http:// or https://, at most 223 bytes); empty: a single host, no "
	      "etcd."),
	STR(M, "cluster.name", F_NAME, cluster.name, "default",
	    "The cluster this host joins: its keys in etcd are under `/pflight/<name>/`, so that "
	    "clusters can share one etcd."),
	VAL(M, "cluster.shards", PF_MANIFEST_INT, F_POW2, cluster.shards, 1, 1u << 20, "4096",
	    "VNode ownership between hosts is by shard: VNode id & (shards - 1). Fixed by the "
	    "first host that joins; a host whose PhoenixFile says otherwise is refused by the "
	    "others' directory. More shards balance finer and cost etcd more keys "
	    "(docs/cluster.md)."),
	VAL(M, "cluster.lease_ttl", PF_MANIFEST_DURATION, 0, cluster.lease_ttl_ns, 2 * SEC_NS,
	    3600 * SEC_NS, "10s",
	    "Host liveness lease in etcd: a host that stops renewing it (every third of it) is "
	    "lost to the others this long after."),
	VAL(M, "cluster.replicate_checkpoints", PF_MANIFEST_BOOL, F_RELOAD,
	    cluster.replicate_checkpoints, 0, 1, "true",
	    "Copy each committed checkpoint to a second host."),
	SECTION("api", "The REST API pflightd serves under /api/v1 (its OpenAPI document is at "
		       "/api/v1/openapi.json); reads need nothing, changes need the bearer token."),
	VAL(M, "api.enabled", PF_MANIFEST_BOOL, 0, api.enabled, 0, 1, "true", "Serve the API."),
	STR(M, "api.listen", F_NONEMPTY | F_ADDR, api.listen, "127.0.0.1",
	    "Address to listen on, numeric; one off loopback needs allow_remote."),
	VAL(M, "api.allow_remote", PF_MANIFEST_BOOL, 0, api.allow_remote, 0, 1, "false",
	    "Accept a listen address other than loopback (the API has no TLS: put a proxy in "
	    "front)."),
	VAL(M, "api.port", PF_MANIFEST_INT, 0, api.port, 0, 65535, "7421",
	    "TCP port; 0: any free port (the log says which)."),
	STR(M, "api.token_path", F_ABS, api.token_path, "",
	    "Bearer token file for changes, mode 0600, owned by the daemon's uid or root, in a "
	    "directory others may not write to, not a symbolic link (else the API is not "
	    "started); created with 32 random bytes when absent; empty: <audit "
	    "path>.api-token."),
	VAL(M, "api.request_bytes_max", PF_MANIFEST_SIZE, 0, api.request_bytes_max, 256, 16u << 20,
	    "64KiB", "Largest request body; a larger one gets 413."),
	VAL(M, "api.rate_per_s", PF_MANIFEST_INT, 0, api.rate_per_s, 1, 1000000, "100",
	    "Requests per second per client address (a second's burst); more get 429."),
	VAL(M, "api.client_timeout", PF_MANIFEST_DURATION, 0, api.client_timeout_ns, SEC_NS,
	    3600 * SEC_NS, "10s", "A connection idle or stalled this long is closed."),
	VAL(M, "api.connections_max", PF_MANIFEST_INT, 0, api.connections_max, 1, 1024, "64",
	    "Connections open at once (event streams included)."),
	VAL(M, "api.metrics_window", PF_MANIFEST_DURATION, 0, api.metrics_window_ns, SEC_NS,
	    3600 * SEC_NS, "60s",
	    "The metrics' sliding window (availability, stability, churn, health...)."),
	VAL(M, "api.sim_time_max", PF_MANIFEST_DURATION, 0, api.sim_time_max_ns, SEC_NS,
	    3600 * SEC_NS, "30s",
	    "Wall-clock time one simulation (POST /api/v1/sim) may run; it is stopped past it."),
	VAL(M, "api.sim_segment_max", PF_MANIFEST_SIZE, 0, api.sim_segment_max, 1u << 20,
	    UINT64_C(1) << 36, "64MiB",
	    "Shared memory one simulation's private domain may map; a larger one is refused."),
	VAL(M, "api.sim_events_max", PF_MANIFEST_INT, 0, api.sim_events_max, 1000, 100000000,
	    "1000000", "Events one simulation may simulate; it is stopped past them."),
};

#undef M
#undef R
#undef P

#define FIELDS_N PF_ARRAY_SIZE(fields)

/* Where a walk is: the table, the struct it fills, the value node of each of the table's
 * fields met so far, and how much of a shown path is not part of the table's paths (a
 * rule's "governance.policies.can_assign[0]."). */
struct scope {
	const struct manifest_field *table;
	size_t n;
	unsigned char *base;
	const yaml_node_t **at; /* [n]: NULL while absent */
	size_t strip;           /* bytes of the shown path the table's paths do not have */
	size_t skip;            /* bytes of the table's paths the shown path does not have */
};

struct ctx {
	const char *name;
	struct pf_manifest_error *err;
	yaml_document_t *doc;
	const yaml_node_t *at[FIELDS_N]; /* the value node of each field seen, NULL: absent */
};

pf_printf_like(3, 0) static int fail_va(struct ctx *c, const yaml_mark_t *mark, const char *fmt,
					va_list ap)
{
	PF_ASSERT(c != NULL && fmt != NULL);
	if (c->err == NULL)
		return -EINVAL;
	memset(c->err, 0, sizeof(*c->err));
	(void)snprintf(c->err->file, sizeof(c->err->file), "%s", c->name);
	if (mark != NULL) {
		c->err->line = (int)mark->line + 1;
		c->err->column = (int)mark->column + 1;
	}
	(void)vsnprintf(c->err->reason, sizeof(c->err->reason), fmt, ap);
	return -EINVAL;
}

/* A schema error at node (NULL: the file as a whole): -EINVAL, err filled. */
pf_printf_like(3, 4) static int fail(struct ctx *c, const yaml_node_t *node, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = fail_va(c, node != NULL ? &node->start_mark : NULL, fmt, ap);
	va_end(ap);
	return r;
}

/* The same at a position the parser gave (an event's). */
pf_printf_like(3, 4) static int fail_at(struct ctx *c, const yaml_mark_t *mark, const char *fmt,
					...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = fail_va(c, mark, fmt, ap);
	va_end(ap);
	return r;
}

static const char *node_kind(const yaml_node_t *node)
{
	switch (node->type) {
	case YAML_MAPPING_NODE:
		return "a mapping";
	case YAML_SEQUENCE_NODE:
		return "a list";
	default:
		return "a scalar";
	}
}

static const struct manifest_field *lookup(const struct scope *s, const char *path)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->table[i].path + s->skip, path) == 0)
			return &s->table[i];
	return NULL;
}

static int walk_mapping(struct ctx *c, const struct scope *s, yaml_node_t *node, const char *path);

/* A scalar of kind `type` from `node` into dst (NULL: check only). */
static int walk_scalar(struct ctx *c, const struct manifest_field *f, uint32_t type,
		       yaml_node_t *node, const char *path, void *dst)
{
	char why[160];
	int r;

	PF_ASSERT(f != NULL && path != NULL);
	if (node->type != YAML_SCALAR_NODE)
		return fail(c, node, "%s: expected %s, got %s", path, manifest_type_name(type),
			    node_kind(node));
	r = manifest_convert(f, type, (const char *)node->data.scalar.value,
			     node->data.scalar.length, dst, why, sizeof(why));
	if (r < 0)
		return fail(c, node, "%s: %s", path, why);
	return 0;
}

static int walk_list(struct ctx *c, const struct scope *s, const struct manifest_field *f,
		     yaml_node_t *node, const char *path)
{
	uint32_t item_type = f->type == PF_MANIFEST_INT_LIST ? PF_MANIFEST_INT : PF_MANIFEST_STRING;
	uint32_t count = 0;
	char shown[PATH_TEXT_MAX];

	PF_ASSERT(f->items_max > 0 && f->width > 0);
	if (node->type != YAML_SEQUENCE_NODE)
		return fail(c, node, "%s: expected %s, got %s", path, manifest_type_name(f->type),
			    node_kind(node));
	for (yaml_node_item_t *it = node->data.sequence.items.start;
	     it < node->data.sequence.items.top; it++, count++) {
		yaml_node_t *item = yaml_document_get_node(c->doc, *it);
		int r;

		if (count == f->items_max)
			return fail(c, item, "%s: more than %u entries", path, f->items_max);
		(void)snprintf(shown, sizeof(shown), "%s[%u]", path, count);
		r = walk_scalar(c, f, item_type, item, shown,
				s->base + f->offset + (size_t)count * f->width);
		if (r < 0)
			return r;
	}
	memcpy(s->base + f->count_offset, &count, sizeof(count));
	return 0;
}

/* The first required field of s that the mapping at node (shown as path, "" for the
 * document) lacks: -EINVAL at node; else 0. */
static int required_check(struct ctx *c, const struct scope *s, const yaml_node_t *node,
			  const char *path)
{
	PF_ASSERT(s->at != NULL && path != NULL);
	for (size_t i = 0; i < s->n; i++) {
		const struct manifest_field *f = &s->table[i];

		if ((f->flags & F_REQUIRED) == 0 || s->at[i] != NULL)
			continue;
		if (*path != '\0')
			return fail(c, node, "%s: missing required field '%s'", path,
				    f->path + s->skip);
		PF_ASSERT(f->def != NULL);
		return fail(c, node, "missing required field '%s' (%s)", f->path, f->def);
	}
	return 0;
}

/* An F_UNIQUE field of entry `index` of the object list f (shown as path; the entry's
 * scope is) whose value an earlier entry has: -EINVAL at its node; else 0. Values compare
 * as stored, so two spellings of one key ("AB..", "ab..") are the same key. */
static int unique_check(struct ctx *c, const struct manifest_field *f, const struct scope *is,
			uint32_t index, const char *path)
{
	const struct manifest_object *o = f->object;

	PF_ASSERT(o != NULL && is->table == o->fields);
	for (size_t k = 0; k < o->n; k++) {
		const struct manifest_field *sf = &o->fields[k];
		const unsigned char *v = is->base + sf->offset;
		const yaml_node_t *node = is->at[k];

		if ((sf->flags & F_UNIQUE) == 0 || node == NULL)
			continue;
		PF_ASSERT(node->type == YAML_SCALAR_NODE); /* walk_scalar() took it */
		for (uint32_t j = 0; j < index; j++) {
			if (memcmp(v - (size_t)(index - j) * f->width, v, sf->width) != 0)
				continue;
			return fail(c, node, "%s[%u].%s: '%.*s' is listed twice (first at %s[%u])",
				    path, index, sf->path + is->skip,
				    (int)PF_MIN(node->data.scalar.length, QUOTE_MAX),
				    (const char *)node->data.scalar.value, path, j);
		}
	}
	return 0;
}

/* Entry `index` of the object list f (shown as path): its defaults, then the mapping
 * item walked with the object's table into the list at `list`, then its required fields. */
static int walk_object(struct ctx *c, const struct manifest_field *f, unsigned char *list,
		       uint32_t index, yaml_node_t *item, const char *path)
{
	const struct manifest_object *o = f->object;
	const yaml_node_t *at[OBJECT_FIELDS_MAX] = {NULL};
	struct scope is = {.table = o->fields, .n = o->n, .at = at, .skip = strlen(o->prefix) + 1};
	char shown[PATH_TEXT_MAX];
	int r;

	PF_ASSERT(o->n <= OBJECT_FIELDS_MAX && index < f->items_max);
	is.base = list + (size_t)index * f->width;
	manifest_apply_defaults(o->fields, o->n, is.base);
	(void)snprintf(shown, sizeof(shown), "%s[%u]", path, index);
	is.strip = strlen(shown) + 1;
	r = walk_mapping(c, &is, item, shown);
	if (r == 0)
		r = required_check(c, &is, item, shown);
	if (r < 0)
		return r;
	return unique_check(c, f, &is, index, path);
}

/* A list of mappings (f->object says what each holds), in order, up to f->items_max. */
static int walk_objects(struct ctx *c, const struct scope *s, const struct manifest_field *f,
			yaml_node_t *node, const char *path)
{
	const struct manifest_object *o = f->object;
	uint32_t count = 0;

	PF_ASSERT(o != NULL && f->width > 0 && f->items_max > 0);
	if (node->type != YAML_SEQUENCE_NODE)
		return fail(c, node, "%s: expected a %s, got %s", path, o->list_name,
			    node_kind(node));
	for (yaml_node_item_t *it = node->data.sequence.items.start;
	     it < node->data.sequence.items.top; it++, count++) {
		yaml_node_t *item = yaml_document_get_node(c->doc, *it);
		int r;

		if (count == f->items_max)
			return fail(c, item, "%s: more than %u %s", path, f->items_max,
				    o->items_name);
		r = walk_object(c, f, s->base + f->offset, count, item, path);
		if (r < 0)
			return r;
	}
	memcpy(s->base + f->count_offset, &count, sizeof(count));
	return 0;
}

static int walk_value(struct ctx *c, const struct scope *s, const struct manifest_field *f,
		      yaml_node_t *node, const char *path)
{
	PF_ASSERT(f != NULL && node != NULL);
	PF_ASSERT(f >= s->table && f < s->table + s->n); /* found by lookup(s, ...) */
	s->at[f - s->table] = node;
	if (f->object != NULL)
		return walk_objects(c, s, f, node, path);
	switch (f->type) {
	case PF_MANIFEST_SECTION:
		return walk_mapping(c, s, node, path);
	case PF_MANIFEST_STRING_LIST:
	case PF_MANIFEST_INT_LIST:
		return walk_list(c, s, f, node, path);
	default:
		return walk_scalar(c, f, f->type, node, path,
				   (f->flags & F_NOSTORE) != 0 ? NULL : s->base + f->offset);
	}
}

static bool same_key(const yaml_node_t *a, const yaml_node_t *b)
{
	return a->type == YAML_SCALAR_NODE && a->data.scalar.length == b->data.scalar.length &&
	       memcmp(a->data.scalar.value, b->data.scalar.value, a->data.scalar.length) == 0;
}

/* The key of `pair` as a scalar, refused when it repeats an earlier key of the mapping. */
static int key_check(struct ctx *c, yaml_node_t *node, yaml_node_pair_t *pair, const char *path)
{
	yaml_node_t *key = yaml_document_get_node(c->doc, pair->key);

	if (key->type != YAML_SCALAR_NODE)
		return fail(c, key, "%s: a key must be a string, got %s", *path ? path : "manifest",
			    node_kind(key));
	for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < pair; p++) {
		yaml_node_t *k = yaml_document_get_node(c->doc, p->key);

		if (same_key(k, key))
			return fail(c, key, "duplicate key '%.*s' (first at line %d)",
				    (int)key->data.scalar.length,
				    (const char *)key->data.scalar.value,
				    (int)k->start_mark.line + 1);
	}
	return 0;
}

static int walk_mapping(struct ctx *c, const struct scope *s, yaml_node_t *node, const char *path)
{
	char full[PATH_TEXT_MAX];

	PF_ASSERT(s != NULL && path != NULL);
	if (node->type != YAML_MAPPING_NODE)
		return fail(c, node, "%s: expected a mapping, got %s", *path ? path : "manifest",
			    node_kind(node));
	for (yaml_node_pair_t *pair = node->data.mapping.pairs.start;
	     pair < node->data.mapping.pairs.top; pair++) {
		yaml_node_t *key = yaml_document_get_node(c->doc, pair->key);
		const struct manifest_field *f;
		int r = key_check(c, node, pair, path);

		if (r < 0)
			return r;
		r = snprintf(full, sizeof(full), "%s%s%.*s", path, *path ? "." : "",
			     (int)key->data.scalar.length, (const char *)key->data.scalar.value);
		if (r < 0 || (size_t)r >= sizeof(full))
			return fail(c, key, "unknown field (key too long)");
		f = strlen(full) > s->strip ? lookup(s, full + s->strip) : NULL;
		if (f == NULL || memchr(key->data.scalar.value, 0, key->data.scalar.length) != NULL)
			return fail(c, key, "unknown field '%s'", full);
		r = walk_value(c, s, f, yaml_document_get_node(c->doc, pair->value), full);
		if (r < 0)
			return r;
	}
	return 0;
}

/* The value node of the field at path, or fallback when the document does not hold it. */
static const yaml_node_t *node_of(const struct ctx *c, const char *path,
				  const yaml_node_t *fallback)
{
	const struct scope top = {.table = fields, .n = FIELDS_N};
	const struct manifest_field *f = lookup(&top, path);

	PF_ASSERT(f != NULL); /* a path of the table */
	return c->at[f - fields] != NULL ? c->at[f - fields] : fallback;
}

/* A listen address off loopback is refused unless allow_remote says it is meant: the API
 * has no TLS, and a typo must not expose the bearer token to the network. */
static int check_api(struct ctx *c, const yaml_node_t *root, const struct pf_manifest *m)
{
	PF_ASSERT(m != NULL && root != NULL);
	if (m->api.allow_remote || manifest_addr_loopback(m->api.listen))
		return 0;
	return fail(c, node_of(c, "api.listen", root),
		    "api.listen: '%s' is not a loopback address; set api.allow_remote: true to "
		    "serve the API beyond this host",
		    m->api.listen);
}

/* The value node of `key` in entry `index` of the object list at path, the entry itself
 * without that key, or fallback when the document has no such entry. */
static const yaml_node_t *entry_node(const struct ctx *c, const char *path, uint32_t index,
				     const char *key, const yaml_node_t *fallback)
{
	const yaml_node_t *list = node_of(c, path, NULL);
	const yaml_node_t *item;

	if (list == NULL || list->type != YAML_SEQUENCE_NODE ||
	    index >= list->data.sequence.items.top - list->data.sequence.items.start)
		return fallback;
	item = yaml_document_get_node(c->doc, list->data.sequence.items.start[index]);
	PF_ASSERT(item != NULL && item->type == YAML_MAPPING_NODE); /* walk_objects() took it */
	for (yaml_node_pair_t *p = item->data.mapping.pairs.start; p < item->data.mapping.pairs.top;
	     p++) {
		const yaml_node_t *k = yaml_document_get_node(c->doc, p->key);

		if (k->data.scalar.length == strlen(key) &&
		    memcmp(k->data.scalar.value, key, strlen(key)) == 0)
			return yaml_document_get_node(c->doc, p->value);
	}
	return item;
}

/* A peer named as this host would make the name stand for two hosts. The parser knows
 * the name only when transport.name gives it; when it is empty, whoever resolves the
 * hostname makes this check. */
static int check_transport(struct ctx *c, const yaml_node_t *root, const struct pf_manifest *m)
{
	const struct pf_manifest_transport *t = &m->transport;

	PF_ASSERT(root != NULL && t->peers_count <= PF_MANIFEST_PEERS_MAX);
	if (t->name[0] == '\0')
		return 0;
	for (uint32_t i = 0; i < t->peers_count; i++)
		if (strcmp(t->peers[i].name, t->name) == 0)
			return fail(c, entry_node(c, "transport.peers", i, "name", root),
				    "transport.peers[%u].name: '%s' is this host's own name "
				    "(transport.name)",
				    i, t->name);
	return 0;
}

/* etcd endpoints are URLs the cluster's client can take: refused here, with their place,
 * rather than when pflightd starts. */
static int check_cluster(struct ctx *c, const yaml_node_t *root, const struct pf_manifest *m)
{
	const struct pf_manifest_cluster *cl = &m->cluster;
	const yaml_node_t *list = node_of(c, "cluster.etcd_endpoints", root);

	PF_ASSERT(root != NULL && cl->etcd_endpoints_count <= PF_MANIFEST_ENDPOINTS_MAX);
	for (uint32_t i = 0; i < cl->etcd_endpoints_count; i++) {
		const char *e = cl->etcd_endpoints[i];
		const yaml_node_t *at = list;

		if ((strncmp(e, "http://", 7) == 0 || strncmp(e, "https://", 8) == 0) &&
		    strlen(e) <= MANIFEST_ENDPOINT_MAX)
			continue;
		if (list != NULL && list->type == YAML_SEQUENCE_NODE)
			at = yaml_document_get_node(c->doc, list->data.sequence.items.start[i]);
		return fail(c, at,
			    "cluster.etcd_endpoints[%u]: '%s' is not an http:// or https:// URL of "
			    "at most %u bytes",
			    i, e, MANIFEST_ENDPOINT_MAX);
	}
	return 0;
}

static int walk_document(struct ctx *c, yaml_document_t *doc, struct pf_manifest *m)
{
	yaml_node_t *root = yaml_document_get_root_node(doc);
	struct scope s = {.table = fields, .n = FIELDS_N, .base = (unsigned char *)m, .at = c->at};
	int r;

	PF_ASSERT(m != NULL && c->doc == doc);
	if (root == NULL)
		return fail(c, NULL, "empty manifest: apiVersion and kind are required");
	if (root->type != YAML_MAPPING_NODE)
		return fail(c, root, "the manifest must be a mapping of sections, got %s",
			    node_kind(root));
	r = walk_mapping(c, &s, root, "");
	if (r == 0)
		r = required_check(c, &s, root, "");
	if (r == 0)
		r = check_api(c, root, m);
	if (r == 0)
		r = check_cluster(c, root, m);
	if (r < 0)
		return r;
	return check_transport(c, root, m);
}

static int syntax_error(struct ctx *c, const yaml_parser_t *p)
{
	if (p->error == YAML_MEMORY_ERROR)
		return -ENOMEM;
	if (c->err != NULL) {
		memset(c->err, 0, sizeof(*c->err));
		(void)snprintf(c->err->file, sizeof(c->err->file), "%s", c->name);
		c->err->line = (int)p->problem_mark.line + 1;
		c->err->column = (int)p->problem_mark.column + 1;
		(void)snprintf(c->err->reason, sizeof(c->err->reason), "YAML syntax: %s%s%s",
			       p->problem != NULL ? p->problem : "malformed",
			       p->context != NULL ? " " : "", p->context != NULL ? p->context : "");
	}
	return -EBADMSG;
}

/* The anchor an event defines ("&name"), or NULL. */
static const yaml_char_t *event_anchor(const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		return ev->data.scalar.anchor;
	case YAML_SEQUENCE_START_EVENT:
		return ev->data.sequence_start.anchor;
	case YAML_MAPPING_START_EVENT:
		return ev->data.mapping_start.anchor;
	default:
		return NULL;
	}
}

/* What events_check() refuses in one event, at its position: 0 or -EINVAL. */
static int event_bounds(struct ctx *c, const yaml_event_t *ev, uint32_t depth, uint32_t anchors)
{
	if (depth > PF_MANIFEST_DEPTH_MAX)
		return fail_at(c, &ev->start_mark,
			       "nested deeper than %u levels (PF_MANIFEST_DEPTH_MAX): no manifest "
			       "needs more than a few",
			       PF_MANIFEST_DEPTH_MAX);
	if (anchors > PF_MANIFEST_ANCHORS_MAX)
		return fail_at(c, &ev->start_mark,
			       "more than %u anchors (PF_MANIFEST_ANCHORS_MAX): no manifest needs "
			       "more than a few",
			       PF_MANIFEST_ANCHORS_MAX);
	return 0;
}

/*
 * Refuse a stream that libyaml's loader would take too long over, before it sees it:
 *   - nesting deeper than PF_MANIFEST_DEPTH_MAX: its scanner keeps one possible simple key
 *     per open flow collection and looks at all of them at every token, so "[[[[..." costs
 *     time quadratic in the depth (300,000 levels fit in PF_MANIFEST_BYTES_MAX and take
 *     minutes);
 *   - more than PF_MANIFEST_ANCHORS_MAX anchors: the loader compares each new anchor with
 *     every earlier one (100,000 of them take most of a minute).
 * Events come one at a time from the same parser state, so stopping at the first event
 * out of bounds stops the scanning too. 0, -EINVAL (err at that event), -EBADMSG (a
 * syntax error came first, reported as the loader would), or -ENOMEM.
 */
static int events_check(struct ctx *c, const char *text, size_t len)
{
	uint32_t depth = 0, anchors = 0;
	yaml_parser_t p;
	yaml_event_t ev;
	int r = 1;

	if (!yaml_parser_initialize(&p))
		return -ENOMEM;
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	while (r > 0) {
		if (!yaml_parser_parse(&p, &ev)) {
			r = syntax_error(c, &p);
			break;
		}
		if (ev.type == YAML_SEQUENCE_START_EVENT || ev.type == YAML_MAPPING_START_EVENT)
			depth++;
		else if (ev.type == YAML_SEQUENCE_END_EVENT || ev.type == YAML_MAPPING_END_EVENT)
			depth--;
		anchors += event_anchor(&ev) != NULL;
		r = event_bounds(c, &ev, depth, anchors);
		if (r == 0 && ev.type != YAML_STREAM_END_EVENT)
			r = 1;
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	PF_ASSERT(r <= 0 && depth <= PF_MANIFEST_DEPTH_MAX + 1);
	return r;
}

/* Load the first document, walk it into m, then make sure there is no second one. */
static int parse_yaml(struct ctx *c, yaml_parser_t *p, struct pf_manifest *m)
{
	yaml_document_t doc;
	int r;

	if (!yaml_parser_load(p, &doc))
		return syntax_error(c, p);
	c->doc = &doc;
	r = walk_document(c, &doc, m);
	yaml_document_delete(&doc);
	if (r < 0)
		return r;
	if (!yaml_parser_load(p, &doc))
		return syntax_error(c, p);
	c->doc = &doc;
	if (yaml_document_get_root_node(&doc) != NULL)
		r = fail(c, yaml_document_get_root_node(&doc),
			 "a manifest holds one YAML document, found a second one");
	yaml_document_delete(&doc);
	return r;
}

PF_API int pf_manifest_parse(const char *text, size_t len, const char *name_for_errors,
			     struct pf_manifest *m, struct pf_manifest_error *err)
{
	struct ctx c = {.name = name_for_errors != NULL ? name_for_errors : "<manifest>",
			.err = err};
	struct pf_manifest *work;
	yaml_parser_t p;
	int r;

	if ((text == NULL && len > 0) || m == NULL)
		return -EINVAL;
	if (len > PF_MANIFEST_BYTES_MAX) {
		(void)fail(&c, NULL, "larger than %u bytes", PF_MANIFEST_BYTES_MAX);
		return -EFBIG;
	}
	work = malloc(sizeof(*work));
	if (work == NULL)
		return -ENOMEM;
	if (!yaml_parser_initialize(&p)) {
		free(work);
		return -ENOMEM;
	}
	pf_manifest_defaults(work);
	text = text != NULL ? text : "";
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	r = events_check(&c, text, len);
	if (r == 0)
		r = parse_yaml(&c, &p, work);
	yaml_parser_delete(&p);
	if (r == 0)
		memcpy(m, work, sizeof(*m));
	free(work);
	return r;
}

static int read_error(struct ctx *c, int r, const char *what)
{
	char buf[128];

	PF_ASSERT(r < 0);
	(void)fail(c, NULL, "cannot %s: %s", what, strerror_r(-r, buf, sizeof(buf)));
	return r;
}

/* The whole file into a NUL-terminated buffer; bounded by PF_MANIFEST_BYTES_MAX. */
static int read_all(struct ctx *c, int fd, char **ret_buf, size_t *ret_len)
{
	size_t cap = PF_MANIFEST_BYTES_MAX + 1, len = 0;
	char *buf = malloc(cap);

	if (buf == NULL)
		return -ENOMEM;
	for (;;) {
		ssize_t n = read(fd, buf + len, cap - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int r = -errno;

			free(buf);
			return read_error(c, r, "read");
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == cap)
			break; /* bounded: refused as too large below */
	}
	*ret_buf = buf;
	*ret_len = len;
	return 0;
}

PF_API int pf_manifest_load(const char *path, struct pf_manifest *m, struct pf_manifest_error *err)
{
	struct ctx c = {.name = path, .err = err};
	struct stat st;
	size_t len;
	char *buf;
	int fd, r;

	if (path == NULL || m == NULL)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return read_error(&c, -errno, "open");
	if (fstat(fd, &st) < 0 || S_ISDIR(st.st_mode)) {
		r = S_ISDIR(st.st_mode) ? -EISDIR : -errno;
		(void)close(fd);
		return read_error(&c, r, "open");
	}
	r = read_all(&c, fd, &buf, &len);
	(void)close(fd);
	if (r < 0)
		return r;
	r = pf_manifest_parse(buf, len, path, m, err);
	free(buf);
	return r;
}

PF_API void pf_manifest_defaults(struct pf_manifest *m)
{
	PF_ASSERT(m != NULL);
	memset(m, 0, sizeof(*m));
	m->size = sizeof(*m);
	manifest_apply_defaults(fields, FIELDS_N, (unsigned char *)m);
}

#define EXPLAIN_SLOTS_SCALED_MAX 65536u

PF_API int pf_manifest_domain_opts(const struct pf_manifest *m, struct pf_domain_opts *opts)
{
	if (m == NULL || opts == NULL || m->size != sizeof(*m))
		return -EINVAL;
	pf_domain_opts_init(opts);
	opts->members_max = m->membership.members_max;
	opts->vnodes_max = m->membership.vnodes_max;
	opts->caps_max = m->membership.capabilities_max;
	opts->inbox_slots = m->membership.inbox_slots;
	/* The schema bounds both sizes below 2^32 (PF_MSG_BYTES_MAX, PF_STATE_BYTES_MAX). */
	opts->msg_bytes_max = (uint32_t)m->membership.message_bytes_max;
	opts->state_bytes_max = (uint32_t)m->membership.state_bytes_max;
	opts->heartbeat_interval_ns = m->membership.heartbeat_interval_ns;
	opts->heartbeat_misses = m->membership.heartbeat_misses;
	opts->slot_grace_ns = m->membership.slot_grace_ns;
	opts->mode = m->governance.segment_mode;
	opts->gid = m->governance.group;
	opts->sched_strategy = m->scheduling.strategy;
	opts->trust_floor_ppm = m->scheduling.trust_floor_ppm;
	opts->epsilon_ppm = m->scheduling.epsilon_ppm;
	opts->sched_seed = m->scheduling.seed;
	/* Explanations for a burst: a sixteenth of the VNodes (a definition of a million is
	 * placed faster than an auditor can read 1,024 at a time), 1,024 to 65,536. */
	while (opts->explain_slots < EXPLAIN_SLOTS_SCALED_MAX &&
	       (uint64_t)opts->explain_slots * 16 < opts->vnodes_max)
		opts->explain_slots *= 2;
	return 0;
}

PF_API int pf_manifest_rebalance_opts(const struct pf_manifest *m, struct pf_rebalance_opts *opts)
{
	if (m == NULL || opts == NULL || m->size != sizeof(*m))
		return -EINVAL;
	pf_rebalance_opts_init(opts);
	opts->moves_max = m->scheduling.rebalance.moves_max;
	opts->moves_ppm = m->scheduling.rebalance.moves_ppm;
	opts->cooldown_ns = m->scheduling.rebalance.cooldown_ns;
	opts->gain_min_ppm = m->scheduling.rebalance.min_gain_ppm;
	return 0;
}

/* Bytes of a field's value that two manifests must share for it to count as unchanged:
 * lists compare their count and the entries in use only. */
static bool field_equal(const struct manifest_field *f, const unsigned char *a,
			const unsigned char *b)
{
	uint32_t ca, cb;

	if (f->type == PF_MANIFEST_SECTION || (f->flags & F_NOSTORE) != 0)
		return true;
	if (f->type != PF_MANIFEST_STRING_LIST && f->type != PF_MANIFEST_INT_LIST &&
	    f->object == NULL)
		return memcmp(a + f->offset, b + f->offset, f->width) == 0;
	memcpy(&ca, a + f->count_offset, sizeof(ca));
	memcpy(&cb, b + f->count_offset, sizeof(cb));
	if (ca != cb || ca > f->items_max)
		return ca == cb;
	return memcmp(a + f->offset, b + f->offset, (size_t)ca * f->width) == 0;
}

PF_API int pf_manifest_reload_check(const struct pf_manifest *running,
				    const struct pf_manifest *next, struct pf_manifest_error *err)
{
	if (running == NULL || next == NULL || running->size != sizeof(*running) ||
	    next->size != sizeof(*next))
		return -EINVAL;
	for (size_t i = 0; i < FIELDS_N; i++) {
		const struct manifest_field *f = &fields[i];

		if ((f->flags & F_RELOAD) != 0 ||
		    field_equal(f, (const unsigned char *)running, (const unsigned char *)next))
			continue;
		if (err != NULL) {
			memset(err, 0, sizeof(*err));
			(void)snprintf(err->reason, sizeof(err->reason),
				       "%s changed and is not reloadable: restart the domain",
				       f->path);
		}
		return -EBUSY;
	}
	return 0;
}

/* Entry `index` of the schema: the table's fields, then for each object list kind a
 * section (written to *section) followed by the fields of one entry. NULL past the end. */
static const struct manifest_field *schema_entry(uint32_t index, struct manifest_field *section)
{
	if (index < FIELDS_N)
		return &fields[index];
	index -= (uint32_t)FIELDS_N;
	for (size_t i = 0; i < PF_ARRAY_SIZE(objects); i++) {
		const struct manifest_object *o = objects[i];

		if (index == 0) {
			memset(section, 0, sizeof(*section));
			section->path = o->prefix;
			section->type = PF_MANIFEST_SECTION;
			section->doc = o->doc;
			return section;
		}
		if (index <= o->n)
			return &o->fields[index - 1];
		index -= (uint32_t)o->n + 1;
	}
	return NULL;
}

PF_API int pf_manifest_schema(uint32_t index, struct pf_manifest_field *ret_field)
{
	struct manifest_field section;
	const struct manifest_field *f;

	if (ret_field == NULL || ret_field->size < sizeof(*ret_field))
		return -EINVAL;
	f = schema_entry(index, &section);
	if (f == NULL)
		return -ENOENT;
	memset(ret_field, 0, sizeof(*ret_field));
	ret_field->size = sizeof(*ret_field);
	ret_field->type = f->type;
	ret_field->reloadable = (f->flags & F_RELOAD) != 0;
	ret_field->required = (f->flags & F_REQUIRED) != 0;
	ret_field->path = f->path;
	ret_field->type_name = manifest_field_type_name(f);
	ret_field->default_text = f->def != NULL ? f->def : "";
	ret_field->doc = f->doc;
	manifest_range_text(f, ret_field->range, sizeof(ret_field->range));
	return 0;
}
