/* SPDX-License-Identifier: MIT */
/*
 * tools/pflight/offline.c: the commands that need files, not a domain.
 *
 *   token issue   sign a join token (pflight/token.h) with the daemon's secret key
 *   token verify  check one against the public key: exit 0 genuine, 1 refused
 *   audit verify  pf_audit_verify(): "OK ..." or the first broken record, and whether the
 *                 log begins at its genesis record (seq 1); exit 1 broken
 *   audit lineage one VNode's records, oldest first (pf_audit_lineage())
 *   audit tail    the last N records of the live log file, as stored
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "jdoc.h"

#define TAIL_DEFAULT 10u
#define TAIL_MAX 100000u

struct issue_args {
	const char *key;
	const char *caps;
	const char *domain;
	uint32_t expires_s;
	double trust;
	uint32_t uid;
};

/* --uid: a uid the token is bound to. PF_TOKEN_NO_UID is no uid (any may present the
 * token): asked for by number, it would silently issue an unbound token. */
static int uid_parse(const char *text, uint32_t *ret)
{
	uint32_t uid;

	if (cli_parse_u32("--uid", text, 0, UINT32_MAX, &uid) < 0)
		return -EINVAL;
	if (uid == PF_TOKEN_NO_UID) {
		fprintf(stderr,
			"pflight: --uid '%s': %u means no uid, not a uid; it takes 0..%u (leave "
			"--uid out for a token any uid may present)\n",
			text, PF_TOKEN_NO_UID, PF_TOKEN_NO_UID - 1);
		return -EINVAL;
	}
	*ret = uid;
	return 0;
}

static int issue_parse(int argc, char **argv, struct issue_args *a)
{
	int bad = 0;

	*a = (struct issue_args){.caps = "", .trust = 1.0, .uid = PF_TOKEN_NO_UID};
	for (int i = 2; i < argc && bad == 0; i += 2) {
		const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (val == NULL)
			bad = 1;
		else if (strcmp(opt, "--key") == 0)
			a->key = val;
		else if (strcmp(opt, "--domain") == 0)
			a->domain = val;
		else if (strcmp(opt, "--caps") == 0)
			a->caps = val;
		else if (strcmp(opt, "--expires") == 0)
			bad = cli_parse_u32("--expires", val, 1, UINT32_MAX, &a->expires_s) < 0;
		else if (strcmp(opt, "--trust") == 0)
			bad = cli_parse_real("--trust", val, 0.0, 1.0, &a->trust) < 0;
		else if (strcmp(opt, "--uid") == 0)
			bad = uid_parse(val, &a->uid) < 0;
		else
			bad = 1;
	}
	if (bad || a->key == NULL || a->domain == NULL || a->expires_s == 0)
		return -EINVAL;
	return 0;
}

static int claims_fill(const struct issue_args *a, struct pf_token_claims *cl)
{
	size_t dl = strlen(a->domain), cl_len = strlen(a->caps);

	memset(cl, 0, sizeof(*cl));
	cl->size = sizeof(*cl);
	if (dl >= sizeof(cl->domain) || cl_len >= sizeof(cl->caps))
		return -E2BIG;
	memcpy(cl->domain, a->domain, dl);
	memcpy(cl->caps, a->caps, cl_len);
	cl->expires = (uint64_t)time(NULL) + a->expires_s;
	cl->trust_ppm = (uint32_t)lround(a->trust * PF_PPM);
	cl->uid = a->uid;
	return 0;
}

static int token_issue(struct cli *c, int argc, char **argv)
{
	unsigned char pk[PF_AUDIT_PUBLIC_KEY_BYTES], sk[PF_AUDIT_SECRET_KEY_BYTES];
	struct pf_audit_refusal why = {.size = sizeof(why)};
	struct pf_token_claims cl;
	struct issue_args a;
	char tok[PF_TOKEN_TEXT_MAX];
	int r;

	if (issue_parse(argc, argv, &a) < 0)
		return EXIT_USAGE;
	r = pf_audit_key_load(a.key, pk, sk, &why);
	if (r < 0) {
		fprintf(stderr, "pflight: key %s: %s: %s\n", a.key, why.path, why.reason);
		return EXIT_FAILED;
	}
	r = claims_fill(&a, &cl);
	r = r < 0 ? r : pf_token_issue(sk, &cl, tok, sizeof(tok));
	explicit_bzero(sk, sizeof(sk));
	if (r < 0) {
		fprintf(stderr, "pflight: token issue: %s\n", strerror(-r));
		return EXIT_FAILED;
	}
	if (!c->json)
		printf("%s\n", tok);
	return cli_emit(c, json_pack("{s:s, s:s, s:I, s:s, s:f}", "token", tok, "domain", cl.domain,
				     "expires", (json_int_t)cl.expires, "caps", cl.caps, "trust",
				     cl.trust_ppm / (double)PF_PPM));
}

