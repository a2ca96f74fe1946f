/* SPDX-License-Identifier: MIT */
/*
 * tests/integration/test_cli_golden.c
 * Goal: what `pflight` prints is exactly what it printed when the golden files under
 * tests/golden/ were written: status, members, vnodes, capabilities, stat and decisions
 * (with an empty explanation ring, then with placed and refused decisions), each as a
 * table and with --json, and the help texts. Only what is truly volatile is masked
 * before the comparison: the domain name (it carries this process's pid), the member's
 * pid, its CPU and its heartbeat counter; any other change fails. Also the exit codes:
 * 2 for each kind of bad usage, 3 for a domain that does not exist, 0 for `help <cmd>`
 * and `<cmd> --help` (the same page) for every command the overview lists.
 * Method: a deterministic domain built through the library (one member slot, so the
 * member's slot does not depend on the pid; fixed limits, capabilities, VNodes with
 * fixed ids claimed, checkpointed and sent to; decisions made by a scheduler of this
 * process while it subscribes to explanations), and the real binary (path given by
 * meson) run with popen().
 *
 * Regenerate the golden files after an intended change of the output:
 *   PF_GOLDEN_UPDATE=1 meson test -C build cli_golden
 * then review `git diff tests/golden`. A mismatch prints `diff -u golden actual`.
 */
#include <errno.h>
#include <jansson.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pflight/pflight.h"
#include "tests/common/proc_util.h"
#include "tests/common/test_util.h"

#define VNODES 8u
#define OUT_MAX (1u << 20)

static const char *cli, *golden_dir;
static char name[64], tmp_dir[64];
static int update, mismatches, compared;

static char *read_file(const char *path)
{
	char *buf = calloc(1, OUT_MAX);
	size_t len;
	FILE *f = fopen(path, "r");

	CHECK(buf != NULL);
	if (f == NULL) {
		free(buf);
		return NULL;
	}
	len = fread(buf, 1, OUT_MAX - 1, f);
	buf[len] = '\0';
	(void)fclose(f);
	return buf;
}

/* Run `pflight args` (args as given: no --domain added); stdout in *out, stderr in *err
 * (callers free both). Returns the exit status. */
static int run(const char *args, char **out, char **err)
{
	char cmd[1024], errpath[128];
	int status;

	(void)snprintf(errpath, sizeof(errpath), "%s/stderr", tmp_dir);
	(void)snprintf(cmd, sizeof(cmd), "%s %s 2>%s", cli, args, errpath);
	status = proc_capture(cmd, out);
	*err = read_file(errpath);
	CHECK(*err != NULL);
	return status;
}

/* in with every match of pattern (POSIX ERE, ^ at line starts) replaced by repl, where
 * "\1" stands for the first group. Frees in, returns the new string. */
static char *subst(char *in, const char *pattern, const char *repl)
{
	size_t cap = strlen(in) * 2 + 256, n = 0;
	char *out = malloc(cap);
	const char *p = in;
	regmatch_t m[2];
	regex_t re;

	CHECK(out != NULL && regcomp(&re, pattern, REG_EXTENDED | REG_NEWLINE) == 0);
	while (*p != '\0' && regexec(&re, p, 2, m, p > in && p[-1] != '\n' ? REG_NOTBOL : 0) == 0) {
		CHECK(m[0].rm_eo > m[0].rm_so); /* no empty matches: every rule consumes */
		CHECK(n + (size_t)m[0].rm_so + strlen(repl) + 256 < cap);
		memcpy(out + n, p, (size_t)m[0].rm_so);
		n += (size_t)m[0].rm_so;
		for (const char *r = repl; *r != '\0'; r++) {
			if (r[0] == '\\' && r[1] == '1' && m[1].rm_so >= 0) {
				memcpy(out + n, p + m[1].rm_so, (size_t)(m[1].rm_eo - m[1].rm_so));
				n += (size_t)(m[1].rm_eo - m[1].rm_so);
				r++;
			} else {
				out[n++] = *r;
			}
		}
		p += m[0].rm_eo;
	}
	CHECK(n + strlen(p) < cap);
	memcpy(out + n, p, strlen(p) + 1);
	regfree(&re);
	free(in);
	return out;
}

