/* SPDX-License-Identifier: MIT */
/*
 * tests/integration/test_cli_offline.c
 * Goal: the `pflight` commands that work on files, not a domain: `token issue` makes a
 * token that `token verify` accepts with the right public key (exit 0) and refuses with
 * another key or altered (exit 1); `audit verify` says OK on a good log and names the
 * first broken record (seq, line, cause, exit 1) on a tampered one, and says (text and
 * JSON) when a log whose oldest rotated file is gone no longer begins at its genesis
 * record; `audit lineage`
 * prints exactly one VNode's records; `audit tail` the last N; `--version` prints this
 * build's version and exits 0. None of them opens a domain: the test runs them with
 * --domain naming one that does not exist.
 * Method: keys and a log written with pf_audit_* in a mkdtemp() directory; the real
 * binary (path given by meson) run through popen().
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pflight/pflight.h"
#include "tests/common/proc_util.h"
#include "tools/common/build_info.h"
#include "tests/common/test_util.h"

#define NO_DOMAIN "--domain pft-cli-offline-no-such-domain"

static const char *cli;
static char dir[64], sec[128], pub[128], sec2[128], pub2[128], logp[128];

/* Run pflight with args; returns its exit status and its stdout in *out (caller frees). */
static int run(const char *args, char **out)
{
	char cmd[2048];

	(void)snprintf(cmd, sizeof(cmd), "%s %s %s 2>/dev/null", cli, NO_DOMAIN, args);
	return proc_capture(cmd, out);
}

static void keys(void)
{
	unsigned char pk[PF_AUDIT_PUBLIC_KEY_BYTES], sk[PF_AUDIT_SECRET_KEY_BYTES];

	(void)snprintf(sec, sizeof(sec), "%s/k.sec", dir);
	(void)snprintf(pub, sizeof(pub), "%s/k.pub", dir);
	(void)snprintf(sec2, sizeof(sec2), "%s/other.sec", dir);
	(void)snprintf(pub2, sizeof(pub2), "%s/other.pub", dir);
	CHECK(pf_audit_keygen(pk, sk) == 0);
	CHECK(pf_audit_key_save(sec, pub, pk, sk, NULL) == 0);
	CHECK(pf_audit_keygen(pk, sk) == 0);
	CHECK(pf_audit_key_save(sec2, pub2, pk, sk, NULL) == 0);
}

