/* SPDX-License-Identifier: MIT */
/*
 * tests/integration/test_cli.c
 * Goal: `pflight` reports what the domain holds, in tables and in JSON, sends messages,
 * and keeps its documented exit codes (0 ok, 2 usage, 3 no domain); a number argument is
 * decimal digits only, anything else a usage error that names the argument. Method: this test
 * builds a domain with members, capabilities and VNodes, runs the real binary (path given
 * by meson) and checks its JSON against the library's own view.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "pflight/pflight.h"
#include "tests/common/proc_util.h"
#include "tests/common/test_util.h"

static const char *cli;
static char name[64];

/* Run pflight with args; returns its exit status and its stdout in *out (caller frees). */
static int run(const char *args, char **out)
{
	char cmd[1024];

	(void)snprintf(cmd, sizeof(cmd), "%s %s 2>/dev/null", cli, args);
	return proc_capture(cmd, out);
}

/* Run pflight with args; returns its exit status and its stderr in *err (caller frees). */
static int run_err(const char *args, char **err)
{
	char cmd[2048];

	(void)snprintf(cmd, sizeof(cmd), "%s %s 2>&1 >/dev/null", cli, args);
	return proc_capture(cmd, err);
}

/* A number argument that is not decimal digits alone, or out of range: exit 2 (usage),
 * and stderr names the argument (what) and quotes what was given. */
static void refused_number(const char *args, const char *what, const char *given)
{
	char line[1024], want[128], *err;
	int rc;

	(void)snprintf(line, sizeof(line), "--domain %s %s", name, args);
	rc = run_err(line, &err);
	(void)snprintf(want, sizeof(want), "%s '%s'", what, given);
	if (rc != 2 || strstr(err, want) == NULL)
		fprintf(stderr, "pflight %s: exit %d, no \"%s\" in: %s\n", args, rc, want, err);
	CHECK(rc == 2 && strstr(err, want) != NULL);
	free(err);
}

/* A domain name that no domain can have: exit 2 (usage), and stderr says where the name
 * came from and quotes it (want). */
static void refused_domain(const char *args, const char *want)
{
	char *err;
	int rc = run_err(args, &err);

	if (rc != 2 || strstr(err, want) == NULL || strstr(err, "not a domain name") == NULL)
		fprintf(stderr, "pflight %s: exit %d, no \"%s\" in: %s\n", args, rc, want, err);
	CHECK(rc == 2 && strstr(err, want) != NULL && strstr(err, "not a domain name") != NULL);
	free(err);
}

static json_t *run_json(const char *args)
{
	char cmd[512], *out;
	json_error_t err;
	json_t *doc;

	(void)snprintf(cmd, sizeof(cmd), "--domain %s --json %s", name, args);
	CHECK(run(cmd, &out) == 0);
	doc = json_loads(out, 0, &err);
	if (doc == NULL)
		fprintf(stderr, "not JSON (%s): %s\n", err.text, out);
	CHECK(doc != NULL);
	free(out);
	return doc;
}

