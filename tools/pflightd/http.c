/* SPDX-License-Identifier: MIT */
/*
 * tools/pflightd/http.c: the REST API agent (http.h), libmicrohttpd underneath.
 *
 * How it runs. libmicrohttpd is driven in its external mode over one epoll descriptor
 * (MHD_USE_EPOLL, no thread of its own): do_work() runs MHD_run(), which serves whatever
 * is ready without blocking, then follows the audit log (events.h) and wakes the event
 * streams that have something to send; park() sleeps in poll() on that descriptor, so a
 * request wakes it at once. The agent runs under a runner of its own, always dedicated
 * (one thread), whatever --mode says for the other agents, because its work is not
 * bounded the way theirs is: a request may wait on a client's socket. On its own thread
 * that costs only other HTTP clients; in the shared runner it would stall placements and
 * the auditor. What takes seconds (verifying the audit log) does not run here at all: it
 * is a job (jobs.h) on a worker thread of its own, which the client follows by id.
 * libmicrohttpd's own polling thread (MHD_USE_INTERNAL_POLLING_THREAD) was the other
 * way: it offers no hook to run between events, and the event streams need one (new audit
 * records, keep-alives) as the governor does (CMD_GOVERNANCE after a reload).
 *
 * What it shares. Reads go to shared memory and to the audit files, never through an
 * agent, so nothing waits for the scheduler and the scheduler waits for nothing. The audit
 * log keeps its one writer: changes reach it as CMD_RECORD through the auditor's queue,
 * and the event stream reads the file (events.h). A migrate goes through migrate_ask()
 * with this thread's own scheduler object and governor, as the control socket's goes with
 * the main thread's.
 *
 * Limits, each checked before the work it protects:
 *   - rate: a token bucket per client address (api.rate_per_s, a second's burst), taken
 *     when a request's headers are in; 429 with Retry-After when empty;
 *   - auth: a route that changes the domain needs "Authorization: Bearer <token>", checked
 *     with sodium_memcmp before the body is read: 401;
 *   - size: a Content-Length over api.request_bytes_max is refused before the body is
 *     read, a chunked body as soon as it passes the limit: 413; a length given twice
 *     (Content-Length with Transfer-Encoding, or either twice) before it too: 400;
 *   - slow or idle clients: libmicrohttpd closes a connection with no progress for
 *     api.client_timeout; headers are bounded by CONNECTION_MEMORY_BYTES;
 *   - connections: api.connections_max at once, HTTP_STREAMS_MAX of them event streams.
 * Every error is {"error":{"code","message"}} with its status (http_json.c says which).
 *
 * Event streams (GET /api/v1/events). Each stream remembers the seq of the last record it
 * sent. Its reader copies the next record from the ring; with nothing to send it suspends
 * the connection (MHD_suspend_connection: no busy loop), and do_work() resumes it when the
 * ring holds a newer record or a keep-alive comment is due. A client that falls behind the
 * ring loses the records the ring dropped, and is told so by a `gap` event with the count;
 * one that stops reading altogether stalls only its own connection, which the client
 * timeout closes. Nobody else waits: the ring never waits for a reader. Last-Event-ID
 * resumes after the record it names.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shm/pf_assert.h"
#include "tools/common/decimal.h"
#include "tools/pflightd/daemon.h"
#include "tools/pflightd/events.h"
#include "tools/pflightd/http.h"
#include "tools/pflightd/http_api.h"
#include "tools/pflightd/log.h"

#define CONNECTION_MEMORY_BYTES (64u << 10) /* per connection: headers and read buffer */
#define RATE_BUCKETS 256u /* client addresses tracked; the least recent one is reused */
#define STREAM_BLOCK_BYTES 16384u
#define STREAM_BUF_BYTES (PF_AUDIT_LINE_MAX + 256u) /* one record framed as an event */
#define KEEPALIVE_NS_MAX 15000000000u               /* a comment at least this often */
#define KEEPALIVE_NS_MIN 500000000u
#define BODY_INITIAL_BYTES 1024u

struct request {
	struct api_call call;
	char *body;
	size_t len;
	size_t cap;
	uint32_t too_big;
	uint32_t answered;
	uint32_t unexpected; /* a body came where the route takes none */
	uint32_t reserved0;
};

struct stream {
	struct http *h;
	struct MHD_Connection *conn;
	struct stream *next;
	struct stream *prev;
	uint64_t after; /* seq of the last record sent */
	uint64_t keepalive_ns;
	uint64_t sent;
	uint64_t lost;
	uint32_t suspended;
	uint32_t fresh; /* nothing sent yet and no Last-Event-ID: no gap to report */
	char peer[API_PEER_MAX];
	size_t len;
	size_t off;
	char buf[STREAM_BUF_BYTES];
};

