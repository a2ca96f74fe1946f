/* SPDX-License-Identifier: MIT */
/*
 * net/etcd.c: the etcd v3 client of net/etcd.h: requests and answers, keys and values,
 * transactions, leases. Watches are net/etcd_watch.c.
 *
 * A request is one HTTP POST of a JSON body to <endpoint>/v3/<service>/<method>. etcd
 * answers 200 with the response message as JSON, or an error status with
 * {"error", "message", "code"} where code is the gRPC status. 64-bit fields come as
 * strings; fields at their zero value are left out of the answer (so "count" missing is 0,
 * "succeeded" missing is false).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/etcd_impl.h"
#include "shm/pf_assert.h"

int etcd_opts_check(const struct etcd_opts *o)
{
	if (o == NULL || o->endpoints == NULL || o->endpoints_count == 0 ||
	    o->endpoints_count > ETCD_ENDPOINTS_MAX)
		return -EINVAL;
	for (unsigned i = 0; i < o->endpoints_count; i++)
		if (o->endpoints[i] == NULL ||
		    (strncmp(o->endpoints[i], "http://", 7) != 0 &&
		     strncmp(o->endpoints[i], "https://", 8) != 0) ||
		    strlen(o->endpoints[i]) >= ETCD_URL_MAX - 32)
			return -EINVAL;
	return 0;
}

int etcd_create(const struct etcd_opts *o, struct etcd **ret)
{
	struct etcd *c;
	int r = etcd_opts_check(o);

	if (r < 0 || ret == NULL)
		return -EINVAL;
	r = etcd_global_init();
	if (r < 0)
		return r;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	c->h = curl_easy_init();
	if (c->h == NULL) {
		free(c);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < o->endpoints_count; i++)
		(void)snprintf(c->endpoints[i], sizeof(c->endpoints[i]), "%s", o->endpoints[i]);
	c->n = o->endpoints_count;
	c->timeout_ms = o->timeout_ms != 0 ? o->timeout_ms : ETCD_TIMEOUT_MS_DEFAULT;
	c->connect_ms = o->connect_timeout_ms != 0 ? o->connect_timeout_ms
						   : ETCD_CONNECT_TIMEOUT_MS_DEFAULT;
	*ret = c;
	return 0;
}

void etcd_destroy(struct etcd *c)
{
	if (c == NULL)
		return;
	curl_easy_cleanup(c->h);
	free(c->resp.p);
	etcd_decoded_free(&c->dec);
	free(c);
}

const char *etcd_error(const struct etcd *c)
{
	return c != NULL ? c->error : "no client";
}

const char *etcd_endpoint(const struct etcd *c)
{
	return c != NULL ? c->endpoints[c->cur] : "";
}

int etcd_fail(char *error, size_t cap, int r, const char *fmt, ...)
{
	va_list ap;

	PF_ASSERT(r < 0 && error != NULL);
	va_start(ap, fmt);
	(void)vsnprintf(error, cap, fmt, ap);
	va_end(ap);
	return r;
}

/* etcd's refusal: its gRPC status code as an errno, its message kept. */
static int refused(struct etcd *c, long status)
{
	json_t *root = json_loadb(c->resp.p, c->resp.len, 0, NULL);
	json_t *code = json_object_get(root, "code");
	const char *msg = json_string_value(json_object_get(root, "message"));
	int r;

	switch (json_is_integer(code) ? (int)json_integer_value(code) : -1) {
	case 3: /* INVALID_ARGUMENT */
		r = -EINVAL;
		break;
	case 4: /* DEADLINE_EXCEEDED */
		r = -ETIMEDOUT;
		break;
	case 5: /* NOT_FOUND */
		r = -ENOENT;
		break;
	case 8: /* RESOURCE_EXHAUSTED */
		r = -ENOSPC;
		break;
	case 11: /* OUT_OF_RANGE */
		r = -ERANGE;
		break;
	case 14: /* UNAVAILABLE */
		r = -EAGAIN;
		break;
	default:
		r = -EIO;
	}
	r = etcd_fail(c->error, sizeof(c->error), r, "etcd %s refused (HTTP %ld): %s",
		      c->endpoints[c->cur], status, msg != NULL ? msg : "no message");
	json_decref(root);
	return r;
}

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct etcd_buf *b = arg;

	return etcd_buf_add(b, p, size * n) == 0 ? size * n : 0;
}

/* One try at the current endpoint: 0 and the answer in c->resp, or a negative errno;
 * *ret_next says whether another endpoint may do better. */
