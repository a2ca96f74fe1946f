/* SPDX-License-Identifier: MIT */
/*
 * tools/pflightd/http_json.c: a request, from method, path, query and body to a checked
 * api_call or a 4xx error (http_api.h). No I/O and no state: the fuzz corpus replays
 * these functions directly, and every input they refuse gets a code and a sentence.
 *
 * Strictness, on purpose: an unknown query argument or body field is an error naming it
 * (a misspelt `limit` silently ignored would return a page of the wrong size), a number
 * must be a JSON integer (not 1.0, not "1") within its range, a duplicate key is refused
 * (which of two values was meant?), and a route that takes no body refuses one.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "shm/pf_assert.h"
#include "tools/common/decimal.h"
#include "tools/pflightd/http_api.h"

#define CURSOR_PREFIX "v1."
#define CURSOR_PREFIX_BYTES (sizeof(CURSOR_PREFIX) - 1u)
#define CURSOR_MASK 0x5f3759dfu /* cursors are opaque: do not look like VNode ids */

void api_error_set(struct api_error *err, unsigned status, const char *code, const char *fmt, ...)
{
	va_list ap;

	PF_ASSERT(err != NULL && code != NULL && fmt != NULL);
	PF_ASSERT(status >= 400 && status <= 599);
	memset(err, 0, sizeof(*err));
	err->status = status;
	(void)snprintf(err->code, sizeof(err->code), "%s", code);
	va_start(ap, fmt);
	(void)vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
}

