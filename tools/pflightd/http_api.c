/* SPDX-License-Identifier: MIT */
/*
 * tools/pflightd/http_api.c: the REST API's routes and handlers (http_api.h).
 *
 * Reads come from shared memory (pf_domain_info, pf_member_info, pf_vnode_info, the
 * explanation ring), from the audit log's files (verify, as a job on the jobs' worker:
 * http_jobs.c) exactly as `pflight` reads them, from the log's lineage index (a VNode's
 * records: one read each, whatever the size of the log), and from the newest records the
 * event stream follows (the tail), and their JSON shapes are the ones `pflight --json`
 * prints (both build them with tools/common/jdoc.h), wrapped in an object ({"members":
 * [...]}) so a list can grow fields (a page cursor) later. Nothing here stops or waits for
 * an agent. Changes reuse what the CLI and the control socket use: pf_member_cordon() for
 * drain and retire, migrate_ask() for migrate, pf_send() for messages; drain and retire
 * requests are audited here (drain_request), migrations by migrate_ask(). The metrics, the
 * Prometheus page and the dashboard's files are in http_metrics.c, the simulator in
 * http_sim.c, jobs as resources in http_jobs.c.
 */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shm/pf_assert.h"
#include "tools/common/build_info.h"
#include "tools/common/jdoc.h"
#include "tools/pflightd/daemon.h"
#include "tools/pflightd/http_api.h"
#include "tools/pflightd/log.h"

#define READ_BATCH 64u
#define DECISIONS_SCAN_MAX (4u << 20) /* explanations looked at per request, at most */
#define VERIFY_TORN_RETRIES 3         /* a last line caught mid-write looks torn: look again */

/* The states a VNode list may be filtered by (unassigned ones are never listed). */
static const char *const vnode_filter_states[] = {"pending", "active", "migrating", "draining",
						  NULL};

static int reply_doc(struct api_reply *rep, unsigned status, json_t *doc, struct api_error *err)
{
	if (doc == NULL) {
		api_error_set(err, 500, "internal", "out of memory building the answer");
		return -ENOMEM;
	}
	rep->status = status;
	rep->doc = doc;
	return 0;
}

static int get_summary(struct api *a, const struct api_call *call, struct api_reply *rep,
		       struct api_error *err)
{
	struct pf_domain_info di = {.size = sizeof(di)};
	json_t *doc;

	(void)call;
	if (pf_domain_info(a->domain, &di) < 0) {
		api_error_set(err, 500, "internal", "the domain cannot be read");
		return -EIO;
	}
	doc = jdoc_domain(a->domain_name, &di);
	if (doc != NULL &&
	    (json_object_set_new(doc, "pid", json_integer((json_int_t)a->pid)) < 0 ||
	     json_object_set_new(doc, "version", json_string(build_version())) < 0 ||
	     json_object_set_new(doc, "revision", json_string(build_revision())) < 0 ||
	     json_object_set_new(
		     doc, "uptime_s",
		     json_integer((json_int_t)((mono_ns() - a->start_ns) / 1000000000u))) < 0)) {
		json_decref(doc);
		doc = NULL;
	}
	return reply_doc(rep, 200, doc, err);
}

static int get_members(struct api *a, const struct api_call *call, struct api_reply *rep,
		       struct api_error *err)
{
	json_t *list = json_array();

	(void)call;
	for (uint32_t s = 0; s < a->members_max && list != NULL; s++) {
		struct pf_member_info mi = {.size = sizeof(mi)};

		if (pf_member_info(a->domain, s, &mi) == 0)
			json_array_append_new(list, jdoc_member(a->domain, &mi));
	}
	return reply_doc(rep, 200, json_pack("{s:o}", "members", list), err);
}

/* The member in the call's {slot}: 0, or a 404/500 in err. */
static int member_read(struct api *a, uint32_t slot, struct pf_member_info *mi,
		       struct api_error *err)
{
	int r = slot < a->members_max ? pf_member_info(a->domain, slot, mi) : -ENOENT;

	if (r == -ENOENT || r == -EINVAL)
		api_error_set(err, 404, "no_member", "no member in slot %u", slot);
	else if (r < 0)
		api_error_set(err, 500, "invalid_record", "member slot %u fails validation: %s",
			      slot, strerror(-r));
	return r;
}

