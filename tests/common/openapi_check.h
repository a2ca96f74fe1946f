/* SPDX-License-Identifier: MIT */
/*
 * tests/common/openapi_check.h: checking real responses against an OpenAPI 3.0 document.
 *
 * A small validator for the JSON Schema subset the document uses: $ref (to
 * #/components/...), type (object, array, string, integer, number, boolean), nullable,
 * enum, required, properties, additionalProperties (false, true or a schema), items,
 * minimum and maximum. Any other validation keyword found in a schema is itself an error
 * (oas_check_document), so the document cannot rely on something this checker ignores.
 */
#ifndef PF_TEST_OPENAPI_CHECK_H
#define PF_TEST_OPENAPI_CHECK_H

#include <jansson.h>
#include <stddef.h>

/* Load the document; NULL when it does not parse (reason printed). */
json_t *oas_load(const char *path);

/*
 * The response (method, concrete path without its query, status, parsed JSON body) as the
 * document describes it: the path matches a template ({x} matching one segment), the
 * operation lists the status, and the body validates against its application/json
 * schema. A status for a method the path does not have (405), or a path the document
 * does not have (404), must be an Error. 0, or -1 with the first reason in why.
 */
int oas_check_response(json_t *oas, const char *method, const char *path, long status, json_t *body,
		       char *why, size_t cap);

/* Validate value against schema (may be a $ref). 0, or -1 with the reason in why. */
int oas_validate(json_t *oas, json_t *schema, json_t *value, const char *at, char *why, size_t cap);

/* The named component schema ("Error"), or NULL. */
json_t *oas_schema(json_t *oas, const char *name);

/* Check the document itself: every $ref resolves, every schema keyword is one this
 * checker knows, every operation has responses with a schema. 0, or -1 and why. */
int oas_check_document(json_t *oas, char *why, size_t cap);

#endif /* PF_TEST_OPENAPI_CHECK_H */
