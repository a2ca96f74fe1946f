/* SPDX-License-Identifier: MIT */
/*
 * tools/pflightd/http_api.h: the REST API's routes, what a request is once parsed, and
 * the handlers' context. http.c does the HTTP (libmicrohttpd, limits, the token, event
 * streams); http_json.c turns a method, a path, query arguments and a body into a
 * checked `struct api_call` or a 4xx error, without I/O (what the fuzz corpus replays);
 * http_api.c holds the route table and the handlers.
 *
 * Adding an endpoint is one entry in api_routes[] (method, path template, flags, the
 * query arguments and body fields it accepts) and one handler. A handler gets the parsed
 * call and fills a reply: a JSON document (status 2xx), raw bytes with their content type
 * (the OpenAPI document; a Prometheus text page would be the same), or an error.
 */
#ifndef PFLIGHTD_HTTP_API_H
#define PFLIGHTD_HTTP_API_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "pflight/pflight.h"
#include "shm/pf_compiler.h"
#include "tools/pflightd/cmdq.h"
#include "tools/pflightd/events.h"
#include "tools/pflightd/govern.h"
#include "tools/pflightd/jobs.h"
#include "tools/pflightd/migrate.h"

#define API_PREFIX "/api/v1"
#define API_PATH_IDS_MAX 2u /* {slot} or {id} segments in one path */
#define API_FIELDS_MAX                                                                             \
	12u                  /* query arguments or body fields one route accepts (the              \
			      * simulator's parameters are the most) */
#define API_QUERY_MAX 16u    /* query arguments one request may carry */
#define API_SEGMENTS_MAX 8u  /* path segments looked at; deeper paths are unknown */
#define API_CODE_MAX 32u     /* bytes of an error code, with the NUL */
#define API_MESSAGE_MAX 256u /* bytes of an error message, with the NUL */
#define API_ALLOW_MAX 32u    /* bytes of an Allow header */
#define API_CURSOR_MAX 24u   /* bytes of a page cursor, with the NUL */
#define API_PEER_MAX 64u     /* bytes of a client address as text */
#define API_LOCATION_MAX 64u /* bytes of a Location header (a job's path), with the NUL */
/* Bytes of the owner part of a simulation's domain name, with the NUL: room is left for
 * ".sim-<pid>-<job>" within PF_DOMAIN_NAME_MAX (http_sim.c). */
#define API_SIM_OWNER_MAX 40u
#define API_LIST_DEFAULT 100u /* VNodes per page by default */
#define API_LIST_MAX 1000u    /* VNodes per page at most */
#define API_SCAN_MAX                                                                               \
	65536u               /* VNode ids looked at per page: a page of a million-VNode            \
			      * domain filtered down to few costs one bounded scan */
#define API_TAIL_DEFAULT 20u /* audit records by default */
#define API_TAIL_MAX 1000u   /* audit records at most (the event ring holds them) */
#define API_LINEAGE_MAX 256u /* a VNode's newest lineage records shown */
#define API_CRASHES_MAX 64u  /* deaths followed to recovery at once; more are not timed */
#define API_DECISIONS_DEFAULT 20u
#define API_DECISIONS_MAX 1000u

/* Route flags. */
#define API_MUTATING 0x1u /* changes the domain: needs the bearer token */
#define API_BODY 0x2u     /* takes a JSON object body (API_BODY_OPTIONAL: may be empty) */
#define API_BODY_OPTIONAL 0x4u
#define API_STREAM 0x8u /* answered by http.c as a server-sent event stream */

/* Field kinds and flags. */
enum api_type {
	API_T_U32 = 1,    /* a decimal (query) or JSON integer (body) in [min, max] */
	API_T_STRING = 2, /* any string (body: a JSON string) */
	API_T_ENUM = 3,   /* one of names[] (query) */
	API_T_CURSOR = 4, /* a page cursor (query), as api_cursor_encode() wrote it */
	API_T_NUMBER = 5, /* a JSON number (body), finite, in [min, max] (whole units) */
};
#define API_REQUIRED 0x1u
#define API_ONE_OF 0x2u /* exactly one of the route's ONE_OF fields must be given */

