/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/tools/test_build_info.c
 * Goal: the git revision the tools report is one that every place printing it unescaped
 * takes as is: the daemon_start record's JSON, the pflight_build_info Prometheus label,
 * GET /api/v1 and --version. A revision with a quote, a backslash, a brace, a space or a
 * control character (git allows a `"` in a tag name), or longer than BUILD_REV_MAX (which
 * would overrun the metric's fixed buffer), is not plain; the build's own revision is.
 * Method: build_revision_plain() over plain and hostile names, each one character off the
 * limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "build_info.h"

static void test_plain_revisions(void **state)
{
	char longest[BUILD_REV_MAX + 2];

	(void)state;
	assert_true(build_revision_plain(""));
	assert_true(build_revision_plain("0123456789ab"));
	assert_true(build_revision_plain("v0.1.0-3-g0123456789ab-dirty"));
	assert_true(build_revision_plain("release/0.1_rc+1"));
	memset(longest, 'a', BUILD_REV_MAX);
	longest[BUILD_REV_MAX] = '\0';
	assert_true(build_revision_plain(longest));
	longest[BUILD_REV_MAX] = 'a';
	longest[BUILD_REV_MAX + 1] = '\0';
	assert_false(build_revision_plain(longest));
}

static void test_hostile_revisions(void **state)
{
	static const char *const bad[] = {
		"v1\"}, \"forged\": {\"",
		"v1\\",
		"v1}",
		"v1{",
		"v1 2",
		"v1\n2",
		"v1\t",
		"v1\x7f",
		"v1\xc3\xa9",
		"v1,x=\"y",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(build_revision_plain(bad[i]));
}

static void test_own_revision(void **state)
{
	(void)state;
	assert_true(build_revision_plain(build_revision()));
	assert_true(strlen(build_revision()) <= BUILD_REV_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_revisions),
		cmocka_unit_test(test_hostile_revisions),
		cmocka_unit_test(test_own_revision),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