static int get_member(struct api *a, const struct api_call *call, struct api_reply *rep,
		      struct api_error *err)
{
	struct pf_member_info mi = {.size = sizeof(mi)};

	if (member_read(a, call->ids[0], &mi, err) < 0)
		return -ENOENT;
	return reply_doc(rep, 200, jdoc_member(a->domain, &mi), err);
}

static int cordon(struct api *a, const struct api_call *call, uint32_t flags, struct api_reply *rep,
		  struct api_error *err)
{
	struct pf_member_info mi = {.size = sizeof(mi)};
	uint32_t slot = call->ids[0];
	int retire = (flags & PF_DRAIN_RETIRE) != 0, r;

	if (member_read(a, slot, &mi, err) < 0)
		return -ENOENT;
	r = pf_member_cordon(a->domain, slot, flags);
	if (r == -ENOENT || r == -EINVAL)
		api_error_set(err, 404, "no_member", "no ACTIVE or DRAINING member in slot %u",
			      slot);
	else if (r == -EALREADY)
		api_error_set(err, 409, "already_draining", "member %u is already %s", slot,
			      retire ? "retiring" : "draining");
	else if (r == -EAGAIN)
		api_error_set(err, 503, "busy", "member %u kept changing; try again", slot);
	else if (r < 0)
		api_error_set(err, 500, "internal", "cordon: %s", strerror(-r));
	if (r < 0) {
		err->retry_after_s = r == -EAGAIN ? 1 : 0;
		return r;
	}
	if (cmdq_record(a->to_auditor, "drain_request", PF_AUDIT_NO_VNODE,
			"{\"slot\":%u,\"generation\":%u,\"retire\":%s,\"by_api\":\"%s\"}", slot,
			mi.generation, retire ? "true" : "false", call->peer) < 0)
		log_msg(LOG_ERROR, "auditor queue full: drain_request of member %u not audited",
			slot);
	log_msg(LOG_INFO, "api (%s): %s member %u.%u", call->peer, retire ? "retire" : "drain",
		slot, mi.generation);
	return reply_doc(rep, 202,
			 json_pack("{s:I, s:I, s:s, s:b}", "slot", (json_int_t)slot, "generation",
				   (json_int_t)mi.generation, "state", "draining", "retire",
				   retire),
			 err);
}

static int post_drain(struct api *a, const struct api_call *call, struct api_reply *rep,
		      struct api_error *err)
{
	return cordon(a, call, 0, rep, err);
}

static int post_retire(struct api *a, const struct api_call *call, struct api_reply *rep,
		       struct api_error *err)
{
	return cordon(a, call, PF_DRAIN_RETIRE, rep, err);
}

/* For each capability, the members (ACTIVE or DRAINING) declaring it: one pass over the
 * member table, not one per capability. */
static void providers_count(struct api *a, uint32_t providers[PF_CAPS_MAX])
{
	memset(providers, 0, PF_CAPS_MAX * sizeof(providers[0]));
	for (uint32_t s = 0; s < a->members_max; s++) {
		struct pf_member_info mi = {.size = sizeof(mi)};

		if (pf_member_info(a->domain, s, &mi) < 0 ||
		    (mi.state != PF_MEMBER_ACTIVE && mi.state != PF_MEMBER_DRAINING))
			continue;
		for (uint32_t i = 0; i < PF_CAPS_MAX; i++)
			providers[i] += (uint32_t)((mi.caps[i / 64] >> (i % 64)) & 1);
	}
}

static int get_capabilities(struct api *a, const struct api_call *call, struct api_reply *rep,
			    struct api_error *err)
{
	struct pf_domain_info di = {.size = sizeof(di)};
	uint32_t providers[PF_CAPS_MAX];
	json_t *list = json_array();

	(void)call;
	(void)pf_domain_info(a->domain, &di);
	providers_count(a, providers);
	for (uint32_t i = 0; i < di.caps_count && i < PF_CAPS_MAX && list != NULL; i++) {
		const char *name = pf_capability_name(a->domain, i);

		if (name != NULL)
			json_array_append_new(
				list, json_pack("{s:I, s:s, s:I}", "index", (json_int_t)i, "name",
						name, "providers", (json_int_t)providers[i]));
	}
	return reply_doc(rep, 200, json_pack("{s:o}", "capabilities", list), err);
}