struct api_field {
	const char *name;
	uint32_t type; /* enum api_type */
	uint32_t flags;
	uint64_t min;
	uint64_t max;
	const char *const *names; /* API_T_ENUM: NULL-terminated */
};

struct api;
struct api_call;
struct api_reply;
struct api_error;

typedef int (*api_handler_fn)(struct api *a, const struct api_call *call, struct api_reply *rep,
			      struct api_error *err);

struct api_route {
	const char *method;
	const char *path; /* "/api/v1/vnodes/{id}": {slot} and {id} are decimal uint32 */
	uint32_t flags;
	uint32_t query_count;
	const struct api_field *query;
	uint32_t body_count;
	const struct api_field *body;
	api_handler_fn handler; /* NULL for API_STREAM */
};

/* A value given for a field: set, and its number or string (pointing into the request). */
struct api_value {
	uint32_t set;
	uint32_t reserved0;
	uint64_t u;
	double d; /* API_T_NUMBER */
	const char *s;
	size_t len;
};

struct api_call {
	const struct api_route *route;
	uint32_t ids[API_PATH_IDS_MAX]; /* the path's {slot} / {id}, in order */
	uint32_t ids_count;
	uint32_t reserved0;
	struct api_value query[API_FIELDS_MAX]; /* as route->query */
	struct api_value body[API_FIELDS_MAX];  /* as route->body */
	json_t *body_doc;                       /* owns the body's strings; api_call_clear() */
	char peer[API_PEER_MAX];                /* the client's address */
};

/* One query argument as the server received it (decoded). value NULL: "?key" alone. */
struct api_kv {
	const char *key;
	const char *value;
};

struct api_error {
	unsigned status;
	uint32_t retry_after_s; /* 429 and 503: a Retry-After header when > 0 */
	char code[API_CODE_MAX];
	char message[API_MESSAGE_MAX];
	char allow[API_ALLOW_MAX]; /* 405: the Allow header */
};

struct api_reply {
	unsigned status;
	char location[API_LOCATION_MAX]; /* a Location header when not empty (a new job) */
	json_t *doc;                     /* the JSON answer (owned), or NULL with raw */
	const char *raw;                 /* bytes served as they are: static, or raw_owned */
	size_t raw_len;
	const char *content_type; /* of raw */
	char *raw_owned;          /* malloc'ed raw bytes the server frees after sending */
};

/* What the handlers use; owned by the HTTP thread (http.c). */
struct api {
	struct pf_domain *domain;
	const char *domain_name;
	const char *audit_path;
	struct pf_audit *log;  /* the auditor's: lineage from its index (pf_audit_lineage_tail) */
	struct events *events; /* the log's newest records (http.c follows it): the tail */
	unsigned char pk[PF_AUDIT_PUBLIC_KEY_BYTES]; /* the daemon's: audit verify */
	struct migrator mig;                         /* this thread's (migrate.h) */
	struct jobs *jobs; /* the long requests, run off this thread (jobs.h, http_jobs.c) */
	/* A simulation's budgets (the manifest's api.sim_*) and its domains' owner name. */
	uint64_t sim_time_max_ns;
	uint64_t sim_segment_max;
	uint64_t sim_events_max;
	char sim_owner[API_SIM_OWNER_MAX];
	struct cmdq *to_auditor;
	char *(*cluster_json)(void *arg); /* GET /api/v1/cluster; NULL: no cluster */
	void *cluster_arg;
	uint64_t start_ns; /* CLOCK_MONOTONIC when the daemon started */
	int32_t pid;
	uint32_t members_max;
	uint32_t vnodes_max;
	uint32_t msg_bytes_max;
	uint32_t crashes_open; /* deaths whose VNodes are not all owned again yet */
	/* The metrics (http_metrics.c): fed by api_metrics_step() on this thread. */
	struct pf_metrics *metrics;
	struct pf_metrics_sampler *sampler;
	uint64_t next_sample_ns;
	uint64_t next_recovery_check_ns;
	uint32_t pending_before;  /* VNodes pending at the last sample (recovery's baseline) */
	uint32_t membership_seen; /* the membership version deaths were last looked for at */
	uint64_t death_seen_ns;   /* the latest death time already followed */
	uint64_t crash_ns[API_CRASHES_MAX]; /* detection time of each open death */
};

