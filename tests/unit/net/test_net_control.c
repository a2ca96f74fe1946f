/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/net/test_net_control.c
 * Goal: the client side of the control socket does what pflight/control.h says: the
 * path rule (the override, where the daemon binds, the first client candidate that
 * exists, the domain-name rule of the segment's own name, the length limits); one
 * request and one reply per connection, with its refusals (no daemon, no reply in time,
 * a reply too long, a request with a newline); and a presented token's answer mapped to
 * its errno, its claims read only when a token could hold them.
 * Method: environment variables set per case; a server thread on a SOCK_SEQPACKET socket
 * in a private directory answers each connection with the next canned reply.
 */
#include <errno.h>
#include <pthread.h>
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

/* ---- a daemon that answers each connection with the next canned reply ---- */

#define REPLIES_MAX 16

struct server {
	int fd;
	const char *const *replies; /* NULL entry: accept, read, answer nothing */
	size_t count;
	char got[REPLIES_MAX][32]; /* the request of each connection, read after the join */
};

static void *server_main(void *arg)
{
	struct server *sv = arg;

	for (size_t i = 0; i < sv->count; i++) {
		int c = accept(sv->fd, NULL, NULL);
		char byte;
		ssize_t n;

		if (c < 0)
			return NULL;
		n = recv(c, sv->got[i], sizeof(sv->got[i]) - 1, 0);
		sv->got[i][n > 0 ? n : 0] = '\0';
		if (sv->replies[i] != NULL)
			(void)send(c, sv->replies[i], strlen(sv->replies[i]), MSG_NOSIGNAL);
		else
			(void)recv(c, &byte, 1, 0); /* until the client gives up */
		(void)close(c);
	}
	return NULL;
}

static void test_control_request_and_present(void **state)
{
	static const char *const replies[] = {
		"{\"ok\":true}",
		"{\"ok\":true,\"padding\":\"0123456789\"}",
		NULL,
		"{\"ok\":false,\"error\":\"expired\"}",
		"{\"ok\":false,\"error\":\"wrong_uid\"}",
		"{\"ok\":false,\"error\":\"peer_gone\"}",
		"{\"ok\":false,\"error\":\"bored\"}",
		"not json",
		"{\"ok\":true,\"domain\":\"dom\",\"caps\":\"gpu,ssd\",\"trust_ppm\":250000,"
		"\"expires\":1900000000}",
		"{\"ok\":true,\"domain\":\"dom\",\"caps\":\"\",\"trust_ppm\":2000000,"
		"\"expires\":1900000000}",
		"{\"ok\":true,\"domain\":\"dom\",\"caps\":\"\",\"trust_ppm\":-1,"
		"\"expires\":1900000000}",
		"{\"ok\":true,\"domain\":\"dom\",\"caps\":\"\",\"trust_ppm\":1,\"expires\":0}",
		"{\"ok\":true,\"domain\":\"../x\",\"caps\":\"\",\"trust_ppm\":1,"
		"\"expires\":1900000000}",
		/* What pflightd writes: more members than the claims, in any order. */
		"{\"peer_pid\":12, \"ok\" : true,\"caps\":\"a\\u002cb\",\"domain\":\"dom\","
		"\"trust_ppm\":7,\"expires\":5,\"later\":{\"x\":[1,null]}}\n",
	};
	struct server sv = {.replies = replies, .count = sizeof(replies) / sizeof(replies[0])};
	struct pf_token_claims cl = {.size = sizeof(cl)};
	char path[PF_CONTROL_PATH_MAX], reply[64], gone[PF_CONTROL_PATH_MAX];
	pthread_t t;

	(void)state;
	(void)snprintf(path, sizeof(path), "%s/d.sock", dir);
	(void)snprintf(gone, sizeof(gone), "%s/nobody.sock", dir);
	sv.fd = listen_at(path);
	assert_true(sv.count <= REPLIES_MAX);
	assert_int_equal(pthread_create(&t, NULL, server_main, &sv), 0);
	/* Refused before connecting. */
	assert_int_equal(pf_control_request(path, "a\nb", reply, sizeof(reply), 0), -EINVAL);
	assert_int_equal(pf_control_request(path, "", reply, sizeof(reply), 0), -EINVAL);
	assert_int_equal(pf_control_request(gone, "status", reply, sizeof(reply), 0), -ENOENT);
	/* One request, one reply; a reply that does not fit; no reply in time. */
	assert_int_equal(pf_control_request(path, "status", reply, sizeof(reply), 0), 11);
	assert_string_equal(reply, "{\"ok\":true}");
	assert_int_equal(pf_control_request(path, "status", reply, 16, 0), -EMSGSIZE);
	assert_int_equal(pf_control_request(path, "status", reply, sizeof(reply), 50), -ETIMEDOUT);
	/* A token's refusals, by the daemon's word; one it does not know is -EPROTO. */
	assert_int_equal(pf_control_present(path, "tok", &cl), -EKEYEXPIRED);
	assert_int_equal(pf_control_present(path, "tok", &cl), -EACCES);
	assert_int_equal(pf_control_present(path, "tok", &cl), -ESRCH);
	assert_int_equal(pf_control_present(path, "tok", &cl), -EPROTO);
	assert_int_equal(pf_control_present(path, "tok", &cl), -EPROTO); /* not JSON */
	/* Granted: the claims as the daemon read them. */
	assert_int_equal(pf_control_present(path, "tok", &cl), 0);
	assert_string_equal(cl.domain, "dom");
	assert_string_equal(cl.caps, "gpu,ssd");
	assert_int_equal(cl.trust_ppm, 250000);
	assert_int_equal(cl.expires, 1900000000);
	assert_int_equal(cl.uid, PF_TOKEN_NO_UID);
	/* Claims no token can hold are not the daemon's answer: -EPROTO, *ret untouched. */
	assert_int_equal(pf_control_present(path, "tok", &cl), -EPROTO); /* trust over 1 */
	assert_int_equal(pf_control_present(path, "tok", &cl), -EPROTO); /* trust below 0 */
	assert_int_equal(pf_control_present(path, "tok", &cl), -EPROTO); /* never expires */
	assert_int_equal(pf_control_present(path, "tok", &cl), -EPROTO); /* not a domain */
	assert_int_equal(cl.trust_ppm, 250000);
	assert_int_equal(pf_control_present(path, "tok", &cl), 0);
	assert_string_equal(cl.caps, "a,b");
	assert_int_equal(cl.trust_ppm, 7);
	assert_int_equal(cl.expires, 5);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_string_equal(sv.got[0], "status");
	assert_string_equal(sv.got[3], "join-token tok");
	assert_int_equal(pf_control_present(path, NULL, &cl), -EINVAL);
	(void)close(sv.fd);
}

/* The refusals' words: one per errno of pf_control_present()'s list, none for others. */
static void test_control_refusal_names(void **state)
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_control_refusal_names),
		cmocka_unit_test_setup_teardown(test_control_path_rule, setup, teardown),
		cmocka_unit_test_setup_teardown(test_control_request_and_present, setup, teardown),
	};

	return cmocka_run_group_tests_name("net_control", tests, NULL, NULL);
}