struct bucket {
	char key[API_PEER_MAX];
	double tokens;
	uint64_t last_ns;
};

struct http {
	struct MHD_Daemon *mhd;
	int epfd;
	int wake_fd; /* the conductor's (http.h), -1: none */
	uint16_t port;
	uint16_t starting; /* MHD's messages at start-up are warnings, later debug */
	uint32_t rate_per_s;
	uint64_t request_bytes_max;
	uint64_t keepalive_ns;
	uint64_t work; /* callbacks run: do_work's count */
	struct cmdq *inbox;
	struct api api;
	struct events ev;
	struct stream *streams;
	uint32_t streams_count;
	uint32_t reserved0;
	char token[HTTP_TOKEN_MAX + 1];
	size_t token_len;
	char token_path[PF_AUDIT_PATH_MAX];
	struct bucket buckets[RATE_BUCKETS];
};

/* --- the token -------------------------------------------------------------------- */

/* A new token file: 32 random bytes as hex, mode 0600, never over an existing file, by
 * the rule for the daemon's secrets (pflight/audit.h). */
static int token_create(const char *path, struct pf_audit_refusal *why)
{
	unsigned char raw[HTTP_TOKEN_BYTES];
	char hex[2 * HTTP_TOKEN_BYTES + 2];
	int fd = pf_audit_file_open(path, O_WRONLY | O_CREAT | O_EXCL, PF_AUDIT_FILE_SECRET, why);
	int r = 0;
	size_t len;

	if (fd < 0)
		return fd;
	randombytes_buf(raw, sizeof(raw));
	(void)sodium_bin2hex(hex, sizeof(hex) - 1, raw, sizeof(raw));
	sodium_memzero(raw, sizeof(raw));
	len = strlen(hex);
	hex[len++] = '\n';
	errno = 0;
	if (write(fd, hex, len) != (ssize_t)len)
		r = errno != 0 ? -errno : -EIO;
	sodium_memzero(hex, sizeof(hex));
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r < 0) {
		(void)unlink(path);
		(void)snprintf(why->path, sizeof(why->path), "%s", path);
		(void)snprintf(why->reason, sizeof(why->reason), "cannot write: %s", strerror(-r));
	}
	return r;
}

/* Read the token: the file's first line, 16..256 printable characters without spaces. */
static int token_read(struct http *h, int fd)
{
	char buf[HTTP_TOKEN_MAX + 2];
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	size_t len;

	if (n < 0)
		return -errno;
	buf[n] = '\0';
	len = strcspn(buf, "\r\n");
	for (size_t i = 0; i < len; i++)
		if (buf[i] <= ' ' || buf[i] > '~')
			len = 0;
	if (len < HTTP_TOKEN_MIN || len > HTTP_TOKEN_MAX) {
		sodium_memzero(buf, sizeof(buf));
		return -EBADMSG;
	}
	memcpy(h->token, buf, len);
	h->token[len] = '\0';
	h->token_len = len;
	sodium_memzero(buf, sizeof(buf));
	return 0;
}

/* Open the token file by the rule for the daemon's secrets (pflight/audit.h: no symbolic
 * link, owned by this uid or root, mode 0600, in a directory others may not write to),
 * creating it when absent, and read it. Logs why it refused. */
static int token_open(struct http *h)
{
	struct pf_audit_refusal why = {.size = sizeof(why)};
	int fd = pf_audit_file_open(h->token_path, O_RDONLY, PF_AUDIT_FILE_SECRET, &why), r;

	if (fd == -ENOENT) {
		r = token_create(h->token_path, &why);
		if (r == 0) {
			log_msg(LOG_INFO, "api: new bearer token in %s (mode 0600)", h->token_path);
			fd = pf_audit_file_open(h->token_path, O_RDONLY, PF_AUDIT_FILE_SECRET,
						&why);
		} else {
			fd = r;
		}
	}
	if (fd < 0) {
		log_refused("api: token file", h->token_path, why.path, why.reason,
			    "the API is not started");
		return fd;
	}
	r = token_read(h, fd);
	(void)close(fd);
	if (r == -EBADMSG)
		log_msg(LOG_ERROR,
			"api: token file %s holds no token (one line of %u..%u printable "
			"characters); the API is not started",
			h->token_path, HTTP_TOKEN_MIN, HTTP_TOKEN_MAX);
	else if (r < 0)
		log_msg(LOG_ERROR, "api: token file %s: %s; the API is not started", h->token_path,
			strerror(-r));
	return r;
}