static void token_phase(void)
{
	char args[2048], *tok, *out;
	json_t *doc;
	size_t n;

	(void)snprintf(
		args, sizeof(args),
		"token issue --key %s --domain prod --expires 600 --caps gpu,ssd --trust 0.8", sec);
	CHECK(run(args, &tok) == 0 && strncmp(tok, "pft1.", 5) == 0);
	n = strlen(tok);
	CHECK(n > 5 && tok[n - 1] == '\n');
	tok[n - 1] = '\0';

	(void)snprintf(args, sizeof(args), "--json token verify --pubkey %s %s", pub, tok);
	CHECK(run(args, &out) == 0);
	doc = json_loads(out, 0, NULL);
	CHECK(doc != NULL && json_is_true(json_object_get(doc, "valid")));
	CHECK(strcmp(json_string_value(json_object_get(doc, "domain")), "prod") == 0);
	CHECK(strcmp(json_string_value(json_object_get(doc, "caps")), "gpu,ssd") == 0);
	CHECK(json_real_value(json_object_get(doc, "trust")) == 0.8);
	json_decref(doc);
	free(out);

	(void)snprintf(args, sizeof(args), "token verify --pubkey %s %s", pub2, tok);
	CHECK(run(args, &out) == 1 && strstr(out, "refused") != NULL);
	free(out);
	tok[n / 2] = tok[n / 2] == 'A' ? 'B' : 'A'; /* one character altered */
	(void)snprintf(args, sizeof(args), "token verify --pubkey %s %s", pub, tok);
	CHECK(run(args, &out) == 1);
	free(out);
	free(tok);

	CHECK(run("token issue --domain prod --expires 600", &out) == 2); /* no --key */
	free(out);
	(void)snprintf(args, sizeof(args),
		       "token issue --key %s --domain prod --expires 60 "
		       "--trust 1.5",
		       sec);
	CHECK(run(args, &out) == 2);
	free(out);
	(void)snprintf(args, sizeof(args),
		       "token issue --key %s --domain prod --expires 60 "
		       "--caps a,,b",
		       sec);
	CHECK(run(args, &out) == 1);
	free(out);

	/* --uid binds the token to one uid; 4294967295 is the value that means none, so
	 * asking for it is an error, not a token any uid may present. */
	(void)snprintf(args, sizeof(args),
		       "token issue --key %s --domain prod --expires 60 --uid 4294967295", sec);
	CHECK(run(args, &out) == 2 && out[0] == '\0');
	free(out);
	(void)snprintf(args, sizeof(args),
		       "--json token issue --key %s --domain prod --expires 60 --uid 4294967294",
		       sec);
	CHECK(run(args, &out) == 0);
	doc = json_loads(out, 0, NULL);
	CHECK(doc != NULL);
	free(out);
	(void)snprintf(args, sizeof(args), "--json token verify --pubkey %s %s", pub,
		       json_string_value(json_object_get(doc, "token")));
	json_decref(doc);
	CHECK(run(args, &out) == 0);
	doc = json_loads(out, 0, NULL);
	CHECK(doc != NULL && json_integer_value(json_object_get(doc, "uid")) == 4294967294);
	json_decref(doc);
	free(out);

	/* Numbers are decimal digits only (a fraction for --trust): usage errors (2). */
	(void)snprintf(args, sizeof(args), "token issue --key %s --domain prod --expires +60", sec);
	CHECK(run(args, &out) == 2 && out[0] == '\0');
	free(out);
	(void)snprintf(args, sizeof(args), "token issue --key %s --domain prod --expires ' 60'",
		       sec);
	CHECK(run(args, &out) == 2 && out[0] == '\0');
	free(out);
	(void)snprintf(args, sizeof(args),
		       "token issue --key %s --domain prod --expires 60 --uid -1", sec);
	CHECK(run(args, &out) == 2 && out[0] == '\0');
	free(out);
	(void)snprintf(args, sizeof(args),
		       "token issue --key %s --domain prod --expires 60 --trust 5e-1", sec);
	CHECK(run(args, &out) == 2 && out[0] == '\0');
	free(out);
	(void)snprintf(args, sizeof(args),
		       "token issue --key %s --domain prod --expires 60 --trust ' 0.5'", sec);
	CHECK(run(args, &out) == 2 && out[0] == '\0');
	free(out);
}

/* 9 records: claims of VNodes 0..2 (vnode i % 3) and joins, then the closing head. */
static void write_log(void)
{
	unsigned char pk[PF_AUDIT_PUBLIC_KEY_BYTES], sk[PF_AUDIT_SECRET_KEY_BYTES];
	struct pf_audit_opts o;
	struct pf_audit *log;

	(void)snprintf(logp, sizeof(logp), "%s/audit.log", dir);
	CHECK(pf_audit_key_load(sec, pk, sk, NULL) == 0);
	pf_audit_opts_init(&o);
	o.host = "test-host";
	o.secret_key = sk;
	o.fsync_policy = PF_AUDIT_FSYNC_HEAD;
	CHECK(pf_audit_open(logp, &o, &log, NULL) == 0);
	for (uint32_t i = 0; i < 8; i++)
		CHECK(pf_audit_append(log, i % 2 ? "join" : "claim", "worker-1", "{\"n\":1}",
				      i % 2 ? PF_AUDIT_NO_VNODE : (i / 2) % 3, NULL) == 0);
	CHECK(pf_audit_close(log) == 0);
}

