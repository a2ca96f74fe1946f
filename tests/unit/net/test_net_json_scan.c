/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/net/test_net_json_scan.c
 * Goal: the control socket's reply reader accepts exactly the JSON grammar for one object
 * (every kind of value, nested ones skipped) and refuses everything else, each refusal
 * with its errno; its accessors convert what the daemon writes (escapes, surrogate pairs,
 * integers at the edges of int64_t) and refuse the wrong type, a missing key, a buffer
 * too small and a string that would be cut short.
 * Method: texts written out by hand, positive and negative space.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "net/json_scan.h"

static int scan(const char *text, struct json_scan *o)
{
	return json_scan_object(text, strlen(text), o);
}

static void test_json_scan_reads_every_kind(void **state)
{
	static const char text[] =
		" {\"s\":\"a\\\"b\\\\c\\/d\\n\", \"i\": -42 ,\"big\":9223372036854775807,"
		"\"f\":1.5e3,\"t\":true,\"n\":null,\"no\":false,"
		"\"o\":{\"x\":[1,{\"y\":[]},\"z\"]},\"a\":[],\"e\":{}}\n";
	struct json_scan o;
	char buf[32];
	int64_t v;

	(void)state;
	assert_int_equal(scan(text, &o), 0);
	assert_int_equal(o.count, 10);
	assert_int_equal(json_scan_string(&o, "s", buf, sizeof(buf)), 8);
	assert_string_equal(buf, "a\"b\\c/d\n");
	assert_int_equal(json_scan_int(&o, "i", &v), 0);
	assert_int_equal(v, -42);
	assert_int_equal(json_scan_int(&o, "big", &v), 0);
	assert_true(v == INT64_MAX);
	assert_int_equal(json_scan_bool(&o, "t"), 1);
	assert_int_equal(json_scan_bool(&o, "no"), 0);
	assert_int_equal(o.m[7].type, JSON_SCAN_OBJECT);
	assert_int_equal(o.m[8].type, JSON_SCAN_ARRAY);
	assert_int_equal(o.m[5].type, JSON_SCAN_NULL);
	/* Wrong types and missing keys. */
	assert_int_equal(json_scan_int(&o, "f", &v), -EPROTO);
	assert_int_equal(json_scan_int(&o, "s", &v), -EPROTO);
	assert_int_equal(json_scan_string(&o, "i", buf, sizeof(buf)), -EPROTO);
	assert_int_equal(json_scan_bool(&o, "n"), -EPROTO);
	assert_int_equal(json_scan_bool(&o, "missing"), -ENOENT);
	assert_int_equal(json_scan_int(&o, "missing", &v), -ENOENT);
	assert_int_equal(json_scan_string(&o, "missing", buf, sizeof(buf)), -ENOENT);
	assert_int_equal(json_scan_string(&o, "s", buf, 8), -EMSGSIZE);
	assert_int_equal(scan("{}", &o), 0);
	assert_int_equal(o.count, 0);
}