/* GET /api/v1/cluster: the cluster's directory as this host sees it, or null. */
static int get_cluster(struct api *a, const struct api_call *call, struct api_reply *rep,
		       struct api_error *err)
{
	char *text = a->cluster_json != NULL ? a->cluster_json(a->cluster_arg) : NULL;
	json_t *cluster = text != NULL ? json_loads(text, 0, NULL) : json_null();

	(void)call;
	free(text);
	if (cluster == NULL) {
		api_error_set(err, 500, "internal", "the cluster's state cannot be read");
		return -ENOMEM;
	}
	return reply_doc(rep, 200, json_pack("{s:o}", "cluster", cluster), err);
}

/* The query of GET /api/v1/vnodes, in the order of vnodes_query[]. */
enum { Q_STATE, Q_OWNER, Q_LIMIT, Q_CURSOR, Q_FROM, Q_TO };

static int vnode_wanted(const struct api_call *call, const struct pf_vnode_info *vi)
{
	if (vi->state == PF_VNODE_UNASSIGNED)
		return 0;
	if (call->query[Q_STATE].set && vi->state != call->query[Q_STATE].u + PF_VNODE_PENDING)
		return 0;
	if (call->query[Q_OWNER].set &&
	    (vi->state == PF_VNODE_PENDING || vi->owner_slot != call->query[Q_OWNER].u))
		return 0;
	return 1;
}

/* Where a page of GET /vnodes starts and ends: [*ret_id, *ret_end), or a 400 in err. from
 * and to bound the walk (a map's bucket), the cursor says where in it the page starts: a
 * client keeps its query and adds each next_cursor. */
static int vnodes_range(const struct api *a, const struct api_call *call, uint32_t *ret_id,
			uint32_t *ret_end, struct api_error *err)
{
	const struct api_value *q = call->query;
	uint32_t from = q[Q_FROM].set ? (uint32_t)q[Q_FROM].u : 0;
	uint32_t end = q[Q_TO].set ? (uint32_t)q[Q_TO].u : a->vnodes_max;

	if (q[Q_TO].set && (end > a->vnodes_max || from >= end)) {
		api_error_set(err, 400, "bad_range",
			      "from %u, to %u: the range must satisfy from < to <= %u (vnodes_max; "
			      "to is exclusive)",
			      from, end, a->vnodes_max);
		return -EINVAL;
	}
	*ret_id = (uint32_t)q[Q_CURSOR].u > from ? (uint32_t)q[Q_CURSOR].u : from;
	*ret_end = end;
	PF_ASSERT(*ret_end <= a->vnodes_max);
	return 0;
}

static int get_vnodes(struct api *a, const struct api_call *call, struct api_reply *rep,
		      struct api_error *err)
{
	uint32_t limit =
		call->query[Q_LIMIT].set ? (uint32_t)call->query[Q_LIMIT].u : API_LIST_DEFAULT;
	uint32_t id, end, scanned = 0, shown = 0;
	char next[API_CURSOR_MAX];
	json_t *list;

	if (vnodes_range(a, call, &id, &end, err) < 0)
		return -EINVAL;
	list = json_array();
	for (; id < end && shown < limit && scanned < API_SCAN_MAX; id++, scanned++) {
		struct pf_vnode_info vi = {.size = sizeof(vi)};

		if (pf_vnode_info(a->domain, id, &vi) < 0 || !vnode_wanted(call, &vi))
			continue;
		json_array_append_new(list, jdoc_vnode(id, &vi));
		shown++;
	}
	api_cursor_encode(id, next);
	return reply_doc(rep, 200,
			 json_pack("{s:o, s:o}", "vnodes", list, "next_cursor",
				   id < end ? json_string(next) : json_null()),
			 err);
}

/* A record of the lineage as stored; a batch as this VNode's part of it: without its ranges
 * and links (GET /api/v1/audit shows them), with the VNode and the epoch its range gives. */
