/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/ctl/test_ctl_token_present.c
 * Goal: a join token presented to the daemon (pf_control_present(), pflight/token.h) gets
 * the daemon's answer mapped to its errno, by the protocol's words for a refusal (and
 * pf_control_refusal_name() gives those words back); a grant's claims are read only when a
 * token could hold them, whatever else the daemon writes beside them (members in any order,
 * nested values, as many more members as a later daemon may add), and *ret is untouched
 * otherwise; what is not one JSON object is -EPROTO. A token is never sent to a listener
 * that is not the daemon (uid 65534 that bound the path first): -EPERM.
 * Method: a server thread on a SOCK_SEQPACKET socket in a private directory answers each
 * connection with the next canned reply (tests/common/reply_server.c).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "pflight/control.h"
#include "pflight/token.h"
#include "tests/common/reply_server.h"

#define GRANT "{\"ok\":true,\"domain\":\"dom\",\"caps\":"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	(void)snprintf(dir, sizeof(dir), "/tmp/pft-token-present-%d", (int)getpid());
	return mkdir(dir, 0700) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	(void)snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* The refusals' words: one per errno of pf_control_present()'s list, none for others. */
static void test_token_present_refusal_names(void **state)
{
	static const struct {
		int err;
		const char *word;
	} want[] = {{-EKEYREJECTED, "forged"}, {-EKEYEXPIRED, "expired"}, {-EBADMSG, "malformed"},
		    {-EXDEV, "other_domain"},  {-EACCES, "wrong_uid"},    {-ESRCH, "peer_gone"}};

	(void)state;
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		assert_string_equal(pf_control_refusal_name(want[i].err), want[i].word);
	assert_null(pf_control_refusal_name(0));
	assert_null(pf_control_refusal_name(-EPROTO));
	assert_null(pf_control_refusal_name(EACCES)); /* errnos are negative */
}

/* Each refusal word the daemon may answer, and what is not one: its errno. */
static void test_token_present_refusals(void **state)
{
	static const char *const replies[] = {
		"{\"ok\":false,\"error\":\"forged\"}",
		"{\"ok\":false,\"error\":\"expired\"}",
		"{\"ok\":false,\"error\":\"malformed\"}",
		"{\"ok\":false,\"error\":\"other_domain\"}",
		"{\"ok\":false,\"error\":\"wrong_uid\"}",
		"{\"ok\":false,\"error\":\"peer_gone\"}",
		"{\"ok\":false,\"error\":\"bored\"}",
		"{\"ok\":false}",
		"{\"ok\":\"yes\",\"domain\":\"dom\",\"caps\":\"\",\"trust_ppm\":1,\"expires\":5}",
		"not json",
		"[\"ok\",true]",
		"{\"ok\":true,\"ok\":true}",
		"{\"ok\":true} trailing",
	};
	static const int want[] = {-EKEYREJECTED, -EKEYEXPIRED, -EBADMSG, -EXDEV,  -EACCES,
				   -ESRCH,        -EPROTO,      -EPROTO,  -EPROTO, -EPROTO,
				   -EPROTO,       -EPROTO,      -EPROTO};
	const uint32_t me = (uint32_t)geteuid(); /* the server's uid: the daemon's */
	struct pf_token_claims cl = {.size = sizeof(cl)};
	struct reply_server sv;
	char path[PF_CONTROL_PATH_MAX];
	size_t n = sizeof(replies) / sizeof(replies[0]);

	(void)state;
	_Static_assert(sizeof(want) / sizeof(want[0]) == sizeof(replies) / sizeof(replies[0]),
		       "one errno per reply");
	(void)snprintf(path, sizeof(path), "%s/d.sock", dir);
	assert_int_equal(reply_server_start(&sv, path, replies, n), 0);
	for (size_t i = 0; i < n; i++) {
		int r = pf_control_present(path, me, "tok", &cl);

		if (r != want[i])
			fail_msg("reply %zu (%s): %d, want %d", i, replies[i], r, want[i]);
	}
	assert_int_equal(reply_server_join(&sv), 0);
	assert_string_equal(sv.got[0], "join-token tok");
	assert_int_equal(cl.trust_ppm, 0); /* never written */
	/* Refused before asking. */
	assert_int_equal(pf_control_present(path, me, NULL, &cl), -EINVAL);
	cl.size = sizeof(cl) - 1;
	assert_int_equal(pf_control_present(path, me, "tok", &cl), -EINVAL);
	assert_int_equal(pf_control_present(path, me, "tok", NULL),
			 -ECONNREFUSED); /* nobody there */
}