/* The kinds of job (jobs.h) the API runs. */
enum api_job_kind {
	API_JOB_SIM = 1,    /* POST /api/v1/sim */
	API_JOB_VERIFY = 2, /* POST /api/v1/audit/verify */
};

extern const struct api_route api_routes[];
extern const uint32_t api_routes_count;

_Static_assert(API_TAIL_MAX <= EVENTS_MAX, "the tail is answered from the event ring");

/* --- http_json.c: parsing without I/O ----------------------------------------------- */

pf_printf_like(4, 5) void api_error_set(struct api_error *err, unsigned status, const char *code,
					const char *fmt, ...);

/* {"error":{"code":...,"message":...}} */
json_t *api_error_doc(const struct api_error *err);

/* Percent-decode a path or a query argument in place, as libmicrohttpd does (its unescape
 * callback), except that %00 stays the three characters it is: a decoded NUL would end
 * the C string early, and "/vnodes/1%00" would be read as "/vnodes/1". api_route_find()
 * and api_query_parse() then refuse what holds it (400). Returns the new length (strlen
 * of the result). */
size_t api_unescape(char *text);

/* Find the route of method and path (decoded, without the query): 0 and call->route and
 * call->ids, or -EINVAL (400: the path holds %00, err filled), -ENOENT (404, err filled)
 * or -EPERM (405, err->allow filled). */
int api_route_find(const char *method, const char *path, struct api_call *call,
		   struct api_error *err);

/* Check the query arguments against call->route: 0 and call->query, or -EINVAL (400; one
 * holds %00, is unknown, repeated or malformed). */
int api_query_parse(struct api_call *call, const struct api_kv *kv, size_t count,
		    struct api_error *err);

/* Check the body against call->route: 0 and call->body (call->body_doc holds the parsed
 * document), or -EINVAL (400: malformed JSON, not an object, unknown field, wrong type,
 * missing field, a body where none is taken). */
int api_body_parse(struct api_call *call, const char *body, size_t len, struct api_error *err);

/* Release what api_body_parse() kept. Idempotent. */
void api_call_clear(struct api_call *call);

/* The opaque page cursor for "continue at VNode id", and back: 0 or -EINVAL. */
void api_cursor_encode(uint32_t id, char out[API_CURSOR_MAX]);
int api_cursor_decode(const char *text, size_t len, uint32_t *ret_id);

/* --- http_api.c --------------------------------------------------------------------- */

/* Set up a's own migrator (its governor and scheduler object), metrics and job runner (its
 * worker thread started). 0 or -errno. */
int api_init(struct api *a, struct pf_domain *domain, const struct pf_manifest *m,
	     struct cmdq *to_auditor);
/* Cancel the jobs and wait for the worker, then free the rest. */
void api_fini(struct api *a);

/* --- http_jobs.c: jobs as resources ---------------------------------------------------- */

/* Answer a job just submitted (status 202) or cancelled: its document, with a Location
 * header naming it. 0, or -ENOENT/-ENOMEM with err filled. */
int api_job_reply(struct api *a, uint32_t id, unsigned status, struct api_reply *rep,
		  struct api_error *err);
/* The refusal of a job jobs_submit() refused with r, `what` naming the request in it:
 * 429 (the queue is full), 503 (stopping) or 500. Returns r. */