static int lineage_one(const struct pf_audit_record *rec, void *arg)
{
	json_t *o = json_loads(rec->line, JSON_REJECT_DUPLICATES, NULL);
	int bad = 0;

	if (o == NULL)
		return -EBADMSG;
	if (rec->flags & PF_AUDIT_RECORD_BATCH) {
		(void)json_object_del(o, "vnodes");
		(void)json_object_del(o, "vnodes_prev");
		bad |= json_object_set_new(o, "vnode", json_integer(rec->vnode));
		bad |= json_object_set_new(o, "epoch", json_integer((json_int_t)rec->value));
		bad |= json_object_set_new(o, "batch", json_true());
	}
	if (bad != 0) {
		json_decref(o);
		return -ENOMEM;
	}
	return json_array_append_new(arg, o) == 0 ? 0 : -ENOMEM;
}

/* The VNode's newest API_LINEAGE_MAX records, from the log's lineage index: one read per
 * record shown, not a walk of the log (pf_audit_lineage_tail). *omitted: the older ones. */
static json_t *lineage_json(struct api *a, uint32_t id, uint64_t *omitted, struct api_error *err)
{
	json_t *list = json_array();
	uint64_t total = 0;
	int r = list != NULL ? pf_audit_lineage_tail(a->log, id, API_LINEAGE_MAX, lineage_one, list,
						     &total)
			     : -ENOMEM;

	if (r < 0) {
		json_decref(list);
		api_error_set(err, 500, "audit_error", "VNode %u's lineage cannot be read: %s", id,
			      r == -EBADMSG
				      ? "a record or link is broken (POST /api/v1/audit/verify)"
				      : strerror(-r));
		return NULL;
	}
	PF_ASSERT((uint64_t)r <= total && json_array_size(list) == (size_t)r);
	*omitted = total - (uint64_t)r;
	return list;
}

/* VNode `id`: 0, or a 404 in err when out of range or not defined. */
static int vnode_read(struct api *a, uint32_t id, struct pf_vnode_info *vi, struct api_error *err)
{
	int r = id < a->vnodes_max ? pf_vnode_info(a->domain, id, vi) : -EINVAL;

	if (r == 0 && vi->state != PF_VNODE_UNASSIGNED)
		return 0;
	if (r == 0 || r == -EINVAL)
		api_error_set(err, 404, "no_vnode", "VNode %u is not defined", id);
	else
		api_error_set(err, 500, "invalid_record", "VNode %u fails validation: %s", id,
			      strerror(-r));
	return r == 0 ? -ENOENT : r;
}

static int get_vnode(struct api *a, const struct api_call *call, struct api_reply *rep,
		     struct api_error *err)
{
	struct pf_vnode_info vi = {.size = sizeof(vi)};
	uint32_t id = call->ids[0];
	uint64_t omitted = 0;
	json_t *doc, *lineage;

	if (vnode_read(a, id, &vi, err) < 0)
		return -ENOENT;
	lineage = lineage_json(a, id, &omitted, err);
	if (lineage == NULL)
		return -EIO;
	doc = jdoc_vnode(id, &vi);
	if (doc != NULL) {
		json_object_set_new(doc, "owner_generation",
				    json_integer((json_int_t)vi.owner_generation));
		json_object_set_new(doc, "capabilities", jdoc_caps(a->domain, vi.caps));
		json_object_set_new(doc, "lineage_omitted", json_integer((json_int_t)omitted));
		json_object_set(doc, "lineage", lineage);
	}
	json_decref(lineage);
	return reply_doc(rep, 200, doc, err);
}

static unsigned migrate_status(const char *error)
{
	if (strcmp(error, "no_member") == 0)
		return 422;
	if (strcmp(error, "refused") == 0)
		return 403;
	if (strcmp(error, "error") == 0)
		return 500;
	return 409; /* not_owned, already_there, busy: the VNode's state forbids it now */
}

static int post_migrate(struct api *a, const struct api_call *call, struct api_reply *rep,
			struct api_error *err)
{
	struct pf_vnode_info vi = {.size = sizeof(vi)};
	struct migrate_outcome o;
	char by[API_PEER_MAX + 16], by_log[API_PEER_MAX + 16];
	uint32_t id = call->ids[0];