static int token_load(struct http *h, const struct http_config *cfg)
{
	const char *p = cfg->manifest->api.token_path;
	int n = p[0] != '\0' ? snprintf(h->token_path, sizeof(h->token_path), "%s", p)
			     : snprintf(h->token_path, sizeof(h->token_path), "%s.api-token",
					cfg->audit_path);

	if (n < 0 || (size_t)n >= sizeof(h->token_path)) {
		log_msg(LOG_ERROR, "api: token path too long; the API is not started");
		return -ENAMETOOLONG;
	}
	return token_open(h); /* it says why it refused */
}

/* --- answers ---------------------------------------------------------------------- */

/* body is ours to free (MHD_RESPMEM_MUST_FREE) or static (MHD_RESPMEM_PERSISTENT);
 * location: a Location header (a job's path), or NULL. */
static enum MHD_Result queue(struct MHD_Connection *conn, unsigned status, void *body, size_t len,
			     enum MHD_ResponseMemoryMode mode, const char *ctype,
			     const struct api_error *err, const char *location)
{
	struct MHD_Response *rsp = MHD_create_response_from_buffer(len, body, mode);
	enum MHD_Result r;
	char retry[16];

	if (rsp == NULL) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(body);
		return MHD_NO;
	}
	(void)MHD_add_response_header(rsp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	(void)MHD_add_response_header(rsp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	(void)MHD_add_response_header(rsp, "X-Content-Type-Options", "nosniff");
	if (err != NULL && err->allow[0] != '\0')
		(void)MHD_add_response_header(rsp, MHD_HTTP_HEADER_ALLOW, err->allow);
	if (err != NULL && err->retry_after_s > 0) {
		(void)snprintf(retry, sizeof(retry), "%u", err->retry_after_s);
		(void)MHD_add_response_header(rsp, MHD_HTTP_HEADER_RETRY_AFTER, retry);
	}
	if (location != NULL && location[0] != '\0')
		(void)MHD_add_response_header(rsp, MHD_HTTP_HEADER_LOCATION, location);
	if (status == MHD_HTTP_UNAUTHORIZED)
		(void)MHD_add_response_header(rsp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
					      "Bearer realm=\"pflightd\"");
	r = MHD_queue_response(conn, status, rsp);
	MHD_destroy_response(rsp);
	return r;
}

/* A JSON document as the body (consumed), compact, with a final newline. */
static enum MHD_Result queue_json(struct MHD_Connection *conn, unsigned status, json_t *doc,
				  const struct api_error *err, const char *location)
{
	char *text = doc != NULL ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	size_t len = text != NULL ? strlen(text) : 0;
	char *body = text != NULL ? realloc(text, len + 2) : NULL;

	json_decref(doc);
	if (body == NULL) {
		free(text);
		return MHD_NO; /* out of memory: libmicrohttpd closes the connection */
	}
	body[len++] = '\n';
	body[len] = '\0';
	return queue(conn, status, body, len, MHD_RESPMEM_MUST_FREE, "application/json", err,
		     location);
}

static enum MHD_Result queue_error(struct MHD_Connection *conn, const struct api_error *err)
{
	if (err->status >= 500)
		log_msg(LOG_WARN, "api: %u %s: %s", err->status, err->code, err->message);
	return queue_json(conn, err->status, api_error_doc(err), err, NULL);
}

/* --- limits ----------------------------------------------------------------------- */

/* Take a token from the client's bucket: 0, or the seconds until one is there. */
static uint32_t rate_take(struct http *h, const char *peer, uint64_t now)
{
	struct bucket *b = NULL, *oldest = &h->buckets[0];
	double rate = (double)h->rate_per_s;

	for (uint32_t i = 0; i < RATE_BUCKETS && b == NULL; i++) {
		if (strcmp(h->buckets[i].key, peer) == 0)
			b = &h->buckets[i];
		else if (h->buckets[i].last_ns < oldest->last_ns)
			oldest = &h->buckets[i];
	}
	if (b == NULL) {
		b = oldest;
		(void)snprintf(b->key, sizeof(b->key), "%s", peer);
		b->tokens = rate;
		b->last_ns = now;
	}
	b->tokens = fmin(rate, b->tokens + (double)(now - b->last_ns) * 1e-9 * rate);
	b->last_ns = now;
	if (b->tokens >= 1.0) {
		b->tokens -= 1.0;
		return 0;
	}
	return (uint32_t)ceil((1.0 - b->tokens) / rate);
}

static int auth_check(struct http *h, struct MHD_Connection *conn, struct api_error *err)
{
	const char *v =
		MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	size_t len;

	if (v == NULL || strncasecmp(v, "Bearer ", 7) != 0) {
		api_error_set(err, 401, "unauthorized",
			      "this request changes the domain: send \"Authorization: Bearer "
			      "<token>\" with the token from pflightd's api.token_path file");
		return -EACCES;
	}
	v += 7;
	while (*v == ' ')
		v++;
	len = strlen(v);
	if (len != h->token_len || sodium_memcmp(v, h->token, len) != 0) {
		api_error_set(err, 401, "bad_token", "the bearer token does not match");
		return -EACCES;
	}
	return 0;
}

struct length_headers {
	uint32_t content_length;
	uint32_t transfer_encoding;
	int te_not_chunked; /* a Transfer-Encoding other than "chunked" alone */
};

static enum MHD_Result length_header_count(void *cls, enum MHD_ValueKind kind, const char *key,
					   const char *value)
{
	struct length_headers *n = cls;

	(void)kind;
	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
		n->content_length++;
	} else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
		n->transfer_encoding++;
		if (value == NULL || strcasecmp(value, "chunked") != 0)
			n->te_not_chunked = 1;
	}
	return MHD_YES;
}

