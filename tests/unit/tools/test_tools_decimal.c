/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/tools/test_tools_decimal.c
 * Goal: the one number parser of the tools (tools/common/decimal.c) takes decimal digits
 * and nothing else, bounded by the caller's maximum: the negative space is every shape
 * strtoul() and strtod() take that is not plain digits (a sign, leading or trailing
 * space, a base prefix, an exponent, a NUL inside the text, "-18446744073709551615",
 * which strtoull() turns into 1), and every value one past a bound.
 * Method: table-driven, each text with its length, so NUL bytes and unterminated text are
 * covered.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "decimal.h"

static int parse(const char *text, uint64_t max, uint64_t *ret)
{
	return decimal_parse(text, strlen(text), max, ret);
}

static void test_decimal_takes_digits(void **state)
{
	uint64_t v = 99;

	(void)state;
	assert_int_equal(parse("0", UINT64_MAX, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(parse("007", UINT64_MAX, &v), 0);
	assert_int_equal(v, 7);
	assert_int_equal(parse("4294967295", UINT32_MAX, &v), 0);
	assert_int_equal(v, UINT32_MAX);
	assert_int_equal(parse("18446744073709551615", UINT64_MAX, &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(parse("000000000000000000000000000001", 1, &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(decimal_parse("12345", 2, 100, &v), 0); /* only len bytes */
	assert_int_equal(v, 12);
}

static void test_decimal_refuses_all_but_digits(void **state)
{
	static const struct {
		const char *text;
		size_t len;
	} bad[] = {
		{"", 0},
		{"+1", 2},
		{"-1", 2},
		{" 1", 2},
		{"1 ", 2},
		{"\t1", 2},
		{"1\n", 2},
		{"0x10", 4},
		{"1e3", 3},
		{"1.0", 3},
		{"1,000", 5},
		{"١", 2},
		{"1\0", 2},
		{"\0"
		 "1",
		 2},
		{"-0", 2},
		{"-18446744073709551615", 21},
		{"+18446744073709551615", 21},
	};
	uint64_t v = 99;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (decimal_parse(bad[i].text, bad[i].len, UINT64_MAX, &v) != -EINVAL)
			print_error("'%.*s' was taken\n", (int)bad[i].len, bad[i].text);
		assert_int_equal(decimal_parse(bad[i].text, bad[i].len, UINT64_MAX, &v), -EINVAL);
	}
	assert_int_equal(v, 99); /* written on success only */
	assert_int_equal(decimal_parse(NULL, 1, 1, &v), -EINVAL);
	assert_int_equal(decimal_parse("1", 1, 1, NULL), -EINVAL);
}

static void test_decimal_bounds(void **state)
{
	uint64_t v = 99;

	(void)state;
	assert_int_equal(parse("4294967296", UINT32_MAX, &v), -ERANGE);
	assert_int_equal(parse("4294967295", UINT32_MAX - 1, &v), -ERANGE);
	assert_int_equal(parse("18446744073709551616", UINT64_MAX, &v), -ERANGE);
	assert_int_equal(parse("99999999999999999999999", UINT64_MAX, &v), -ERANGE);
	assert_int_equal(parse("1", 0, &v), -ERANGE);
	assert_int_equal(parse("10", 9, &v), -ERANGE);
	assert_int_equal(v, 99);
	assert_int_equal(parse("0", 0, &v), 0);
	assert_int_equal(v, 0);
}

static void test_decimal_real(void **state)
{
	static const char *const bad[] = {
		"",     ".5",     "5.",  ".",   "+0.5", "-0.5",  " 0.5", "0.5 ",
		"5e-1", "0x1p-1", "inf", "nan", "1..2", "1.2.3", "0,5",
	};
	double v = 99;

	(void)state;
	assert_int_equal(decimal_parse_real("0.25", 4, 1.0, &v), 0);
	assert_true(v == 0.25);
	assert_int_equal(decimal_parse_real("3", 1, 10.0, &v), 0);
	assert_true(v == 3.0);
	assert_int_equal(decimal_parse_real("1.0", 3, 1.0, &v), 0);
	assert_true(v == 1.0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (decimal_parse_real(bad[i], strlen(bad[i]), 1e9, &v) != -EINVAL)
			print_error("'%s' was taken\n", bad[i]);
		assert_int_equal(decimal_parse_real(bad[i], strlen(bad[i]), 1e9, &v), -EINVAL);
	}
	assert_int_equal(decimal_parse_real("0.5\0"
					    "1",
					    5, 1.0, &v),
			 -EINVAL);
	assert_int_equal(decimal_parse_real("1.5", 3, 1.0, &v), -ERANGE);
	assert_true(v == 1.0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decimal_takes_digits),
		cmocka_unit_test(test_decimal_refuses_all_but_digits),
		cmocka_unit_test(test_decimal_bounds),
		cmocka_unit_test(test_decimal_real),
	};

	return cmocka_run_group_tests_name("tools_decimal", tests, NULL, NULL);
}
