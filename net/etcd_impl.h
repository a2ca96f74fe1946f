/* SPDX-License-Identifier: MIT */
/*
 * net/etcd_impl.h: what net/etcd.c, net/etcd_json.c and net/etcd_watch.c share: the
 * client's layout, the growing buffers, and the JSON forms of keys, numbers, operations
 * and transactions.
 */
#ifndef PF_NET_ETCD_IMPL_H
#define PF_NET_ETCD_IMPL_H

#include <curl/curl.h>
#include <jansson.h>
#include <stdarg.h>

#include "net/etcd.h"

#define ETCD_URL_MAX 256u
#define ETCD_REQUEST_SLACK (64u << 10) /* JSON and base64 over the raw bytes etcd counts */
#define ETCD_ANSWER_MAX (64u << 20)    /* an answer larger than this is refused */

struct etcd_buf {
	char *p;
	size_t len, cap;
};

/* Keys and values decoded from an answer: kvs[] and the bytes they point to. */
struct etcd_decoded {
	struct etcd_kv *kvs;
	size_t kvs_cap;
	uint8_t *bytes;
	size_t bytes_cap;
};

struct etcd {
	CURL *h;
	char endpoints[ETCD_ENDPOINTS_MAX][ETCD_URL_MAX];
	unsigned n, cur;
	uint32_t timeout_ms, connect_ms;
	struct etcd_buf resp;
	struct etcd_decoded dec; /* the last answer's keys */
	char error[256];
};

/* A 64-bit number as the decimal text etcd takes. */
struct etcd_int64_text {
	char s[24];
};

int etcd_global_init(void);
uint64_t etcd_now_ms(void); /* CLOCK_MONOTONIC */
int etcd_opts_check(const struct etcd_opts *o);
int etcd_fail(char *error, size_t cap, int r, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
int etcd_buf_add(struct etcd_buf *b, const void *p, size_t n);
void etcd_easy_setup(CURL *h, const char *url, uint64_t timeout_ms, uint32_t connect_ms);
int etcd_curl_errno(CURLcode e);

struct etcd_int64_text etcd_int64_text(int64_t v);
/* A 64-bit field: a decimal string (as etcd writes them) or a JSON integer. 0 or -EPROTO;
 * the _or0 form takes a missing field as 0. */
int etcd_int64(const json_t *j, int64_t *ret);
int etcd_int64_or0(const json_t *j, int64_t *ret);
/* Bytes as a base64 JSON string (NULL: no memory). */
json_t *etcd_b64(const void *p, size_t n);
/* The JSON body of a put, a range or a delete (as a request of its own, or inside a txn). */
json_t *etcd_op_body(const struct etcd_op *op);
int etcd_txn_body(const struct etcd_cmp *cmps, unsigned n_cmps, const struct etcd_op *success,
		  unsigned n_success, const struct etcd_op *failure, unsigned n_failure,
		  json_t **ret_body, size_t *ret_bytes);
/* Decode n KeyValue objects of kvs (a JSON list) into d. 0, -EPROTO, -ENOMEM. */
int etcd_kvs_decode(struct etcd_decoded *d, const json_t *kvs, size_t n);
void etcd_decoded_free(struct etcd_decoded *d);

#endif /* PF_NET_ETCD_IMPL_H */