static int attempt(struct etcd *c, const char *path, const char *body, size_t len, uint64_t left_ms,
		   int *ret_next)
{
	char url[ETCD_URL_MAX];
	long status = 0;
	CURLcode e;

	(void)snprintf(url, sizeof(url), "%s%s", c->endpoints[c->cur], path);
	c->resp.len = 0;
	etcd_easy_setup(c->h, url, left_ms, c->connect_ms);
	curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c->h, CURLOPT_WRITEDATA, &c->resp);
	e = curl_easy_perform(c->h);
	*ret_next = 0;
	if (e != CURLE_OK) {
		int r = etcd_curl_errno(e);

		*ret_next = r != -ENOMEM;
		return etcd_fail(c->error, sizeof(c->error), r, "etcd %s: %s", url,
				 curl_easy_strerror(e));
	}
	(void)curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		int r = refused(c, status);

		*ret_next = r == -EAGAIN; /* this member has no leader: another may */
		return r;
	}
	return 0;
}

/* POST body to path, trying the endpoints in turn within the deadline: 0 and the answer
 * parsed in *ret_root (the caller's to decref), or a negative errno. */
static int request(struct etcd *c, const char *path, json_t *body, json_t **ret_root)
{
	uint64_t deadline = etcd_now_ms() + c->timeout_ms;
	char *text = json_dumps(body, JSON_COMPACT);
	size_t len = text != NULL ? strlen(text) : 0;
	int r = text == NULL ? -ENOMEM : -ECONNREFUSED;

	PF_ASSERT(path[0] == '/' && ret_root != NULL);
	*ret_root = NULL;
	if (r == -ECONNREFUSED && len > ETCD_REQUEST_MAX + ETCD_REQUEST_SLACK)
		r = etcd_fail(c->error, sizeof(c->error), -E2BIG,
			      "a request of %zu bytes, over etcd's limit", len);
	for (unsigned tries = 0; (r == -ECONNREFUSED || r == -EAGAIN) && tries < c->n; tries++) {
		uint64_t now = etcd_now_ms();
		int next = 0;

		if (now >= deadline) {
			r = etcd_fail(c->error, sizeof(c->error), -ETIMEDOUT,
				      "etcd: no answer within %u ms", c->timeout_ms);
			break;
		}
		r = attempt(c, path, text, len, deadline - now, &next);
		if (r < 0 && next)
			c->cur = (c->cur + 1) % c->n; /* the next call starts there */
		if (r == -ETIMEDOUT)
			break; /* the deadline is spent */
	}
	free(text);
	if (r < 0)
		return r;
	*ret_root = json_loadb(c->resp.p, c->resp.len, 0, NULL);
	if (!json_is_object(*ret_root)) {
		json_decref(*ret_root);
		*ret_root = NULL;
		return etcd_fail(c->error, sizeof(c->error), -EPROTO,
				 "etcd %s%s: an answer that is not a JSON object",
				 c->endpoints[c->cur], path);
	}
	c->error[0] = '\0';
	return 0;
}

/* The header's revision of an answer. */
static int header_revision(struct etcd *c, const json_t *root, int64_t *ret)
{
	json_t *h = json_object_get(root, "header");

	if (ret == NULL)
		return 0;
	if (!json_is_object(h) || etcd_int64(json_object_get(h, "revision"), ret) < 0)
		return etcd_fail(c->error, sizeof(c->error), -EPROTO,
				 "etcd: an answer without its header's revision");
	return 0;
}

/* Check that the raw bytes a request carries stay within etcd's limit. */
static int within_limit(struct etcd *c, size_t bytes)
{
	if (bytes > ETCD_REQUEST_MAX)
		return etcd_fail(c->error, sizeof(c->error), -E2BIG,
				 "%zu bytes of keys and values, over etcd's %u", bytes,
				 ETCD_REQUEST_MAX);
	return 0;
}

int etcd_put(struct etcd *c, const void *key, size_t key_len, const void *value, size_t value_len,
	     int64_t lease, int64_t *ret_revision)
{
	struct etcd_op op = {.type = ETCD_OP_PUT,
			     .key = key,
			     .key_len = key_len,
			     .value = value,
			     .value_len = value_len,
			     .lease = lease};
	json_t *body, *root = NULL;
	int r;

	if (c == NULL || key == NULL || key_len == 0 || (value == NULL && value_len > 0))
		return -EINVAL;
	r = within_limit(c, key_len + value_len);
	if (r < 0)
		return r;
	body = etcd_op_body(&op);
	r = body == NULL ? -ENOMEM : request(c, "/v3/kv/put", body, &root);
	json_decref(body);
	if (r == 0)
		r = header_revision(c, root, ret_revision);
	json_decref(root);
	return r;
}

