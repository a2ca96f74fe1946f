/* SPDX-License-Identifier: MIT */
/*
 * tests/api/test_api_openapi.c
 * Goal: the OpenAPI document describes exactly what the server routes: every route of
 * api_routes[] is an operation of the document (same path template, same method), every
 * operation is a route, each operation's query parameters are the route's query
 * arguments, its request body's properties are the route's body fields, a changing route
 * asks for the bearer token and a reading one does not; and the document itself uses only
 * schema keywords the conformance checker validates, with every $ref resolved.
 * Method: the route table compiled in from tools/pflightd/http_api.c, the document read
 * from the source tree (the one embedded in pflightd).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "tests/common/openapi_check.h"
#include "tests/common/test_util.h"
#include "tools/pflightd/http_api.h"

static int failures;

#define EXPECT(cond, ...)                                                                          \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

static json_t *operation(json_t *oas, const struct api_route *r)
{
	char m[8];
	size_t i;

	for (i = 0; i + 1 < sizeof(m) && r->method[i] != '\0'; i++)
		m[i] = (char)(r->method[i] + ('a' - 'A'));
	m[i] = '\0';
	return json_object_get(json_object_get(json_object_get(oas, "paths"), r->path), m);
}

/* The names of the operation's query parameters are exactly the route's query fields. */
static void check_query(const struct api_route *r, json_t *op)
{
	json_t *p;
	size_t i, n = 0;

	json_array_foreach(json_object_get(op, "parameters"), i, p)
	{
		const char *in = json_string_value(json_object_get(p, "in"));
		const char *name = json_string_value(json_object_get(p, "name"));
		int found = 0;

		if (strcmp(in, "query") != 0)
			continue;
		n++;
		for (uint32_t k = 0; k < r->query_count; k++)
			found |= strcmp(r->query[k].name, name) == 0;
		EXPECT(found, "%s %s: documented query parameter '%s' is not taken", r->method,
		       r->path, name);
	}
	EXPECT(n == r->query_count, "%s %s: %zu query parameters documented, %u taken", r->method,
	       r->path, n, r->query_count);
}

static void check_body(json_t *oas, const struct api_route *r, json_t *op)
{
	json_t *schema = json_object_get(
		json_object_get(json_object_get(json_object_get(op, "requestBody"), "content"),
				"application/json"),
		"schema");
	const char *ref = json_string_value(json_object_get(schema, "$ref"));
	json_t *props;

	EXPECT(((r->flags & API_BODY) != 0) == (schema != NULL), "%s %s: request body %s",
	       r->method, r->path,
	       schema != NULL ? "documented, not taken" : "taken, not documented");
	if (schema == NULL)
		return;
	if (ref != NULL)
		schema = oas_schema(oas, strrchr(ref, '/') + 1);
	props = json_object_get(schema, "properties");
	EXPECT(json_is_false(json_object_get(schema, "additionalProperties")),
	       "%s %s: the body schema must refuse unknown fields, as the server does", r->method,
	       r->path);
	EXPECT(json_object_size(props) == r->body_count,
	       "%s %s: %zu body fields documented, %u taken", r->method, r->path,
	       json_object_size(props), r->body_count);
	for (uint32_t k = 0; k < r->body_count; k++)
		EXPECT(json_object_get(props, r->body[k].name) != NULL,
		       "%s %s: body field '%s' not documented", r->method, r->path,
		       r->body[k].name);
}

static void check_route(json_t *oas, const struct api_route *r)
{
	json_t *op = operation(oas, r);
	json_t *resp;

	EXPECT(op != NULL, "%s %s is served but not documented", r->method, r->path);
	if (op == NULL)
		return;
	check_query(r, op);
	check_body(oas, r, op);
	resp = json_object_get(op, "responses");
	EXPECT(((r->flags & API_MUTATING) != 0) == (json_object_get(op, "security") != NULL),
	       "%s %s: security does not say whether the token is needed", r->method, r->path);
	EXPECT(((r->flags & API_MUTATING) != 0) == (json_object_get(resp, "401") != NULL),
	       "%s %s: 401 documented iff the token is needed", r->method, r->path);
	EXPECT(json_object_get(resp, "429") != NULL && json_object_get(resp, "400") != NULL,
	       "%s %s: every route may answer 400 and 429", r->method, r->path);
	EXPECT(((r->flags & API_BODY) != 0) == (json_object_get(resp, "413") != NULL),
	       "%s %s: 413 documented iff a body is taken", r->method, r->path);
	EXPECT((strchr(r->path, '{') != NULL) == (json_object_get(resp, "404") != NULL),
	       "%s %s: 404 documented iff the path names a member or VNode", r->method, r->path);
}

/* Every documented operation is a route. */
static void check_documented(json_t *oas)
{
	const char *path, *method;
	json_t *item, *op;

	json_object_foreach(json_object_get(oas, "paths"), path, item)
	{
		json_object_foreach(item, method, op)
		{
			int found = 0;

			for (uint32_t i = 0; i < api_routes_count; i++)
				found |= strcmp(api_routes[i].path, path) == 0 &&
					 strcasecmp(api_routes[i].method, method) == 0;
			EXPECT(found, "%s %s is documented but not served", method, path);
		}
	}
}

int main(int argc, char **argv)
{
	json_t *oas;
	char why[512];

	CHECK(argc == 2);
	oas = oas_load(argv[1]);
	CHECK(oas != NULL);
	if (oas_check_document(oas, why, sizeof(why)) < 0)
		fprintf(stderr, "document: %s\n", why);
	CHECK(oas_check_document(oas, why, sizeof(why)) == 0);
	for (uint32_t i = 0; i < api_routes_count; i++)
		check_route(oas, &api_routes[i]);
	check_documented(oas);
	CHECK(api_openapi_json_len > 0 && strlen(api_openapi_json) == api_openapi_json_len);
	{
		/* What pflightd serves is the file, byte for byte. */
		json_t *embedded = json_loadb(api_openapi_json, api_openapi_json_len, 0, NULL);

		CHECK(embedded != NULL && json_equal(embedded, oas));
		json_decref(embedded);
	}
	json_decref(oas);
	if (failures > 0)
		return 1;
	printf("openapi: %u routes, each documented exactly\n", api_routes_count);
	return 0;
}
