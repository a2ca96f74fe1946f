/* SPDX-License-Identifier: MIT */
/*
 * tests/integration/test_cli_sim.c
 * Goal: `pflight sim` as a user runs it: the same arguments print the same bytes (--json,
 * two separate processes), another seed prints others; --json is one sample object per
 * interval then a summary whose checks are clean; --csv is its header and one row per
 * sample with every column; --plot writes a well-formed SVG with the four lines, axes and
 * legend; bad arguments exit 2 and name what is wrong; no domain is needed (the test
 * names one that does not exist) and none is left behind.
 * Method: the real binary (path given by meson) run through popen(); JSON lines parsed
 * with jansson; the SVG checked by a small strict reader (tags balanced, attributes
 * quoted, one root).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/common/proc_util.h"
#include "tests/common/test_util.h"

#define NO_DOMAIN "--domain pft-cli-sim-no-such-domain"
#define RUN_ARGS "--seed 5 --members 30 --vnodes 3000 --duration 60 --interval 1"
#define SAMPLES 61 /* 0, 1, ..., 60 */
#define CSV_COLUMNS 26

static const char *cli;
static char dir[64];

/* pflight with args: its exit status, its stdout in *out (caller frees); stderr to err. */
static int run(const char *args, char **out)
{
	char cmd[2048];

	(void)snprintf(cmd, sizeof(cmd), "%s %s %s 2>>%s/stderr", cli, NO_DOMAIN, args, dir);
	return proc_capture(cmd, out);
}

static size_t lines(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

static void check_json_lines(const char *out)
{
	const char *p = out;
	size_t samples = 0;
	int summary = 0;

	while (*p != '\0') {
		const char *e = strchr(p, '\n');
		json_error_t err;
		json_t *o = json_loadb(p, (size_t)(e - p), 0, &err);
		const char *type;

		CHECK(o != NULL && e != NULL);
		type = json_string_value(json_object_get(o, "type"));
		CHECK(type != NULL && !summary); /* nothing after the summary */
		if (strcmp(type, "sample") == 0) {
			double a = json_real_value(json_object_get(o, "availability"));
			double h = json_real_value(json_object_get(o, "health"));

			CHECK(json_real_value(json_object_get(o, "t")) == (double)samples);
			CHECK(a >= 0 && a <= 1 && h >= 0 && h <= 100);
			samples++;
		} else {
			CHECK(strcmp(type, "summary") == 0);
			CHECK(json_integer_value(json_object_get(o, "points")) == SAMPLES);
			CHECK(json_integer_value(json_object_get(o, "vnodes_unaccounted")) == 0);
			CHECK(json_integer_value(json_object_get(o, "members_left_joined")) == 0);
			CHECK(json_integer_value(json_object_get(o, "vnodes_not_pending")) == 0);
			CHECK(json_is_object(json_object_get(o, "total")));
			CHECK(json_is_object(json_object_get(o, "last_window")));
			CHECK(strcmp(json_string_value(json_object_get(o, "preset")), "dma") == 0);
			summary = 1;
		}
		json_decref(o);
		p = e + 1;
	}
	CHECK(samples == SAMPLES && summary);
}

static void same_bytes(void)
{
	char *a, *b, *c;

	CHECK(run("sim " RUN_ARGS " --json", &a) == 0);
	CHECK(run("sim " RUN_ARGS " --json", &b) == 0);
	CHECK(strlen(a) > 0 && strcmp(a, b) == 0);
	check_json_lines(a);
	/* The global --json before the command means the same. */
	free(b);
	CHECK(run("--json sim " RUN_ARGS, &b) == 0 && strcmp(a, b) == 0);
	CHECK(run("sim --seed 6 --members 30 --vnodes 3000 --duration 60 --json", &c) == 0);
	CHECK(strcmp(a, c) != 0);
	free(a);
	free(b);
	free(c);
}

static int starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void csv(void)
{
	char *out, *row;
	size_t commas = 0;

	CHECK(run("sim " RUN_ARGS " --csv", &out) == 0);
	CHECK(starts(out, "t_s,members,draining,crashed,vnodes,owned,availability,stability,"));
	CHECK(lines(out) == SAMPLES + 1);
	row = strchr(out, '\n') + 1;
	for (const char *p = row; *p != '\n'; p++)
		commas += *p == ',';
	CHECK(commas == CSV_COLUMNS - 1);
	CHECK(starts(row, "0.000,30,0,0,3000,3000,1.000000,1.000000,"));
	free(out);
}

/* A strict enough XML reader for our SVG: one root <svg>, tags balanced and properly
 * nested, attribute values quoted, text free of raw '<' and '&' other than entities.
 * Returns the number of elements, or -1. */
static int xml_elements(const char *s, int *ret_polylines)
{
	char stack[32][32];
	int depth = 0, n = 0, roots = 0;

	*ret_polylines = 0;
	if (strncmp(s, "<?xml ", 6) == 0)
		s = strstr(s, "?>") + 2;
	while (*s != '\0') {
		char name[32];
		size_t len = 0;
		int closing;

		if (*s != '<') {
			if (*s == '&' && strncmp(s, "&amp;", 5) && strncmp(s, "&lt;", 4) &&
			    strncmp(s, "&gt;", 4) && strncmp(s, "&quot;", 6))
				return -1;
			s++;
			continue;
		}
		closing = s[1] == '/';
		s += 1 + closing;
		while (isalnum((unsigned char)*s) && len < sizeof(name) - 1)
			name[len++] = *s++;
		name[len] = '\0';
		if (len == 0)
			return -1;
		if (closing) {
			if (depth == 0 || strcmp(stack[--depth], name) != 0 || *s != '>')
				return -1;
			s++;
			continue;
		}
		while (*s != '>' && *s != '\0') {
			if (*s == '=' && s[1] != '"')
				return -1;
			if (*s == '"' && (s = strchr(s + 1, '"')) == NULL)
				return -1;
			s++;
		}
		if (*s == '\0')
			return -1;
		n++;
		*ret_polylines += strcmp(name, "polyline") == 0;
		roots += depth == 0;
		if (s[-1] != '/') {
			if (depth == 32)
				return -1;
			memcpy(stack[depth++], name, len + 1);
		}
		s++;
	}
	return depth == 0 && roots == 1 ? n : -1;
}

static void plot(void)
{
	char path[128], *out, *svg;
	FILE *f;
	long size;
	int polylines = 0;

	(void)snprintf(path, sizeof(path), "%s/chart.svg", dir);
	{
		char args[512];

		(void)snprintf(args, sizeof(args), "sim " RUN_ARGS " --plot %s", path);
		CHECK(run(args, &out) == 0);
	}
	CHECK(strstr(out, "pflight sim: preset dma (trust-weighted)") != NULL); /* the summary */
	free(out);
	f = fopen(path, "r");
	CHECK(f != NULL && fseek(f, 0, SEEK_END) == 0);
	size = ftell(f);
	CHECK(size > 1000 && fseek(f, 0, SEEK_SET) == 0);
	svg = calloc(1, (size_t)size + 1);
	CHECK(svg != NULL && fread(svg, 1, (size_t)size, f) == (size_t)size);
	(void)fclose(f);
	CHECK(strncmp(svg, "<?xml version=\"1.0\"", 19) == 0);
	CHECK(strstr(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\"") != NULL);
	CHECK(xml_elements(svg, &polylines) > 20 && polylines == 4);
	CHECK(strstr(svg, ">health / 100<") && strstr(svg, ">stability<") &&
	      strstr(svg, ">availability<") && strstr(svg, ">churn (right axis)<"));
	CHECK(strstr(svg, ">simulated time (s)<") != NULL);
	CHECK(xml_elements("<svg><g></svg></g>", &polylines) < 0); /* the reader can fail */
	CHECK(xml_elements("<svg a=b></svg>", &polylines) < 0);
	free(svg);
}

static void bad_usage(void)
{
	static const char *const bad[] = {
		"sim --members",                    /* missing value */
		"sim --frobnicate 3",               /* unknown option */
		"sim --members many",               /* bad value */
		"sim --members +30",                /* a sign: digits only */
		"sim --vnodes ' 300'",              /* a space */
		"sim --seed -1",                    /* strtoull() wraps it */
		"sim --join-rate 1e1",              /* an exponent */
		"sim --duration ' 60'",             /* a space */
		"sim --members 5000",               /* above its limit */
		"sim --vnodes 0",                   /* below */
		"sim --preset nope",                /* no such preset */
		"sim --strategy round-robin",       /* no such strategy */
		"sim --failure-rate -1",            /* negative rate */
		"sim --heartbeat-timeout 5parsecs", /* unknown unit */
		"sim --interval 0",                 /* no sampling */
		"sim --duration 10 --interval 20",  /* interval past the end */
		"sim --json --csv",                 /* one format */
		"--json sim --csv",                 /* the global --json as well */
	};
	char *out;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = run(bad[i], &out);

		if (rc != 2)
			fprintf(stderr, "'%s' exited %d, not 2\n", bad[i], rc);
		CHECK(rc == 2);
		CHECK(out[0] == '\0'); /* nothing on stdout */
		free(out);
	}
}