/* Every occurrence of the literal from replaced by to. Frees in. */
static char *replace_all(char *in, const char *from, const char *to)
{
	char pattern[256];
	size_t k = 0;

	for (const char *f = from; *f != '\0' && k + 3 < sizeof(pattern); f++) {
		if (strchr(".[]()*+?{}|^$\\", *f) != NULL)
			pattern[k++] = '\\';
		pattern[k++] = *f;
	}
	pattern[k] = '\0';
	return subst(in, pattern, to);
}

/* Mask what changes from run to run, and nothing else. */
static char *mask(char *out)
{
	out = replace_all(out, name, "<domain>");
	out = subst(out, "\"pid\": [0-9]+", "\"pid\": <pid>");
	out = subst(out, "\"cpu\": -?[0-9]+", "\"cpu\": <cpu>");
	out = subst(out, "\"heartbeat\": [0-9]+", "\"heartbeat\": <heartbeat>");
	/* The members table: SLOT GEN STATE PID; the column is padded to 8. */
	return subst(out, "^([0-9]+ +[0-9]+ +[a-z]+ +)[0-9]+ *", "\\1<pid>    ");
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	CHECK(f != NULL);
	CHECK(fputs(text, f) >= 0 && fclose(f) == 0);
}

/* Compare (or with PF_GOLDEN_UPDATE=1 write) golden file `file` with text. */
static void golden(const char *file, const char *text)
{
	char path[512], actual[256], cmd[1024];
	char *want;

	(void)snprintf(path, sizeof(path), "%s/%s", golden_dir, file);
	compared++;
	if (update) {
		write_file(path, text);
		return;
	}
	want = read_file(path);
	if (want != NULL && strcmp(want, text) == 0) {
		free(want);
		return;
	}
	mismatches++;
	(void)snprintf(actual, sizeof(actual), "%s/%s", tmp_dir, file);
	write_file(actual, text);
	fprintf(stderr, "golden %s: %s\n", file, want == NULL ? "missing" : "differs");
	(void)snprintf(cmd, sizeof(cmd), "diff -u %s %s >&2", path, actual);
	if (want != NULL)
		(void)system(cmd);
	free(want);
}

/* pflight --domain <name> args: exit 0, nothing on stderr, masked stdout vs file. */
static void golden_run(const char *file, const char *args)
{
	char full[512], *out, *err;
	int json = strstr(args, "--json") != NULL;

	(void)snprintf(full, sizeof(full), "--domain %s %s", name, args);
	CHECK(run(full, &out, &err) == 0);
	if (err[0] != '\0')
		fprintf(stderr, "%s: stderr: %s\n", args, err);
	CHECK(err[0] == '\0');
	if (json) {
		json_t *doc = json_loads(out, 0, NULL); /* one whole document */

		CHECK(doc != NULL);
		json_decref(doc);
	}
	golden(file, out = mask(out));
	free(out);
	free(err);
}

/* One slot, fixed limits; capabilities gpu, ssd (the member's) and fpga (VNode 6's);
 * VNodes 0..2 claimed, 0 and 1 checkpointed, messages to 0 and 4. */
static struct pf_member *build(struct pf_domain **ret_d)
{
	const char *caps[] = {"gpu", "ssd"}, *fpga[] = {"fpga"};
	struct pf_domain_opts o;
	struct pf_member_opts mo;
	struct pf_vnode_spec spec;
	struct pf_vnode *v[3];
	struct pf_member *m;
	struct pf_domain *d;
	char buf[64];
	size_t len;

