/* SPDX-License-Identifier: MIT */
/* tests/common/openapi_check.c: see openapi_check.h. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tests/common/openapi_check.h"

/* Keywords a schema may use: validated ones, then ones that only describe. */
static const char *const known_keys[] = {"$ref",
					 "type",
					 "nullable",
					 "enum",
					 "required",
					 "properties",
					 "additionalProperties",
					 "items",
					 "minimum",
					 "maximum",
					 "description",
					 "default",
					 "pattern",
					 "example",
					 NULL};

__attribute__((format(printf, 3, 4))) static int failf(char *why, size_t cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(why, cap, fmt, ap);
	va_end(ap);
	return -1;
}

json_t *oas_load(const char *path)
{
	json_error_t e;
	json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &e);

	if (doc == NULL)
		fprintf(stderr, "%s:%d:%d: %s\n", path, e.line, e.column, e.text);
	return doc;
}

static json_t *resolve(json_t *oas, json_t *schema)
{
	for (int depth = 0; depth < 16; depth++) {
		const char *ref = json_string_value(json_object_get(schema, "$ref"));
		json_t *at = oas;
		char buf[256], *save = NULL;

		if (ref == NULL)
			return schema;
		if (strncmp(ref, "#/", 2) != 0 || strlen(ref) >= sizeof(buf))
			return NULL;
		(void)snprintf(buf, sizeof(buf), "%s", ref + 2);
		for (char *tok = strtok_r(buf, "/", &save); tok != NULL && at != NULL;
		     tok = strtok_r(NULL, "/", &save))
			at = json_object_get(at, tok);
		schema = at;
	}
	return NULL;
}

json_t *oas_schema(json_t *oas, const char *name)
{
	return json_object_get(json_object_get(json_object_get(oas, "components"), "schemas"),
			       name);
}

static int type_ok(const char *type, json_t *v)
{
	if (strcmp(type, "object") == 0)
		return json_is_object(v);
	if (strcmp(type, "array") == 0)
		return json_is_array(v);
	if (strcmp(type, "string") == 0)
		return json_is_string(v);
	if (strcmp(type, "integer") == 0)
		return json_is_integer(v);
	if (strcmp(type, "number") == 0)
		return json_is_number(v);
	if (strcmp(type, "boolean") == 0)
		return json_is_boolean(v);
	return 0;
}

static int check_object(json_t *oas, json_t *s, json_t *v, const char *at, char *why, size_t cap)
{
	json_t *props = json_object_get(s, "properties"), *extra,
	       *req = json_object_get(s, "required");
	const char *key;
	json_t *item;
	size_t i;
	char sub[512];

	json_array_foreach(req, i,
			   item) if (json_object_get(v, json_string_value(item)) ==
				     NULL) return failf(why, cap,
							"%s: required property '%s' is missing", at,
							json_string_value(item));
	extra = json_object_get(s, "additionalProperties");
	json_object_foreach(v, key, item)
	{
		json_t *ps = json_object_get(props, key);

		(void)snprintf(sub, sizeof(sub), "%s.%s", at, key);
		if (ps == NULL && json_is_false(extra))
			return failf(why, cap, "%s: property not in the schema", sub);
		if (ps == NULL && json_is_object(extra))
			ps = extra;
		if (ps != NULL && oas_validate(oas, ps, item, sub, why, cap) < 0)
			return -1;
	}
	return 0;
}

static int check_enum(json_t *e, json_t *v, const char *at, char *why, size_t cap)
{
	json_t *item;
	size_t i;

	json_array_foreach(e, i, item) if (json_equal(item, v)) return 0;
	return failf(why, cap, "%s: value not in its enum", at);
}

int oas_validate(json_t *oas, json_t *schema, json_t *v, const char *at, char *why, size_t cap)
{
	json_t *s = resolve(oas, schema), *item;
	const char *type;
	size_t i;
	char sub[512];

	if (s == NULL)
		return failf(why, cap, "%s: unresolvable $ref", at);
	if (json_is_null(v))
		return json_is_true(json_object_get(s, "nullable"))
			       ? 0
			       : failf(why, cap, "%s: null where the schema is not nullable", at);
	type = json_string_value(json_object_get(s, "type"));
	if (type != NULL && !type_ok(type, v))
		return failf(why, cap, "%s: expected %s", at, type);
	if (json_object_get(s, "enum") != NULL &&
	    check_enum(json_object_get(s, "enum"), v, at, why, cap) < 0)
		return -1;
	if (json_is_number(v) && json_object_get(s, "minimum") != NULL &&
	    json_number_value(v) < json_number_value(json_object_get(s, "minimum")))
		return failf(why, cap, "%s: below its minimum", at);
	if (json_is_number(v) && json_object_get(s, "maximum") != NULL &&
	    json_number_value(v) > json_number_value(json_object_get(s, "maximum")))
		return failf(why, cap, "%s: above its maximum", at);
	if (json_is_object(v) && check_object(oas, s, v, at, why, cap) < 0)
		return -1;
	json_array_foreach(json_is_array(v) ? v : NULL, i, item)
	{
		(void)snprintf(sub, sizeof(sub), "%s[%zu]", at, i);
		if (json_object_get(s, "items") != NULL &&
		    oas_validate(oas, json_object_get(s, "items"), item, sub, why, cap) < 0)
			return -1;
	}
	return 0;
}

/* Does the concrete path match the template, {x} matching one non-empty segment? */
static int path_matches(const char *tmpl, const char *path)
{
	while (*tmpl != '\0' && *path != '\0') {
		if (*tmpl == '{') {
			const char *te = strchr(tmpl, '}');
			size_t n = strcspn(path, "/");

			if (te == NULL || n == 0)
				return 0;
			tmpl = te + 1;
			path += n;
			continue;
		}
		if (*tmpl++ != *path++)
			return 0;
	}
	return *tmpl == '\0' && *path == '\0';
}

