/* SPDX-License-Identifier: MIT */
/*
 * net/etcd_watch.c: watches of net/etcd.h. A watch is one POST to /v3/watch whose answer
 * never ends: etcd streams one JSON object per line, {"result": WatchResponse}: first
 * {"created": true}, then one per revision with its events, and {"canceled": true, ...}
 * if etcd ends it (a compacted start revision: compact_revision). libcurl's multi
 * interface drives the one transfer; what arrives is cut into lines and parsed as it
 * comes, so a poll returns as soon as an event is there.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/etcd_impl.h"
#include "shm/pf_assert.h"

#define WATCH_BACKLOG_MAX 65536u /* events parsed and not yet polled: then the watch ends */

struct etcd_watch {
	CURLM *m;
	CURL *h;
	char endpoints[ETCD_ENDPOINTS_MAX][ETCD_URL_MAX];
	unsigned n, cur, tried; /* endpoints; the one in use; how many refused */
	char url[ETCD_URL_MAX];
	char *body;
	struct etcd_buf in;      /* bytes received, not yet cut into lines */
	json_t *events;          /* parsed and not yet handed out: a list of Event */
	size_t next;             /* the first of them not handed out */
	struct etcd_decoded dec; /* the bytes of those handed out by the last poll */
	uint32_t connect_ms;
	int created;
	int over; /* a negative errno: the watch has ended */
	char error[256];
};

static int watch_fail(struct etcd_watch *w, int r, const char *what)
{
	if (w->over == 0)
		w->over = etcd_fail(w->error, sizeof(w->error), r, "etcd watch at %s: %s", w->url,
				    what);
	return w->over;
}

/* One line of the stream: a WatchResponse (or an error object). */
static void take_line(struct etcd_watch *w, const char *p, size_t n)
{
	json_t *root = json_loadb(p, n, 0, NULL), *res = json_object_get(root, "result");
	json_t *evs = json_object_get(res, "events");

	if (!json_is_object(res)) {
		const char *msg = json_string_value(json_object_get(root, "message"));

		(void)watch_fail(w, -EPROTO, msg != NULL ? msg : "a line that is no WatchResponse");
	} else if (json_is_true(json_object_get(res, "canceled"))) {
		int64_t compact = 0;

		(void)etcd_int64_or0(json_object_get(res, "compact_revision"), &compact);
		(void)watch_fail(w, compact > 0 ? -ERANGE : -ECONNRESET,
				 compact > 0 ? "its start revision was compacted"
					     : "canceled by etcd");
	} else {
		w->created |= json_is_true(json_object_get(res, "created"));
		if (evs != NULL && (!json_is_array(evs) || json_array_extend(w->events, evs) != 0))
			(void)watch_fail(w, -EPROTO, "events that are not a list");
		else if (json_array_size(w->events) - w->next > WATCH_BACKLOG_MAX)
			(void)watch_fail(w, -ENOBUFS, "more events waiting than the reader takes");
	}
	json_decref(root);
}

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct etcd_watch *w = arg;
	size_t at = 0, from = w->in.len; /* what came before holds no newline */

	if (w->over < 0 || etcd_buf_add(&w->in, p, size * n) < 0)
		return 0; /* over (or too long a line): the transfer stops */
	for (size_t i = from; i < w->in.len; i++) {
		if (w->in.p[i] != '\n')
			continue;
		if (i > at)
			take_line(w, w->in.p + at, i - at);
		at = i + 1;
	}
	memmove(w->in.p, w->in.p + at, w->in.len - at);
	w->in.len -= at;
	return size * n;
}

static int watch_body(struct etcd_watch *w, const void *key, size_t key_len, const void *range_end,
		      size_t range_end_len, int64_t start)
{
	struct etcd_op op = {.type = ETCD_OP_GET,
			     .key = key,
			     .key_len = key_len,
			     .range_end = range_end,
			     .range_end_len = range_end_len};
	json_t *cr = etcd_op_body(&op), *body;

	if (cr != NULL && start > 0 &&
	    json_object_set_new(cr, "start_revision", json_string(etcd_int64_text(start).s)) != 0)
		json_decref(cr), cr = NULL;
	body = cr != NULL ? json_pack("{s:o}", "create_request", cr) : NULL;
	w->body = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	return w->body != NULL ? 0 : -ENOMEM;
}

