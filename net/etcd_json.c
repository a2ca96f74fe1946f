/* SPDX-License-Identifier: MIT */
/*
 * net/etcd_json.c: the forms of net/etcd.c's requests and answers: growing buffers,
 * base64 keys and values (libsodium), 64-bit numbers as etcd writes them, the JSON of
 * operations and transactions, and the libcurl settings and errors every request shares.
 */
#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net/etcd_impl.h"
#include "shm/pf_assert.h"

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static int global_r;

static void global_init(void)
{
	global_r = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK && sodium_init() >= 0
			   ? 0
			   : -ENOMEM;
}

int etcd_global_init(void)
{
	(void)pthread_once(&global_once, global_init);
	return global_r;
}

uint64_t etcd_now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int etcd_buf_add(struct etcd_buf *b, const void *p, size_t n)
{
	PF_ASSERT(b != NULL && (p != NULL || n == 0));
	if (b->len + n > ETCD_ANSWER_MAX)
		return -E2BIG;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap != 0 ? b->cap : 4096;
		char *q;

		while (cap < b->len + n + 1)
			cap *= 2;
		q = realloc(b->p, cap);
		if (q == NULL)
			return -ENOMEM;
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

void etcd_easy_setup(CURL *h, const char *url, uint64_t timeout_ms, uint32_t connect_ms)
{
	/* curl only reads the list: one, static, for every handle */
	static struct curl_slist headers = {(char *)(uintptr_t) "Content-Type: application/json",
					    NULL};

	PF_ASSERT(h != NULL && url != NULL);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, &headers);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(timeout_ms > 0 ? timeout_ms : 1));
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
			 (long)(connect_ms < timeout_ms ? connect_ms : timeout_ms));
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
}

int etcd_curl_errno(CURLcode e)
{
	switch (e) {
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_WRITE_ERROR: /* our callback refused: an answer over ETCD_ANSWER_MAX */
		return -EPROTO;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_GOT_NOTHING:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_PARTIAL_FILE:
		return -ECONNRESET;
	default:
		return -EPROTO;
	}
}

struct etcd_int64_text etcd_int64_text(int64_t v)
{
	struct etcd_int64_text t;

	(void)snprintf(t.s, sizeof(t.s), "%lld", (long long)v);
	return t;
}

int etcd_int64(const json_t *j, int64_t *ret)
{
	PF_ASSERT(ret != NULL);
	if (json_is_integer(j)) {
		*ret = (int64_t)json_integer_value(j);
		return 0;
	}
	if (json_is_string(j)) {
		const char *s = json_string_value(j);
		char *end = NULL;
		long long v;

		errno = 0;
		v = strtoll(s, &end, 10);
		if (errno == 0 && end != s && *end == '\0' &&
		    (s[0] == '-' || (s[0] >= '0' && s[0] <= '9'))) {
			*ret = (int64_t)v;
			return 0;
		}
	}
	return -EPROTO;
}

int etcd_int64_or0(const json_t *j, int64_t *ret)
{
	PF_ASSERT(ret != NULL);
	if (j == NULL) {
		*ret = 0;
		return 0;
	}
	return etcd_int64(j, ret);
}

json_t *etcd_b64(const void *p, size_t n)
{
	size_t cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
	char *text = malloc(cap);
	json_t *j = NULL;

	if (text == NULL)
		return NULL;
	if (n == 0)
		text[0] = '\0';
	else
		(void)sodium_bin2base64(text, cap, p, n, sodium_base64_VARIANT_ORIGINAL);
	j = json_string(text);
	free(text);
	return j;
}

/* Set key of o to the base64 of (p, n); 0 or -ENOMEM. */
static int set_b64(json_t *o, const char *key, const void *p, size_t n)
{
	json_t *v = etcd_b64(p, n);

	return v != NULL && json_object_set_new(o, key, v) == 0 ? 0 : -ENOMEM;
}