json_t *api_error_doc(const struct api_error *err)
{
	return json_pack("{s:{s:s, s:s}}", "error", "code", err->code, "message", err->message);
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

size_t api_unescape(char *text)
{
	const char *in = text;
	char *out = text;

	PF_ASSERT(text != NULL);
	while (*in != '\0') {
		int hi = in[0] == '%' ? hex_value(in[1]) : -1;
		int lo = hi >= 0 ? hex_value(in[2]) : -1; /* in[2] exists: in[1] is no NUL */

		if (lo >= 0 && (hi | lo) != 0) {
			*out++ = (char)(hi << 4 | lo);
			in += 3;
		} else {
			*out++ = *in++;
		}
	}
	*out = '\0';
	PF_ASSERT(out >= text && strlen(text) == (size_t)(out - text));
	return (size_t)(out - text);
}

/* The next path segment of *p (after its '/'): its start and length; *p moves past it. */
static int next_segment(const char **p, const char **seg, size_t *len)
{
	const char *end;

	if (**p != '/')
		return -EINVAL;
	*seg = *p + 1;
	end = strchr(*seg, '/');
	*len = end != NULL ? (size_t)(end - *seg) : strlen(*seg);
	*p = *seg + *len;
	return 0;
}

/* Does path match the template? ids filled from {slot} and {id} segments. */
static int path_match(const char *tmpl, const char *path, uint32_t *ids, uint32_t *ids_count)
{
	const char *t = tmpl, *p = path;
	uint32_t n = 0;

	while (*t != '\0') {
		const char *ts, *ps;
		size_t tl, pl;
		uint64_t v;

		if (*p == '\0' || next_segment(&t, &ts, &tl) < 0 || next_segment(&p, &ps, &pl) < 0)
			return 0;
		if (tl > 2 && ts[0] == '{') {
			if (decimal_parse(ps, pl, UINT32_MAX, &v) < 0 || n == API_PATH_IDS_MAX)
				return 0;
			ids[n++] = (uint32_t)v;
		} else if (tl != pl || memcmp(ts, ps, tl) != 0) {
			return 0;
		}
	}
	if (*p != '\0')
		return 0;
	*ids_count = n;
	return 1;
}

/* What api_unescape() leaves of an encoded NUL: no path or argument may hold one. */
static bool has_encoded_nul(const char *text)
{
	return text != NULL && strstr(text, "%00") != NULL;
}

int api_route_find(const char *method, const char *path, struct api_call *call,
		   struct api_error *err)
{
	char allow[API_ALLOW_MAX] = "";
	uint32_t ids[API_PATH_IDS_MAX], n = 0;

	PF_ASSERT(method != NULL && path != NULL && call != NULL && err != NULL);
	memset(call, 0, sizeof(*call));
	if (has_encoded_nul(path)) {
		api_error_set(err, 400, "encoded_nul",
			      "the path holds %%00, an encoded NUL byte, which no path can: %.200s",
			      path);
		return -EINVAL;
	}
	for (uint32_t i = 0; i < api_routes_count; i++) {
		const struct api_route *r = &api_routes[i];

		if (!path_match(r->path, path, ids, &n))
			continue;
		if (strcmp(r->method, method) == 0) {
			call->route = r;
			memcpy(call->ids, ids, sizeof(ids));
			call->ids_count = n;
			return 0;
		}
		if (strstr(allow, r->method) == NULL)
			(void)snprintf(allow + strlen(allow), sizeof(allow) - strlen(allow), "%s%s",
				       allow[0] != '\0' ? ", " : "", r->method);
	}
	if (allow[0] == '\0') {
		api_error_set(err, 404, "not_found", "no such resource: %.200s", path);
		return -ENOENT;
	}
	api_error_set(err, 405, "method_not_allowed", "%.16s is not allowed here; allowed: %s",
		      method, allow);
	(void)snprintf(err->allow, sizeof(err->allow), "%s", allow);
	return -EPERM;
}

static const struct api_field *field_find(const struct api_field *f, uint32_t n, const char *name,
					  uint32_t *ret_index)
{
	for (uint32_t i = 0; i < n; i++) {
		if (strcmp(f[i].name, name) == 0) {
			*ret_index = i;
			return &f[i];
		}
	}
	return NULL;
}

/* "a, b, c" of the fields' names, for messages. */
static void field_names(const struct api_field *f, uint32_t n, char *buf, size_t cap)
{
	buf[0] = '\0';
	for (uint32_t i = 0; i < n; i++)
		(void)snprintf(buf + strlen(buf), cap - strlen(buf), "%s%s", i > 0 ? ", " : "",
			       f[i].name);
	if (n == 0)
		(void)snprintf(buf, cap, "none");
}

static int query_value(const struct api_field *f, const char *v, struct api_value *out,
		       struct api_error *err)
{
	size_t len = v != NULL ? strlen(v) : 0;

	out->set = 1;
	out->s = v != NULL ? v : "";
	out->len = len;
	if (f->type == API_T_U32) {
		if (decimal_parse(out->s, len, f->max, &out->u) < 0 || out->u < f->min) {
			api_error_set(err, 400, "bad_argument",
				      "query argument '%s' must be an integer in %llu..%llu",
				      f->name, (unsigned long long)f->min,
				      (unsigned long long)f->max);
			return -EINVAL;
		}
	} else if (f->type == API_T_CURSOR) {
		uint32_t id;

		if (api_cursor_decode(out->s, len, &id) < 0) {
			api_error_set(
				err, 400, "bad_cursor",
				"query argument '%s': pass next_cursor of the previous page as "
				"it was",
				f->name);
			return -EINVAL;
		}
		out->u = id;
	} else if (f->type == API_T_ENUM) {
		for (uint32_t k = 0; f->names[k] != NULL; k++) {
			if (strcmp(f->names[k], out->s) == 0) {
				out->u = k;
				return 0;
			}
		}
		api_error_set(err, 400, "bad_argument",
			      "query argument '%s': '%.64s' is not one of its values", f->name,
			      out->s);
		return -EINVAL;
	}
	return 0;
}

int api_query_parse(struct api_call *call, const struct api_kv *kv, size_t count,
		    struct api_error *err)
{
	const struct api_route *r = call->route;
	char names[256];

	PF_ASSERT(r != NULL && err != NULL);
	PF_ASSERT(r->query_count <= API_FIELDS_MAX);
	if (count > API_QUERY_MAX) {
		api_error_set(err, 400, "too_many_arguments", "more than %u query arguments",
			      API_QUERY_MAX);
		return -EINVAL;
	}
	for (size_t i = 0; i < count; i++) {
		uint32_t at = 0;
		const struct api_field *f = field_find(r->query, r->query_count, kv[i].key, &at);

		if (has_encoded_nul(kv[i].key) || has_encoded_nul(kv[i].value)) {
			api_error_set(
				err, 400, "encoded_nul",
				"query argument '%.64s' holds %%00, an encoded NUL byte, which "
				"no argument can",
				kv[i].key);
			return -EINVAL;
		}
		if (f == NULL) {
			field_names(r->query, r->query_count, names, sizeof(names));
			api_error_set(err, 400, "unknown_argument",
				      "unknown query argument '%.64s' (this resource takes: %s)",
				      kv[i].key, names);
			return -EINVAL;
		}
		if (call->query[at].set) {
			api_error_set(err, 400, "duplicate_argument",
				      "query argument '%s' given twice", f->name);
			return -EINVAL;
		}
		if (query_value(f, kv[i].value, &call->query[at], err) < 0)
			return -EINVAL;
	}
	return 0;
}

static const char *json_kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a number with a fraction or exponent";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	default:
		return "null";
	}
}