/* No private domain is left in /dev/shm by a process that is gone: each is named
 * pflight-pfsim-<pid>-<n> after the process that ran it (others may be running now). */
static void nothing_left(void)
{
	DIR *d = opendir("/dev/shm");
	struct dirent *e;

	CHECK(d != NULL);
	while ((e = readdir(d)) != NULL) {
		int pid;

		if (sscanf(e->d_name, "pflight-pfsim-%d-", &pid) != 1)
			continue;
		if (kill(pid, 0) < 0 && errno == ESRCH) {
			fprintf(stderr, "%s left behind by a process that is gone\n", e->d_name);
			CHECK(0);
		}
	}
	(void)closedir(d);
}

/* A run killed with SIGKILL in the middle leaves no segment: its private domain has no name
 * from the moment it is made. */
static void killed_leaves_nothing(void)
{
	char *argv[] = {(char *)cli, "sim",        "--members", "2048", "--vnodes",
			"1048576",   "--duration", "86400",     NULL};
	char log[128];
	pid_t pid;
	int status = 0;

	(void)snprintf(log, sizeof(log), "%s/killed.log", dir);
	pid = proc_spawn(argv, log);
	(void)usleep(500000);
	CHECK(waitpid(pid, &status, WNOHANG) == 0); /* still running: made, and simulating */
	CHECK(kill(pid, SIGKILL) == 0);
	CHECK(waitpid(pid, &status, 0) == pid);
	nothing_left();
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: test_cli_sim PFLIGHT\n");
		return 2;
	}
	cli = argv[1];
	(void)snprintf(dir, sizeof(dir), "/tmp/pft-cli-sim-XXXXXX");
	CHECK(mkdtemp(dir) != NULL);
	same_bytes();
	csv();
	plot();
	bad_usage();
	nothing_left();
	killed_leaves_nothing();
	{
		char cmd[128];

		(void)snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		CHECK(system(cmd) == 0);
	}
	printf("cli_sim: ok\n");
	return 0;
}