json_t *etcd_op_body(const struct etcd_op *op)
{
	json_t *o;
	int r;

	PF_ASSERT(op != NULL && op->key != NULL);
	o = json_object();
	r = o == NULL ? -ENOMEM : set_b64(o, "key", op->key, op->key_len);
	if (r == 0 && op->type == ETCD_OP_PUT) {
		r = set_b64(o, "value", op->value, op->value_len);
		if (r == 0 && op->lease != 0)
			r = json_object_set_new(o, "lease",
						json_string(etcd_int64_text(op->lease).s)) == 0
				    ? 0
				    : -ENOMEM;
	} else if (r == 0 && op->range_end != NULL) {
		r = set_b64(o, "range_end", op->range_end, op->range_end_len);
	}
	if (r < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static const char *const target_names[] = {"MOD", "CREATE", "VERSION", "VALUE"};
static const char *const target_fields[] = {"mod_revision", "create_revision", "version", "value"};
static const char *const result_names[] = {"EQUAL", "GREATER", "LESS", "NOT_EQUAL"};

static json_t *cmp_body(const struct etcd_cmp *c)
{
	json_t *o;

	if (c->key == NULL || c->key_len == 0 || (unsigned)c->target > ETCD_VALUE ||
	    (unsigned)c->result > ETCD_NOT_EQUAL ||
	    (c->target == ETCD_VALUE && c->value == NULL && c->value_len > 0))
		return NULL;
	o = json_pack("{s:s,s:s}", "target", target_names[c->target], "result",
		      result_names[c->result]);
	if (o != NULL && set_b64(o, "key", c->key, c->key_len) < 0)
		json_decref(o), o = NULL;
	if (o != NULL && c->target == ETCD_VALUE && set_b64(o, "value", c->value, c->value_len) < 0)
		json_decref(o), o = NULL;
	if (o != NULL && c->target != ETCD_VALUE &&
	    json_object_set_new(o, target_fields[c->target],
				json_string(etcd_int64_text(c->number).s)) != 0)
		json_decref(o), o = NULL;
	return o;
}

/* A list of ops as RequestOps; *bytes grows by their keys' and values' length. */
static json_t *ops_body(const struct etcd_op *ops, unsigned n, size_t *bytes)
{
	static const char *const names[] = {"request_put", "request_delete_range", "request_range"};
	json_t *list = json_array();

	for (unsigned i = 0; list != NULL && i < n; i++) {
		json_t *one;

		if ((unsigned)ops[i].type > ETCD_OP_GET || ops[i].key == NULL ||
		    ops[i].key_len == 0 || (ops[i].value == NULL && ops[i].value_len > 0)) {
			json_decref(list);
			return NULL;
		}
		*bytes += ops[i].key_len + ops[i].value_len + ops[i].range_end_len;
		one = etcd_op_body(&ops[i]);
		if (one == NULL ||
		    json_array_append_new(list, json_pack("{s:o}", names[ops[i].type], one)) != 0) {
			json_decref(list);
			return NULL;
		}
	}
	return list;
}

int etcd_txn_body(const struct etcd_cmp *cmps, unsigned n_cmps, const struct etcd_op *success,
		  unsigned n_success, const struct etcd_op *failure, unsigned n_failure,
		  json_t **ret_body, size_t *ret_bytes)
{
	json_t *cl = json_array(), *sl, *fl;
	size_t bytes = 0;

	PF_ASSERT(ret_body != NULL && ret_bytes != NULL);
	for (unsigned i = 0; cl != NULL && i < n_cmps; i++) {
		json_t *one = cmp_body(&cmps[i]);

		bytes += cmps[i].key_len + cmps[i].value_len;
		if (one == NULL || json_array_append_new(cl, one) != 0)
			json_decref(cl), cl = NULL;
	}
	sl = ops_body(success, n_success, &bytes);
	fl = ops_body(failure, n_failure, &bytes);
	*ret_body =
		cl != NULL && sl != NULL && fl != NULL
			? json_pack("{s:o,s:o,s:o}", "compare", cl, "success", sl, "failure", fl)
			: NULL;
	if (*ret_body == NULL) {
		json_decref(cl);
		json_decref(sl);
		json_decref(fl);
		return -EINVAL;
	}
	*ret_bytes = bytes;
	return 0;
}

/* The decoded length bound of a base64 field (missing: 0), or -1 when it is no string. */
static long long b64_room(const json_t *j)
{
	if (j == NULL)
		return 0;
	if (!json_is_string(j))
		return -1;
	return (long long)(json_string_length(j) / 4 * 3 + 3);
}

/* Decode the base64 field j into at (room bytes): its length, or -1. */
static long long b64_decode(const json_t *j, uint8_t *at, size_t room)
{
	const char *end = NULL;
	size_t len = 0;

	if (j == NULL)
		return 0;
	if (sodium_base642bin(at, room, json_string_value(j), json_string_length(j), NULL, &len,
			      &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    end != json_string_value(j) + json_string_length(j))
		return -1;
	return (long long)len;
}

static int room_for(struct etcd_decoded *d, size_t n, size_t bytes)
{
	if (n > d->kvs_cap) {
		struct etcd_kv *k = realloc(d->kvs, n * sizeof(*k));

		if (k == NULL)
			return -ENOMEM;
		d->kvs = k;
		d->kvs_cap = n;
	}
	if (bytes > d->bytes_cap) {
		uint8_t *b = realloc(d->bytes, bytes);

		if (b == NULL)
			return -ENOMEM;
		d->bytes = b;
		d->bytes_cap = bytes;
	}
	return 0;
}

/* One KeyValue into kv, its bytes from *at on. 0 or -EPROTO. */
static int kv_decode(const json_t *o, struct etcd_kv *kv, uint8_t **at, size_t *left)
{
	long long kl, vl;

	if (!json_is_object(o))
		return -EPROTO;
	kl = b64_decode(json_object_get(o, "key"), *at, *left);
	if (kl <= 0)
		return -EPROTO;
	kv->key = *at;
	kv->key_len = (size_t)kl;
	*at += kl;
	*left -= (size_t)kl;
	vl = b64_decode(json_object_get(o, "value"), *at, *left);
	if (vl < 0)
		return -EPROTO;
	kv->value = *at;
	kv->value_len = (size_t)vl;
	*at += vl;
	*left -= (size_t)vl;
	if (etcd_int64_or0(json_object_get(o, "create_revision"), &kv->create_revision) < 0 ||
	    etcd_int64_or0(json_object_get(o, "mod_revision"), &kv->mod_revision) < 0 ||
	    etcd_int64_or0(json_object_get(o, "version"), &kv->version) < 0 ||
	    etcd_int64_or0(json_object_get(o, "lease"), &kv->lease) < 0)
		return -EPROTO;
	return 0;
}

int etcd_kvs_decode(struct etcd_decoded *d, const json_t *kvs, size_t n)
{
	size_t bytes = 1, left;
	uint8_t *at;
	int r;

	PF_ASSERT(d != NULL && (kvs != NULL || n == 0));
	for (size_t i = 0; i < n; i++) {
		const json_t *o = json_array_get(kvs, i);
		long long k = b64_room(json_object_get(o, "key"));
		long long v = b64_room(json_object_get(o, "value"));

		if (k < 0 || v < 0)
			return -EPROTO;
		bytes += (size_t)(k + v);
	}
	r = room_for(d, n, bytes);
	if (r < 0)
		return r;
	at = d->bytes;
	left = bytes;
	for (size_t i = 0; i < n; i++)
		if (kv_decode(json_array_get(kvs, i), &d->kvs[i], &at, &left) < 0)
			return -EPROTO;
	return 0;
}

void etcd_decoded_free(struct etcd_decoded *d)
{
	free(d->kvs);
	free(d->bytes);
	d->kvs = NULL;
	d->bytes = NULL;
	d->kvs_cap = d->bytes_cap = 0;
}