	if (vnode_read(a, id, &vi, err) < 0)
		return -ENOENT;
	if (call->body[0].u >= a->members_max) {
		api_error_set(err, 422, "no_member", "slot %llu is out of range (0..%u)",
			      (unsigned long long)call->body[0].u, a->members_max - 1);
		return -EINVAL;
	}
	(void)snprintf(by, sizeof(by), "\"by_api\":\"%s\"", call->peer);
	(void)snprintf(by_log, sizeof(by_log), "api (%s)", call->peer);
	if (migrate_ask(&a->mig, id, (uint32_t)call->body[0].u, by, by_log, &o) < 0) {
		api_error_set(err, migrate_status(o.error), o.error, "%s", o.reason);
		return o.r;
	}
	return reply_doc(rep, 202,
			 json_pack("{s:I, s:I, s:I, s:I, s:I}", "vnode", (json_int_t)id, "from",
				   (json_int_t)o.from, "to_slot", (json_int_t)o.to_slot,
				   "to_generation", (json_int_t)o.to_generation, "epoch",
				   (json_int_t)o.epoch),
			 err);
}

/* The body of POST .../messages, in the order of message_body[]. */
enum { B_TEXT, B_BASE64 };

static int post_message(struct api *a, const struct api_call *call, struct api_reply *rep,
			struct api_error *err)
{
	struct pf_vnode_info vi = {.size = sizeof(vi)};
	const struct api_value *text = &call->body[B_TEXT], *b64 = &call->body[B_BASE64];
	unsigned char buf[PF_MSG_BYTES_MAX];
	size_t len = 0;
	uint32_t id = call->ids[0];
	int r;

	if (vnode_read(a, id, &vi, err) < 0)
		return -ENOENT;
	if (text->set && text->len > a->msg_bytes_max)
		len = text->len;
	else if (text->set)
		memcpy(buf, text->s, len = text->len);
	else if (sodium_base642bin(buf, sizeof(buf), b64->s, b64->len, NULL, &len, NULL,
				   sodium_base64_VARIANT_ORIGINAL) != 0) {
		api_error_set(err, 400, "bad_base64",
			      "field 'base64' is not standard base64 with padding, or decodes to "
			      "more than %u bytes",
			      PF_MSG_BYTES_MAX);
		return -EINVAL;
	}
	r = len > a->msg_bytes_max ? -EMSGSIZE : pf_send(a->domain, id, buf, len);
	if (r == -EMSGSIZE)
		api_error_set(err, 422, "message_too_large",
			      "%zu bytes; this domain's messages hold at most %u", len,
			      a->msg_bytes_max);
	else if (r == -ENOENT)
		api_error_set(err, 404, "no_vnode", "VNode %u is not defined", id);
	else if (r == -EAGAIN)
		api_error_set(err, 503, "inbox_full",
			      "VNode %u's inbox is full until its owner checkpoints", id);
	else if (r < 0)
		api_error_set(err, 500, "internal", "send: %s", strerror(-r));
	if (r < 0) {
		err->retry_after_s = r == -EAGAIN ? 1 : 0;
		return r;
	}
	return reply_doc(rep, 202,
			 json_pack("{s:I, s:I}", "vnode", (json_int_t)id, "bytes", (json_int_t)len),
			 err);
}

/* The query of GET /api/v1/decisions, in the order of decisions_query[]. */
enum { Q_DLIMIT, Q_DVNODE };

/* The newest `cap` decisions (of one VNode when asked), oldest first. As `pflight
 * decisions`, the ring is read from its start without subscribing. */
static int get_decisions(struct api *a, const struct api_call *call, struct api_reply *rep,
			 struct api_error *err)
{
	uint32_t cap = call->query[Q_DLIMIT].set ? (uint32_t)call->query[Q_DLIMIT].u
						 : API_DECISIONS_DEFAULT;
	struct pf_sched_decision batch[READ_BATCH], *dec = calloc(cap, sizeof(*dec));
	uint64_t seqs[READ_BATCH], *seq = calloc(cap, sizeof(*seq)), cursor = 0, seen = 0;
	json_t *list = json_array();
	int n = 1;