/* The request at the endpoint in use. */
static int start(struct etcd_watch *w)
{
	(void)snprintf(w->url, sizeof(w->url), "%s/v3/watch", w->endpoints[w->cur]);
	etcd_easy_setup(w->h, w->url, w->connect_ms, w->connect_ms);
	curl_easy_setopt(w->h, CURLOPT_TIMEOUT_MS, 0L); /* it lasts; its connect does not */
	curl_easy_setopt(w->h, CURLOPT_POSTFIELDS, w->body);
	curl_easy_setopt(w->h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(w->h, CURLOPT_WRITEDATA, w);
	return curl_multi_add_handle(w->m, w->h) == CURLM_OK ? 0 : -ENOMEM;
}

int etcd_watch_create(const struct etcd_opts *o, const void *key, size_t key_len,
		      const void *range_end, size_t range_end_len, int64_t start_revision,
		      struct etcd_watch **ret)
{
	struct etcd_watch *w;
	int r = etcd_opts_check(o);

	if (r < 0 || ret == NULL || key == NULL || key_len == 0 || start_revision < 0 ||
	    (range_end == NULL) != (range_end_len == 0))
		return -EINVAL;
	r = etcd_global_init();
	w = r == 0 ? calloc(1, sizeof(*w)) : NULL;
	if (w == NULL)
		return r < 0 ? r : -ENOMEM;
	w->m = curl_multi_init();
	w->h = curl_easy_init();
	w->events = json_array();
	r = w->m == NULL || w->h == NULL || w->events == NULL
		    ? -ENOMEM
		    : watch_body(w, key, key_len, range_end, range_end_len, start_revision);
	for (unsigned i = 0; i < o->endpoints_count; i++)
		(void)snprintf(w->endpoints[i], sizeof(w->endpoints[i]), "%s", o->endpoints[i]);
	w->n = o->endpoints_count;
	w->connect_ms = o->connect_timeout_ms != 0 ? o->connect_timeout_ms
						   : ETCD_CONNECT_TIMEOUT_MS_DEFAULT;
	if (r == 0)
		r = start(w);
	if (r < 0) {
		etcd_watch_destroy(w);
		return r;
	}
	*ret = w;
	return 0;
}

/* Hand out up to max parsed events. Their number, or -EPROTO. */
static int hand_out(struct etcd_watch *w, struct etcd_event *ev, unsigned max)
{
	size_t have = json_array_size(w->events) - w->next;
	unsigned n = have < max ? (unsigned)have : max;
	json_t *kvs = json_array();
	int r = kvs == NULL ? -ENOMEM : 0;

	for (unsigned i = 0; r == 0 && i < n; i++) {
		json_t *e = json_array_get(w->events, w->next + i);
		const char *type = json_string_value(json_object_get(e, "type"));

		ev[i].type =
			type != NULL && strcmp(type, "DELETE") == 0 ? ETCD_EV_DELETE : ETCD_EV_PUT;
		if (type != NULL && strcmp(type, "DELETE") != 0 && strcmp(type, "PUT") != 0)
			r = -EPROTO;
		if (r == 0 && json_array_append(kvs, json_object_get(e, "kv")) != 0)
			r = -EPROTO;
	}
	if (r == 0)
		r = etcd_kvs_decode(&w->dec, kvs, n);
	json_decref(kvs);
	if (r < 0)
		return watch_fail(w, r, "an event not as the API says");
	for (unsigned i = 0; i < n; i++)
		ev[i].kv = w->dec.kvs[i];
	w->next += n;
	if (w->next == json_array_size(w->events)) {
		json_array_clear(w->events);
		w->next = 0;
	}
	return (int)n;
}

/* Drive the transfer once, waiting up to wait_ms: 0, or the watch is over. */
static int pump(struct etcd_watch *w, int wait_ms)
{
	int running = 0, left = 0;
	CURLMsg *msg;

	if (curl_multi_perform(w->m, &running) != CURLM_OK)
		return watch_fail(w, -ENOMEM, "libcurl's multi interface failed");
	while ((msg = curl_multi_info_read(w->m, &left)) != NULL)
		if (msg->msg == CURLMSG_DONE) {
			CURLcode e = msg->data.result;
			int r = e == CURLE_OK ? -ECONNRESET : etcd_curl_errno(e);

			r = r == -ETIMEDOUT ? -ECONNREFUSED : r; /* a connect that never ended */
			if (r == -ECONNREFUSED && !w->created && ++w->tried < w->n) {
				/* not started yet: the next endpoint */
				(void)curl_multi_remove_handle(w->m, w->h);
				w->cur = (w->cur + 1) % w->n;
				w->in.len = 0;
				return start(w) < 0 ? watch_fail(w, -ENOMEM, "libcurl failed") : 0;
			}
			return watch_fail(
				w, r, e == CURLE_OK ? "the stream ended" : curl_easy_strerror(e));
		}
	if (wait_ms > 0 && running > 0)
		(void)curl_multi_poll(w->m, NULL, 0, wait_ms, NULL);
	return w->over;
}

int etcd_watch_poll(struct etcd_watch *w, struct etcd_event *ev, unsigned max, uint32_t timeout_ms)
{
	uint64_t deadline;

	if (w == NULL || ev == NULL || max == 0)
		return -EINVAL;
	deadline = etcd_now_ms() + timeout_ms;
	for (;;) {
		uint64_t now;
		int r;

		if (json_array_size(w->events) > w->next)
			return hand_out(w, ev, max);
		if (w->over < 0)
			return w->over;
		now = etcd_now_ms();
		r = pump(w, now < deadline ? (int)(deadline - now) : 0);
		if (r < 0 && json_array_size(w->events) == w->next)
			return r;
		if (now >= deadline && json_array_size(w->events) == w->next)
			return 0;
	}
}

const char *etcd_watch_error(const struct etcd_watch *w)
{
	return w != NULL ? w->error : "no watch";
}

void etcd_watch_destroy(struct etcd_watch *w)
{
	if (w == NULL)
		return;
	if (w->m != NULL && w->h != NULL)
		(void)curl_multi_remove_handle(w->m, w->h);
	curl_easy_cleanup(w->h);
	curl_multi_cleanup(w->m);
	json_decref(w->events);
	etcd_decoded_free(&w->dec);
	free(w->in.p);
	free(w->body);
	free(w);
}