static const char *refusal(int r)
{
	if (r == -EKEYREJECTED)
		return "bad signature: forged, altered, or signed with another key";
	if (r == -EKEYEXPIRED)
		return "expired";
	if (r == -EBADMSG)
		return "malformed: not a pflight token";
	return strerror(-r);
}

static json_t *claims_json(const struct pf_token_claims *cl)
{
	json_t *o = json_pack("{s:b, s:s, s:s, s:I, s:f}", "valid", 1, "domain", cl->domain, "caps",
			      cl->caps, "expires", (json_int_t)cl->expires, "trust",
			      cl->trust_ppm / (double)PF_PPM);

	if (cl->uid != PF_TOKEN_NO_UID)
		json_object_set_new(o, "uid", json_integer(cl->uid));
	return o;
}

static int token_verify(struct cli *c, int argc, char **argv)
{
	unsigned char pk[PF_AUDIT_PUBLIC_KEY_BYTES];
	struct pf_token_claims cl = {.size = sizeof(cl)};
	int r;

	if (argc != 5 || strcmp(argv[2], "--pubkey") != 0)
		return EXIT_USAGE;
	r = pf_audit_pubkey_load(argv[3], pk);
	if (r < 0) {
		fprintf(stderr, "pflight: public key %s: %s\n", argv[3], strerror(-r));
		return EXIT_FAILED;
	}
	r = pf_token_verify(pk, argv[4], (uint64_t)time(NULL), &cl);
	if (r < 0) {
		if (!c->json)
			printf("refused: %s\n", refusal(r));
		(void)cli_emit(c, json_pack("{s:b, s:s}", "valid", 0, "error", refusal(r)));
		return EXIT_FAILED;
	}
	if (!c->json)
		printf("valid: domain %s, caps %s, trust %.3f, expires %llu%s\n", cl.domain,
		       cl.caps[0] != '\0' ? cl.caps : "(none)", cl.trust_ppm / (double)PF_PPM,
		       (unsigned long long)cl.expires,
		       cl.uid != PF_TOKEN_NO_UID ? ", uid bound" : "");
	return cli_emit(c, claims_json(&cl));
}

int cmd_token(struct cli *c, int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "issue") == 0)
		return token_issue(c, argc, argv);
	if (argc >= 2 && strcmp(argv[1], "verify") == 0)
		return token_verify(c, argc, argv);
	return EXIT_USAGE;
}

static int audit_verify(struct cli *c, int argc, char **argv)
{
	unsigned char pk[PF_AUDIT_PUBLIC_KEY_BYTES];
	struct pf_audit_report rep = {.size = sizeof(rep)};
	const char *pub = NULL, *path;
	int r;

	if (argc == 5 && strcmp(argv[2], "--pubkey") == 0)
		pub = argv[3];
	else if (argc != 3)
		return EXIT_USAGE;
	path = argv[argc - 1];
	r = pub != NULL ? pf_audit_pubkey_load(pub, pk) : 0;
	if (r < 0) {
		fprintf(stderr, "pflight: public key %s: %s\n", pub, strerror(-r));
		return EXIT_FAILED;
	}
	r = pf_audit_verify(path, pub != NULL ? pk : NULL, &rep);
	if (r < 0 && r != -EBADMSG) {
		fprintf(stderr, "pflight: audit verify %s: %s\n", path, strerror(-r));
		return EXIT_FAILED;
	}
	if (!c->json && r == 0)
		printf("OK: %llu records (%llu signed heads) in %llu files, last seq %llu%s\n",
		       (unsigned long long)rep.records, (unsigned long long)rep.heads,
		       (unsigned long long)rep.files, (unsigned long long)rep.last_seq,
		       pub != NULL ? "" : " (heads checked against their own keys only)");
	if (!c->json && r != 0)
		printf("BROKEN: %s at seq %llu (expected %llu), %s line %llu: %s\n",
		       pf_audit_fault_name(rep.fault), (unsigned long long)rep.bad_seq,
		       (unsigned long long)rep.expected_seq, rep.bad_file,
		       (unsigned long long)rep.bad_line, rep.reason);
	if (!c->json && rep.anchored && rep.dropped_seq != 0)
		printf("begins at seq %llu: records 1 to %llu were dropped by retention, as the "
		       "log "
		       "states in record %llu\n",
		       (unsigned long long)rep.first_seq, (unsigned long long)rep.dropped_seq,
		       (unsigned long long)rep.dropped_stated_seq);
	else if (!c->json && rep.anchored)
		printf("not anchored at its genesis: the first record is seq %llu, so records 1 to "
		       "%llu are not here (rotated files removed, or the front cut off) and were "
		       "not checked\n",
		       (unsigned long long)rep.first_seq, (unsigned long long)rep.first_seq - 1);
	if (cli_emit(c, jdoc_audit_report(r, &rep)) != 0)
		return EXIT_FAILED;
	return r == 0 ? 0 : EXIT_FAILED;
}