	for (uint64_t scanned = 0;
	     dec != NULL && seq != NULL && n > 0 && scanned < DECISIONS_SCAN_MAX;
	     scanned += (uint64_t)n) {
		n = pf_sched_explain_read(a->domain, &cursor, batch, READ_BATCH, seqs);
		for (int i = 0; i < n; i++) {
			if (call->query[Q_DVNODE].set && batch[i].vnode != call->query[Q_DVNODE].u)
				continue;
			dec[seen % cap] = batch[i];
			seq[seen % cap] = seqs[i];
			seen++;
		}
	}
	for (uint64_t i = seen > cap ? seen - cap : 0; dec != NULL && seq != NULL && i < seen; i++)
		json_array_append_new(list, jdoc_decision(seq[i % cap], &dec[i % cap]));
	if (dec == NULL || seq == NULL) {
		json_decref(list);
		list = NULL;
	}
	free(dec);
	free(seq);
	return reply_doc(rep, 200, list != NULL ? json_pack("{s:o}", "decisions", list) : NULL,
			 err);
}

/* The newest records, from the event stream's ring (events.h): it holds the log's last
 * EVENTS_MAX >= API_TAIL_MAX records as stored, across rotations, so nothing is read
 * back from the file per request. */
static int get_audit(struct api *a, const struct api_call *call, struct api_reply *rep,
		     struct api_error *err)
{
	uint32_t want = call->query[0].set ? (uint32_t)call->query[0].u : API_TAIL_DEFAULT;
	json_t *list = json_array();

	(void)events_poll(a->events); /* what the auditor appended since this thread's pass */
	for (uint32_t i = a->events->count > want ? a->events->count - want : 0;
	     i < a->events->count && list != NULL; i++) {
		const struct event *ev = events_at(a->events, i);

		json_array_append_new(list, json_loadb(ev->line, ev->len, 0, NULL));
	}
	return reply_doc(rep, 200, list != NULL ? json_pack("{s:o}", "records", list) : NULL, err);
}

/* A verification of the log with the daemon's key, as a job (http_jobs.c). */
struct verify_job {
	char path[PF_AUDIT_PATH_MAX];
	unsigned char pk[PF_AUDIT_PUBLIC_KEY_BYTES];
};

/* How far it is (the counters http_jobs.c names: records, bytes, bytes_total, files), and
 * whether to stop. */
static int verify_progress(void *arg, const struct pf_audit_progress *p)
{
	const uint64_t c[] = {p->records, p->bytes, p->bytes_total, p->files};

	_Static_assert(PF_ARRAY_SIZE(c) <= JOBS_COUNTERS, "a job's counters");
	job_progress(arg, c, PF_ARRAY_SIZE(c));
	return job_check(arg);
}

/* On the jobs' worker: the verdict as `pflight audit verify --pubkey KEY.pub --json` shows
 * it. A last line caught mid-write looks torn: looked at again. */
static int verify_run(struct job_ctx *ctx, void *arg, char **ret_result, size_t *ret_len)
{
	const struct verify_job *v = arg;
	struct pf_audit_report *report = calloc(1, sizeof(*report));
	json_t *doc;
	int r = -ENOMEM;

	for (int i = 0; report != NULL && i < VERIFY_TORN_RETRIES; i++) {
		memset(report, 0, sizeof(*report));
		report->size = sizeof(*report);
		r = pf_audit_verify_watch(v->path, v->pk, report, verify_progress, ctx);
		if (r != -EBADMSG || report->fault != PF_AUDIT_FAULT_TORN)
			break;
		(void)usleep(10000); /* the auditor was writing the last line */
	}
	if (r < 0 && r != -EBADMSG) {
		free(report);
		if (r != -ECANCELED)
			job_fail(ctx, "audit_error", "the audit log cannot be verified: %s",
				 strerror(-r));
		return r;
	}
	doc = jdoc_audit_report(r, report);
	free(report);
	*ret_result = doc != NULL ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(doc);
	if (*ret_result == NULL) {
		job_fail(ctx, "internal", "out of memory building the verdict");
		return -ENOMEM;
	}
	*ret_len = strlen(*ret_result);
	return 0;
}