static void audit_phase(void)
{
	char args[1024], *out, *p;
	json_t *doc, *broken;
	int lines = 0;

	(void)snprintf(args, sizeof(args), "audit verify --pubkey %s %s", pub, logp);
	CHECK(run(args, &out) == 0 && strncmp(out, "OK", 2) == 0);
	free(out);

	/* VNode 0: records 1 and 7 (i = 0 and i = 6). */
	(void)snprintf(args, sizeof(args), "--json audit lineage %s 0", logp);
	CHECK(run(args, &out) == 0);
	doc = json_loads(out, 0, NULL);
	CHECK(doc != NULL && json_array_size(doc) == 2);
	CHECK(json_integer_value(json_object_get(json_array_get(doc, 0), "seq")) == 1);
	CHECK(json_integer_value(json_object_get(json_array_get(doc, 1), "seq")) == 7);
	CHECK(json_integer_value(json_object_get(json_array_get(doc, 1), "vnode")) == 0);
	json_decref(doc);
	free(out);
	(void)snprintf(args, sizeof(args), "audit lineage %s 1", logp);
	CHECK(run(args, &out) == 0);
	for (p = out; (p = strchr(p, '\n')) != NULL; p++)
		lines++;
	CHECK(lines == 1 && strstr(out, "\"seq\":3") != NULL);
	free(out);

	(void)snprintf(args, sizeof(args), "--json audit tail %s 3", logp);
	CHECK(run(args, &out) == 0);
	doc = json_loads(out, 0, NULL);
	CHECK(doc != NULL && json_array_size(doc) == 3);
	CHECK(strcmp(json_string_value(json_object_get(json_array_get(doc, 2), "event")), "head") ==
	      0);
	json_decref(doc);
	free(out);

	/* Tamper with record 4 (line 4): verify names it. */
	(void)snprintf(args, sizeof(args), "sed -i '4s/worker-1/worker-9/' %s", logp);
	CHECK(system(args) == 0);
	(void)snprintf(args, sizeof(args), "--json audit verify --pubkey %s %s", pub, logp);
	CHECK(run(args, &out) == 1);
	doc = json_loads(out, 0, NULL);
	broken = json_object_get(doc, "broken");
	CHECK(doc != NULL && broken != NULL && json_is_false(json_object_get(doc, "ok")));
	CHECK(json_integer_value(json_object_get(broken, "seq")) == 4);
	CHECK(json_integer_value(json_object_get(broken, "line")) == 4);
	CHECK(strcmp(json_string_value(json_object_get(broken, "fault")), "edited") == 0);
	json_decref(doc);
	free(out);
	(void)snprintf(args, sizeof(args), "audit verify %s", logp);
	CHECK(run(args, &out) == 1 && strstr(out, "BROKEN") != NULL);
	free(out);
	CHECK(run("audit verify /nonexistent/audit.log", &out) == 1);
	free(out);
	CHECK(run("audit frobnicate", &out) == 2);
	free(out);
	(void)snprintf(args, sizeof(args), "audit tail %s +3", logp);
	CHECK(run(args, &out) == 2 && out[0] == '\0');
	free(out);
	(void)snprintf(args, sizeof(args), "audit lineage %s -18446744073709551615", logp);
	CHECK(run(args, &out) == 2 && out[0] == '\0');
	free(out);
}

/* A log whose oldest rotated file is gone still verifies, but must say that it does not
 * begin at the genesis record (seq 1), in text and in JSON, and from which seq it does. */