	pf_domain_opts_init(&o);
	o.flags = PF_DOMAIN_REPLACE;
	o.members_max = 1;
	o.vnodes_max = VNODES;
	o.explain_slots = 16;
	CHECK(pf_domain_create(name, &o, &d) == 0);
	pf_member_opts_init(&mo);
	mo.caps = caps;
	mo.caps_count = 2;
	mo.numa_node = 0;
	CHECK(pf_member_join(d, &mo, &m) == 0);
	CHECK(pf_vnode_define_range(d, 0, 6, NULL) == 6);
	pf_vnode_spec_init(&spec);
	spec.caps = fpga;
	spec.caps_count = 1;
	CHECK(pf_vnode_define(d, 6, &spec) == 0);
	for (uint32_t id = 0; id < 3; id++)
		CHECK(pf_vnode_claim_id(m, id, &v[id]) == 0);
	for (int k = 0; k < 3; k++)
		CHECK(pf_send(d, 0, "increment", 9) == 0);
	CHECK(pf_send(d, 4, "waits for an owner", 18) == 0);
	CHECK(pf_recv(v[0], buf, sizeof(buf), &len) == 0 && len == 9);
	CHECK(pf_checkpoint_commit(v[0], pf_vnode_epoch(v[0]), "count=1", 7) == 0);
	CHECK(pf_checkpoint_commit(v[0], pf_vnode_epoch(v[0]), "count=1", 7) == 0);
	CHECK(pf_checkpoint_commit(v[1], pf_vnode_epoch(v[1]), "count=0", 7) == 0);
	*ret_d = d;
	return m;
}

/* Placed (3), refused for capabilities (6), refused for trust (5, floor above the
 * member's 0.5), placed once the floor is back (5). */
static void decide(struct pf_domain *d, struct pf_member *m)
{
	struct pf_sched *s;
	struct pf_vnode *v;

	CHECK(pf_sched_explain_subscribe(d) == 0);
	CHECK(pf_sched_create(d, NULL, &s) == 0);
	CHECK(pf_sched_place(s, 3, NULL) == 0);
	CHECK(pf_sched_place(s, 6, NULL) == -ENOENT);
	CHECK(pf_sched_configure(d, PF_SCHED_TRUST_WEIGHTED, 900000, 0) == 0);
	CHECK(pf_sched_refresh(s) == 0); /* now, not at the next timed refresh */
	CHECK(pf_sched_place(s, 5, NULL) == -ENOENT);
	CHECK(pf_sched_configure(d, PF_SCHED_TRUST_WEIGHTED, 0, 0) == 0);
	CHECK(pf_sched_refresh(s) == 0);
	CHECK(pf_sched_place(s, 5, NULL) == 0);
	pf_sched_destroy(s);
	pf_sched_explain_unsubscribe(d);
	while (pf_vnode_adopt(m, &v) == 0)
		; /* the member takes what was placed on it; handles freed with the member */
}

static void listings(const char *suffix, const char *json)
{
	static const char *const cmds[][2] = {
		{"status", "status"},
		{"members", "members"},
		{"vnodes", "vnodes"},
		{"vnodes-pending", "vnodes --state pending --limit 2"},
		{"capabilities", "capabilities"},
		{"stat", "stat"},
		{"decisions", "decisions"},
		{"decisions-vnode5", "decisions --vnode 5"},
		{"decisions-limit1", "decisions --limit 1"},
	};
	char file[128], args[256];

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		(void)snprintf(file, sizeof(file), "%s.%s", cmds[i][0], suffix);
		(void)snprintf(args, sizeof(args), "%s%s", json, cmds[i][1]);
		golden_run(file, args);
	}
}