static void test_json_scan_unicode_escapes(void **state)
{
	struct json_scan o;
	char buf[16];

	(void)state;
	assert_int_equal(scan("{\"u\":\"\\u00e9\\u20AC\\ud83d\\ude00!\"}", &o), 0);
	assert_int_equal(json_scan_string(&o, "u", buf, sizeof(buf)), 10);
	assert_string_equal(buf, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80!");
	assert_int_equal(json_scan_string(&o, "u", buf, 10), -EMSGSIZE);
	assert_int_equal(scan("{\"u\":\"a\\u0000b\"}", &o), 0);
	assert_int_equal(json_scan_string(&o, "u", buf, sizeof(buf)), -EPROTO);
	assert_int_equal(scan("{\"u\":\"\\ude00\"}", &o), 0);
	assert_int_equal(json_scan_string(&o, "u", buf, sizeof(buf)), -EPROTO);
	assert_int_equal(scan("{\"u\":\"\\ud83dx\"}", &o), 0);
	assert_int_equal(json_scan_string(&o, "u", buf, sizeof(buf)), -EPROTO);
	assert_int_equal(scan("{\"u\":\"\\ud83d\\u0041\"}", &o), 0);
	assert_int_equal(json_scan_string(&o, "u", buf, sizeof(buf)), -EPROTO);
}

static void test_json_scan_integer_edges(void **state)
{
	struct json_scan o;
	int64_t v;

	(void)state;
	assert_int_equal(scan("{\"a\":-9223372036854775808,\"b\":9223372036854775808,"
			      "\"c\":1e2,\"d\":0,\"e\":-0}",
			      &o),
			 0);
	assert_int_equal(json_scan_int(&o, "a", &v), 0);
	assert_true(v == INT64_MIN);
	assert_int_equal(json_scan_int(&o, "b", &v), -EPROTO);
	assert_int_equal(json_scan_int(&o, "c", &v), -EPROTO);
	assert_int_equal(json_scan_int(&o, "d", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(json_scan_int(&o, "e", &v), 0);
	assert_int_equal(v, 0);
}

static void test_json_scan_refuses_what_is_not_one_object(void **state)
{
	static const char *const bad[] = {
		"",
		"   ",
		"[]",
		"\"ok\"",
		"true",
		"{",
		"{\"a\":1",
		"{\"a\":1,}",
		"{,}",
		"{\"a\" 1}",
		"{\"a\":}",
		"{a:1}",
		"{\"a\":1}x",
		"{\"a\":1}{}",
		"{\"a\":\"x}",
		"{\"a\":\"tab\there\"}",
		"{\"a\":\"\\x\"}",
		"{\"a\":\"\\u12g4\"}",
		"{\"a\":\"\\u12\"}",
		"{\"a\":01}",
		"{\"a\":1.}",
		"{\"a\":.5}",
		"{\"a\":-}",
		"{\"a\":1e}",
		"{\"a\":+1}",
		"{\"a\":tru}",
		"{\"a\":nul}",
		"{\"a\":[1,]}",
		"{\"a\":[1 2]}",
		"{\"a\":{\"b\"}}",
		"{\"a\":1,\"a\":2}",
		"{\"a\":[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]}",
	};
	struct json_scan o;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (scan(bad[i], &o) != -EPROTO)
			fail_msg("accepted: %s", bad[i]);
	}
	/* Sixteen levels below the top one are fine, seventeen are not (above). */
	assert_int_equal(scan("{\"a\":[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]}", &o), 0);
	/* NUL inside the text is not white space. */
	assert_int_equal(json_scan_object("{}\0", 3, &o), -EPROTO);
}

static void test_json_scan_member_limit(void **state)
{
	char text[1024];
	struct json_scan o;
	int n = 0;

	(void)state;
	n += snprintf(text + n, sizeof(text) - (size_t)n, "{");
	for (unsigned i = 0; i < JSON_SCAN_MEMBERS_MAX; i++)
		n += snprintf(text + n, sizeof(text) - (size_t)n, "%s\"k%u\":%u", i ? "," : "", i,
			      i);
	(void)snprintf(text + n, sizeof(text) - (size_t)n, "}");
	assert_int_equal(scan(text, &o), 0);
	assert_int_equal(o.count, JSON_SCAN_MEMBERS_MAX);
	(void)snprintf(text + n, sizeof(text) - (size_t)n, ",\"one_more\":1}");
	assert_int_equal(scan(text, &o), -EMSGSIZE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_scan_reads_every_kind),
		cmocka_unit_test(test_json_scan_unicode_escapes),
		cmocka_unit_test(test_json_scan_integer_edges),
		cmocka_unit_test(test_json_scan_refuses_what_is_not_one_object),
		cmocka_unit_test(test_json_scan_member_limit),
	};

	return cmocka_run_group_tests_name("net_json_scan", tests, NULL, NULL);
}