/* Start a verification, or answer the one queued or running: one at a time is enough
 * (a second would read the same files), and so this read needs no token. */
static int post_audit_verify(struct api *a, const struct api_call *call, struct api_reply *rep,
			     struct api_error *err)
{
	struct verify_job *v;
	uint32_t id;
	int r;

	if (jobs_find_active(a->jobs, API_JOB_VERIFY, &id) == 0)
		return api_job_reply(a, id, 202, rep, err);
	v = calloc(1, sizeof(*v));
	if (v == NULL)
		return api_job_submit_error(-ENOMEM, "the verification", err);
	(void)snprintf(v->path, sizeof(v->path), "%s", a->audit_path);
	memcpy(v->pk, a->pk, sizeof(v->pk));
	r = jobs_submit(a->jobs, API_JOB_VERIFY, verify_run, v, free, &id);
	if (r < 0) {
		free(v);
		return api_job_submit_error(r, "the verification", err);
	}
	log_msg(LOG_INFO, "api (%s): job %u verifies the audit log", call->peer, id);
	return api_job_reply(a, id, 202, rep, err);
}

static int get_openapi(struct api *a, const struct api_call *call, struct api_reply *rep,
		       struct api_error *err)
{
	(void)a;
	(void)call;
	(void)err;
	rep->status = 200;
	rep->raw = api_openapi_json;
	rep->raw_len = api_openapi_json_len;
	rep->content_type = "application/json";
	return 0;
}

static const struct api_field vnodes_query[] = {
	[Q_STATE] = {"state", API_T_ENUM, 0, 0, 0, vnode_filter_states},
	[Q_OWNER] = {"owner", API_T_U32, 0, 0, UINT32_MAX, NULL},
	[Q_LIMIT] = {"limit", API_T_U32, 0, 1, API_LIST_MAX, NULL},
	[Q_CURSOR] = {"cursor", API_T_CURSOR, 0, 0, 0, NULL},
	[Q_FROM] = {"from", API_T_U32, 0, 0, UINT32_MAX, NULL},
	[Q_TO] = {"to", API_T_U32, 0, 1, UINT32_MAX, NULL},
};
static const struct api_field decisions_query[] = {
	[Q_DLIMIT] = {"limit", API_T_U32, 0, 1, API_DECISIONS_MAX, NULL},
	[Q_DVNODE] = {"vnode", API_T_U32, 0, 0, UINT32_MAX, NULL},
};
static const struct api_field audit_query[] = {
	{"tail", API_T_U32, 0, 1, API_TAIL_MAX, NULL},
};
static const struct api_field migrate_body[] = {
	{"to", API_T_U32, API_REQUIRED, 0, UINT32_MAX, NULL},
};
static const struct api_field message_body[] = {
	[B_TEXT] = {"text", API_T_STRING, API_ONE_OF, 0, 0, NULL},
	[B_BASE64] = {"base64", API_T_STRING, API_ONE_OF, 0, 0, NULL},
};

#define FIELDS(a) PF_ARRAY_SIZE(a), a
#define NO_FIELDS 0, NULL