/* Bad usage exits 2 and says "usage" on stderr; a missing domain exits 3. */
static void exit_codes(void)
{
	static const char *const usage[] = {
		"",
		"--bogus status",
		"frobnicate",
		"status extra",
		"vnodes --state sideways",
		"vnodes --limit",
		"decisions --limit 0",
		"decisions --limit 65537",
		"decisions --vnode x",
		"decisions extra",
		"send 1",
		"drain",
		"drain host 3",
		"retire host",
		"help frobnicate",
		"--help frobnicate",
	};
	char args[512], *out, *err;
	int r;

	for (size_t i = 0; i < sizeof(usage) / sizeof(usage[0]); i++) {
		(void)snprintf(args, sizeof(args), "--domain %s %s", name, usage[i]);
		r = run(args, &out, &err);
		if (r != 2 || strstr(err, "usage") == NULL)
			fprintf(stderr, "`pflight %s`: exit %d, want 2 and a usage: %s\n", usage[i],
				r, err);
		CHECK(r == 2 && strstr(err, "usage") != NULL);
		free(out);
		free(err);
	}
	/* A command of two forms: each form's line says how to call pflight with it. */
	(void)snprintf(args, sizeof(args), "--domain %s drain", name);
	CHECK(run(args, &out, &err) == 2);
	golden("usage-drain.txt", err);
	free(out);
	free(err);
	(void)snprintf(args, sizeof(args), "--domain %s-none status", name);
	CHECK(run(args, &out, &err) == 3 && out[0] == '\0' && strstr(err, "-none") != NULL);
	free(out);
	free(err);
	(void)snprintf(args, sizeof(args), "--domain %s-none decisions", name);
	CHECK(run(args, &out, &err) == 3);
	free(out);
	free(err);
}

/* The overview's command list; each command's page, by both spellings. */
static void help_pages(void)
{
	char *overview, *err, *page, *page2, *err2, *p, args[128], file[128];

	CHECK(run("help", &overview, &err) == 0 && err[0] == '\0');
	golden("help.txt", overview);
	free(err);
	p = strstr(overview, "\ncommands:\n");
	CHECK(p != NULL);
	for (p += 11; p[0] == ' ' && p[1] == ' '; p = strchr(p, '\n') + 1) {
		char cmd[32];

		CHECK(sscanf(p, "%31s", cmd) == 1);
		(void)snprintf(args, sizeof(args), "help %s", cmd);
		CHECK(run(args, &page, &err) == 0 && err[0] == '\0');
		CHECK(strstr(page, "usage: pflight ") == page && strstr(page, "\nexample:\n"));
		CHECK(strstr(page, "\noptions:\n") != NULL && strstr(page, "\nexit status:\n"));
		(void)snprintf(args, sizeof(args), "%s --help", cmd);
		CHECK(run(args, &page2, &err2) == 0 && strcmp(page, page2) == 0);
		(void)snprintf(file, sizeof(file), "help-%s.txt", cmd);
		golden(file, page);
		free(page);
		free(page2);
		free(err);
		free(err2);
	}
	free(overview);
}

static void cleanup(void)
{
	char path[128];

	(void)pf_domain_unlink(name);
	(void)snprintf(path, sizeof(path), "%s/stderr", tmp_dir);
	(void)unlink(path);
	if (mismatches == 0)
		(void)rmdir(tmp_dir);
}

int main(int argc, char **argv)
{
	struct pf_domain *d;
	struct pf_member *m;
	const char *env = getenv("PF_GOLDEN_UPDATE");

	CHECK(argc == 3);
	cli = argv[1];
	golden_dir = argv[2];
	update = env != NULL && strcmp(env, "1") == 0;
	test_domain_name(name, sizeof(name), "golden");
	(void)snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/pft-golden-XXXXXX");
	CHECK(mkdtemp(tmp_dir) != NULL);
	CHECK(atexit(cleanup) == 0);
	m = build(&d);
	golden_run("decisions-empty.txt", "decisions");
	golden_run("decisions-empty.json", "--json decisions");
	decide(d, m);
	listings("txt", "");
	listings("json", "--json ");
	exit_codes();
	help_pages();
	CHECK(pf_member_leave(m) == 0);
	CHECK(pf_domain_destroy(d) == 0);
	if (update) {
		printf("PF_GOLDEN_UPDATE=1: wrote %d golden files in %s\n", compared, golden_dir);
		return 0;
	}
	if (mismatches != 0)
		fprintf(stderr,
			"%d of %d outputs differ from their golden files (actual ones "
			"in %s)\n",
			mismatches, compared, tmp_dir);
	CHECK(mismatches == 0);
	printf("pflight: %d outputs match their golden files; exit codes 0, 2, 3 ok\n", compared);
	return 0;
}