/* Granted: the claims as the daemon read them, only when a token could hold them. */
static void test_token_present_grants(void **state)
{
	char later[2048];
	const char *replies[] = {
		GRANT "\"gpu,ssd\",\"trust_ppm\":250000,\"expires\":1900000000}",
		GRANT "\"\",\"trust_ppm\":2000000,\"expires\":1900000000}", /* trust over 1 */
		GRANT "\"\",\"trust_ppm\":-1,\"expires\":1900000000}",      /* below 0 */
		GRANT "\"\",\"trust_ppm\":1,\"expires\":0}",                /* never expires */
		GRANT "\"\",\"trust_ppm\":1.5,\"expires\":5}",              /* not an integer */
		GRANT "\"a,,b\",\"trust_ppm\":1,\"expires\":5}",            /* not a cap list */
		GRANT "7,\"trust_ppm\":1,\"expires\":5}",                   /* not a string */
		"{\"ok\":true,\"domain\":\"../x\",\"caps\":\"\",\"trust_ppm\":1,\"expires\":5}",
		"{\"ok\":true,\"caps\":\"\",\"trust_ppm\":1,\"expires\":5}", /* no domain */
		"{\"ok\":true,\"domain\":\"d\\u0000\",\"caps\":\"\",\"trust_ppm\":1,\"expires\":5}",
		/* What pflightd writes: more members than the claims, in any order. */
		"{\"peer_pid\":12, \"ok\" : true,\"caps\":\"a\\u002cb\",\"domain\":\"dom\","
		"\"trust_ppm\":7,\"expires\":5,\"later\":{\"x\":[1,null]}}\n",
		later, /* a later daemon's grant, with many more members: built below */
		"{\"ok\":true}",
	};
	const uint32_t me = (uint32_t)geteuid(); /* the server's uid: the daemon's */
	struct pf_token_claims cl = {.size = sizeof(cl)};
	struct reply_server sv;
	char path[PF_CONTROL_PATH_MAX];
	size_t n = 0;

	(void)state;
	n += (size_t)snprintf(later, sizeof(later), GRANT "\"\",\"trust_ppm\":9,\"expires\":6");
	for (int i = 0; i < 64; i++)
		n += (size_t)snprintf(later + n, sizeof(later) - n, ",\"x%d\":%d", i, i);
	assert_true(n + 2 < sizeof(later));
	memcpy(later + n, "}", 2);
	(void)snprintf(path, sizeof(path), "%s/d.sock", dir);
	assert_int_equal(
		reply_server_start(&sv, path, replies, sizeof(replies) / sizeof(replies[0])), 0);
	assert_int_equal(pf_control_present(path, me, "tok", &cl), 0);
	assert_int_equal(cl.size, sizeof(cl));
	assert_string_equal(cl.domain, "dom");
	assert_string_equal(cl.caps, "gpu,ssd");
	assert_int_equal(cl.trust_ppm, 250000);
	assert_int_equal(cl.expires, 1900000000);
	assert_int_equal(cl.uid, PF_TOKEN_NO_UID);
	/* Claims no token can hold are not the daemon's answer: -EPROTO, *ret untouched. */
	for (int i = 0; i < 9; i++)
		assert_int_equal(pf_control_present(path, me, "tok", &cl), -EPROTO);
	assert_int_equal(cl.trust_ppm, 250000);
	assert_string_equal(cl.caps, "gpu,ssd");
	assert_int_equal(pf_control_present(path, me, "tok", &cl), 0);
	assert_string_equal(cl.caps, "a,b");
	assert_int_equal(cl.trust_ppm, 7);
	assert_int_equal(cl.expires, 5);
	assert_int_equal(pf_control_present(path, me, "tok", &cl), 0);
	assert_string_equal(cl.caps, "");
	assert_int_equal(cl.trust_ppm, 9);
	assert_int_equal(cl.expires, 6);
	/* No claims asked for: a grant is 0 whatever it holds. */
	assert_int_equal(pf_control_present(path, me, "tok", NULL), 0);
	assert_int_equal(reply_server_join(&sv), 0);
}

/* A token is never sent to a listener that is not the daemon (another uid bound the path
 * first): -EPERM, the listener got nothing, the claims are untouched. */
static void test_token_present_not_to_other_uid(void **state)
{
	const uint32_t other = 65534u;
	uint32_t daemon_uid = (uint32_t)geteuid();
	struct pf_token_claims cl = {.size = sizeof(cl), .trust_ppm = 77};
	char path[PF_CONTROL_PATH_MAX];
	struct squatter sq;

	(void)state;
	(void)snprintf(path, sizeof(path), "%s/d.sock", dir);
	if (geteuid() == 0)
		assert_int_equal(chown(dir, other, other), 0);
	else
		daemon_uid = (uint32_t)geteuid() + 1u;
	assert_int_equal(squatter_start(&sq, path, other), 0);
	assert_int_equal(pf_control_present(path, daemon_uid, "pft1.secret", &cl), -EPERM);
	assert_int_equal(squatter_join(&sq), 0);
	assert_int_equal(cl.trust_ppm, 77);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token_present_refusal_names),
		cmocka_unit_test_setup_teardown(test_token_present_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_token_present_grants, setup, teardown),
		cmocka_unit_test_setup_teardown(test_token_present_not_to_other_uid, setup,
						teardown),
	};

	return cmocka_run_group_tests_name("ctl_token_present", tests, NULL, NULL);
}