const struct api_route api_routes[] = {
	{"GET", API_PREFIX, 0, NO_FIELDS, NO_FIELDS, get_summary},
	{"GET", API_PREFIX "/members", 0, NO_FIELDS, NO_FIELDS, get_members},
	{"GET", API_PREFIX "/members/{slot}", 0, NO_FIELDS, NO_FIELDS, get_member},
	{"POST", API_PREFIX "/members/{slot}/drain", API_MUTATING | API_BODY | API_BODY_OPTIONAL,
	 NO_FIELDS, NO_FIELDS, post_drain},
	{"POST", API_PREFIX "/members/{slot}/retire", API_MUTATING | API_BODY | API_BODY_OPTIONAL,
	 NO_FIELDS, NO_FIELDS, post_retire},
	{"GET", API_PREFIX "/capabilities", 0, NO_FIELDS, NO_FIELDS, get_capabilities},
	{"GET", API_PREFIX "/cluster", 0, NO_FIELDS, NO_FIELDS, get_cluster},
	{"GET", API_PREFIX "/vnodes", 0, FIELDS(vnodes_query), NO_FIELDS, get_vnodes},
	{"GET", API_PREFIX "/vnodes/map", 0, FIELDS(api_map_query), NO_FIELDS, api_get_vnode_map},
	{"GET", API_PREFIX "/vnodes/{id}", 0, NO_FIELDS, NO_FIELDS, get_vnode},
	{"POST", API_PREFIX "/vnodes/{id}/migrate", API_MUTATING | API_BODY, NO_FIELDS,
	 FIELDS(migrate_body), post_migrate},
	{"POST", API_PREFIX "/vnodes/{id}/messages", API_MUTATING | API_BODY, NO_FIELDS,
	 FIELDS(message_body), post_message},
	{"GET", API_PREFIX "/decisions", 0, FIELDS(decisions_query), NO_FIELDS, get_decisions},
	{"GET", API_PREFIX "/audit", 0, FIELDS(audit_query), NO_FIELDS, get_audit},
	{"POST", API_PREFIX "/audit/verify", API_BODY | API_BODY_OPTIONAL, NO_FIELDS, NO_FIELDS,
	 post_audit_verify},
	{"GET", API_PREFIX "/jobs/{id}", 0, NO_FIELDS, NO_FIELDS, api_get_job},
	{"DELETE", API_PREFIX "/jobs/{id}", API_MUTATING, NO_FIELDS, NO_FIELDS, api_delete_job},
	{"GET", API_PREFIX "/events", API_STREAM, NO_FIELDS, NO_FIELDS, NULL},
	{"GET", API_PREFIX "/openapi.json", 0, NO_FIELDS, NO_FIELDS, get_openapi},
	{"GET", API_PREFIX "/metrics", 0, FIELDS(api_metrics_query), NO_FIELDS, api_get_metrics},
	{"POST", API_PREFIX "/sim", API_MUTATING | API_BODY | API_BODY_OPTIONAL, NO_FIELDS,
	 FIELDS(api_sim_body), api_post_sim},
	{"GET", "/metrics", 0, NO_FIELDS, NO_FIELDS, api_get_prometheus},
	{"GET", "/", 0, NO_FIELDS, NO_FIELDS, api_get_dashboard},
	{"GET", "/app.js", 0, NO_FIELDS, NO_FIELDS, api_get_dashboard},
	{"GET", "/style.css", 0, NO_FIELDS, NO_FIELDS, api_get_dashboard},
};
_Static_assert(API_SIM_FIELDS <= API_FIELDS_MAX, "the simulator's fields must fit a call");
const uint32_t api_routes_count = PF_ARRAY_SIZE(api_routes);

int api_init(struct api *a, struct pf_domain *domain, const struct pf_manifest *m,
	     struct cmdq *to_auditor)
{
	struct pf_domain_info di = {.size = sizeof(di)};
	int r = pf_domain_info(domain, &di);

	PF_ASSERT(a != NULL && m != NULL);
	if (r < 0)
		return r;
	a->domain = domain;
	a->to_auditor = to_auditor;
	a->members_max = di.members_max;
	a->vnodes_max = di.vnodes_max;
	a->msg_bytes_max = di.msg_bytes_max;
	a->pid = (int32_t)getpid();
	a->sim_time_max_ns = m->api.sim_time_max_ns;
	a->sim_segment_max = m->api.sim_segment_max;
	a->sim_events_max = m->api.sim_events_max;
	api_sim_owner(a->domain_name != NULL ? a->domain_name : "pflightd", a->sim_owner);
	r = jobs_create(&a->jobs);
	if (r < 0)
		return r;
	r = migrator_init(&a->mig, domain, m, to_auditor);
	if (r == 0) {
		r = api_metrics_init(a, m);
		if (r < 0)
			migrator_fini(&a->mig);
	}
	if (r < 0) {
		jobs_destroy(a->jobs, "the API is not started");
		a->jobs = NULL;
	}
	return r;
}

void api_fini(struct api *a)
{
	jobs_destroy(a->jobs, "pflightd is stopping"); /* first: a job may still be running */
	a->jobs = NULL;
	api_metrics_fini(a);
	migrator_fini(&a->mig);
}