/*
 * One way to say how long the body is: Content-Length or Transfer-Encoding, once, and the
 * coding chunked. With both, or either twice, a proxy in front and this daemon may each
 * take another length and split the stream into different requests (request smuggling).
 * libmicrohttpd 0.9.75 takes Transfer-Encoding over Content-Length, and the first of two
 * of either, without a word; refuse instead (RFC 9112 6.3 allows a server to), before any
 * body is read. Another coding leaves the length unknown (6.3: 400); libmicrohttpd kept
 * such a request waiting, unanswered.
 */
static int length_check(struct MHD_Connection *conn, struct api_error *err)
{
	struct length_headers n = {0};

	(void)MHD_get_connection_values(conn, MHD_HEADER_KIND, length_header_count, &n);
	if (n.te_not_chunked) {
		/* Any other coding, or chunked with another: the length is unknown. */
		api_error_set(err, 400, "unsupported_transfer_encoding",
			      "Transfer-Encoding must be chunked, alone; send the body with "
			      "Content-Length or chunked");
		return -EINVAL;
	}
	if (n.content_length + n.transfer_encoding <= 1)
		return 0;
	api_error_set(err, 400, "ambiguous_length",
		      "the body's length is given %s: send Content-Length or Transfer-Encoding, "
		      "once",
		      n.content_length > 0 && n.transfer_encoding > 0
			      ? "by both Content-Length and Transfer-Encoding"
		      : n.content_length > 1 ? "by more than one Content-Length"
					     : "by more than one Transfer-Encoding");
	return -EINVAL;
}

/* The body's length said once, Content-Length over the limit, a body where the route
 * takes none, a body not JSON. */
static int headers_check(struct http *h, struct MHD_Connection *conn, const struct api_route *r,
			 struct api_error *err)
{
	const char *cl =
		MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	const char *ct =
		MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	uint64_t len = 0;

	if (length_check(conn, err) < 0)
		return -EINVAL;
	if (cl != NULL && decimal_parse(cl, strlen(cl), UINT64_MAX, &len) < 0)
		len = 0; /* libmicrohttpd answers a malformed Content-Length itself */
	if ((r->flags & API_BODY) == 0 &&
	    (len > 0 || MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						    MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL)) {
		api_error_set(err, 400, "unexpected_body", "%s %s takes no request body", r->method,
			      r->path);
		return -EINVAL;
	}
	if (len > h->request_bytes_max) {
		api_error_set(err, 413, "too_large",
			      "the body is %llu bytes; at most %llu are taken",
			      (unsigned long long)len, (unsigned long long)h->request_bytes_max);
		return -EFBIG;
	}
	if ((r->flags & API_BODY) == 0 || len == 0 || ct == NULL)
		return 0;
	if (strncasecmp(ct, "application/json", 16) != 0 || (ct[16] != '\0' && ct[16] != ';')) {
		api_error_set(err, 415, "unsupported_media_type",
			      "the body must be application/json, not %.64s", ct);
		return -EINVAL;
	}
	return 0;
}

static void peer_text(struct MHD_Connection *conn, char *buf, size_t cap)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci != NULL ? ci->client_addr : NULL;

	(void)snprintf(buf, cap, "unknown");
	if (sa != NULL && sa->sa_family == AF_INET)
		(void)inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
				buf, (socklen_t)cap);
	else if (sa != NULL && sa->sa_family == AF_INET6)
		(void)inet_ntop(AF_INET6,
				&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, buf,
				(socklen_t)cap);
}