int api_job_submit_error(int r, const char *what, struct api_error *err);
int api_get_job(struct api *a, const struct api_call *call, struct api_reply *rep,
		struct api_error *err);
int api_delete_job(struct api *a, const struct api_call *call, struct api_reply *rep,
		   struct api_error *err);

/* --- http_metrics.c: the metrics, the dashboard's files ------------------------------- */

/* The accumulator and the live sampler over a->domain, window from the manifest's
 * api.metrics_window. 0 or -errno. */
int api_metrics_init(struct api *a, const struct pf_manifest *m);
void api_metrics_fini(struct api *a);

/* Sample the domain once a second (a full sweep of its ownership words) and time the
 * recoveries of deaths: work done (0 or 1). */
int api_metrics_step(struct api *a, uint64_t now_ns);

/* How long the thread may park, at most park_ns: less while a death's recovery is being
 * timed (until its next look, RECOVERY_CHECK_NS apart). */
uint64_t api_metrics_park_ns(const struct api *a, uint64_t now_ns, uint64_t park_ns);

int api_get_metrics(struct api *a, const struct api_call *call, struct api_reply *rep,
		    struct api_error *err);
int api_get_prometheus(struct api *a, const struct api_call *call, struct api_reply *rep,
		       struct api_error *err);
int api_get_dashboard(struct api *a, const struct api_call *call, struct api_reply *rep,
		      struct api_error *err);
/* The query of GET /api/v1/metrics, sized here so that the route table in http_api.c
 * counts it. */
#define API_METRICS_QUERY_FIELDS 1u
extern const struct api_field api_metrics_query[API_METRICS_QUERY_FIELDS];

/* --- http_vmap.c: the VNode map ------------------------------------------------------- */

#define API_MAP_BUCKETS_DEFAULT 64u
#define API_MAP_BUCKETS_MAX 1024u /* id buckets of one map at most */
/* Counts one map holds at most: buckets x (members_max + 2 rows); so 1024 buckets at the
 * default 64 member slots, 31 at 4,096. About 1 MiB of JSON at most. */
#define API_MAP_CELLS_MAX 131072u

int api_get_vnode_map(struct api *a, const struct api_call *call, struct api_reply *rep,
		      struct api_error *err);
/* The query of GET /api/v1/vnodes/map, sized here so that the route table counts it. */
#define API_MAP_QUERY_FIELDS 3u
extern const struct api_field api_map_query[API_MAP_QUERY_FIELDS];

/* --- http_sim.c: the simulator ---------------------------------------------------------- */

int api_post_sim(struct api *a, const struct api_call *call, struct api_reply *rep,
		 struct api_error *err);
/* The owner part of this daemon's simulation domains ("<owner>.sim-<pid>-<job>"): the
 * domain's name, or when it is too long for the rest to fit, its start and a hash of it. */
void api_sim_owner(const char *domain, char out[API_SIM_OWNER_MAX]);
/* At start: remove the simulation domains a killed pflightd of this domain left, those of
 * this uid whose pid no longer runs a pflightd; another uid's are left alone (logged). The
 * count removed, or -errno when /dev/shm cannot be read. */
int api_sim_sweep(const char *domain);
_Static_assert(API_SIM_OWNER_MAX - 1 + sizeof(".sim-4194304-4294967295") - 1 <= PF_DOMAIN_NAME_MAX,
	       "a simulation's domain name must fit");
/* The fields of POST /api/v1/sim, sized here so that the route table counts them. */
#define API_SIM_FIELDS 11u
extern const struct api_field api_sim_body[API_SIM_FIELDS];

/* The OpenAPI document compiled in (tools/pflightd/openapi.json, openapi_json.c). */
extern const char api_openapi_json[];
extern const size_t api_openapi_json_len;

#endif /* PFLIGHTD_HTTP_API_H */
