/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/net/test_net_control.c
 * Goal: the client side of the control socket does what pflight/control.h says: the
 * path rule (the override, where the daemon binds, the first client candidate that
 * exists, the domain-name rule of the segment's own name, the length limits); one
 * request and one reply per connection, with its refusals (no daemon, no reply in time,
 * a reply too long, a request with a newline); a listener that is not the daemon (another
 * uid than root or the one named: uid 65534 here) refused with nothing sent to it.
 * Method: environment variables set per case; a server thread on a SOCK_SEQPACKET socket
 * in a private directory answers each connection with the next canned reply
 * (tests/common/reply_server.c).
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
#include "tests/common/reply_server.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	(void)snprintf(dir, sizeof(dir), "/tmp/pft-control-%d", (int)getpid());
	(void)unsetenv("PFLIGHT_CONTROL");
	(void)unsetenv("RUNTIME_DIRECTORY");
	(void)unsetenv("XDG_RUNTIME_DIR");
	return mkdir(dir, 0700) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	(void)snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_control_path_rule(void **state)
{
	char buf[PF_CONTROL_PATH_MAX], want[PF_CONTROL_PATH_MAX + 32], xdg[80];
	char long_name[PF_DOMAIN_NAME_MAX + 2];
	int fd;

	(void)state;
	/* The domain name follows the segment's rule. */
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	assert_int_equal(pf_control_path("", 0, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(pf_control_path(".hidden", 0, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(pf_control_path("a/b", 0, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(pf_control_path(long_name, 0, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(pf_control_path(NULL, 0, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(pf_control_path("ok", 2, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(pf_control_path("ok", 0, buf, 8), -ENAMETOOLONG);
	/* No socket anywhere: the daemon's usual place. */
	assert_int_equal(pf_control_path("Dom_1.x-y", 0, buf, sizeof(buf)),
			 (int)strlen("/run/pflight/Dom_1.x-y.sock"));
	assert_string_equal(buf, "/run/pflight/Dom_1.x-y.sock");
	/* The first candidate that exists, for a client; where it binds, for the daemon. */
	(void)snprintf(xdg, sizeof(xdg), "%s/xdg", dir);
	assert_int_equal(mkdir(xdg, 0700), 0);
	assert_int_equal(setenv("XDG_RUNTIME_DIR", xdg, 1), 0);
	(void)snprintf(want, sizeof(want), "%s/pflight-dom.sock", xdg);
	fd = reply_server_listen(want);
	assert_true(fd >= 0);
	assert_true(pf_control_path("dom", 0, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, want);
	assert_true(pf_control_path("dom", PF_CONTROL_PATH_SERVER, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, geteuid() == 0 ? "/run/pflight/dom.sock" : want);
	assert_int_equal(setenv("RUNTIME_DIRECTORY", "/run/unit:/run/other", 1), 0);
	assert_true(pf_control_path("dom", PF_CONTROL_PATH_SERVER, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "/run/unit/dom.sock");
	/* The override wins, for both sides. */
	assert_int_equal(setenv("PFLIGHT_CONTROL", "/x/y.sock", 1), 0);
	assert_int_equal(pf_control_path("dom", 0, buf, sizeof(buf)), 9);
	assert_string_equal(buf, "/x/y.sock");
	assert_int_equal(pf_control_path("dom", PF_CONTROL_PATH_SERVER, buf, sizeof(buf)), 9);
	(void)close(fd);
	(void)unsetenv("PFLIGHT_CONTROL");
	(void)unsetenv("RUNTIME_DIRECTORY");
	(void)unsetenv("XDG_RUNTIME_DIR");
}

static void test_control_request(void **state)
{
	static const char *const replies[] = {
		"{\"ok\":true}",
		"{\"ok\":true,\"padding\":\"0123456789\"}",
		NULL,
	};
	const uint32_t me = (uint32_t)geteuid(); /* the server's uid: the daemon's */
	struct reply_server sv;
	char path[PF_CONTROL_PATH_MAX], reply[64], gone[PF_CONTROL_PATH_MAX];

	(void)state;
	(void)snprintf(path, sizeof(path), "%s/d.sock", dir);
	(void)snprintf(gone, sizeof(gone), "%s/nobody.sock", dir);
	assert_int_equal(
		reply_server_start(&sv, path, replies, sizeof(replies) / sizeof(replies[0])), 0);
	/* Refused before connecting. */
	assert_int_equal(pf_control_request(path, me, "a\nb", reply, sizeof(reply), 0), -EINVAL);
	assert_int_equal(pf_control_request(path, me, "", reply, sizeof(reply), 0), -EINVAL);
	assert_int_equal(pf_control_request(NULL, me, "status", reply, sizeof(reply), 0), -EINVAL);
	assert_int_equal(pf_control_request(path, me, "status", reply, 0, 0), -EINVAL);
	assert_int_equal(pf_control_request(gone, me, "status", reply, sizeof(reply), 0), -ENOENT);
	/* One request, one reply; a reply that does not fit; no reply in time. */
	assert_int_equal(pf_control_request(path, me, "status", reply, sizeof(reply), 0), 11);
	assert_string_equal(reply, "{\"ok\":true}");
	assert_int_equal(pf_control_request(path, me, "status", reply, 16, 0), -EMSGSIZE);
	assert_int_equal(pf_control_request(path, me, "status", reply, sizeof(reply), 50),
			 -ETIMEDOUT);
	assert_int_equal(reply_server_join(&sv), 0);
	assert_string_equal(sv.got[0], "status");
}

/* A listener of another uid (one that bound the path first: pflightd then had none) is
 * not the daemon: the client sees whose it is (SO_PEERCRED) and sends it nothing. One of
 * the daemon's uid is. As root the listener is uid 65534; otherwise this uid, with
 * another uid named as the daemon's. */
static void test_control_request_refuses_other_uid(void **state)
{
	const uint32_t other = 65534u;
	uint32_t daemon_uid = (uint32_t)geteuid();
	char path[PF_CONTROL_PATH_MAX], reply[64];
	struct squatter sq;

	(void)state;
	(void)snprintf(path, sizeof(path), "%s/d.sock", dir);
	if (geteuid() == 0)
		assert_int_equal(chown(dir, other, other), 0); /* it may bind there */
	else
		daemon_uid = (uint32_t)geteuid() + 1u;
	assert_int_equal(squatter_start(&sq, path, other), 0);
	assert_int_equal(pf_control_request(path, daemon_uid, "join-token pft1.secret", reply,
					    sizeof(reply), 0),
			 -EPERM);
	assert_int_equal(squatter_join(&sq), 0); /* not one byte */
	if (geteuid() != 0)
		return;
	/* The daemon's uid, named: talked to. */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(squatter_start(&sq, path, other), 0);
	assert_int_equal(pf_control_request(path, other, "status", reply, sizeof(reply), 0), 11);
	assert_int_equal(squatter_join(&sq), 6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_control_path_rule, setup, teardown),
		cmocka_unit_test_setup_teardown(test_control_request, setup, teardown),
		cmocka_unit_test_setup_teardown(test_control_request_refuses_other_uid, setup,
						teardown),
	};

	return cmocka_run_group_tests_name("net_control", tests, NULL, NULL);
}