/* Headers are in: rate, route, token, declared size and type. 0 to go on reading, or a
 * negative errno with err filled (answer it now, before any body is read). */
static int begin(struct http *h, struct MHD_Connection *conn, const char *url, const char *method,
		 struct request *rq, struct api_error *err)
{
	uint32_t wait_s;
	char peer[API_PEER_MAX];

	peer_text(conn, peer, sizeof(peer));
	wait_s = rate_take(h, peer, mono_ns());
	if (wait_s > 0) {
		api_error_set(err, 429, "rate_limited", "more than %u requests per second from %s",
			      h->rate_per_s, peer);
		err->retry_after_s = wait_s;
		return -EAGAIN;
	}
	if (api_route_find(method, url, &rq->call, err) < 0)
		return -ENOENT;
	(void)snprintf(rq->call.peer, sizeof(rq->call.peer), "%s", peer);
	if ((rq->call.route->flags & API_MUTATING) != 0 && auth_check(h, conn, err) < 0)
		return -EACCES;
	return headers_check(h, conn, rq->call.route, err);
}

/* A piece of the body: kept while within the limit, counted and dropped beyond it. */
static void body_take(struct http *h, struct request *rq, const char *data, size_t n)
{
	if ((rq->call.route->flags & API_BODY) == 0) {
		rq->unexpected = 1; /* chunked, so not refused with the headers */
		return;
	}
	if (rq->too_big || rq->len + n > h->request_bytes_max) {
		rq->too_big = 1;
		return;
	}
	if (rq->len + n > rq->cap) {
		size_t cap = rq->cap > 0 ? rq->cap : BODY_INITIAL_BYTES;
		char *grown;

		while (cap < rq->len + n)
			cap *= 2;
		grown = realloc(rq->body, cap);
		if (grown == NULL) {
			rq->too_big = 1;
			return;
		}
		rq->body = grown;
		rq->cap = cap;
	}
	memcpy(rq->body + rq->len, data, n);
	rq->len += n;
}

struct kvs {
	struct api_kv kv[API_QUERY_MAX];
	size_t n;
};

static enum MHD_Result kv_take(void *cls, enum MHD_ValueKind kind, const char *key,
			       const char *value)
{
	struct kvs *k = cls;

	(void)kind;
	if (k->n < API_QUERY_MAX)
		k->kv[k->n] = (struct api_kv){.key = key, .value = value};
	k->n++;
	return MHD_YES;
}

static enum MHD_Result stream_start(struct http *h, struct MHD_Connection *conn,
				    struct request *rq);

/* The whole request is in: query, body, then the handler. */
static enum MHD_Result finish(struct http *h, struct MHD_Connection *conn, struct request *rq)
{
	struct api_reply rep = {0};
	struct api_error err;
	struct kvs k = {.n = 0};

	memset(&err, 0, sizeof(err));
	if (rq->unexpected) {
		api_error_set(&err, 400, "unexpected_body", "%s %s takes no request body",
			      rq->call.route->method, rq->call.route->path);
		return queue_error(conn, &err);
	}
	if (rq->too_big) {
		api_error_set(&err, 413, "too_large", "the body is over %llu bytes",
			      (unsigned long long)h->request_bytes_max);
		return queue_error(conn, &err);
	}
	(void)MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, kv_take, &k);
	if (api_query_parse(&rq->call, k.kv, k.n, &err) < 0 ||
	    api_body_parse(&rq->call, rq->body, rq->len, &err) < 0)
		return queue_error(conn, &err);
	if ((rq->call.route->flags & API_STREAM) != 0)
		return stream_start(h, conn, rq);
	if (rq->call.route->handler(&h->api, &rq->call, &rep, &err) < 0) {
		json_decref(rep.doc);
		return queue_error(conn, &err);
	}
	if (rep.doc != NULL)
		return queue_json(conn, rep.status, rep.doc, NULL, rep.location);
	if (rep.raw_owned != NULL) /* built for this request (the Prometheus page, a job) */
		return queue(conn, rep.status, rep.raw_owned, rep.raw_len, MHD_RESPMEM_MUST_FREE,
			     rep.content_type, NULL, rep.location);
	return queue(conn, rep.status, (void *)rep.raw, rep.raw_len, MHD_RESPMEM_PERSISTENT,
		     rep.content_type, NULL, NULL);
}

