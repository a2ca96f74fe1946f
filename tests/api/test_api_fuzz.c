/* SPDX-License-Identifier: MIT */
/*
 * tests/api/test_api_fuzz.c
 * Goal: the REST API's request parsing (tools/pflightd/http_json.c: route, query, body)
 * gives every request of the corpus the answer its name says, and survives any mutation
 * of them: no crash (run it under ASan), and a refusal always carries a 4xx status, a
 * code and a message.
 * Method: each file of tests/fuzz/api (see its README) is split into method, path, query
 * and body as libmicrohttpd hands them over (percent-decoded by pflightd's own
 * api_unescape(), its unescape callback; '+' is left alone, which libmicrohttpd turns
 * into a space in arguments: no difference to what is refused), and parsed; then
 * MUTATIONS deterministic mutations of its bytes (xorshift seeded from the file's name:
 * bytes flipped, a range cut, repeated or overwritten with random bytes) are parsed too.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/common/test_util.h"
#include "tools/pflightd/http_api.h"

#define MUTATIONS 300
#define FILE_BYTES_MAX 65536
#define TARGET_MAX 4096

static uint64_t rng;

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

struct parsed {
	char method[32];
	char path[TARGET_MAX];
	char query[TARGET_MAX];
	const char *body;
	size_t body_len;
};

/* Split a raw request; -1 when even the request line is not there. */
static int split(const char *buf, size_t len, struct parsed *p)
{
	const char *end = memchr(buf, '\n', len), *hdr_end = NULL, *sp1, *sp2;
	char line[TARGET_MAX + 64];
	size_t n = end != NULL ? (size_t)(end - buf) : len;

	memset(p, 0, sizeof(*p));
	if (n >= sizeof(line))
		return -1;
	memcpy(line, buf, n);
	line[n] = '\0';
	line[strcspn(line, "\r")] = '\0';
	sp1 = strchr(line, ' ');
	sp2 = sp1 != NULL ? strchr(sp1 + 1, ' ') : NULL;
	if (sp1 == NULL || sp2 == NULL || (size_t)(sp1 - line) >= sizeof(p->method))
		return -1;
	memcpy(p->method, line, (size_t)(sp1 - line));
	(void)snprintf(p->path, sizeof(p->path), "%.*s", (int)(sp2 - sp1 - 1), sp1 + 1);
	if (strchr(p->path, '?') != NULL) {
		(void)snprintf(p->query, sizeof(p->query), "%s", strchr(p->path, '?') + 1);
		*strchr(p->path, '?') = '\0';
	}
	(void)api_unescape(p->path);
	for (size_t i = 0; i + 3 < len; i++) {
		if (memcmp(buf + i, "\r\n\r\n", 4) == 0) {
			hdr_end = buf + i + 4;
			break;
		}
	}
	p->body = hdr_end != NULL ? hdr_end : "";
	p->body_len = hdr_end != NULL ? len - (size_t)(hdr_end - buf) : 0;
	return 0;
}

/* Parse as the server does; the status it would answer (0: handed to the handler). */
static unsigned parse(struct parsed *p, struct api_error *err)
{
	struct api_kv kv[API_QUERY_MAX + 8];
	struct api_call call;
	size_t n = 0;
	unsigned status = 0;
	char *save = NULL;

	memset(err, 0, sizeof(*err));
	if (api_route_find(p->method, p->path, &call, err) < 0)
		return err->status;
	for (char *tok = p->query[0] != '\0' ? strtok_r(p->query, "&", &save) : NULL;
	     tok != NULL && n < sizeof(kv) / sizeof(kv[0]); tok = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(tok, '=');

		if (eq != NULL)
			*eq = '\0';
		(void)api_unescape(tok);
		if (eq != NULL)
			(void)api_unescape(eq + 1);
		kv[n++] = (struct api_kv){.key = tok, .value = eq != NULL ? eq + 1 : NULL};
	}
	if (api_query_parse(&call, kv, n, err) < 0 ||
	    api_body_parse(&call, p->body, p->body_len, err) < 0)
		status = err->status;
	api_call_clear(&call);
	return status;
}

static void check_refusal(unsigned status, const struct api_error *err, const char *what)
{
	if (status == 0)
		return;
	if (status < 400 || status > 499 || err->code[0] == '\0' || err->message[0] == '\0')
		fprintf(stderr, "%s: status %u code '%s' message '%s'\n", what, status, err->code,
			err->message);
	CHECK(status >= 400 && status <= 499 && err->code[0] != '\0' && err->message[0] != '\0');
}

static void replay(const char *name, const char *buf, size_t len)
{
	unsigned want = (unsigned)strtoul(name, NULL, 10), got;
	struct api_error err;
	struct parsed p;

	CHECK(split(buf, len, &p) == 0);
	got = parse(&p, &err);
	check_refusal(got, &err, name);
	if (want == 404 || want == 405 || (want == 400 && strstr(name, "hdr") == NULL))
		CHECK(got == want || (fprintf(stderr, "%s: %u\n", name, got), 0));
	else if (want < 300)
		CHECK(got == 0 || (fprintf(stderr, "%s: %u %s\n", name, got, err.message), 0));
}

static void mutate(const char *name, const char *buf, size_t len)
{
	static char m[FILE_BYTES_MAX * 2];

	rng = 0x9e3779b97f4a7c15ull;
	for (const char *c = name; *c != '\0'; c++)
		rng = (rng ^ (uint64_t)(unsigned char)*c) * 0x100000001b3ull;
	for (int i = 0; i < MUTATIONS; i++) {
		size_t n = len, at = len > 0 ? next_rand() % len : 0, span = next_rand() % 16;
		struct api_error err;
		struct parsed p;

		memcpy(m, buf, len);
		switch (next_rand() % 4) {
		case 0: /* flip bytes */
			for (size_t k = 0; k < span && at + k < n; k++)
				m[at + k] ^= (char)(1u << (next_rand() % 8));
			break;
		case 1: /* cut a range */
			span = span < n - at ? span : n - at;
			memmove(m + at, m + at + span, n - at - span);
			n -= span;
			break;
		case 2: /* repeat a range */
			span = span < n - at ? span : n - at;
			memmove(m + at + span, m + at, n - at);
			n += span;
			break;
		default: /* random bytes */
			for (size_t k = 0; k < span && at + k < n; k++)
				m[at + k] = (char)next_rand();
		}
		if (split(m, n, &p) == 0)
			check_refusal(parse(&p, &err), &err, name);
	}
}

int main(int argc, char **argv)
{
	static char buf[FILE_BYTES_MAX];
	DIR *dir;
	struct dirent *e;
	int files = 0;

	CHECK(argc == 2);
	dir = opendir(argv[1]);
	CHECK(dir != NULL);
	while ((e = readdir(dir)) != NULL) {
		char path[512];
		FILE *f;
		size_t n;

		if (strstr(e->d_name, ".http") == NULL)
			continue;
		(void)snprintf(path, sizeof(path), "%s/%s", argv[1], e->d_name);
		f = fopen(path, "rb");
		CHECK(f != NULL);
		n = fread(buf, 1, sizeof(buf), f);
		(void)fclose(f);
		replay(e->d_name, buf, n);
		mutate(e->d_name, buf, n);
		files++;
	}
	(void)closedir(dir);
	CHECK(files >= 40);
	printf("fuzz: %d corpus requests parsed as named, %d mutations each survived\n", files,
	       MUTATIONS);
	return 0;
}