/* Print a stored record line: as is (human), or parsed into the array (--json). */
static int record_out(struct cli *c, json_t *arr, const char *line)
{
	json_t *o;

	if (!c->json) {
		printf("%s\n", line);
		return 0;
	}
	o = json_loads(line, 0, NULL);
	if (o == NULL)
		o = json_string(line);
	return json_array_append_new(arr, o) == 0 ? 0 : -ENOMEM;
}

struct lineage_ctx {
	struct cli *c;
	json_t *arr;
};

static int lineage_one(const struct pf_audit_record *rec, void *arg)
{
	struct lineage_ctx *x = arg;

	return record_out(x->c, x->arr, rec->line);
}

static int audit_lineage(struct cli *c, int argc, char **argv)
{
	struct lineage_ctx x = {.c = c, .arr = json_array()};
	uint32_t vnode;
	int r;

	if (argc != 4 || cli_parse_u32("VNODE", argv[3], 0, PF_AUDIT_NO_VNODE - 1, &vnode) < 0) {
		json_decref(x.arr);
		return EXIT_USAGE;
	}
	r = pf_audit_lineage(argv[2], vnode, lineage_one, &x);
	if (r < 0) {
		fprintf(stderr, "pflight: audit lineage %s %u: %s\n", argv[2], vnode, strerror(-r));
		json_decref(x.arr);
		return EXIT_FAILED;
	}
	return cli_emit(c, x.arr);
}

/* Keep the last n lines of f in ring (n slots, each malloc'd); returns lines seen. */
static long tail_read(FILE *f, char **ring, uint32_t n)
{
	char *line = NULL;
	size_t cap = 0;
	long seen = 0;
	ssize_t len;

	while ((len = getline(&line, &cap, f)) > 0) {
		char **slot = &ring[(size_t)seen % n];

		if (line[len - 1] == '\n')
			line[len - 1] = '\0';
		free(*slot);
		*slot = line;
		line = NULL;
		cap = 0;
		seen++;
	}
	free(line);
	return ferror(f) ? -EIO : seen;
}

static int audit_tail(struct cli *c, int argc, char **argv)
{
	uint32_t n = TAIL_DEFAULT;
	json_t *arr;
	char **ring;
	long seen;
	FILE *f;

	if ((argc != 3 && argc != 4) ||
	    (argc == 4 && cli_parse_u32("N", argv[3], 1, TAIL_MAX, &n) < 0))
		return EXIT_USAGE;
	f = fopen(argv[2], "re");
	if (f == NULL) {
		fprintf(stderr, "pflight: audit tail %s: %s\n", argv[2], strerror(errno));
		return EXIT_FAILED;
	}
	ring = calloc(n, sizeof(*ring));
	seen = ring != NULL ? tail_read(f, ring, n) : -ENOMEM;
	(void)fclose(f);
	arr = json_array();
	for (long i = seen > (long)n ? seen - (long)n : 0; i < seen; i++)
		(void)record_out(c, arr, ring[(size_t)i % n]);
	for (uint32_t i = 0; ring != NULL && i < n; i++)
		free(ring[i]);
	free(ring);
	if (seen < 0) {
		fprintf(stderr, "pflight: audit tail %s: %s\n", argv[2], strerror((int)-seen));
		json_decref(arr);
		return EXIT_FAILED;
	}
	return cli_emit(c, arr);
}

int cmd_audit(struct cli *c, int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "verify") == 0)
		return audit_verify(c, argc, argv);
	if (argc >= 2 && strcmp(argv[1], "lineage") == 0)
		return audit_lineage(c, argc, argv);
	if (argc >= 2 && strcmp(argv[1], "tail") == 0)
		return audit_tail(c, argc, argv);
	return EXIT_USAGE;
}