/* libmicrohttpd's unescape callback: the path and every query key and value. */
static size_t unescape(void *cls, struct MHD_Connection *conn, char *text)
{
	(void)cls;
	(void)conn;
	return api_unescape(text);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_bytes, void **con_cls)
{
	struct http *h = cls;
	struct request *rq = *con_cls;
	struct api_error err;

	(void)version;
	h->work++;
	if (rq == NULL) {
		rq = calloc(1, sizeof(*rq));
		if (rq == NULL)
			return MHD_NO;
		*con_cls = rq;
		if (begin(h, conn, url, method, rq, &err) < 0) {
			rq->answered = 1;
			return queue_error(conn, &err);
		}
		return MHD_YES;
	}
	if (*upload_bytes > 0) {
		if (!rq->answered)
			body_take(h, rq, upload, *upload_bytes);
		*upload_bytes = 0;
		return MHD_YES;
	}
	if (rq->answered)
		return MHD_YES;
	rq->answered = 1;
	return finish(h, conn, rq);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct request *rq = *con_cls;

	(void)cls;
	(void)conn;
	if (toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED)
		log_msg(LOG_INFO, "api: %s: connection closed, no progress within the timeout",
			rq != NULL && rq->call.peer[0] != '\0' ? rq->call.peer : "a client");
	if (rq == NULL)
		return;
	api_call_clear(&rq->call);
	free(rq->body);
	free(rq);
	*con_cls = NULL;
}

/* --- event streams ---------------------------------------------------------------- */

/* Frame what the stream sends next into its buffer: a gap notice, the next record, a
 * keep-alive comment when one is due, or nothing. */
static void stream_fill(struct stream *s, uint64_t now)
{
	uint64_t lost = 0;
	const struct event *ev = events_next(&s->h->ev, s->after, &lost);
	int n = 0;

	PF_ASSERT(s->off == s->len);
	s->off = 0;
	s->len = 0;
	if (ev != NULL && lost > 0 && !s->fresh) {
		n = snprintf(s->buf, sizeof(s->buf),
			     "event: gap\ndata: {\"after\":%llu,\"next\":%llu,\"lost\":%llu}\n\n",
			     (unsigned long long)s->after, (unsigned long long)ev->seq,
			     (unsigned long long)lost);
		log_msg(LOG_WARN,
			"api: event stream to %s fell behind: %llu records dropped for it", s->peer,
			(unsigned long long)lost);
		s->lost += lost;
		s->after = ev->seq - 1;
	} else if (ev != NULL) {
		n = snprintf(s->buf, sizeof(s->buf), "id: %llu\nevent: %s\ndata: %s\n\n",
			     (unsigned long long)ev->seq, ev->name, ev->line);
		s->after = ev->seq;
		s->sent++;
	} else if (now >= s->keepalive_ns) {
		n = snprintf(s->buf, sizeof(s->buf), ": keep-alive\n\n");
	}
	s->fresh = 0;
	if (n > 0 && (size_t)n < sizeof(s->buf)) {
		s->len = (size_t)n;
		s->keepalive_ns = now + s->h->keepalive_ns;
	}
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream *s = cls;
	size_t n;

	(void)pos;
	s->h->work++;
	if (s->off == s->len)
		stream_fill(s, mono_ns());
	if (s->off == s->len) {
		/* Nothing to send: out of the event loop until do_work() has something. */
		MHD_suspend_connection(s->conn);
		s->suspended = 1;
		return 0;
	}
	n = s->len - s->off < max ? s->len - s->off : max;
	memcpy(buf, s->buf + s->off, n);
	s->off += n;
	return (ssize_t)n;
}

static void stream_free(void *cls)
{
	struct stream *s = cls;
	struct http *h = s->h;

	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		h->streams = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	PF_ASSERT(h->streams_count > 0);
	h->streams_count--;
	log_msg(LOG_INFO, "api: event stream to %s closed (%llu records sent, %llu dropped)",
		s->peer, (unsigned long long)s->sent, (unsigned long long)s->lost);
	free(s);
}

/* Where a stream starts: after Last-Event-ID when given, else after the newest record. */
static int stream_after(struct http *h, struct MHD_Connection *conn, struct stream *s,
			struct api_error *err)
{
	const char *id = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Last-Event-ID");

	s->fresh = id == NULL;
	if (id == NULL) {
		s->after = events_last(&h->ev);
		return 0;
	}
	if (decimal_parse(id, strlen(id), UINT64_MAX, &s->after) < 0) {
		api_error_set(err, 400, "bad_last_event_id",
			      "Last-Event-ID must be the decimal id of an event received");
		return -EINVAL;
	}
	return 0;
}