/* The keys of a range answer (or a transaction's response_range) into c's arena. */
static int kvs_take(struct etcd *c, const json_t *resp, struct etcd_range *ret)
{
	json_t *kvs = json_object_get(resp, "kvs");
	size_t n = json_is_array(kvs) ? json_array_size(kvs) : 0;
	int r;

	if (kvs != NULL && !json_is_array(kvs))
		return etcd_fail(c->error, sizeof(c->error), -EPROTO, "etcd: kvs not a list");
	r = etcd_kvs_decode(&c->dec, kvs, n);
	if (r < 0)
		return etcd_fail(c->error, sizeof(c->error), r, "etcd: a key not as the API says");
	ret->kvs = c->dec.kvs;
	ret->count = (uint32_t)n;
	ret->more = json_is_true(json_object_get(resp, "more"));
	return 0;
}

int etcd_get(struct etcd *c, const void *key, size_t key_len, const void *range_end,
	     size_t range_end_len, uint32_t limit, struct etcd_range *ret)
{
	struct etcd_op op = {.type = ETCD_OP_GET,
			     .key = key,
			     .key_len = key_len,
			     .range_end = range_end,
			     .range_end_len = range_end_len};
	json_t *body, *root = NULL;
	int r;

	if (c == NULL || key == NULL || key_len == 0 || ret == NULL ||
	    (range_end == NULL) != (range_end_len == 0))
		return -EINVAL;
	memset(ret, 0, sizeof(*ret));
	body = etcd_op_body(&op);
	if (body != NULL && limit > 0 && json_object_set_new(body, "limit", json_integer(limit)))
		json_decref(body), body = NULL;
	r = body == NULL ? -ENOMEM : request(c, "/v3/kv/range", body, &root);
	json_decref(body);
	if (r == 0)
		r = header_revision(c, root, &ret->revision);
	if (r == 0)
		r = kvs_take(c, root, ret);
	json_decref(root);
	return r;
}

int etcd_delete(struct etcd *c, const void *key, size_t key_len, const void *range_end,
		size_t range_end_len, int64_t *ret_deleted)
{
	struct etcd_op op = {.type = ETCD_OP_DELETE,
			     .key = key,
			     .key_len = key_len,
			     .range_end = range_end,
			     .range_end_len = range_end_len};
	json_t *body, *root = NULL;
	int64_t deleted = 0;
	int r;

	if (c == NULL || key == NULL || key_len == 0 || (range_end == NULL) != (range_end_len == 0))
		return -EINVAL;
	body = etcd_op_body(&op);
	r = body == NULL ? -ENOMEM : request(c, "/v3/kv/deleterange", body, &root);
	json_decref(body);
	if (r == 0 && etcd_int64_or0(json_object_get(root, "deleted"), &deleted) < 0)
		r = etcd_fail(c->error, sizeof(c->error), -EPROTO, "etcd: deleted not a number");
	if (r == 0 && ret_deleted != NULL)
		*ret_deleted = deleted;
	json_decref(root);
	return r;
}

size_t etcd_prefix_end(const void *prefix, size_t prefix_len, uint8_t *end)
{
	const uint8_t *p = prefix;

	PF_ASSERT(prefix != NULL && end != NULL);
	for (size_t i = prefix_len; i-- > 0;) {
		if (p[i] != 0xff) {
			memcpy(end, p, i);
			end[i] = (uint8_t)(p[i] + 1);
			return i + 1;
		}
	}
	return 0;
}

/* The first response_range among a transaction's responses, into ret. */
static int txn_range(struct etcd *c, const json_t *root, struct etcd_range *ret)
{
	json_t *resps = json_object_get(root, "responses");
	size_t i;
	json_t *one;

	memset(ret, 0, sizeof(*ret));
	if (resps != NULL && !json_is_array(resps))
		return etcd_fail(c->error, sizeof(c->error), -EPROTO, "etcd: responses not a list");
	json_array_foreach(resps, i, one)
	{
		json_t *rr = json_object_get(one, "response_range");

		if (rr != NULL)
			return kvs_take(c, rr, ret);
	}
	return 0;
}

