/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/net/test_net_control.c
 * Goal: the client side of the control socket does what pflight/control.h says: the
 * path rule (the override, where the daemon binds, the first client candidate that
 * exists, the domain-name rule of the segment's own name, the length limits).
 * Method: environment variables set per case; sockets bound in a private directory.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "pflight/pflight.h"

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

static int listen_at(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_true(strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	assert_int_equal(bind(fd, (const struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 8), 0);
	return fd;
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
	fd = listen_at(want);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_control_path_rule, setup, teardown),
	};

	return cmocka_run_group_tests_name("net_control", tests, NULL, NULL);
}