static enum MHD_Result stream_start(struct http *h, struct MHD_Connection *conn, struct request *rq)
{
	struct MHD_Response *rsp;
	struct api_error err;
	struct stream *s;
	enum MHD_Result r;

	if (h->streams_count >= HTTP_STREAMS_MAX) {
		api_error_set(&err, 503, "too_many_streams", "%u event streams are open already",
			      HTTP_STREAMS_MAX);
		err.retry_after_s = 5;
		return queue_error(conn, &err);
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return MHD_NO;
	s->h = h;
	s->conn = conn;
	(void)snprintf(s->peer, sizeof(s->peer), "%s", rq->call.peer);
	if (stream_after(h, conn, s, &err) < 0) {
		free(s);
		return queue_error(conn, &err);
	}
	s->len = (size_t)snprintf(s->buf, sizeof(s->buf), "retry: 1000\n: audit events of %s\n\n",
				  h->api.domain_name);
	s->keepalive_ns = mono_ns() + h->keepalive_ns;
	rsp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_BLOCK_BYTES, stream_read,
						s, stream_free);
	if (rsp == NULL) {
		free(s);
		return MHD_NO;
	}
	s->next = h->streams;
	if (h->streams != NULL)
		h->streams->prev = s;
	h->streams = s;
	h->streams_count++;
	(void)MHD_add_response_header(rsp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
	(void)MHD_add_response_header(rsp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	(void)MHD_add_response_header(rsp, "X-Accel-Buffering", "no");
	r = MHD_queue_response(conn, MHD_HTTP_OK, rsp);
	MHD_destroy_response(rsp);
	log_msg(LOG_INFO, "api: event stream to %s opened after seq %llu", s->peer,
		(unsigned long long)s->after);
	return r;
}

/* Resume the suspended streams that have a record or a keep-alive to send. */
static int streams_wake(struct http *h, uint64_t now, int all)
{
	uint64_t last = events_last(&h->ev);
	int n = 0;

	for (struct stream *s = h->streams; s != NULL; s = s->next) {
		if (!s->suspended || (!all && last <= s->after && now < s->keepalive_ns))
			continue;
		s->suspended = 0;
		MHD_resume_connection(s->conn);
		n++;
	}
	return n;
}

/* --- the agent -------------------------------------------------------------------- */

pf_printf_like(2, 0) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct http *h = cls;
	char line[256];
	size_t n;

	(void)vsnprintf(line, sizeof(line), fmt, ap);
	n = strcspn(line, "\n");
	line[n] = '\0';
	log_msg(h->starting ? LOG_WARN : LOG_DEBUG, "api: %s", line);
}

/* The listening address from api.listen (numeric: the manifest refused anything else). */
static int listen_addr(const char *text, uint16_t port, struct sockaddr_storage *ss, int *ret_v6)
{
	struct sockaddr_in *in = (struct sockaddr_in *)(void *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)(void *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, text, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		*ret_v6 = 0;
		return 0;
	}
	if (inet_pton(AF_INET6, text, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		*ret_v6 = 1;
		return 0;
	}
	return -EINVAL;
}

static int mhd_start(struct http *h, const struct pf_manifest_api *m, int32_t port_override)
{
	uint16_t port = (uint16_t)(port_override >= 0 ? port_override : (int32_t)m->port);
	unsigned timeout_s = (unsigned)((m->client_timeout_ns + 999999999u) / 1000000000u);
	const union MHD_DaemonInfo *info;
	struct sockaddr_storage ss;
	int v6 = 0;

	if (listen_addr(m->listen, port, &ss, &v6) < 0) {
		log_msg(LOG_ERROR, "api: listen address %s is not numeric", m->listen);
		return -EINVAL;
	}
	h->starting = 1;
	h->mhd = MHD_start_daemon(
		MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
			(v6 ? MHD_USE_IPv6 : 0),
		0, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT,
		(unsigned)m->connections_max, MHD_OPTION_CONNECTION_TIMEOUT, timeout_s,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY_BYTES,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, h, MHD_OPTION_UNESCAPE_CALLBACK,
		unescape, NULL, MHD_OPTION_END);
	h->starting = 0;
	if (h->mhd == NULL) {
		log_msg(LOG_ERROR, "api: cannot listen on %s%s%s:%u; running without the API",
			v6 ? "[" : "", m->listen, v6 ? "]" : "", (unsigned)port);
		return -EADDRINUSE;
	}
	info = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_BIND_PORT);
	h->port = info != NULL ? info->port : port;
	info = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	h->epfd = info != NULL ? info->epoll_fd : -1;
	log_msg(LOG_INFO, "api listening on %s%s%s:%u", v6 ? "[" : "", m->listen, v6 ? "]" : "",
		(unsigned)h->port);
	return 0;
}

int http_create(const struct http_config *cfg, struct http **ret_http)
{
	const struct pf_manifest_api *m = &cfg->manifest->api;
	struct http *h;
	int r;

	PF_ASSERT(cfg != NULL && ret_http != NULL && cfg->audit_path != NULL);
	h = calloc(1, sizeof(*h));
	if (h == NULL || sodium_init() < 0) {
		free(h);
		return -ENOMEM;
	}
	h->epfd = -1;
	h->wake_fd = cfg->wake_fd;
	h->inbox = cfg->inbox;
	h->rate_per_s = m->rate_per_s;
	h->request_bytes_max = m->request_bytes_max;
	h->keepalive_ns = m->client_timeout_ns / 2 < KEEPALIVE_NS_MAX ? m->client_timeout_ns / 2
								      : KEEPALIVE_NS_MAX;
	if (h->keepalive_ns < KEEPALIVE_NS_MIN)
		h->keepalive_ns = KEEPALIVE_NS_MIN;
	h->api.domain_name = cfg->domain_name;
	h->api.audit_path = cfg->audit_path;
	h->api.log = cfg->log;
	h->api.cluster_json = cfg->cluster_json;
	h->api.cluster_arg = cfg->cluster_arg;
	h->api.events = &h->ev;
	h->api.start_ns = cfg->start_ns;
	memcpy(h->api.pk, cfg->pk, sizeof(h->api.pk));
	r = token_load(h, cfg);
	if (r == 0)
		r = api_init(&h->api, cfg->domain, cfg->manifest, cfg->to_auditor);
	if (r == 0) {
		r = events_init(&h->ev, cfg->audit_path);
		if (r < 0)
			api_fini(&h->api);
	}
	if (r == 0 && (r = mhd_start(h, m, cfg->port)) < 0) {
		events_fini(&h->ev);
		api_fini(&h->api);
	}
	if (r < 0) {
		sodium_memzero(h->token, sizeof(h->token));
		free(h);
		return r;
	}
	*ret_http = h;
	return 0;
}

/* New policies after a reload, for migrate's judge. */
static int take_commands(struct http *h)
{
	struct cmd c;
	int n = 0;

	while (n < (int)CMDQ_DRAIN_LIMIT && cmdq_take(h->inbox, &c) == 0) {
		n++;
		if (c.type == CMD_GOVERNANCE)
			governor_set(&h->api.mig.gov, c.ptr);
	}
	return n;
}

int http_do_work(void *arg)
{
	struct http *h = arg;
	uint64_t before = h->work;
	int n = take_commands(h);

	(void)MHD_run(h->mhd);
	n += events_poll(&h->ev);
	n += api_metrics_step(&h->api, mono_ns());
	n += streams_wake(h, mono_ns(), 0);
	return n + (int)(h->work - before);
}

int http_park(void *arg, uint64_t ns)
{
	struct http *h = arg;
	MHD_UNSIGNED_LONG_LONG mhd_ms = 0;
	/* Negative fds are ignored by poll(). */
	struct pollfd p[2] = {{.fd = h->epfd, .events = POLLIN},
			      {.fd = h->wake_fd, .events = POLLIN}};
	eventfd_t v;
	uint64_t ms;

	PF_ASSERT(h->mhd != NULL);
	ns = api_metrics_park_ns(&h->api, mono_ns(), ns); /* a recovery being timed */
	ms = ns / 1000000u > 0 ? ns / 1000000u : 1;
	if (MHD_get_timeout(h->mhd, &mhd_ms) == MHD_YES && mhd_ms < ms)
		ms = mhd_ms; /* a connection's timeout falls due first */
	if (poll(p, 2, (int)ms) < 0 && errno != EINTR)
		return -errno;
	if ((p[1].revents & POLLIN) != 0)
		(void)eventfd_read(h->wake_fd, &v); /* do_work looks at the membership next */
	return 0;
}

uint16_t http_port(const struct http *h)
{
	return h->port;
}

void http_destroy(struct http *h)
{
	if (h == NULL)
		return;
	(void)streams_wake(h, mono_ns(), 1); /* stopping with suspended connections leaks */
	MHD_stop_daemon(h->mhd);
	while (take_commands(h) > 0) /* policies sent after the thread's last pass */
		;
	PF_ASSERT(h->streams_count == 0);
	events_fini(&h->ev);
	api_fini(&h->api);
	sodium_memzero(h->token, sizeof(h->token));
	free(h);
}