static int body_value(const struct api_field *f, json_t *v, struct api_value *out,
		      struct api_error *err)
{
	out->set = 1;
	if (f->type == API_T_U32) {
		json_int_t i = json_is_integer(v) ? json_integer_value(v) : -1;

		if (!json_is_integer(v) || i < 0 || (uint64_t)i < f->min || (uint64_t)i > f->max) {
			api_error_set(err, 400, "wrong_type",
				      "field '%s' must be an integer in %llu..%llu, got %s",
				      f->name, (unsigned long long)f->min,
				      (unsigned long long)f->max,
				      json_is_integer(v) ? "one out of range" : json_kind(v));
			return -EINVAL;
		}
		out->u = (uint64_t)i;
		return 0;
	}
	if (f->type == API_T_NUMBER) {
		double x = json_is_number(v) ? json_number_value(v) : -1.0;

		if (!json_is_number(v) || !(x >= (double)f->min && x <= (double)f->max)) {
			api_error_set(err, 400, "wrong_type",
				      "field '%s' must be a number in %llu..%llu, got %s", f->name,
				      (unsigned long long)f->min, (unsigned long long)f->max,
				      json_is_number(v) ? "one out of range" : json_kind(v));
			return -EINVAL;
		}
		out->d = x;
		return 0;
	}
	if (!json_is_string(v)) {
		api_error_set(err, 400, "wrong_type", "field '%s' must be a string, got %s",
			      f->name, json_kind(v));
		return -EINVAL;
	}
	out->s = json_string_value(v);
	out->len = json_string_length(v);
	return 0;
}

/* Required fields present, exactly one of the ONE_OF group. */
static int body_complete(const struct api_call *call, struct api_error *err)
{
	const struct api_route *r = call->route;
	uint32_t one_of = 0, given = 0;
	char names[256] = "";

	for (uint32_t i = 0; i < r->body_count; i++) {
		const struct api_field *f = &r->body[i];

		if ((f->flags & API_REQUIRED) != 0 && !call->body[i].set) {
			api_error_set(err, 400, "missing_field", "field '%s' is required", f->name);
			return -EINVAL;
		}
		if ((f->flags & API_ONE_OF) == 0)
			continue;
		one_of++;
		given += call->body[i].set;
		(void)snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s'%s'",
			       names[0] != '\0' ? " or " : "", f->name);
	}
	if (one_of > 0 && given != 1) {
		api_error_set(err, 400, given == 0 ? "missing_field" : "conflicting_fields",
			      "give exactly one of %s", names);
		return -EINVAL;
	}
	return 0;
}

static int body_fields(struct api_call *call, json_t *doc, struct api_error *err)
{
	const struct api_route *r = call->route;
	const char *key;
	char names[256];
	json_t *v;

	json_object_foreach(doc, key, v)
	{
		uint32_t at = 0;
		const struct api_field *f = field_find(r->body, r->body_count, key, &at);

		if (f == NULL) {
			field_names(r->body, r->body_count, names, sizeof(names));
			api_error_set(err, 400, "unknown_field",
				      "unknown field '%.64s' (this request takes: %s)", key, names);
			return -EINVAL;
		}
		if (body_value(f, v, &call->body[at], err) < 0)
			return -EINVAL;
	}
	return body_complete(call, err);
}

int api_body_parse(struct api_call *call, const char *body, size_t len, struct api_error *err)
{
	const struct api_route *r = call->route;
	json_error_t jerr;
	json_t *doc;

	PF_ASSERT(r != NULL && err != NULL);
	PF_ASSERT(r->body_count <= API_FIELDS_MAX);
	if (len == 0 && ((r->flags & API_BODY) == 0 || (r->flags & API_BODY_OPTIONAL) != 0))
		return 0;
	if ((r->flags & API_BODY) == 0) {
		api_error_set(err, 400, "unexpected_body", "%s %s takes no request body", r->method,
			      r->path);
		return -EINVAL;
	}
	if (len == 0) {
		api_error_set(err, 400, "missing_body", "a JSON object is expected");
		return -EINVAL;
	}
	doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (doc == NULL) {
		api_error_set(err, 400, "malformed_json", "line %d, column %d: %.160s", jerr.line,
			      jerr.column, jerr.text);
		return -EINVAL;
	}
	call->body_doc = doc;
	if (!json_is_object(doc)) {
		api_error_set(err, 400, "not_an_object", "the body must be a JSON object, got %s",
			      json_kind(doc));
		return -EINVAL;
	}
	return body_fields(call, doc, err);
}

void api_call_clear(struct api_call *call)
{
	json_decref(call->body_doc);
	call->body_doc = NULL;
}

void api_cursor_encode(uint32_t id, char out[API_CURSOR_MAX])
{
	(void)snprintf(out, API_CURSOR_MAX, CURSOR_PREFIX "%08x", id ^ CURSOR_MASK);
}

int api_cursor_decode(const char *text, size_t len, uint32_t *ret_id)
{
	uint32_t v = 0;

	if (text == NULL || len != CURSOR_PREFIX_BYTES + 8 ||
	    memcmp(text, CURSOR_PREFIX, CURSOR_PREFIX_BYTES) != 0)
		return -EINVAL;
	for (size_t i = CURSOR_PREFIX_BYTES; i < len; i++) {
		char c = text[i];
		unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
			     : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
						    : 16u;

		if (d == 16u)
			return -EINVAL;
		v = v << 4 | d;
	}
	*ret_id = v ^ CURSOR_MASK;
	return 0;
}