int main(int argc, char **argv)
{
	const char *caps[] = {"gpu", "ssd"};
	struct pf_member_opts mo;
	struct pf_domain_opts o;
	struct pf_domain *d;
	struct pf_member *m;
	struct pf_vnode *v;
	json_t *doc, *first;
	char *out, buf[64], args[256];
	size_t len;

	CHECK(argc == 2);
	cli = argv[1];
	test_domain_name(name, sizeof(name), "cli");
	pf_domain_opts_init(&o);
	o.flags = PF_DOMAIN_REPLACE;
	o.members_max = 8;
	o.vnodes_max = 16;
	CHECK(pf_domain_create(name, &o, &d) == 0);
	pf_member_opts_init(&mo);
	mo.caps = caps;
	mo.caps_count = 2;
	CHECK(pf_member_join(d, &mo, &m) == 0);
	CHECK(pf_vnode_define_range(d, 0, 10, NULL) == 10);
	for (uint32_t i = 0; i < 4; i++) /* by id: a claim's placement round would take all */
		CHECK(pf_vnode_claim_id(m, i, &v) == 0);

	doc = run_json("status");
	CHECK(json_integer_value(json_object_get(doc, "members_active")) == 1);
	CHECK(json_integer_value(json_object_get(doc, "vnodes_active")) == 4);
	CHECK(json_integer_value(json_object_get(doc, "vnodes_pending")) == 6);
	json_decref(doc);

	doc = run_json("members");
	CHECK(json_array_size(doc) == 1);
	first = json_array_get(doc, 0);
	CHECK(strcmp(json_string_value(json_object_get(first, "state")), "active") == 0);
	CHECK(json_integer_value(json_object_get(first, "pid")) == getpid());
	CHECK(json_array_size(json_object_get(first, "capabilities")) == 2);
	json_decref(doc);

	doc = run_json("vnodes --state pending");
	CHECK(json_array_size(doc) == 6);
	json_decref(doc);
	doc = run_json("vnodes --limit 3");
	CHECK(json_array_size(doc) == 3);
	json_decref(doc);

	doc = run_json("capabilities");
	CHECK(json_array_size(doc) == 2);
	CHECK(strcmp(json_string_value(json_object_get(json_array_get(doc, 1), "name")), "ssd") ==
	      0);
	json_decref(doc);

	doc = run_json("stat");
	CHECK(json_integer_value(json_object_get(doc, "joins")) == 1);
	json_decref(doc);

	/* send: the owner receives it. */
	(void)snprintf(args, sizeof(args), "send %u hello", pf_vnode_id(v));
	doc = run_json(args);
	json_decref(doc);
	CHECK(pf_recv(v, buf, sizeof(buf), &len) == 0 && len == 5 && memcmp(buf, "hello", 5) == 0);

	/* Numbers are decimal digits and nothing else: a sign, a space or a prefix is a usage
	 * error naming the argument, and nothing is sent (strtoull() read the last as 1). */
	refused_number("send +1 hello", "<vnode>", "+1");
	refused_number("send ' 1' hello", "<vnode>", " 1");
	refused_number("send -18446744073709551615 hello", "<vnode>", "-18446744073709551615");
	refused_number("send 0x1 hello", "<vnode>", "0x1");
	refused_number("send 4294967296 hello", "<vnode>", "4294967296");
	for (uint32_t i = 0; i < 3; i++) { /* 3 holds the message above */
		struct pf_vnode_info vi = {.size = sizeof(vi)};

		CHECK(pf_vnode_info(d, i, &vi) == 0 && vi.inbox_depth == 0);
	}
	refused_number("vnodes --limit +3", "--limit", "+3");
	refused_number("decisions --limit ' 5'", "--limit", " 5");
	refused_number("decisions --vnode -1", "--vnode", "-1");
	refused_number("drain +1 --no-wait", "<slot>", "+1");
	refused_number("drain 0 --timeout 1e3", "--timeout", "1e3");
	refused_number("migrate 1 +0 --no-wait", "<slot>", "+0");
	refused_number("migrate ' 1' 0 --no-wait", "<vnode>", " 1");

	/* Tables for people, and the exit codes. */
	(void)snprintf(args, sizeof(args), "--domain %s members", name);
	CHECK(run(args, &out) == 0 && strstr(out, "gpu,ssd") != NULL);
	free(out);
	CHECK(run("--domain pft-cli-no-such-domain status", &out) == 3);
	free(out);
	/* A name no domain can have is bad usage (2), not a domain that cannot be opened. */
	refused_domain("--domain a/b status", "--domain 'a/b'");
	refused_domain("--domain .hidden members", "--domain '.hidden'");
	refused_domain("--domain '' stat", "--domain ''");
	refused_domain("--domain "
		       "x123456789x123456789x123456789x123456789x123456789x123456789x1234 status",
		       "--domain 'x123456789");
	refused_domain("--domain 'a b' vnodes", "--domain 'a b'");
	refused_domain("--domain a/b send 1 hello", "--domain 'a/b'");
	CHECK(setenv("PFLIGHT_DOMAIN", "a/b", 1) == 0);
	refused_domain("status", "PFLIGHT_DOMAIN 'a/b'");
	CHECK(unsetenv("PFLIGHT_DOMAIN") == 0);
	(void)snprintf(args, sizeof(args), "--domain %s frobnicate", name);
	CHECK(run(args, &out) == 2);
	free(out);
	(void)snprintf(args, sizeof(args), "--domain %s vnodes --state sideways", name);
	CHECK(run(args, &out) == 2);
	free(out);
	CHECK(run("help vnodes", &out) == 0 && strstr(out, "--state") != NULL);
	free(out);
	CHECK(run("members --help", &out) == 0 && strstr(out, "usage") != NULL);
	free(out);

	CHECK(pf_member_leave(m) == 0);
	CHECK(pf_domain_destroy(d) == 0);
	printf("pflight: status, members, vnodes, capabilities, stat, send and exit codes ok\n");
	return 0;
}