int etcd_txn(struct etcd *c, const struct etcd_cmp *cmps, unsigned n_cmps,
	     const struct etcd_op *success, unsigned n_success, const struct etcd_op *failure,
	     unsigned n_failure, bool *ret_succeeded, struct etcd_range *ret_range,
	     int64_t *ret_revision)
{
	json_t *body = NULL, *root = NULL;
	size_t bytes = 0;
	int r;

	if (c == NULL || ret_succeeded == NULL || (cmps == NULL && n_cmps > 0) ||
	    (success == NULL && n_success > 0) || (failure == NULL && n_failure > 0))
		return -EINVAL;
	if (n_cmps > ETCD_TXN_OPS_MAX || n_success > ETCD_TXN_OPS_MAX ||
	    n_failure > ETCD_TXN_OPS_MAX)
		return etcd_fail(c->error, sizeof(c->error), -E2BIG,
				 "a transaction of more than %u operations", ETCD_TXN_OPS_MAX);
	r = etcd_txn_body(cmps, n_cmps, success, n_success, failure, n_failure, &body, &bytes);
	if (r == 0)
		r = within_limit(c, bytes);
	if (r == 0)
		r = request(c, "/v3/kv/txn", body, &root);
	json_decref(body);
	if (r == 0)
		r = header_revision(c, root, ret_revision);
	if (r == 0 && ret_range != NULL)
		r = txn_range(c, root, ret_range);
	if (r == 0)
		*ret_succeeded = json_is_true(json_object_get(root, "succeeded"));
	json_decref(root);
	return r;
}

int etcd_lease_grant(struct etcd *c, int64_t ttl_s, int64_t *ret_id, int64_t *ret_ttl_s)
{
	json_t *body, *root = NULL;
	int64_t id = 0, ttl = 0;
	int r;

	if (c == NULL || ttl_s <= 0 || ret_id == NULL)
		return -EINVAL;
	body = json_pack("{s:I}", "TTL", (json_int_t)ttl_s);
	r = body == NULL ? -ENOMEM : request(c, "/v3/lease/grant", body, &root);
	json_decref(body);
	if (r == 0 && (etcd_int64(json_object_get(root, "ID"), &id) < 0 ||
		       etcd_int64(json_object_get(root, "TTL"), &ttl) < 0 || id == 0))
		r = etcd_fail(c->error, sizeof(c->error), -EPROTO,
			      "etcd: a lease granted without its ID or TTL");
	if (r == 0) {
		*ret_id = id;
		if (ret_ttl_s != NULL)
			*ret_ttl_s = ttl;
	}
	json_decref(root);
	return r;
}

int etcd_lease_keepalive(struct etcd *c, int64_t id, int64_t *ret_ttl_s)
{
	json_t *body, *root = NULL, *res;
	int64_t ttl = 0;
	int r;

	if (c == NULL || id == 0)
		return -EINVAL;
	body = json_pack("{s:s}", "ID", etcd_int64_text(id).s);
	r = body == NULL ? -ENOMEM : request(c, "/v3/lease/keepalive", body, &root);
	json_decref(body);
	res = json_object_get(root, "result");
	if (r == 0 &&
	    (!json_is_object(res) || etcd_int64_or0(json_object_get(res, "TTL"), &ttl) < 0))
		r = etcd_fail(c->error, sizeof(c->error), -EPROTO,
			      "etcd: a keepalive answered without a result");
	if (r == 0 && ttl <= 0) /* etcd answers TTL 0 (left out) for a lease it no longer has */
		r = etcd_fail(c->error, sizeof(c->error), -ENOENT, "etcd: lease %lld has expired",
			      (long long)id);
	if (r == 0 && ret_ttl_s != NULL)
		*ret_ttl_s = ttl;
	json_decref(root);
	return r;
}

int etcd_lease_revoke(struct etcd *c, int64_t id)
{
	json_t *body, *root = NULL;
	int r;

	if (c == NULL || id == 0)
		return -EINVAL;
	body = json_pack("{s:s}", "ID", etcd_int64_text(id).s);
	r = body == NULL ? -ENOMEM : request(c, "/v3/lease/revoke", body, &root);
	json_decref(body);
	json_decref(root);
	return r;
}

int etcd_compact(struct etcd *c, int64_t revision)
{
	json_t *body, *root = NULL;
	int r;

	if (c == NULL || revision <= 0)
		return -EINVAL;
	body = json_pack("{s:s,s:b}", "revision", etcd_int64_text(revision).s, "physical", 1);
	r = body == NULL ? -ENOMEM : request(c, "/v3/kv/compaction", body, &root);
	json_decref(body);
	json_decref(root);
	return r;
}