static void genesis_phase(void)
{
	char path[160], first[192], args[1024], *out;
	struct pf_audit_opts o;
	struct pf_audit *log;
	long long from;
	json_t *doc;

	(void)snprintf(path, sizeof(path), "%s/rotated.log", dir);
	pf_audit_opts_init(&o);
	o.host = "test-host";
	o.rotate_bytes = 1024;
	o.fsync_policy = PF_AUDIT_FSYNC_HEAD;
	CHECK(pf_audit_open(path, &o, &log, NULL) == 0);
	for (uint32_t i = 0; i < 20; i++)
		CHECK(pf_audit_append(log, "join", "worker-1", "{\"n\":1}", PF_AUDIT_NO_VNODE,
				      NULL) == 0);
	CHECK(pf_audit_close(log) == 0);
	(void)snprintf(args, sizeof(args), "audit verify %s", path);
	CHECK(run(args, &out) == 0 && strncmp(out, "OK", 2) == 0);
	CHECK(strstr(out, "genesis") == NULL);
	free(out);
	(void)snprintf(args, sizeof(args), "--json audit verify %s", path);
	CHECK(run(args, &out) == 0);
	doc = json_loads(out, 0, NULL);
	CHECK(doc != NULL && json_is_true(json_object_get(doc, "from_genesis")));
	CHECK(json_integer_value(json_object_get(doc, "first_seq")) == 1);
	json_decref(doc);
	free(out);

	(void)snprintf(first, sizeof(first), "%s.%020d", path, 1);
	CHECK(unlink(first) == 0);
	(void)snprintf(args, sizeof(args), "--json audit verify %s", path);
	CHECK(run(args, &out) == 0);
	doc = json_loads(out, 0, NULL);
	CHECK(doc != NULL && json_is_true(json_object_get(doc, "ok")));
	CHECK(json_is_false(json_object_get(doc, "from_genesis")));
	from = (long long)json_integer_value(json_object_get(doc, "first_seq"));
	CHECK(from > 1);
	json_decref(doc);
	free(out);
	(void)snprintf(args, sizeof(args), "audit verify %s", path);
	CHECK(run(args, &out) == 0 && strncmp(out, "OK", 2) == 0);
	(void)snprintf(args, sizeof(args),
		       "not anchored at its genesis: the first record is seq %lld", from);
	if (strstr(out, args) == NULL)
		fprintf(stderr, "no '%s' in:\n%s", args, out);
	CHECK(strstr(out, args) != NULL);
	free(out);
}

/* A log whose oldest files retention dropped says so, in text and in JSON: where it begins,
 * and which record states the drop. */
static void retention_phase(void)
{
	char path[160], args[1024], *out;
	struct pf_audit_opts o;
	struct pf_audit *log;
	json_t *doc, *ret;

	(void)snprintf(path, sizeof(path), "%s/retained.log", dir);
	pf_audit_opts_init(&o);
	o.host = "test-host";
	o.rotate_bytes = 1024;
	o.retain_bytes = 3072;
	o.fsync_policy = PF_AUDIT_FSYNC_HEAD;
	CHECK(pf_audit_open(path, &o, &log, NULL) == 0);
	for (uint32_t i = 0; i < 60; i++)
		CHECK(pf_audit_append(log, "join", "worker-1", "{\"n\":1}", PF_AUDIT_NO_VNODE,
				      NULL) == 0);
	CHECK(pf_audit_close(log) == 0);
	(void)snprintf(args, sizeof(args), "--json audit verify %s", path);
	CHECK(run(args, &out) == 0);
	doc = json_loads(out, 0, NULL);
	ret = json_object_get(doc, "retention");
	CHECK(doc != NULL && json_is_true(json_object_get(doc, "ok")) && ret != NULL);
	CHECK(json_integer_value(json_object_get(ret, "dropped_seq")) + 1 ==
	      json_integer_value(json_object_get(doc, "first_seq")));
	json_decref(doc);
	free(out);
	(void)snprintf(args, sizeof(args), "audit verify %s", path);
	CHECK(run(args, &out) == 0 && strncmp(out, "OK", 2) == 0);
	CHECK(strstr(out, "were dropped by retention, as the log states in record") != NULL);
	free(out);
}

/* `pflight --version`: one line, this build's version (and revision), exit 0, no domain. */
static void version_phase(void)
{
	char rev[128], *out = NULL;

	CHECK(proc_version(cli, "pflight", rev, sizeof(rev)) == 0);
	CHECK(run("--version", &out) == 0 && strncmp(out, "pflight ", 8) == 0);
	free(out);
	printf("pflight --version: %s%s%s\n", PF_VERSION_STRING, rev[0] != '\0' ? ", git " : "",
	       rev);
}

int main(int argc, char **argv)
{
	CHECK(argc == 2);
	cli = argv[1];
	(void)snprintf(dir, sizeof(dir), "/tmp/pft-cli-offline-XXXXXX");
	CHECK(mkdtemp(dir) != NULL);
	keys();
	token_phase();
	write_log();
	audit_phase();
	genesis_phase();
	retention_phase();
	version_phase();
	proc_rm_dir(dir);
	printf("pflight: token issue/verify, audit verify/lineage/tail ok without a domain\n");
	return 0;
}