static json_t *find_path(json_t *oas, const char *path)
{
	const char *key;
	json_t *item;

	json_object_foreach(json_object_get(oas, "paths"), key,
			    item) if (path_matches(key, path)) return item;
	return NULL;
}

int oas_check_response(json_t *oas, const char *method, const char *path, long status, json_t *body,
		       char *why, size_t cap)
{
	json_t *item = find_path(oas, path), *op, *resp, *schema;
	char lower[16], code[16];
	size_t i;

	for (i = 0; i + 1 < sizeof(lower) && method[i] != '\0'; i++)
		lower[i] =
			(char)(method[i] >= 'A' && method[i] <= 'Z' ? method[i] + 32 : method[i]);
	lower[i] = '\0';
	op = json_object_get(item, lower);
	if (item == NULL || op == NULL) {
		if (status != (item == NULL ? 404 : 405))
			return failf(why, cap, "%s %s: status %ld for an undocumented %s", method,
				     path, status, item == NULL ? "path" : "method");
		return oas_validate(oas, oas_schema(oas, "Error"), body, "body", why, cap);
	}
	(void)snprintf(code, sizeof(code), "%ld", status);
	resp = json_object_get(json_object_get(op, "responses"), code);
	if (resp == NULL)
		return failf(why, cap, "%s %s: status %ld is not documented for it", method, path,
			     status);
	resp = resolve(oas, resp);
	schema = json_object_get(
		json_object_get(json_object_get(resp, "content"), "application/json"), "schema");
	/* A text answer (the Prometheus page, the dashboard's files): documented as such,
	 * and not JSON. */
	if (schema == NULL && json_object_size(json_object_get(resp, "content")) > 0)
		return body == NULL ? 0
				    : failf(why, cap, "%s %s %ld: JSON where text is documented",
					    method, path, status);
	if (schema == NULL)
		return failf(why, cap, "%s %s %ld: no application/json schema", method, path,
			     status);
	return oas_validate(oas, schema, body, "body", why, cap);
}

static int known(const char *key)
{
	for (int i = 0; known_keys[i] != NULL; i++)
		if (strcmp(known_keys[i], key) == 0)
			return 1;
	return 0;
}

/* Walk a schema: keywords known, refs resolvable, sub-schemas likewise. */
static int check_schema(json_t *oas, json_t *s, const char *at, char *why, size_t cap)
{
	const char *key;
	json_t *v;
	char sub[512];

	if (!json_is_object(s))
		return failf(why, cap, "%s: a schema must be an object", at);
	json_object_foreach(s, key, v)
	{
		if (!known(key))
			return failf(why, cap, "%s: keyword '%s' is not checked by this validator",
				     at, key);
	}
	if (json_object_get(s, "$ref") != NULL && resolve(oas, s) == NULL)
		return failf(why, cap, "%s: $ref does not resolve", at);
	json_object_foreach(json_object_get(s, "properties"), key, v)
	{
		(void)snprintf(sub, sizeof(sub), "%s.%s", at, key);
		if (check_schema(oas, v, sub, why, cap) < 0)
			return -1;
	}
	v = json_object_get(s, "items");
	if (v != NULL && check_schema(oas, v, at, why, cap) < 0)
		return -1;
	v = json_object_get(s, "additionalProperties");
	if (json_is_object(v) && check_schema(oas, v, at, why, cap) < 0)
		return -1;
	return 0;
}

static int check_operation(json_t *oas, json_t *op, const char *at, char *why, size_t cap)
{
	const char *code;
	json_t *resp;
	char sub[512];

	if (json_object_size(json_object_get(op, "responses")) == 0)
		return failf(why, cap, "%s: no responses", at);
	json_object_foreach(json_object_get(op, "responses"), code, resp)
	{
		json_t *content = json_object_get(resolve(oas, resp), "content");
		const char *ctype;
		json_t *media;

		if (json_object_size(content) == 0)
			return failf(why, cap, "%s %s: no content", at, code);
		json_object_foreach(content, ctype, media)
		{
			(void)snprintf(sub, sizeof(sub), "%.300s %.16s %.64s", at, code, ctype);
			if (check_schema(oas, json_object_get(media, "schema"), sub, why, cap) < 0)
				return -1;
		}
	}
	return 0;
}

int oas_check_document(json_t *oas, char *why, size_t cap)
{
	const char *key, *method;
	json_t *item, *op;
	char at[512];

	if (strncmp(json_string_value(json_object_get(oas, "openapi")) != NULL
			    ? json_string_value(json_object_get(oas, "openapi"))
			    : "",
		    "3.0.", 4) != 0)
		return failf(why, cap, "not an OpenAPI 3.0 document");
	json_object_foreach(oas_schema(oas, "Error") != NULL
				    ? json_object_get(json_object_get(oas, "components"), "schemas")
				    : NULL,
			    key, item)
	{
		(void)snprintf(at, sizeof(at), "components.schemas.%s", key);
		if (check_schema(oas, item, at, why, cap) < 0)
			return -1;
	}
	if (oas_schema(oas, "Error") == NULL)
		return failf(why, cap, "components.schemas.Error is missing");
	json_object_foreach(json_object_get(oas, "paths"), key, item)
	{
		json_object_foreach(item, method, op)
		{
			(void)snprintf(at, sizeof(at), "%s %s", method, key);
			if (check_operation(oas, op, at, why, cap) < 0)
				return -1;
		}
	}
	return 0;
}
